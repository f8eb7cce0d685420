"""What ``data prepare`` and the dataset cache check before the long work, and what a killed
prepare leaves: an output that is a file, lies under a file, cannot be written or is a
folder that is not a prepared copy, and a cache folder that is a file, are one line and
exit 2 before the source is read (or the built-in dataset built); the staging folder of a
prepare killed mid-write is removed by the next prepare, a live writer's never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rmdbench.atomic import NotWritable
from rmdbench.cli import app
from rmdbench.data import lidc_phantom
from rmdbench.data.formats.folder import Folder
from rmdbench.data.prepared import load_prepared, remove_stale_staging, this_host
from tests.data.test_format_folder import make_folder
from tests.helpers.prepare import TINY_PROFILE, assert_refused, run_prepare

CASES = 8


@pytest.fixture
def source(tmp_path) -> Path:
    make_folder(tmp_path / "pairs", count=CASES)
    return tmp_path / "pairs"


@pytest.fixture
def unread(monkeypatch):
    """Make reading the source fail loudly: a refusal must come before it."""

    def never(*args, **kwargs):
        raise AssertionError("the source was read before the output was checked")

    monkeypatch.setattr(Folder, "prepare", never)


def prepare(runner, source: Path, target: Path, *extra: str, cache: Path | None = None):
    cache_option = [] if cache is None else ["--cache-dir", str(cache)]
    return run_prepare(runner, "folder", source, target, *cache_option, *extra)


def one_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_out_that_is_a_file_is_refused_before_reading(runner, tmp_path, source, unread, overwrite):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    extra = ["--overwrite"] if overwrite else []
    line = one_line(prepare(runner, source, target, *extra, cache=tmp_path / "cache"))
    assert str(target) in line and "is a file" in line and "--out" in line
    assert target.read_text() == "keep me"


def test_out_under_a_file_is_refused_before_reading(runner, tmp_path, source, unread):
    blocker = tmp_path / "file"
    blocker.write_text("")
    target = blocker / "sub" / "copy"
    line = one_line(prepare(runner, source, target, cache=tmp_path / "cache"))
    assert f"{blocker} is a file, not a folder" in line and str(target) in line


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in: read-only permissions, or for root
    (whom permissions do not stop) /proc."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if not Path("/proc/self").is_dir():
        pytest.skip("running as root without /proc: no folder root cannot write")
    return Path("/proc")


def test_out_in_an_unwritable_folder_is_refused_before_reading(runner, tmp_path, source, unread):
    folder = unwritable_folder(tmp_path)
    target = folder / "rmdbench-test-copy"
    line = one_line(prepare(runner, source, target, cache=tmp_path / "cache"))
    assert f"{folder} is not writable" in line and "--out" in line
    assert not target.exists()


def test_overwrite_replaces_only_a_prepared_copy(runner, tmp_path, source, unread):
    target = tmp_path / "my-data"
    target.mkdir()
    (target / "scan.nii.gz").write_text("a user's file")
    line = one_line(prepare(runner, source, target, "--overwrite", cache=tmp_path / "cache"))
    assert str(target) in line and "not a prepared copy" in line
    assert (target / "scan.nii.gz").read_text() == "a user's file"


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_cache_that_is_a_file_is_refused_before_reading(
    runner, tmp_path, source, unread, monkeypatch, how
):
    cache = tmp_path / "cache-file"
    cache.write_text("")
    arguments = ["data", "prepare", "folder", str(source)]
    if how == "option":
        arguments += ["--cache-dir", str(cache)]
    else:
        monkeypatch.setenv(lidc_phantom.CACHE_DIR_ENV, str(cache))
    line = one_line(runner.invoke(app, arguments))
    assert f"{cache} is a file, not a folder" in line
    assert "RMDBENCH_CACHE_DIR" in line and "--cache-dir" in line


@pytest.fixture
def unbuilt(monkeypatch):
    """Make building lidc-phantom fail loudly: a refusal must come before it."""

    def never(*args, **kwargs):
        raise AssertionError("the dataset was built before its cache was checked")

    monkeypatch.setattr(lidc_phantom, "build_arrays", never)


def test_the_built_in_dataset_checks_its_cache_before_building(tmp_path, unbuilt):
    cache = tmp_path / "cache-file"
    cache.write_text("")
    with pytest.raises(NotWritable, match="is a file, not a folder") as caught:
        lidc_phantom.load_lidc_phantom(crop_size=64, cache_dir=cache)
    assert caught.value.folder == cache
    folder = unwritable_folder(tmp_path)
    with pytest.raises(NotWritable, match="is not writable"):
        lidc_phantom.load_lidc_phantom(crop_size=64, cache_dir=folder / "rmdbench-cache")


def test_a_sweep_with_a_file_as_cache_is_one_line(runner, tmp_path, unbuilt, monkeypatch):
    cache = tmp_path / "cache-file"
    cache.write_text("")
    monkeypatch.setenv(lidc_phantom.CACHE_DIR_ENV, str(cache))
    arguments = [
        "sweep", "--dataset", "lidc-phantom", "--profile", TINY_PROFILE, "--device", "cpu",
        "--out", str(tmp_path / "runs"),
    ]  # fmt: skip
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()  # the plan's summary, then the error
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:] and "Traceback" not in result.output, result.output
    assert f"{cache} is a file, not a folder" in errors[0] and "RMDBENCH_CACHE_DIR" in errors[0]


KILLED_PREPARE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    import numpy as np

    from rmdbench.data.resolve import prepare_dataset

    source, out, ready = map(Path, sys.argv[1:])
    real_save = np.save

    def save_then_hang(path, array, *args, **kwargs):
        real_save(path, array, *args, **kwargs)
        ready.write_text("writing")
        time.sleep(600)

    np.save = save_then_hang
    prepare_dataset("folder", source, out=out)
    """
)


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the prepare never started writing"
        time.sleep(0.1)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_killed_prepare_leaves_staging_that_the_next_one_removes(runner, tmp_path, source):
    target = tmp_path / "prepared" / "mine"
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_PREPARE, str(source), str(target), str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(ready, process)
        staging = list(target.parent.glob(".mine.partial-*"))
        assert [path.name for path in staging] == [f".mine.partial-{this_host()}-{process.pid}"]
        assert (staging[0] / "images.npy").is_file()
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    assert staging[0].is_dir(), "a killed prepare leaves its staging folder"
    assert not target.exists()

    result = prepare(runner, source, target, cache=tmp_path / "cache")
    assert result.exit_code == 0, result.output
    assert not list(target.parent.glob(".*partial*"))
    data = load_prepared(target)
    assert len(data) == CASES and data.images.shape[:2] == (CASES, 1)
    assert sorted(path.name for path in target.iterdir()) == [
        "cases.csv", "dataset.json", "images.npy", "masks.npy",
    ]  # fmt: skip


