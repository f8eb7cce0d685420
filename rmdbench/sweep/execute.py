"""Running a planned sweep: datasets loaded once, the store made ready, every run that is
not done trained through an executor, and what became of each.

Nothing here prints: messages go to an ``on_message`` callback, dataset builds to a
``Track``, and run progress to an event callback (``SweepStarted`` first, then the
executor's ``RunStarted`` / ``RunEpoch`` / ``RunFinished``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rmdbench import labels
from rmdbench.executors.base import (
    DatasetCache,
    Event,
    Executor,
    TaskOutcome,
    TaskReport,
    WorkerSettings,
)
from rmdbench.noise import check_noise_labels
from rmdbench.profiles import Profile
from rmdbench.progress import Track
from rmdbench.registry import METHODS, NOISE_MODELS
from rmdbench.run import RunSpec
from rmdbench.store import RESULT_FILE, RunState, RunStore, identify_record
from rmdbench.sweep.survey import runs_to_train


def ignore_message(text: str) -> None:
    """The default ``on_message``: say nothing."""


def prepare_datasets(
    specs: Sequence[RunSpec],
    profile: Profile,
    cache: DatasetCache,
    *,
    on_message: Callable[[str], None] = ignore_message,
    progress: Track | None = None,
    only_for_readers: bool = False,
) -> None:
    """Load every dataset once here, before any record is written: it builds the on-disk
    cache before workers race for it, and noise needing per-reader masks or the user's own
    noisy labels (reader, given) is checked against the data.
    ``only_for_readers``: load just what the reader check needs (a dry run). ``progress``
    shows the build of a dataset that is not cached yet."""
    needs_labels = {
        spec.dataset
        for spec in specs
        if NOISE_MODELS.get(spec.noise_model).requires_readers
        or NOISE_MODELS.get(spec.noise_model).requires_given
    }
    names = dict.fromkeys(spec.dataset for spec in specs)
    for name in names:
        if only_for_readers and name not in needs_labels:
            continue
        on_message(f"loading dataset {name} (built and cached on first use)")
        data = cache.get(name, profile.crop_size, progress=progress)
        for model in dict.fromkeys(spec.noise_model for spec in specs if spec.dataset == name):
            check_noise_labels(
                NOISE_MODELS.get(model),
                name,
                readers=data.readers is not None,
                given=data.given_masks is not None,
            )


def prepare_store(
    store: RunStore,
    specs: Sequence[RunSpec],
    states: Mapping[str, RunState] | None = None,
    *,
    on_message: Callable[[str], None] = ignore_message,
) -> int:
    """Make the store ready for a sweep: writable, its own folders folders, stale staging
    directories gone, damaged records of the grid moved aside (one line each), foreign
    directories noted, the grid recorded (for ``rmdbench status``). ``states``: the
    ``survey`` (else the store is surveyed again). Returns how many staging directories
    went."""
    store.ensure_writable()
    removed = store.remove_stale_staging()
    damaged = [
        spec.run_name
        for spec in specs
        if (states[spec.run_name] if states is not None else store.state(spec.run_name))
        == RunState.DAMAGED
    ]
    set_aside_damaged(store, damaged, on_message)
    note_foreign(store, {spec.run_name for spec in specs}, on_message)
    store.record_plan({spec.run_name: spec.method for spec in specs})
    return removed


def set_aside_damaged(
    store: RunStore, run_names: Sequence[str], on_message: Callable[[str], None]
) -> list[Path]:
    """Move each damaged run directory to ``.damaged/`` (never deleted), under the run's
    lock, so the sweep trains it again; a run locked elsewhere is left to its holder (whose
    worker does the same). Returns where they went."""
    moved = []
    for name in run_names:
        lock = store.lock(name)
        if not lock.acquire():
            continue
        try:
            check = store.check(name)
            if check.state != RunState.DAMAGED:  # repaired or retrained meanwhile
                continue
            where = store.set_aside(name)
        finally:
            lock.release()
        moved.append(where)
        on_message(f"damaged run {name} ({check.reason}): moved to {where}; training it again")
    return moved


def note_foreign(
    store: RunStore, planned: set[str], on_message: Callable[[str], None]
) -> dict[str, str]:
    """One line for the directories of the store that hold another run's record, or one
    that rmdbench did not write: they are left alone and not counted (a grid's own run
    directory with a wrong record is damaged instead, and set aside). Returns them."""
    foreign = {}
    planned = planned | store.planned_runs().keys()  # other grids' runs are runs too
    for run_dir in store.run_dirs():
        if run_dir.name in planned or not (run_dir / RESULT_FILE).exists():
            continue
        _, problem, is_foreign = identify_record(run_dir)
        if is_foreign:
            foreign[run_dir.name] = problem
    if foreign:
        names = ", ".join(sorted(foreign))
        on_message(
            f"note: {len(foreign)} director{'y' if len(foreign) == 1 else 'ies'} in "
            f"{store.root} hold no run of this store, left alone and not counted: {names}"
        )
    return foreign


def run_label(spec: RunSpec) -> str:
    """A run in a few words: 'rmd[distill=false] distortion r=0.4 s=1'."""
    method = labels.method_label(spec.method, spec.method_params)
    return f"{method} {spec.noise_model} r={spec.noise_ratio:g} s={spec.seed}"


def run_cost(spec: RunSpec) -> float:
    """Expected work of a run, in units of one epoch of ``single`` (for the ETA)."""
    return METHODS.get(spec.method).relative_cost * float(spec.profile.get("epochs", 1))


@dataclass(frozen=True)
class SweepStarted:
    """The first event of ``run_sweep``: the runs it is about to train, in order, with
    each one's expected work (``run_cost``) and label, and how many train at once."""

    runs: tuple[str, ...]
    cost: dict[str, float]
    labels: dict[str, str]
    parallelism: int


