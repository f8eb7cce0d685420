"""The labels that keep variants of one method, noise model or profile apart in the tidy
frame (``reports.store_reader``), spelled by ``rmdbench.labels``:

- ``method_label``: the method name plus its hyper-parameters that differ from the
  method's defaults (``rmd[distill=false]``), so an ablation run never pools with the full
  method; ``method_variant``: those differences alone (``distill=false``) or ``default``;
- ``noise_setting``: the noise model plus its preset, and its severity fields when several
  severities share one preset (``distortion[preset=severe,radius=2-6]``);
- ``profile_setting``: the profile name, plus the fields that differ when runs of one
  profile name were made with different profile values (``tiny[epochs=50]``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from rmdbench.labels import NEVER_EQUAL, label, method_defaults, parameter_differences

DefaultsOf = Callable[[str, list[dict], list[int]], dict]


def add_labels(cases: pd.DataFrame) -> None:
    """Add ``method_label``, ``method_variant`` (the differences alone, or 'default'),
    ``noise_setting`` and ``profile_setting`` (the profile name, plus the fields that
    differ when runs of one profile name were made with different profile values)."""
    labels, variants = _variant_labels(
        cases["method"], cases["method_params"], method_default_values
    )
    keys = list(zip(cases["method"], cases["method_params"], strict=True))
    cases["method_label"] = [labels[key] for key in keys]
    cases["method_variant"] = [variants[key] for key in keys]

    preset = cases["noise_preset"].fillna("default").astype(str)
    noise_names = np.where(
        preset == "default",
        cases["noise_model"].astype(str),
        cases["noise_model"].astype(str) + "[preset=" + preset + "]",
    )
    noise_names = pd.Series(noise_names, index=cases.index)
    labels, _ = _variant_labels(noise_names, cases["noise_params"], _every_field_varies)
    keys = zip(noise_names, cases["noise_params"], strict=True)
    cases["noise_setting"] = [_merge_label(labels[key]) for key in keys]

    labels, _ = _variant_labels(cases["profile"], cases["profile_json"], _every_field_varies)
    keys = zip(cases["profile"], cases["profile_json"], strict=True)
    cases["profile_setting"] = [_merge_label(labels[key]) for key in keys]


def method_default_values(method: str, param_sets: list[dict], weights: list[int]) -> dict:
    """The defaults a method's runs are compared with: the registered defaults for the
    keys the registry knows; for other keys (a plug-in not installed here, or a parameter
    renamed since the run), the value most of the distinct settings share (ties: the most
    run setting's value), which is the default in a one-switch-at-a-time ablation."""
    registered = method_defaults(method) or {}
    keys = dict.fromkeys(key for params in param_sets for key in params)
    ranked = [
        params
        for _, params in sorted(zip(weights, param_sets, strict=True), key=lambda pair: -pair[0])
    ]
    defaults = {}
    for key in keys:
        if key in registered:
            defaults[key] = registered[key]
            continue
        values = [
            json.dumps(params[key], sort_keys=True, default=str)
            for params in ranked
            if key in params
        ]
        counts = pd.Series(values).value_counts(sort=False)
        top = counts[counts == counts.max()].index
        chosen = next(value for value in values if value in set(top))
        defaults[key] = json.loads(chosen)
    return defaults


def _variant_labels(
    names: pd.Series, payloads: pd.Series, defaults_of: DefaultsOf
) -> tuple[dict, dict]:
    """(name, json) -> full label and variant (differences alone, or 'default')."""
    labels, variants = {}, {}
    for name, group in pd.DataFrame({"name": names, "json": payloads}).groupby("name"):
        counts = group["json"].value_counts(sort=False)
        param_sets = [json.loads(text) for text in counts.index]
        defaults = defaults_of(name, param_sets, list(counts.to_numpy()))
        for text, params in zip(counts.index, param_sets, strict=True):
            differences = parameter_differences(params, defaults)
            labels[(name, text)] = label(name, differences)
            variants[(name, text)] = label("", differences)[1:-1] or "default"
    return labels, variants


def _every_field_varies(name: str, param_sets: list[dict], weights: list[int]) -> dict:
    """A base no set equals unless there is one set: every varying field gets named."""
    if len(param_sets) == 1:
        return param_sets[0]
    keys = dict.fromkeys(key for params in param_sets for key in params)
    constant = {
        key: param_sets[0].get(key)
        for key in keys
        if all(
            json.dumps(params.get(key), default=str)
            == json.dumps(param_sets[0].get(key), default=str)
            for params in param_sets
        )
    }
    return {**constant, **{key: NEVER_EQUAL for key in keys if key not in constant}}


def _merge_label(text: str) -> str:
    """'model[preset=severe][radius=2-6]' -> 'model[preset=severe,radius=2-6]'."""
    return text.replace("][", ",")
