"""Loading the registries: built-in modules, then installed entry points."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType

from rmdbench.errors import UserError
from rmdbench.fingerprint import SOURCE_HASH_ATTRIBUTE, sha256_hex
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
            except SystemExit as error:
                raise UserError(
                    f"plug-in entry point '{entry_point.name}' ({entry_point.value}) called "
                    f"sys.exit({error.code!r}) while loading; fix or uninstall that package"
                ) from None
            except Exception as error:  # noqa: BLE001 - a third-party plug-in is broken
                raise UserError(
                    f"plug-in entry point '{entry_point.name}' ({entry_point.value}) failed to "
                    f"load: {error}; fix or uninstall that package"
                ) from None


PLUGIN_MODULE_PREFIX = "rmdbench_plugin_"


REGISTRIES = (METHODS, NOISE_MODELS, DATASETS, BACKBONES, DATASET_FORMATS)


def _registered() -> set[tuple[str, str]]:
    return {(registry.kind, entry.name) for registry in REGISTRIES for entry in registry}


def _take_back(before: set[tuple[str, str]]) -> None:
    """Forget what a plug-in file registered before it failed: a refused file leaves
    nothing behind (a long-lived process, or the next plug-in, never sees half of it)."""
    for registry in REGISTRIES:
        for entry in list(registry):
            if (registry.kind, entry.name) not in before:
                registry.discard(entry.name)


def _load_failure(path: Path, error: BaseException) -> UserError:
    """What went wrong while a plug-in file ran, as one line naming the file."""
    if isinstance(error, UserError):  # also a RegistryError: a clash, or the wrong kind
        return UserError(f"plug-in file '{path}': {error}")
    if isinstance(error, SystemExit):  # a script's sys.exit() must not end rmdbench silently
        return UserError(
            f"plug-in file '{path}' called sys.exit({error.code!r}) while loading; a plug-in "
            "file only registers things: remove the call"
        )
    return UserError(
        f"plug-in file '{path}' failed to import ({type(error).__name__}: {error}); "
        "fix the file and try again"
    )


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
        _execute(module, path)
    except BaseException as error:
        _take_back(before)  # a refused file leaves nothing behind
        del sys.modules[module_name]
        if isinstance(error, KeyboardInterrupt):
            raise
        raise _load_failure(path, error) from None
    added = sorted(f"{kind} {name}" for kind, name in _registered() - before)
    if not added:
        raise UserError(
            f"plug-in file '{path}' registered nothing; decorate a class with "
            '@METHODS.register("name") (see docs/plugins.md)'
        )
    return added


def _execute(module: ModuleType, path: Path) -> None:
    """Run a plug-in file's code in ``module``, keeping the hash of exactly the bytes run
    (``rmdbench.fingerprint``): the runs it makes are named by the code that trained them,
    even if the file is edited while this process still has the old code loaded."""
    source = path.read_bytes()
    setattr(module, SOURCE_HASH_ATTRIBUTE, sha256_hex(source))
    exec(compile(source, str(path), "exec", dont_inherit=True), module.__dict__)  # noqa: S102


def load_plugins(paths: list[Path]) -> list[str]:
    load_builtins()
    return [item for path in paths for item in load_plugin_file(path)]


class PluginsNotLoaded(UserError):
    """A name the plan cannot resolve because plug-in files were named but not run
    (``rmdbench sweep --dry-run`` runs no plug-in code). ``name``: the unknown entry as
    the registry words it ("method 'gce'"); ``plugins``: the files not run."""

    def __init__(self, name: str = "", plugins: tuple[Path, ...] = ()) -> None:
        files = ", ".join(str(path) for path in plugins)
        listing = "--plugin " + ",".join(str(path) for path in plugins)
        super().__init__(
            f"--dry-run runs no plug-in code, so it cannot plan {name}, which is not built "
            f"in (plug-in files not run: {files}); see what they register with "
            f"'rmdbench list {listing}' (it runs them), or drop --dry-run"
        )
        self.name = name
        self.plugins = plugins
