"""Sweep progress on the command line: done / running / failed / left, each running run's
epoch, and an ETA from measured run times.

``SweepMonitor`` is the event callback the CLI hands to ``rmdbench.sweep.run_sweep``. On a
terminal a live display (one bar for the sweep, one per running run) sits under the
finished-run lines; elsewhere (CI, SLURM logs, pipes) only the lines are written, one per
finished run with its time, so logs stay readable.
"""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from rmdbench.executors.base import RunEpoch, RunFinished, RunStarted, TaskOutcome, TaskReport
from rmdbench.sweep.execute import SweepEvent, SweepStarted


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


class SweepMonitor:
    """Turns sweep events into the display. ``SweepStarted`` gives the runs and each one's
    expected work in arbitrary units (epochs × the method's relative cost), the basis of
    the ETA. Use it as a context manager: the live display ends with the block."""

    def __init__(self, console: Console, *, live: bool | None = None) -> None:
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.total = 0
        self.cost: dict[str, float] = {}
        self.labels: dict[str, str] = {}
        self.parallelism = 1
        self.done = self.failed = self.skipped = 0
        self.running: dict[str, tuple[int, int]] = {}  # run -> (epochs done, epochs)
        self.finished: set[str] = set()
        self.run_seconds: list[tuple[float, float]] = []  # (seconds, cost) of finished runs
        self.epoch_seconds: list[tuple[float, float]] = []  # (seconds, cost) of epochs
        self.started_at = time.monotonic()
        self.progress: Progress | None = None
        self.overall: TaskID | None = None
        self.bars: dict[str, TaskID] = {}

    # context: the live display ---------------------------------------------------------

    def __enter__(self) -> SweepMonitor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _start(self, event: SweepStarted) -> None:
        self.total = len(event.runs)
        self.cost = dict(event.cost)
        self.labels = dict(event.labels)
        self.parallelism = max(1, event.parallelism)
        self.started_at = time.monotonic()
        if self.live and self.total:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                TextColumn("{task.fields[detail]}"),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self.overall = self.progress.add_task("sweep", total=self.total, detail="")

    # events ----------------------------------------------------------------------------

    def __call__(self, event: SweepEvent) -> None:
        if isinstance(event, SweepStarted):
            self._start(event)
        elif isinstance(event, RunStarted):
            self.running[event.run_name] = (0, event.epochs)
            if self.progress is not None:
                self.bars[event.run_name] = self.progress.add_task(
                    f"  {self.labels.get(event.run_name, event.run_name)}",
                    total=max(1, event.epochs),
                    detail=f"epoch 0/{event.epochs}",
                )
        elif isinstance(event, RunEpoch):
            self.running[event.run_name] = (event.epoch, event.epochs)
            if event.seconds > 0 and event.epochs:
                unit = self.cost.get(event.run_name, 1.0) / event.epochs
                self.epoch_seconds.append((event.seconds, unit))
            if self.progress is not None and event.run_name in self.bars:
                detail = f"epoch {event.epoch}/{event.epochs}"
                if not math.isnan(event.val_dsc):
                    detail += f"  val DSC {event.val_dsc:.3f}"
                self.progress.update(
                    self.bars[event.run_name], completed=event.epoch, detail=detail
                )
        elif isinstance(event, RunFinished):
            self._finished(event.report)
        self._refresh()

    def _finished(self, report: TaskReport) -> None:
        name = report.run_name
        self.running.pop(name, None)
        if self.progress is not None and name in self.bars:
            self.progress.remove_task(self.bars.pop(name))
        self.finished.add(name)
        if report.status == TaskOutcome.DONE:
            self.done += 1
            if report.seconds > 0:
                self.run_seconds.append((report.seconds, self.cost.get(name, 1.0)))
        elif report.status == TaskOutcome.FAILED:
            self.failed += 1
        else:
            self.skipped += 1
        self.console.print(self.line(report), markup=False, highlight=False, soft_wrap=True)

    # text ------------------------------------------------------------------------------

    def line(self, report: TaskReport) -> str:
        """One log line per finished run."""
        width = len(str(self.total))
        head = f"[{len(self.finished):>{width}}/{self.total}]"
        name = report.run_name
        status = report.status
        if status == TaskOutcome.DONE:
            dsc = report.summary.get("dsc")
            score = f"  test DSC {dsc:.3f}" if dsc is not None else ""
            text = f"{head} done    {format_duration(report.seconds):>12}  {name}{score}"
        elif status == TaskOutcome.FAILED:
            text = f"{head} FAILED  {format_duration(report.seconds):>12}  {name}: {report.error}"
        elif status == TaskOutcome.ELSEWHERE:
            text = f"{head} running elsewhere ({report.where}): {name}"
        elif status == TaskOutcome.ALREADY_DONE:
            text = f"{head} already done (by another sweep): {name}"
        elif status == TaskOutcome.KEPT_FAILED:
            text = f"{head} failed earlier, kept (--retry-failed reruns it): {name}"
        elif status == TaskOutcome.SUBMITTED:
            text = f"{head} submitted as job {report.where}: {name}"
        else:
            text = f"{head} {status}: {name}"
        if not self.live and status != TaskOutcome.SUBMITTED:
            text += f"  · {self.status_text()}"
        return text

    def status_text(self) -> str:
        left = self.total - len(self.finished) - len(self.running)
        parts = [
            f"{self.done} done",
            f"{len(self.running)} running",
            f"{self.failed} failed",
            f"{left} left",
        ]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        eta = self.eta_seconds()
        if eta is not None and len(self.finished) < self.total:
            parts.append(f"ETA {format_duration(eta)}")
        return ", ".join(parts)

    def eta_seconds(self) -> float | None:
        """Remaining work × measured seconds per unit of work ÷ runs in parallel. Whole
        finished runs are the measure once there are any (they include setup and
        evaluation); before that, finished epochs."""
        samples = self.run_seconds or self.epoch_seconds
        if not samples:
            return None
        rate = sum(seconds for seconds, _ in samples) / max(1e-9, sum(c for _, c in samples))
        remaining = 0.0
        for name, units in self.cost.items():
            if name in self.finished:
                continue
            done, epochs = self.running.get(name, (0, 0))
            remaining += units * (1 - done / epochs) if epochs else units
        unfinished = self.total - len(self.finished)
        return remaining * rate / max(1, min(self.parallelism, unfinished))

    def _refresh(self) -> None:
        if self.progress is not None and self.overall is not None:
            self.progress.update(
                self.overall,
                completed=len(self.finished),
                description=f"sweep {len(self.finished)}/{self.total}",
                detail=self.status_text(),
            )
