"""``rmdbench report``: a run store -> report.md (tables in the paper's layout whose
statistics are over runs: means over seeds with bootstrap intervals, P(better than the
reference) over seed-paired runs, a seed-power line, and the per-case Wilcoxon tests as a
secondary table; ablation tables, Friedman ranks over runs, memorisation curves, figures,
footnotes with conventions, profile, realised noise and package versions), the same as a
self-contained report.html (sortable tables, figures embedded), plus tables.tex /
tables.csv on request. Figures are PNG, with PDF and SVG beside them by default
(``--figure-formats``)."""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rmdbench.errors import UserError
from rmdbench.metrics import CONVENTIONS, METRIC_KEYS, NSD_CONVENTION, NSD_TOLERANCE_MM

from .filters import apply_filters
from .html import write_html
from .loss_terms import inactive_notes, loss_term_lines, term_activity
from .memorisation import memorisation_lines
from .plots import (
    BAND_CAPTION,
    plot_case_boxes,
    plot_critical_difference,
    plot_metric_vs_ratio,
    plot_realised_noise,
)
from .runstats import CONFIDENCE, MIN_PAIRS_TO_CALL, MIN_RUNS
from .stats import (
    ALPHA,
    friedman,
    paired_wilcoxon,
    pooled_improvement,
    power_line,
    probability_of_improvement,
    seed_power,
)
from .store_reader import RunStoreData, check_conventions, check_duplicates, load_store
from .style import FIGURE_FORMATS, FigureOptions, figure_files, method_colours
from .tables import (
    MetricTable,
    build_table,
    hd_unit,
    improvement_markdown,
    improvement_text,
    latex_document,
    lower_is_better,
    setting_groups,
    to_latex,
    to_markdown,
    to_rows,
    wilcoxon_markdown,
)
from .tuned import mark_tuned, tuned_note

FORMATS = ("md", "latex", "csv")
#: what drawing the qualitative figure may raise on a missing dataset or a damaged .npz
#: (the figure is then skipped with a note; the tables stand without it)
QUALITATIVE_ERRORS = (
    UserError,
    OSError,
    KeyError,
    ValueError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
)
DEFAULT_METRICS = ("dsc", "hd95")
#: a git commit as ``git rev-parse`` writes it (a recorded source that is not a version)
GIT_COMMIT = re.compile(r"[0-9a-f]{40}")
METRIC_NAMES = {"dsc": "DSC", "iou": "IoU", "hd95": "HD95", "assd": "ASSD", "nsd": "NSD"}


@dataclass
class ReportOptions:
    """What the command line chooses; the defaults make the paper's report."""

    table_format: str = "md"
    reference: str = "rmd"
    filters: Sequence[str] = ()
    metrics: Sequence[str] = DEFAULT_METRICS
    qualitative: bool = True
    alpha: float = ALPHA
    evaluate: str = "last"  # the evaluation rule (rmdbench.store.EVALUATION_RULES)
    figure_formats: Sequence[str] = FIGURE_FORMATS  # png always; pdf, svg beside it


@dataclass
class Report:
    """What was written, for the command to print."""

    path: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def metric_title(metric: str, unit: str) -> str:
    base, _, label = metric.partition("_class")
    name = METRIC_NAMES.get(base, base.upper()) + (f" class {label}" if label else "")
    if base in ("hd95", "assd"):
        name += f" in {unit}"
    if base == "nsd":
        name += f" at {NSD_TOLERANCE_MM:g} {unit}"
    return f"{name} ({'lower' if lower_is_better(metric) else 'higher'} is better)"


def check_format(options: ReportOptions) -> None:
    """The table format is known; the figure formats are known and include png (what
    report.md and report.html show)."""
    if options.table_format not in FORMATS:
        raise UserError(f"unknown format '{options.table_format}'; choose one of: md, latex, csv")
    unknown = [fmt for fmt in options.figure_formats if fmt not in FIGURE_FORMATS]
    if unknown:
        raise UserError(
            f"unknown figure format '{unknown[0]}'; choose from: {', '.join(FIGURE_FORMATS)}, "
            "e.g. --figure-formats png,pdf"
        )
    if "png" not in options.figure_formats:
        raise UserError(
            "--figure-formats must include png (report.md and report.html show the PNGs), "
            "e.g. --figure-formats png,svg"
        )


