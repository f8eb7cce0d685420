"""``rmdbench status RUNS_DIR``: done, failed, damaged, running and left runs of a store."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from rmdbench.cli.common import console, fail, say
from rmdbench.errors import UserError


def status(
    runs_dir: Annotated[Path, typer.Argument(help="The runs directory (the run store).")],
) -> None:
    """Done, failed, damaged, running (locked) and left runs of a store, per method, with the
    epoch of each running run and the total training time; reads the store only."""
    from rmdbench.cli.progress import format_duration
    from rmdbench.status import read_status
    from rmdbench.store import RunState

    if not runs_dir.is_dir():
        raise fail(f"no run store at '{runs_dir}'; pass the --out directory of a sweep")
    try:
        found = read_status(runs_dir)
    except UserError as error:
        raise fail(str(error)) from None
    planned = f" of {len(found.planned)} planned" if found.planned else ""
    damaged = f", {len(found.damaged)} damaged" if found.damaged else ""
    say(
        f"{runs_dir}/: {len(found.done)} done, {len(found.failed)} failed{damaged}, "
        f"{len(found.running)} running, {len(found.left)} left{planned}"
    )
    columns = {
        RunState.DONE: "done",
        RunState.FAILED: "failed",
        RunState.RUNNING: "running",
        RunState.TODO: "left",
    }
    if found.damaged:
        columns[RunState.DAMAGED] = "damaged"
    methods = found.per_method()
    if methods:
        table = Table(title="runs per method")
        table.add_column("method")
        for column in columns.values():
            table.add_column(column, justify="right")
        for method in sorted(methods):
            counts = methods[method]
            table.add_row(Text(method), *(str(counts[state]) for state in columns))
        console.print(table)
    now = time.time()
    for name, info in sorted(found.running.items()):
        epoch = f"epoch {info.get('epoch', '?')}/{info.get('epochs', '?')}"
        updated = info.get("updated")
        age = ""
        if isinstance(updated, int | float) and math.isfinite(updated):
            age = f", updated {format_duration(max(0.0, now - float(updated)))} ago"
        holder = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
        if info.get("slurm_job"):
            holder += f", SLURM job {info['slurm_job']}"
        say(f"running  {name}  {epoch}  ({holder}{age})")
    for name, (_, error) in sorted(found.failed.items()):
        say(f"failed   {name}: {error}")
    for name, (_, reason) in sorted(found.damaged.items()):
        say(f"damaged  {name}: {reason} (the next sweep moves it to .damaged/ and retrains it)")
    for name, reason in sorted(found.foreign.items()):
        say(f"foreign  {name}: {reason} (not counted; left alone)")
    for name in found.incomplete:
        say(f"no record {name} (an interrupted replacement; rerun the sweep)")
    if found.staging_stale or found.staging_active:
        say(
            f"staging: {found.staging_active} in use, {found.staging_stale} stale "
            "(left by killed runs; the next sweep removes them)"
        )
    say(
        f"total train time {format_duration(found.train_seconds)} "
        f"({format_duration(found.total_seconds)} with data and evaluation) over "
        f"{len(found.done)} done runs"
    )
