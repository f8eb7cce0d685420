"""Loading the registries: built-in modules, then installed entry points."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from importlib import metadata

from rmdbench.errors import UserError

BUILTIN_PACKAGES = (
    "rmdbench.backbones",
    "rmdbench.data",
    "rmdbench.noise_models",
    "rmdbench.methods",
)
ENTRY_POINT_GROUPS = (
    "rmdbench.backbones",
    "rmdbench.datasets",
    "rmdbench.noise_models",
    "rmdbench.methods",
)


@cache
def load_builtins() -> None:
    """Import every module of the built-in plug-in packages (each registers itself) and
    every installed ``rmdbench.*`` entry point. Idempotent."""
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package_name}.{module.name}")
    for group in ENTRY_POINT_GROUPS:
        for entry_point in metadata.entry_points(group=group):
            try:
                entry_point.load()
            except Exception as error:  # noqa: BLE001 - a third-party plug-in is broken
                raise UserError(
                    f"plug-in entry point '{entry_point.name}' ({entry_point.value}) failed to "
                    f"load: {error}; fix or uninstall that package"
                ) from None
