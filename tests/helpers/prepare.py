"""What every dataset-format test shares: running ``rmdbench data prepare``, checking that
a refused source gave one line and left nothing behind, and a tiny sweep on a copy."""

from __future__ import annotations

import csv
import glob
import json
from pathlib import Path

from rmdbench.cli import app
from rmdbench.store import RESULT_FILE

TINY_PROFILE = "tiny[epochs=1,max_train_cases=8,max_eval_cases=4]"


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
    assert not list(target.parent.glob(f".{glob.escape(target.name)}.partial-*"))


def read_cases(out: Path) -> list[dict]:
    """The rows of a prepared copy's cases.csv."""
    with (out / "cases.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def tiny_sweep(runner, tmp_path: Path, dataset: Path | str, *extra: str, profile=TINY_PROFILE):
    """A sweep on CPU into ``tmp_path/runs`` with a cache in ``tmp_path/cache``; returns
    the CLI result and the runs folder."""
    out = tmp_path / "runs"
    arguments = [
        "sweep", "--dataset", str(dataset), "--profile", profile, "--device", "cpu",
        "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *extra,
    ]  # fmt: skip
    return runner.invoke(app, arguments), out


def finished_records(out: Path) -> list[dict]:
    """Every result.json of a runs folder, in name order."""
    return [json.loads(path.read_text()) for path in sorted(out.glob(f"*/{RESULT_FILE}"))]
