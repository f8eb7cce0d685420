"""What every executor shares: the settings a worker needs, the events and report it sends
back, and ``run_task`` — one run under its lock, wherever it executes.

An executor only decides *where* ``run_task`` runs (this process, a local worker process,
a SLURM array task); the lock, the done/failed checks and the record are the same
everywhere, so results from every executor land in one run store, identically.
"""

from __future__ import annotations

import gc
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import torch

from rmdbench.data.base import SegmentationData
from rmdbench.data.resolve import load_dataset
from rmdbench.fingerprint import check_planned_code
from rmdbench.profiles import Profile
from rmdbench.progress import Track
from rmdbench.run import RunSpec, execute_packed, execute_run
from rmdbench.store import (
    FAILED_FILE,
    SPEC_FILE,
    RunLock,
    RunState,
    RunStore,
    holder_identity,
    write_json,
)


class TaskOutcome(StrEnum):
    """What became of one task of a sweep (``TaskReport.status``). DONE and FAILED: trained
    now, and the run stands so in the store (the same words as ``RunState``); the others:
    not trained by this sweep."""

    DONE = RunState.DONE.value
    FAILED = RunState.FAILED.value
    ALREADY_DONE = "already_done"  # done meanwhile, by another sweep
    KEPT_FAILED = "kept_failed"  # failed earlier; not retried without retry_failed
    ELSEWHERE = "elsewhere"  # locked by another process: left to it
    SUBMITTED = "submitted"  # handed to a queue that runs it later (slurm, detached)


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker needs besides the spec; picklable, no live objects."""

    store_root: Path
    device: str = "auto"
    cache_dir: Path | None = None
    plugins: tuple[Path, ...] = ()
    retry_failed: bool = False
    threads: int | None = None  # torch threads per worker; None = torch's default
    checkpoint_every: int = 0  # epochs between saved training states; 0 = off
    pack: int = 1  # runs differing by seed only trained as one vmapped step; 1 = off


@dataclass
class TaskReport:
    """What became of one run."""

    run_name: str
    status: TaskOutcome
    seconds: float = 0.0
    summary: dict = field(default_factory=dict)
    error: str = ""
    where: str = ""  # ELSEWHERE: who holds the lock; SUBMITTED: the job id

    @property
    def trained(self) -> bool:
        return self.status in (TaskOutcome.DONE, TaskOutcome.FAILED)


@dataclass(frozen=True)
class RunStarted:
    run_name: str
    epochs: int


@dataclass(frozen=True)
class RunEpoch:
    run_name: str
    epoch: int  # 1-based: epochs finished
    epochs: int
    seconds: float  # this epoch's training time
    val_dsc: float


@dataclass(frozen=True)
class RunFinished:
    report: TaskReport


Event = RunStarted | RunEpoch | RunFinished
Notify = Callable[[Event], None]


def ignore_event(event: Event) -> None:
    """For workers nobody listens to (SLURM jobs): progress is in the lock files."""


class DatasetCache:
    """Datasets loaded once per process and reused by every run that process trains."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir
        self._loaded: dict[tuple[str, int], SegmentationData] = {}

    def get(self, name: str, crop_size: int, *, progress: Track | None = None) -> SegmentationData:
        """``progress``: shows the build of a dataset not cached yet (nothing when None)."""
        key = (name, crop_size)
        if key not in self._loaded:
            self._loaded[key] = load_dataset(name, crop_size, self.cache_dir, progress=progress)
        return self._loaded[key]


def describe_holder(info: dict) -> str:
    if not info:
        return "another process"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')}"


def run_task(
    spec: RunSpec,
    settings: WorkerSettings,
    datasets: DatasetCache,
    notify: Notify = ignore_event,
) -> TaskReport:
    """Train and record one run unless it is done, kept failed, or locked by another
    process; the check happens under the lock, so no two processes ever train one run."""
    store = RunStore(settings.store_root)
    lock, skipped = claim_run(spec, settings, store)
    if skipped is not None:
        return skipped
    try:
        locks = {spec.run_name: lock}
        return train_claimed([spec], locks, store, settings, datasets, notify)[spec.run_name]
    finally:
        lock.release()


def elsewhere_report(store: RunStore, name: str) -> TaskReport:
    """The report of a run another live process holds the lock of (it trains it)."""
    holder = store.probe(name)
    return TaskReport(
        name, TaskOutcome.ELSEWHERE, where=describe_holder(holder.info if holder else {})
    )


def claim_run(
    spec: RunSpec, settings: WorkerSettings, store: RunStore
) -> tuple[RunLock, TaskReport | None]:
    """Take a run's lock to train it: the lock, held, and None; or the report of a run not
    to train (done, kept failed, locked elsewhere; the lock then not held). Under the lock
    a damaged record is set aside and dead staging directories go."""
    name = spec.run_name
    lock = store.lock(name)
    if not lock.acquire():
        return lock, elsewhere_report(store, name)
    try:
        state = store.state(name)
        skipped = None
        if state == RunState.DONE:
            skipped = TaskReport(name, TaskOutcome.ALREADY_DONE)
        elif state == RunState.FAILED and not settings.retry_failed:
            skipped = TaskReport(name, TaskOutcome.KEPT_FAILED, error="failed earlier")
        elif state == RunState.DAMAGED:  # the sweep set it aside unless damaged since: do it
            store.set_aside(name)
        if skipped is None:
            store.remove_stale_staging(name, locked=True)  # we hold the lock: leftovers are dead
            return lock, None
    except BaseException:
        lock.release()
        raise
    lock.release()
    return lock, skipped


