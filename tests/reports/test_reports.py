"""Reports: the tidy frame, tables (bold, lower-is-better, n, LaTeX), the statistics
against hand-made data, filters, every bad input, and the files ``rmdbench report`` writes.

The run store here is written directly, without training: predictions are the clean
toy-disks test masks degraded by a known amount per method, scored by the real metrics,
with the real noisy-label record, so every file is what a sweep would have written."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from rmdbench.cli import app
from rmdbench.metrics import CONVENTIONS, evaluate_cases
from rmdbench.noise import apply_noise
from rmdbench.params import build_params
from rmdbench.plugins import load_builtins
from rmdbench.profiles import get_profile
from rmdbench.registry import DATASETS, NOISE_MODELS
from rmdbench.reports.filters import apply_filters
from rmdbench.reports.report import ReportOptions, build_report
from rmdbench.reports.stats import (
    average_ranks,
    block_values,
    cliques,
    friedman,
    nemenyi_critical_difference,
    paired_wilcoxon,
)
from rmdbench.reports.store_reader import load_runs, load_store
from rmdbench.reports.tables import (
    build_table,
    latex_escape,
    to_latex,
    to_markdown,
    wilcoxon_markdown,
)
from rmdbench.run import RunSpec, noisy_example
from rmdbench.store import NOISY_EXAMPLE_FILE, RESULT_FILE, SPEC_FILE, write_json
from rmdbench.sweep import resolve_method, resolve_noise_model

RATIOS = (0.0, 0.4, 0.8)
SEEDS = (0, 1)
# how often a method's prediction of a test case is eroded, per noise ratio (a known ranking)
EROSION_RATE = {
    "single": 0.8,
    "coteaching": 0.5,
    "rmd": 0.1,
    "rmd[distill=false]": 0.3,
}


# -- a run store written by hand --------------------------------------------------------


def write_run(
    root,
    spec: RunSpec,
    cases: pd.DataFrame,
    predictions,
    case_ids,
    realised,
    conventions: str = CONVENTIONS,
    example: dict | None = None,
) -> None:
    """One run directory as rmdbench.run writes it (``example``: its noisy_example.npz)."""
    run_dir = root / spec.run_name
    run_dir.mkdir(parents=True)
    write_json(run_dir / SPEC_FILE, spec.as_dict())
    cases.to_parquet(run_dir / "cases.parquet", index=False)
    realised.to_parquet(run_dir / "noise.parquet", index=False)
    pd.DataFrame({"epoch": [0], "loss": [0.5]}).to_parquet(run_dir / "curve.parquet")
    np.savez_compressed(run_dir / "predictions.npz", predictions=predictions, case_ids=case_ids)
    if example is not None:
        np.savez_compressed(run_dir / NOISY_EXAMPLE_FILE, **example)
    corrupted = realised[realised["corrupted"]]
    noise = {
        "mean_noisy_dsc": float(corrupted["noisy_dsc"].mean()) if len(corrupted) else math.nan,
        "mean_train_dsc": float(realised["noisy_dsc"].mean()),
    }
    write_json(
        run_dir / RESULT_FILE,
        {
            "status": "done",
            "run_name": spec.run_name,
            "spec": spec.as_dict(),
            "summary": {"dsc": float(cases["dsc"].mean())},
            "noise": noise,
            "timings": {"seconds_per_iteration": 0.01},
            "conventions": conventions,
            "provenance": {
                "versions": {"torch": "2.x", "numpy": "2.x"},
                "device": "cpu",
                "git_revision": "abc",
            },
        },
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Four method settings x three ratios x two seeds on toy-disks, tiny profile."""
    load_builtins()
    root = tmp_path_factory.mktemp("runs")
    profile = get_profile("tiny")
    data = DATASETS.get("toy-disks")(crop_size=profile.crop_size)
    test = data.indices("test")[: profile.max_eval_cases]
    train_ids = set(data.case_ids[data.indices("train")[: profile.max_train_cases]])
    noise_name, preset, noise_params = resolve_noise_model("distortion")
    noise_class = NOISE_MODELS.get(noise_name)
    model = noise_class(build_params(noise_class.Params, noise_params, "noise"))
    for seed in SEEDS:
        for ratio in RATIOS:
            base = RunSpec(
                "toy-disks",
                noise_name,
                preset,
                noise_params,
                ratio,
                "x",
                {},
                seed,
                profile.as_dict(),
            )
            noisy = apply_noise(data, model, ratio, seed, base.severity_key)
            realised = noisy.realised
            realised = realised[realised["case_id"].isin(train_ids)].reset_index(drop=True)
            noisy = dataclasses.replace(noisy, realised=realised)  # as a run: cases trained on
            example = noisy_example(data, noisy) if ratio > 0 else None
            draws = np.random.default_rng([seed, int(10 * ratio)]).random(len(test))
            for text, rate in EROSION_RATE.items():
                name, params = resolve_method(text)
                spec = RunSpec(
                    "toy-disks",
                    noise_name,
                    preset,
                    noise_params,
                    ratio,
                    name,
                    params,
                    seed,
                    profile.as_dict(),
                )
                eroded = draws < rate * ratio + 0.05  # nested: a better method errs less
                predictions = np.array(
                    [
                        ndimage.binary_erosion(mask, iterations=2) if hit else mask
                        for mask, hit in zip(data.masks[test], eroded, strict=True)
                    ]
                ).astype(np.uint8)
                cases = evaluate_cases(
                    predictions, data.masks[test], data.spacing[test], data.case_ids[test]
                )
                cases["hd_unit"] = "mm"
                write_run(
                    root, spec, cases, predictions, data.case_ids[test], realised, example=example
                )
    return root


