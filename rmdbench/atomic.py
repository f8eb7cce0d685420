"""Files that appear whole or not at all: written through a temporary file in the same
folder, then renamed into place (an atomic rename on one filesystem); and the check, made
before any long work, that a folder can take new files at all."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from rmdbench.errors import UserError


class NotWritable(UserError):
    """Files cannot be written to ``folder``: it is a file, lies under one, or refuses new
    files (permissions, a read-only mount); ``reason`` says which."""

    def __init__(self, message: str, folder: Path | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.folder = folder
        self.reason = reason


def atomic_write(path: Path, write: Callable[[IO], None], mode: str = "wb") -> None:
    """Call ``write(handle)`` on a temporary ``.<name>.*.tmp`` next to ``path``, fsync it,
    then rename it to ``path``; on any error the temporary file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, mode, **({} if "b" in mode else {"newline": ""})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def partial_writes(path: Path) -> list[Path]:
    """Temporary files of writes to ``path`` that a kill interrupted."""
    return list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))


def unwritable_reason(folder: Path) -> str | None:
    """Why no file can be created in ``folder`` (or, while it does not exist, in the nearest
    existing folder above it, where it would be made), or None when one can. Tested by
    creating and dropping a temporary file: permission bits alone miss read-only mounts,
    ACLs and root."""
    existing = Path(folder)
    while not (existing.exists() or existing.is_symlink()) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return f"{existing} is not writable ({error.strerror or error})"
    return None


def check_writable_folder(folder: Path, fix: str, what: str = "") -> None:
    """Refuse, with ``fix`` (what to pass instead), a folder no file can be written to,
    before the work whose result would go there; ``what`` names that result."""
    reason = unwritable_reason(folder)
    if reason is not None:
        target = what or f"to {folder}"
        raise NotWritable(f"cannot write {target}: {reason}; {fix}", Path(folder), reason)
