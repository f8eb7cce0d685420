"""What the SLURM cluster offers, read with ``sinfo``, and a sweep's request checked against
it before anything is submitted or written: a partition that does not exist, GPUs it does
not have, a time or memory limit above its own, or anything else sbatch would refuse
(``sbatch --test-only``: an account, a QoS) comes back as one line naming the fix, not as
an sbatch traceback after the run store is prepared.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from rmdbench.errors import OptionError, UserError

#: sinfo's columns: partition (default marked '*'), gres, time limit, memory per node (MB)
SINFO_FORMAT = "%P|%G|%l|%m"
COMMAND_SECONDS = 30  # sinfo or sbatch --test-only not answering by then: the cluster is down


class SlurmRefused(UserError):
    """sbatch refused the request; the message is sbatch's own."""


@dataclass(frozen=True)
class Partition:
    """One partition as sinfo shows it (over all its nodes: the most any one offers)."""

    name: str
    default: bool = False
    gpus: int = 0  # GPUs one node offers; 0: none
    max_minutes: int | None = None  # None: no time limit
    memory_mb: int = 0  # memory one node has


def run_command(command: Sequence[str]) -> subprocess.CompletedProcess:
    """A SLURM client command, its output as text; an error if it cannot run or hangs."""
    try:
        return subprocess.run(
            list(command), capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UserError(
            f"{command[0]} did not answer ({error}); is the SLURM controller up? (sinfo)"
        ) from None


def gres_gpus(gres: str) -> int:
    """GPUs in a gres column: 'gpu:a100:4(S:0-1),shard:8' -> 4; '(null)' -> 0."""
    total = 0
    for item in gres.split(","):
        match = re.match(r"gpu(?::[^:(]+)?:(\d+)", item.strip())
        if match:
            total += int(match.group(1))
    return total


def limit_minutes(text: str) -> int | None:
    """sinfo's time limit ('infinite', '30:00', '1:00:00', '2-00:00:00') in minutes."""
    from rmdbench.executors.slurm_options import parse_slurm_time

    if text.strip().lower() in ("infinite", "unlimited", "n/a", ""):
        return None
    try:
        return parse_slurm_time(text)
    except OptionError:
        return None


def parse_sinfo(text: str) -> dict[str, Partition]:
    """``sinfo --noheader --format=SINFO_FORMAT`` -> partitions by name (a partition whose
    nodes differ shows on several lines: the most any node offers)."""
    partitions: dict[str, Partition] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 4 or not fields[0]:
            continue
        name, gres, limit, memory = fields
        default = name.endswith("*")
        name = name.rstrip("*")
        known = partitions.get(name, Partition(name))
        partitions[name] = Partition(
            name,
            default or known.default,
            max(known.gpus, gres_gpus(gres)),
            limit_minutes(limit),
            max(known.memory_mb, int(re.sub(r"\D", "", memory) or 0)),
        )
    return partitions


def read_partitions() -> dict[str, Partition]:
    result = run_command(["sinfo", "--noheader", f"--format={SINFO_FORMAT}"])
    if result.returncode != 0:
        raise UserError(f"sinfo failed: {first_line(result.stderr)}; is the SLURM controller up?")
    return parse_sinfo(result.stdout)


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def sbatch_message(text: str) -> str:
    """sbatch's own complaint from its output: its 'error:' lines, one line."""
    errors = [line.strip() for line in text.splitlines() if "error" in line.lower()]
    return "; ".join(errors) if errors else first_line(text)


def chosen_partition(partitions: dict[str, Partition], name: str | None) -> Partition:
    """The partition asked for, else the cluster's default; one line naming the fix."""
    if name is None:
        default = [partition for partition in partitions.values() if partition.default]
        if default:
            return default[0]
        raise OptionError(
            f"the cluster has no default partition; name one with --slurm-partition "
            f"({', '.join(sorted(partitions)) or 'sinfo shows none'})",
            "slurm_partition",
        )
    if name not in partitions:
        raise OptionError(
            f"partition '{name}' does not exist on this cluster; choose one of: "
            f"{', '.join(sorted(partitions)) or 'none (sinfo shows no partition)'}",
            "slurm_partition",
        )
    return partitions[name]


def check_fits(
    partition: Partition, gpus: int | None, minutes: int, memory_gb: float | None
) -> None:
    """The per-run request against what one node of ``partition`` offers."""
    where = f"partition '{partition.name}'"
    if gpus and gpus > partition.gpus:
        offers = f"offers {partition.gpus} per node" if partition.gpus else "has no GPUs"
        raise OptionError(
            f"--slurm-gpus {gpus}: {where} {offers}; ask for at most {partition.gpus} "
            "(--slurm-gpus 0 trains on the CPU) or choose a GPU partition",
            "slurm_gpus",
        )
    if partition.max_minutes is not None and minutes > partition.max_minutes:
        raise OptionError(
            f"--slurm-time {minutes} min is above the {partition.max_minutes} min limit of "
            f"{where}; ask for at most that, or choose another partition",
            "slurm_time",
        )
    if memory_gb is not None and partition.memory_mb and memory_gb * 1024 > partition.memory_mb:
        raise OptionError(
            f"--slurm-mem {memory_gb:g}G is more than a node of {where} has "
            f"({partition.memory_mb / 1024:.1f}G); ask for less, or choose another partition",
            "slurm_mem",
        )


def dry_submit(flags: Sequence[str]) -> None:
    """``sbatch --test-only`` with the sweep's flags: what sbatch would refuse (an account,
    a QoS, a constraint), refused now in sbatch's words, with nothing submitted."""
    result = run_command(["sbatch", "--test-only", *flags, "--wrap", "true"])
    if result.returncode != 0:
        raise SlurmRefused(
            f"sbatch refuses these options: {sbatch_message(result.stderr + result.stdout)}; "
            "fix the --slurm-* option it names"
        )
