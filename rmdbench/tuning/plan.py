"""The grid of a tuning sweep: every configuration of every method, for every setting
(dataset, noise model, ratio) and tuning seed, as ordinary runs of the run store.

The runs are planned by the sweep's own ``plan_sweep`` (every name, hyper-parameter and
noise setting checked as a sweep checks it), so they are the runs a sweep of the same
methods would make: same names, same store, same resume. Each planned run keeps which
setting, configuration and seed it scores; at noise ratio 0 that run may be the clean run
trained under the grid's first noise model (``share_clean_runs``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from rmdbench.labels import label
from rmdbench.plugins import load_builtins
from rmdbench.profiles import Profile
from rmdbench.run import RunSpec
from rmdbench.sweep.config import SweepConfig
from rmdbench.sweep.plan import (
    Component,
    check_axes,
    plan_sweep,
    resolve_method,
    resolve_noise_model,
    share_clean_runs,
)
from rmdbench.tuning.configurations import Configuration, entry_parts, method_configurations


@dataclass(frozen=True)
class Setting:
    """Where a method is tuned: ``dataset``, the noise model as given (``noise``, e.g.
    'distortion[preset=severe]'; ``noise_model`` its registered name, ``noise_preset``
    its preset) and the noise ``ratio``. ``component``: the noise model as the sweep
    options hold it (for the sweep file)."""

    dataset: str
    noise: str
    noise_model: str
    noise_preset: str
    ratio: float
    component: Component = field(compare=False)


@dataclass(frozen=True)
class PlannedRun:
    """One (setting, configuration, seed) and the run that holds its scores."""

    setting: Setting
    configuration: Configuration
    seed: int
    run_name: str
    params: dict = field(compare=False)  # the configuration's resolved hyper-parameters


@dataclass
class TuningPlan:
    """``specs``: the runs to train (shared clean runs once); ``runs``: what each
    (setting, configuration, seed) is scored by; ``search``: configurations per method;
    ``seeds``: the tuning seeds."""

    settings: list[Setting]
    configurations: list[Configuration]
    runs: list[PlannedRun]
    specs: list[RunSpec]
    search: int
    seeds: list[int]

    def untuned(self) -> list[str]:
        """The method entries with nothing to search (one configuration), in order."""
        return [
            configuration.entry
            for configuration in self.configurations
            if configuration.index == 0 and not configuration.searched
        ]


def _noise_text(component: Component) -> str:
    if isinstance(component, tuple):
        return label(component[0], dict(component[1]))
    return component.strip()


def _params_key(method: str, params: dict) -> str:
    return json.dumps([method, params], sort_keys=True, default=str)


def _clean_identity(spec: RunSpec) -> str:
    """What names a run at noise ratio 0 whatever the noise model (``share_clean_runs``)."""
    if spec.noise_ratio != 0:
        return spec.key
    return dataclasses.replace(spec, noise_model="", noise_preset="", noise_params={}).key


def plan_tuning(config: SweepConfig, profile: Profile, search: int) -> TuningPlan:
    """Every run of the tuning grid of ``config`` (its datasets, noise models, ratios,
    methods and seeds) with ``search`` configurations per method, checked before anything
    trains: the search spaces against their Params, and every run as a sweep checks it."""
    load_builtins()
    check_axes(
        {
            "datasets": config.dataset,
            "noise_models": config.noise_model,
            "noise_ratios": config.noise,
            "methods": config.methods,
            "seeds": config.seeds,
        }
    )
    seeds = list(dict.fromkeys(config.seeds))
    entries = {entry_parts(entry)[0]: entry for entry in config.methods}  # each once
    configurations = [
        configuration
        for entry in entries.values()
        for configuration in method_configurations(entry, search, seeds[0])
    ]
    by_params: dict[str, list[int]] = {}  # resolved method -> configuration numbers
    resolved: dict[int, dict] = {}
    for number, configuration in enumerate(configurations):
        name, params = resolve_method(configuration.component)
        resolved[number] = params
        by_params.setdefault(_params_key(name, params), []).append(number)
    components = [configuration.component for configuration in configurations]
    settings: list[Setting] = []
    scored: list[tuple[Setting, RunSpec]] = []
    for dataset in dict.fromkeys(config.dataset):
        for noise in config.noise_model:
            noise_name, preset, _ = resolve_noise_model(noise)
            for ratio in dict.fromkeys(config.noise):
                setting = Setting(dataset, _noise_text(noise), noise_name, preset, ratio, noise)
                if setting in settings:
                    continue
                settings.append(setting)
                specs = plan_sweep(
                    datasets=[dataset],
                    noise_models=[noise],
                    noise_ratios=[ratio],
                    methods=components,
                    seeds=seeds,
                    profile=profile,
                    cache_dir=config.cache_dir,
                )
                scored.extend((setting, spec) for spec in specs)
    specs = share_clean_runs(list({spec.run_name: spec for _, spec in scored}.values()))
    trained = {_clean_identity(spec): spec.run_name for spec in specs}
    runs = [
        PlannedRun(
            setting,
            configurations[number],
            spec.seed,
            trained[_clean_identity(spec)],
            resolved[number],
        )
        for setting, spec in scored
        for number in by_params[_params_key(spec.method, spec.method_params)]
    ]
    return TuningPlan(settings, configurations, runs, specs, search, seeds)
