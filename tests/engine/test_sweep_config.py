"""Sweep files, flags over files, --dry-run, and every bad executor input (issue: sweeps
that scale and survive)."""

from __future__ import annotations

import json
import sys

import pytest

from rmdbench.cli import app
from rmdbench.store import FAILED_FILE, RESULT_FILE
from tests.helpers.sweep_plugin import fast_methods, fast_sweep, write_plugin

pytestmark = pytest.mark.usefixtures("one_thread")


SWEEP_FILE = """\
dataset: toy-disks
noise_models: [distortion]
noise: [0, 0.5]
methods:
  - fast[tag=1]
  - fast: {{tag: 2, sleep: 0}}
seeds: [0]
profile: tiny
device: cpu
plugin: {plugin}
out: runs
"""


def test_sweep_file_with_flags_over_it_and_dry_run(runner, tmp_path):
    from rmdbench.plugins import load_plugins

    plugin = write_plugin(tmp_path)
    load_plugins([plugin])  # a dry run runs no plug-in code: it plans with what is registered
    folder = tmp_path / "configs"
    folder.mkdir()
    config = folder / "sweep.yaml"
    config.write_text(SWEEP_FILE.format(plugin=plugin))
    out = folder / "runs"  # relative paths in the file are relative to the file

    refused = runner.invoke(app, ["sweep", "--config", str(config), "--dry-run"])
    assert refused.exit_code == 2, refused.output  # the file's plugin: key is code to run
    assert "--allow-plugins" in refused.output and len(refused.output.splitlines()) == 1

    planned = runner.invoke(app, ["sweep", "--config", str(config), "--dry-run", "--allow-plugins"])
    assert planned.exit_code == 0, planned.output
    assert "4 runs in the grid: 0 done, 4 to train" in planned.output
    assert planned.output.count("todo") == 4 and "fast[tag=2]" in planned.output
    assert not out.exists()  # a dry run writes nothing

    result = runner.invoke(
        app, ["sweep", "--config", str(config), "--allow-plugins", "--noise", "0"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(path.read_text()) for path in out.glob(f"*/{RESULT_FILE}")]
    assert sorted(record["spec"]["method_params"]["tag"] for record in records) == [1, 2]
    assert {record["spec"]["noise_ratio"] for record in records} == {0.0}  # the flag won

    planned = runner.invoke(app, ["sweep", "--config", str(config), "--dry-run", "--allow-plugins"])
    assert "4 runs in the grid: 2 done, 2 to train" in planned.output
    assert planned.output.count("done") >= 2 and planned.output.count("todo") == 2


def test_dry_run_shows_done_failed_and_todo(runner, tmp_path):
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    first = runner.invoke(app, fast_sweep(plugin, out, fast_methods("tag=1", "tag=2,fail=raise")))
    assert first.exit_code == 1, first.output
    before = sorted(path.name for path in out.iterdir())
    methods = fast_methods("tag=1", "tag=2,fail=raise", "tag=3")
    planned = runner.invoke(app, fast_sweep(plugin, out, methods, "--dry-run"))
    assert planned.exit_code == 0, planned.output
    grid = "3 runs in the grid: 1 done, 1 failed (kept; --retry-failed reruns them), 1 to train"
    assert grid in planned.output
    table = planned.output.split("sweep plan")[1]
    assert [word for word in table.split() if word in ("done", "failed", "todo")] == [
        "done",
        "failed",
        "todo",
    ]
    assert sorted(path.name for path in out.iterdir()) == before  # trained nothing
    retry = runner.invoke(app, fast_sweep(plugin, out, methods, "--dry-run", "--retry-failed"))
    assert "2 to train" in retry.output


@pytest.mark.parametrize(
    "arguments, file_text, message",
    [
        ([], "dataset: toy-disks\nnosie: [0.5]\n", "unknown key 'nosie'"),
        ([], "methods: [single\n", "not valid YAML"),
        ([], "seeds: [zero]\n", "'seeds' expects integers"),
        ([], "- just\n- a list\n", "must be a mapping"),
        (["--executor", "threads"], None, "unknown executor 'threads'"),
        (["--workers", "0"], None, "--workers must be at least 1"),
        (["--executor", "inline", "--workers", "2"], None, "--workers applies to"),
        (["--executor", "local", "--slurm-partition", "gpu"], None, "applies to the slurm"),
        (["--executor", "slurm", "--slurm-time", "soon"], None, "not a SLURM time"),
        (["--executor", "slurm", "--slurm-cluster", "moon"], None, "unknown --slurm-cluster"),
    ],
)
def test_bad_executor_input_is_one_line_exit_2_nothing_written(
    runner, tmp_path, arguments, file_text, message
):
    out = tmp_path / "runs"
    base = ["sweep", "--dataset", "toy-disks", "--profile", "tiny", "--out", str(out)]
    if file_text is not None:
        config = tmp_path / "sweep.yaml"
        config.write_text(file_text)
        base += ["--config", str(config)]
    result = runner.invoke(app, [*base, *arguments])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "chosen_by",
    [["--slurm-partition", "gpu", "--slurm-time", "30"], ["--executor", "slurm"]],
    ids=["slurm-options", "executor-slurm"],
)
def test_slurm_without_submitit_is_one_line(runner, tmp_path, monkeypatch, chosen_by):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    out = tmp_path / "runs"
    result = runner.invoke(
        app,
        ["sweep", "--dataset", "toy-disks", "--profile", "tiny", "--out", str(out), *chosen_by],
    )
    assert result.exit_code == 2, result.output
    assert 'needs submitit: pip install "rmdbench[slurm]"' in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_failed_record_holds_error_and_traceback(runner, tmp_path):
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    result = runner.invoke(app, fast_sweep(plugin, out, fast_methods("tag=5,fail=raise")))
    assert result.exit_code == 1
    record = json.loads(next(out.glob(f"*/{FAILED_FILE}")).read_text())
    assert "boom" in record["error"] and "Traceback" in record["traceback"]
    assert "1 of 1 runs failed" in result.output


