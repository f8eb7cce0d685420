"""rmdbench: noise-robust segmentation benchmarks on imperfect annotations."""

from importlib import metadata

try:
    __version__ = metadata.version("rmdbench")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"
