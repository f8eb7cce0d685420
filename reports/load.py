"""Run store -> one tidy pandas DataFrame: a row per run x test case, with every spec
field as a column."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rmdbench.errors import UserError
from rmdbench.store import RESULT_FILE

SPEC_COLUMNS = (
    "dataset",
    "noise_model",
    "noise_preset",
    "noise_ratio",
    "method",
    "seed",
    "backbone",
)


def read_result(run_dir: Path) -> dict:
    return json.loads((run_dir / RESULT_FILE).read_text())


def load_runs(root: Path, run_names: set[str] | None = None) -> pd.DataFrame:
    """Every done run under ``root`` (or only ``run_names``) as per-case rows."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"runs directory '{root}' does not exist; run 'rmdbench sweep' first")
    frames = []
    for result_path in sorted(root.glob(f"*/{RESULT_FILE}")):
        run_dir = result_path.parent
        if run_names is not None and run_dir.name not in run_names:
            continue
        result = json.loads(result_path.read_text())
        spec = result["spec"]
        cases = pd.read_parquet(run_dir / "cases.parquet")
        for column in SPEC_COLUMNS:
            cases[column] = spec[column]
        cases["profile"] = spec["profile"]["name"]
        cases["method_params"] = json.dumps(spec["method_params"], sort_keys=True)
        cases["run"] = run_dir.name
        cases["seconds_per_iteration"] = result["timings"]["seconds_per_iteration"]
        cases["realised_noisy_dsc"] = result["noise"].get("mean_noisy_dsc")
        frames.append(cases)
    if not frames:
        raise UserError(f"no finished runs in '{root}'; run 'rmdbench sweep --out {root}' first")
    return pd.concat(frames, ignore_index=True)
