"""The GPU bench of docs/performance.md through the Python API, for a lent machine where
the command line cannot be installed (no typer, no package index): every method on the
quick and paper profiles, fp32 and bf16, unpacked and packed K in {1, 4, 16}, each bench
written as JSON under $OUT. ``benchmarks/gpu_check.sh`` is the same check through the CLI.

    OUT=benchmarks python benchmarks/gpu_bench_api.py SECONDS
"""

import os
import sys
import time
import traceback
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401 - imported before rmdbench (imported later, it failed there)

from rmdbench.bench import plan_bench, run_bench, write_bench


def main() -> None:
    out = Path(os.environ.get("OUT", "benchmarks"))
    deadline = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 600)
    for profile in ("quick", "paper"):
        for precision in ("fp32", "bf16"):
            if time.time() > deadline:
                print("skipped (time)", profile, precision, flush=True)
                continue
            try:
                names, chosen, settings = plan_bench(
                    None, profile, iterations=10, precision=precision, pack=[1, 4, 16]
                )
                report = run_bench(names, chosen, torch.device("cuda"), settings)
                print(profile, precision, write_bench(report, out), flush=True)
            except Exception:  # noqa: BLE001 - one profile failing leaves the others
                traceback.print_exc()


if __name__ == "__main__":
    main()
