"""Loading the registries: built-in modules, then installed entry points."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from rmdbench.errors import UserError
from rmdbench.registry import BACKBONES, DATASET_FORMATS, DATASETS, METHODS, NOISE_MODELS

BUILTIN_PACKAGES = (
    "rmdbench.backbones",
    "rmdbench.data",
    "rmdbench.data.formats",
    "rmdbench.noise_models",
    "rmdbench.methods",
)
ENTRY_POINT_GROUPS = (
    "rmdbench.backbones",
    "rmdbench.datasets",
    "rmdbench.dataset_formats",
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


PLUGIN_MODULE_PREFIX = "rmdbench_plugin_"


def _registered() -> set[tuple[str, str]]:
    return {
        (registry.kind, entry.name)
        for registry in (METHODS, NOISE_MODELS, DATASETS, BACKBONES, DATASET_FORMATS)
        for entry in registry
    }


def load_plugin_file(path: Path) -> list[str]:
    """Import one Python file that registers methods, noise models, datasets or backbones
    (``--plugin path/to/file.py``). Returns what it registered, as 'kind name'."""
    load_builtins()
    path = Path(path).resolve()
    if not path.is_file() or path.suffix != ".py":
        raise UserError(f"plug-in file '{path}' does not exist or is not a .py file")
    module_name = PLUGIN_MODULE_PREFIX + path.stem
    if module_name in sys.modules and getattr(sys.modules[module_name], "__file__", "") == str(
        path
    ):
        return []  # already loaded in this process
    before = _registered()
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except UserError as error:
        del sys.modules[module_name]
        raise UserError(f"plug-in file '{path}': {error}") from None
    except Exception as error:  # noqa: BLE001 - any import failure is the plug-in's
        del sys.modules[module_name]
        raise UserError(
            f"plug-in file '{path}' failed to import ({type(error).__name__}: {error}); "
            "fix the file and try again"
        ) from None
    added = sorted(f"{kind} {name}" for kind, name in _registered() - before)
    if not added:
        raise UserError(
            f"plug-in file '{path}' registered nothing; decorate a class with "
            '@METHODS.register("name") (see docs/plugins.md)'
        )
    return added


def load_plugins(paths: list[Path]) -> list[str]:
    load_builtins()
    return [item for path in paths for item in load_plugin_file(path)]
