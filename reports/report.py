"""``rmdbench report``: the markdown report of a run store (tables, footnote, plot)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rmdbench.metrics import CONVENTIONS

from .load import load_runs
from .plots import plot_metric_vs_ratio
from .tables import seeds_and_cases, summary_table

TABLE_METRICS = (("dsc", "DSC (higher is better)"), ("hd95", "HD95 in {unit} (lower is better)"))


def hd_unit(cases: pd.DataFrame) -> str:
    """Surface distances are in mm when every run knew its spacing (the metrics record it)."""
    units = set(cases["hd_unit"].unique()) if "hd_unit" in cases else {"mm"}
    return units.pop() if len(units) == 1 else "mixed units"


def footnote(cases: pd.DataFrame) -> str:
    seeds, per_run = seeds_and_cases(cases)
    spread = f"std over {seeds} seeds" if seeds > 1 else f"std over {per_run} test cases (1 seed)"
    profiles = ", ".join(sorted(cases["profile"].unique()))
    realised = cases.groupby("noise_ratio")["realised_noisy_dsc"].mean().dropna()
    noise = "; ".join(f"r={ratio:g}: {value:.3f}" for ratio, value in realised.items())
    lines = [
        f"Mean ± {spread}; {per_run} test cases per run; best of each column in bold.",
        f"Profile: {profiles}. Noise model(s): {', '.join(sorted(cases['noise_model'].unique()))}.",
        f"Realised noise (mean Dice of corrupted training masks vs clean): {noise or 'none'}.",
        f"Penalised cases (exactly one of prediction and truth empty): "
        f"{int(cases['empty_one'].sum())} of {len(cases)}; both empty: "
        f"{int(cases['empty_both'].sum())}.",
        "Conventions: " + " ".join(CONVENTIONS.split()),
    ]
    return "\n".join(f"> {line}" for line in lines)


def write_report(runs_dir: Path, out_dir: Path | None = None) -> Path:
    """Write ``report.md`` and ``dsc_vs_noise.png`` into ``out_dir`` (default: runs_dir)."""
    cases = load_runs(runs_dir)
    out_dir = Path(out_dir or runs_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = ["# rmdbench report", ""]
    for (dataset, noise_model), group in cases.groupby(["dataset", "noise_model"]):
        unit = hd_unit(group)
        for metric, title in TABLE_METRICS:
            sections += [
                f"## {dataset} · {noise_model} · {title.format(unit=unit)}",
                "",
                summary_table(group, metric).to_markdown(),
                "",
            ]
        sections += [footnote(group), ""]
    plot_path = plot_metric_vs_ratio(cases, out_dir / "dsc_vs_noise.png")
    sections += ["## DSC vs noise ratio", "", f"![DSC vs noise ratio]({plot_path.name})", ""]
    report_path = out_dir / "report.md"
    report_path.write_text("\n".join(sections))
    return report_path
