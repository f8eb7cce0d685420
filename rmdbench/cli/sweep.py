"""``rmdbench sweep``: the grid from the command line or a YAML file, run by an executor,
and a DSC table at the end.

The options are the fields of ``rmdbench.sweep.SweepConfig`` (one parameter per field,
same name); every one given overrides the sweep file. The engine does the rest: this
module parses, calls it and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from rmdbench.cli.common import console, error_console, fail, list_option, say, terminal_track
from rmdbench.errors import OptionError, UserError
from rmdbench.executors.slurm_options import DEFAULT_SLURM_MINUTES

if TYPE_CHECKING:
    from rmdbench.executors.base import DatasetCache
    from rmdbench.profiles import Profile
    from rmdbench.run import RunSpec
    from rmdbench.store import RunState, RunStore
    from rmdbench.sweep import SweepConfig, SweepResult

EXECUTION = "Execution"
SLURM = "SLURM (--executor slurm)"


def sweep(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A YAML sweep file; its keys are these options' names (dataset, noise_model, "
            "noise, methods, seeds, profile, executor, workers, out, ...). Flags given here "
            "override the file.",
        ),
    ] = None,
    noise: Annotated[
        list | None,
        list_option(
            "--noise",
            metavar="R",
            help="Noise ratios: fractions of training masks corrupted, e.g. --noise 0.8 or "
            "--noise 0,0.4,0.8. [default: 0.8]",
        ),
    ] = None,
    methods: Annotated[
        list | None,
        list_option(
            "--methods",
            metavar="METHOD",
            help="Methods, e.g. --methods single,rmd; hyper-parameters as "
            "name[key=value,...]. [default: single,coteaching,rmd]",
        ),
    ] = None,
    noise_model: Annotated[
        list | None,
        list_option(
            "--noise-model",
            metavar="MODEL",
            help="Noise models, e.g. distortion or distortion[preset=severe],affine. "
            "[default: distortion]",
        ),
    ] = None,
    dataset: Annotated[
        list | None,
        list_option("--dataset", metavar="NAME", help="Datasets. [default: lidc-phantom]"),
    ] = None,
    seeds: Annotated[
        list | None,
        list_option(
            "--seeds",
            metavar="SEED",
            item=int,
            help="Seeds (integers), e.g. --seeds 0,1,2. [default: 0]",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            help="quick (CPU-sized), memorise (where memorisation shows), paper, or tiny. "
            "[default: quick]"
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="fp32, or bf16 (autocast of the networks, losses in fp32; only where the "
            "CPU has AVX512_BF16 or AMX, or the GPU is Ampere or newer). Changes the "
            "profile's field: --profile quick --precision bf16 is quick[precision=bf16]. "
            "[default: the profile's, fp32]"
        ),
    ] = None,
    backbone: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="The network every method trains: unet (the paper's U-Net, 2D or 3D as the "
            "data), basicunet (MONAI's BasicUNet; needs monai) or a plug-in's, with "
            "parameters as name[key=value,...]; see rmdbench list backbones. It names the "
            "profile, e.g. quick[backbone=basicunet]. [default: the profile's, unet]",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Runs directory (the run store). [default: runs]")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda. [default: auto]")] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where built datasets are cached (default: $RMDBENCH_CACHE_DIR or the user cache)."
        ),
    ] = None,
    plugin: Annotated[
        list | None,
        list_option(
            "--plugin",
            metavar="FILE",
            item=Path,
            help=".py files that register methods, noise models or datasets, e.g. --plugin "
            "gce.py or --plugin a.py,b.py. They run as Python code.",
        ),
    ] = None,
    allow_plugins: Annotated[
        bool,
        typer.Option(
            "--allow-plugins",
            help="Run the plug-in files a --config sweep file names (its plugin: key); "
            "without it such a file is refused.",
        ),
    ] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            help="inline (this process), local (a pool of worker processes) or slurm "
            "(array jobs via submitit). [default: inline; local with --workers; slurm with "
            "--slurm-* options]",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="local: worker processes (default one per GPU, else cores // threads), "
            "each training at the profile's threads. slurm: most array tasks running at once.",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    retry_failed: Annotated[
        bool | None,
        typer.Option(
            "--retry-failed/--no-retry-failed",
            help="Train failed runs again (by default a rerun keeps them failed).",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(
            help="Save each run's training state every N epochs; a run killed mid-way then "
            "resumes from its last checkpoint instead of from scratch. [default: 0 = off]",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    pack: Annotated[
        str | None,
        typer.Option(
            metavar="K",
            help="Train up to K runs that differ only by seed as one pack, one set of "
            "batched kernels: faster on a GPU, slower on CPU. auto: 8 on a GPU, 1 (off) on "
            "CPU; rmd trains alone (its step draws random numbers). Not with slurm or "
            "--checkpoint-every. [default: auto]",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (every run: done, failed, running or todo); train nothing "
            "and run no plug-in code.",
            rich_help_panel=EXECUTION,
        ),
    ] = False,
    slurm_partition: Annotated[
        str | None, typer.Option(help="Partition of each array task.", rich_help_panel=SLURM)
    ] = None,
    slurm_time: Annotated[
        str | None,
        typer.Option(
            help=f"Time limit per run: minutes or [D-]HH:MM:SS. [default: {DEFAULT_SLURM_MINUTES}]",
            rich_help_panel=SLURM,
        ),
    ] = None,
    slurm_gpus: Annotated[
        int | None,
        typer.Option(
            help="GPUs per run. [default: what the partition offers per node; 0 if none]",
            rich_help_panel=SLURM,
        ),
    ] = None,
    slurm_cpus: Annotated[
        int | None,
        typer.Option(help="CPUs per run (on a GPU also its torch threads).", rich_help_panel=SLURM),
    ] = None,
    slurm_mem: Annotated[
        str | None, typer.Option(help="Memory per run, e.g. 16G.", rich_help_panel=SLURM)
    ] = None,
    slurm_account: Annotated[
        str | None, typer.Option(help="Account to charge.", rich_help_panel=SLURM)
    ] = None,
    slurm_qos: Annotated[
        str | None, typer.Option(help="Quality of service.", rich_help_panel=SLURM)
    ] = None,
    slurm_constraint: Annotated[
        str | None, typer.Option(help="Node features, e.g. a100.", rich_help_panel=SLURM)
    ] = None,
    slurm_setup: Annotated[
        str | None,
        typer.Option(
            "--slurm-setup",
            help="A shell line run before each task, e.g. 'module load cuda && source "
            ".venv/bin/activate' (one line, commas and all; a sweep file may list several).",
            rich_help_panel=SLURM,
        ),
    ] = None,
    slurm_cluster: Annotated[
        str | None,
        typer.Option(
            help="slurm, or local / debug to run the same jobs through submitit on this machine "
            "(no cluster needed). [default: slurm]",
            rich_help_panel=SLURM,
        ),
    ] = None,
    detach: Annotated[
        bool | None,
        typer.Option(
            "--detach",
            help="Submit the array and return; follow it with 'rmdbench status OUT'.",
            rich_help_panel=SLURM,
        ),
    ] = None,
) -> None:
    """Train every method on the same noisy labels for each noise ratio; print a DSC table.

    Done runs are skipped and failed ones kept (--retry-failed reruns them), so rerunning
    a killed sweep completes the rest; a run locked by a concurrent sweep is left to it."""
    given = dict(locals())  # the first statement: the parameters, one per SweepConfig field
    from rmdbench.data.lidc_phantom import default_cache_dir
    from rmdbench.executors.base import DatasetCache
    from rmdbench.outputs import check_not_a_file, check_writable_dir
    from rmdbench.plugins import PluginsNotLoaded, load_plugins
    from rmdbench.profiles import get_profile
    from rmdbench.registry import UnknownName
    from rmdbench.store import RunState, RunStore
    from rmdbench.sweep import (
        SweepConfig,
        choose_executor,
        config_keys,
        grid_summary,
        plan_sweep,
        prepare_datasets,
        runs_to_train,
        survey,
    )
    from rmdbench.training.precision import check_precision_here
    from rmdbench.training.trainer import select_device

    flags = {key: given[key] for key in config_keys() if given.get(key) is not None}
    executor_name = ""
    options = SweepConfig()
    try:
        options = SweepConfig.load(config, flags, allow_plugins=allow_plugins)
        # a file in the way fails now, not after the datasets are built
        if dry_run:
            check_not_a_file(options.out, "runs folder", "pass a folder with --out")
        else:
            check_writable_dir(options.out, "runs")
        check_not_a_file(
            options.cache_dir or default_cache_dir(),
            "dataset cache",
            "set RMDBENCH_CACHE_DIR or pass --cache-dir a folder you can write to",
        )
        executor_name = choose_executor(options)
        if not dry_run:  # a dry run plans with what is registered, running no plug-in code
            load_plugins(options.plugin)
        chosen_profile = get_profile(
            options.profile, precision=options.precision, backbone=options.backbone
        )
        try:
            specs = plan_sweep(
                datasets=options.dataset,
                noise_models=options.noise_model,
                noise_ratios=options.noise,
                methods=options.methods,
                seeds=options.seeds,
                profile=chosen_profile,
                cache_dir=options.cache_dir,
            )
        except UnknownName as error:
            if dry_run and options.plugin:
                plugins = tuple(options.plugin)
                raise PluginsNotLoaded(f"{error.kind} '{error.name}'", plugins) from None
            raise
        chosen_device = select_device(options.device)  # fails here, not in every worker
        check_precision_here(chosen_profile.precision, chosen_device, executor_name)
        store = RunStore(options.out)
        states = survey(specs, store)
        say(grid_summary(states, options.retry_failed))
        already = sum(state == RunState.DONE for state in states.values())
        if already:
            say(f"{already} of {len(specs)} runs already done: skipped")
        todo = runs_to_train(specs, states, options.retry_failed)
        datasets = DatasetCache(options.cache_dir)
        if dry_run:
            prepare_datasets(
                specs,
                chosen_profile,
                datasets,
                on_message=say,
                progress=terminal_track(),
                only_for_readers=True,
            )
            print_plan(specs, states)
            return
        result = train_grid(
            specs, states, todo, options, executor_name, chosen_profile, store, datasets
        )
    except UserError as error:
        raise fail(in_flags(error)) from None
    except KeyboardInterrupt:
        raise interrupted(executor_name, options.out) from None
    report_result(result, options, store, specs)


def train_grid(
    specs: list[RunSpec],
    states: dict,
    todo: list[RunSpec],
    options: SweepConfig,
    executor_name: str,
    profile: Profile,
    store: RunStore,
    datasets: DatasetCache,
) -> SweepResult:
    """Train what a planned grid still needs, with a progress monitor: its datasets, the
    store's leftovers, the executor. The one training path of ``sweep`` and ``tune``."""
    from rmdbench.cli.progress import SweepMonitor
    from rmdbench.sweep import (
        build_executor,
        prepare_datasets,
        prepare_store,
        run_sweep,
        worker_settings,
    )

    if todo:
        prepare_datasets(todo, profile, datasets, on_message=say, progress=terminal_track())
    removed = prepare_store(store, specs, states, on_message=say)
    if removed:
        say(f"removed {removed} staging dir(s) left by interrupted runs")
    chosen = build_executor(executor_name, options, store, datasets)
    if todo:
        say(f"executor {chosen.describe()}")
    with SweepMonitor(console) as monitor:
        return run_sweep(
            specs,
            states,
            executor=chosen,
            settings=worker_settings(options, store, executor_name),
            on_event=monitor,
        )


