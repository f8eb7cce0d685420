"""Tidy tables: every per-case and per-epoch table a run writes names its run; the public
``rmdbench.load_runs`` / ``rmdbench.load_curves`` read a store (or a committed compact
copy) as one row per case, or per epoch, per run; a report goes beside its store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import rmdbench
from rmdbench.cli import app
from rmdbench.errors import UserError
from rmdbench.results import IDENTITY_COLUMNS
from rmdbench.store import CASE_COLUMNS, CURVE_FILE, RESULT_FILE, evaluation_files
from tests.helpers.sweep_plugin import fast_methods, fast_sweep, write_plugin

REPOSITORY = Path(__file__).resolve().parents[2]
COMPACT = REPOSITORY / "docs" / "memorise" / "data"


@pytest.fixture(scope="module")
def store(tmp_path_factory, runner):
    """Two runs of the fast test method (r = 0 and 0.5, two variants' worth of params)."""
    folder = tmp_path_factory.mktemp("tidy")
    out = folder / "runs"
    arguments = fast_sweep(write_plugin(folder), out, fast_methods("tag=5"))
    arguments[arguments.index("--noise") + 1] = "0,0.5"
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    return out


def run_tables(out: Path):
    """(run directory, result.json, every per-case table file, the curve file) per run."""
    for path in sorted(out.glob(f"*/{RESULT_FILE}")):
        record = json.loads(path.read_text())
        cases = [
            path.parent / name
            for name in dict.fromkeys(evaluation_files(rule)[0] for rule in record["evaluation"])
            if (path.parent / name).is_file()
        ]
        yield path.parent, record, cases, path.parent / CURVE_FILE


def test_every_table_a_run_writes_carries_its_identity(store):
    ratios = set()
    for run_dir, record, case_files, curve_file in run_tables(store):
        spec = record["spec"]
        expected = {
            "run": run_dir.name,
            "dataset": spec["dataset"],
            "noise_model": spec["noise_model"],
            "noise_preset": spec["noise_preset"],
            "noise_params": json.dumps(spec["noise_params"], sort_keys=True),
            "noise_ratio": spec["noise_ratio"],
            "method": "fast",
            "method_params": json.dumps(spec["method_params"], sort_keys=True),
            "seed": spec["seed"],
            "profile": spec["profile"]["name"],
            "profile_json": json.dumps(spec["profile"], sort_keys=True),
            "backbone": spec["backbone"],
        }
        assert set(expected) == set(IDENTITY_COLUMNS)
        for path in (*case_files, curve_file):
            table = pd.read_parquet(path)
            assert list(table.columns[: len(IDENTITY_COLUMNS)]) == list(IDENTITY_COLUMNS), path
            for column, value in expected.items():
                assert (table[column] == value).all(), (path.name, column)
        ratios.add(spec["noise_ratio"])
        # the summary is of the metrics only, not of the identity's numbers
        assert not {"seed", "noise_ratio"} & set(record["summary"])
    assert ratios == {0.0, 0.5}


def check_runs_frame(frame: pd.DataFrame, out: Path, evaluate: str = "last") -> None:
    """One row per test case per run, the documented columns first."""
    assert list(frame.columns[: len(IDENTITY_COLUMNS)]) == list(IDENTITY_COLUMNS)
    assert {"spec_version", *CASE_COLUMNS} <= set(frame.columns)
    assert not frame.duplicated(["run", "case_id"]).any()
    expected_rows = 0
    for run_dir, record, _, _ in run_tables(out):
        files = record["evaluation"][evaluate]["files"]
        cases = pd.read_parquet(run_dir / evaluation_files(files)[0])
        expected_rows += len(cases)
        rows = frame[frame["run"] == run_dir.name]
        assert sorted(rows["case_id"].astype(str)) == sorted(cases["case_id"].astype(str))
        assert (rows["method"] == record["spec"]["method"]).all()
        assert (rows["noise_ratio"] == record["spec"]["noise_ratio"]).all()
        assert rows["dsc"].mean() == pytest.approx(cases["dsc"].mean())
    assert len(frame) == expected_rows


def check_curves_frame(frame: pd.DataFrame, out: Path) -> None:
    """One row per epoch per run, the documented columns first."""
    assert list(frame.columns[: len(IDENTITY_COLUMNS)]) == list(IDENTITY_COLUMNS)
    assert {"epoch", "val_dsc"} <= set(frame.columns)
    assert not frame.duplicated(["run", "epoch"]).any()
    expected_rows = 0
    for run_dir, record, _, curve_file in run_tables(out):
        curve = pd.read_parquet(curve_file)
        expected_rows += len(curve)
        rows = frame[frame["run"] == run_dir.name]
        assert list(rows["epoch"]) == list(curve["epoch"])
        assert (rows["seed"] == record["spec"]["seed"]).all()
    assert len(frame) == expected_rows


def test_load_runs_and_load_curves_read_a_store(store):
    check_runs_frame(rmdbench.load_runs(store), store)
    check_curves_frame(rmdbench.load_curves(str(store)), store)


@pytest.mark.parametrize("evaluate", ["last", "best-clean-val"])
def test_load_runs_and_load_curves_read_the_committed_compact_store(evaluate):
    """Records written before the tables carried their identity read the same way."""
    assert "run" not in pd.read_parquet(next(COMPACT.glob("*/cases.parquet"))).columns
    check_runs_frame(rmdbench.load_runs(COMPACT, evaluate=evaluate), COMPACT, evaluate)
    check_curves_frame(rmdbench.load_curves(COMPACT), COMPACT)


def test_load_runs_refuses_a_missing_store_and_reads_an_empty_one(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        rmdbench.load_runs(tmp_path / "nowhere")
    empty = rmdbench.load_runs(tmp_path)
    assert empty.empty and list(empty.columns[: len(IDENTITY_COLUMNS)]) == list(IDENTITY_COLUMNS)
    assert rmdbench.load_curves(tmp_path).empty


def test_the_loaders_import_without_the_command_line():
    code = (
        "import sys, rmdbench; "
        f"frame = rmdbench.load_runs({str(COMPACT)!r}); "
        f"curves = rmdbench.load_curves({str(COMPACT)!r}); "
        "assert len(frame) and len(curves); "
        "print(sorted(name for name in ('typer', 'rich', 'torch') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_report_without_out_goes_beside_the_store(runner, tmp_path):
    runs = tmp_path / "results"
    shutil.copytree(COMPACT, runs)
    before = sorted(path.relative_to(runs) for path in runs.rglob("*"))
    result = runner.invoke(app, ["report", str(runs), "--reference", "single"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results-report" / "report.md").is_file()
    assert sorted(path.relative_to(runs) for path in runs.rglob("*")) == before


def test_the_default_report_folder_of_the_current_folder_is_beside_it(tmp_path, monkeypatch):
    from rmdbench.reports.report import default_out_dir

    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path / "runs")
    assert default_out_dir(Path(".")) == tmp_path / "runs-report"
    assert default_out_dir(Path("runs/")) == Path("runs-report")