# -- the tidy frame -----------------------------------------------------------------------


def test_tidy_frame_has_every_spec_field_and_labels(store):
    cases = load_runs(store)
    assert (
        len(cases) == len(EROSION_RATE) * len(RATIOS) * len(SEEDS) * 14
    )  # toy-disks: 14 test cases
    for column in (
        "case_id",
        "dsc",
        "hd95",
        "dataset",
        "noise_model",
        "noise_ratio",
        "seed",
        "method",
        "profile",
        "profile.crop_size",
        "method.distill",
        "method.forget_rate",
        "noise.zoom_high",
        "realised_train_dsc",
    ):
        assert column in cases, column
    assert set(cases["method_label"]) == set(EROSION_RATE)
    ablation = cases[cases["method_label"] == "rmd[distill=false]"]
    assert set(ablation["method_variant"]) == {"distill=false"}
    assert not ablation["method.distill"].astype(bool).any()
    clean = cases[cases["noise_ratio"] == 0]
    assert (clean["realised_train_dsc"] == 1).all() and clean["realised_noisy_dsc"].isna().all()
    noisy = cases[cases["noise_ratio"] == 0.8]
    assert (noisy["realised_noisy_dsc"] < 1).all()


def test_filters_select_and_negate(store):
    cases = load_runs(store)
    assert set(apply_filters(cases, ["noise_ratio=0.4"])["noise_ratio"]) == {0.4}
    assert set(apply_filters(cases, ["method.distill=false"])["method_label"]) == {
        "rmd[distill=false]"
    }
    kept = apply_filters(cases, ["method!=single", "seed=0|1"])
    assert "single" not in set(kept["method"]) and set(kept["seed"]) == {0, 1}
    assert set(apply_filters(cases, ["method.distill="])["method"]) == {"single", "coteaching"}


# -- tables ---------------------------------------------------------------------------------


