"""``rmdbench tune``: equal-budget hyper-parameter tuning. Every method gets the same number
of configurations from its declared search space, trained as ordinary runs of the sweep
machinery (same store, resume, executors); one per setting and method is selected on
validation labels, and the selection is written as a csv, rerunnable sweep files and the
store's record (docs/tuning.md).

The options are the sweep's own (every one but ``--dry-run`` and ``--detach``), taken from
``rmdbench.cli.sweep.sweep``'s signature rather than copied, so the two commands read and
check them alike and never drift apart; tune adds ``--search``, ``--select`` and
``--report-out``. The engine (``rmdbench.tuning``) does the work; this module parses,
calls it and prints.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from rmdbench.cli.common import console, error_console, fail, say
from rmdbench.cli.sweep import in_flags, interrupted, sweep, train_grid
from rmdbench.errors import OptionError, UserError

if TYPE_CHECKING:
    import pandas as pd

    from rmdbench.sweep import SweepResult
    from rmdbench.tuning import TuningPlan

TUNING = "Tuning"
DEFAULT_SEARCH = 8
#: the sweep's parameters tune does not take: it trains and waits for every run, since it
#: selects from their scores
NOT_SHARED = ("dry_run", "detach")


def tune(**given: Any) -> None:
    """Tune every method with the same budget: --search N configurations each (0: its
    defaults; 1..N-1 drawn from its search space), trained as ordinary runs; select per
    setting and method the best mean validation DSC over the seeds (--select noisy-val:
    validation labels corrupted like the training labels; clean-val: the oracle).

    Writes tuning.csv and one sweep file per setting to --report-out (default
    OUT/tuning/), and OUT/.tuning/selected.json. Rerunning trains nothing new."""
    from rmdbench.data.lidc_phantom import default_cache_dir
    from rmdbench.executors.base import DatasetCache
    from rmdbench.outputs import check_not_a_file, check_writable_dir
    from rmdbench.plugins import load_plugins
    from rmdbench.profiles import get_profile
    from rmdbench.store import RunStore
    from rmdbench.sweep import (
        SweepConfig,
        choose_executor,
        config_keys,
        grid_summary,
        runs_to_train,
        survey,
    )
    from rmdbench.training.precision import check_precision_here
    from rmdbench.training.trainer import select_device
    from rmdbench.tuning import (
        check_rule,
        check_scored,
        check_search,
        collect_scores,
        plan_tuning,
        record_selected,
        select,
        selected_entries,
        summarise,
        write_csv,
        write_sweep_files,
    )
    from rmdbench.tuning.selected import TUNING_DIR

    search, rule, report_out = given["search"], given["select"], given["report_out"]
    flags = {key: given[key] for key in config_keys() if given.get(key) is not None}
    executor_name, options = "", SweepConfig()
    try:
        check_search(search)
        check_rule(rule)
        options = SweepConfig.load(given["config"], flags, allow_plugins=given["allow_plugins"])
        if options.detach:
            raise OptionError(
                "tune waits for its runs to select from their scores; drop detach", "detach"
            )
        report_dir = Path(report_out) if report_out is not None else options.out / "tuning"
        check_writable_dir(options.out, "runs")
        check_writable_dir(report_dir, "tuning report", "pass a writable folder with --report-out")
        check_writable_dir(options.out / TUNING_DIR, "tuning record", "pass another --out")
        check_not_a_file(
            options.cache_dir or default_cache_dir(),
            "dataset cache",
            "set RMDBENCH_CACHE_DIR or pass --cache-dir a folder you can write to",
        )
        executor_name = choose_executor(options)
        load_plugins(options.plugin)
        chosen_profile = get_profile(
            options.profile, precision=options.precision, backbone=options.backbone
        )
        plan = plan_tuning(options, chosen_profile, search)
        chosen_device = select_device(options.device)
        check_precision_here(chosen_profile.precision, chosen_device, executor_name)
        store = RunStore(options.out)
        states = survey(plan.specs, store)
        check_scored(plan, store, states)
        say_budget(plan)
        say(grid_summary(states, options.retry_failed))
        todo = runs_to_train(plan.specs, states, options.retry_failed)
        datasets = DatasetCache(options.cache_dir)
        result = train_grid(
            plan.specs, states, todo, options, executor_name, chosen_profile, store, datasets
        )
        selection = select(summarise(collect_scores(plan, store)), rule)
        written = [
            write_csv(selection, report_dir),
            *write_sweep_files(plan, selection, options, report_dir, rule),
            record_selected(options.out, selected_entries(plan, selection)),
        ]
    except UserError as error:
        raise fail(in_flags(error)) from None
    except KeyboardInterrupt:
        raise interrupted(executor_name, options.out) from None
    print_selection(selection, rule)
    for path in written:
        say(f"wrote {path}")
    report_failures(result, len(plan.specs))


def say_budget(plan: TuningPlan) -> None:
    """The budget in one line, and one line per method with nothing to search."""
    entries = list(dict.fromkeys(configuration.entry for configuration in plan.configurations))
    say(
        f"tuning {len(entries)} method(s) with {plan.search} configuration(s) each "
        f"(0: the defaults) on {len(plan.settings)} setting(s), seeds "
        f"{', '.join(map(str, plan.seeds))}: {len(plan.specs)} runs"
    )
    for entry in plan.untuned():
        say(f"{entry}: nothing to search (no search space, or all of it fixed): 1 configuration")


def _dsc(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"  # NaN: not scored


def print_selection(selection: pd.DataFrame, rule: str) -> None:
    """One table per setting: each method's number of configurations, the selected one,
    its mean validation DSC under both rules, and the defaults' under the rule."""
    column = "mean_noisy_dsc" if rule == "noisy-val" else "mean_clean_dsc"
    keys = ["dataset", "noise_model", "noise_ratio"]
    for (dataset, noise, ratio), group in selection.groupby(keys, sort=False):
        table = Table(
            title=f"selected on {rule} · {dataset} · {noise} r={ratio:g}",
            caption="mean validation DSC over the tuning seeds; default: configuration 0",
        )
        table.add_column("method", overflow="fold")
        table.add_column("N", justify="right")
        table.add_column("selected", overflow="fold", min_width=12)
        for name in ("noisy-val", "clean-val", "default"):
            table.add_column(name, justify="right")
        for method, rows in group.groupby("method", sort=False):
            chosen = rows[rows["selected"]]
            defaults = rows[rows["configuration"] == 0][column]
            row = chosen.iloc[0] if len(chosen) else None
            table.add_row(
                Text(str(method)),
                str(len(rows)),
                Text(row["label"] if row is not None else "none (no complete configuration)"),
                _dsc(row["mean_noisy_dsc"]) if row is not None else "-",
                _dsc(row["mean_clean_dsc"]) if row is not None else "-",
                _dsc(defaults.iloc[0]) if len(defaults) else "-",
            )
        console.print(table)


