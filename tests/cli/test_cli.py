"""The command line end to end on the toy dataset, and every bad input of issue #2."""

import json

import pytest

from rmdbench.cli import app
from rmdbench.contracts.method import Method
from rmdbench.plugins import load_builtins
from rmdbench.registry import METHODS
from rmdbench.store import FAILED_FILE, RESULT_FILE
from tests.helpers.argv import overridden

TOY = ["--dataset", "toy-disks", "--profile", "tiny"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, runner):
    out = tmp_path_factory.mktemp("runs")
    result = runner.invoke(app, ["sweep", *TOY, "--noise", "0,0.8", "--out", str(out)])
    return out, result


def test_sweep_trains_every_method_and_prints_a_table(swept):
    out, result = swept
    assert result.exit_code == 0, result.output
    assert len(list(out.glob(f"*/{RESULT_FILE}"))) == 6  # 3 methods x 2 ratios
    assert "test DSC" in result.output and "r=0.8" in result.output
    for method in ("single", "coteaching", "rmd"):
        assert method in result.output


def test_tiny_profile_learns_on_clean_toy_labels(swept):
    """A regression guard for the whole training path: clean labels must be learnt."""
    out, _ = swept
    run_dir = next(out.glob("single-*r0-*"))
    summary = json.loads((run_dir / RESULT_FILE).read_text())["summary"]
    assert summary["dsc"] > 0.6


def test_run_record_is_complete(swept):
    out, _ = swept
    run_dir = next(out.glob("rmd-*r0.8*"))
    result = json.loads((run_dir / RESULT_FILE).read_text())
    assert result["status"] == "done"
    assert result["spec"]["noise_ratio"] == 0.8
    assert result["timings"]["seconds_per_iteration"] > 0
    assert "torch" in result["provenance"]["versions"]
    for name in ("spec.json", "cases.parquet", "curve.parquet", "noise.parquet"):
        assert (run_dir / name).is_file()
    assert not list(out.glob(".staging-*"))


