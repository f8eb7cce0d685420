"""What a SLURM array task runs (imported only where submitit is installed): one run
through ``run_task``, requeued by submitit on pre-emption or timeout."""

from __future__ import annotations

import logging
import os

from submitit.core.utils import DelayedSubmission
from submitit.helpers import Checkpointable

from rmdbench.executors.base import DatasetCache, TaskReport, WorkerSettings, run_task
from rmdbench.run import RunSpec


class SlurmRun(Checkpointable):
    """Callable pickled into each array task. Resuming is a restart of the one run, from its
    last checkpoint when the sweep saves them (--checkpoint-every), else from scratch; the
    lock plus staging cleanup make a restart safe."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings

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
            return run_task(spec, self.settings, DatasetCache(self.settings.cache_dir))

    def checkpoint(self, spec: RunSpec) -> DelayedSubmission:
        logging.getLogger("rmdbench").warning(
            "run %s pre-empted or out of time: requeued; it restarts from its last checkpoint "
            "(--checkpoint-every) or from scratch",
            spec.run_name,
        )
        return DelayedSubmission(self, spec)
