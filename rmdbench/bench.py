"""``rmdbench bench``: the cost of one training iteration per method, measured.

Every method runs the Trainer's own iteration on synthetic batches of the profile's size
(progress 0.5: ramps done, strong augmentation on — the regime of most of training). The
median over timed iterations (after warm-up, with a device synchronisation around each)
gives s/iteration and the ratio to ``single`` measured in the same run; a short
torch.profiler pass splits the iteration into data, forward (the method's step less
selection and augmentation), selection, augmentation, backward and optimiser.

It also reports the floor: the FLOPs of one iteration (``torch.utils.flop_counter``),
the GFLOP/s achieved, and their share of the machine's peak as a short matmul probe
measures it at start-up. With ``pack``, each method is also timed as K runs packed into
one vmapped step (``rmdbench.training.packing``), against K unpacked iterations.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from rmdbench.contracts.method import Method, MethodContext
from rmdbench.errors import UserError
from rmdbench.params import split_top_level
from rmdbench.plugins import load_builtins
from rmdbench.profiles import DEFAULT_BACKBONE, PRECISIONS, Profile, get_profile
from rmdbench.provenance import provenance
from rmdbench.registry import BACKBONES, METHODS
from rmdbench.training.packing import PackedMethods
from rmdbench.training.streams import RandomStreams
from rmdbench.training.trainer import DeviceData, Trainer

#: what ``rmdbench bench`` times when no methods are named
DEFAULT_METHODS = ("single", "coteaching", "jocor", "trinet", "rmd")
REGIONS = ("data", "step", "selection", "augmentation", "backward", "optimiser")
BREAKDOWN = ("data", "forward", "selection", "augmentation", "backward", "optimiser")
#: how the profiler's trace lines begin: torch 2.13's kineto writes 'USDT:<time> <pid>
#: SyncActivityProfilerHandler.cpp:52] profiler_start' (and _stop) at every profiled pass
PROFILER_TRACE_PREFIX = b"USDT:"


@dataclass(frozen=True)
class BenchSettings:
    warmup: int = 3
    iterations: int = 15
    profiled_iterations: int = 4
    progress: float = 0.5
    pack: tuple[int, ...] = ()  # run counts K to time packed (empty: unpacked only)


class BadPack(UserError):
    """A --pack count below 1."""

    def __init__(self, runs: int) -> None:
        self.runs = runs
        super().__init__(
            f"--pack counts runs per packed step: at least 1, got {runs}; e.g. --pack 1,2,4"
        )


class TooFewIterations(UserError):
    """Fewer than one timed iteration (the command line names its option)."""

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations
        super().__init__(f"iterations must be at least 1, got {iterations}")


def plan_bench(
    methods: list[str] | None,
    profile: str,
    *,
    iterations: int = BenchSettings.iterations,
    precision: str | None = None,
    compile_networks: bool = False,
    pack: list[int] | None = None,
) -> tuple[list[str], Profile, BenchSettings]:
    """The checked methods (repeated or comma-separated names; default
    :data:`DEFAULT_METHODS`), the profile with ``precision`` (default: the profile's) and
    ``compile_networks``, and the settings of a bench, before anything is timed."""
    load_builtins()
    texts = methods or [",".join(DEFAULT_METHODS)]
    names = [name for text in texts for name in split_top_level(text)]
    for name in names:
        METHODS.get(name)
    if iterations < 1:
        raise TooFewIterations(iterations)
    for runs in pack or []:
        if runs < 1:
            raise BadPack(runs)
    if precision is not None and precision not in PRECISIONS:
        raise UserError(f"unknown precision '{precision}'; use {' or '.join(PRECISIONS)}")
    chosen = get_profile(profile)
    if chosen.backbone != DEFAULT_BACKBONE:  # what bench_method builds: the paper's U-Net
        raise UserError(
            f"bench times the paper's U-Net, not backbone '{chosen.backbone}'; "
            "bench a profile without backbone=..."
        )
    chosen = dataclasses.replace(
        chosen, precision=precision or chosen.precision, compile=compile_networks
    )
    return names, chosen, BenchSettings(iterations=iterations, pack=tuple(sorted(set(pack or []))))


def synthetic_batch(profile: Profile, device: torch.device, seed: int = 0) -> DeviceData:
    """Disks on noise, one batch of the profile's shape (content does not change cost)."""
    generator = torch.Generator().manual_seed(seed)
    size, n = profile.crop_size, profile.batch_size
    grid = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij"))
    centres = size * (0.3 + 0.4 * torch.rand(n, 2, 1, 1, generator=generator))
    radius = size * (0.05 + 0.2 * torch.rand(n, 1, 1, generator=generator))
    masks = ((grid[None] - centres).square().sum(1) <= radius.square()).to(torch.uint8)
    images = (0.2 + 0.5 * masks + 0.05 * torch.randn(n, size, size, generator=generator)).clamp(
        0, 1
    )
    return DeviceData.from_arrays(images[:, None].numpy(), masks.numpy(), device)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_instance(name: str, profile: Profile, init_seed: int | None = None) -> Method:
    """Method ``name`` at its defaults on the paper's 2D U-Net of the profile's width, one
    input channel and one logit; with ``init_seed``, its networks start from that seed's
    weights (``MethodContext``), so packed runs are distinct runs."""
    backbone = BACKBONES.get("unet2d")
    context = MethodContext(
        build_backbone=lambda: backbone(1, 1, profile.base_width), init_seed=init_seed
    )
    return METHODS.get(name).create({}, context)


def bench_method(
    name: str, profile: Profile, device: torch.device, settings: BenchSettings
) -> dict[str, object]:
    """Median seconds per iteration, images/s, peak memory and the breakdown of one method."""
    torch.manual_seed(0)
    method = bench_instance(name, profile)
    trainer = Trainer.from_profile(profile, device)
    trainer.prepare(method)
    optimiser = trainer.make_optimiser(method)
    data = synthetic_batch(profile, device)
    batch = torch.arange(len(data), device=device)
    streams = RandomStreams.for_run(0, device)
    method.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def iteration() -> None:
        trainer.train_iteration(method, optimiser, data, batch, settings.progress, streams)

    seconds = median_seconds(iteration, device, settings)
    flops = flops_per_iteration(iteration)
    breakdown = profile_breakdown(iteration, device, settings.profiled_iterations)
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(device) / 2**20
        memory_kind = "peak GPU memory allocated"
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        memory_kind = "peak resident memory of the process"
    return {
        "method": name,
        "seconds_per_iteration": seconds,
        "images_per_second": profile.batch_size / seconds,
        "flops_per_iteration": flops,
        "achieved_gflops": flops / seconds / 1e9,
        "peak_memory_mb": peak_mb,
        "memory_kind": memory_kind,
        "breakdown_fraction": breakdown,
    }


def median_seconds(iteration, device: torch.device, settings: BenchSettings) -> float:
    """The median wall time of ``settings.iterations`` calls of ``iteration`` after
    ``settings.warmup`` untimed ones, the device synchronised around each call."""
    for _ in range(settings.warmup):
        iteration()
    times = []
    for _ in range(settings.iterations):
        _synchronise(device)
        start = time.perf_counter()
        iteration()
        _synchronise(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def profile_breakdown(iteration, device: torch.device, iterations: int) -> dict[str, float]:
    """Fractions of the iteration spent in each named region (device time on CUDA)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with _without_profiler_trace_lines(), profile(activities=activities) as profiler:
        for _ in range(iterations):
            iteration()
        _synchronise(device)
    totals = dict.fromkeys(REGIONS, 0.0)
    for event in profiler.key_averages():
        if event.key in totals:
            use_device = device.type == "cuda" and getattr(event, "device_time_total", 0) > 0
            totals[event.key] += event.device_time_total if use_device else event.cpu_time_total
    parts = {
        "data": totals["data"],
        "forward": max(totals["step"] - totals["selection"] - totals["augmentation"], 0.0),
        "selection": totals["selection"],
        "augmentation": totals["augmentation"],
        "backward": totals["backward"],
        "optimiser": totals["optimiser"],
    }
    whole = sum(parts.values()) or 1.0
    return {key: value / whole for key, value in parts.items()}


def flops_per_iteration(iteration) -> int:
    """Floating-point operations of one call of ``iteration`` (forward and backward), as
    torch's flop counter counts them (convolutions and matrix products)."""
    with FlopCounterMode(display=False) as counter:
        iteration()
    return int(counter.get_total_flops())


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype, seconds: float = 0.5) -> float:
    """What this device reaches on large square matrix products, in GFLOP/s: the
    practical peak the iterations' GFLOP/s are a share of."""
    size = 4096 if device.type == "cuda" else 1024
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _synchronise(device)
    products, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        products += 1
        if products % 4 == 0:
            _synchronise(device)
    _synchronise(device)
    return 2 * size**3 * products / (time.perf_counter() - start) / 1e9


def bench_packed(
    name: str, profile: Profile, device: torch.device, settings: BenchSettings, runs: int
) -> dict[str, object]:
    """Seconds per packed iteration of ``runs`` runs of one method (one vmapped step over
    stacked networks, one backward, one Adam), and the images per second it trains."""
    methods = [bench_instance(name, profile, init_seed=index) for index in range(runs)]
    trainer = Trainer.from_profile(profile, device)
    for method in methods:
        trainer.prepare(method)
        # vmap cannot query a channels-last tensor's layout on CUDA (BatchNorm asks)
        method.to(memory_format=torch.contiguous_format)
        method.train()
    packed = PackedMethods(methods)
    optimiser = torch.optim.Adam(packed.trainable, lr=profile.learning_rate)
    data = synthetic_batch(profile, device)
    images = data.images.unsqueeze(0).expand(runs, *data.images.shape).contiguous()
    labels = data.labels.unsqueeze(0).expand(runs, *data.labels.shape).contiguous()

    def iteration() -> None:
        with trainer.autocast():
            loss, _ = packed.training_step(images, labels, settings.progress)
        optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimiser.step()

    seconds = median_seconds(iteration, device, settings)
    return {
        "method": name,
        "runs": runs,
        "seconds_per_iteration": seconds,
        "images_per_second": runs * profile.batch_size / seconds,
    }


@contextlib.contextmanager
def _without_profiler_trace_lines() -> Iterator[None]:
    """Keep the profiler's trace lines (``PROFILER_TRACE_PREFIX``) out of the command's
    output: kineto writes them from C++ straight to the process's descriptors, where no
    Python setting reaches, and they are no result of the bench. While the block runs,
    descriptors 1 and 2 go to temporary files; afterwards everything else written there is
    passed on to the stream it was meant for. Without those descriptors, nothing is moved."""
    streams = {1: sys.stdout, 2: sys.stderr}
    with contextlib.ExitStack() as stack:
        moved: dict[int, tuple[int, object]] = {}
        try:
            for descriptor, stream in streams.items():
                stream.flush()
                capture = stack.enter_context(tempfile.TemporaryFile())
                moved[descriptor] = (os.dup(descriptor), capture)
                os.dup2(capture.fileno(), descriptor)
        except (OSError, ValueError):
            pass  # a descriptor the process does not have: leave the rest as it is
        try:
            yield
        finally:
            for descriptor, (saved, capture) in moved.items():
                streams[descriptor].flush()
                os.dup2(saved, descriptor)
                os.close(saved)
                capture.seek(0)
                kept = [
                    line
                    for line in capture.read().splitlines(keepends=True)
                    if not line.startswith(PROFILER_TRACE_PREFIX)
                ]
                if kept:
                    os.write(descriptor, b"".join(kept))


def run_bench(
    methods: list[str], profile: Profile, device: torch.device, settings: BenchSettings
) -> dict[str, object]:
    """Bench every method (``single`` first: it is the reference of the ratios), the
    machine's matmul peak, and with ``settings.pack`` each method packed K ways."""
    load_builtins()
    dtype = torch.bfloat16 if profile.precision == "bf16" else torch.float32
    peak = matmul_peak_gflops(device, dtype)
    ordered = ["single"] + [name for name in methods if name != "single"]
    rows = [bench_method(name, profile, device, settings) for name in ordered]
    reference = rows[0]["seconds_per_iteration"]
    for row in rows:
        row["ratio_to_single"] = row["seconds_per_iteration"] / reference
        row["peak_share"] = row["achieved_gflops"] / peak
    packed = []
    unpacked = {row["method"]: row for row in rows}
    for name in ordered:
        for runs in settings.pack:
            row = bench_packed(name, profile, device, settings, runs)
            alone = unpacked[name]
            row["gain_vs_unpacked"] = (
                runs * alone["seconds_per_iteration"] / row["seconds_per_iteration"]
            )
            row["achieved_gflops"] = (
                runs * alone["flops_per_iteration"] / row["seconds_per_iteration"] / 1e9
            )
            row["peak_share"] = row["achieved_gflops"] / peak
            packed.append(row)
    return {
        "profile": profile.as_dict(),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "settings": settings.__dict__,
        "provenance": provenance(device),
        "host": platform.node(),
        "matmul_peak_gflops": peak,
        "results": rows,
        "packed": packed,
    }


def write_bench(report: dict[str, object], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    profile = report["profile"]
    name = f"bench-{profile['name']}-{profile['precision']}-{report['device']}-{stamp}.json"
    path = directory / name
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
