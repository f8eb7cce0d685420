"""One registry idiom for methods, noise models, datasets and backbones.

A registry maps a name to a factory (usually a class) and remembers where the
entry came from (the package, an entry point, or a plug-in file), so that
``rmdbench list`` can show it and a clash can name both sources.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from rmdbench.errors import UserError

T = TypeVar("T")


class RegistryError(UserError):
    """A user-facing registry problem: unknown or duplicate name."""


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


class Registry(Generic[T]):
    """Name -> factory, with the origin of each entry."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, origin: str | None = None) -> Callable[[T], T]:
        """Decorator: ``@METHODS.register("rmd")`` on a class or function."""

        def decorate(factory: T) -> T:
            if isinstance(factory, type):
                factory.name = name  # a class knows the name it is registered under
            self.add(name, factory, origin)
            return factory

        return decorate

    def add(self, name: str, factory: T, origin: str | None = None) -> None:
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
            raise RegistryError(f"unknown {self.kind} '{name}'; choose one of: {known}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda entry: entry.name))

    def names(self) -> list[str]:
        return sorted(self._entries)


# The registries. Built-in entries register themselves when their module is imported
# (see rmdbench.plugins.load_builtins).
METHODS: Registry = Registry("method")
NOISE_MODELS: Registry = Registry("noise model")
DATASETS: Registry = Registry("dataset")
BACKBONES: Registry = Registry("backbone")
DATASET_FORMATS: Registry = Registry("dataset format")  # what `rmdbench data prepare` reads
