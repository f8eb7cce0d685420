"""Files and folders rmdbench writes get the user's umask (0o666 / 0o777 less it), never
tempfile's owner-only 0o600 / 0o700: a group sharing a run store or a dataset cache must
be able to read what each member wrote. Checked on a real run, the atomic write behind the
dataset caches and checkpoints, and a compact copy, under two umasks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rmdbench.atomic import atomic_write
from rmdbench.cli import app
from rmdbench.compact import compact_store
from rmdbench.store import LOCK_DIR, RESULT_FILE

TINY_RUN = [
    "sweep",
    "--dataset",
    "toy-disks",
    "--profile",
    "tiny[epochs=1]",
    "--methods",
    "single",
    "--noise",
    "0",
]


@pytest.fixture(params=[0o022, 0o027], ids=["umask-022", "umask-027"])
def umask(request):
    """The process umask for one test, restored after."""
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


def modes(root: Path) -> dict[Path, int]:
    """The permission bits of ``root`` and of everything under it."""
    return {path: stat.S_IMODE(path.stat().st_mode) for path in [root, *root.rglob("*")]}


def assert_user_modes(root: Path, umask: int) -> None:
    expected = {"file": 0o666 & ~umask, "dir": 0o777 & ~umask}
    for path, mode in modes(root).items():
        kind = "dir" if path.is_dir() else "file"
        assert mode == expected[kind], f"{path}: {oct(mode)}, not {oct(expected[kind])}"


def test_a_run_and_its_store_get_the_umask(runner, tmp_path, umask, one_thread):
    out = tmp_path / "runs"
    result = runner.invoke(app, [*TINY_RUN, "--out", str(out)])
    assert result.exit_code == 0, result.output
    run_dir = next(out.glob(f"*/{RESULT_FILE}")).parent
    assert oct(stat.S_IMODE(run_dir.stat().st_mode)) == oct(0o777 & ~umask)
    assert list((out / LOCK_DIR).iterdir()), "a lock file was written"
    assert_user_modes(out, umask)


def test_atomic_writes_get_the_umask(tmp_path, umask):
    """``atomic_write`` writes every dataset cache file and checkpoint."""
    cache = tmp_path / "cache" / "lidc-phantom.npz"
    atomic_write(cache, lambda handle: handle.write(b"cached"))
    atomic_write(cache.with_suffix(".csv"), lambda handle: handle.write("a,b\n"), mode="w")
    assert cache.read_bytes() == b"cached"
    assert_user_modes(tmp_path / "cache", umask)


def test_a_compact_copy_gets_the_umask(tmp_path, umask):
    source = Path(__file__).resolve().parents[2] / "docs" / "memorise" / "data"
    compact_store(source, tmp_path / "copy")
    assert_user_modes(tmp_path / "copy", umask)