def synthetic(
    values: dict[str, list[float]], metric: str = "dsc", ratio: float = 0.8, seeds: int = 1
) -> pd.DataFrame:
    """Per-case rows of one setting: ``values[method]`` is the per-case metric, repeated
    (shifted by 0.01 per seed) for each seed."""
    rows = []
    for method, numbers in values.items():
        for seed in range(seeds):
            for index, value in enumerate(numbers):
                rows.append(
                    {
                        "method_label": method,
                        "noise_ratio": ratio,
                        "seed": seed,
                        "case_id": f"c{index}",
                        "run": f"{method}-{seed}",
                        metric: value + 0.01 * seed,
                    }
                )
    return pd.DataFrame(rows)


def test_table_bolds_the_best_higher_or_lower_and_counts_n():
    # run scores: a 0.80, 0.81, 0.82 over three seeds; every bootstrap resample's mean lies
    # in [0.80, 0.82] and the all-0.80 / all-0.82 resamples each have probability 1/27 >
    # 2.5%, so the percentile interval is exactly the range
    frame = synthetic({"a": [0.8, 0.9, 0.7], "b": [0.5, 0.6, 0.4]}, "dsc", seeds=3)
    markdown = to_markdown(build_table(frame, "dsc", "t"))
    assert "| a | **0.810 [0.800, 0.820]** |" in markdown
    assert "| b | 0.510 [0.500, 0.520] |" in markdown
    table = build_table(frame, "dsc", "t")
    assert table.uniform_n == 3
    assert "n = 3" in table.spread_note()

    # one seed: its test cases are no sample of retrainings, so no interval at all
    distances = synthetic({"a": [3.0, 4.0], "b": [1.0, 2.0]}, "hd95")
    markdown = to_markdown(build_table(distances, "hd95", "t"))
    assert "| b | **1.50 (n=1, no CI)** |" in markdown and "| a | 3.50 (n=1, no CI) |" in markdown
    assert build_table(distances, "hd95", "t").uniform_n == 1


def test_table_shows_n_per_cell_when_it_varies():
    frame = pd.concat(
        [synthetic({"a": [0.8, 0.9]}, seeds=3), synthetic({"b": [0.5, 0.6]}, seeds=4)]
    )
    markdown = to_markdown(build_table(frame, "dsc", "t"))
    assert "] (n=3)" in markdown and "] (n=4)" in markdown  # a: 3 seeds, b: 4


def test_latex_table_is_booktabs_balanced_and_escaped():
    frame = synthetic({"rmd[data_aug=false]": [0.8, 0.9], "single": [0.5, 0.6]})
    tests = paired_wilcoxon(frame, "dsc", "single")
    latex = to_latex(
        build_table(frame, "dsc", "toy_disks · DSC", significance=tests, reference="single"),
        footnote="p < 0.05 & more",
    )
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{lc}"):
        assert rule in latex
    assert latex.count("{") == latex.count("}")
    assert "rmd[data\\_aug=false]" in latex and "toy\\_disks" in latex
    assert "_" not in latex.replace("\\_", "")
    assert "\\textbf{0.850 (n=1, no CI)}" in latex
    assert "$<$" in latex and "\\&" in latex
    assert latex_escape("a%b#c") == "a\\%b\\#c"


def test_latex_table_compiles(tmp_path):
    """With a TeX engine installed, the table compiles in a minimal booktabs document."""
    engine = next((name for name in ("pdflatex", "lualatex") if shutil.which(name)), None)
    if engine is None:
        pytest.skip("no TeX engine (pdflatex or lualatex) on this machine")
    frame = synthetic({"rmd[data_aug=false]": [0.8, 0.9], "single": [0.5, 0.6]})
    table = to_latex(build_table(frame, "dsc", "toy_disks · DSC"), footnote="p < 0.05 & more")
    document = tmp_path / "table.tex"
    document.write_text(
        "\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{booktabs}\n"
        "\\usepackage{newunicodechar}\n\\newunicodechar{·}{\\ensuremath{\\cdot}}\n"
        f"\\begin{{document}}\n{table}\n\\end{{document}}\n"
    )
    result = subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", document.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]


