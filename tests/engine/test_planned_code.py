"""A worker trains a run only with the code the sweep planned it with (``spec.code``): a
plug-in file changed between planning and training fails that run, recorded, in one line
naming the file and the fix, instead of training other code under the planned name."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from rmdbench.executors.base import DatasetCache, TaskOutcome, WorkerSettings, run_task
from rmdbench.executors.worker import decode, encode
from rmdbench.plugins import load_plugin_file
from rmdbench.profiles import get_profile
from rmdbench.store import FAILED_FILE, RunState, RunStore
from rmdbench.sweep import plan_sweep
from tests.helpers.sweep_plugin import subprocess_environment

TINY = "tiny[epochs=1,max_train_cases=8,max_eval_cases=4]"

#: a plug-in method the test edits after the sweep is planned
PLUGIN = """
from dataclasses import dataclass

from torch import nn

from rmdbench.api import METHODS, Method, StepOutput

SCALE = 1.0


@dataclass(frozen=True)
class Params:
    tag: int = 0


@METHODS.register("plannedprobe")
class PlannedProbe(Method):
    Params = Params
    num_networks = 0

    def __init__(self, params, context):
        super().__init__(params, context)
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def training_step(self, images, labels, state):
        loss = SCALE * nn.functional.binary_cross_entropy_with_logits(
            self.conv(images[:, :1]), labels
        )
        return StepOutput(loss, {"loss": loss.detach()})

    def predict_logits(self, images):
        return self.conv(images[:, :1])
"""


def planned(method: str):
    (spec,) = plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.5],
        methods=[method],
        seeds=[0],
        profile=get_profile(TINY),
    )
    return spec


def failed_record(store: RunStore, name: str) -> dict:
    return json.loads((store.root / name / FAILED_FILE).read_text())


def test_a_changed_fingerprint_fails_the_run_and_the_planned_code_trains(tmp_path, one_thread):
    spec = planned("single")
    changed = dataclasses.replace(spec, code={**spec.code, "method": "0123456789ab"})
    settings = WorkerSettings(store_root=tmp_path / "runs", device="cpu")
    datasets = DatasetCache()
    report = run_task(changed, settings, datasets)
    assert report.status == TaskOutcome.FAILED
    assert "\n" not in report.error
    assert "method 'single' changed since the sweep was planned" in report.error
    assert "single.py" in report.error and "re-plan the sweep" in report.error
    store = RunStore(settings.store_root)
    assert store.state(changed.run_name) == RunState.FAILED
    assert failed_record(store, changed.run_name)["error"] == report.error
    # the code as planned: the check lets it train
    assert run_task(spec, settings, datasets).status == TaskOutcome.DONE


def test_a_worker_refuses_a_plugin_file_edited_after_planning(tmp_path):
    """The local executor's worker process imports the plug-in file as it is now."""
    plugin = tmp_path / "planned_probe.py"
    plugin.write_text(PLUGIN)
    load_plugin_file(plugin)
    spec = planned("plannedprobe")
    plugin.write_text(PLUGIN.replace("SCALE = 1.0", "SCALE = 2.0"))  # edited meanwhile
    settings = WorkerSettings(store_root=tmp_path / "runs", device="cpu", plugins=(plugin,))
    worker = subprocess.run(
        [sys.executable, "-m", "rmdbench.executors.worker"],
        input=encode(settings) + encode([spec]),  # a task is a pack of runs
        env=subprocess_environment(tmp_path / "markers"),
        capture_output=True,
        timeout=300,
    )
    assert worker.returncode == 0, worker.stderr.decode()
    messages = [decode(line) for line in worker.stdout.splitlines()]
    (report,) = [message for kind, message in messages if kind == "report"]
    assert report.status == TaskOutcome.FAILED
    assert f"method 'plannedprobe' changed since the sweep was planned ({plugin}" in report.error
    assert "re-plan the sweep" in report.error and "\n" not in report.error
    store = RunStore(settings.store_root)
    assert failed_record(store, spec.run_name)["error"] == report.error


def test_a_pack_with_changed_code_fails_every_run_and_records_each(tmp_path, one_thread):
    """A pack's runs share one method, noise model, backbone and dataset, hence one code:
    a changed fingerprint fails all of them, each with its record (the pack holds their
    locks while it records, which must not stop it from recording)."""
    from rmdbench.executors.pack import run_pack

    specs = plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.5],
        methods=["single"],
        seeds=[0, 1],
        profile=get_profile(TINY),
    )
    changed = [
        dataclasses.replace(spec, code={**spec.code, "method": "0123456789ab"}) for spec in specs
    ]
    settings = WorkerSettings(store_root=tmp_path / "runs", device="cpu", pack=2)
    reports = run_pack(changed, settings, DatasetCache(), lambda event: None)
    store = RunStore(settings.store_root)
    assert [report.status for report in reports] == [TaskOutcome.FAILED] * 2
    for spec, report in zip(changed, reports, strict=True):
        assert "method 'single' changed since the sweep was planned" in report.error
        assert store.state(spec.run_name) == RunState.FAILED
        assert failed_record(store, spec.run_name)["error"] == report.error