def check_options(cases: pd.DataFrame, options: ReportOptions) -> None:
    """Metrics must be per-case columns the runs have."""
    if not options.metrics:
        raise UserError("no metric chosen; pass e.g. --metric dsc")
    known = [
        column
        for column in cases.columns
        if column in METRIC_KEYS or column.split("_class")[0] in METRIC_KEYS
    ]
    unknown = [metric for metric in options.metrics if metric not in known]
    if unknown:
        raise UserError(f"unknown metric {', '.join(unknown)}; the runs have: {', '.join(known)}")


def split_ablations(cases: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Main rows (each method at its defaults, or its variants when it was never run at
    its defaults) and, per method run with several hyper-parameter settings including its
    defaults, the rows of its ablation table."""
    ablations = {}
    main = cases
    for method, group in cases.groupby("method"):
        variants = set(group["method_variant"])
        if len(variants) > 1 and "default" in variants:
            ablations[method] = group
            main = main[(main["method"] != method) | (main["method_variant"] == "default")]
    return main, ablations


@dataclass
class Comparisons:
    """One table's comparisons against its reference: P(better) per ratio and pooled over
    the ratios (over seed-paired runs), the per-case Wilcoxon tests, and ``missing``, the
    sentence that replaces them when there is nothing to compare with."""

    reference: str
    shown_as: str  # how footnotes name the reference ('rmd', 'rmd (default)')
    improvement: pd.DataFrame | None = None
    pooled: pd.DataFrame | None = None
    wilcoxon: pd.DataFrame | None = None
    missing: str = ""


def compare(
    group: pd.DataFrame, metric: str, reference: str, row: str, alpha: float, shown_as: str
) -> Comparisons:
    """Every row label of one table against ``reference``: over runs and over cases."""
    found = Comparisons(reference, shown_as)
    if reference not in set(group[row]):
        found.missing = (
            f"No significance marks: the reference '{shown_as}' has no runs in this table "
            "(choose another with --reference)."
        )
        return found
    found.improvement = probability_of_improvement(group, metric, reference, row)
    if found.improvement.empty:
        found.missing = f"No significance marks: nothing to pair with '{shown_as}'."
        return found
    found.pooled = pooled_improvement(group, metric, reference, row)
    found.wilcoxon = paired_wilcoxon(group, metric, reference, row=row, alpha=alpha)
    return found


def _headline_footnote(table: MetricTable, comparisons: Comparisons) -> str:
    """What the cells, bold, † and ‡ of the headline table mean."""
    spread = table.spread_note()
    best = "lowest" if lower_is_better(table.metric) else "highest"
    text = f"{spread[0].upper()}{spread[1:]}; bold: {best} in its column."
    if comparisons.missing:
        text += f" {comparisons.missing}"
    else:
        text += (
            f" † P({table.row_title} better than {comparisons.shown_as}) over seed-paired runs "
            f"(same setting, ratio and seed; ties count ½) has a {CONFIDENCE:.0%} bootstrap CI "
            f"excluding 0.5 over at least {MIN_PAIRS_TO_CALL} pairs (not corrected for the "
            f"number of comparisons); with fewer than {MIN_RUNS} pairs there is no CI, and "
            f"with fewer than {MIN_PAIRS_TO_CALL} no mark."
        )
    note = tuned_note(table.tuned_rules)
    return f"{text} {note}".strip()


def _comparison_blocks(table: MetricTable, comparisons: Comparisons, alpha: float) -> list[str]:
    """The P(better) table and, secondary, the per-case Wilcoxon table under a headline."""
    if comparisons.missing:
        return []
    metric, shown = table.metric.upper(), comparisons.shown_as
    pairs = int(comparisons.wilcoxon["n_pairs"].median()) if len(comparisons.wilcoxon) else 0
    return [
        f"#### P({table.row_title} better than {shown}) · over seed-paired runs",
        "",
        improvement_markdown(table, comparisons.improvement, comparisons.pooled),
        "",
        f"> The fraction of seed-paired runs (same setting, ratio and seed) in which the "
        f"{table.row_title} scored better {metric} than {shown} (ties ½), with a "
        f"{CONFIDENCE:.0%} percentile-bootstrap CI over the pairs; 'all r': every pair of the "
        f"table, resampled within each ratio (one seed's runs at several ratios share their "
        f"initial weights, so read it as optimistic). † the CI excludes 0.5 over at least "
        f"{MIN_PAIRS_TO_CALL} pairs: the difference is called (an exact sign test cannot "
        f"reject 0.5 with fewer, even when every pair agrees). Fewer than {MIN_RUNS} pairs "
        "(seeds) in a cell or ratio: no CI.",
        "",
        f"#### These trained networks, per case · paired Wilcoxon against {shown}",
        "",
        wilcoxon_markdown(table, comparisons.wilcoxon),
        "",
        f"> Median per-case difference ({table.row_title} − {shown}) and Holm-corrected p of "
        f"a two-sided paired Wilcoxon signed-rank test on per-case {metric} (pairs: the same "
        f"test case and seed, median {pairs} pairs), Holm-corrected over the "
        f"{len(comparisons.wilcoxon)} comparisons of this table; \\* p < {alpha:g}. It asks "
        "whether these particular trained networks differ on these test cases, not whether "
        "the method wins when trained again: that is the question of the tables above.",
        "",
    ]


@dataclass
class TableOutput:
    """Every table of the report once more, for tables.tex and tables.csv."""

    latex: list[str] = field(default_factory=list)
    rows: list[pd.DataFrame] = field(default_factory=list)


def _setting_tables(
    group: pd.DataFrame,
    title: str,
    store: RunStoreData,
    options: ReportOptions,
    tables: TableOutput,
    ablation_of: str | None = None,
) -> list[str]:
    """The tables of one setting, one headline per metric with its comparisons and seed
    power, then the setting's footnote. Rows are the methods, compared with
    ``options.reference``; in the ablation of a method, its variants, compared with its
    defaults."""
    reference, row, order, row_title = options.reference, "method_label", None, "method"
    shown_as = reference
    if ablation_of is not None:
        reference, row, order, row_title = "default", "method_variant", ["default"], "variant"
        shown_as = f"{ablation_of} (default)"
    unit = hd_unit(group)
    lines = []
    for metric in options.metrics:
        comparisons = compare(group, metric, reference, row, options.alpha, shown_as)
        table = build_table(
            group,
            metric,
            f"{title} · {metric_title(metric, unit)}",
            significance=comparisons.wilcoxon,
            reference=reference,
            row=row,
            order=order,
            row_title=row_title,
            improvement=comparisons.improvement,
        )
        footnote = _headline_footnote(table, comparisons)
        paired_with = None if comparisons.missing else shown_as
        power = power_line(
            seed_power(group, metric, None if comparisons.missing else reference, row),
            metric,
            paired_with,
        )
        lines += [f"### {table.title}", "", to_markdown(table), "", f"> {footnote}", ">"]
        lines += [f"> {power}", "", *_comparison_blocks(table, comparisons, options.alpha)]
        tables.latex.append(to_latex(table, f"{footnote} {power}"))
        tables.rows.append(to_rows(table))
    return [*lines, *setting_footnote(group, store, options.metrics), ""]


def setting_footnote(
    group: pd.DataFrame, store: RunStoreData, metrics: Sequence[str] = ()
) -> list[str]:
    """The conventions, profile and realised noise under a setting's tables; NSD's
    convention only under tables of NSD (so reports without it read as before)."""
    runs = group.drop_duplicates("run")
    realised = runs.groupby("noise_ratio")["realised_noisy_dsc"].mean().dropna()
    noise = "; ".join(f"r={ratio:g}: {value:.3f}" for ratio, value in realised.items())
    train = runs.groupby("noise_ratio")["realised_train_dsc"].mean().dropna()
    all_masks = "; ".join(f"r={ratio:g}: {value:.3f}" for ratio, value in train.items())
    per_run = int(group.groupby("run").size().median())
    lines = [
        f"{per_run} test cases per run; seeds: "
        f"{', '.join(str(seed) for seed in sorted(group['seed'].unique()))}.",
        f"Profile: {describe_profiles(runs, store)}.",
        f"Realised noise (mean Dice of corrupted training masks vs clean): {noise or 'none'}.",
        f"Mean Dice of all training masks vs clean (label quality trained on): "
        f"{all_masks or 'not recorded'}.",
        f"Penalised cases (exactly one of prediction and truth empty): "
        f"{int(group['empty_one'].sum())} of {len(group)}; both empty: "
        f"{int(group['empty_both'].sum())}.",
        "Conventions: " + " ".join(CONVENTIONS.split()),
    ]
    if any(metric.split("_class")[0] == "nsd" for metric in metrics):
        lines[-1] += " " + " ".join(NSD_CONVENTION.split())
    if "shared_clean" in group and group["shared_clean"].any():
        shared = set(group.loc[group["shared_clean"], "run"])
        sources = sorted(
            set(
                store.cases.loc[
                    store.cases["run"].isin(shared) & ~store.cases["shared_clean"], "noise_setting"
                ]
            )
        )
        lines.insert(
            0,
            f"r=0 shows the clean-label runs of {', '.join(sources)}: at r=0 no label is "
            "corrupted, so every noise model trains on the same labels (trained once).",
        )
    return [f"> {line}" for line in lines]


def describe_profiles(runs: pd.DataFrame, store: RunStoreData) -> str:
    """'tiny (crop 32, width 4, batch 8, 8 epochs, <= 64 train / 16 eval cases)'."""
    texts = []
    for run in runs.drop_duplicates("profile")["run"]:
        profile = store.results[run]["spec"].get("profile")
        profile = profile if isinstance(profile, dict) else {}
        parts = [
            f"crop {profile.get('crop_size')}",
            f"U-Net width {profile.get('base_width')}",
            f"batch {profile.get('batch_size')}",
            f"{profile.get('epochs')} epochs",
            f"lr {profile.get('learning_rate')}",
        ]
        if profile.get("max_train_cases"):
            parts.append(f"≤{profile['max_train_cases']} training cases")
        if profile.get("max_eval_cases"):
            parts.append(f"≤{profile['max_eval_cases']} val/test cases")
        texts.append(f"{profile.get('name', '?')} ({', '.join(parts)})")
    return "; ".join(texts)


def _provenance(result: dict) -> dict:
    provenance = result.get("provenance")
    return provenance if isinstance(provenance, dict) else {}


def source_revision(provenance: dict) -> str:
    """A run's source as the report names it: the git commit (12 digits) or the version
    (``rmdbench 0.1.0``) it recorded as ``source``; for a record made before that was kept,
    its ``git_revision``, or 'unknown' when it has none."""
    source = provenance.get("source")
    if isinstance(source, str) and source:
        return source[:12] if GIT_COMMIT.fullmatch(source) else source
    return str(provenance.get("git_revision") or "unknown")[:12]


def source_revisions(store: RunStoreData) -> list[str]:
    """The distinct sources of the runs, sorted."""
    return sorted({source_revision(_provenance(result)) for result in store.results.values()})


def source_header(store: RunStoreData) -> list[str]:
    """The header's line naming the source the runs were made with: when any run recorded
    it (``provenance.source``); a store of older records renders as before, without it."""
    if not any("source" in _provenance(result) for result in store.results.values()):
        return []
    return [f"Source revision(s): {', '.join(source_revisions(store))}.", ""]


def provenance_lines(store: RunStoreData) -> list[str]:
    """Package versions, devices and source revisions of the runs (from result.json)."""
    versions: dict[str, set[str]] = {}
    devices = set()
    for result in store.results.values():
        provenance = _provenance(result)
        versions_of_run = provenance.get("versions")
        for name, version in (versions_of_run if isinstance(versions_of_run, dict) else {}).items():
            versions.setdefault(name, set()).add(str(version))
        devices.add(str(provenance.get("device", "unknown")))
    revisions = source_revisions(store)
    packages = ", ".join(
        f"{name} {' / '.join(sorted(values))}" + (" (mixed)" if len(values) > 1 else "")
        for name, values in sorted(versions.items())
    )
    return [
        f"- Packages: {packages or 'not recorded'}",
        f"- Device(s): {', '.join(sorted(devices))}",
        f"- Source revision(s): {', '.join(revisions)}",
    ]


def friedman_section(
    cases: pd.DataFrame,
    metric: str,
    out_dir: Path,
    alpha: float,
    reference: str | None = None,
    figures: FigureOptions | None = None,
) -> tuple[list[str], list[Path]]:
    """Average ranks over blocks of runs, the Friedman test, a critical-difference diagram
    and P(better than ``reference``) pooled over every setting."""
    result = friedman(cases, metric, alpha=alpha)
    heading = f"### Average ranks · {metric_title(metric, hd_unit(cases))}"
    pooled = pooled_lines(cases, metric, reference)
    if result is None:
        return [
            heading,
            "",
            "Too few methods or blocks to rank (need 2 methods in 2 blocks).",
            "",
            *pooled,
        ], []
    lines = [heading, "", "| method | average rank |", "|:---|---:|"]
    lines += [f"| {name} | {rank:.2f} |" for name, rank in result.average_ranks.items()]
    test = (
        f"Friedman χ² = {result.statistic:.2f}, p = {result.p_value:.3g}"
        if not math.isnan(result.p_value)
        else "no Friedman test"
    )
    lines += [
        "",
        f"> Rank 1 = best; blocks are runs, not test cases: one block per dataset × noise "
        f"setting × ratio × seed (N = {result.n_blocks}), each method scored by its run's mean "
        f"over test cases; k = {result.k} methods. {test}. Nemenyi critical "
        f"difference at α = {alpha:g}: CD = {result.critical_difference:.2f} — methods whose "
        "average ranks differ by less are joined in the diagram (not significantly different). "
        "Blocks of one seed at several ratios share test cases, so they are not independent; "
        "read the test as descriptive."
        + "".join(f" {note.capitalize()}." for note in result.notes),
        "",
    ]
    path = plot_critical_difference(result, out_dir / f"cd_{metric}.png", figures)
    lines += [f"![critical-difference diagram, {metric}]({path.name})", "", *pooled]
    return lines, [path]


def pooled_lines(cases: pd.DataFrame, metric: str, reference: str | None) -> list[str]:
    """P(better than ``reference``) over every seed-paired run of every setting, the
    bootstrap stratified over (setting, ratio); clean runs shown twice count once."""
    if "shared_clean" in cases:
        cases = cases[~cases["shared_clean"]]
    if reference is None or reference not in set(cases["method_label"]):
        return []
    pooled = pooled_improvement(cases, metric, reference, "method_label")
    if pooled.empty:
        return []
    lines = [
        f"#### P(method better than {reference}) · every setting",
        "",
        f"| method | P(better than {reference}) |",
        "|:---|---:|",
    ]
    lines += [
        f"| {line['row']} | {improvement_text(line)} |"
        for _, line in pooled.sort_values("p_better", ascending=False).iterrows()
    ]
    return [
        *lines,
        "",
        f"> Over every setting: the fraction of seed-paired runs (same setting, ratio and "
        f"seed) in which the method scored better {metric.upper()} than {reference} (ties ½), "
        f"{CONFIDENCE:.0%} percentile-bootstrap CI resampling pairs within each setting and "
        f"ratio (no CI when one has fewer than {MIN_RUNS} seeds). † the CI excludes 0.5 over "
        f"at least {MIN_PAIRS_TO_CALL} pairs.",
        "",
    ]


#: what each evaluation rule scores, as the report declares it
EVALUATION_TEXT = {
    "last": "the networks of the last epoch",
    "best-clean-val": (
        "the networks of the epoch with the best validation DSC against the clean labels "
        "(an oracle: it needs clean validation labels)"
    ),
    "best-noisy-val": (
        "the networks of the epoch with the best validation DSC against validation labels "
        "corrupted like the training ones (what a user without clean labels can do)"
    ),
}


def evaluation_line(rule: str) -> str:
    """The report's declaration of what its test scores evaluate."""
    return f"Evaluated: {EVALUATION_TEXT[rule]} (`--evaluate {rule}`)."


def default_out_dir(runs_dir: Path) -> Path:
    """Where a report goes when no folder is given: ``<RUNS>-report/`` beside the store,
    never inside it (a store holds runs; a sweep or a copy of it need not step around a
    report, nor a report's figures be taken for part of the evidence)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.name:  # '.', or a root
        runs_dir = runs_dir.resolve()
    return runs_dir.parent / f"{runs_dir.name or 'runs'}-report"


def write_report(
    runs_dir: Path, out_dir: Path | None = None, options: ReportOptions | None = None
) -> Path:
    """Write ``report.md`` and its figures into ``out_dir`` (default: ``default_out_dir``)."""
    return build_report(runs_dir, out_dir, options).path


def build_report(
    runs_dir: Path, out_dir: Path | None = None, options: ReportOptions | None = None
) -> Report:
    """Load, filter and check the runs, then write every table, figure and footnote."""
    options = options or ReportOptions()
    check_format(options)
    store = load_store(runs_dir, evaluate=options.evaluate)
    cases = apply_filters(store.cases, list(options.filters))
    store = store.restrict(cases)
    check_conventions(store)
    check_duplicates(cases)
    check_options(cases, options)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(runs_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(path=out_dir / "report.md", notes=list(store.notes))
    cases, tuned_notes = mark_tuned(cases, store.root)
    report.notes += tuned_notes

    main, ablations = split_ablations(cases)
    activity = term_activity(store)
    report.notes += inactive_notes(activity)
    reference = options.reference
    if reference not in set(main["method_label"]):
        report.notes.append(
            f"reference method '{reference}' is not among the runs; tables carry no "
            f"significance marks (pass --reference with one of: "
            f"{', '.join(sorted(main['method_label'].unique()))})"
        )
    lines = ["# rmdbench report", ""]
    lines += [
        f"{cases['run'].nunique()} runs from `{runs_dir}`"
        + (
            f" (filters: {', '.join(f'`{text}`' for text in options.filters)})"
            if options.filters
            else ""
        )
        + f"; significance reference: `{reference}`.",
        "",
        evaluation_line(options.evaluate),
        "",
        *source_header(store),
    ]
    if store.failed:
        lines += [
            f"{len(store.failed)} failed run(s) not shown: "
            f"{', '.join(store.failed)} (see their failed.json).",
            "",
        ]
    lines += [f"- note: {note}" for note in report.notes] + ([""] if report.notes else [])

    tables = TableOutput()
    lines += ["## Results", ""]
    for title, group in setting_groups(main):
        lines += _setting_tables(group, title, store, options, tables)

    for method, method_cases in ablations.items():
        lines += _ablation_section(method, method_cases, store, options, tables)

    lines += loss_term_lines(activity)

    figures = FigureOptions(method_colours(cases["method_label"]), tuple(options.figure_formats))
    section, paths, note = memorisation_lines(store, out_dir, figures)
    lines += section
    report.files += _with_companions(paths, figures)
    report.notes += [note] if note else []

    lines += ["## Ranks across settings", ""]
    for metric in options.metrics:
        section, paths = friedman_section(main, metric, out_dir, options.alpha, reference, figures)
        lines += section
        report.files += _with_companions(paths, figures)

    lines += _figure_section(main, out_dir, options.metrics, report, figures)
    if options.qualitative:
        lines += _qualitative_lines(
            store.restrict(main), out_dir, options.metrics[0], report, figures
        )

    lines += ["## Provenance", "", *provenance_lines(store), ""]
    lines += _table_files(options.table_format, tables, out_dir, report)
    text = "\n".join(lines)
    report.path.write_text(text)
    report.files.append(write_html(text, out_dir, out_dir / "report.html"))
    return report


def _ablation_section(
    method: str,
    method_cases: pd.DataFrame,
    store: RunStoreData,
    options: ReportOptions,
    tables: TableOutput,
) -> list[str]:
    """A method's variants against its defaults, per setting where it has variants."""
    compared = [
        (title, group)
        for title, group in setting_groups(method_cases)
        if group["method_variant"].nunique() > 1  # not only the defaults
    ]
    if not compared:
        return []
    lines = [
        f"## Ablation: {method}",
        "",
        f"Rows: hyper-parameters that differ from {method}'s defaults "
        f"('default' = {method} as registered).",
        "",
    ]
    for title, group in compared:
        lines += _setting_tables(
            group, f"{method} ablation · {title}", store, options, tables, ablation_of=method
        )
    return lines


def _with_companions(paths: list[Path], figures: FigureOptions) -> list[Path]:
    """Each figure's PNG and the PDF/SVG written beside it."""
    return [companion for path in paths for companion in figure_files(path, figures.formats)]


def _figure_section(
    main: pd.DataFrame,
    out_dir: Path,
    metrics: Sequence[str],
    report: Report,
    figures: FigureOptions,
) -> list[str]:
    """Per metric: metric vs noise ratio, per-case boxes, realised noise vs test metric;
    under each its caption (what the line, band and marks mean)."""
    lines = ["## Figures", ""]
    vector = [fmt.upper() for fmt in figures.formats if fmt != "png"]
    if vector:
        lines += [f"Every figure is also written as {' and '.join(vector)} beside its PNG.", ""]
    for metric in metrics:
        name = metric.upper()
        distance = (
            f" {name} on a log axis; the grey mark is the empty-mask penalty (the image "
            "diagonal a case scores when exactly one of prediction and truth is empty)."
            if lower_is_better(metric)
            else ""
        )
        drawn = [
            (
                plot_metric_vs_ratio(main, out_dir / f"{metric}_vs_noise.png", metric, figures),
                f"{name} vs noise ratio",
                f"{BAND_CAPTION[0].upper()}{BAND_CAPTION[1:]}.{distance}",
            ),
            (
                plot_case_boxes(main, out_dir / f"box_{metric}.png", metric, figures),
                f"per-case {name}",
                "Every test case of every seed, per method and ratio: median, quartiles, "
                f"1.5 IQR whiskers.{distance}"
                + (" Cases scoring 0 cannot be drawn on it." if distance else ""),
            ),
            (
                plot_realised_noise(
                    main, out_dir / f"realised_noise_{metric}.png", metric, figures
                ),
                f"realised noise vs test {name}",
                "One point per run; a least-squares line per method." + distance,
            ),
        ]
        for path, caption, note in drawn:
            lines += [f"### {caption}", "", f"![{caption}]({path.name})", "", f"> {note}", ""]
            report.files += figure_files(path, figures.formats)
    return lines


def _table_files(
    table_format: str, tables: TableOutput, out_dir: Path, report: Report
) -> list[str]:
    """tables.tex or tables.csv when asked for, and the line of report.md that names it."""
    if table_format == "latex":
        path = out_dir / "tables.tex"
        path.write_text(latex_document(tables.latex))
        report.files.append(path)
        return [f"LaTeX tables (booktabs): `{path.name}`.", ""]
    if table_format == "csv":
        path = out_dir / "tables.csv"
        pd.concat(tables.rows, ignore_index=True).to_csv(path, index=False)
        report.files.append(path)
        return [f"Table cells as CSV: `{path.name}`.", ""]
    return []


def _qualitative_lines(
    store: RunStoreData, out_dir: Path, metric: str, report: Report, figures: FigureOptions
) -> list[str]:
    """The qualitative figure, or a note saying why there is none (it needs the dataset for
    the test images); its own notes (no stored noisy example) go to the report's notes."""
    from .qualitative import qualitative_figure

    heading = "### Qualitative examples"
    if not all(store.predictions_path(run).is_file() for run in store.cases["run"].unique()):
        reason = "the runs hold no test predictions (a compact copy, 'rmdbench export compact')"
        report.notes.append(f"qualitative figure skipped: {reason}")
        return [heading, "", f"Skipped: {reason}.", ""]
    try:
        figure = qualitative_figure(store, out_dir / "qualitative.png", metric, options=figures)
    except QUALITATIVE_ERRORS as error:
        report.notes.append(f"qualitative figure skipped: {error}")
        return [heading, "", f"Skipped: {error}", ""]
    report.files += figure_files(figure.path, figures.formats)
    report.notes += [f"qualitative figure: {note}" for note in figure.notes]
    return [heading, "", f"![qualitative examples]({figure.path.name})", "", figure.caption, ""]
