"""A run's identity includes the code it trains with: a changed plug-in file makes a new
run, while the same bytes name the same run in any process, at any path, at any mtime;
every record names the source revision rmdbench ran from, and the report's header shows
it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import torch

from rmdbench import __version__
from rmdbench.cli import app
from rmdbench.fingerprint import code_fingerprint
from rmdbench.provenance import git_revision, provenance
from rmdbench.registry import METHODS
from rmdbench.store import RESULT_FILE
from tests.helpers.sweep_plugin import CLI_COMMAND, subprocess_environment

#: a plug-in method that trains in milliseconds; SCALE is what the test edits
PLUGIN = '''
from dataclasses import dataclass

from torch import nn

from rmdbench.api import METHODS, Method, StepOutput

SCALE = 1.0


@dataclass(frozen=True)
class ProbeParams:
    tag: int = 0


@METHODS.register("codeprobe")
class CodeProbe(Method):
    """One 3x3 convolution, its loss scaled by SCALE."""

    Params = ProbeParams
    num_networks = 0

    def __init__(self, params, context):
        super().__init__(params, context)
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def training_step(self, images, labels, state):
        logits = self.conv(images[:, :1])
        loss = SCALE * nn.functional.binary_cross_entropy_with_logits(logits, labels)
        return StepOutput(loss, {"loss": loss.detach()})

    def predict_logits(self, images):
        return self.conv(images[:, :1])
'''


def sweep_arguments(plugin, out) -> list[str]:
    return [
        "sweep", "--dataset", "toy-disks", "--profile", "tiny[epochs=1]", "--noise", "0",
        "--device", "cpu", "--plugin", str(plugin), "--methods", "codeprobe", "--out", str(out),
    ]  # fmt: skip


def sweep_in_a_new_process(plugin, out, tmp_path) -> str:
    """The sweep's output, run by a fresh interpreter (which loads the file as it is now)."""
    result = subprocess.run(
        [*CLI_COMMAND, *sweep_arguments(plugin, out)],
        env=subprocess_environment(tmp_path / "markers"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def records(out) -> dict[str, dict]:
    return {path.parent.name: json.loads(path.read_text()) for path in out.glob(f"*/{RESULT_FILE}")}


def test_a_changed_plugin_file_trains_again_and_the_same_bytes_do_not(runner, one_thread, tmp_path):
    first = tmp_path / "first" / "code_probe.py"
    first.parent.mkdir()
    first.write_text(PLUGIN)
    out = tmp_path / "runs"
    result = runner.invoke(app, sweep_arguments(first, out))
    assert result.exit_code == 0, result.output
    (original,) = records(out).values()
    assert set(original["spec"]["code"]) == {"method", "backbone", "dataset"}  # r=0: no noise

    # the same bytes at another path, with another mtime, in another process: the same run
    moved = tmp_path / "elsewhere" / "code_probe.py"
    moved.parent.mkdir()
    shutil.copyfile(first, moved)
    os.utime(moved, (1_000_000_000, 1_000_000_000))
    output = sweep_in_a_new_process(moved, out, tmp_path)
    assert "0 runs trained" in output, output
    assert len(records(out)) == 1

    moved.write_text(PLUGIN.replace("SCALE = 1.0", "SCALE = 2.0"))  # the loss doubled
    output = sweep_in_a_new_process(moved, out, tmp_path)
    assert "1 runs trained" in output, output
    after = records(out)
    assert len(after) == 2
    (changed,) = (record for name, record in after.items() if name != original["run_name"])
    assert changed["spec"]["code"]["method"] != original["spec"]["code"]["method"]
    assert changed["spec"]["code"]["backbone"] == original["spec"]["code"]["backbone"]


def test_a_plugin_is_fingerprinted_by_the_bytes_it_ran_not_the_file_now(tmp_path):
    """A file edited after it was loaded keeps naming runs by the code this process runs."""
    from rmdbench.plugins import load_plugin_file

    path = tmp_path / "code_probe_loaded.py"
    path.write_text(PLUGIN.replace("codeprobe", "codeprobe-loaded"))
    load_plugin_file(path)
    factory = METHODS.get("codeprobe-loaded")
    before = code_fingerprint(factory)
    path.write_text(PLUGIN.replace("SCALE = 1.0", "SCALE = 3.0"))
    assert code_fingerprint(factory) == before


def test_builtins_are_fingerprinted_by_their_module_files():
    from rmdbench.contracts.method import Method
    from rmdbench.plugins import load_builtins

    load_builtins()
    single, rmd = METHODS.get("single"), METHODS.get("rmd")
    assert code_fingerprint(single, Method) != code_fingerprint(rmd, Method)
    assert code_fingerprint(single, Method) == code_fingerprint(single, Method)
    assert " " not in code_fingerprint(single, Method)  # rmdbench's own: no version


def test_an_installed_plugin_names_its_distribution_and_version(tmp_path, monkeypatch):
    from importlib import metadata

    import rmdbench.fingerprint as fingerprint

    package = tmp_path / "probe_dist_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("def build():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__("probe_dist_pkg")
    monkeypatch.setattr(fingerprint, "_distributions_of", lambda: {"probe_dist_pkg": ["pytest"]})
    first = code_fingerprint(module.build)
    assert first.startswith(f"pytest {metadata.version('pytest')} ")
    (package / "__init__.py").write_text("def build():\n    return 2\n")
    assert code_fingerprint(module.build) != first  # the file's bytes, not its name


def test_every_record_names_its_source_and_the_report_header_shows_it(runner, one_thread, tmp_path):
    plugin = tmp_path / "code_probe_report.py"
    plugin.write_text(PLUGIN.replace("codeprobe", "codeprobe-report"))
    out = tmp_path / "runs"
    arguments = sweep_arguments(plugin, out)
    arguments[arguments.index("codeprobe")] = "codeprobe-report"
    assert runner.invoke(app, arguments).exit_code == 0
    (record,) = records(out).values()
    revision = git_revision()
    expected = revision or f"rmdbench {__version__}"
    assert record["provenance"]["source"] == expected
    report = tmp_path / "report"
    result = runner.invoke(app, ["report", str(out), "--out", str(report), "--no-qualitative"])
    assert result.exit_code == 0, result.output
    header = (report / "report.md").read_text().split("## Results")[0]
    shown = expected[:12] if revision else expected
    assert f"Source revision(s): {shown}." in header


def test_the_source_is_the_version_outside_a_git_checkout(monkeypatch):
    monkeypatch.setattr("rmdbench.provenance.git_revision", lambda: None)
    record = provenance(torch.device("cpu"))
    assert record["source"] == f"rmdbench {__version__}" and record["git_revision"] is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_revision_is_rmdbench_own_checkout_only(tmp_path, monkeypatch):
    """From a git checkout of rmdbench: its HEAD; installed into some other repository's
    folder, git answers with that repository's commit, which is not rmdbench's: None."""
    import rmdbench.provenance as module

    here = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=os.path.dirname(module.__file__), capture_output=True
    )
    if here.returncode == 0:
        assert git_revision() == here.stdout.decode().strip()
    other = tmp_path / "other"
    (other / "site" / "rmdbench").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    subprocess.run(
        ["git", "-C", str(other), "-c", "user.name=t", "-c", "user.email=t@t", "commit",
         "-q", "--allow-empty", "-m", "x"],
        check=True,
    )  # fmt: skip
    monkeypatch.setattr(module, "__file__", str(other / "site" / "rmdbench" / "provenance.py"))
    assert git_revision() is None
