"""``rmdbench export mlflow``: each done run of a store as an MLflow run in a local folder
store (no server), read back with MLflow's own client; without MLflow, one line naming the
extra and nothing written."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from rmdbench.cli import app
from rmdbench.store import CURVE_FILE, RESULT_FILE

#: a committed compact store: two 48-epoch runs with best-epoch evaluations
STORE = Path(__file__).resolve().parents[2] / "docs" / "memorise" / "data"


def flat_spec(spec: dict, prefix: str = "") -> dict[str, str]:
    """The spec as the params MLflow should hold: dotted keys, JSON values."""
    found = {}
    for key, value in spec.items():
        if isinstance(value, dict) and value:
            found.update(flat_spec(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return found


@pytest.fixture
def client_of(monkeypatch):
    """An MLflow client of a folder store (the variable lets MLflow open one)."""
    tracking = pytest.importorskip("mlflow.tracking")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return lambda folder: tracking.MlflowClient(tracking_uri=folder.resolve().as_uri())


def exported_runs(client, experiment: str = "rmdbench") -> dict:
    found = client.get_experiment_by_name(experiment)
    return {run.info.run_name: run for run in client.search_runs([found.experiment_id])}


def test_every_run_becomes_an_mlflow_run(runner, tmp_path, client_of):
    target = tmp_path / "mlruns"
    result = runner.invoke(app, ["export", "mlflow", str(STORE), "--tracking-uri", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("exported 2 run(s) to MLflow experiment 'rmdbench'")
    client = client_of(target)
    runs = exported_runs(client)
    assert set(runs) == {path.name for path in STORE.iterdir() if path.is_dir()}
    for name, run in runs.items():
        record = json.loads((STORE / name / RESULT_FILE).read_text())
        curve = pd.read_parquet(STORE / name / CURVE_FILE)
        assert run.info.status == "FINISHED"
        assert run.data.params == {"run_name": name, **flat_spec(record["spec"])}
        assert run.data.tags["rmdbench.run"] == name
        for key, value in record["summary"].items():
            assert run.data.metrics[f"test_{key}"] == pytest.approx(value)
        best = record["evaluation"]["best-clean-val"]
        assert run.data.metrics["best-clean-val.epoch"] == best["epoch"]
        best_cases = pd.read_parquet(STORE / name / "cases-best-clean-val.parquet")
        assert run.data.metrics["best-clean-val.test_dsc"] == pytest.approx(
            best_cases["dsc"].mean()
        )
        history = client.get_metric_history(run.info.run_id, "val_dsc")
        assert len(history) == len(curve) == 48
        assert sorted(point.step for point in history) == list(curve["epoch"])
        by_step = {point.step: point.value for point in history}
        assert by_step[29] == pytest.approx(curve.loc[curve["epoch"] == 29, "val_dsc"].item())
        assert len(client.get_metric_history(run.info.run_id, "loss")) == 48


def test_a_second_export_adds_nothing_and_replaces_an_unfinished_run(runner, tmp_path, client_of):
    target = tmp_path / "mlruns"
    arguments = ["export", "mlflow", str(STORE), "--tracking-uri", str(target)]
    assert runner.invoke(app, arguments).exit_code == 0
    client = client_of(target)
    first = exported_runs(client)
    name = sorted(first)[0]
    client.set_terminated(first[name].info.run_id, "RUNNING")  # as an export killed mid-run
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "exported 1 run(s)" in result.output and "1 already there" in result.output
    second = exported_runs(client)
    assert set(second) == set(first)
    assert second[name].info.run_id != first[name].info.run_id
    assert second[name].info.status == "FINISHED"
    assert len(client.get_metric_history(second[name].info.run_id, "val_dsc")) == 48


def test_without_mlflow_it_is_one_line_and_writes_nothing(runner, tmp_path, monkeypatch):
    for name in [module for module in sys.modules if module.split(".")[0] == "mlflow"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    target = tmp_path / "mlruns"
    result = runner.invoke(app, ["export", "mlflow", str(STORE), "--tracking-uri", str(target)])
    assert result.exit_code == 2, result.output
    assert result.output == (
        'error: rmdbench export mlflow needs MLflow: pip install "rmdbench[mlflow]"\n'
    )
    assert not target.exists() and os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "make_source, message",
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: tmp, "no finished runs"),
    ],
)
def test_a_store_without_runs_is_one_line(runner, tmp_path, client_of, make_source, message):
    target = tmp_path / "mlruns"
    source = make_source(tmp_path)
    result = runner.invoke(app, ["export", "mlflow", str(source), "--tracking-uri", str(target)])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not target.exists()


def test_a_file_as_the_tracking_folder_is_one_line(runner, tmp_path, client_of):
    blocker = tmp_path / "taken"
    blocker.write_text("")
    result = runner.invoke(app, ["export", "mlflow", str(STORE), "--tracking-uri", str(blocker)])
    assert result.exit_code == 2, result.output
    assert "--tracking-uri" in result.output and len(result.output.strip().splitlines()) == 1


def test_a_tables_identity_columns_are_not_logged_as_metrics():
    """New runs' tables start with their identity (noise_ratio and seed are numbers):
    params of the run, never per-epoch metrics."""
    from rmdbench.mlflow_export import curve_metrics

    curve = pd.DataFrame(
        {"run": ["r", "r"], "noise_ratio": [0.8, 0.8], "seed": [1, 1], "epoch": [0, 1],
         "val_dsc": [0.5, 0.6]}
    )  # fmt: skip
    assert {name for name, _, _ in curve_metrics(curve)} == {"val_dsc"}
