"""Does training in bf16 change the verdict? The same seed-paired runs trained in fp32 and
in bf16 (``--precision bf16``), compared by test DSC with 95 % bootstrap intervals over
seeds and the paired bf16 - fp32 difference per seed.

    python benchmarks/bf16_dsc.py train --out runs-bf16 [--ratios 0,0.8] [--seeds 0,1,2]
    python benchmarks/bf16_dsc.py compare runs-bf16 [more stores] [--result benchmarks/]

``train`` runs ``rmdbench sweep`` in this process (the inline executor) once per precision.
On a CPU without AVX512_BF16 or AMX, rmdbench refuses bf16 (emulated, it is several times
slower than fp32). ``--emulate`` lifts that refusal for this process only, to measure
bf16's *numerics*: emulated bf16 rounds the same tensors to bf16 at the same points as
native bf16 and only accumulates in another order (as a change of thread count does), so
its DSC answers "does bf16 change the scores"; its timings answer nothing and are not
compared. To use two cores, run ``train`` twice with different ``--ratios`` and
``--out``, then ``compare`` both stores.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

import rmdbench
from rmdbench.reports.runstats import Interval, bootstrap_mean, format_interval


def allow_emulated_bf16() -> None:
    """Make this process's precision check treat the CPU as having native bf16."""
    from rmdbench.training import precision

    precision.cpu_has_native_bf16 = lambda flags=None: True


def train(arguments: argparse.Namespace) -> None:
    from rmdbench.cli.app import app

    if arguments.emulate:
        allow_emulated_bf16()
    for precision in ("fp32", "bf16"):
        command = [
            "sweep",
            "--profile", arguments.profile,
            "--precision", precision,
            "--methods", arguments.methods,
            "--noise-model", arguments.noise_model,
            "--noise", arguments.ratios,
            "--seeds", arguments.seeds,
            "--executor", "inline",
            "--device", "cpu",
            "--out", str(arguments.out),
        ]  # fmt: skip
        app(command, standalone_mode=False)


def run_scores(stores: list[Path]) -> pd.DataFrame:
    """One row per run: method, ratio, seed, precision, test DSC (mean over cases) and
    seconds per iteration."""
    rows = []
    for store in stores:
        cases = rmdbench.load_runs(store)
        per_run = cases.groupby("run", sort=True).agg(
            method=("method", "first"),
            ratio=("noise_ratio", "first"),
            seed=("seed", "first"),
            precision=("profile.precision", "first"),  # absent (NaN) in fp32 runs
            dsc=("dsc", "mean"),
        )
        for run, row in per_run.iterrows():
            timings = json.loads((store / run / "result.json").read_text())["timings"]
            rows.append({**row.to_dict(), "run": run, "s_per_it": timings["seconds_per_iteration"]})
    frame = pd.DataFrame(rows)
    if "precision" in frame:
        frame["precision"] = frame["precision"].fillna("fp32")
    return frame


def as_dict(interval: Interval) -> dict:
    return {"mean": interval.estimate, "low": interval.low, "high": interval.high, "n": interval.n}


def compare(arguments: argparse.Namespace) -> None:
    scores = run_scores(arguments.stores)
    if scores.empty:
        raise SystemExit("no finished runs in " + ", ".join(map(str, arguments.stores)))
    cells, lines = [], []
    lines.append(
        "| method | r | seeds | fp32 DSC [95 % CI] | bf16 DSC [95 % CI] | bf16 - fp32 [95 % CI] |"
    )
    lines.append("|---|---|---|---|---|---|")
    for (method, ratio), cell in scores.groupby(["method", "ratio"], sort=True):
        wide = cell.pivot_table(index="seed", columns="precision", values="dsc")
        wide = wide.dropna()
        if not {"fp32", "bf16"} <= set(wide.columns):
            continue
        fp32, bf16 = bootstrap_mean(wide["fp32"]), bootstrap_mean(wide["bf16"])
        difference = bootstrap_mean(wide["bf16"] - wide["fp32"])
        cells.append(
            {
                "method": method,
                "ratio": float(ratio),
                "seeds": [int(seed) for seed in wide.index],
                "fp32": as_dict(fp32),
                "bf16": as_dict(bf16),
                "bf16_minus_fp32": as_dict(difference),
                "per_seed": {str(int(s)): dict(row) for s, row in wide.iterrows()},
            }
        )
        lines.append(
            f"| {method} | {ratio:g} | {len(wide)} | {format_interval(fp32, 3)} | "
            f"{format_interval(bf16, 3)} | {format_interval(difference, 3)} |"
        )
    table = "\n".join(lines)
    print(table)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    report = {
        "what": "test DSC of seed-paired runs trained in fp32 and bf16",
        "stores": [str(store) for store in arguments.stores],
        "machine": platform.processor() or platform.machine(),
        "median_seconds_per_iteration": scores.groupby(["method", "precision"])["s_per_it"]
        .median()
        .unstack()
        .to_dict(),
        "cells": cells,
        "table": table,
    }
    path = arguments.result / f"bf16-dsc-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=_plain) + "\n")
    print(f"wrote {path}")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    trainer = commands.add_parser("train", help="train the fp32 and bf16 runs")
    trainer.add_argument("--out", type=Path, required=True)
    trainer.add_argument("--profile", default="quick")
    trainer.add_argument("--methods", default="single")
    trainer.add_argument("--noise-model", default="distortion")
    trainer.add_argument("--ratios", default="0,0.8")
    trainer.add_argument("--seeds", default="0,1,2")
    trainer.add_argument("--emulate", action="store_true", help="allow emulated bf16")
    comparer = commands.add_parser("compare", help="compare the runs of one or more stores")
    comparer.add_argument("stores", type=Path, nargs="+")
    comparer.add_argument("--result", type=Path, default=Path("benchmarks"))
    arguments = parser.parse_args()
    {"train": train, "compare": compare}[arguments.command](arguments)


if __name__ == "__main__":
    main()