# -- statistics -----------------------------------------------------------------------------


def test_wilcoxon_marks_the_clearly_different_method_only():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.6, 0.8, 20)
    frame = synthetic(
        {
            "ref": list(reference),
            "better": list(reference + 0.05 + rng.normal(0, 0.005, 20)),
            "same": list(reference + rng.normal(0, 0.02, 20)),
        }
    )
    tests = paired_wilcoxon(frame, "dsc", "ref").set_index("row")
    assert tests.loc["better", "n_pairs"] == 20
    assert tests.loc["better", "p_holm"] < 0.001 and tests.loc["better", "significant"]
    assert tests.loc["same", "p_holm"] > 0.05 and not tests.loc["same", "significant"]
    # Holm: the smallest of two p-values is doubled
    assert tests.loc["better", "p_holm"] == pytest.approx(2 * tests.loc["better", "p"])
    table = build_table(frame, "dsc", "t", significance=tests.reset_index(), reference="ref")
    # the per-case test marks its own table ("these trained networks, per case") ...
    per_case = wilcoxon_markdown(table, tests.reset_index())
    better = next(line for line in per_case.splitlines() if line.startswith("| better"))
    same = next(line for line in per_case.splitlines() if line.startswith("| same"))
    assert better.endswith("\\* |") and not same.endswith("\\* |")
    # ... never the headline: one seed is one run per method, nothing to say about retraining
    markdown = to_markdown(table)
    assert "| better | **" in markdown and "†" not in markdown
    assert table.cells.set_index("row").loc["better", "wilcoxon_significant"]
    assert table.rows[-1] == "ref"  # the reference comes last, as "ours" in the paper


def test_wilcoxon_of_identical_results_is_p_one():
    frame = synthetic({"ref": [0.5, 0.6, 0.7], "twin": [0.5, 0.6, 0.7]})
    tests = paired_wilcoxon(frame, "dsc", "ref")
    assert tests["p"].tolist() == [1.0] and not tests["significant"].any()


def friedman_frame() -> pd.DataFrame:
    """Four blocks (ratios), three methods; ranks by hand: A 1,1,1,2; B 2,2,3,1; C 3,3,2,3."""
    values = {"A": [0.9, 0.8, 0.7, 0.5], "B": [0.8, 0.7, 0.4, 0.6], "C": [0.7, 0.6, 0.5, 0.4]}
    rows = [
        {
            "method_label": method,
            "noise_ratio": ratio,
            "seed": 0,
            "case_id": "c0",
            "dataset": "d",
            "run": f"{method}{ratio}",
            "dsc": value,
        }
        for method, numbers in values.items()
        for ratio, value in zip((0.0, 0.2, 0.4, 0.6), numbers, strict=True)
    ]
    return pd.DataFrame(rows)


def test_friedman_average_ranks_by_hand():
    frame = friedman_frame()
    result = friedman(frame, "dsc")
    assert result.average_ranks.to_dict() == {"A": 1.25, "B": 2.0, "C": 2.75}
    assert result.n_blocks == 4 and result.k == 3
    # chi2_F = 12 N / (k (k+1)) * (sum R_j^2 - k (k+1)^2 / 4) = 4 * (13.125 - 12) = 4.5
    assert result.statistic == pytest.approx(4.5)
    # HD95-like metrics rank the other way round
    hd = frame.rename(columns={"dsc": "hd95"})
    ranks = average_ranks(block_values(hd, "hd95"), "hd95").mean()
    assert ranks.to_dict() == {"A": 2.75, "B": 2.0, "C": 1.25}


def test_nemenyi_critical_difference_by_hand():
    # Demsar (2006), Table 5: q_0.05 = 2.343 for k = 3; CD = q sqrt(k (k+1) / (6 N))
    assert nemenyi_critical_difference(3, 10) == pytest.approx(2.343 * math.sqrt(12 / 60), abs=1e-3)
    assert nemenyi_critical_difference(3, 10) == pytest.approx(1.048, abs=1e-3)
    ranks = pd.Series({"A": 1.0, "B": 1.5, "C": 2.9})
    assert cliques(ranks, 1.0) == [["A", "B"]]


