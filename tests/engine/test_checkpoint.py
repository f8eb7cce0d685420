"""Mid-run checkpoints: a run stopped after some epochs and resumed from its checkpoint
trains only the epochs left and ends exactly as an uninterrupted run; a sweep killed with
SIGKILL mid-run resumes from the checkpoint with ``--checkpoint-every`` and cleans it up."""

from __future__ import annotations

import json
import shutil
import signal
import time

import numpy as np
import pandas as pd
import pytest
import torch

from rmdbench.cli import app
from rmdbench.contracts.method import MethodContext
from rmdbench.data.toy import load_toy_disks
from rmdbench.plugins import load_builtins
from rmdbench.profiles import get_profile
from rmdbench.registry import BACKBONES, METHODS
from rmdbench.store import RESULT_FILE
from rmdbench.training.checkpoint import CHECKPOINT_DIR, Checkpointing
from rmdbench.training.trainer import DeviceData, Trainer
from tests.helpers.sweep_plugin import fast_methods, fast_sweep, starts, sweep_process, write_plugin

pytestmark = pytest.mark.usefixtures("one_thread")
EPOCHS = 4


class Stop(Exception):
    """Stands for a kill between two epochs."""


def tiny_setup(method_name: str):
    load_builtins()
    data = load_toy_disks(crop_size=16)
    train_index, val_index = data.indices("train")[:16], data.indices("val")[:4]
    train = DeviceData.from_arrays(data.images[train_index], data.masks[train_index], "cpu")
    val = DeviceData.from_arrays(data.images[val_index], data.masks[val_index], "cpu")
    torch.manual_seed(0)
    backbone = BACKBONES.get("unet2d")
    context = MethodContext(build_backbone=lambda: backbone(1, 1, 2))
    method = METHODS.get(method_name).create({}, context)
    steps = []
    original = method.training_step

    def counted(images, labels, state):
        steps.append(state.progress)
        return original(images, labels, state)

    method.training_step = counted
    return method, train, val, steps


def trainer(on_epoch=None) -> Trainer:
    profile = get_profile(f"tiny[epochs={EPOCHS},batch_size=8]")
    return Trainer.from_profile(profile, torch.device("cpu"), on_epoch)


def without_seconds(curve: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in curve]


@pytest.mark.parametrize("method_name", ["single", "rmd"])
def test_resumed_training_equals_uninterrupted_training(tmp_path, method_name):
    method, train, val, _ = tiny_setup(method_name)
    whole = trainer().fit(method, train, val, seed=3)
    expected = {key: value.clone() for key, value in method.state_dict().items()}

    checkpointing = Checkpointing(tmp_path / "run.pt", every=1)

    def stop_after_second_epoch(epoch, epochs, row):
        if epoch == 1:
            raise Stop

    method, train, val, steps = tiny_setup(method_name)
    with pytest.raises(Stop):
        trainer(stop_after_second_epoch).fit(
            method, train, val, seed=3, checkpointing=checkpointing
        )
    assert torch.load(checkpointing.path, weights_only=True)["epoch"] == 1
    first_steps = len(steps)

    method, train, val, steps = tiny_setup(method_name)  # a fresh process, as after a kill
    resumed = trainer().fit(method, train, val, seed=3, checkpointing=checkpointing)
    assert len(steps) == first_steps  # two epochs of four were left
    assert min(steps) >= 0.5  # and they were the last two
    for key, value in method.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert without_seconds(resumed.curve) == without_seconds(whole.curve)
    assert resumed.iterations == whole.iterations


def test_checkpoint_is_saved_every_n_epochs_and_never_after_the_last(tmp_path):
    checkpointing = Checkpointing(tmp_path / "run.pt", every=2)
    assert [checkpointing.due(epoch, 6) for epoch in range(6)] == [
        False, True, False, True, False, False,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="at least 1"):
        Checkpointing(tmp_path / "run.pt", every=0)


