"""What the loss-term diagnostics cost a run: time one training iteration with and without
the gradient-share measurement, interleaved (so a loaded machine slows both alike), and
scale the extra time by how often it is taken (SAMPLES_PER_EPOCH of an epoch's iterations).

    python benchmarks/diagnostics_cost.py --profile quick --methods rmd,jocor,coteaching
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rmdbench.bench import synthetic_batch
from rmdbench.contracts.method import MethodContext
from rmdbench.plugins import load_builtins
from rmdbench.profiles import get_profile
from rmdbench.registry import BACKBONES, METHODS
from rmdbench.training.diagnostics import SAMPLES_PER_EPOCH
from rmdbench.training.streams import RandomStreams
from rmdbench.training.trainer import Trainer

#: training cases of lidc-phantom: 947, so 59 iterations per epoch at batch 16
TRAIN_CASES = 947


def time_method(name: str, profile_text: str, repeats: int) -> dict[str, float]:
    profile = get_profile(profile_text)
    device = torch.device("cpu")
    backbone = BACKBONES.get("unet2d")
    context = MethodContext(lambda: backbone(1, 1, profile.base_width), init_seed=0)
    method = METHODS.get(name).create({}, context)
    trainer = Trainer.from_profile(profile, device)
    trainer.prepare(method)
    optimiser = trainer.make_optimiser(method)
    data = synthetic_batch(profile, device)
    batch = torch.arange(len(data))
    streams = RandomStreams.for_run(0, device)
    method.train()
    plain, diagnosed = [], []
    for index in range(2 * repeats + 4):
        diagnose = index % 2 == 1
        start = time.perf_counter()
        trainer.train_iteration(method, optimiser, data, batch, 0.5, streams, diagnose)
        if index >= 4:  # warm-up
            (diagnosed if diagnose else plain).append(time.perf_counter() - start)
    per_epoch = TRAIN_CASES // profile.batch_size
    extra = statistics.median(diagnosed) / statistics.median(plain) - 1
    return {
        "plain_s": statistics.median(plain),
        "diagnosed_s": statistics.median(diagnosed),
        "extra_per_diagnosed_iteration": extra,
        "run_overhead": extra * min(SAMPLES_PER_EPOCH, per_epoch) / per_epoch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--methods", default="rmd,jocor,coteaching")
    parser.add_argument("--repeats", type=int, default=15)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    load_builtins()
    print(f"profile {arguments.profile}, 1 thread, {arguments.repeats} iterations each way")
    print("method | plain s/it | diagnosed s/it | extra per diagnosed it | run overhead")
    for name in arguments.methods.split(","):
        row = time_method(name, arguments.profile, arguments.repeats)
        print(
            f"{name} | {row['plain_s']:.3f} | {row['diagnosed_s']:.3f} | "
            f"{row['extra_per_diagnosed_iteration']:+.0%} | {row['run_overhead']:.2%}"
        )


if __name__ == "__main__":
    main()
