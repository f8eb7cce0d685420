"""The ``inline`` executor: every run in this process, one after another."""

from __future__ import annotations

from collections.abc import Sequence

from rmdbench.executors.base import (
    DatasetCache,
    Executor,
    Notify,
    RunFinished,
    TaskReport,
    WorkerSettings,
)
from rmdbench.executors.pack import group_runs, run_pack
from rmdbench.profiles import torch_threads, training_threads
from rmdbench.run import RunSpec


class InlineExecutor(Executor):
    """Trains in the calling process with the datasets it already loaded; the simplest to
    debug, and the only one that sees methods registered in-process (tests, notebooks).
    On the CPU each run trains at its profile's thread count (results depend on it), and
    the caller's count is restored after it. With ``settings.pack`` K > 1, runs that differ
    by seed only train K at a time as one pack (``rmdbench.executors.pack``)."""

    name = "inline"

    def __init__(self, datasets: DatasetCache) -> None:
        self.datasets = datasets

    def run(
        self, specs: Sequence[RunSpec], settings: WorkerSettings, notify: Notify
    ) -> list[TaskReport]:
        reports = {}
        for pack in group_runs(specs, settings.pack):
            profile = pack[0].profile  # one profile per pack
            with torch_threads(training_threads(profile, settings.device, settings.threads)):
                finished = run_pack(pack, settings, self.datasets, notify)
            for report in finished:
                notify(RunFinished(report))
                reports[report.run_name] = report
        return [reports[spec.run_name] for spec in specs]
