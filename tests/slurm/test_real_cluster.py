"""The slurm executor on a real SLURM cluster (benchmarks/slurm/start-local-cluster.sh
starts a one-node one): arrays, detaching, pre-emption, cancellation, kills, time limits
and two sweeps on one store. Marked ``slurm``: skipped where no cluster answers.

Each sweep runs as its own process (as a user types it); runs are the fast test method,
made slow with ``sleep`` so a test can act on them mid-way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rmdbench.store import FAILED_FILE, RESULT_FILE, RunStore
from tests.helpers.argv import overridden
from tests.helpers.sweep_plugin import (
    CLI_COMMAND,
    TOY,
    fast_methods,
    starts,
    subprocess_environment,
    sweep_process,
    write_plugin,
)

pytestmark = pytest.mark.slurm

#: no --slurm-gpus: the partition's offer (none here) is the default
SLURM = ["--executor", "slurm", "--slurm-cpus", "1", "--slurm-mem", "1G", "--slurm-time", "10"]
WAIT = 150  # seconds: the longest any one step of these tests may take


def cli(arguments: list[str], markers: Path, timeout: float = WAIT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI_COMMAND, *arguments],
        env=subprocess_environment(markers),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(condition, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"waited {timeout} s for {what}")


def queue(*states: str) -> list[str]:
    """This machine's SLURM tasks (ids like 12_3), in the given states."""
    command = ["squeue", "--noheader", "--array", "--format=%i"]
    if states:
        command.append(f"--states={','.join(states)}")
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()


def release_requeued() -> None:
    """A requeued task waits the cluster's credential lifetime before it starts again
    (cred_expire); start it now."""
    for line in subprocess.run(
        ["squeue", "--noheader", "--array", "--states=PENDING", "--format=%i %r"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines():
        job, reason = line.split()
        if reason == "BeginTime":
            subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=False)


def holder_at_epoch(store: RunStore, run_name: str, epoch: int) -> dict | None:
    """The lock info of a run once it trains past ``epoch`` (its pid, its SLURM job)."""
    holder = store.probe(run_name)
    if holder is not None and int(holder.info.get("epoch", 0) or 0) >= epoch:
        return holder.info
    return None


def run_names(plugin: Path, variants: list[str]) -> dict[int, str]:
    """Each fast run's tag -> its run name, as the sweep plans it."""
    from rmdbench.plugins import load_plugins
    from rmdbench.profiles import get_profile
    from rmdbench.sweep import plan_sweep

    load_plugins([plugin])
    specs = plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.0],
        methods=[fast_methods(variant) for variant in variants],
        seeds=[0],
        profile=get_profile("tiny"),
    )
    return {int(dict(spec.method_params)["tag"]): spec.run_name for spec in specs}


def finish(process: subprocess.Popen, timeout: float = WAIT) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output.decode()


@pytest.fixture
def plugin(tmp_path):
    return write_plugin(tmp_path)


@pytest.fixture(autouse=True)
def _no_leftover_tasks():
    """A test that fails mid-way cancels what it submitted (nothing else is touched)."""
    before = set(queue())
    yield
    leftover = sorted(set(queue()) - before)
    if leftover:
        subprocess.run(["scancel", *{job.split("_")[0] for job in leftover}], check=False)


def test_array_trains_every_run_with_workers_limiting_running_tasks(tmp_path, plugin, markers):
    out = tmp_path / "runs"
    methods = fast_methods(*(f"tag={tag},sleep=0.05" for tag in range(3)))
    arguments = ["sweep", *TOY, "--plugin", str(plugin), "--methods", methods, "--out", str(out)]
    process = sweep_process([*arguments, *SLURM, "--workers", "1"], markers)
    most_running = 0
    while process.poll() is None:
        most_running = max(most_running, len(queue("RUNNING")))
        time.sleep(0.2)
    code, output = finish(process)
    assert code == 0, output
    assert "0 GPU(s)" in output  # the partition offers none: the default asks for none
    assert "3 runs trained, 0 skipped, 0 failed" in output
    assert most_running == 1  # --workers 1: one array task at a time
    assert starts(markers) == {0: 1, 1: 1, 2: 1}
    (script,) = (out / ".slurm").glob("*/*_submission.sh")
    assert "#SBATCH --array=0-2%1" in script.read_text()
    umask = os.umask(0)
    os.umask(umask)
    pickles = list(out.rglob("*.pkl"))  # submitit's tasks and results: in .slurm/ only
    assert pickles and all(path.is_relative_to(out / ".slurm") for path in pickles)
    assert all(path.stat().st_mode & umask == 0 for path in pickles)  # the user's mode


def test_detached_sweep_is_followed_by_status(tmp_path, plugin, markers):
    out = tmp_path / "runs"
    methods = fast_methods("tag=0,sleep=0.15", "tag=1,sleep=0.15")
    arguments = ["sweep", *TOY, "--plugin", str(plugin), "--methods", methods, "--out", str(out)]
    submitted = cli([*arguments, *SLURM, "--detach"], markers)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "submitted 2 runs as SLURM job(s)" in submitted.stdout
    store = RunStore(out)
    wait_for(lambda: store.running(), "a run to start")
    during = cli(["status", str(out)], markers)
    assert during.returncode == 0, during.stderr
    assert "running" in during.stdout and "SLURM job" in during.stdout
    wait_for(lambda: all(store.is_done(name) for name in store.planned_runs()), "both runs")
    after = cli(["status", str(out)], markers)
    assert "SLURM job" not in after.stdout and "over 2 done runs" in after.stdout, after.stdout
    assert starts(markers) == {0: 1, 1: 1}


