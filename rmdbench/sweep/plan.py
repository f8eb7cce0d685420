"""The grid of a sweep: every run, each one checked before anything trains (unknown
names, bad ratios or hyper-parameters, a noise model that does not fit a dataset)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rmdbench.data.resolve import check_dataset, dataset_identity, default_backbone
from rmdbench.noise import check_noise_dims, parse_noise_ratios
from rmdbench.params import build_params, params_dict, parse_component, split_top_level
from rmdbench.plugins import load_builtins
from rmdbench.profiles import Profile
from rmdbench.registry import METHODS, NOISE_MODELS
from rmdbench.run import RunSpec

#: a method or noise model: 'rmd[distill=false]', or ('rmd', {'distill': False}) from YAML
Component = str | tuple[str, dict]


def _component(component: Component) -> tuple[str, dict]:
    if isinstance(component, tuple):
        name, options = component
        return name, dict(options)
    return parse_component(component)


def resolve_method(component: Component) -> tuple[str, dict]:
    """'rmd[distill=false]' -> ('rmd', resolved hyper-parameters as a dict)."""
    name, options = _component(component)
    method_class = METHODS.get(name)
    return name, params_dict(build_params(method_class.Params, options, f"method '{name}'"))


def resolve_noise_model(component: Component) -> tuple[str, str, dict]:
    """'distortion[preset=severe,zoom=1-2]' -> (name, preset, resolved severity dict)."""
    name, options = _component(component)
    preset = str(options.pop("preset", "default"))
    params = NOISE_MODELS.get(name).resolve_params(preset, options)
    return name, preset, params_dict(params)


def plan_sweep(
    *,
    datasets: list[str],
    noise_models: list[Component],
    noise_ratios: list[float],
    methods: list[Component],
    seeds: list[int],
    profile: Profile,
    cache_dir: Path | None = None,
) -> list[RunSpec]:
    """Every run of the grid, validated (unknown names, bad ratios and hyper-parameters
    fail here, before anything is trained)."""
    load_builtins()
    for dataset in datasets:
        check_dataset(dataset, cache_dir)
    identities = {dataset: dataset_identity(dataset, cache_dir) for dataset in datasets}
    ratios = parse_noise_ratios(noise_ratios)
    resolved_methods = [resolve_method(component) for component in methods]
    resolved_noise = [resolve_noise_model(component) for component in noise_models]
    for dataset, (dims, _) in identities.items():
        for noise_name, _, _ in resolved_noise:
            check_noise_dims(NOISE_MODELS.get(noise_name), dims, dataset)
    specs = [
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
            backbone=default_backbone(identities[dataset][0]),
            dataset_fingerprint=identities[dataset][1],
        )
        for dataset in datasets
        for noise_name, preset, noise_params in resolved_noise
        for seed in seeds
        for ratio in ratios
        for method_name, method_params in resolved_methods
    ]
    unique = {spec.run_name: spec for spec in specs}.values()  # a repeated entry: once
    return share_clean_runs(list(unique))


def share_clean_runs(specs: list[RunSpec]) -> list[RunSpec]:
    """At noise ratio 0 no label is corrupted, so the noise model changes nothing: train
    each clean run once, under the first noise model of the grid (reports show it for every
    noise model of the sweep, marked)."""
    kept, seen = [], set()
    for spec in specs:
        if spec.noise_ratio == 0:
            identity = dataclasses.replace(spec, noise_model="", noise_preset="", noise_params={})
            if identity.key in seen:
                continue
            seen.add(identity.key)
        kept.append(spec)
    return kept


def split_list(values: list[str]) -> list[str]:
    """Accept both repeated options and comma-separated lists."""
    return [item for value in values for item in split_top_level(value)]