SweepEvent = SweepStarted | Event


def ignore_sweep_event(event: SweepEvent) -> None:
    """The default ``on_event``: nobody watches."""


@dataclass
class SweepResult:
    reports: list[TaskReport] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)  # done before the sweep began
    kept_failed: list[str] = field(default_factory=list)  # failed before, not retried
    seconds: float = 0.0

    def with_status(self, *statuses: TaskOutcome) -> list[TaskReport]:
        return [report for report in self.reports if report.status in statuses]

    @property
    def trained(self) -> list[TaskReport]:
        return self.with_status(TaskOutcome.DONE, TaskOutcome.FAILED)

    @property
    def failed(self) -> list[TaskReport]:
        return self.with_status(TaskOutcome.FAILED)

    @property
    def skipped(self) -> int:
        return len(self.already_done) + len(self.with_status(TaskOutcome.ALREADY_DONE))

    @property
    def failed_names(self) -> list[str]:
        """Every run of the grid that stands failed after this sweep."""
        names = [
            report.run_name
            for report in self.with_status(TaskOutcome.FAILED, TaskOutcome.KEPT_FAILED)
        ]
        return names + [name for name in self.kept_failed if name not in names]

    @property
    def elsewhere(self) -> list[TaskReport]:
        return self.with_status(TaskOutcome.ELSEWHERE)

    @property
    def submitted(self) -> list[TaskReport]:
        return self.with_status(TaskOutcome.SUBMITTED)


def runs_at_once(todo: list[RunSpec], parallelism: int, pack: int) -> int:
    """How many runs train at once, for the progress estimate: the executor's parallelism
    times the mean pack size (a packed run's measured time is its whole pack's)."""
    from rmdbench.executors.pack import group_runs

    if not todo or pack <= 1:
        return parallelism
    packs = group_runs(todo, pack)
    return max(1, round(parallelism * len(todo) / len(packs)))


def run_sweep(
    specs: Sequence[RunSpec],
    states: Mapping[str, RunState],
    *,
    executor: Executor,
    settings: WorkerSettings,
    on_event: Callable[[SweepEvent], None] = ignore_sweep_event,
) -> SweepResult:
    """Train every run that is not done (nor kept failed), through ``executor``; one
    failing run is recorded and the sweep goes on. ``on_event`` hears ``SweepStarted``,
    then every event of the executor, in this thread."""
    started = time.perf_counter()
    result = SweepResult(
        already_done=[name for name, state in states.items() if state == RunState.DONE],
        kept_failed=[]
        if settings.retry_failed
        else [name for name, state in states.items() if state == RunState.FAILED],
    )
    todo = runs_to_train(specs, states, settings.retry_failed)
    on_event(
        SweepStarted(
            runs=tuple(spec.run_name for spec in todo),
            cost={spec.run_name: run_cost(spec) for spec in todo},
            labels={spec.run_name: run_label(spec) for spec in todo},
            parallelism=runs_at_once(todo, executor.parallelism, settings.pack),
        )
    )
    if todo:
        result.reports = executor.run(todo, settings, on_event)
    result.seconds = time.perf_counter() - started
    return result
