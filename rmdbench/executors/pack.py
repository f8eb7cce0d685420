"""Packs: runs that differ by seed only, trained by one process as one vmapped step
(``rmdbench.run.execute_packed``), wherever an executor runs them.

``group_runs`` splits a sweep's runs into packs of at most K: the runs of one method with
its parameters, one dataset, noise and profile, whose method packs exactly
(``Method.packs_exactly``), share packs; every other run is a pack of its own.
``run_pack`` is ``run_task`` for a pack: every run under its own lock, the same
done/failed checks and the same training path (``train_claimed``), so a pack of one is an
unpacked run and ``--pack 1`` is the sweep as it was; each record's ``provenance.pack``
says how many runs trained together.
"""

from __future__ import annotations

from collections.abc import Sequence

from rmdbench.executors.base import (
    DatasetCache,
    Notify,
    TaskReport,
    WorkerSettings,
    claim_run,
    train_claimed,
)
from rmdbench.run import RunSpec, pack_key, packs_exactly
from rmdbench.store import RunLock, RunStore


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
    of one, or with one run left to train, trains as an unpacked run (``train_claimed``)."""
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
