"""Executors: a local pool of worker processes, SLURM through submitit's debug and local
executors (no cluster needed), failure isolation and --retry-failed."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter

import pytest
import torch

from rmdbench.cli import app
from rmdbench.store import FAILED_FILE, RESULT_FILE, RunStore
from tests.helpers.sweep_plugin import (
    fast_methods,
    fast_sweep,
    starts,
    write_plugin,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def failures(out) -> dict[int, str]:
    """tag -> error of every failed record."""
    records = [json.loads(path.read_text()) for path in out.glob(f"*/{FAILED_FILE}")]
    return {record["spec"]["method_params"]["tag"]: record["error"] for record in records}


def test_local_pool_isolates_a_dying_worker_oom_and_nan(runner, tmp_path, markers):
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    methods = fast_methods("tag=0", "tag=1,fail=kill", "tag=2,fail=oom", "tag=3,fail=nan", "tag=4")
    result = runner.invoke(app, fast_sweep(plugin, out, methods, "--workers", "2"))
    assert result.exit_code == 1, result.output
    assert "local: 2 workers × 1 thread" in result.output
    errors = failures(out)
    assert set(errors) == {1, 2, 3}
    assert "worker process died" in errors[1] and "SIGKILL" in errors[1]
    assert "out of memory" in errors[2] and "smaller batch or profile" in errors[2]
    assert "training diverged" in errors[3]
    assert len(list(out.glob(f"*/{RESULT_FILE}"))) == 2  # the pool went on after each
    finished = [line for line in result.output.splitlines() if line.startswith("[")]
    assert len(finished) == 5 and all(" s  " in line for line in finished)  # one per run
    pids = {int(path.name.split("-")[2]) for path in markers.glob("start-*")}
    assert os.getpid() not in pids and len(pids) >= 2  # trained in worker processes
    assert starts(markers) == Counter({tag: 1 for tag in range(5)})
    assert not list((out / ".staging").iterdir())


def test_failed_runs_are_kept_and_retry_failed_reruns_only_them(runner, tmp_path, markers):
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    arguments = fast_sweep(
        plugin, out, fast_methods("tag=0", "tag=1,fail=nan", "tag=2,fail=memory")
    )
    first = runner.invoke(app, arguments)
    assert first.exit_code == 1
    assert "out of memory (MemoryError)" in failures(out)[2]
    second = runner.invoke(app, arguments)
    assert second.exit_code == 1  # the grid still holds failed runs
    assert "0 runs trained" in second.output and "failed earlier" in second.output
    assert starts(markers) == Counter({0: 1, 1: 1, 2: 1})
    third = runner.invoke(app, [*arguments, "--retry-failed"])
    assert third.exit_code == 1 and "2 runs trained" in third.output
    assert starts(markers) == Counter({0: 1, 1: 2, 2: 2})


def test_slurm_executor_through_submitit_debug_cluster(runner, tmp_path, markers):
    pytest.importorskip("submitit")
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    arguments = fast_sweep(plugin, out, fast_methods("tag=0", "tag=1"))
    slurm = ["--slurm-cluster", "debug", "--slurm-time", "0:10:00", "--slurm-gpus", "0"]
    result = runner.invoke(app, [*arguments, *slurm])  # slurm options imply the executor
    assert result.exit_code == 0, result.output
    assert "slurm: one array task per run" in result.output
    assert len(list(out.glob(f"*/{RESULT_FILE}"))) == 2
    assert len([path for path in (out / ".slurm").iterdir() if path.name != "%j"]) == 2
    again = runner.invoke(app, [*arguments, *slurm])
    assert "2 of 2 runs already done" in again.output
    assert starts(markers) == Counter({0: 1, 1: 1})


def test_preempted_slurm_task_is_requeued_and_completes(tmp_path, markers):
    """submitit's local executor, a real signal: the task checkpoints, is requeued, the
    run restarts from scratch and lands once in the store."""
    submitit = pytest.importorskip("submitit")
    from rmdbench.executors.base import WorkerSettings
    from rmdbench.executors.slurm_job import SlurmRun
    from rmdbench.plugins import load_plugins
    from rmdbench.profiles import get_profile
    from rmdbench.sweep import plan_sweep

    plugin = write_plugin(tmp_path)
    load_plugins([plugin])
    (spec,) = plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.0],
        methods=["fast[tag=9,sleep=0.03]"],
        seeds=[0],
        profile=get_profile("tiny"),
    )
    out = tmp_path / "runs"
    settings = WorkerSettings(store_root=out, device="cpu", plugins=(plugin,))
    executor = submitit.AutoExecutor(folder=tmp_path / "slurm" / "%j", cluster="local")
    executor.update_parameters(timeout_min=5)
    job = executor.submit(SlurmRun(settings), spec)
    store = RunStore(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until it trains: its lock shows an epoch
        holder = store.probe(spec.run_name)
        if holder is not None and holder.info.get("epoch", 0) >= 1:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the job never started training: {job.stderr()}")
    os.kill(int(holder.info["pid"]), signal.SIGUSR2)  # what SLURM sends before pre-empting
    report = job.result()
    assert report.status == "done", report
    assert starts(markers)[9] == 2  # trained again from scratch after the requeue
    assert store.is_done(spec.run_name) and not store.staging_dirs()


def test_local_plan_shares_cores_and_pins_gpus(monkeypatch):
    from rmdbench.executors import local

    monkeypatch.setattr(local, "visible_gpus", lambda: [])
    # on CPU a run trains at its profile's thread count (test_threads.py), whatever the pool
    assert local.plan_local("auto", 2, cores=8, threads=4) == local.LocalPlan(2, 4)
    assert local.plan_local("cpu", 16, cores=8).threads == 1
    assert local.plan_local("cpu", None, cores=8, threads=2).workers == 4
    monkeypatch.setattr(local, "visible_gpus", lambda: ["2", "5"])
    assert local.plan_local("auto", None, cores=8) == local.LocalPlan(2, 4, ("2", "5"))
    assert local.plan_local("auto", 4, cores=8).gpus == ("2", "5", "2", "5")
    assert local.plan_local("cpu", 2, cores=8).gpus == ()


@pytest.mark.parametrize(
    "text, minutes",
    [("90", 90), (45, 45), ("1:30:00", 90), ("2-00", 2880), ("0-1:00:30", 61), ("10:30", 11)],
)
def test_slurm_time_formats(text, minutes):
    from rmdbench.executors.slurm_options import parse_slurm_time

    assert parse_slurm_time(text) == minutes


def test_slurm_memory_sizes():
    from rmdbench.executors.slurm_options import parse_memory_gb

    assert parse_memory_gb("32G") == 32 and parse_memory_gb("512M") == 0.5
    assert parse_memory_gb(8) == 8


def test_out_of_memory_message_names_the_fix():
    from rmdbench.run import describe_failure
    from rmdbench.training.trainer import NonFiniteLossError

    gpu = describe_failure(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried 2 GiB\nmore"))
    assert gpu.startswith("out of memory (OutOfMemoryError: CUDA out of memory. Tried 2 GiB)")
    assert "--profile quick" in gpu and "\n" not in gpu
    assert describe_failure(MemoryError()).startswith("out of memory (MemoryError)")
    assert "diverged" in describe_failure(NonFiniteLossError("non-finite training loss"))
    assert describe_failure(ValueError("bad")) == "ValueError: bad"
