"""Is bf16 autocast a speed-up on this CPU? One quick-profile U-Net iteration (width 16,
64² crops, batch 16, forward + backward, channels-last) timed in fp32 and in bf16,
interleaved so that load on the machine hits both alike. ``rmdbench`` refuses bf16 on a
CPU without AVX512_BF16/AMX; this probe measures what that refusal saves.

    python benchmarks/bf16_probe.py [--threads 2] [--out benchmarks/]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from rmdbench.backbones.unet import UNet2D
from rmdbench.training.precision import cpu_flags, cpu_has_native_bf16


def iteration_seconds(network, images, bf16: bool) -> float:
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = network(images)
    logits.float().mean().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks"))
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(0)
    network = UNet2D(1, 1, 16).to(memory_format=torch.channels_last)
    images = torch.rand(16, 1, 64, 64).contiguous(memory_format=torch.channels_last)
    for bf16 in (False, True):  # warm-up
        iteration_seconds(network, images, bf16)
    times = {"fp32": [], "bf16": []}
    for _ in range(arguments.rounds):
        times["fp32"].append(iteration_seconds(network, images, False))
        times["bf16"].append(iteration_seconds(network, images, True))
    medians = {key: statistics.median(values) for key, values in times.items()}
    flags = cpu_flags()
    report = {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": cpu_has_native_bf16(flags),
        "avx512_flags": sorted(flag for flag in flags if flag.startswith(("avx512", "amx"))),
        "threads": arguments.threads,
        "host": platform.node(),
        "seconds_per_iteration": medians,
        "bf16_slowdown": medians["bf16"] / medians["fp32"],
        "all_seconds": times,
    }
    arguments.out.mkdir(parents=True, exist_ok=True)
    path = arguments.out / f"bf16-probe-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({key: report[key] for key in list(report)[:8]}, indent=2))
    print(f"bf16 / fp32 time: {report['bf16_slowdown']:.1f}x; wrote {path}")


if __name__ == "__main__":
    main()
