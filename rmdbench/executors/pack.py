"""Packs: runs that differ by seed only, trained by one process as one vmapped step
(``rmdbench.run.execute_packed``), wherever an executor runs them.

``group_runs`` splits a sweep's runs into packs of at most K: the runs of one method with
its parameters, one dataset, noise and profile, whose method packs exactly
(``Method.packs_exactly``), share packs; every other run is a pack of its own. A pack of
one trains through ``run_task`` as any unpacked run does, so ``--pack 1`` is the sweep as
it was. ``run_pack`` is ``run_task`` for a pack: every run under its own lock, the same
done/failed checks, the same records (each run's ``provenance.pack`` says K).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence

from rmdbench.executors.base import (
    DatasetCache,
    Notify,
    RunEpoch,
    RunStarted,
    TaskOutcome,
    TaskReport,
    WorkerSettings,
    claim_run,
    free_device_memory,
    record_failure,
    run_task,
)
from rmdbench.fingerprint import check_planned_code
from rmdbench.profiles import Profile
from rmdbench.run import RunSpec, execute_packed, execute_run, pack_key, packs_exactly
from rmdbench.store import RunLock, RunState, RunStore, holder_identity


def group_runs(specs: Sequence[RunSpec], pack: int) -> list[list[RunSpec]]:
    """The runs in packs of at most ``pack``, in the order of their first run: runs that
    differ by seed only share packs (in their order), any other run trains alone. Runs of
    another method, dataset, noise or profile never share one, by construction."""
    packs: list[list[RunSpec]] = []
    open_packs: dict[str, list[RunSpec]] = {}
    for spec in specs:
        if pack <= 1 or not packs_exactly(spec):
            packs.append([spec])
            continue
        key = pack_key(spec)
        current = open_packs.get(key)
        if current is None or len(current) >= pack:
            current = open_packs[key] = []
            packs.append(current)
        current.append(spec)
    return packs


def run_pack(
    specs: Sequence[RunSpec],
    settings: WorkerSettings,
    datasets: DatasetCache,
    notify: Notify,
) -> list[TaskReport]:
    """Train and record the runs of one pack (from ``group_runs``) that are not done, kept
    failed or locked elsewhere, each under its lock; one report per run, in order. A pack
    of one, or with one run left to train, trains as an unpacked run."""
    if len(specs) == 1:
        return [run_task(specs[0], settings, datasets, notify)]
    store = RunStore(settings.store_root)
    reports: dict[str, TaskReport] = {}
    locks: dict[str, RunLock] = {}
    try:
        for spec in specs:
            lock, skipped = claim_run(spec, settings, store)
            if skipped is None:
                locks[spec.run_name] = lock
            else:
                reports[spec.run_name] = skipped
        claimed = [spec for spec in specs if spec.run_name in locks]
        if claimed:
            reports.update(train_claimed(claimed, locks, store, settings, datasets, notify))
    finally:
        for lock in locks.values():
            lock.release()
    return [reports[spec.run_name] for spec in specs]


def train_claimed(
    specs: list[RunSpec],
    locks: dict[str, RunLock],
    store: RunStore,
    settings: WorkerSettings,
    datasets: DatasetCache,
    notify: Notify,
) -> dict[str, TaskReport]:
    """Train the runs whose locks are held, as one pack (alone if only one is left), and
    report each as ``run_task`` would."""
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
    """``run_task``'s per-epoch callback for one run of a pack: its lock says how far it
    is, and the executor hears a ``RunEpoch``."""

    def on_epoch(epoch: int, epochs: int, row: dict) -> None:
        lock.update(epoch=epoch + 1, val_dsc=row.get("val_dsc"))
        notify(RunEpoch(name, epoch + 1, epochs, float(row.get("seconds", 0.0)), row["val_dsc"]))

    return on_epoch
