"""Errors a user can cause: the CLI turns them into one line and exit code 2.

Each names the problem and the fix in its message. The subclasses carry the facts as
attributes, so a library caller can catch one kind and see what it is about without
reading the message. (Attributes have defaults: exceptions are rebuilt from their message
when they cross a process boundary, and pickle then restores the attributes.)
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input or a missing resource; the message names the problem and the fix."""


class OptionError(UserError):
    """A sweep option whose value is wrong or does not fit the others. ``option`` is its
    name as a ``SweepConfig`` field and sweep-file key (``workers``, ``slurm_time``)."""

    def __init__(self, message: str, option: str = "") -> None:
        super().__init__(message)
        self.option = option


class DeviceError(OptionError):
    """The device asked for is unknown, or not on this machine; ``device`` as asked."""

    def __init__(self, message: str, device: str = "") -> None:
        super().__init__(message, "device")
        self.device = device


class SweepFileError(UserError):
    """A sweep file that cannot be read, is not YAML, or holds an unknown key or a value
    of the wrong type (``key`` as written in the file, when it is about one)."""

    def __init__(self, message: str, path: Path | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.key = key


class MissingDependency(UserError):
    """A package or program a feature needs is not installed (``name``: what is missing)."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


class PrecisionUnsupported(OptionError):
    """bf16 was asked for on a device that has no fast bf16 arithmetic (a CPU without
    AVX512_BF16 or AMX, a GPU older than Ampere). ``device`` is the device type."""

    def __init__(self, message: str, device: str = "") -> None:
        super().__init__(message, "precision")
        self.device = device
