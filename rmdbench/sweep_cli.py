"""``rmdbench sweep``: the grid from the command line, run, and a DSC table at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rmdbench.cli_common import console, error_console, fail
from rmdbench.errors import UserError

DEFAULT_METHODS = "single,coteaching,rmd"
SWEEP_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}


def parse_ratios(values: list[str]) -> list[float]:
    """'--noise 0 0.4 0.8', '--noise 0,0.4' and repeated --noise all give a list of floats."""
    ratios = []
    for value in values:
        for item in value.replace(",", " ").split():
            try:
                ratios.append(float(item))
            except ValueError:
                raise UserError(
                    f"'{item}' is not a noise ratio; pass numbers in [0, 1], e.g. --noise 0 0.4 0.8"
                ) from None
    return ratios


def sweep(
    context: typer.Context,
    noise: Annotated[
        list[str] | None,
        typer.Option(
            "--noise",
            help="Noise ratio(s): fraction of training masks corrupted, "
            "e.g. --noise 0.8 or --noise 0 --noise 0.4 (or --noise '0 0.4 0.8').",
        ),
    ] = None,
    methods: Annotated[
        list[str],
        typer.Option(
            "--methods", help="Methods, comma-separated; hyper-parameters as name[key=value,...]."
        ),
    ] = [DEFAULT_METHODS],  # noqa: B006 - typer reads the default
    noise_model: Annotated[
        list[str],
        typer.Option(
            "--noise-model", help="Noise model(s), e.g. distortion or distortion[preset=severe]."
        ),
    ] = ["distortion"],  # noqa: B006
    dataset: Annotated[list[str], typer.Option("--dataset", help="Dataset name(s).")] = [  # noqa: B006
        "lidc-phantom"
    ],
    seeds: Annotated[list[int], typer.Option("--seeds", help="Seed(s); repeat for more.")] = [0],  # noqa: B006
    profile: Annotated[str, typer.Option(help="quick (CPU-sized), paper, or tiny.")] = "quick",
    out: Annotated[Path, typer.Option(help="Runs directory (the run store).")] = Path("runs"),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where built datasets are cached (default: $RMDBENCH_CACHE_DIR or the user cache)."
        ),
    ] = None,
    plugin: Annotated[
        list[Path] | None,
        typer.Option(
            "--plugin",
            help="A .py file that registers methods, noise models or datasets (repeatable).",
        ),
    ] = None,
) -> None:
    """Train every method on the same noisy labels for each noise ratio; print a DSC table."""

    from rmdbench.plugins import load_plugins
    from rmdbench.profiles import get_profile
    from rmdbench.store import RunStore
    from rmdbench.sweep import plan_sweep, run_sweep, split_list
    from rmdbench.training.trainer import select_device

    try:
        load_plugins(plugin or [])
        chosen_profile = get_profile(profile)
        ratios = parse_ratios([*(noise or []), *context.args]) or [0.8]
        specs = plan_sweep(
            datasets=split_list(dataset),
            noise_models=split_list(noise_model),
            noise_ratios=ratios,
            methods=split_list(methods),
            seeds=seeds,
            profile=chosen_profile,
        )
        torch_device = select_device(device)
        store = RunStore(out)
        store.ensure_writable()
        result = run_sweep(
            specs,
            profile=chosen_profile,
            store=store,
            device=torch_device,
            cache_dir=cache_dir,
            console=console,
        )
    except UserError as error:
        raise fail(str(error)) from None
    print_dsc_table(out, result.run_names)
    console.print(
        f"{len(result.outcomes)} runs trained, {len(result.skipped)} skipped, "
        f"{len(result.failed)} failed in {result.seconds:.0f} s; results in {out}/ "
        f"(next: rmdbench report {out})"
    )
    if result.failed:
        for outcome in result.failed:
            error_console.print(f"failed: {outcome.spec.run_name}: {outcome.error}")
        raise typer.Exit(code=1)


def print_dsc_table(runs_dir: Path, run_names: set[str]) -> None:
    from rmdbench.reports.load import load_runs
    from rmdbench.reports.tables import summary_table

    try:
        cases = load_runs(runs_dir, run_names)
    except UserError:
        return
    for (dataset, noise_model), group in cases.groupby(["dataset", "noise_model"]):
        table_frame = summary_table(group, "dsc")
        table = Table(title=f"test DSC · {dataset} · {noise_model}")
        table.add_column("method")
        for column in table_frame.columns:
            table.add_column(column, justify="right")
        for method, row in table_frame.iterrows():
            table.add_row(method, *[str(value).replace("**", "") for value in row])
        console.print(table)
