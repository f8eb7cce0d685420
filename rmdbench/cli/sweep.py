"""``rmdbench sweep``: the grid from the command line or a YAML file, run by an executor,
and a DSC table at the end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from rmdbench.cli.common import console, error_console, fail, say
from rmdbench.errors import UserError

if TYPE_CHECKING:
    from rmdbench.executors.base import DatasetCache, Executor
    from rmdbench.run import RunSpec
    from rmdbench.store import RunStore
    from rmdbench.sweep import SweepConfig, SweepResult

SWEEP_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}
EXECUTION = "Execution"
SLURM = "SLURM (--executor slurm)"
DEFAULT_SLURM_MINUTES = 120


def sweep(
    context: typer.Context,
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
        list[str] | None,
        typer.Option(
            "--noise",
            help="Noise ratio(s): fraction of training masks corrupted, "
            "e.g. --noise 0.8 or --noise 0 --noise 0.4 (or --noise '0 0.4 0.8'). [default: 0.8]",
        ),
    ] = None,
    methods: Annotated[
        list[str] | None,
        typer.Option(
            "--methods",
            help="Methods, comma-separated; hyper-parameters as name[key=value,...]. "
            "[default: single,coteaching,rmd]",
        ),
    ] = None,
    noise_model: Annotated[
        list[str] | None,
        typer.Option(
            "--noise-model",
            help="Noise model(s), e.g. distortion or distortion[preset=severe]. "
            "[default: distortion]",
        ),
    ] = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="Dataset name(s). [default: lidc-phantom]")
    ] = None,
    seeds: Annotated[
        list[int] | None, typer.Option("--seeds", help="Seed(s); repeat for more. [default: 0]")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="quick (CPU-sized), paper, or tiny. [default: quick]")
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
        list[Path] | None,
        typer.Option(
            "--plugin",
            help="A .py file that registers methods, noise models or datasets (repeatable).",
        ),
    ] = None,
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
            help="local: worker processes (default one per GPU, else one per 2 cores), "
            "each with cores/N torch threads. slurm: most array tasks running at once.",
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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (every run: done, failed, running or todo); train nothing.",
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
        int | None, typer.Option(help="GPUs per run. [default: 1]", rich_help_panel=SLURM)
    ] = None,
    slurm_cpus: Annotated[
        int | None, typer.Option(help="CPUs per run (also torch threads).", rich_help_panel=SLURM)
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
        list[str] | None,
        typer.Option(
            "--slurm-setup",
            help="Shell line run before each task, e.g. 'source .venv/bin/activate' (repeatable).",
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
        bool,
        typer.Option(
            "--detach",
            help="Submit the array and return; follow it with 'rmdbench status OUT'.",
            rich_help_panel=SLURM,
        ),
    ] = False,
) -> None:
    """Train every method on the same noisy labels for each noise ratio; print a DSC table.

    Done runs are skipped and failed ones kept (--retry-failed reruns them), so rerunning
    a killed sweep completes the rest; a run locked by a concurrent sweep is left to it."""
    from rmdbench.executors.base import DatasetCache, WorkerSettings
    from rmdbench.noise import parse_noise_ratios
    from rmdbench.plugins import load_plugins
    from rmdbench.profiles import get_profile
    from rmdbench.store import RunStore
    from rmdbench.sweep import (
        SweepConfig,
        grid_summary,
        plan_sweep,
        prepare_datasets,
        read_sweep_file,
        run_sweep,
        runs_to_train,
        split_list,
        survey,
    )
    from rmdbench.training.trainer import select_device

    executor_name = ""
    options = SweepConfig()
    try:
        flags: dict[str, Any] = {
            "noise": parse_noise_ratios([*(noise or []), *context.args]) or None,
            "methods": split_list(methods) if methods else None,
            "noise_model": split_list(noise_model) if noise_model else None,
            "dataset": split_list(dataset) if dataset else None,
            "seeds": seeds or None,
            "profile": profile,
            "out": out,
            "device": device,
            "cache_dir": cache_dir,
            "plugin": plugin or None,
            "executor": executor,
            "workers": workers,
            "retry_failed": retry_failed,
            "checkpoint_every": checkpoint_every,
            "slurm_partition": slurm_partition,
            "slurm_time": slurm_time,
            "slurm_gpus": slurm_gpus,
            "slurm_cpus": slurm_cpus,
            "slurm_mem": slurm_mem,
            "slurm_account": slurm_account,
            "slurm_qos": slurm_qos,
            "slurm_constraint": slurm_constraint,
            "slurm_setup": slurm_setup or None,
            "slurm_cluster": slurm_cluster,
            "detach": detach or None,
        }
        if config is not None:
            options.update(read_sweep_file(config))
        options.update({key: value for key, value in flags.items() if value is not None})
        executor_name = choose_executor(options)
        load_plugins(options.plugin)
        chosen_profile = get_profile(options.profile)
        specs = plan_sweep(
            datasets=options.dataset,
            noise_models=options.noise_model,
            noise_ratios=options.noise,
            methods=options.methods,
            seeds=options.seeds,
            profile=chosen_profile,
            cache_dir=options.cache_dir,
        )
        select_device(options.device)  # a bad --device fails here, not in every worker
        slurm = slurm_options(options) if executor_name == "slurm" else None
        store = RunStore(options.out)
        states = survey(specs, store)
        say(grid_summary(states, options.retry_failed))
        already = sum(state == "done" for state in states.values())
        if already:
            say(f"{already} of {len(specs)} runs already done: skipped")
        todo = runs_to_train(specs, states, options.retry_failed)
        datasets = DatasetCache(options.cache_dir)
        if dry_run:
            prepare_datasets(specs, chosen_profile, datasets, console, only_for_readers=True)
            print_plan(specs, states)
            return
        if todo:
            prepare_datasets(todo, chosen_profile, datasets, console)
        store.ensure_writable()
        removed = store.remove_stale_staging()
        if removed:
            say(f"removed {removed} staging dir(s) left by interrupted runs")
        store.record_plan({spec.run_name: spec.method for spec in specs})
        chosen = build_executor(executor_name, options, store, datasets, slurm)
        if todo:
            say(f"executor {chosen.describe()}")
        settings = WorkerSettings(
            store_root=store.root.resolve(),
            device=options.device,
            cache_dir=None if options.cache_dir is None else Path(options.cache_dir).resolve(),
            plugins=tuple(Path(path).resolve() for path in options.plugin),
            retry_failed=options.retry_failed,
            checkpoint_every=options.checkpoint_every,
        )
        result = run_sweep(specs, states, executor=chosen, settings=settings, console=console)
    except UserError as error:
        raise fail(str(error)) from None
    except KeyboardInterrupt:
        if executor_name == "slurm":
            message = "stopped waiting; the submitted jobs go on: rmdbench status OUT follows them"
        else:
            message = "interrupted: finished runs are kept; rerun the same command for the rest"
        error_console.print(message.replace("OUT", str(options.out)))
        raise typer.Exit(code=130) from None
    report_result(result, options, store, specs)


def choose_executor(options: SweepConfig) -> str:
    """The executor to use, and every executor option checked against it."""
    from rmdbench.executors import EXECUTOR_NAMES

    slurm_flags = options.slurm_options_given()
    name = options.executor or (
        "slurm" if slurm_flags else "local" if options.workers is not None else "inline"
    )
    if name not in EXECUTOR_NAMES:
        raise UserError(f"unknown executor '{name}'; choose one of: {', '.join(EXECUTOR_NAMES)}")
    if options.workers is not None and options.workers < 1:
        raise UserError(f"--workers must be at least 1, got {options.workers}")
    if options.checkpoint_every < 0:
        raise UserError(
            f"--checkpoint-every must be 0 (off) or a number of epochs, got "
            f"{options.checkpoint_every}"
        )
    if slurm_flags and name != "slurm":
        raise UserError(
            f"{slurm_flags[0]} applies to the slurm executor; add --executor slurm "
            f"(or drop it for --executor {name})"
        )
    if name == "inline" and options.workers not in (None, 1):
        raise UserError(
            "--workers applies to --executor local or slurm; inline trains one run at a time"
        )
    return name


def slurm_options(options: SweepConfig) -> Any:
    from rmdbench.executors.slurm import SlurmOptions, parse_memory_gb, parse_slurm_time

    slurm = SlurmOptions(
        folder=Path(options.out).resolve() / ".slurm",
        time_minutes=parse_slurm_time(options.slurm_time or DEFAULT_SLURM_MINUTES),
        gpus=1 if options.slurm_gpus is None else options.slurm_gpus,
        cpus=options.slurm_cpus,
        mem_gb=None if options.slurm_mem is None else parse_memory_gb(options.slurm_mem),
        partition=options.slurm_partition,
        account=options.slurm_account,
        qos=options.slurm_qos,
        constraint=options.slurm_constraint,
        array_parallelism=options.workers,
        setup=tuple(options.slurm_setup),
        cluster=options.slurm_cluster or "slurm",
        detach=options.detach,
    )
    slurm.check()
    return slurm


def build_executor(
    name: str, options: SweepConfig, store: RunStore, datasets: DatasetCache, slurm: Any
) -> Executor:
    if name == "local":
        from rmdbench.executors.local import LocalExecutor, plan_local

        return LocalExecutor(plan_local(options.device, options.workers), store.root / ".logs")
    if name == "slurm":
        from rmdbench.executors.slurm import SlurmExecutor

        return SlurmExecutor(slurm)
    from rmdbench.executors.inline import InlineExecutor

    return InlineExecutor(datasets)


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


def print_plan(specs: list[RunSpec], states: dict[str, str]) -> None:
    """The --dry-run table: one row per run of the grid, in the order it would train."""
    from rich.text import Text

    from rmdbench.sweep import method_label

    table = Table(title=f"sweep plan · {len(specs)} runs")
    for column in ("#", "state", "method", "noise model", "r", "seed", "dataset"):
        justify = "right" if column in ("#", "r", "seed") else "left"
        table.add_column(column, justify=justify, overflow="fold")
    table.add_column("run", no_wrap=True, min_width=12)  # the spec hash, whole
    style = {"done": "green", "failed": "red", "running": "yellow", "todo": ""}
    for number, spec in enumerate(specs, 1):
        state = states[spec.run_name]
        noise = spec.noise_model
        if spec.noise_preset != "default":
            noise += f"[preset={spec.noise_preset}]"
        cells = (method_label(spec), noise, f"{spec.noise_ratio:g}", str(spec.seed), spec.dataset)
        table.add_row(
            str(number),
            Text(state, style=style[state]),
            *(Text(cell) for cell in cells),  # Text: 'rmd[distill=False]' is not markup
            spec.key,
        )
    console.print(table)


def print_dsc_table(runs_dir: Path, run_names: set[str]) -> None:
    from rmdbench.reports.load import load_runs
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
