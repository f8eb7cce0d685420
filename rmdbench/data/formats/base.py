"""The interface of a dataset format: declared parameters and one ``prepare`` step."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

from rmdbench.data.base import as_track
from rmdbench.data.prepared import PreparedDataset
from rmdbench.errors import UserError
from rmdbench.progress import Track, tracked

T = TypeVar("T")


@dataclass(frozen=True)
class NoParams:
    """For a format without options."""


class DatasetFormat:
    """Reads one kind of source (a file or folder a user downloaded) into a prepared copy.

    Subclasses set ``Params`` (a frozen dataclass of options, given on the command line as
    ``acdc[spacing=1.5]``), ``dataset_name`` (the default name of the prepared copy) and
    implement :meth:`prepare`. Every problem with the source is a one-line
    :class:`UserError` naming the file; nothing is written until everything was read.
    Long reads report progress only through ``progress`` (a ``rmdbench.progress.Track``,
    e.g. ``progress_over(files, "reading", progress)``); None shows nothing.
    """

    name: ClassVar[str]  # set by the registry
    Params: ClassVar[type] = NoParams
    summary: ClassVar[str] = ""

    def prepare(
        self, source: Path, params: object, *, progress: Track | None = None
    ) -> PreparedDataset:
        raise NotImplementedError


def require_path(path: Path, what: str, *, directory: bool | None = None) -> Path:
    """The path, or a one-line error naming what was expected there."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist; pass the {what}")
    if directory is True and not path.is_dir():
        raise UserError(f"{path} is not a directory; pass the {what}")
    if directory is False and not path.is_file():
        raise UserError(f"{path} is not a file; pass the {what}")
    return path


def progress_over(
    items: Iterable[T], description: str, progress: Track | None, total: int | None = None
) -> Iterable[T]:
    """``items`` shown through the ``progress`` Track when one was given, unchanged
    otherwise (a bool from an older caller counts as none)."""
    return tracked(items, description, as_track(progress), total)


def natural_key(text: str) -> list:
    """Sort key that puts 'case2' before 'case10' (and 'p_slice_2' before 'p_slice_12')."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
