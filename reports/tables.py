"""Tables in the paper's layout: methods as rows, noise ratios as columns. Each cell is the
mean over seeds of the runs' scores (a run's score: its mean over test cases) with a 95%
bootstrap interval over seeds (``reports.runstats``; no interval under 3 seeds), the best
of each column in bold, † where P(method better than the reference) over seed-paired runs
has an interval excluding 1/2, ‡ where ``rmdbench tune`` selected the configuration.
Rendered as markdown, LaTeX (booktabs) or tidy CSV rows; the P(better) and per-case
Wilcoxon tables that back the marks are rendered here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .runstats import MIN_RUNS, Interval, bootstrap_mean, format_interval

LOWER_IS_BETTER = {"hd95", "assd"}  # surface distances; also printed with 2 digits
RUN_KEYS = (
    "dataset",
    "noise_setting",
    "profile_setting",
    "backbone",
    "method_label",
    "noise_ratio",
)
#: a cell pooling runs of several of these is bootstrapped within each (stratified)
STRATA = ("dataset", "noise_setting", "profile_setting", "backbone")
SIGNIFICANCE_MARK = "†"
TUNED_MARK = "‡"
#: the per-case Wilcoxon table's mark (a backslash keeps markdown from reading emphasis)
WILCOXON_MARK = "\\*"
#: the columns of a MetricTable's cells, in CSV order
CELL_COLUMNS = [
    "row",
    "noise_ratio",
    "mean",
    "ci_low",
    "ci_high",
    "n",
    "std",
    "best",
    "marked",
    "p_better",
    "p_better_low",
    "p_better_high",
    "n_pairs",
    "p_holm",
    "wilcoxon_significant",
    "tuned",
]


def lower_is_better(metric: str) -> bool:
    """Distances are better small; overlaps (DSC, IoU, per-class columns) are better large."""
    return metric.split("_class")[0] in LOWER_IS_BETTER


def hd_unit(cases: pd.DataFrame) -> str:
    """Surface distances are in mm when every run knew its spacing (the metrics record it)."""
    units = set(cases["hd_unit"].unique()) if "hd_unit" in cases else {"mm"}
    return units.pop() if len(units) == 1 else "mixed units"


def digits_for(metric: str) -> int:
    return 2 if lower_is_better(metric) else 3


def _keys(cases: pd.DataFrame, row: str) -> list[str]:
    """The columns that identify a run, with ``row`` as the method column (frames from
    older code or tests may lack the derived ones)."""
    keys = [key for key in RUN_KEYS if key in cases and key != "method_label"]
    return list(dict.fromkeys([*keys, row, "seed"]))


def row_column(cases: pd.DataFrame) -> str:
    return "method_label" if "method_label" in cases else "method"


def per_run_means(cases: pd.DataFrame, metric: str, row: str | None = None) -> pd.DataFrame:
    """Mean of ``metric`` over test cases for each run (one value per seed)."""
    keys = _keys(cases, row or row_column(cases))
    return cases.groupby(keys, as_index=False, dropna=False)[metric].mean()


def cell_stats(cases: pd.DataFrame, metric: str, row: str | None = None) -> pd.DataFrame:
    """Per (row, noise ratio): the mean over runs (seeds) of the run scores, its 95%
    bootstrap interval over seeds (stratified over settings when a cell pools several;
    NaN under 3 seeds), the std over seeds and n, the number of runs. One seed's test
    cases are not a sample of retrainings, so a cell of one run has no interval at all."""
    row = row or row_column(cases)
    runs = per_run_means(cases, metric, row)
    strata = [key for key in STRATA if key in runs]
    records = []
    for (name, ratio), group in runs.groupby([row, "noise_ratio"], sort=True):
        labels = group[strata].astype(str).agg("|".join, axis=1) if strata else None
        interval = bootstrap_mean(group[metric].to_numpy(), labels)
        records.append(
            {
                "row": name,
                "noise_ratio": ratio,
                "mean": interval.estimate,
                "ci_low": interval.low,
                "ci_high": interval.high,
                "n": interval.n,
                "std": float(group[metric].std()) if interval.n > 1 else math.nan,
            }
        )
    return pd.DataFrame(records, columns=CELL_COLUMNS[:7])


@dataclass
class MetricTable:
    """One table: its cells (a row per method x ratio, ``CELL_COLUMNS``) and what its
    footnote must say."""

    title: str
    metric: str
    cells: pd.DataFrame
    rows: list[str]
    ratios: list[float]
    reference: str | None = None
    digits: int = 3
    row_title: str = "method"

    def cell(self, row: str, ratio: float) -> pd.Series | None:
        match = self.cells[(self.cells["row"] == row) & (self.cells["noise_ratio"] == ratio)]
        return None if match.empty else match.iloc[0]

    @property
    def uniform_n(self) -> int | None:
        """The number of seeds when every cell has the same, so it goes in the caption once."""
        counts = set(self.cells["n"])
        return counts.pop() if len(counts) == 1 else None

    def spread_note(self) -> str:
        n = self.uniform_n
        count = f"n = {n} seeds per cell" if n is not None else "n seeds per cell as shown"
        return (
            f"mean over seeds of each run's mean over its test cases, 95% percentile-bootstrap "
            f"CI over seeds ({count}; under {MIN_RUNS} seeds: no CI)"
        )

    @property
    def tuned_rules(self) -> list[str]:
        """The tuning rules of the cells marked as tuned, sorted."""
        rules = {rule for text in self.cells["tuned"] for rule in str(text).split(",") if rule}
        return sorted(rules)


def build_table(
    cases: pd.DataFrame,
    metric: str,
    title: str,
    significance: pd.DataFrame | None = None,
    reference: str | None = None,
    row: str | None = None,
    order: list[str] | None = None,
    row_title: str = "method",
    improvement: pd.DataFrame | None = None,
) -> MetricTable:
    """Cells of one table from the per-case rows of one setting. ``improvement`` (from
    ``stats.probability_of_improvement``) marks the cells it calls (†); ``significance``
    (from ``stats.paired_wilcoxon``) is kept beside them for the per-case table and the
    CSV, never as a mark of the headline. A ``tuned`` column of ``cases`` (the rules that
    selected each run, ``reports.tuned``) marks its cells (‡)."""
    row = row or row_column(cases)
    digits = digits_for(metric)
    stats = cell_stats(cases, metric, row)
    stats["best"] = _best_cells(stats, metric, digits)
    index = pd.MultiIndex.from_frame(stats[["row", "noise_ratio"]])
    found = _aligned(improvement, index, ["called", "p_better", "ci_low", "ci_high", "n_pairs"])
    stats["marked"] = found["called"].fillna(False).astype(bool).to_numpy()
    stats["p_better"] = found["p_better"].to_numpy()
    stats["p_better_low"] = found["ci_low"].to_numpy()
    stats["p_better_high"] = found["ci_high"].to_numpy()
    stats["n_pairs"] = found["n_pairs"].to_numpy()
    found = _aligned(significance, index, ["p_holm", "significant"])
    stats["p_holm"] = found["p_holm"].to_numpy()
    stats["wilcoxon_significant"] = found["significant"].fillna(False).astype(bool).to_numpy()
    stats["tuned"] = _tuned_cells(cases, row, index)
    present = list(dict.fromkeys(stats["row"]))
    rows = [name for name in (order or []) if name in present]
    rows += sorted(
        (name for name in present if name not in rows), key=lambda name: (name == reference, name)
    )
    return MetricTable(
        title=title,
        metric=metric,
        cells=stats[CELL_COLUMNS],
        rows=rows,
        ratios=sorted(stats["noise_ratio"].unique()),
        reference=reference,
        digits=digits,
        row_title=row_title,
    )


def _aligned(frame: pd.DataFrame | None, index: pd.MultiIndex, columns: list[str]) -> pd.DataFrame:
    """``columns`` of a (row, noise_ratio) result frame, in the order of ``index``; NaN
    where it has no line (or there is no frame)."""
    if frame is None or frame.empty:
        return pd.DataFrame(np.nan, index=index, columns=columns, dtype=object)
    keyed = frame.set_index(["row", "noise_ratio"])[columns]
    return keyed.reindex(index).astype(object)


def _tuned_cells(cases: pd.DataFrame, row: str, index: pd.MultiIndex) -> np.ndarray:
    """Per cell, the tuning rules that selected its runs ('noisy-val'; '' for none)."""
    if "tuned" not in cases:
        return np.full(len(index), "", dtype=object)
    rules = cases.groupby([row, "noise_ratio"])["tuned"].agg(
        lambda values: ",".join(
            sorted({rule for text in values for rule in str(text).split(",") if rule})
        )
    )
    return rules.reindex(index).fillna("").to_numpy(dtype=object)


def _best_cells(stats: pd.DataFrame, metric: str, digits: int) -> np.ndarray:
    """Per ratio, the cells whose mean (as printed) is the best; ties are all bold. A column
    with a single method has no best."""
    rounded = stats["mean"].round(digits)
    best = np.zeros(len(stats), dtype=bool)
    for _, index in stats.groupby("noise_ratio").groups.items():
        column = rounded.loc[index].dropna()
        if len(column) > 1:
            target = column.min() if lower_is_better(metric) else column.max()
            best[stats.index.get_indexer(column.index[column == target])] = True
    return best


def ratio_header(ratio: float) -> str:
    return f"r={ratio:g}" if not pd.isna(ratio) else "all r"


def _interval(cell: pd.Series) -> Interval:
    return Interval(
        float(cell["mean"]), float(cell["ci_low"]), float(cell["ci_high"]), int(cell["n"])
    )


def cell_text(table: MetricTable, row: str, ratio: float, style: str) -> str:
    """One cell as markdown (``**0.812 [0.790, 0.830]**†``), LaTeX or plain text; a cell
    of fewer than 3 seeds reads ``0.512 (n=2, no CI)``."""
    cell = table.cell(row, ratio)
    if cell is None:
        return ""
    text = format_interval(_interval(cell), table.digits, show_n=table.uniform_n is None)
    if style == "latex" and text == "–":
        text = "--"
    latex = ("$^{\\dagger}$", "$^{\\ddagger}$")
    marks = latex if style == "latex" else (SIGNIFICANCE_MARK, TUNED_MARK)
    if cell["best"] and style == "markdown":
        text = f"**{text}**"
    elif cell["best"] and style == "latex":
        text = f"\\textbf{{{text}}}"
    return text + (marks[0] if cell["marked"] else "") + (marks[1] if cell["tuned"] else "")


def to_markdown(table: MetricTable) -> str:
    headers = [ratio_header(ratio) for ratio in table.ratios]
    texts = [
        [cell_text(table, row, ratio, "markdown") for ratio in table.ratios] for row in table.rows
    ]
    return _grid_markdown(table.row_title, table.rows, headers, texts)


def _grid_markdown(
    row_title: str, rows: list[str], headers: list[str], texts: list[list[str]]
) -> str:
    """A markdown table: a row-label column, then one column per header."""
    lines = [
        "| " + " | ".join([row_title, *headers]) + " |",
        "|" + "|".join([":---", *["---:"] * len(headers)]) + "|",
    ]
    for row, cells in zip(rows, texts, strict=True):
        lines.append("| " + " | ".join([row.replace("|", "\\|"), *cells]) + " |")
    return "\n".join(lines)


def improvement_text(line: pd.Series | None) -> str:
    """'0.80 [0.60, 1.00]†' (called: the interval excludes 1/2) or '1.00 (n=2, no CI)'."""
    if line is None:
        return ""
    interval = Interval(
        float(line["p_better"]), float(line["ci_low"]), float(line["ci_high"]), int(line["n_pairs"])
    )
    text = format_interval(interval, 2, show_n=True)
    return text + (SIGNIFICANCE_MARK if bool(line["called"]) else "")


def improvement_markdown(table: MetricTable, per_ratio: pd.DataFrame, pooled: pd.DataFrame) -> str:
    """P(row better than the reference) per ratio and over all ratios of ``table``'s
    setting, one line per compared row (the reference has none)."""
    rows = [row for row in table.rows if row != table.reference]
    columns = [*table.ratios, math.nan]
    keyed = {(line["row"], line["noise_ratio"]): line for _, line in per_ratio.iterrows()}
    keyed.update({(line["row"], math.nan): line for _, line in pooled.iterrows()})
    texts = [[improvement_text(_lookup(keyed, row, ratio)) for ratio in columns] for row in rows]
    headers = [ratio_header(ratio) for ratio in columns]
    return _grid_markdown(table.row_title, rows, headers, texts)


def _lookup(keyed: dict, row: str, ratio: float) -> pd.Series | None:
    """The line of (row, ratio), NaN matching NaN (the pooled column)."""
    for (name, value), line in keyed.items():
        if name == row and (value == ratio or (pd.isna(value) and pd.isna(ratio))):
            return line
    return None


def wilcoxon_text(line: pd.Series | None, digits: int) -> str:
    """'−0.031 (p=0.0012)\\*': the median per-case difference (method − reference) and
    the Holm-corrected p, marked when below alpha."""
    if line is None or pd.isna(line["p_holm"]):
        return "–" if line is not None else ""
    median = f"{line['median_difference']:+.{digits}f}".replace("-", "−")
    text = f"{median} (p={line['p_holm']:.2g})"
    return text + (WILCOXON_MARK if bool(line["significant"]) else "")


def wilcoxon_markdown(table: MetricTable, tests: pd.DataFrame) -> str:
    """The per-case Wilcoxon results of ``table``'s comparisons, same rows and ratios."""
    rows = [row for row in table.rows if row != table.reference]
    keyed = {(line["row"], line["noise_ratio"]): line for _, line in tests.iterrows()}
    texts = [
        [wilcoxon_text(keyed.get((row, ratio)), table.digits) for ratio in table.ratios]
        for row in rows
    ]
    headers = [ratio_header(ratio) for ratio in table.ratios]
    return _grid_markdown(table.row_title, rows, headers, texts)


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"$<$",
    ">": r"$>$",
    "|": r"\textbar{}",
    "±": r"$\pm$",
    "·": r"$\cdot$",
    "†": r"$^{\dagger}$",
    "‡": r"$^{\ddagger}$",
    "≥": r"$\ge$",
    "α": r"$\alpha$",
    "δ": r"$\delta$",
    "²": r"$^2$",
    "½": r"$\frac{1}{2}$",
    "−": "-",
    "×": r"$\times$",
    "≤": r"$\le$",
    "–": "--",
    "—": "---",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text (method names, titles)."""
    return "".join(LATEX_SPECIALS.get(char, char) for char in str(text))


def to_latex(table: MetricTable, footnote: str = "") -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    ratios = [f"$r={ratio:g}$" for ratio in table.ratios]
    lines = [
        "\\begin{table}[ht]",
        "\\centering",
        f"\\caption{{{latex_escape(table.title)}; {latex_escape(table.spread_note())}}}",
        "\\begin{tabular}{l" + "c" * len(table.ratios) + "}",
        "\\toprule",
        " & ".join([latex_escape(table.row_title), *ratios]) + " \\\\",
        "\\midrule",
    ]
    for row in table.rows:
        cells = [cell_text(table, row, ratio, "latex") for ratio in table.ratios]
        lines.append(" & ".join([latex_escape(row), *cells]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    if footnote:
        lines += ["", "\\vspace{2pt}", f"{{\\footnotesize {latex_escape(footnote)}\\par}}"]
    lines.append("\\end{table}")
    return "\n".join(lines)


def latex_document(tables: list[str]) -> str:
    """A complete document around the tables, so the file compiles as it is; paste the
    ``table`` environments into a paper that loads booktabs."""
    return "\n".join(
        [
            "% rmdbench report tables: compile with pdflatex, or paste the table environments",
            "% into a paper that has \\usepackage{booktabs}",
            "\\documentclass{article}",
            "\\usepackage[T1]{fontenc}",
            "\\usepackage[utf8]{inputenc}",
            "\\usepackage{booktabs}",
            "\\usepackage[margin=2cm]{geometry}",
            "\\begin{document}",
            "",
            "\n\n".join(tables),
            "",
            "\\end{document}",
            "",
        ]
    )


def to_rows(table: MetricTable) -> pd.DataFrame:
    """The table's cells as tidy CSV rows (one per row x ratio), numbers unformatted;
    ``row_kind`` says whether ``row`` names a method or an ablation variant."""
    frame = table.cells.copy()
    frame.insert(0, "table", table.title)
    frame.insert(1, "metric", table.metric)
    frame.insert(2, "row_kind", table.row_title)
    frame["reference"] = table.reference
    return frame


def summary_table(
    cases: pd.DataFrame, metric: str = "dsc", digits: int | None = None
) -> pd.DataFrame:
    """'mean [95% CI over seeds]' per method x noise ratio as a DataFrame of markdown cells
    (best in bold), for the terminal table after a sweep; under 3 seeds a cell says
    '(n=2, no CI)'. A cell pooling several settings is bootstrapped within each."""
    table = build_table(cases, metric, title=metric)
    if digits is not None:
        table.digits = digits
    frame = pd.DataFrame(
        [
            [cell_text(table, row, ratio, "markdown") for ratio in table.ratios]
            for row in table.rows
        ],
        index=pd.Index(table.rows, name="method"),
        columns=[ratio_header(ratio) for ratio in table.ratios],
    )
    return frame


def seeds_and_cases(cases: pd.DataFrame) -> tuple[int, int]:
    """(number of seeds, number of test cases per run) for the table footnote."""
    return cases["seed"].nunique(), int(cases.groupby("run").size().median())


def setting_groups(cases: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The per-case rows of each setting (dataset x noise setting x profile x backbone),
    titled by what distinguishes them: profile and backbone only when they vary."""
    keys = [
        key for key in ("dataset", "noise_setting", "profile_setting", "backbone") if key in cases
    ]
    shown = [key for key in keys if key in ("dataset", "noise_setting") or cases[key].nunique() > 1]
    groups = []
    for values, group in cases.groupby(keys, sort=True):
        named = dict(zip(keys, values, strict=True))
        title = " · ".join(
            str(named[key])
            if key in ("dataset", "noise_setting")
            else f"{key.removesuffix('_setting')} {named[key]}"
            for key in shown
        )
        groups.append((title, group))
    return groups
