"""Files that appear whole or not at all: written through a temporary file in the same
folder, then renamed into place (an atomic rename on one filesystem). Whether a folder can
take new files at all, checked before any long work, is ``rmdbench.outputs``'s
``check_writable_dir``."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from rmdbench.outputs import OutputError

#: the refusal of a folder no file can be written to, by the name the data layer has always
#: caught it by (``rmdbench.outputs.check_writable_dir`` is the check)
NotWritable = OutputError


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
