"""What produced a run: versions, device and source revision, stored with every result."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

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
    """The commit of the source tree rmdbench runs from, when it is a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def device_description(device: torch.device) -> str:
    """The GPU's name, or the CPU with the torch thread count the run trained with (called
    while the executor's count for the run is still set)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    unit = "thread" if threads == 1 else "threads"
    return f"cpu ({platform.processor() or platform.machine()}, {threads} {unit})"


def provenance(device: torch.device) -> dict:
    return {
        "versions": package_versions(),
        "device": device_description(device),
        "torch_threads": torch.get_num_threads(),
        "git_revision": git_revision(),
        "platform": platform.platform(),
    }