def test_a_damaged_checkpoint_is_ignored_and_removed(tmp_path):
    path = tmp_path / "run.pt"
    path.write_bytes(b"not a checkpoint")
    checkpointing = Checkpointing(path, every=1)
    assert checkpointing.load() is None
    assert not path.exists()


def read_run(out):
    (record,) = out.glob(f"*/{RESULT_FILE}")
    run = record.parent
    curve = pd.read_parquet(run / "curve.parquet").drop(columns="seconds")
    return run.name, pd.read_parquet(run / "cases.parquet"), curve


def test_sigkill_mid_run_resumes_from_checkpoint(runner, tmp_path, markers):
    plugin = write_plugin(tmp_path)
    method = fast_methods("tag=1,sleep=0.03")
    killed_out, clean_out = tmp_path / "killed", tmp_path / "clean"
    arguments = fast_sweep(plugin, killed_out, method, "--checkpoint-every", "1")
    process = sweep_process(arguments, markers)
    deadline = time.monotonic() + 120
    checkpoints = killed_out / CHECKPOINT_DIR
    while not list(checkpoints.glob("*.pt")):
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "no checkpoint written in time"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not list(killed_out.glob(f"*/{RESULT_FILE}")), "the run finished before the kill"
    (checkpoint,) = checkpoints.glob("*.pt")
    saved_epoch = torch.load(checkpoint, weights_only=True)["epoch"]

    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert starts(markers)[1] == 2
    assert not list(checkpoints.glob("*")), "the checkpoint outlived its run"

    result = runner.invoke(app, fast_sweep(plugin, clean_out, method))
    assert result.exit_code == 0, result.output
    killed_name, killed_cases, killed_curve = read_run(killed_out)
    clean_name, clean_cases, clean_curve = read_run(clean_out)
    assert killed_name == clean_name  # the option is not part of the run's identity
    pd.testing.assert_frame_equal(killed_cases, clean_cases)
    pd.testing.assert_frame_equal(killed_curve, clean_curve)
    assert saved_epoch < len(clean_curve) - 1
    record = json.loads((killed_out / killed_name / RESULT_FILE).read_text())
    assert np.isfinite(record["timings"]["train_seconds"])
    assert record["timings"]["resumed_from_epoch"] == saved_epoch


@pytest.mark.parametrize("value", ["-1", "x"])
def test_bad_checkpoint_interval_is_one_clear_error(runner, tmp_path, value):
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    arguments = fast_sweep(plugin, out, fast_methods("tag=0"), "--checkpoint-every", value)
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert not list(out.glob(f"*/{RESULT_FILE}"))


def test_a_checkpoint_of_another_spec_version_or_device_is_discarded(tmp_path):
    path = tmp_path / "run.pt"
    Checkpointing(path, 1, {"spec": "a", "device": "cpu"}).save({"epoch": 0})
    assert Checkpointing(path, 1, {"spec": "a", "device": "cpu"}).load()["epoch"] == 0
    assert Checkpointing(path, 1, {"spec": "b", "device": "cpu"}).load() is None
    assert not path.exists()


def test_partial_writes_of_a_killed_save_are_removed(tmp_path):
    partial = tmp_path / ".run.pt.abc123.tmp"
    partial.write_bytes(b"half")
    assert Checkpointing(tmp_path / "run.pt", 1).load() is None
    assert not partial.exists()


def test_a_finished_run_removes_a_leftover_checkpoint_even_without_the_option(
    runner, tmp_path, markers
):
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    arguments = fast_sweep(plugin, out, fast_methods("tag=2"))
    assert runner.invoke(app, arguments).exit_code == 0
    (record,) = out.glob(f"*/{RESULT_FILE}")
    run_name = record.parent.name
    shutil.rmtree(record.parent)
    leftover = out / CHECKPOINT_DIR / f"{run_name}.pt"
    Checkpointing(leftover, 1, {"spec": "older"}).save({"epoch": 0})
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert not leftover.exists()
    assert (
        json.loads((out / run_name / RESULT_FILE).read_text())["timings"]["resumed_from_epoch"]
        is None
    )
