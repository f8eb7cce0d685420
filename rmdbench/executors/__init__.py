"""Executors: where the runs of a sweep train (this process, a local pool of worker
processes, or SLURM array tasks), behind one small interface (``Executor.run``)."""

from rmdbench.executors.base import (
    DatasetCache,
    Executor,
    TaskReport,
    WorkerSettings,
    run_task,
)

EXECUTOR_NAMES = ("inline", "local", "slurm")

__all__ = [
    "EXECUTOR_NAMES",
    "DatasetCache",
    "Executor",
    "TaskReport",
    "WorkerSettings",
    "run_task",
]