def report_failures(result: SweepResult, total: int) -> None:
    """Each failed run in one line; exit 1 when any run of the grid stands failed (its
    configuration was left out of the selection)."""
    failed = result.failed_names
    if not failed:
        return
    errors = {report.run_name: report.error for report in result.failed}
    for name in failed:
        reason = errors.get(name) or "failed earlier (kept; --retry-failed reruns it)"
        error_console.print(f"failed: {name}: {reason}", markup=False, soft_wrap=True)
    error_console.print(
        f"{len(failed)} of {total} runs failed; their configurations were not selectable",
        markup=False,
    )
    raise typer.Exit(code=1)


def _own_options() -> list[inspect.Parameter]:
    """The options tune adds to the sweep's."""

    def option(name: str, default: Any, annotation: Any) -> inspect.Parameter:
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )

    return [
        option(
            "search",
            DEFAULT_SEARCH,
            Annotated[
                int,
                typer.Option(
                    "--search",
                    help="Configurations per method, the same N for every method: 0 is the "
                    "method's defaults, 1..N-1 are drawn from its search space.",
                    rich_help_panel=TUNING,
                ),
            ],
        ),
        option(
            "select",
            "noisy-val",
            Annotated[
                str,
                typer.Option(
                    "--select",
                    help="noisy-val: select on validation labels corrupted like the training "
                    "labels (what a user has); clean-val: on the clean ones (the oracle).",
                    rich_help_panel=TUNING,
                ),
            ],
        ),
        option(
            "report_out",
            None,
            Annotated[
                Path | None,
                typer.Option(
                    "--report-out",
                    help="Folder for tuning.csv and the sweep files (default: OUT/tuning).",
                    rich_help_panel=TUNING,
                ),
            ],
        ),
    ]


def _signature() -> inspect.Signature:
    """tune's options: its own, then the sweep's (their definitions, help and panels)."""
    shared = [
        parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for name, parameter in inspect.signature(sweep, eval_str=True).parameters.items()
        if name not in NOT_SHARED
    ]
    return inspect.Signature([*_own_options(), *shared])


tune.__signature__ = _signature()
