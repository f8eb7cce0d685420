"""Checks that an output can be written, made BEFORE the work that produces it.

A report, a preview figure, a benchmark, a prepared dataset or a dataset cache can take
minutes; an output that points at a file, or into a folder that cannot take new files, must
fail at once with one line, not with a traceback after the work. These checks leave nothing
behind: a folder that does not exist yet is judged by the nearest folder above it that does
(where it would be created), and that one by making and dropping a temporary file in it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rmdbench.errors import UserError

#: what a refusal of a command's --out folder tells the user to do
FOLDER_FIX = "pass a writable folder with --out"


class OutputError(UserError):
    """An output path that cannot be written. ``path``: the path as given; ``what``: what
    would be written there, in the words of the message ('report', 'figure'); ``reason``:
    why not, in a few words."""

    def __init__(
        self, message: str, path: Path | None = None, what: str = "", reason: str = ""
    ) -> None:
        super().__init__(message)
        self.path = path
        self.what = what
        self.reason = reason

    @property
    def folder(self) -> Path | None:
        """The folder that cannot be written (the data layer's name for ``path``)."""
        return self.path


def _existing_ancestor(path: Path) -> Path:
    """The nearest path at or above ``path`` that exists (where creating it would start);
    a dangling link counts as existing (nothing can be created in its place)."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path.cwd()


def _writable(folder: Path) -> bool:
    """Whether a file can be made in ``folder``, tried by making and dropping a temporary
    one: permission bits alone miss read-only mounts, ACLs and root."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def _folder_problem(folder: Path) -> str | None:
    """Why no file can be made in ``folder`` (existing or to be created), or None."""
    start = _existing_ancestor(Path(folder).absolute())
    if not start.exists():
        return f"{start} is a broken link, not a folder"
    if not start.is_dir():
        return f"{start} is a file, not a folder"
    if not _writable(start):
        return f"{start} is not writable"
    return None


def check_writable_dir(path: Path, what: str, fix: str = FOLDER_FIX) -> Path:
    """``path`` as a folder that exists and takes new files, or can be created; otherwise an
    OutputError 'cannot write the WHAT to PATH: why; FIX' (``fix``: what to pass instead).
    The one check of every output folder: a command's --out, a prepared copy's parent, a
    dataset cache. Creates nothing."""
    path = Path(path).expanduser()
    problem = _folder_problem(path)
    if problem is not None:
        raise OutputError(
            f"cannot write the {what} to '{path}': {problem}; {fix}", path, what, problem
        )
    return path


def check_not_a_file(path: Path, what: str, fix: str) -> Path:
    """``path`` as a folder that exists or could be made: a file (or a file above it)
    in the way is an OutputError naming the fix. Writability is not asked for: a dry run
    reads a store, and a shared dataset cache may be read-only once built."""
    path = Path(path).expanduser()
    start = _existing_ancestor(path.absolute())
    if not start.is_dir():
        raise OutputError(
            f"cannot use the {what} in {path}: {start} is a file, not a folder; {fix}", path, what
        )
    return path


def check_writable_file(path: Path, what: str) -> Path:
    """``path`` as a file that can be written (created or replaced), its folder existing
    or creatable; otherwise an OutputError naming the path and the fix. Creates nothing."""
    path = Path(path).expanduser()
    problem = _folder_problem(path.parent)
    if problem is None and path.is_dir():
        problem = "it is a folder"
    elif problem is None and path.exists() and not os.access(path, os.W_OK):
        problem = "the file is not writable"
    if problem is not None:
        raise OutputError(
            f"cannot write the {what} to '{path}': {problem}; pass a writable file with --out",
            path,
            what,
            problem,
        )
    return path
