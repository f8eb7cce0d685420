"""What produced a run: versions, device and source revision, stored with every result."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

from rmdbench import __version__

PACKAGES = ("rmdbench", "torch", "numpy", "scipy", "pandas", "monai", "scikit-image")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_revision() -> str | None:
    """The commit of rmdbench's own source tree when it runs from a git checkout (an
    editable install); None otherwise: installed from a wheel (even into a folder inside
    some other repository, whose commit is not rmdbench's), a copy without ``.git``, or
    no ``git`` that answers (not installed, or refusing a repository of another owner)."""
    root = Path(__file__).resolve().parent.parent  # a checkout holds rmdbench/ at its top
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != root:
        return None
    return lines[1]


def source_revision(revision: str | None) -> str:
    """What source rmdbench runs from, for every run's record and the report's header:
    the git commit of a checkout (``revision``, from ``git_revision``), else
    ``rmdbench <version>``. Records made before this was kept have only ``git_revision``,
    None whenever git did not answer: their reports say 'unknown'."""
    return revision or f"rmdbench {__version__}"


def device_description(device: torch.device) -> str:
    """The GPU's name, or the CPU with the torch thread count the run trained with (called
    while the executor's count for the run is still set)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    unit = "thread" if threads == 1 else "threads"
    return f"cpu ({platform.processor() or platform.machine()}, {threads} {unit})"


def provenance(device: torch.device) -> dict:
    revision = git_revision()
    return {
        "versions": package_versions(),
        "device": device_description(device),
        "torch_threads": torch.get_num_threads(),
        "git_revision": revision,
        "source": source_revision(revision),
        "platform": platform.platform(),
    }
