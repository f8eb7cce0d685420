"""``rmdbench status RUNS_DIR``: where a store stands, from the store alone.

Done and failed runs come from their records, running ones from held locks (any host
sharing the filesystem; the lock file carries the holder's epoch), "left" from the grids
that sweeps recorded, and staging directories are told stale (their process died) from
in use. So it answers the same for an inline sweep, a local pool or SLURM array tasks,
while they run or after they were killed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rmdbench.cli_common import console, fail


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
        finished = self.done.keys() | self.failed.keys() | self.running.keys()
        return {name: method for name, method in self.planned.items() if name not in finished}


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def read_status(root: Path) -> StoreStatus:
    from rmdbench.store import FAILED_FILE, RESULT_FILE, RunStore

    store = RunStore(root)
    status = StoreStatus(planned=store.planned_runs())
    for run_dir in sorted(path for path in root.iterdir() if path.is_dir()):
        if run_dir.name.startswith("."):
            continue
        if (run_dir / RESULT_FILE).is_file():
            record = _read(run_dir / RESULT_FILE)
            status.done[run_dir.name] = record.get("spec", {}).get("method", "?")
            timings = record.get("timings", {})
            status.train_seconds += float(timings.get("train_seconds", 0.0) or 0.0)
            status.total_seconds += float(timings.get("total_seconds", 0.0) or 0.0)
        elif (run_dir / FAILED_FILE).is_file():
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


def _method_of(name: str, status: StoreStatus) -> str:
    info = status.running.get(name, {})
    return info.get("method") or status.planned.get(name) or "?"


def status(
    runs_dir: Annotated[Path, typer.Argument(help="The runs directory (the run store).")],
) -> None:
    """Done, failed, running (locked) and left runs of a store, per method, with the epoch
    of each running run and the total training time; reads the store only."""
    from rmdbench.executors.progress import format_duration

    if not runs_dir.is_dir():
        raise fail(f"no run store at '{runs_dir}'; pass the --out directory of a sweep")
    found = read_status(runs_dir)
    planned = f" of {len(found.planned)} planned" if found.planned else ""
    console.print(
        f"{runs_dir}/: {len(found.done)} done, {len(found.failed)} failed, "
        f"{len(found.running)} running, {len(found.left)} left{planned}",
        highlight=False,
        soft_wrap=True,
    )
    methods: dict[str, Counter] = {}
    for method in found.done.values():
        methods.setdefault(method, Counter())["done"] += 1
    for method, _ in found.failed.values():
        methods.setdefault(method, Counter())["failed"] += 1
    for name in found.running:
        methods.setdefault(_method_of(name, found), Counter())["running"] += 1
    for method in found.left.values():
        methods.setdefault(method, Counter())["left"] += 1
    if methods:
        table = Table(title="runs per method")
        table.add_column("method")
        for column in ("done", "failed", "running", "left"):
            table.add_column(column, justify="right")
        for method in sorted(methods):
            counts = methods[method]
            table.add_row(
                method, *(str(counts[key]) for key in ("done", "failed", "running", "left"))
            )
        console.print(table)
    now = time.time()
    for name, info in sorted(found.running.items()):
        epoch = f"epoch {info.get('epoch', '?')}/{info.get('epochs', '?')}"
        updated = info.get("updated")
        age = f", updated {format_duration(now - float(updated))} ago" if updated else ""
        holder = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
        console.print(f"running  {name}  {epoch}  ({holder}{age})", highlight=False, soft_wrap=True)
    for name, (_, error) in sorted(found.failed.items()):
        console.print(f"failed   {name}: {error}", markup=False, highlight=False, soft_wrap=True)
    for name in found.incomplete:
        console.print(
            f"no record {name} (an interrupted replacement; rerun the sweep)", soft_wrap=True
        )
    if found.staging_stale or found.staging_active:
        console.print(
            f"staging: {found.staging_active} in use, {found.staging_stale} stale "
            "(left by killed runs; the next sweep removes them)",
            soft_wrap=True,
        )
    console.print(
        f"total train time {format_duration(found.train_seconds)} "
        f"({format_duration(found.total_seconds)} with data and evaluation) over "
        f"{len(found.done)} done runs",
        highlight=False,
        soft_wrap=True,
    )
