"""Where a run store stands, from the store alone (what ``rmdbench status`` prints).

Done and failed runs come from their records, running ones from held locks (any host
sharing the filesystem; the lock file carries the holder's epoch), "left" from the grids
that sweeps recorded, and staging directories are told stale (their process died) from
in use. So it answers the same for an inline sweep, a local pool or SLURM array tasks,
while they run or after they were killed.

A record that does not read back whole is *damaged* (listed with the reason; the next
sweep sets it aside and retrains it); a directory holding another run's record, or one
rmdbench did not write, is *foreign* (listed, never counted) — unless a sweep planned a run
of its name: then it is that run's damaged record, which the sweep sets aside. Whatever the
files hold — truncated, emptied, JSON of any shape — this reads on; only a store whose own
folders are files is refused (``StoreLayoutError``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rmdbench.store import RunState, RunStore, check_record


@dataclass
class StoreStatus:
    """Counts and details of one run store."""

    done: dict[str, str] = field(default_factory=dict)  # run -> method
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # run -> (method, error)
    damaged: dict[str, tuple[str, str]] = field(default_factory=dict)  # run -> (method, why)
    foreign: dict[str, str] = field(default_factory=dict)  # directory -> whose record it holds
    running: dict[str, dict] = field(default_factory=dict)  # run -> lock holder's info
    incomplete: list[str] = field(default_factory=list)  # a directory without a record
    planned: dict[str, str] = field(default_factory=dict)  # run -> method
    staging_stale: int = 0
    staging_active: int = 0
    train_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def left(self) -> dict[str, str]:
        """Planned runs with no record and no holder: still to train (RunState.TODO).
        Damaged runs are counted apart, though a sweep trains them again too."""
        finished = self.done.keys() | self.failed.keys() | self.running.keys() | self.damaged.keys()
        return {name: method for name, method in self.planned.items() if name not in finished}

    def method_of_running(self, name: str) -> str:
        """A running run's method, from its holder's lock file or the recorded grids."""
        return text(self.running.get(name, {}).get("method")) or self.planned.get(name) or "?"

    def per_method(self) -> dict[str, Counter[RunState]]:
        """How many runs of each method stand in each state (TODO: left)."""
        methods: dict[str, Counter[RunState]] = {}
        found = [
            *((method, RunState.DONE) for method in self.done.values()),
            *((method, RunState.FAILED) for method, _ in self.failed.values()),
            *((method, RunState.DAMAGED) for method, _ in self.damaged.values()),
            *((self.method_of_running(name), RunState.RUNNING) for name in self.running),
            *((method, RunState.TODO) for method in self.left.values()),
        ]
        for method, state in found:
            methods.setdefault(method, Counter())[state] += 1
        return methods


def text(value: object) -> str:
    """A field shown to the user: a string as it is, anything else (absent, a number or a
    list where a name belongs) as ''."""
    return value if isinstance(value, str) else ""


def mapping(value: object) -> dict:
    """A field that should hold a JSON object: it, or {} when it holds anything else."""
    return value if isinstance(value, dict) else {}


def seconds(value: object) -> float:
    """A duration field: its finite number, else 0 (a record can hold anything)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0


def read_status(root: Path) -> StoreStatus:
    """The status of the store at ``root``: never raises on what a record holds; a store
    whose own folders are files is a ``StoreLayoutError``."""
    store = RunStore(root)
    store.check_layout()
    status = StoreStatus(planned=store.planned_runs())
    for run_dir in store.run_dirs():
        name = run_dir.name
        check = check_record(run_dir)
        method = text(mapping(check.record.get("spec")).get("method"))
        method = method or status.planned.get(name) or "?"
        if check.state == RunState.DONE:
            status.done[name] = method
            timings = mapping(check.record.get("timings"))
            status.train_seconds += seconds(timings.get("train_seconds"))
            status.total_seconds += seconds(timings.get("total_seconds"))
        elif check.state == RunState.FAILED:
            status.failed[name] = (method, str(check.record.get("error", check.reason)))
        elif check.foreign and name not in status.planned:
            status.foreign[name] = check.reason
        elif check.state == RunState.DAMAGED:
            status.damaged[name] = (method, check.reason)
        else:
            status.incomplete.append(name)
    for holder in store.running():
        status.running[holder.run_name] = holder.info
    for _, owner in store.staging_dirs():
        if store.probe(owner) is None:
            status.staging_stale += 1
        else:
            status.staging_active += 1
    return status
