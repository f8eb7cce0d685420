"""Where a run store stands, from the store alone (what ``rmdbench status`` prints).

Done and failed runs come from their records, running ones from held locks (any host
sharing the filesystem; the lock file carries the holder's epoch), "left" from the grids
that sweeps recorded, and staging directories are told stale (their process died) from
in use. So it answers the same for an inline sweep, a local pool or SLURM array tasks,
while they run or after they were killed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rmdbench.store import FAILED_FILE, RESULT_FILE, RunState, RunStore


@dataclass
class StoreStatus:
    """Counts and details of one run store."""

    done: dict[str, str] = field(default_factory=dict)  # run -> method
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # run -> (method, error)
    running: dict[str, dict] = field(default_factory=dict)  # run -> lock holder's info
    incomplete: list[str] = field(default_factory=list)  # a directory without a record
    planned: dict[str, str] = field(default_factory=dict)  # run -> method
    staging_stale: int = 0
    staging_active: int = 0
    train_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def left(self) -> dict[str, str]:
        """Planned runs with no record and no holder: still to train (RunState.TODO)."""
        finished = self.done.keys() | self.failed.keys() | self.running.keys()
        return {name: method for name, method in self.planned.items() if name not in finished}

    def method_of_running(self, name: str) -> str:
        """A running run's method, from its holder's lock file or the recorded grids."""
        return self.running.get(name, {}).get("method") or self.planned.get(name) or "?"

    def per_method(self) -> dict[str, Counter[RunState]]:
        """How many runs of each method stand in each state (TODO: left)."""
        methods: dict[str, Counter[RunState]] = {}
        found = [
            *((method, RunState.DONE) for method in self.done.values()),
            *((method, RunState.FAILED) for method, _ in self.failed.values()),
            *((self.method_of_running(name), RunState.RUNNING) for name in self.running),
            *((method, RunState.TODO) for method in self.left.values()),
        ]
        for method, state in found:
            methods.setdefault(method, Counter())[state] += 1
        return methods


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def read_status(root: Path) -> StoreStatus:
    store = RunStore(root)
    status = StoreStatus(planned=store.planned_runs())
    for run_dir in sorted(path for path in root.iterdir() if path.is_dir()):
        if run_dir.name.startswith("."):
            continue
        state = store.state(run_dir.name)
        if state == RunState.DONE:
            record = _read(run_dir / RESULT_FILE)
            status.done[run_dir.name] = record.get("spec", {}).get("method", "?")
            timings = record.get("timings", {})
            status.train_seconds += float(timings.get("train_seconds", 0.0) or 0.0)
            status.total_seconds += float(timings.get("total_seconds", 0.0) or 0.0)
        elif state == RunState.FAILED:
            record = _read(run_dir / FAILED_FILE)
            method = record.get("spec", {}).get("method", "?")
            status.failed[run_dir.name] = (method, str(record.get("error", "")))
        else:
            status.incomplete.append(run_dir.name)
    for holder in store.running():
        status.running[holder.run_name] = holder.info
    for _, owner in store.staging_dirs():
        if store.probe(owner) is None:
            status.staging_stale += 1
        else:
            status.staging_active += 1
    return status
