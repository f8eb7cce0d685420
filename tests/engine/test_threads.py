"""One run name, one result: on the CPU a run trains at its profile's torch thread count
whichever executor trains it (results depend on the count), a run at another count has
another name, a checkpoint saved at another count is not resumed, and the empty logs that
killed local sweeps leave behind are removed."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rmdbench.cli import app
from rmdbench.executors.local import LocalPlan, fit_plan, plan_local, remove_empty_logs
from rmdbench.profiles import DEFAULT_THREADS, get_profile, torch_threads
from rmdbench.run import RunSpec
from rmdbench.store import RESULT_FILE, RunStore
from rmdbench.sweep.executor import LOG_FOLDER
from tests.helpers.sweep_plugin import fast_methods, fast_sweep, sweep_process, write_plugin

#: the caller's thread count during the inline sweeps: neither the default nor the local
#: workers' count, so a run that trained at the caller's count would differ from theirs
CALLER_THREADS = 3
#: a run's name as a profile without a thread count names it (single, toy-disks,
#: distortion, r=0.4, seed 0, tiny[epochs=2], spec version 2): the default count keeps it.
#: (At spec version 1, before the thread count existed, it was ...-32a74acfcd32.) A change
#: here means every stored run's name changed: bump SPEC_VERSION on purpose, never by accident.
#: The spec's ``code`` (the hashes of the source files of single, distortion, unet2d and
#: toy-disks) is left out: it changes, on purpose, whenever one of those files does
NAME_BEFORE_THREADS = "single-distortion-r0.4-s0-tiny[epochs=2]-3c4f4f3d77a8"


def name_without_code(spec: RunSpec) -> str:
    """The run's name as its spec names it without the code fingerprints."""
    assert spec.code, "a sweep's spec records its code"
    return dataclasses.replace(spec, code={}).run_name


@pytest.fixture
def caller_threads():
    """This process at CALLER_THREADS torch threads, restored after."""
    with torch_threads(CALLER_THREADS):
        yield


def single_run_arguments(out, profile: str = "tiny[epochs=2]", *extra: str) -> list[str]:
    return [
        "sweep", "--dataset", "toy-disks", "--profile", profile, "--noise-model", "distortion",
        "--noise", "0.4", "--methods", "single", "--seeds", "0", "--device", "cpu",
        "--out", str(out), *extra,
    ]  # fmt: skip


def read_run(out):
    """The one run of a store: its name, test cases, curve (without times), predictions
    and result record."""
    (record,) = out.glob(f"*/{RESULT_FILE}")
    run = record.parent
    curve = pd.read_parquet(run / "curve.parquet").drop(columns="seconds")
    with np.load(run / "predictions.npz") as predictions:
        predicted = predictions["predictions"]
    result = json.loads(record.read_text())
    return run.name, pd.read_parquet(run / "cases.parquet"), curve, predicted, result


def test_inline_and_a_local_worker_train_one_run_name_bit_for_bit(runner, tmp_path, caller_threads):
    inline_out, local_out = tmp_path / "inline", tmp_path / "local"
    result = runner.invoke(app, single_run_arguments(inline_out))
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == CALLER_THREADS  # the caller's count is given back
    result = runner.invoke(app, single_run_arguments(local_out, "tiny[epochs=2]", "--workers", "1"))
    assert result.exit_code == 0, result.output
    assert "local: 1 workers × 1 thread" in result.output

    inline_name, inline_cases, inline_curve, inline_predicted, inline_record = read_run(inline_out)
    local_name, local_cases, local_curve, local_predicted, local_record = read_run(local_out)
    assert inline_name == local_name
    stored = RunSpec(**inline_record["spec"])
    assert stored.run_name == inline_name and name_without_code(stored) == NAME_BEFORE_THREADS
    pd.testing.assert_frame_equal(inline_cases, local_cases)
    pd.testing.assert_frame_equal(inline_curve, local_curve)  # the loss, epoch by epoch
    assert np.array_equal(inline_predicted, local_predicted)
    for record in (inline_record, local_record):
        assert record["provenance"]["torch_threads"] == DEFAULT_THREADS
        assert record["provenance"]["device"].endswith(", 1 thread)")
        assert "threads" not in record["spec"]["profile"]  # the name's hash has no count


def test_a_run_at_another_thread_count_has_another_name_and_trains_at_it(
    runner, tmp_path, caller_threads
):
    from rmdbench.sweep import plan_sweep

    def plan(profile: str):
        (spec,) = plan_sweep(
            datasets=["toy-disks"],
            noise_models=["distortion"],
            noise_ratios=[0.4],
            methods=["single"],
            seeds=[0],
            profile=get_profile(profile),
        )
        return spec

    default, explicit = plan("tiny[epochs=2]"), plan("tiny[epochs=2,threads=1]")
    two = plan("tiny[epochs=2,threads=2]")
    assert default.run_name == explicit.run_name
    assert name_without_code(default) == NAME_BEFORE_THREADS
    assert two.run_name != default.run_name and two.key != default.key
    assert "threads=2" in two.run_name and two.threads == 2
    assert two.as_dict()["profile"]["threads"] == 2

    out = tmp_path / "runs"
    arguments = fast_sweep(write_plugin(tmp_path), out, fast_methods("tag=3"))
    arguments[arguments.index("tiny")] = "tiny[epochs=1,threads=2]"
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    (record,) = (json.loads(path.read_text()) for path in out.glob(f"*/{RESULT_FILE}"))
    assert record["provenance"]["torch_threads"] == 2
    assert record["spec"]["profile"]["threads"] == 2
    assert torch.get_num_threads() == CALLER_THREADS


def test_a_thread_count_below_one_is_refused():
    from rmdbench.errors import UserError

    with pytest.raises(UserError, match="threads must be at least 1"):
        get_profile("tiny[threads=0]")


