"""``rmdbench bench``: seconds per training iteration of each method, measured."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rmdbench.cli.common import console, fail, list_option
from rmdbench.errors import UserError


def bench(
    profile: Annotated[str, typer.Option(help="quick, memorise, paper or tiny.")] = "quick",
    methods: Annotated[
        list | None,
        list_option(
            "--methods", metavar="METHOD", help="Methods, e.g. single,rmd (default: all built-in)."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    iterations: Annotated[int, typer.Option(help="Timed iterations per method.")] = 15,
    precision: Annotated[
        str | None, typer.Option(help="fp32 or bf16 (default: the profile's).")
    ] = None,
    compile_networks: Annotated[
        bool, typer.Option("--compile", help="torch.compile the networks.")
    ] = False,
    pack: Annotated[
        list | None,
        list_option(
            "--pack",
            metavar="K",
            item=int,
            help="Also time each method as K runs packed into one vmapped step, e.g. "
            "--pack 1,2,4,8 (images/s and the gain over K unpacked iterations).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where the JSON goes.")] = Path("benchmarks"),
) -> None:
    """Time one training iteration of each method; ratios to single; a breakdown."""
    from rmdbench.bench import TooFewIterations, plan_bench, run_bench, write_bench
    from rmdbench.outputs import check_writable_dir
    from rmdbench.training.precision import check_precision
    from rmdbench.training.trainer import select_device

    try:
        check_writable_dir(out, "benchmark")  # before minutes of timing, not after
        names, chosen, settings = plan_bench(
            methods,
            profile,
            iterations=iterations,
            precision=precision,
            compile_networks=compile_networks,
            pack=pack,
        )
        chosen_device = select_device(device)
        check_precision(chosen.precision, chosen_device)
        report_data = run_bench(names, chosen, chosen_device, settings)
    except TooFewIterations:
        raise fail("--iterations must be at least 1") from None
    except UserError as error:
        raise fail(str(error)) from None
    table = Table(title=f"training iteration · profile {profile} · {report_data['device']}")
    columns = ("method", "s/iter", "img/s", "×single", "GFLOP/iter", "GFLOP/s", "peak", "MB")
    for column in (*columns, *BREAKDOWN_COLUMNS.values()):
        table.add_column(column, justify="right")
    for row in report_data["results"]:
        fractions = row["breakdown_fraction"]
        table.add_row(
            row["method"],
            f"{row['seconds_per_iteration']:.3f}",
            f"{row['images_per_second']:.0f}",
            f"{row['ratio_to_single']:.2f}",
            f"{row['flops_per_iteration'] / 1e9:.1f}",
            f"{row['achieved_gflops']:.0f}",
            f"{100 * row['peak_share']:.0f}%",
            f"{row['peak_memory_mb']:.0f}",
            *[f"{100 * fractions[key]:.0f}%" for key in BREAKDOWN_COLUMNS],
        )
    console.print(table)
    console.print(f"matmul peak of this device: {report_data['matmul_peak_gflops']:.0f} GFLOP/s")
    if report_data["packed"]:
        packed = Table(title="packed runs: K runs in one vmapped step")
        for column in ("method", "K", "s/iter", "img/s", "gain vs K unpacked", "peak"):
            packed.add_column(column, justify="right")
        for row in report_data["packed"]:
            packed.add_row(
                row["method"],
                str(row["runs"]),
                f"{row['seconds_per_iteration']:.3f}",
                f"{row['images_per_second']:.0f}",
                f"{row['gain_vs_unpacked']:.2f}",
                f"{100 * row['peak_share']:.0f}%",
            )
        console.print(packed)
    console.print(f"wrote {write_bench(report_data, out)}")


BREAKDOWN_COLUMNS = {
    "data": "data",
    "forward": "fwd",
    "selection": "select",
    "augmentation": "aug",
    "backward": "bwd",
    "optimiser": "optim",
}
