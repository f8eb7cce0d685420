"""How engine code reports progress without knowing who shows it.

Long engine work (building or preparing a dataset, a sweep) takes a ``Track``: a function
that wraps an iterable, like ``rich.progress.track``. The command line passes one that
draws a bar on a terminal; a library caller passes nothing and gets the items unchanged.
So no engine module prints, and a script or a notebook decides what it sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

#: ``track(items, description, total)`` -> the same items, shown as they are consumed
Track = Callable[..., Iterable]


def silent(items: Iterable[T], description: str = "", total: int | None = None) -> Iterable[T]:
    """The default: no display at all."""
    return items


def tracked(
    items: Iterable[T], description: str, track: Track | None, total: int | None = None
) -> Iterable[T]:
    """``items`` through ``track`` when one was given, unchanged otherwise."""
    return items if track is None else track(items, description, total)