class Stop(BaseException):
    """Stands for a kill after an epoch: not an Exception, so the run is not recorded
    failed and its checkpoint stays, as after a SIGKILL."""


@pytest.mark.parametrize(("saved", "resumed"), [(2, DEFAULT_THREADS), (1, 1)])
def test_a_checkpoint_saved_at_another_thread_count_is_not_resumed(tmp_path, saved, resumed):
    """(1, 1) is the control: at the same count the checkpoint is resumed."""
    from rmdbench.data.toy import load_toy_disks
    from rmdbench.plugins import load_plugins
    from rmdbench.run import execute_run
    from rmdbench.sweep import plan_sweep
    from rmdbench.training.checkpoint import checkpoint_path

    load_plugins([write_plugin(tmp_path)])
    profile = get_profile("tiny[epochs=3]")
    (spec,) = plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.0],
        methods=["fast[tag=7]"],
        seeds=[0],
        profile=profile,
    )
    data = load_toy_disks(crop_size=profile.crop_size)
    store = RunStore(tmp_path / "runs")
    device = torch.device("cpu")

    def stop_after_first_epoch(epoch, epochs, row):
        raise Stop

    with torch_threads(saved), pytest.raises(Stop):
        execute_run(spec, data, profile, store, device, stop_after_first_epoch, 1)
    checkpoint = checkpoint_path(store.root, spec.run_name)
    assert checkpoint.is_file()
    assert torch.load(checkpoint, weights_only=True)["identity"]["threads"] == saved
    store.remove_stale_staging(spec.run_name, locked=True)

    with torch_threads(resumed):
        outcome = execute_run(spec, data, profile, store, device, checkpoint_every=1)
    assert outcome.status == "done", outcome.error
    record = json.loads((store.run_dir(spec.run_name) / RESULT_FILE).read_text())
    expected = 0 if saved == resumed else None  # resumed after epoch 0, or from scratch
    assert record["timings"]["resumed_from_epoch"] == expected
    assert not checkpoint.exists()


def test_a_local_cpu_pool_trains_at_the_profiles_count_without_oversubscribing(monkeypatch):
    from rmdbench.executors import local

    monkeypatch.setattr(local, "visible_gpus", lambda: [])
    assert plan_local("cpu", None, cores=8) == LocalPlan(8, DEFAULT_THREADS)
    assert plan_local("cpu", None, cores=8, threads=2) == LocalPlan(4, 2)
    assert plan_local("cpu", 3, cores=8, threads=2) == LocalPlan(3, 2)
    assert plan_local("cpu", None, cores=1, threads=4) == LocalPlan(1, 4)

    from rmdbench.sweep import plan_sweep

    (spec,) = plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.4],
        methods=["single"],
        seeds=[0],
        profile=get_profile("tiny[threads=4]"),
    )
    # a plan made without the profile's count is fitted to the runs': no more workers than
    # the cores hold at 4 threads each
    assert fit_plan(LocalPlan(8, 1), [spec], cores=8) == LocalPlan(2, 4)
    assert fit_plan(LocalPlan(1, 1), [spec], cores=8) == LocalPlan(1, 4)
    assert fit_plan(LocalPlan(4, 4), [spec], cores=8) == LocalPlan(4, 4)
    gpu_plan = LocalPlan(2, 4, ("0", "1"))
    assert fit_plan(gpu_plan, [spec], cores=8) is gpu_plan


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_empty_logs_of_finished_sweeps_go_and_the_rest_stay(tmp_path):
    host, dead = socket.gethostname(), dead_pid()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        logs = tmp_path / LOG_FOLDER
        logs.mkdir()
        gone = [
            logs / f"local-{host}-{dead}-worker0.log",  # a killed sweep's
            logs / f"local-{dead}-worker1.log",  # the same, named before logs had a host
            logs / f"local-{host}-{os.getpid()}-worker2.log",  # this process's, finished
        ]
        kept = [
            logs / f"local-{host}-{alive.pid}-worker0.log",  # a live sweep's: still in use
            logs / f"local-other-host-{dead}-worker0.log",  # another machine's sweep
            logs / "notes.log",  # not a worker log
        ]
        for path in gone + kept:
            path.touch()
        said = logs / f"local-{host}-{dead}-worker3.log"
        said.write_text("Traceback: a worker that had something to say\n")
        kept.append(said)
        assert remove_empty_logs(logs) == len(gone)
        assert sorted(logs.iterdir()) == sorted(kept)
    finally:
        alive.kill()
        alive.wait()
    for path in kept:
        path.unlink()
    assert remove_empty_logs(logs) == 0
    assert not logs.exists()  # an empty folder goes too


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state  # a zombie writes no log


def test_empty_worker_logs_of_a_killed_local_sweep_are_removed_by_the_next(
    runner, tmp_path, markers
):
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    arguments = fast_sweep(plugin, out, fast_methods("tag=0,sleep=0.02"), "--workers", "1")
    process = sweep_process(arguments, markers)
    logs = out / LOG_FOLDER
    deadline = time.monotonic() + 120
    while not list(markers.glob("start-*")):  # the worker is training: its log exists
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "the worker never started training"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # no cleanup runs in the sweep
    process.wait()
    (left,) = logs.glob("local-*.log")
    assert left.stat().st_size == 0
    worker = int(next(markers.glob("start-*")).name.split("-")[2])
    deadline = time.monotonic() + 30
    while not process_gone(worker):  # it exits on its parent's death
        assert time.monotonic() < deadline, "the worker outlived its killed sweep"
        time.sleep(0.1)

    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert not logs.exists()  # the dead sweep's empty log, and this sweep's, are gone
