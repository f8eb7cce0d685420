"""Checks that an output can be written, made BEFORE the work that produces it.

A report, a preview figure or a benchmark can take minutes; an ``--out`` that points at a
file, or into a folder that cannot be written, must fail at once with one line, not with a
traceback after the work. These checks write nothing: a folder that does not exist yet is
judged by the nearest folder above it that does (where it would be created).
"""

from __future__ import annotations

import os
from pathlib import Path

from rmdbench.errors import UserError


class OutputError(UserError):
    """An output path that cannot be written. ``path``: the path as given; ``what``: what
    would be written there, in the words of the message ('report folder', 'figure')."""

    def __init__(self, message: str, path: Path | None = None, what: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.what = what


def _existing_ancestor(path: Path) -> Path:
    """The nearest path at or above ``path`` that exists (where creating it would start)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def _writable(folder: Path) -> bool:
    """Whether files can be made in ``folder`` (write and search permission)."""
    return os.access(folder, os.W_OK | os.X_OK)


def _folder_problem(folder: Path) -> str | None:
    """Why no file can be made in ``folder`` (existing or to be created), or None."""
    folder = folder.absolute()
    start = _existing_ancestor(folder)
    if not start.is_dir():
        return f"'{start}' is a file, not a folder"
    if not _writable(start):
        return f"'{start}' is not writable"
    return None


def check_writable_dir(path: Path, what: str) -> Path:
    """``path`` as a folder that exists and is writable, or can be created; otherwise an
    OutputError naming the path and the fix. Creates nothing."""
    path = Path(path).expanduser()
    problem = _folder_problem(path)
    if problem is not None:
        raise OutputError(
            f"cannot write the {what} to '{path}': {problem}; pass a writable folder with --out",
            path,
            what,
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
        )
    return path
