"""A local worker that dies mid-pack leaves runs it never reported: the parent reports
each from the store, never overwriting what the store already says about it."""

from __future__ import annotations

import json

from rmdbench.executors.base import (
    DatasetCache,
    TaskOutcome,
    WorkerSettings,
    record_failure,
    run_task,
)
from rmdbench.executors.local import unreported_run
from rmdbench.profiles import get_profile
from rmdbench.store import FAILED_FILE, RunState, RunStore
from rmdbench.sweep import plan_sweep

TINY = "tiny[epochs=1,max_train_cases=8,max_eval_cases=4]"
DIED = "worker process died during the run (killed by signal 9)"


def pack_of_four():
    return plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.5],
        methods=["single"],
        seeds=[0, 1, 2, 3],
        profile=get_profile(TINY),
    )


def test_each_unreported_run_is_reported_from_the_store(tmp_path, one_thread):
    done, failed, held, untouched = pack_of_four()
    settings = WorkerSettings(store_root=tmp_path / "runs", device="cpu")
    store = RunStore(settings.store_root)
    assert run_task(done, settings, DatasetCache()).status == TaskOutcome.DONE
    assert record_failure(store, failed, "non-finite loss at epoch 1")
    lock = store.lock(held.run_name)  # another sweep trains this one
    assert lock.acquire()
    try:
        reports = {spec.run_name: unreported_run(store, spec, DIED, "") for spec in pack_of_four()}
    finally:
        lock.release()

    assert reports[done.run_name].status == TaskOutcome.DONE
    assert reports[failed.run_name].status == TaskOutcome.FAILED
    assert "non-finite loss at epoch 1" in reports[failed.run_name].error
    kept = json.loads((store.run_dir(failed.run_name) / FAILED_FILE).read_text())
    assert kept["error"] == "non-finite loss at epoch 1"  # its own error, not the death
    assert reports[held.run_name].status == TaskOutcome.ELSEWHERE
    assert store.state(held.run_name) == RunState.TODO  # nothing recorded for it
    assert reports[untouched.run_name].status == TaskOutcome.FAILED
    assert reports[untouched.run_name].error == DIED
    assert store.state(untouched.run_name) == RunState.FAILED
