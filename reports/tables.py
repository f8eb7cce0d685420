"""Tables in the paper's layout: methods as rows, noise ratios as columns, mean ± std over
seeds (over test cases when there is one seed), n, the best of each column in bold and a
mark where a method differs significantly from the reference; rendered as markdown,
LaTeX (booktabs) or tidy CSV rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LOWER_IS_BETTER = {"hd95", "assd"}  # surface distances; also printed with 2 digits
RUN_KEYS = (
    "dataset",
    "noise_setting",
    "profile_setting",
    "backbone",
    "method_label",
    "noise_ratio",
)
SIGNIFICANCE_MARK = "†"


def lower_is_better(metric: str) -> bool:
    """Distances are better small; overlaps (DSC, IoU, per-class columns) are better large."""
    return metric.split("_class")[0] in LOWER_IS_BETTER


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
    """mean, std, n per (row, noise ratio): over seeds (of per-run means) when the cell has
    several seeds, else over the test cases of its one run; ``spread`` says which."""
    row = row or row_column(cases)
    runs = per_run_means(cases, metric, row)
    statistics = ["mean", "std", "count"]
    by_seed = runs.groupby([row, "noise_ratio"])[metric].agg(statistics)
    by_case = cases.groupby([row, "noise_ratio"])[metric].agg(statistics).reindex(by_seed.index)
    several = by_seed["count"] > 1
    stats = by_seed.copy()
    stats.loc[~several, statistics] = by_case.loc[~several, statistics]
    stats["spread"] = np.where(several, "seeds", "test cases")
    stats = stats.rename(columns={"count": "n"}).reset_index()
    stats["n"] = stats["n"].astype(int)
    return stats.rename(columns={row: "row"})


@dataclass
class MetricTable:
    """One table: its cells (a row per method x ratio) and what its footnote must say."""

    title: str
    metric: str
    cells: pd.DataFrame  # row, noise_ratio, mean, std, n, spread, best, marked, p_holm
    rows: list[str]
    ratios: list[float]
    reference: str | None = None
    digits: int = 3
    row_title: str = "method"

    def cell(self, row: str, ratio: float) -> pd.Series | None:
        match = self.cells[(self.cells["row"] == row) & (self.cells["noise_ratio"] == ratio)]
        return None if match.empty else match.iloc[0]

    @property
    def uniform_n(self) -> tuple[int, str] | None:
        """(n, what n counts) when every cell has the same, so it goes in the caption once."""
        pairs = set(zip(self.cells["n"], self.cells["spread"], strict=True))
        return pairs.pop() if len(pairs) == 1 else None

    def spread_note(self) -> str:
        uniform = self.uniform_n
        if uniform:
            n, spread = uniform
            return f"mean ± std over {spread} (n = {n} per cell)"
        return "mean ± std over seeds, or over test cases where a cell has one seed (n per cell)"


def build_table(
    cases: pd.DataFrame,
    metric: str,
    title: str,
    significance: pd.DataFrame | None = None,
    reference: str | None = None,
    row: str | None = None,
    order: list[str] | None = None,
    row_title: str = "method",
) -> MetricTable:
    """Cells of one table from the per-case rows of one setting; ``significance`` (from
    ``stats.paired_wilcoxon``) marks cells whose Holm-corrected p is below its alpha."""
    digits = digits_for(metric)
    stats = cell_stats(cases, metric, row)
    stats["best"] = _best_cells(stats, metric, digits)
    stats["marked"] = False
    stats["p_holm"] = np.nan
    if significance is not None and not significance.empty:
        marks = significance.set_index(["row", "noise_ratio"])
        index = pd.MultiIndex.from_frame(stats[["row", "noise_ratio"]])
        stats["marked"] = marks["significant"].reindex(index).fillna(False).astype(bool).to_numpy()
        stats["p_holm"] = marks["p_holm"].reindex(index).to_numpy()
    present = list(dict.fromkeys(stats["row"]))
    rows = [name for name in (order or []) if name in present]
    rows += sorted(
        (name for name in present if name not in rows), key=lambda name: (name == reference, name)
    )
    return MetricTable(
        title=title,
        metric=metric,
        cells=stats,
        rows=rows,
        ratios=sorted(stats["noise_ratio"].unique()),
        reference=reference,
        digits=digits,
        row_title=row_title,
    )


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


def _number(mean: float, std: float, digits: int, plus_minus: str) -> str:
    if pd.isna(mean):
        return "--" if "$" in plus_minus else "–"
    if pd.isna(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f}{plus_minus}{std:.{digits}f}"


def ratio_header(ratio: float) -> str:
    return f"r={ratio:g}"


def cell_text(table: MetricTable, row: str, ratio: float, style: str) -> str:
    """One cell as markdown (``**0.812 ± 0.010**†``), LaTeX or plain text."""
    cell = table.cell(row, ratio)
    if cell is None:
        return ""
    plus_minus = " $\\pm$ " if style == "latex" else " ± "
    text = _number(cell["mean"], cell["std"], table.digits, plus_minus)
    if table.uniform_n is None:
        text += f" (n={cell['n']})"
    if style == "markdown":
        text = f"**{text}**" if cell["best"] else text
        return text + (SIGNIFICANCE_MARK if cell["marked"] else "")
    if style == "latex":
        text = f"\\textbf{{{text}}}" if cell["best"] else text
        return text + ("$^{\\dagger}$" if cell["marked"] else "")
    return text


def to_markdown(table: MetricTable) -> str:
    header = [table.row_title, *[ratio_header(ratio) for ratio in table.ratios]]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---", *["---:"] * len(table.ratios)]) + "|",
    ]
    for row in table.rows:
        cells = [cell_text(table, row, ratio, "markdown") for ratio in table.ratios]
        lines.append("| " + " | ".join([row.replace("|", "\\|"), *cells]) + " |")
    return "\n".join(lines)


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
    """'mean ± std' per method x noise ratio as a DataFrame of markdown cells (best in bold),
    for the terminal table after a sweep. With one seed, the std is over test cases."""
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
