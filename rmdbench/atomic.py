"""Files that appear whole or not at all: written through a temporary file in the same
folder, then renamed into place (an atomic rename on one filesystem). Whether a folder can
take new files at all, checked before any long work, is ``rmdbench.outputs``'s
``check_writable_dir``.

Temporary files and folders here are made with the mode a plain ``open`` or ``mkdir`` gives
(0o666 or 0o777 less the user's umask), not ``tempfile``'s owner-only 0o600/0o700: they
are renamed into place and become run records and dataset caches, which a group sharing a
run store or a cache must be able to read."""

from __future__ import annotations

import glob
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO

from rmdbench.outputs import OutputError

#: the refusal of a folder no file can be written to, by the name the data layer has always
#: caught it by (``rmdbench.outputs.check_writable_dir`` is the check)
NotWritable = OutputError

#: how many random names a temporary file or folder tries before giving up (each try
#: collides only with a leftover of the same prefix, one chance in 2**48)
TEMPORARY_NAME_TRIES = 100
#: what new files and folders get before the kernel takes the umask off
FILE_MODE = 0o666
DIR_MODE = 0o777


def make_temporary_file(folder: Path, prefix: str = "", suffix: str = "") -> tuple[int, Path]:
    """A new, empty file ``<folder>/<prefix><random><suffix>`` opened for reading and
    writing, as ``tempfile.mkstemp`` makes one (exclusive create, a name no other writer
    holds) but with the user's umask instead of mode 0o600: the descriptor and the path."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(TEMPORARY_NAME_TRIES):
        path = Path(folder) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, flags, FILE_MODE), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name {prefix}*{suffix} in {folder}")


def make_temporary_dir(folder: Path, prefix: str = "") -> Path:
    """A new, empty folder ``<folder>/<prefix><random>`` (no dot in the random part), as
    ``tempfile.mkdtemp`` makes one but with the user's umask instead of mode 0o700."""
    for _ in range(TEMPORARY_NAME_TRIES):
        path = Path(folder) / f"{prefix}{secrets.token_hex(6)}"
        try:
            path.mkdir(DIR_MODE)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name {prefix}* in {folder}")


def atomic_write(path: Path, write: Callable[[IO], None], mode: str = "wb") -> None:
    """Call ``write(handle)`` on a temporary ``.<name>.*.tmp`` next to ``path``, fsync it,
    then rename it to ``path`` (mode: 0o666 less the umask); on any error the temporary
    file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = make_temporary_file(path.parent, f".{path.name}.", ".tmp")
    try:
        with os.fdopen(descriptor, mode, **({} if "b" in mode else {"newline": ""})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def partial_writes(path: Path) -> list[Path]:
    """Temporary files of writes to ``path`` that a kill interrupted."""
    return list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
