"""What a SLURM array task runs (imported only where submitit is installed): one run
through ``run_task``, requeued by submitit on pre-emption or timeout."""

from __future__ import annotations

import logging
import os

from submitit.core.utils import DelayedSubmission
from submitit.helpers import Checkpointable

from rmdbench.executors.base import (
    DatasetCache,
    TaskOutcome,
    TaskReport,
    WorkerSettings,
    record_failure,
    run_task,
)
from rmdbench.executors.slurm_queue import TIMED_OUT, ended_reason
from rmdbench.run import RunSpec
from rmdbench.store import RunStore


class SlurmRun(Checkpointable):
    """Callable pickled into each array task. Resuming is a restart of the one run, from its
    last checkpoint when the sweep saves them (--checkpoint-every), else from scratch; the
    lock plus staging cleanup make a restart safe."""

    def __init__(self, settings: WorkerSettings, time_minutes: int = 0) -> None:
        self.settings = settings
        self.time_minutes = time_minutes  # --slurm-time, for the timed-out record

    def __call__(self, spec: RunSpec) -> TaskReport:
        from rmdbench.plugins import load_plugins
        from rmdbench.profiles import torch_threads, training_threads

        cpus = os.environ.get("SLURM_CPUS_PER_TASK")
        # on the CPU the profile's count (results depend on it); on a GPU the task's CPUs:
        # torch would otherwise use every core of a shared node. Restored after: submitit's
        # debug cluster runs the task in the sweep's own process.
        threads = training_threads(
            spec.profile, self.settings.device, max(1, int(cpus)) if cpus else None
        )
        load_plugins(list(self.settings.plugins))
        with torch_threads(threads):
            report = run_task(spec, self.settings, DatasetCache(self.settings.cache_dir))
        if report.status == TaskOutcome.FAILED and TIMED_OUT in report.error:
            return self._record_timeout(spec, report)
        return report

    def _record_timeout(self, spec: RunSpec, report: TaskReport) -> TaskReport:
        """submitit stops requeueing after too many timeouts by raising in the training:
        the record then says timed out, with the fix, instead of submitit's words."""
        job = os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID", "?"))
        if os.environ.get("SLURM_ARRAY_TASK_ID"):
            job += f"_{os.environ['SLURM_ARRAY_TASK_ID']}"
        message = ended_reason("TIMEOUT", job, self.time_minutes)
        record_failure(RunStore(self.settings.store_root), spec, message, report.error)
        return TaskReport(spec.run_name, TaskOutcome.FAILED, report.seconds, error=message)

    def checkpoint(self, spec: RunSpec) -> DelayedSubmission:
        logging.getLogger("rmdbench").warning(
            "run %s pre-empted or out of time: requeued; it restarts from its last checkpoint "
            "(--checkpoint-every) or from scratch",
            spec.run_name,
        )
        return DelayedSubmission(self, spec)
