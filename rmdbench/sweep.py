"""A sweep: the grid of runs from the command line, validated before anything runs, then
executed in this process with a live progress display; done runs are skipped."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rmdbench.data.base import SegmentationData
from rmdbench.errors import UserError
from rmdbench.params import build_params, params_dict, parse_component, split_top_level
from rmdbench.plugins import load_builtins
from rmdbench.profiles import Profile
from rmdbench.registries import DATASETS, METHODS, NOISE_MODELS
from rmdbench.run import RunOutcome, RunSpec, execute_run
from rmdbench.store import RunStore


def check_noise_ratio(ratio: float) -> float:
    if not 0.0 <= ratio <= 1.0:
        raise UserError(
            f"noise ratio {ratio:g} is outside [0, 1]; pass a fraction of training masks, "
            "e.g. --noise 0.8"
        )
    return float(ratio)


def resolve_method(text: str) -> tuple[str, dict]:
    """'rmd[distill=false]' -> ('rmd', resolved hyper-parameters as a dict)."""
    name, options = parse_component(text)
    method_class = METHODS.get(name)
    return name, params_dict(build_params(method_class.Params, options, f"method '{name}'"))


def resolve_noise_model(text: str) -> tuple[str, str, dict]:
    """'distortion[preset=severe,zoom=1-2]' -> (name, preset, resolved severity dict)."""
    name, options = parse_component(text)
    model_class = NOISE_MODELS.get(name)
    preset = options.pop("preset", "default")
    if preset not in model_class.presets:
        raise UserError(
            f"noise model '{name}' has no preset '{preset}'; choose one of: "
            f"{', '.join(model_class.presets)}"
        )
    values = {**model_class.presets[preset], **options}
    params = build_params(model_class.Params, values, f"noise model '{name}'")
    return name, preset, params_dict(params)


def plan_sweep(
    *,
    datasets: list[str],
    noise_models: list[str],
    noise_ratios: list[float],
    methods: list[str],
    seeds: list[int],
    profile: Profile,
) -> list[RunSpec]:
    """Every run of the grid, validated (unknown names, bad ratios and hyper-parameters
    fail here, before anything is trained)."""
    load_builtins()
    for dataset in datasets:
        DATASETS.get(dataset)
    ratios = [check_noise_ratio(ratio) for ratio in noise_ratios]
    resolved_methods = [resolve_method(text) for text in methods]
    resolved_noise = [resolve_noise_model(text) for text in noise_models]
    return [
        RunSpec(
            dataset=dataset,
            noise_model=noise_name,
            noise_preset=preset,
            noise_params=noise_params,
            noise_ratio=ratio,
            method=method_name,
            method_params=method_params,
            seed=seed,
            profile=profile.as_dict(),
        )
        for dataset in datasets
        for noise_name, preset, noise_params in resolved_noise
        for seed in seeds
        for ratio in ratios
        for method_name, method_params in resolved_methods
    ]


def split_list(values: list[str]) -> list[str]:
    """Accept both repeated options and comma-separated lists."""
    return [item for value in values for item in split_top_level(value)]


@dataclass
class SweepResult:
    outcomes: list[RunOutcome] = field(default_factory=list)
    skipped: list[RunSpec] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[RunOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]

    @property
    def run_names(self) -> set[str]:
        return {o.spec.run_name for o in self.outcomes} | {s.run_name for s in self.skipped}


def run_sweep(
    specs: list[RunSpec],
    *,
    profile: Profile,
    store: RunStore,
    device: torch.device,
    cache_dir: Path | None,
    console: Console,
) -> SweepResult:
    """Run every spec not yet done, in order, with a progress display; one failing run is
    recorded and the sweep goes on."""
    started = time.perf_counter()
    result = SweepResult()
    todo = [spec for spec in specs if not store.is_done(spec.run_name)]
    result.skipped = [spec for spec in specs if store.is_done(spec.run_name)]
    if result.skipped:
        console.print(f"{len(result.skipped)} of {len(specs)} runs already done: skipped")
    if not todo:
        result.seconds = time.perf_counter() - started
        return result
    datasets: dict[str, SegmentationData] = {}
    for name in dict.fromkeys(spec.dataset for spec in todo):  # before any record is written
        console.print(f"loading dataset {name} (built and cached on first use)")
        datasets[name] = DATASETS.get(name)(
            crop_size=profile.crop_size, cache_dir=cache_dir, progress=console.is_terminal
        )
    for spec in todo:
        if NOISE_MODELS.get(spec.noise_model).requires_readers and (
            datasets[spec.dataset].readers is None
        ):
            raise UserError(
                f"noise model '{spec.noise_model}' needs per-reader masks and dataset "
                f"'{spec.dataset}' has none; use a dataset with readers (--dataset lidc-phantom)"
            )
    cost = {spec.run_name: METHODS.get(spec.method).relative_cost * profile.epochs for spec in todo}
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task("sweep", total=sum(cost.values()))
        finished_units = 0.0
        for number, spec in enumerate(todo, 1):
            label = f"run {number}/{len(todo)} {spec.method} r={spec.noise_ratio:g} s={spec.seed}"
            progress.update(overall, description=label)
            unit = cost[spec.run_name] / profile.epochs

            def on_epoch(
                epoch: int, epochs: int, row: dict, label: str = label, unit: float = unit
            ) -> None:
                progress.update(
                    overall,
                    advance=unit,
                    description=f"{label} epoch {epoch + 1}/{epochs} val DSC {row['val_dsc']:.3f}",
                )

            outcome = execute_run(spec, datasets[spec.dataset], profile, store, device, on_epoch)
            finished_units += cost[spec.run_name]  # a failed run ends early: catch up
            progress.update(overall, completed=finished_units)
            result.outcomes.append(outcome)
            if outcome.status == "done":
                progress.console.print(
                    f"done   {spec.run_name}  test DSC {outcome.summary['dsc']:.3f}"
                )
            else:
                progress.console.print(f"[red]failed[/] {spec.run_name}: {outcome.error}")
    result.seconds = time.perf_counter() - started
    return result
