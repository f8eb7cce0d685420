"""One registry idiom for methods, noise models, datasets and backbones.

A registry maps a name to a factory (usually a class) and remembers where the
entry came from (the package, an entry point, or a plug-in file), so that
``rmdbench list`` can show it and a clash can name both sources.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from rmdbench.errors import UserError

T = TypeVar("T")


class RegistryError(UserError):
    """A user-facing registry problem: unknown or duplicate name, or an entry of the wrong
    kind."""


class UnknownName(RegistryError):
    """A name nothing registered; ``kind`` the registry's ('method'), ``name`` as asked."""

    def __init__(self, message: str, kind: str = "", name: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    factory: T
    origin: str


def origin_of(factory: object) -> str:
    """Where a factory comes from: 'rmdbench' for built-ins, else the file or module that
    defined it (what ``rmdbench list`` shows and a name clash reports)."""
    module_name = getattr(factory, "__module__", "") or ""
    if module_name == "rmdbench" or module_name.startswith("rmdbench."):
        return "rmdbench"
    module = sys.modules.get(module_name)
    return getattr(module, "__file__", None) or module_name or "unknown"


#: what an entry must be: its problem in a few words ("is not a Method subclass"), or None
Check = Callable[[object], "str | None"]


class Registry(Generic[T]):
    """Name -> factory, with the origin of each entry. ``check`` (optional) refuses an
    entry that is not what the registry's users expect, when it registers: a plug-in that
    registers an int fails on loading, naming itself, not in the middle of a sweep."""

    def __init__(self, kind: str, check: Check | None = None) -> None:
        self.kind = kind
        self._check = check
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, origin: str | None = None) -> Callable[[T], T]:
        """Decorator: ``@METHODS.register("rmd")`` on a class or function."""

        def decorate(factory: T) -> T:
            self.add(name, factory, origin)
            if isinstance(factory, type):
                factory.name = name  # a class knows the name it is registered under
            return factory

        return decorate

    def add(self, name: str, factory: T, origin: str | None = None) -> None:
        problem = self._check(factory) if self._check is not None else None
        if problem is not None:
            raise RegistryError(f"{self.kind} '{name}' {problem}")
        origin = origin or origin_of(factory)
        existing = self._entries.get(name)
        if existing is not None and existing.factory is not factory:
            raise RegistryError(
                f"{self.kind} '{name}' is registered twice ({existing.origin} and {origin}); "
                "rename one of them"
            )
        self._entries[name] = Entry(name, factory, origin)

    def get(self, name: str) -> T:
        try:
            return self._entries[name].factory
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownName(
                f"unknown {self.kind} '{name}'; choose one of: {known}", self.kind, name
            ) from None

    def discard(self, name: str) -> None:
        """Forget ``name`` (a plug-in file that failed half-way takes back what it added)."""
        self._entries.pop(name, None)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda entry: entry.name))

    def names(self) -> list[str]:
        return sorted(self._entries)


# What each registry holds. The base classes are imported when something registers (they
# import this module, so not at its top).


def _describe(factory: object) -> str:
    if isinstance(factory, type):
        return f"the class {factory.__name__}"
    return f"{type(factory).__name__} {factory!r:.40}"


def _subclass_problem(factory: object, base: type, declares_params: bool) -> str | None:
    """Why ``factory`` is not a subclass of ``base`` (with a dataclass ``Params``), or None."""
    if not (isinstance(factory, type) and issubclass(factory, base)):
        return f"must be a subclass of {base.__name__}, got {_describe(factory)}"
    params = getattr(factory, "Params", None)
    if declares_params and not (isinstance(params, type) and dataclasses.is_dataclass(params)):
        return (
            f"({factory.__name__}) must set Params to a dataclass of its parameters, "
            f"got {_describe(params)}"
        )
    return None


def _method_problem(factory: object) -> str | None:
    from rmdbench.contracts.method import Method

    return _subclass_problem(factory, Method, declares_params=True)


def _noise_model_problem(factory: object) -> str | None:
    from rmdbench.contracts.noise_model import NoiseModel

    return _subclass_problem(factory, NoiseModel, declares_params=True)


def _backbone_problem(factory: object) -> str | None:
    from rmdbench.backbones.base import Backbone

    return _subclass_problem(factory, Backbone, declares_params=False)


def _dataset_format_problem(factory: object) -> str | None:
    from rmdbench.data.formats.base import DatasetFormat

    return _subclass_problem(factory, DatasetFormat, declares_params=True)


def _dataset_problem(factory: object) -> str | None:
    if callable(factory):
        return None
    return (
        "must be a function (*, crop_size, cache_dir, progress) -> SegmentationData, "
        f"got {_describe(factory)}"
    )


# The registries. Built-in entries register themselves when their module is imported
# (see rmdbench.plugins.load_builtins).
METHODS: Registry = Registry("method", _method_problem)
NOISE_MODELS: Registry = Registry("noise model", _noise_model_problem)
DATASETS: Registry = Registry("dataset", _dataset_problem)
BACKBONES: Registry = Registry("backbone", _backbone_problem)
DATASET_FORMATS: Registry = Registry("dataset format", _dataset_format_problem)