def test_only_dead_writers_staging_on_this_host_is_removed(tmp_path):
    dead = dead_pid()
    folders = {
        "live writer": f".a.partial-{this_host()}-{os.getpid()}",
        "other host": f".b.partial-elsewhere.example-{dead}",
        "not staging": f".c.partial-{this_host()}-x{dead}",
        "dead writer": f".d.partial-{this_host()}-{dead}",
        "older rmdbench, dead": f".e[quick].partial-{dead}",
    }
    for name in folders.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "images.npy").write_bytes(b"partial")
    removed = remove_stale_staging(tmp_path)
    assert sorted(path.name for path in removed) == sorted(
        [folders["dead writer"], folders["older rmdbench, dead"]]
    )
    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == sorted(folders[key] for key in ("live writer", "other host", "not staging"))


def test_zero_byte_and_zero_size_files_are_one_line_naming_the_file(runner, tmp_path):
    for name, damage in [
        ("empty-image", lambda root: np.save(root / "images" / "case4.npy", np.zeros((0, 36)))),
        (
            "empty-mask",
            lambda root: np.save(root / "masks" / "case5.npy", np.zeros((36, 0), np.uint8)),
        ),
        ("zero-byte", lambda root: (root / "images" / "case0.png").write_bytes(b"")),
    ]:
        root = tmp_path / name
        make_folder(root, count=CASES)
        damage(root)
        target = tmp_path / "prepared" / name
        result = prepare(runner, root, target, cache=tmp_path / "cache")
        named = {
            "empty-image": (str(root / "images" / "case4.npy"), "empty image", "(0, 36)"),
            "empty-mask": (str(root / "masks" / "case5.npy"), "empty mask", "(36, 0)"),
            "zero-byte": (str(root / "images" / "case0.png"), "empty file (0 bytes)"),
        }[name]
        assert_refused(result, target, *named)