def train_claimed(
    specs: list[RunSpec],
    locks: dict[str, RunLock],
    store: RunStore,
    settings: WorkerSettings,
    datasets: DatasetCache,
    notify: Notify,
) -> dict[str, TaskReport]:
    """Train and record the runs whose locks the caller holds: one alone, several as one
    pack (``execute_packed``); one report per run. Both ``run_task`` and
    ``rmdbench.executors.pack.run_pack`` end here."""
    from rmdbench.training.trainer import select_device

    profile = Profile(**specs[0].profile)
    for spec in specs:
        locks[spec.run_name].update(
            **holder_identity(),
            run=spec.run_name,
            method=spec.method,
            epoch=0,
            epochs=profile.epochs,
        )
        notify(RunStarted(spec.run_name, profile.epochs))
    started = time.perf_counter()
    on_epochs = [epoch_callback(spec.run_name, locks[spec.run_name], notify) for spec in specs]
    try:
        for spec in specs:  # one method, noise, backbone and dataset: one code, in fact
            check_planned_code(spec)
        device = select_device(settings.device)
        data = datasets.get(specs[0].dataset, profile.crop_size)
    except Exception as error:  # noqa: BLE001 - recorded like a training failure
        message = f"could not start: {type(error).__name__}: {error}"
        for spec in specs:
            record_failure(store, spec, message, traceback.format_exc(), locked=True)
        seconds = time.perf_counter() - started
        return {
            spec.run_name: TaskReport(spec.run_name, TaskOutcome.FAILED, seconds, error=message)
            for spec in specs
        }
    if len(specs) == 1:
        outcomes = [
            execute_run(
                specs[0], data, profile, store, device, on_epochs[0], settings.checkpoint_every
            )
        ]
    else:
        outcomes = execute_packed(specs, data, profile, store, device, on_epochs)
    seconds = time.perf_counter() - started  # the pack's: its runs trained together
    reports = {}
    for outcome in outcomes:
        name = outcome.spec.run_name
        if outcome.status == RunState.DONE:
            reports[name] = TaskReport(name, TaskOutcome.DONE, seconds, summary=outcome.summary)
        else:
            reports[name] = TaskReport(name, TaskOutcome.FAILED, seconds, error=outcome.error)
    if any(outcome.status != RunState.DONE for outcome in outcomes):
        free_device_memory(device)
    return reports


def epoch_callback(name: str, lock: RunLock, notify: Notify):
    """The per-epoch callback of one run being trained: its lock says how far it is, and
    the executor hears a ``RunEpoch``."""

    def on_epoch(epoch: int, epochs: int, row: dict) -> None:
        lock.update(epoch=epoch + 1, val_dsc=row.get("val_dsc"))
        notify(RunEpoch(name, epoch + 1, epochs, float(row.get("seconds", 0.0)), row["val_dsc"]))

    return on_epoch


def free_device_memory(device: torch.device) -> None:
    """After a failure (out of memory above all), give the next run in this process a clean
    device."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def record_failure(
    store: RunStore, spec: RunSpec, message: str, details: str = "", *, locked: bool = False
) -> bool:
    """Write a failed record for a run whose process could not (it died, or its job ended
    without a result). Skipped if the run is done or locked by a live process; True if
    written (a damaged record there is set aside to ``.damaged/`` by the staging).
    ``locked``: the caller holds the run's lock (a run that could not start); taking it
    again would fail (a second flock on the file, even in one process) and record nothing."""
    if locked:
        return _write_failure(store, spec, message, details)
    lock = store.lock(spec.run_name)
    if not lock.acquire():
        return False
    try:
        return _write_failure(store, spec, message, details)
    finally:
        lock.release()


def _write_failure(store: RunStore, spec: RunSpec, message: str, details: str) -> bool:
    """The failed record itself, written by a holder of the run's lock."""
    if store.is_done(spec.run_name):
        return False
    store.remove_stale_staging(spec.run_name, locked=True)
    with store.staging(spec.run_name) as staging:
        write_json(staging / SPEC_FILE, spec.as_dict())
        write_json(
            staging / FAILED_FILE,
            {"error": message, "traceback": details, "spec": spec.as_dict()},
        )
    return True


class Executor(ABC):
    """Where runs execute. ``run`` calls ``notify`` in the calling thread for every event
    and returns one report per spec."""

    name: str = ""

    @property
    def parallelism(self) -> int:
        """How many runs train at once (for the ETA)."""
        return 1

    def describe(self) -> str:
        return self.name

    @abstractmethod
    def run(
        self, specs: Sequence[RunSpec], settings: WorkerSettings, notify: Notify
    ) -> list[TaskReport]: ...
