"""Best-epoch model selection (``--evaluate best-clean-val|best-noisy-val``): the rule
keeps the earliest epoch with the highest validation DSC, a copy that later training does
not touch; a run records each rule's epoch and test cases; a checkpointed run resumed
mid-way selects as an uninterrupted one; the report reads the rule's cases, declares the
rule, and refuses a rule the runs cannot serve in one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from rmdbench.cli import app
from rmdbench.store import RESULT_FILE, evaluation_files
from rmdbench.training.checkpoint import Checkpointing
from rmdbench.training.model_selection import BestEpochs
from tests.engine.test_checkpoint import Stop, tiny_setup, trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def state(value: float) -> dict[str, torch.Tensor]:
    return {"weight": torch.full((2,), value)}


def test_the_earliest_best_epoch_wins_and_nan_is_never_selected():
    best = BestEpochs()
    rows = [
        {"val_dsc": math.nan, "val_noisy_dsc": 0.2},
        {"val_dsc": 0.5, "val_noisy_dsc": 0.6},
        {"val_dsc": 0.7, "val_noisy_dsc": 0.6},  # a tie on noisy: epoch 1 stays
        {"val_dsc": 0.7, "val_noisy_dsc": 0.4},  # a tie on clean: epoch 2 stays
        {"val_dsc": 0.3, "val_noisy_dsc": 0.1},
    ]
    for epoch, row in enumerate(rows):
        best.update(epoch, row, state(float(epoch)))
    assert best.best["best-clean-val"].epoch == 2
    assert best.best["best-clean-val"].score == 0.7
    assert best.best["best-noisy-val"].epoch == 1
    assert float(best.best["best-noisy-val"].state["weight"][0]) == 1.0


def test_the_kept_state_is_a_copy_and_shared_by_rules_of_one_epoch():
    best = BestEpochs()
    live = state(1.0)
    best.update(0, {"val_dsc": 0.5, "val_noisy_dsc": 0.5}, live)
    live["weight"].add_(10.0)  # training goes on in place
    held = best.best["best-clean-val"].state
    assert float(held["weight"][0]) == 1.0
    assert held is best.best["best-noisy-val"].state  # one copy for both rules


def test_no_validation_scores_select_nothing():
    best = BestEpochs()
    best.update(0, {"val_dsc": math.nan}, state(0.0))
    assert best.best == {}


def test_fit_scores_noisy_validation_labels_and_keeps_the_argmax_epochs():
    method, train, val, _ = tiny_setup("single")
    noisy = torch.zeros_like(val.labels)  # every label emptied: another score than clean
    result = trainer().fit(method, train, val, seed=1, noisy_val_labels=noisy)
    curve = pd.DataFrame(result.curve)
    assert {"val_dsc", "val_noisy_dsc"} <= set(curve.columns)
    assert not np.allclose(curve["val_dsc"], curve["val_noisy_dsc"])
    for rule, column in (("best-clean-val", "val_dsc"), ("best-noisy-val", "val_noisy_dsc")):
        assert result.best[rule].epoch == int(curve[column].idxmax())  # first maximum
        assert result.best[rule].score == curve[column].max()


def test_a_resumed_run_selects_the_same_epochs_and_states(tmp_path):
    method, train, val, _ = tiny_setup("single")
    noisy = torch.zeros_like(val.labels)
    whole = trainer().fit(method, train, val, seed=3, noisy_val_labels=noisy)

    def stop_after_second_epoch(epoch, epochs, row):
        if epoch == 1:
            raise Stop

    checkpointing = Checkpointing(tmp_path / "run.pt", every=1)
    method, train, val, _ = tiny_setup("single")
    with pytest.raises(Stop):
        trainer(stop_after_second_epoch).fit(
            method, train, val, seed=3, checkpointing=checkpointing, noisy_val_labels=noisy
        )
    method, train, val, _ = tiny_setup("single")
    resumed = trainer().fit(
        method, train, val, seed=3, checkpointing=checkpointing, noisy_val_labels=noisy
    )
    assert resumed.resumed_from_epoch == 1
    assert set(resumed.best) == set(whole.best)
    for rule, held in whole.best.items():
        assert resumed.best[rule].epoch == held.epoch
        for key, value in held.state.items():
            assert torch.equal(resumed.best[rule].state[key], value), (rule, key)


# -- a run records each rule; the report reads it -----------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two tiny single runs on toy disks at r = 0.8 (distortion), ten epochs."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("runs")
    torch.set_num_threads(1)
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            "--dataset", "toy-disks",
            "--profile", "tiny[epochs=10]",
            "--noise-model", "distortion",
            "--noise", "0.8",
            "--methods", "single",
            "--seeds", "0,1",
            "--device", "cpu",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def records(store) -> dict:
    return {path.parent.name: json.loads(path.read_text()) for path in store.glob("*/result.json")}


def test_a_run_records_each_rule_with_its_epoch_and_files(store):
    found_other_files = False
    for name, record in records(store).items():
        curve = pd.read_parquet(store / name / "curve.parquet")
        evaluation = record["evaluation"]
        assert evaluation["last"] == {"epoch": 9, "files": "last"}
        assert record["validation"]["clean_dsc"] == curve["val_dsc"].iloc[-1]
        assert record["validation"]["noisy_dsc"] == curve["val_noisy_dsc"].iloc[-1]
        for rule, column in (("best-clean-val", "val_dsc"), ("best-noisy-val", "val_noisy_dsc")):
            entry = evaluation[rule]
            assert entry["epoch"] == int(curve[column].idxmax())
            assert entry["val_score"] == curve[column].max()
            cases_file, predictions_file = evaluation_files(rule)
            if entry["epoch"] == 9:
                assert entry["files"] == "last"
                assert not (store / name / cases_file).exists()
            else:
                found_other_files = True
                assert entry["files"] == rule
                cases = pd.read_parquet(store / name / cases_file)
                last = pd.read_parquet(store / name / "cases.parquet")
                assert list(cases["case_id"]) == list(last["case_id"])
                stored = np.load(store / name / predictions_file)
                assert stored["predictions"].shape[0] == len(cases)
    assert found_other_files, "no run peaked before its last epoch: the test checks too little"


def test_the_report_reads_the_rule_and_declares_it(store, runner, tmp_path):
    means = {}
    for rule in ("last", "best-clean-val"):
        out = tmp_path / rule
        result = runner.invoke(
            app, ["report", str(store), "--out", str(out), "--evaluate", rule, "--no-qualitative"]
        )
        assert result.exit_code == 0, result.output
        text = (out / "report.md").read_text()
        assert f"(`--evaluate {rule}`)" in text
        means[rule] = text
    expected = {}
    for name, record in records(store).items():
        files = record["evaluation"]["best-clean-val"]["files"]
        expected[name] = pd.read_parquet(store / name / evaluation_files(files)[0])["dsc"].mean()
    from rmdbench.reports.store_reader import load_store

    loaded = load_store(store, evaluate="best-clean-val").cases
    assert loaded.groupby("run")["dsc"].mean().to_dict() == pytest.approx(expected)


def test_runs_without_the_rule_are_refused_in_one_line(store, runner, tmp_path):
    copy = tmp_path / "runs"
    import shutil

    shutil.copytree(store, copy)
    path = next(copy.glob(f"*/{RESULT_FILE}"))
    record = json.loads(path.read_text())
    del record["evaluation"]
    path.write_text(json.dumps(record))
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["report", str(copy), "--out", str(out), "--evaluate", "best-noisy-val"]
    )
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert "have no 'best-noisy-val' evaluation" in result.output
    assert "--evaluate last" in result.output
    assert not out.exists() or not any(out.iterdir())
    unknown = runner.invoke(app, ["report", str(copy), "--out", str(out), "--evaluate", "best"])
    assert unknown.exit_code == 2
    assert "unknown evaluation rule 'best'; choose one of: last" in unknown.output