def test_second_identical_sweep_trains_nothing(swept, runner):
    out, _ = swept
    before = {path: path.stat().st_mtime_ns for path in out.glob(f"*/{RESULT_FILE}")}
    result = runner.invoke(app, ["sweep", *TOY, "--noise", "0,0.8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "6 of 6 runs already done" in result.output
    assert "0 runs trained" in result.output
    after = {path: path.stat().st_mtime_ns for path in out.glob(f"*/{RESULT_FILE}")}
    assert before == after


def test_report_writes_markdown_and_plot(swept, runner, tmp_path):
    out, _ = swept
    result = runner.invoke(app, ["report", str(out), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "report.md").read_text()
    assert "| method" in report and "r=0.8" in report and "HD95" in report
    assert "Conventions" in report
    assert "Realised noise (mean Dice of corrupted training masks vs clean): r=0.8: 0." in report
    assert (tmp_path / "dsc_vs_noise.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--noise", "1.5"], "outside [0, 1]"),
        (["--noise", "-0.1"], "outside [0, 1]"),
        (["--noise", "abc"], "not a noise ratio"),
        (["--methods", "single,nosuch"], "unknown method 'nosuch'"),
        (["--methods", "rmd[nosuch=1]"], "has no parameter nosuch"),
        (["--methods", "rmd[distill=maybe]"], "expects true or false"),
        (["--noise-model", "nosuch"], "unknown noise model 'nosuch'"),
        (["--dataset", "nosuch"], "unknown dataset 'nosuch'"),
        (["--profile", "huge"], "unknown profile 'huge'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runner, tmp_path, arguments, message):
    out = tmp_path / "runs"
    base = ["sweep", "--dataset", "toy-disks", "--profile", "tiny", "--out", str(out)]
    result = runner.invoke(app, overridden(base, arguments))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_unwritable_out_is_exit_2(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, ["sweep", *TOY, "--out", str(blocker / "runs")])
    assert result.exit_code == 2
    assert "--out" in result.output


def test_report_of_empty_directory_is_exit_2(runner, tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no finished runs" in result.output


class _Exploding(Method):
    """Raises inside training: the sweep must record it and go on."""

    def training_step(self, images, labels, state):
        raise RuntimeError("boom")


def test_failing_run_is_recorded_and_the_sweep_goes_on(runner, tmp_path):
    load_builtins()
    METHODS.add("explode-for-test", _Exploding, origin="tests")
    _Exploding.name = "explode-for-test"
    result = runner.invoke(
        app, ["sweep", *TOY, "--methods", "explode-for-test,single", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    failed = list(tmp_path.glob(f"*/{FAILED_FILE}"))
    assert len(failed) == 1
    record = json.loads(failed[0].read_text())
    assert "boom" in record["error"] and "Traceback" in record["traceback"]
    assert len(list(tmp_path.glob(f"*/{RESULT_FILE}"))) == 1  # single still ran


def test_missing_annotation_database_is_exit_2(runner, tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    out = tmp_path / "runs"
    result = runner.invoke(
        app,
        ["sweep", "--profile", "tiny", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)],
    )
    assert result.exit_code == 2, result.output
    assert 'pip install "rmdbench[lidc]"' in result.output
    assert result.output.strip().splitlines()[-1].startswith("error: ")
    assert not any(path.name.startswith("single") for path in out.glob("*"))


def test_plugin_file_method_trains_through_the_sweep(runner, tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "gce.py"
    result = runner.invoke(
        app,
        [
            "sweep",
            *TOY,
            "--plugin",
            str(example),
            "--methods",
            "gce[q=0.5]",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(next(tmp_path.glob(f"gce-*/{RESULT_FILE}")).read_text())
    assert record["spec"]["method_params"] == {"q": 0.5}
    assert record["summary"]["dsc"] > 0.3


@pytest.mark.parametrize(
    "source, message",
    [
        ("raise ImportError('no such thing')", "failed to import"),
        ("x = 1", "registered nothing"),
        (
            "from rmdbench.registry import METHODS\n"
            "from rmdbench.methods.single import Single\n"
            "@METHODS.register('rmd')\nclass Clash(Single):\n    pass\n",
            "registered twice",
        ),
    ],
)
def test_bad_plugin_file_is_one_line_and_exit_2(runner, tmp_path, source, message):
    plugin = tmp_path / "bad_plugin.py"
    plugin.write_text(source)
    result = runner.invoke(app, ["list", "--plugin", str(plugin)])
    assert result.exit_code == 2, result.output
    assert message in result.output and str(plugin) in result.output


def test_bench_writes_ratios_and_breakdown(runner, tmp_path):
    result = runner.invoke(
        app,
        [
            "bench",
            "--profile",
            "tiny",
            "--iterations",
            "2",
            "--methods",
            "single,rmd",
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(next(tmp_path.glob("bench-tiny-fp32-cpu-*.json")).read_text())
    rows = {row["method"]: row for row in report["results"]}
    assert rows["single"]["ratio_to_single"] == 1.0
    assert rows["rmd"]["seconds_per_iteration"] > 0
    assert abs(sum(rows["rmd"]["breakdown_fraction"].values()) - 1.0) < 1e-6
    assert rows["rmd"]["breakdown_fraction"]["augmentation"] > 0


def test_reader_noise_on_a_dataset_without_readers_fails_before_training(
    runner, tmp_path, monkeypatch
):
    import dataclasses

    from rmdbench.data.toy import load_toy_disks
    from rmdbench.registry import DATASETS

    def without_readers(**kwargs):
        return dataclasses.replace(load_toy_disks(**kwargs), readers=None, reader_count=None)

    load_builtins()
    DATASETS.add("toy-no-readers-for-test", without_readers, origin="tests")
    out = tmp_path / "runs"
    result = runner.invoke(
        app,
        [
            "sweep",
            "--dataset",
            "toy-no-readers-for-test",
            "--profile",
            "tiny",
            "--noise-model",
            "reader",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "needs per-reader masks" in result.output
    assert not list(out.glob("*/spec.json"))


@pytest.mark.parametrize("arguments", [["--precision", "fp16"], ["--profile", "tiny[epochs=0]"]])
def test_bench_bad_precision_or_profile_is_one_line_and_exit_2(runner, tmp_path, arguments):
    result = runner.invoke(app, ["bench", "--iterations", "1", "--out", str(tmp_path), *arguments])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
