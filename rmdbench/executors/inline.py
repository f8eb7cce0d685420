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
    run_task,
)
from rmdbench.profiles import torch_threads, training_threads
from rmdbench.run import RunSpec


class InlineExecutor(Executor):
    """Trains in the calling process with the datasets it already loaded; the simplest to
    debug, and the only one that sees methods registered in-process (tests, notebooks).
    On the CPU each run trains at its profile's thread count (results depend on it), and
    the caller's count is restored after it."""

    name = "inline"

    def __init__(self, datasets: DatasetCache) -> None:
        self.datasets = datasets

    def run(
        self, specs: Sequence[RunSpec], settings: WorkerSettings, notify: Notify
    ) -> list[TaskReport]:
        reports = []
        for spec in specs:
            with torch_threads(training_threads(spec.profile, settings.device, settings.threads)):
                report = run_task(spec, settings, self.datasets, notify)
            notify(RunFinished(report))
            reports.append(report)
        return reports