def interrupted(executor_name: str, out: Path) -> typer.Exit:
    """What Ctrl-C says (SLURM jobs go on without us; local runs stop) and the exit."""
    if executor_name == "slurm":
        message = f"stopped waiting; the submitted jobs go on: rmdbench status {out} follows them"
    else:
        message = "interrupted: finished runs are kept; rerun the same command for the rest"
    error_console.print(message, markup=False)
    return typer.Exit(code=130)


def in_flags(error: UserError) -> str:
    """An engine error in this command's words: an option error that does not name its
    flag gets it appended ('... (--device)')."""
    from rmdbench.sweep.config import flag

    message = str(error)
    if isinstance(error, OptionError) and error.option and "--" not in message:
        message += f" ({flag(error.option)})"
    return message


def report_result(
    result: SweepResult, options: SweepConfig, store: RunStore, specs: list[RunSpec]
) -> None:
    """The DSC table, one summary line, the failures; exit 1 when any run of the grid
    stands failed."""
    out = options.out
    if result.submitted:
        jobs = sorted({report.where.split("_")[0] for report in result.submitted})
        say(
            f"submitted {len(result.submitted)} runs as SLURM job(s) {', '.join(jobs)}; "
            f"follow them with: rmdbench status {out}"
        )
        return
    done = {spec.run_name for spec in specs if store.is_done(spec.run_name)}
    print_dsc_table(out, done)
    say(
        f"{len(result.trained)} runs trained, {result.skipped} skipped, "
        f"{len(result.failed)} failed in {result.seconds:.0f} s; results in {out}/ "
        f"(next: rmdbench report {out})"
    )
    if result.elsewhere:
        say(
            f"{len(result.elsewhere)} runs are being trained by another sweep; "
            f"see rmdbench status {out}"
        )
    failed = result.failed_names
    if failed:
        errors = {report.run_name: report.error for report in result.failed}
        for name in failed:
            reason = errors.get(name) or "failed earlier (kept; --retry-failed reruns it)"
            error_console.print(
                f"failed: {name}: {reason}", markup=False, highlight=False, soft_wrap=True
            )
        error_console.print(
            f"{len(failed)} of {len(specs)} runs failed; details in each run's failed.json",
            markup=False,
        )
        raise typer.Exit(code=1)


