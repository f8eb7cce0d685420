"""What every dataset-format test shares: running ``rmdbench data prepare`` and checking
that a refused source gave one line and left nothing behind."""

from __future__ import annotations

import csv
from pathlib import Path

from rmdbench.cli import app


def run_prepare(runner, name: str, source: Path, target: Path, *extra: str):
    """``rmdbench data prepare NAME SOURCE --out TARGET ...`` in this process."""
    return runner.invoke(app, ["data", "prepare", name, str(source), "--out", str(target), *extra])


def assert_refused(result, target: Path, *fragments: str) -> None:
    """Exit 2, one 'error:' line holding every fragment (the file's name, the problem), and
    no prepared folder nor staging folder left."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not target.exists()
    assert not list(target.parent.glob(f".{target.name}.partial-*"))


def read_cases(out: Path) -> list[dict]:
    """The rows of a prepared copy's cases.csv."""
    with (out / "cases.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))
