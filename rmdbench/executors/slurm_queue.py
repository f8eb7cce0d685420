"""The states of a sweep's array tasks, read with ``squeue``, and what an ended task's
state means for its run.

submitit learns that a task ended without a result from ``sacct``, which needs SLURM's
accounting database; many small clusters (and the one-node cluster of
``benchmarks/slurm/start-local-cluster.sh``) have none, and a task that was cancelled,
killed or timed out would then be waited on for ever. ``squeue`` answers everywhere: a
task it shows in a final state, or no longer shows at all, has ended.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

#: states of a task that has not ended: it runs, waits, or is being requeued
LIVE_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "CONFIGURING",
        "COMPLETING",
        "SUSPENDED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "PREEMPTED",  # requeued next (submitit asks for it), or ends in a final state
        "STOPPED",
    }
)
TIMED_OUT = "timed-out"  # in submitit's error when it stops requeueing: 'timed-out too many times'
GONE = "GONE"  # no longer in squeue (ended, and purged after the controller's MinJobAge)


def array_id(job_id: str) -> str:
    """'123_4' -> '123'."""
    return job_id.split("_")[0]


def task_states(job_ids: Iterable[str]) -> dict[str, str] | None:
    """Each task's state ('RUNNING', 'CANCELLED', ..., or ``GONE``); None when squeue
    cannot tell (not installed, or the controller not answering): ask again later."""
    job_ids = list(job_ids)
    arrays = sorted({array_id(job_id) for job_id in job_ids})
    if not arrays:
        return {}
    command = ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T"]
    try:
        result = subprocess.run(
            [*command, f"--jobs={','.join(arrays)}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        # every array purged: squeue refuses the ids ('Invalid job id specified')
        return dict.fromkeys(job_ids, GONE) if "Invalid job id" in result.stderr else None
    shown = dict(line.strip().split("|", 1) for line in result.stdout.splitlines() if "|" in line)
    return {job_id: shown.get(job_id, GONE) for job_id in job_ids}


def has_ended(state: str | None) -> bool:
    return state is not None and state not in LIVE_STATES


def ended_reason(state: str, job_id: str, time_minutes: int) -> str:
    """Why a task ended without a result, and the fix, in one line."""
    if state == "TIMEOUT":
        return (
            f"SLURM job {job_id} timed out: the run took longer than --slurm-time "
            f"({time_minutes} min); raise --slurm-time (--checkpoint-every N lets a requeued "
            "run resume)"
        )
    if state == "CANCELLED":
        return f"SLURM job {job_id} was cancelled (scancel); --retry-failed trains it again"
    if state == "OUT_OF_MEMORY":
        return f"SLURM job {job_id} ran out of memory; raise --slurm-mem"
    if state in ("NODE_FAIL", "BOOT_FAIL"):
        return f"SLURM job {job_id} lost its node ({state}); --retry-failed trains it again"
    if state == GONE:
        return f"SLURM job {job_id} ended without a result and left the queue"
    return (
        f"SLURM job {job_id} ended without a result (state {state}: killed, or its process "
        "died); --retry-failed trains it again"
    )
