"""Whether a device computes in bf16 natively, so that ``precision=bf16`` is a speed-up.

A CPU without AVX512_BF16 or AMX still runs bf16 autocast, but by emulation: measured on
an AVX2-only EPYC, a width-16 U-Net iteration took 15-30x longer than in fp32
(docs/performance.md). So bf16 is refused there instead of silently being slow.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rmdbench.errors import PrecisionUnsupported

#: CPU flags (as /proc/cpuinfo names them) that give native bf16 dot products
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags from ``cpuinfo`` (Linux); empty when it cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16(flags: set[str] | None = None) -> bool:
    """AVX512_BF16 or AMX in the CPU's flags (read from /proc/cpuinfo when not given)."""
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def bf16_unsupported_reason(device: torch.device, flags: set[str] | None = None) -> str | None:
    """Why ``device`` cannot train in bf16 at speed, or None when it can."""
    if device.type == "cuda":
        if torch.cuda.get_device_capability(device) >= (8, 0):  # Ampere and newer
            return None
        name = torch.cuda.get_device_name(device)
        return f"GPU {name} has no native bf16 (it needs Ampere or newer)"
    if device.type == "cpu":
        if cpu_has_native_bf16(flags):
            return None
        return (
            "this CPU has neither AVX512_BF16 nor AMX, so bf16 would only be emulated "
            "(slower than fp32)"
        )
    return f"bf16 is not checked on device type '{device.type}'"


def check_precision(precision: str, device: torch.device, flags: set[str] | None = None) -> None:
    """Refuse ``precision='bf16'`` on a device without native bf16 (``PrecisionUnsupported``,
    one line naming the fix)."""
    if precision != "bf16":
        return
    reason = bf16_unsupported_reason(device, flags)
    if reason is not None:
        raise PrecisionUnsupported(
            f"precision bf16 refused: {reason}; use --precision fp32", device.type
        )


def check_precision_here(precision: str, device: torch.device, executor: str) -> None:
    """``check_precision`` before a sweep trains, on the device this machine resolved;
    skipped for SLURM, whose nodes may have another device (each run checks its own)."""
    if executor != "slurm":
        check_precision(precision, device)
