"""The ``rmdbench`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rmdbench.errors import UserError
from rmdbench.noise_cli import noise_app

app = typer.Typer(
    help="Benchmark noise-robust segmentation methods on imperfect annotations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(noise_app, name="noise", help="Preview noise models and measure realised noise.")
console = Console()
error_console = Console(stderr=True)

DEFAULT_METHODS = "single,coteaching,rmd"


def fail(message: str) -> typer.Exit:
    error_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
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


@app.command()
def report(
    runs_dir: Annotated[Path, typer.Argument(help="Runs directory.")] = Path("runs"),
    out: Annotated[Path | None, typer.Option(help="Where to write (default: RUNS_DIR).")] = None,
) -> None:
    """Write report.md (DSC/HD95 tables with conventions) and a DSC-vs-noise plot."""
    from rmdbench.reports.report import write_report

    try:
        path = write_report(runs_dir, out)
    except UserError as error:
        raise fail(str(error)) from None
    console.print(f"wrote {path}")


LIST_KINDS = ("methods", "noise-models", "datasets", "backbones")


@app.command("list")
def list_registered(
    kind: Annotated[
        str | None, typer.Argument(help="One of: " + ", ".join(LIST_KINDS) + " (default: all).")
    ] = None,
    plugin: Annotated[
        list[Path] | None, typer.Option("--plugin", help="Also load this plug-in file.")
    ] = None,
) -> None:
    """Show registered methods, noise models, datasets and backbones, and where each is from."""
    from rmdbench.plugins import load_plugins
    from rmdbench.registries import BACKBONES, DATASETS, METHODS, NOISE_MODELS

    registries = dict(zip(LIST_KINDS, (METHODS, NOISE_MODELS, DATASETS, BACKBONES), strict=True))
    try:
        if kind is not None and kind not in registries:
            raise UserError(f"unknown kind '{kind}'; choose one of: {', '.join(LIST_KINDS)}")
        load_plugins(plugin or [])
    except UserError as error:
        raise fail(str(error)) from None
    for registry in [registries[kind]] if kind else registries.values():
        table = Table(title=f"{registry.kind}s")
        table.add_column("name")
        table.add_column("from")
        table.add_column("about")
        for entry in registry:
            doc = (entry.factory.__doc__ or "").strip().splitlines()
            table.add_row(entry.name, entry.origin, doc[0] if doc else "")
        console.print(table)


@app.command()
def bench(
    profile: Annotated[str, typer.Option(help="quick, paper or tiny.")] = "quick",
    methods: Annotated[
        list[str] | None,
        typer.Option("--methods", help="Methods, comma-separated (default: all built-in)."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    iterations: Annotated[int, typer.Option(help="Timed iterations per method.")] = 15,
    out: Annotated[Path, typer.Option(help="Where the JSON goes.")] = Path("benchmarks"),
) -> None:
    """Time one training iteration of each method; ratios to single; a breakdown."""
    from rmdbench.bench import BenchSettings, run_bench, write_bench
    from rmdbench.plugins import load_builtins
    from rmdbench.profiles import get_profile
    from rmdbench.registries import METHODS
    from rmdbench.sweep import split_list
    from rmdbench.training.trainer import select_device

    try:
        load_builtins()
        names = split_list(methods or [",".join(BENCH_METHODS)])
        for name in names:
            METHODS.get(name)
        if iterations < 1:
            raise UserError("--iterations must be at least 1")
        report_data = run_bench(
            names, get_profile(profile), select_device(device), BenchSettings(iterations=iterations)
        )
    except UserError as error:
        raise fail(str(error)) from None
    table = Table(title=f"training iteration · profile {profile} · {report_data['device']}")
    for column in ("method", "s/iter", "img/s", "×single", "MB", *BREAKDOWN_COLUMNS.values()):
        table.add_column(column, justify="right")
    for row in report_data["results"]:
        fractions = row["breakdown_fraction"]
        table.add_row(
            row["method"],
            f"{row['seconds_per_iteration']:.3f}",
            f"{row['images_per_second']:.0f}",
            f"{row['ratio_to_single']:.2f}",
            f"{row['peak_memory_mb']:.0f}",
            *[f"{100 * fractions[key]:.0f}%" for key in BREAKDOWN_COLUMNS],
        )
    console.print(table)
    console.print(f"wrote {write_bench(report_data, out)}")


BENCH_METHODS = ("single", "coteaching", "jocor", "trinet", "rmd")
BREAKDOWN_COLUMNS = {
    "data": "data",
    "forward": "fwd",
    "selection": "select",
    "augmentation": "aug",
    "backward": "bwd",
    "optimiser": "optim",
}


def main() -> None:
    app()


if __name__ == "__main__":
    main()
