"""Atomic writes: the temporary file of a write that a kill interrupted is found (and
removed with a checkpoint) even when the name holds glob characters, as a profile such as
``quick[epochs=3]`` puts in a run's checkpoint name."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rmdbench.atomic import NotWritable, atomic_write, partial_writes
from rmdbench.outputs import check_writable_dir

KILLED_WRITE = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path

    from rmdbench.atomic import atomic_write

    def write_half_then_die(handle):
        handle.write(b"half")
        handle.flush()
        os._exit(9)  # no cleanup runs, as under SIGKILL

    atomic_write(Path(sys.argv[1]), write_half_then_die)
    """
)


def killed_write(path: Path) -> None:
    """An atomic_write of ``path`` in a process that dies mid-write."""
    result = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(path)], check=False)
    assert result.returncode == 9
    assert not path.exists()


@pytest.mark.parametrize(
    "name", ["run.pt", "s0-quick[epochs=3]-rmd.pt", "a[b]*?.pt"], ids=["plain", "brackets", "all"]
)
def test_partial_writes_finds_a_killed_write(tmp_path, name):
    path = tmp_path / name
    killed_write(path)
    partials = partial_writes(path)
    assert len(partials) == 1 and partials[0].read_bytes() == b"half"
    assert partials[0].name.startswith(f".{name}.") and partials[0].name.endswith(".tmp")


def test_partial_writes_ignores_names_a_glob_class_would_match(tmp_path):
    """Unescaped, '[epochs=3]' is a one-character class: it would match '.run-e.pt.x.tmp'
    and miss the real temporary file."""
    path = tmp_path / "run-[epochs=3].pt"
    decoy = tmp_path / ".run-e.pt.abc.tmp"
    decoy.write_bytes(b"another run's")
    killed_write(path)
    partials = partial_writes(path)
    assert len(partials) == 1 and partials[0].name.startswith(".run-[epochs=3].pt.")
    assert partials[0].read_bytes() == b"half"


def test_remove_checkpoint_removes_a_bracketed_runs_partial(tmp_path):
    from rmdbench.training.checkpoint import remove_checkpoint

    path = tmp_path / "s0-quick[epochs=3]-rmd.pt"
    killed_write(path)
    atomic_write(path, lambda handle: handle.write(b"whole"))
    remove_checkpoint(path)
    assert list(tmp_path.iterdir()) == []


def test_check_writable_dir_names_the_file_in_the_way(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    check_writable_dir(tmp_path / "new" / "folder", "results", "fix it")  # creatable: no error
    assert not (tmp_path / "new").exists()  # and nothing made
    with pytest.raises(NotWritable) as caught:
        check_writable_dir(blocker / "sub", "results", "pass another folder")
    assert str(caught.value) == (
        f"cannot write the results to '{blocker / 'sub'}': {blocker} is a file, not a folder; "
        "pass another folder"
    )
    assert caught.value.folder == blocker / "sub"
    with pytest.raises(NotWritable, match="^cannot write the results to .* is a file"):
        check_writable_dir(blocker, "results", "pass another folder")