def test_requeued_task_resumes_from_its_checkpoint_bit_identically(tmp_path, markers):
    """scontrol requeue mid-run (what pre-emption does): with --checkpoint-every 1 the
    task starts again from its last checkpoint, and its result is the uninterrupted one."""
    # 96 tiny epochs (~25 s): long enough after epoch 3 that the requeue lands mid-run on
    # an idle machine too (at 24 the run could end before SLURM stopped it)
    grid = overridden(
        TOY, ["--noise", "0.4", "--methods", "single", "--profile", "tiny[epochs=96]"]
    )
    grid += ["--checkpoint-every", "1"]
    interrupted, straight = tmp_path / "requeued", tmp_path / "straight"
    process = sweep_process(["sweep", *grid, "--out", str(interrupted), *SLURM], markers)
    store = RunStore(interrupted)
    (name,) = wait_for(lambda: list(store.planned_runs()), "the plan")
    info = wait_for(lambda: holder_at_epoch(store, name, 3), "epoch 3", timeout=WAIT)
    subprocess.run(["scontrol", "requeue", info["slurm_job"]], check=True)
    wait_for(lambda: release_requeued() or store.probe(name) is None, "the requeue")
    code, output = finish(process)
    assert code == 0, output
    result = json.loads((interrupted / name / RESULT_FILE).read_text())
    assert result["timings"]["resumed_from_epoch"] >= 3, result["timings"]
    again = cli(["sweep", *grid, "--out", str(straight), "--executor", "inline"], markers)
    assert again.returncode == 0, again.stdout + again.stderr
    for table in ("cases.parquet", "noise.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(interrupted / name / table), pd.read_parquet(straight / name / table)
        )
    curves = [pd.read_parquet(root / name / "curve.parquet") for root in (interrupted, straight)]
    timing = [column for column in curves[0].columns if "second" in column]
    pd.testing.assert_frame_equal(curves[0].drop(columns=timing), curves[1].drop(columns=timing))
    with np.load(interrupted / name / "predictions.npz") as one:
        with np.load(straight / name / "predictions.npz") as other:
            assert sorted(one.files) == sorted(other.files)
            for key in one.files:
                assert np.array_equal(one[key], other[key]), key


def test_cancelled_and_killed_tasks_are_recorded_failed_and_retried_alone(
    tmp_path, plugin, markers
):
    out = tmp_path / "runs"
    variants = ["tag=0,sleep=0.2", "tag=1,sleep=0.2", "tag=2,sleep=0.02"]
    methods = fast_methods(*variants)
    arguments = ["sweep", *TOY, "--plugin", str(plugin), "--methods", methods, "--out", str(out)]
    process = sweep_process([*arguments, *SLURM], markers)
    store = RunStore(out)
    names = run_names(plugin, variants)
    cancelled = wait_for(lambda: holder_at_epoch(store, names[0], 1), "tag 0 to train")
    subprocess.run(["scancel", cancelled["slurm_job"]], check=True)
    killed = wait_for(lambda: holder_at_epoch(store, names[1], 1), "tag 1 to train")
    os.kill(int(killed["pid"]), signal.SIGKILL)  # the training process dies on the node
    code, output = finish(process)
    assert code == 1, output
    assert "2 of 3 runs failed" in output, output
    assert store.is_done(names[2])
    reason = json.loads((out / names[0] / FAILED_FILE).read_text())["error"]
    assert "was cancelled (scancel)" in reason, reason
    reason = json.loads((out / names[1] / FAILED_FILE).read_text())["error"]
    assert "ended without a result" in reason and "killed" in reason, reason
    retried = cli([*arguments, *SLURM, "--retry-failed"], markers)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "2 runs trained, 1 skipped, 0 failed" in retried.stdout, retried.stdout
    assert starts(markers) == {0: 2, 1: 2, 2: 1}


def test_two_sweeps_on_one_store_train_each_run_once(tmp_path, plugin, markers):
    out = tmp_path / "runs"
    methods = fast_methods("tag=0,sleep=0.05", "tag=1,sleep=0.05")
    arguments = ["sweep", *TOY, "--plugin", str(plugin), "--methods", methods, "--out", str(out)]
    first = sweep_process([*arguments, *SLURM], markers)
    second = sweep_process([*arguments, *SLURM], markers)
    results = [finish(first), finish(second)]
    for code, output in results:
        assert code == 0, output
    assert starts(markers) == {0: 1, 1: 1}
    store = RunStore(out)
    assert all(store.is_done(name) for name in store.planned_runs())


def test_run_over_its_time_limit_is_recorded_timed_out(tmp_path, plugin, markers):
    """--slurm-time 1 and a run of minutes: SLURM signals the task before its limit,
    submitit requeues it (three times), then the run is recorded as timed out."""
    out = tmp_path / "runs"
    arguments = ["sweep", *TOY, "--plugin", str(plugin), "--out", str(out)]
    arguments += ["--methods", fast_methods("tag=0,sleep=1"), *SLURM[:-1], "1"]
    process = sweep_process(arguments, markers)
    while process.poll() is None:
        release_requeued()
        time.sleep(1)
    code, output = finish(process, timeout=10)
    assert code == 1, output
    (failed,) = out.glob(f"*/{FAILED_FILE}")
    reason = json.loads(failed.read_text())["error"]
    assert "timed out" in reason and "--slurm-time (1 min)" in reason, reason