def print_plan(specs: list[RunSpec], states: dict[str, RunState]) -> None:
    """The --dry-run table: one row per run of the grid, in the order it would train."""
    from rich.text import Text

    from rmdbench.labels import method_label
    from rmdbench.store import RunState

    table = Table(title=f"sweep plan · {len(specs)} runs")
    for column in ("#", "state", "method", "noise model", "r", "seed", "dataset"):
        justify = "right" if column in ("#", "r", "seed") else "left"
        table.add_column(column, justify=justify, overflow="fold")
    table.add_column("run", no_wrap=True, min_width=12)  # the spec hash, whole
    style = {RunState.DONE: "green", RunState.FAILED: "red", RunState.RUNNING: "yellow"}
    for number, spec in enumerate(specs, 1):
        state = states[spec.run_name]
        noise = spec.noise_model
        if spec.noise_preset != "default":
            noise += f"[preset={spec.noise_preset}]"
        method = method_label(spec.method, spec.method_params)
        cells = (method, noise, f"{spec.noise_ratio:g}", str(spec.seed), spec.dataset)
        table.add_row(
            str(number),
            Text(state, style=style.get(state, "")),
            *(Text(cell) for cell in cells),  # Text: 'rmd[distill=False]' is not markup
            spec.key,
        )
    console.print(table)


def print_dsc_table(runs_dir: Path, run_names: set[str]) -> None:
    from rmdbench.reports.store_reader import load_runs
    from rmdbench.reports.tables import summary_table

    if not run_names:
        return
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
