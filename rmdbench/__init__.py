"""rmdbench: noise-robust segmentation benchmarks on imperfect annotations.

From Python, a run store (or a compact copy of one) reads as tidy pandas frames:
``rmdbench.load_runs(path)``, one row per test case per run, and
``rmdbench.load_curves(path)``, one row per epoch per run (``rmdbench.results``).
"""

from importlib import metadata

try:
    __version__ = metadata.version("rmdbench")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"

__all__ = ["__version__", "load_curves", "load_runs"]


def __getattr__(name: str) -> object:
    """``load_runs`` and ``load_curves`` on first use: ``import rmdbench`` (which every
    command and every worker does) stays free of pandas until they are asked for."""
    if name in ("load_runs", "load_curves"):
        from rmdbench import results

        return getattr(results, name)
    raise AttributeError(f"module 'rmdbench' has no attribute '{name}'")