# -- the report and its command line ---------------------------------------------------------


def test_report_writes_tables_statistics_and_figures(store, tmp_path):
    out = tmp_path / "report"
    report = build_report(store, out, ReportOptions(table_format="latex"))
    text = report.path.read_text()
    assert "### toy-disks · distortion · DSC (higher is better)" in text
    assert "| method | r=0 | r=0.4 | r=0.8 |" in text
    assert "| rmd | " in text and "rmd[distill=false]" not in text.split("## Ablation")[0]
    assert "†" in text and "Holm-corrected" in text
    assert "## Ablation: rmd" in text and "| distill=false |" in text
    assert "Friedman χ²" in text and "CD = " in text
    assert "Realised noise (mean Dice of corrupted training masks vs clean): r=0.4: 0." in text
    assert "Conventions: " in text and "Profile: tiny (crop 32" in text
    assert "Packages: numpy 2.x, torch 2.x" in text
    for name in (
        "dsc_vs_noise.png",
        "box_dsc.png",
        "realised_noise_dsc.png",
        "cd_dsc.png",
        "hd95_vs_noise.png",
        "qualitative.png",
        "tables.tex",
    ):
        assert (out / name).stat().st_size > 500, name
        assert name in text
    latex = (out / "tables.tex").read_text()
    assert latex.count("\\begin{table}") == 4  # DSC and HD95, main and ablation
    assert latex.count("{") == latex.count("}")
    # single is clearly worse than rmd at r=0.8 in this store, per case: the Wilcoxon table
    # marks it; but two seeds give no interval over runs, so the headline never does
    rows = [line for line in text.splitlines() if line.startswith("| single |")]
    assert rows[0].endswith("(n=2, no CI) |") and "†" not in rows[0]
    per_case = text.split("#### These trained networks, per case")[1]
    single = next(line for line in per_case.splitlines() if line.startswith("| single |"))
    assert single.endswith("\\* |")
    assert "Seed power: the sd of paired seed differences against rmd" in text
    assert "## Memorisation" in text


def no_noise_regeneration(monkeypatch) -> dict:
    """Reports read noise from the store: apply_noise fails, the figure's panels are kept."""

    def refuse(*args, **kwargs):
        raise AssertionError("a report regenerated noisy labels")

    monkeypatch.setattr("rmdbench.noise.apply_noise", refuse)
    drawn: dict = {}
    from rmdbench.reports import qualitative

    def keep(panels, path, options=None):
        drawn.update(panels)
        return plot_qualitative(panels, path, options)

    plot_qualitative = qualitative.plot_qualitative
    monkeypatch.setattr(qualitative, "plot_qualitative", keep)
    return drawn


def test_qualitative_figure_shows_the_stored_noisy_example(store, tmp_path, monkeypatch):
    drawn = no_noise_regeneration(monkeypatch)
    report = build_report(store, tmp_path, ReportOptions(metrics=("dsc",)))
    text = report.path.read_text()
    assert "last row: one corrupted training case with the noisy label" in text
    assert not [note for note in report.notes if "noisy" in note]
    assert (tmp_path / "qualitative.png").stat().st_size > 500
    # the figure: r=0.8, seed 0, the first method's run (coteaching) and its stored example
    run_dir = next(store.glob("coteaching-*-r0.8-s0-*"))
    with np.load(run_dir / NOISY_EXAMPLE_FILE) as stored:
        example = dict(stored)
    assert [name for name in drawn if name.startswith("train")] == [f"train {example['case_id']}"]
    row = drawn[f"train {example['case_id']}"]
    np.testing.assert_array_equal(row[1][1], example["clean_mask"])
    np.testing.assert_array_equal(row[2][1], example["noisy_mask"])
    assert row[2][0] == f"noisy label\nDice {float(example['noisy_dsc']):.2f} vs clean"


