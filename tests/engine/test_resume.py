"""Resume and concurrency: a sweep killed at any moment (SIGKILL included) and run again
completes the rest and retrains nothing done; two sweeps on one store never train a run
twice; stale staging directories go; ``rmdbench status`` reads it all from the store."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from rmdbench.cli import app
from rmdbench.store import RESULT_FILE, RunStore, holder_identity
from tests.helpers.sweep_plugin import (
    fast_methods,
    fast_sweep,
    starts,
    sweep_process,
    write_plugin,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def tags_done(out: Path) -> dict[int, int]:
    """tag -> mtime (ns) of its result.json; every record must parse."""
    found = {}
    for path in out.glob(f"*/{RESULT_FILE}"):
        record = json.loads(path.read_text())
        assert record["status"] == "done" and record["run_name"] == path.parent.name
        found[record["spec"]["method_params"]["tag"]] = path.stat().st_mtime_ns
    return found


def no_staging_left(out: Path) -> bool:
    return not RunStore(out).staging_dirs() and not list(out.glob(".staging-*"))


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state  # a zombie holds no lock and trains nothing


def plan(methods: str):
    from rmdbench.plugins import load_builtins
    from rmdbench.profiles import get_profile
    from rmdbench.sweep import plan_sweep, split_list

    load_builtins()
    return plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.0],
        methods=split_list([methods]),
        seeds=[0],
        profile=get_profile("tiny"),
    )


@pytest.mark.parametrize("executor", [[], ["--workers", "2"]], ids=["inline", "local"])
def test_sigkill_mid_sweep_then_rerun_trains_each_run_once(runner, tmp_path, markers, executor):
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    arguments = fast_sweep(
        plugin, out, fast_methods(*(f"tag={tag},sleep=0.01" for tag in range(5))), *executor
    )
    process = sweep_process(arguments, markers)
    deadline = time.monotonic() + 180
    while not list(out.glob(f"*/{RESULT_FILE}")):
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "no run finished in time"
        time.sleep(0.05)
    process.kill()  # SIGKILL: no cleanup runs in the sweep
    process.wait()
    before = tags_done(out)
    assert 1 <= len(before) < 5, "the sweep was not killed mid-way"
    trainers = {int(path.name.split("-")[2]) for path in markers.glob("start-*")}
    deadline = time.monotonic() + 30  # local workers notice their parent's death and exit
    while not all(process_gone(pid) for pid in trainers):
        assert time.monotonic() < deadline, "a worker outlived its killed sweep"
        time.sleep(0.1)

    rerun = runner.invoke(app, arguments)
    assert rerun.exit_code == 0, rerun.output
    after = tags_done(out)
    assert sorted(after) == list(range(5))
    assert all(after[tag] == mtime for tag, mtime in before.items())  # not retrained
    counts = starts(markers)
    assert all(counts[tag] == 1 for tag in before)
    assert all(1 <= counts[tag] <= 2 for tag in range(5))  # at most the killed attempt again
    assert len(list(out.glob("fast-*"))) == 5  # one directory per run, no duplicates
    assert no_staging_left(out)


def test_two_concurrent_sweeps_train_each_run_once(tmp_path, markers):
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    arguments = fast_sweep(
        plugin, out, fast_methods(*(f"tag={tag},sleep=0.005" for tag in range(6)))
    )
    sweeps = [sweep_process(arguments, markers) for _ in range(2)]
    outputs = [sweep.communicate(timeout=300)[0].decode() for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0], outputs
    assert starts(markers) == Counter({tag: 1 for tag in range(6)})
    trained = [int(re.search(r"(\d+) runs trained", text).group(1)) for text in outputs]
    assert sum(trained) == 6, outputs  # the work was shared, nothing twice
    assert sorted(tags_done(out)) == list(range(6))
    assert no_staging_left(out)


def test_a_run_locked_elsewhere_is_left_to_its_holder(runner, tmp_path, markers):
    from rmdbench.plugins import load_plugins

    plugin = write_plugin(tmp_path)
    load_plugins([plugin])  # plan() names the plug-in's method, also when run alone
    out = tmp_path / "runs"
    methods = fast_methods("tag=0", "tag=1")
    taken = RunStore(out).lock(plan(methods)[1].run_name)
    assert taken.acquire()
    taken.update(**holder_identity(), epoch=2, epochs=8)
    try:
        result = runner.invoke(app, fast_sweep(plugin, out, methods))
    finally:
        taken.release()
    assert result.exit_code == 0, result.output
    assert "1 running elsewhere" in result.output
    assert re.search(r"running elsewhere \(pid \d+ on .+\): fast-", result.output)
    assert starts(markers) == Counter({0: 1})
    again = runner.invoke(app, fast_sweep(plugin, out, methods))
    assert "1 runs trained" in again.output and starts(markers) == Counter({0: 1, 1: 1})


def test_stale_staging_goes_and_a_locked_runs_staging_stays(tmp_path):
    store = RunStore(tmp_path)
    staging = tmp_path / ".staging"
    staging.mkdir()
    (staging / "fast-distortion-r0.8-s0-tiny-0123456789ab.k2j3x_").mkdir()
    (staging / "gone-r0.5-abc.trash-q1w2e3").mkdir()
    (tmp_path / ".staging-single-distortion-r0.8-s0-tiny-0123456789ab-abcd1234").mkdir()
    owners = {owner for _, owner in store.staging_dirs()}
    assert owners == {
        "fast-distortion-r0.8-s0-tiny-0123456789ab",
        "gone-r0.5-abc",
        "single-distortion-r0.8-s0-tiny-0123456789ab",
    }
    held = store.lock("busy-r0.8")
    assert held.acquire()
    (staging / "busy-r0.8.zz9").mkdir()
    assert store.remove_stale_staging() == 3
    assert store.staging_dirs() == [(staging / "busy-r0.8.zz9", "busy-r0.8")]
    other = store.lock("busy-r0.8")
    assert not other.acquire(delays=())  # flock: exclusive even within one process
    held.release()
    assert other.acquire(delays=())
    other.release()
    assert store.remove_stale_staging() == 1 and not store.staging_dirs()


def test_status_reports_the_store_alone(runner, tmp_path, markers):
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    swept = runner.invoke(app, fast_sweep(plugin, out, fast_methods("tag=0", "tag=1,fail=raise")))
    assert swept.exit_code == 1
    store = RunStore(out)
    store.record_plan({"fast-planned-r0-s0-tiny-aaaaaaaaaaaa": "fast"})
    running = store.lock("fast-running-r0-s0-tiny-bbbbbbbbbbbb")
    assert running.acquire()
    running.update(**holder_identity(), method="fast", epoch=3, epochs=8)
    (out / ".staging" / "fast-dead-r0-s0-tiny-cccccccccccc.x1").mkdir(parents=True)
    try:
        result = runner.invoke(app, ["status", str(out)])
    finally:
        running.release()
    assert result.exit_code == 0, result.output
    assert "1 done, 1 failed, 1 running, 1 left of 3 planned" in result.output
    assert "epoch 3/8" in result.output and "boom" in result.output
    assert "staging: 0 in use, 1 stale" in result.output
    assert re.search(r"│ fast\s+│\s+1 │\s+1 │\s+1 │\s+1 │", result.output)
    assert "total train time" in result.output
    missing = runner.invoke(app, ["status", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no run store" in missing.output
