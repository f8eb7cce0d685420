"""The code a run trains with, as part of its identity: a short hash of the source files
that define its method, noise model, backbone and dataset, so that a changed plug-in (or
a changed built-in) makes new runs instead of being taken for a finished one.

What is hashed is the bytes of files, never paths or modification times, so one file
gives one fingerprint in every process and on every machine:

- a plug-in file (``--plugin file.py``): the bytes ``rmdbench.plugins`` executed;
- an installed plug-in package: its distribution's name and version and the file's hash;
- a built-in (a module of rmdbench): the hash of its module file.

For a class, every module of its ancestry down to (not including) the registry's base
class counts: a plug-in that subclasses a built-in method changes with either file.

A worker checks the fingerprints a run was planned with against the code it imported
itself (``check_planned_code``) before training it: a plug-in file edited between planning
and training would otherwise train under the name of the code it replaced.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from rmdbench.errors import UserError

if TYPE_CHECKING:
    from rmdbench.registry import Registry
    from rmdbench.run import RunSpec

#: the attribute ``rmdbench.plugins.load_plugin_file`` sets on a plug-in file's module: the
#: sha256 of the bytes it executed (the file may change on disk after it was loaded)
SOURCE_HASH_ATTRIBUTE = "__rmdbench_source_sha256__"
#: how many hex digits of a hash a fingerprint keeps (like a run name's)
DIGITS = 12
OWN_PACKAGE = "rmdbench"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_fingerprint(factory: object, base: type | None = None) -> str:
    """A short, stable fingerprint of the source that defines ``factory`` (a registered
    class or function): ``'<hash>'``, or ``'<distribution> <version> <hash>'`` when some
    of it comes from an installed package other than rmdbench. ``base``: the registry's
    base class, whose own module (the engine's contract) is left out."""
    modules = _defining_modules(factory, base)
    digest = hashlib.sha256()
    packages: dict[str, str] = {}
    for module in modules:
        digest.update(module.__name__.encode() + b"\0" + _module_hash(module, factory).encode())
        packages.update(_distribution(module))
    for name, version in sorted(packages.items()):
        digest.update(f"{name}=={version}".encode())
    versions = " ".join(f"{name} {version}" for name, version in sorted(packages.items()))
    return f"{versions} {digest.hexdigest()[:DIGITS]}".strip()


def _defining_modules(factory: object, base: type | None) -> list[ModuleType]:
    """The modules whose code makes ``factory``: its own, and for a class those of its
    ancestors above ``base`` (each once, in method-resolution order)."""
    classes = [factory]
    if isinstance(factory, type):
        ancestry = factory.__mro__
        if base is not None and base in ancestry:
            ancestry = ancestry[: ancestry.index(base)]
        classes = [klass for klass in ancestry if klass.__module__ != "builtins"]
    modules: dict[str, ModuleType] = {}
    for item in classes:
        name = getattr(item, "__module__", None) or ""
        module = sys.modules.get(name)
        if module is not None:
            modules.setdefault(name, module)
    return list(modules.values())


def _module_hash(module: ModuleType, factory: object) -> str:
    """The hash of the bytes a module was made from: a plug-in file's as executed, else
    its file's now; without a file (defined interactively), of the factory's source, or of
    its name when even that cannot be read (then an edit does not show)."""
    recorded = getattr(module, SOURCE_HASH_ATTRIBUTE, None)
    if isinstance(recorded, str):
        return recorded
    path = getattr(module, "__file__", None)
    if path:
        try:
            return sha256_hex(Path(path).read_bytes())
        except OSError:
            pass
    try:
        return sha256_hex(inspect.getsource(factory).encode())
    except (OSError, TypeError):
        return sha256_hex(f"{module.__name__}.{getattr(factory, '__qualname__', '')}".encode())


def _distribution(module: ModuleType) -> dict[str, str]:
    """{distribution: version} of the installed package a module belongs to; {} for
    rmdbench's own modules, plug-in files and modules of no installed distribution."""
    top = module.__name__.split(".")[0]
    if top == OWN_PACKAGE:
        return {}
    found = {}
    for name in _distributions_of().get(top, ()):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


@cache
def _distributions_of() -> dict[str, list[str]]:
    """Top-level import name -> the installed distributions providing it (read once: it
    scans every installed package's metadata)."""
    return metadata.packages_distributions()


class PlannedCodeChanged(UserError):
    """A run's method, noise model, backbone or dataset code is not the code its sweep was
    planned with (``spec.code``): the file changed between planning and training."""


def check_planned_code(spec: RunSpec) -> None:
    """Raise ``PlannedCodeChanged`` (one line: the component, its file and the fix) when
    the code this process would train ``spec`` with is not what the sweep planned, since
    the run's record and name would claim the planned code. A spec without ``code`` (not
    planned by a sweep) and a component not registered here (its run fails on that, by
    name) are not checked."""
    for component, planned in sorted(spec.code.items()):
        found = _planned_component(spec, component)
        if found is None:
            continue
        factory, base, what = found
        now = code_fingerprint(factory, base)
        if now != planned:
            files = ", ".join(_source_files(factory, base)) or "its source"
            raise PlannedCodeChanged(
                f"{what} changed since the sweep was planned ({files}: fingerprint "
                f"{planned}, now {now}); re-plan the sweep (run the same sweep command "
                "again) so its runs are named by the code they train with"
            )


def code_components() -> dict[str, tuple[Registry, type | None]]:
    """Each component a run's ``code`` fingerprints: its registry, and the base class its
    hash leaves out. One table for the sweep's plan, which writes ``spec.code``, and the
    worker, which checks it (``check_planned_code``): they must hash alike."""
    from rmdbench.backbones.base import Backbone
    from rmdbench.contracts.method import Method
    from rmdbench.contracts.noise_model import NoiseModel
    from rmdbench.registry import BACKBONES, DATASETS, METHODS, NOISE_MODELS

    return {
        "method": (METHODS, Method),
        "noise_model": (NOISE_MODELS, NoiseModel),
        "backbone": (BACKBONES, Backbone),
        "dataset": (DATASETS, None),
    }


def _planned_component(spec: RunSpec, component: str) -> tuple[object, type | None, str] | None:
    """The registered factory a ``spec.code`` entry fingerprints, the base class left out
    of its hash (as the sweep's plan hashed it) and its name in words; None when that
    name is not registered in this process, or the entry is not one of the four."""
    components = code_components()
    if component not in components:
        return None
    registry, base = components[component]
    name = getattr(spec, component)  # RunSpec names each component by its field
    if name not in registry:
        return None
    return registry.get(name), base, f"{registry.kind} '{name}'"


def _source_files(factory: object, base: type | None) -> list[str]:
    """The files whose bytes make ``factory``'s fingerprint (one for a plug-in file)."""
    return [
        str(module.__file__)
        for module in _defining_modules(factory, base)
        if getattr(module, "__file__", None)
    ]