def test_runs_without_a_stored_noisy_example_get_a_note(store, tmp_path, monkeypatch, runner):
    """Runs made before runs stored noisy_example.npz: no such row, a note, no crash."""
    drawn = no_noise_regeneration(monkeypatch)
    root = tmp_path / "runs"
    shutil.copytree(store, root)
    for path in root.glob(f"*/{NOISY_EXAMPLE_FILE}"):
        path.unlink()
    report = build_report(root, tmp_path / "out", ReportOptions(metrics=("dsc",)))
    text = report.path.read_text()
    assert [note for note in report.notes if "no noisy training example" in note]
    section = text.split("### Qualitative examples")[1].split("## Provenance")[0]
    assert "![qualitative examples](qualitative.png)" in section
    assert "No noisy training example: these runs were made before" in section
    assert "last row" not in section
    assert drawn and not [name for name in drawn if name.startswith("train")]
    assert (tmp_path / "out" / "qualitative.png").stat().st_size > 500
    result = runner.invoke(app, ["report", str(root), "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "note: qualitative figure: no noisy training example" in result.output


def test_cli_report_csv_and_metric(store, runner, tmp_path):
    result = runner.invoke(
        app,
        [
            "report",
            str(store),
            "--out",
            str(tmp_path),
            "--format",
            "csv",
            "--metric",
            "iou",
            "--reference",
            "single",
            "--filter",
            "noise_ratio=0|0.8",
            "--no-qualitative",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "tables.csv")
    assert set(rows["metric"]) == {"iou"} and set(rows["noise_ratio"]) == {0.0, 0.8}
    assert {"mean", "std", "n", "best", "marked", "p_holm"} <= set(rows.columns)
    assert "IoU (higher is better)" in (tmp_path / "report.md").read_text()


def test_missing_reference_is_a_note_not_an_error(store, runner, tmp_path):
    result = runner.invoke(
        app,
        [
            "report",
            str(store),
            "--out",
            str(tmp_path),
            "--reference",
            "jocor",
            "--metric",
            "dsc",
            "--no-qualitative",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "reference method 'jocor' is not among the runs" in result.output
    text = (tmp_path / "report.md").read_text()
    assert "No significance marks" in text and "†" not in text.split("## Ablation")[0]


def clone(store, tmp_path, count: int = 3):
    """A copy of the first ``count`` runs, to spoil."""

    target = tmp_path / "copy"
    for run_dir in sorted(store.iterdir())[:count]:
        shutil.copytree(run_dir, target / run_dir.name)
    return target


def respec(run_dir, change, target=None):
    """The run of ``run_dir`` as if a sweep had made it with ``change`` applied to its spec:
    the record moves to (a copy at) the changed spec's run name, its identity updated."""
    result = json.loads((run_dir / RESULT_FILE).read_text())
    change(result["spec"])
    name = RunSpec(**result["spec"]).run_name
    result["run_name"] = name
    new_dir = (target or run_dir.parent) / name
    if target is None:
        run_dir.rename(new_dir)
    else:
        shutil.copytree(run_dir, new_dir)
    (new_dir / RESULT_FILE).write_text(json.dumps(result))
    write_json(new_dir / SPEC_FILE, result["spec"])
    return new_dir


def test_mixed_conventions_is_exit_2(store, runner, tmp_path):
    target = clone(store, tmp_path)
    path = next(target.glob(f"*/{RESULT_FILE}"))
    result = json.loads(path.read_text())
    result["conventions"] = "DSC pooled over a batch (legacy)"
    path.write_text(json.dumps(result))
    outcome = runner.invoke(app, ["report", str(target)])
    assert outcome.exit_code == 2
    assert outcome.output.startswith("error: runs use different metric conventions")
    assert len(outcome.output.strip().splitlines()) == 1


def test_duplicate_runs_are_exit_2(store, runner, tmp_path):
    target = clone(store, tmp_path, 1)
    run_dir = next(target.iterdir())
    respec(run_dir, lambda spec: spec.update(spec_version=99), target)
    outcome = runner.invoke(app, ["report", str(target)])
    assert outcome.exit_code == 2 and "spec_version" in outcome.output


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--filter", "noise_model=erosion_dilation"], "matches no runs; 'noise_model' takes"),
        (["--filter", "colour=red"], "unknown column 'colour'"),
        (["--filter", "no operator"], "write COLUMN=VALUE"),
        (["--metric", "hd99"], "unknown metric hd99"),  # nsd is a metric now
        (["--format", "docx"], "unknown format 'docx'"),
        (["--evaluate", "best"], "unknown evaluation rule 'best'"),
        (["--evaluate", "best-clean-val"], "have no 'best-clean-val' evaluation"),
    ],
)
def test_bad_report_options_are_one_line_and_exit_2(store, runner, tmp_path, arguments, message):
    result = runner.invoke(app, ["report", str(store), "--out", str(tmp_path), *arguments])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert not (tmp_path / "report.md").exists()


def test_empty_and_foreign_directories_are_exit_2(runner, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    foreign = tmp_path / "foreign"
    (foreign / "something").mkdir(parents=True)
    (foreign / "notes.txt").write_text("hello")
    alien = tmp_path / "alien"
    (alien / "run").mkdir(parents=True)
    (alien / "run" / RESULT_FILE).write_text(json.dumps({"accuracy": 0.9}))
    for directory, message in (
        (empty, "no finished runs"),
        (foreign, "no finished runs"),
        (alien, "not an rmdbench run record"),
        (tmp_path / "missing", "does not exist"),
    ):
        result = runner.invoke(app, ["report", str(directory)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and message in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_store_keeps_realised_noise_per_training_case(store):
    loaded = load_store(store)
    assert set(loaded.realised.columns) >= {"run", "case_id", "corrupted", "noisy_dsc"}
    assert loaded.realised.groupby("run").size().eq(64).all()


def test_a_filter_that_keeps_only_cases_without_a_number_is_reported(store, tmp_path):
    """A run whose DSC is NaN for every case is damaged (skipped when read); a --filter can
    still keep only such cases of good runs: the figures leave out the boxes without a
    number instead of failing."""
    target = clone(store, tmp_path, 6)
    for path in target.glob("*/cases.parquet"):
        cases = pd.read_parquet(path)
        cases.loc[cases["case_id"] == cases["case_id"].iloc[0], "dsc"] = math.nan
        cases.to_parquet(path, index=False)
    first = pd.read_parquet(next(target.glob("*/cases.parquet")))["case_id"].iloc[0]
    options = ReportOptions(metrics=("dsc",), qualitative=False, filters=(f"case_id={first}",))
    report = build_report(target, tmp_path / "out", options)
    assert (tmp_path / "out" / "box_dsc.png") in report.files
    assert "nan" in report.path.read_text()


def test_runs_of_one_profile_name_with_other_values_get_their_own_tables(store, tmp_path):
    target = clone(store, tmp_path, 6)
    for path in list(target.glob(f"*/{RESULT_FILE}"))[:3]:
        respec(path.parent, lambda spec: spec["profile"].update(epochs=50))
    cases = load_runs(target)
    assert set(cases["profile_setting"]) == {"tiny[epochs=8]", "tiny[epochs=50]"}
    report = build_report(
        target, tmp_path / "out", ReportOptions(metrics=("dsc",), qualitative=False)
    )
    text = report.path.read_text()
    assert "### toy-disks · distortion · profile tiny[epochs=50] · DSC" in text


def test_summary_table_for_the_sweep_terminal(store):
    from rmdbench.reports.tables import summary_table

    table = summary_table(load_runs(store), "dsc")
    assert list(table.columns) == ["r=0", "r=0.4", "r=0.8"]
    assert set(table.index) == set(EROSION_RATE) and table.index.name == "method"


def test_clean_runs_are_shown_for_every_noise_setting_and_counted_once(store, tmp_path):
    """A sweep trains r=0 once: a noise model with only noisy runs borrows the clean ones."""
    root = tmp_path / "runs"
    shutil.copytree(store, root)
    noise_name, preset, noise_params = resolve_noise_model("erosion_dilation")
    for run_dir in list(store.glob("*-r0.4-*")):
        spec = RunSpec(**json.loads((run_dir / SPEC_FILE).read_text()))
        other = dataclasses.replace(
            spec, noise_model=noise_name, noise_preset=preset, noise_params=noise_params
        )
        cases = pd.read_parquet(run_dir / "cases.parquet")
        realised = pd.read_parquet(run_dir / "noise.parquet").assign(noise_model=noise_name)
        saved = np.load(run_dir / "predictions.npz")
        write_run(root, other, cases, saved["predictions"], saved["case_ids"], realised)
    data = load_store(root)
    frame = data.cases
    borrowed = frame[frame["shared_clean"]]
    assert set(borrowed["noise_setting"]) == {"erosion_dilation"}
    assert set(borrowed["noise_ratio"]) == {0.0}
    original = frame[(frame["noise_setting"] == "distortion") & (frame["noise_ratio"] == 0)]
    key = ["method_label", "seed", "case_id"]
    pd.testing.assert_series_equal(
        borrowed.sort_values(key)["dsc"].reset_index(drop=True),
        original.sort_values(key)["dsc"].reset_index(drop=True),
    )
    full = friedman(frame, "dsc")
    without_copies = friedman(frame[~frame["shared_clean"]], "dsc")
    assert full.n_blocks == without_copies.n_blocks  # the copies add no block
    out = tmp_path / "report"
    text = build_report(root, out, ReportOptions()).path.read_text()
    assert "r=0 shows the clean-label runs of distortion" in text


def test_nsd_tables_only_when_asked_with_their_convention(store, tmp_path):
    """New runs carry NSD; a report shows it (and NSD's convention) under --metric nsd only,
    so the default report reads as before NSD existed."""
    from rmdbench.metrics import NSD_CONVENTION

    convention = " ".join(NSD_CONVENTION.split())
    default = build_report(store, tmp_path / "default", ReportOptions(qualitative=False))
    assert "NSD" not in default.path.read_text()
    options = ReportOptions(metrics=("dsc", "nsd"), qualitative=False)
    text = build_report(store, tmp_path / "nsd", options).path.read_text()
    assert "### toy-disks · distortion · NSD at 1 mm (higher is better)" in text
    assert convention in text


def test_runs_stored_before_nsd_load_and_report_as_before(store, runner, tmp_path):
    """A cases table without the nsd column (every run stored before NSD) is a done run,
    reported like one with it; asking it for NSD is one line naming what it has."""
    from rmdbench.store import RunState, check_record

    target = clone(store, tmp_path, count=len(list(store.iterdir())))
    for path in target.glob("*/cases.parquet"):
        pd.read_parquet(path).drop(columns="nsd").to_parquet(path, index=False)
    assert {check_record(run).state for run in target.iterdir()} == {RunState.DONE}
    options = ReportOptions(qualitative=False)
    old = build_report(target, tmp_path / "old", options).path.read_text()
    new = build_report(store, tmp_path / "new", options).path.read_text()
    assert old.replace(str(target), "STORE") == new.replace(str(store), "STORE")
    outcome = runner.invoke(app, ["report", str(target), "--metric", "nsd", "--no-qualitative"])
    assert outcome.exit_code == 2
    assert "unknown metric nsd; the runs have: dsc, iou, hd95, assd" in outcome.output
    assert len(outcome.output.strip().splitlines()) == 1
