"""A compact copy of a run store: every done run's record without its test predictions,
small enough to commit beside a paper's tables, from which ``rmdbench report`` renders
the same tables, statistics and figures without training (the qualitative figure, which
needs the predictions and the dataset, is left out with a note).

What a run keeps: ``result.json``, ``spec.json``, its per-case tables (``cases.parquet``
and those of the best-epoch evaluations), ``curve.parquet``, ``noise.parquet`` and its
noisy example. Failed, damaged and unfinished runs are left out, and so is everything
of the store's own but tuning's record of what it selected (the report's ‡ marks).
The copy is written beside the destination and renamed into place: it is there whole,
or not at all.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from rmdbench.atomic import make_temporary_dir
from rmdbench.errors import UserError
from rmdbench.store import (
    CURVE_FILE,
    EVALUATION_RULES,
    NOISE_FILE,
    NOISY_EXAMPLE_FILE,
    RESULT_FILE,
    SPEC_FILE,
    RunState,
    RunStore,
    check_record,
    evaluation_files,
)
from rmdbench.tuning.selected import SELECTED_FILE, TUNING_DIR

#: the files of a run a compact copy keeps (each where the run has it)
KEPT_FILES = (
    RESULT_FILE,
    SPEC_FILE,
    CURVE_FILE,
    NOISE_FILE,
    NOISY_EXAMPLE_FILE,
    *dict.fromkeys(evaluation_files(rule)[0] for rule in EVALUATION_RULES),
)


@dataclass(frozen=True)
class CompactCopy:
    """What ``compact_store`` wrote: the runs copied and their total size in bytes."""

    runs: int
    size: int


def compact_store(source: Path, destination: Path) -> CompactCopy:
    """Copy the done runs of ``source`` into the new folder ``destination``, compactly."""
    source, destination = Path(source), Path(destination)
    if not source.is_dir():
        raise UserError(f"runs directory '{source}' does not exist; run 'rmdbench sweep' first")
    if destination.exists():
        raise UserError(
            f"'{destination}' exists; give a new folder for the compact copy (it is written whole)"
        )
    done = [
        path for path in RunStore(source).run_dirs() if check_record(path).state == RunState.DONE
    ]
    if not done:
        raise UserError(
            f"no finished runs in '{source}'; run 'rmdbench sweep --out {source}' first"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = make_temporary_dir(destination.parent, f".{destination.name}-")
    try:
        for run_dir in done:
            target = staging / run_dir.name
            target.mkdir()
            for name in KEPT_FILES:
                if (run_dir / name).is_file():
                    shutil.copyfile(run_dir / name, target / name)
        selected = source / TUNING_DIR / SELECTED_FILE
        if selected.is_file():
            (staging / TUNING_DIR).mkdir()
            shutil.copyfile(selected, staging / TUNING_DIR / SELECTED_FILE)
        size = sum(path.stat().st_size for path in staging.rglob("*") if path.is_file())
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CompactCopy(len(done), size)
