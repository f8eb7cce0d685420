"""``rmdbench report``: a run store -> report.md and report.html, figures (PNG, PDF, SVG)
and (optionally) LaTeX/CSV tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rmdbench.cli.common import fail, list_option, say
from rmdbench.errors import UserError


def report(
    runs_dir: Annotated[Path, typer.Argument(help="Runs directory.")] = Path("runs"),
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write (default: RUNS_DIR-report, beside the store)."),
    ] = None,
    table_format: Annotated[
        str,
        typer.Option(
            "--format", help="Tables also as: md (report.md only), latex (tables.tex), csv."
        ),
    ] = "md",
    reference: Annotated[
        str,
        typer.Option(
            help="Method every other is compared with (P(better) over seed-paired runs, "
            "and the per-case Wilcoxon), e.g. rmd, single."
        ),
    ] = "rmd",
    filters: Annotated[
        list | None,
        list_option(
            "--filter",
            metavar="FILTER",
            help="Keep runs where COLUMN=VALUE (or !=; alternatives with |), every filter "
            "given, e.g. --filter noise_model=erosion_dilation,method.distill=false,seed=0|1.",
        ),
    ] = None,
    metrics: Annotated[
        list | None,
        list_option(
            "--metric", metavar="METRIC", help="Metrics of the tables (default: dsc,hd95)."
        ),
    ] = None,
    qualitative: Annotated[
        bool,
        typer.Option(
            help="Draw the qualitative figure (loads the dataset for the test images).",
        ),
    ] = True,
    evaluate: Annotated[
        str,
        typer.Option(
            help="Which networks the test scores are of: last (the last epoch's), "
            "best-clean-val or best-noisy-val (the epoch with the best validation DSC "
            "against clean, or noisy, validation labels).",
        ),
    ] = "last",
    figure_formats: Annotated[
        list | None,
        list_option(
            "--figure-formats",
            metavar="FORMAT",
            help="Files of each figure: png (always; report.md and report.html show it), "
            "pdf, svg (vector, for a paper). Default: png,pdf,svg.",
        ),
    ] = None,
) -> None:
    """Write report.md: tables (methods x noise ratios, mean over seeds with a bootstrap CI
    over seeds, best bold, P(better than the reference) over seed-paired runs, a seed power
    line; the per-case Wilcoxon as a secondary table), ablations, loss-term activity,
    memorisation and learning curves, Friedman ranks with a CD diagram, and figures; the same
    as one self-contained report.html (sortable tables, figures embedded)."""
    from rmdbench.outputs import check_writable_dir
    from rmdbench.reports.report import (
        DEFAULT_METRICS,
        ReportOptions,
        build_report,
        default_out_dir,
    )
    from rmdbench.reports.style import FIGURE_FORMATS

    options = ReportOptions(
        table_format=table_format,
        reference=reference,
        filters=tuple(filters or ()),
        metrics=tuple(metrics or DEFAULT_METRICS),
        qualitative=qualitative,
        evaluate=evaluate,
        figure_formats=tuple(dict.fromkeys(figure_formats or FIGURE_FORMATS)),
    )
    try:
        out = out if out is not None else default_out_dir(runs_dir)
        check_writable_dir(out, "report")  # before tables and figures
        written = build_report(runs_dir, out, options)
    except UserError as error:
        raise fail(str(error)) from None
    for note in written.notes:
        say(f"note: {note}")
    say(f"wrote {written.path} and {len(written.files)} more file(s)")
