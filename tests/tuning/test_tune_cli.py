"""``rmdbench tune`` end to end on the toy dataset (three tiny runs), and its refusals."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from rmdbench.cli import app
from rmdbench.store import RESULT_FILE
from rmdbench.tuning import selected_configurations
from tests.helpers.argv import overridden

TUNE = [
    "tune",
    *("--dataset", "toy-disks", "--profile", "tiny", "--noise", "0.4"),
    *("--methods", "single,coteaching", "--search", "2", "--seeds", "0"),
]
SWEEP_FILE = "tuned-toy-disks-distortion-r0.4-{rule}.yaml"

BAD_SPACE_PLUGIN = """
from dataclasses import dataclass

from rmdbench.api import METHODS, LogUniform, Method, StepOutput, pixel_loss


@dataclass(frozen=True)
class BadSpaceParams:
    rate: float = 0.1

    def __post_init__(self):
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {self.rate}")


@METHODS.register("badspace-for-tune")
class BadSpace(Method):
    Params = BadSpaceParams
    search_space = {"rate": LogUniform(1e-3, 2.0)}

    def training_step(self, images, labels, state):
        return StepOutput.from_terms({"loss": pixel_loss(self.networks[0](images), labels).mean()})
"""


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, runner):
    out = tmp_path_factory.mktemp("tune") / "runs"
    result = runner.invoke(app, [*TUNE, "--out", str(out)])
    return out, result


def test_tune_trains_every_configuration_and_prints_the_selection(tuned):
    out, result = tuned
    assert result.exit_code == 0, result.output
    assert "single: nothing to search" in result.output
    assert "3 runs in the grid: 0 done, 3 to train" in result.output
    assert "selected on noisy-val" in result.output
    assert len(list(out.glob(f"*/{RESULT_FILE}"))) == 3  # single once, coteaching twice


def test_each_run_records_clean_and_noisy_validation_dsc(tuned):
    out, _ = tuned
    for path in out.glob(f"*/{RESULT_FILE}"):
        validation = json.loads(path.read_text())["validation"]
        assert 0 <= validation["noisy_dsc"] <= 1 and 0 <= validation["clean_dsc"] <= 1
        assert validation["noisy_dsc"] != validation["clean_dsc"]
        assert validation["cases"] == 14 and validation["corrupted"] == 6  # round(0.4 * 14)
        assert validation["label_dsc"] < 1


def test_csv_has_every_configuration_and_selects_the_best_noisy_mean(tuned):
    out, _ = tuned
    table = pd.read_csv(out / "tuning" / "tuning.csv")
    assert list(zip(table["method"], table["configuration"], strict=True)) == [
        ("single", 0),
        ("coteaching", 0),
        ("coteaching", 1),
    ]
    assert json.loads(table.loc[1, "parameters"]) == {"forget_rate": 0.005}  # the default
    for _, group in table.groupby("method"):
        assert (group["selected"] == "yes").sum() == 1
        best = group.loc[group["mean_noisy_dsc"].idxmax(), "selected"]
        assert best == "yes"
    assert {"clean_dsc_s0", "noisy_dsc_s0", "mean_clean_dsc", "rule"} <= set(table.columns)


def test_sweep_file_reruns_the_selection(tuned, runner):
    out, _ = tuned
    selected = pd.read_csv(out / "tuning" / "tuning.csv").query("selected == 'yes'")
    sweep_file = out / "tuning" / SWEEP_FILE.format(rule="noisy-val")
    result = runner.invoke(app, ["sweep", "--config", str(sweep_file), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "2 runs in the grid: 2 done, 0 to train" in result.output
    for label in selected["label"]:
        assert label.split("[")[0] in result.output


def test_store_records_the_selection(tuned):
    out, _ = tuned
    selected = pd.read_csv(out / "tuning" / "tuning.csv").query("selected == 'yes'")
    entries = selected_configurations(out)
    assert sorted(entry["label"] for entry in entries) == sorted(selected["label"])
    assert {
        (entry["dataset"], entry["noise_model"], entry["noise_ratio"], entry["rule"])
        for entry in entries
    } == {("toy-disks", "distortion", 0.4, "noisy-val")}


def test_rerun_with_the_oracle_rule_trains_nothing(tuned, runner):
    out, _ = tuned
    result = runner.invoke(app, [*TUNE, "--out", str(out), "--select", "clean-val"])
    assert result.exit_code == 0, result.output
    assert "3 runs in the grid: 3 done, 0 to train" in result.output
    assert (out / "tuning" / SWEEP_FILE.format(rule="clean-val")).is_file()
    assert {entry["rule"] for entry in selected_configurations(out)} == {"noisy-val", "clean-val"}


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--search", "0"], "--search must be a number of configurations per method, at least 1"),
        (["--search", "-1"], "--search must be a number of configurations per method"),
        (["--select", "oracle"], "unknown selection rule 'oracle'; choose clean-val or noisy-val"),
        (["--noise", "1.5"], "outside [0, 1]"),
        (["--methods", "single,nosuch"], "unknown method 'nosuch'"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--methods", "badspace-for-tune", "--plugin", "PLUGIN"], "the Params refuse rate=2.0"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(runner, tmp_path, arguments, message):
    plugin = tmp_path / "badspace.py"
    plugin.write_text(BAD_SPACE_PLUGIN)
    out = tmp_path / "runs"
    arguments = [str(plugin) if item == "PLUGIN" else item for item in arguments]
    result = runner.invoke(app, overridden(TUNE, ["--out", str(out), *arguments]))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_done_runs_without_validation_scores_are_refused_before_training(tuned, runner, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(tuned[0], out)
    path = next(out.glob(f"single-*/{RESULT_FILE}"))
    record = json.loads(path.read_text())
    del record["validation"]  # as rmdbench wrote records before validation scores
    path.write_text(json.dumps(record))
    before = {item: item.stat().st_mtime_ns for item in out.rglob("*")}
    result = runner.invoke(app, [*TUNE, "--out", str(out), "--select", "clean-val"])
    assert result.exit_code == 2, result.output
    assert "1 done run(s) of this tuning grid" in result.output
    assert "recorded before runs kept validation scores" in result.output
    assert {item: item.stat().st_mtime_ns for item in out.rglob("*")} == before  # nothing


def test_sweep_file_keeps_the_precision_asked_for(runner, tmp_path):
    """A tune run with --precision writes it into its sweep files, so rerunning one plans
    the same runs (without it they would be the profile's fp32 runs, other names)."""
    out = tmp_path / "runs"
    tune = overridden(TUNE, ["--methods", "single", "--precision", "fp32", "--out", str(out)])
    result = runner.invoke(app, tune)
    assert result.exit_code == 0, result.output
    sweep_file = out / "tuning" / SWEEP_FILE.format(rule="noisy-val")
    assert "precision: fp32" in sweep_file.read_text()
    rerun = runner.invoke(app, ["sweep", "--config", str(sweep_file), "--dry-run"])
    assert "1 runs in the grid: 1 done, 0 to train" in rerun.output
