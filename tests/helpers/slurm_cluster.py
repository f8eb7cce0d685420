"""Whether a SLURM cluster answers here, for the tests marked ``slurm`` (the one-node
cluster of ``benchmarks/slurm/start-local-cluster.sh``, or a real one)."""

from __future__ import annotations

import shutil
import subprocess

SCRIPT = "benchmarks/slurm/start-local-cluster.sh"


def unavailable_reason() -> str | None:
    """None when sbatch is on PATH and sinfo shows a node that takes jobs (idle, or
    partly used); else why the slurm tests skip."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return f"no SLURM here (sbatch not on PATH): {SCRIPT} starts a one-node cluster"
    try:
        result = subprocess.run(
            ["sinfo", "--noheader", "--Node", "--format=%T"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"sinfo does not answer ({error}): {SCRIPT} starts the cluster"
    states = set(result.stdout.split())
    if result.returncode != 0 or not states & {"idle", "mixed"}:
        shown = result.stderr.strip() or ", ".join(sorted(states)) or "no node"
        return f"no idle SLURM node (sinfo: {shown}): {SCRIPT} starts the cluster"
    return None
