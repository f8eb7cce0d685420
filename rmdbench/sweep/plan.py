"""The grid of a sweep: every run, each one checked before anything trains (unknown
names, bad ratios or hyper-parameters, a noise model that does not fit a dataset)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rmdbench.backbones.choice import resolve_backbone
from rmdbench.data.resolve import check_dataset, dataset_identity, prepared_labels
from rmdbench.errors import OptionError
from rmdbench.fingerprint import code_components, code_fingerprint
from rmdbench.noise import (
    check_noise_dims,
    check_noise_fits,
    check_noise_labels,
    parse_noise_ratios,
)
from rmdbench.params import build_params, params_dict, parse_component, split_top_level
from rmdbench.plugins import load_builtins
from rmdbench.profiles import Profile
from rmdbench.registry import DATASETS, METHODS, NOISE_MODELS
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


def resolve_noise_model(
    component: Component, crop_size: int | None = None
) -> tuple[str, str, dict]:
    """'distortion[preset=severe,zoom=1-2]' -> (name, preset, resolved severity dict).
    With ``crop_size``, a severity larger than the crop (a radius of 99999 px) is refused."""
    name, options = _component(component)
    preset = str(options.pop("preset", "default"))
    model_class = NOISE_MODELS.get(name)
    params = model_class.resolve_params(preset, options)
    if crop_size is not None:
        check_noise_fits(model_class(params), crop_size)
    return name, preset, params_dict(params)


#: plan_sweep's axes as the sweep options that set them (an error names the option)
AXIS_OPTIONS = {
    "datasets": "dataset",
    "noise_models": "noise_model",
    "noise_ratios": "noise",
    "methods": "methods",
    "seeds": "seeds",
}


def check_axes(axes: dict[str, list]) -> None:
    """A grid with an empty axis has no runs: refused, naming the option, instead of
    planning and 'running' nothing."""
    for axis, values in axes.items():
        if not values:
            option = AXIS_OPTIONS[axis]
            raise OptionError(
                f"the grid has no runs: no {axis.replace('_', ' ')} given; "
                f"give at least one with {flag(option)}",
                option,
            )


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
    check_axes(
        {
            "datasets": datasets,
            "noise_models": noise_models,
            "noise_ratios": noise_ratios,
            "methods": methods,
            "seeds": seeds,
        }
    )
    for dataset in datasets:
        check_dataset(dataset, cache_dir)
    identities = {dataset: dataset_identity(dataset, cache_dir) for dataset in datasets}
    ratios = parse_noise_ratios(noise_ratios)
    check_axes({"noise_ratios": ratios})  # '' read as no ratio at all
    resolved_methods = [resolve_method(component) for component in methods]
    resolved_noise = [
        resolve_noise_model(component, profile.crop_size) for component in noise_models
    ]
    for dataset, (dims, _) in identities.items():
        labels = prepared_labels(dataset, cache_dir)
        for noise_name, _, _ in resolved_noise:
            check_noise_dims(NOISE_MODELS.get(noise_name), dims, dataset)
            if labels is not None:  # a registered dataset is checked once it loads
                check_noise_labels(NOISE_MODELS.get(noise_name), dataset, **labels)
    # the profile's backbone for each dataset's dimensionality ('unet': unet2d or unet3d)
    backbones = {
        dataset: resolve_backbone(profile.backbone, dims, dataset, profile.crop_size)
        for dataset, (dims, _) in identities.items()
    }
    code = CodeFingerprints()
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
            backbone=backbones[dataset][0],
            backbone_params=backbones[dataset][1],
            dataset_fingerprint=identities[dataset][1],
            code=code.of_run(
                method_name,
                noise_name if ratio > 0 else None,
                backbones[dataset][0],
                dataset,
            ),
        )
        for dataset in datasets
        for noise_name, preset, noise_params in resolved_noise
        for seed in seeds
        for ratio in ratios
        for method_name, method_params in resolved_methods
    ]
    unique = {spec.run_name: spec for spec in specs}.values()  # a repeated entry: once
    return share_clean_runs(list(unique))


class CodeFingerprints:
    """The ``code`` of each run of a plan (``rmdbench.fingerprint``), each component's
    files hashed once per plan. At noise ratio 0 no noise model code runs, so it is left
    out: the clean run shared by every noise model (``share_clean_runs``) stays one run.
    A prepared dataset has no code of its own here: the fingerprint of the format that
    wrote it is in its dataset.json, and so in the spec's ``dataset_fingerprint``."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], str] = {}
        self._components = code_components()  # the table the worker's check uses too

    def of(self, component: str, name: str) -> str:
        key = (component, name)
        if key not in self._known:
            registry, base = self._components[component]
            self._known[key] = code_fingerprint(registry.get(name), base)
        return self._known[key]

    def of_run(
        self, method: str, noise_model: str | None, backbone: str, dataset: str
    ) -> dict[str, str]:
        code = {"method": self.of("method", method), "backbone": self.of("backbone", backbone)}
        if noise_model is not None:
            code["noise_model"] = self.of("noise_model", noise_model)
        if dataset in DATASETS:
            code["dataset"] = self.of("dataset", dataset)
        return code


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


def flag(key: str) -> str:
    """A SweepConfig field as its command-line flag: 'slurm_time' -> '--slurm-time'."""
    return "--" + key.replace("_", "-")


def split_list(values: list[str]) -> list[str]:
    """Accept both repeated options and comma-separated lists."""
    return [item for value in values for item in split_top_level(value)]