def test_clean_runs_are_planned_once_for_all_noise_models():
    """r=0 corrupts no label: one run per method and seed, under the first noise model."""
    from rmdbench.profiles import get_profile
    from rmdbench.sweep import plan_sweep

    specs = plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion", "erosion_dilation", "reader"],
        noise_ratios=[0.0, 0.4],
        methods=["single", "rmd"],
        seeds=[0, 1],
        profile=get_profile("tiny"),
    )
    clean = [spec for spec in specs if spec.noise_ratio == 0]
    assert len(clean) == 2 * 2 and {spec.noise_model for spec in clean} == {"distortion"}
    assert len(specs) - len(clean) == 3 * 2 * 2  # every noisy run is kept


def test_every_option_is_a_flag_and_every_slurm_option_reaches_the_executor():
    """SweepConfig's fields are the schema: each one is a `rmdbench sweep` option of the
    same name, and its slurm_* fields are SlurmOptions' fields without the prefix."""
    import dataclasses
    import inspect

    from rmdbench.cli.sweep import sweep
    from rmdbench.executors.slurm_options import SlurmOptions
    from rmdbench.sweep import SweepConfig, config_keys

    assert set(config_keys()) <= set(inspect.signature(sweep).parameters)
    slurm = {field.name for field in dataclasses.fields(SlurmOptions)}
    assert set(SweepConfig().slurm_values()) <= slurm


def test_sweep_file_values_are_read_by_their_field_type(tmp_path):
    from rmdbench.errors import SweepFileError
    from rmdbench.sweep import read_sweep_file

    config = tmp_path / "sweep.yaml"
    config.write_text(
        "datasets: a,b\nnoise: ['0,0.4', 1]\nmethods: {rmd: {distill: false}, single: null}\n"
        "slurm_time: 90\nplugins: [p.py]\ncache_dir: null\nslurm_setup: [x, 'y,z']\n"
    )
    values = read_sweep_file(config)
    assert values["dataset"] == ["a", "b"] and values["noise"] == [0.0, 0.4, 1.0]
    assert values["methods"] == [("rmd", {"distill": False}), ("single", {})]
    assert values["slurm_time"] == "90" and values["cache_dir"] is None
    assert values["plugin"] == [tmp_path / "p.py"] and values["slurm_setup"] == ["x", "y,z"]
    config.write_text("workers: true\n")
    with pytest.raises(SweepFileError, match="'workers' expects an integer, got True") as caught:
        read_sweep_file(config)
    assert caught.value.key == "workers"
