"""``rmdbench status RUNS_DIR``: done, failed, running and left runs of a store."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rmdbench.cli.common import console, fail


def status(
    runs_dir: Annotated[Path, typer.Argument(help="The runs directory (the run store).")],
) -> None:
    """Done, failed, running (locked) and left runs of a store, per method, with the epoch
    of each running run and the total training time; reads the store only."""
    from rmdbench.cli.progress import format_duration
    from rmdbench.status import read_status
    from rmdbench.store import RunState

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
    columns = {
        RunState.DONE: "done",
        RunState.FAILED: "failed",
        RunState.RUNNING: "running",
        RunState.TODO: "left",
    }
    methods = found.per_method()
    if methods:
        table = Table(title="runs per method")
        table.add_column("method")
        for column in columns.values():
            table.add_column(column, justify="right")
        for method in sorted(methods):
            counts = methods[method]
            table.add_row(method, *(str(counts[state]) for state in columns))
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
