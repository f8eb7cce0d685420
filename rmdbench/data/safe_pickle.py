"""Loading a pickle someone else made without letting it run code.

Unpickling calls whatever functions the file names (``os.system``, ``builtins.eval``, ...),
so ``pickle.load`` on a downloaded file runs the file's author's code. The unpickler here
resolves only the globals that numpy arrays, numpy scalars and dtypes need to be rebuilt,
plus harmless builtin containers and scalars; every other global is refused before it is
called, with a one-line :class:`UntrustedPickle` naming it. Dicts, lists, tuples, strings,
bytes, numbers, booleans and None need no global and load as usual.

What is trusted is therefore *what these globals do*, not the file: a hostile file can still
be wrong or huge (its contents are checked by the format that reads it), but it cannot run
code while it loads.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from types import ModuleType
from typing import IO, Any

from rmdbench.errors import UserError

#: numpy's own module of these functions moved from numpy.core (1.x) to numpy._core (2.x);
#: a pickle names whichever module its writer's numpy had.
NUMPY_CORE_PACKAGES = ("numpy.core", "numpy._core")
NUMPY_CORE_GLOBALS = {
    "multiarray": ("_reconstruct", "scalar"),  # ndarray.__reduce__, numpy scalars
    "numeric": ("_frombuffer",),  # ndarray.__reduce_ex__ for protocol 5
}
NUMPY_GLOBALS = ("ndarray", "dtype")
#: builtins a pickle names by module (``__builtin__`` in protocol 0-2 files)
BUILTIN_GLOBALS = ("set", "frozenset", "bytes", "bytearray", "complex")
#: ``_codecs.encode`` rebuilds ``bytes`` in protocol 0-2 files, always with latin1
LATIN1_NAMES = ("latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1")


class UntrustedPickle(UserError):
    """A pickle names a global this loader does not rebuild (``global_name``, as
    ``module.name``): loading it would run code, so the file is refused before anything
    of it is called. ``source`` is the file as named in the message."""

    def __init__(self, message: str, source: str = "", global_name: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.global_name = global_name


def _numpy_core(submodule: str) -> ModuleType:
    """numpy's ``_core.<submodule>`` (numpy 2), else ``core.<submodule>`` (numpy 1): the
    installed numpy's own objects, whichever name the file used, without importing the
    deprecated alias."""
    try:
        return importlib.import_module(f"numpy._core.{submodule}")
    except ImportError:  # numpy 1.x without the forward-compatible names
        return importlib.import_module(f"numpy.core.{submodule}")


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol 0-2 pickles use it (bytes from latin1 text), and only
    that: another codec is refused rather than looked up."""
    if str(encoding).lower().replace("_", "-") not in LATIN1_NAMES or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with codec '{encoding}' is not rebuilt")
    return text.encode("latin1", errors)


def allowed_globals() -> dict[tuple[str, str], Callable[[], Any]]:
    """(module, name) as a pickle writes it -> how to get the object, resolved only when a
    file asks for it."""
    import builtins

    import numpy

    table: dict[tuple[str, str], Callable[[], Any]] = {}
    for package in NUMPY_CORE_PACKAGES:
        for submodule, names in NUMPY_CORE_GLOBALS.items():
            for name in names:
                table[(f"{package}.{submodule}", name)] = lambda sub=submodule, attr=name: getattr(
                    _numpy_core(sub), attr
                )
    for name in NUMPY_GLOBALS:
        table[("numpy", name)] = lambda attr=name: getattr(numpy, attr)
    for module in ("builtins", "__builtin__"):
        for name in BUILTIN_GLOBALS:
            table[(module, name)] = lambda attr=name: getattr(builtins, attr)
    table[("_codecs", "encode")] = lambda: _latin1_encode
    return table


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` hands out only :func:`allowed_globals`.

    Every opcode that calls or instantiates something gets its callable from
    ``find_class`` (GLOBAL, STACK_GLOBAL, INST, OBJ via a class, EXT via the copyreg
    registry), so a refused name is never called; persistent ids stay unsupported."""

    def __init__(self, file: IO[bytes], source: str) -> None:
        super().__init__(file)
        self.source = source
        self._allowed = allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        resolve = self._allowed.get((module, name))
        if resolve is None:
            raise UntrustedPickle(
                f"{self.source}: refused to load '{module}.{name}': this pickle asks to run "
                "code, so the file is not trusted (only numpy arrays, numbers, strings and "
                "containers are rebuilt)",
                self.source,
                f"{module}.{name}",
            )
        return resolve()


def safe_load(handle: IO[bytes], source: str) -> Any:
    """The object pickled in ``handle``, built without running code the file names.
    ``source`` names the file in errors. Raises :class:`UntrustedPickle` for a refused
    global, and what ``pickle.load`` raises for a damaged file."""
    return RestrictedUnpickler(handle, source).load()
