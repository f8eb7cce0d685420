"""What a tuning sweep leaves for people: ``tuning.csv`` (every configuration with its
validation scores and whether it was selected) and one sweep file per setting that runs
the selected configurations again, with as many seeds as the user wants
(``rmdbench sweep --config tuned-....yaml --seeds 0,1,2``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from rmdbench.atomic import atomic_write
from rmdbench.sweep.config import SweepConfig
from rmdbench.tuning.plan import Setting, TuningPlan

CSV_FILE = "tuning.csv"


def write_csv(selection: pd.DataFrame, folder: Path) -> Path:
    """``tuning.csv``: one row per configuration, ``selected`` as yes/no."""
    table = selection.copy()
    table["selected"] = table["selected"].map({True: "yes", False: "no"})
    path = Path(folder) / CSV_FILE
    atomic_write(path, lambda handle: table.to_csv(handle, index=False), mode="w")
    return path


def sweep_file_name(setting: Setting, rule: str) -> str:
    """'tuned-<dataset>-<noise>-r<ratio>-<rule>.yaml', safe as one file name."""
    parts = f"{setting.dataset}-{setting.noise}"
    safe = re.sub(r"[^A-Za-z0-9.]+", "-", parts).strip("-")
    return f"tuned-{safe}-r{setting.ratio:g}-{rule}.yaml"


def _plain(value: object) -> object:
    """A value YAML's safe dumper writes (tuples as lists)."""
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _noise_entry(setting: Setting) -> object:
    component = setting.component
    if isinstance(component, tuple):
        return {component[0]: _plain(dict(component[1])) or None}
    return component


def selected_methods(plan: TuningPlan, selection: pd.DataFrame, setting: Setting) -> list:
    """The selected configuration of each method entry of ``setting``, as a sweep file's
    ``methods`` list: the bare name for no options, else {name: {option: value}} with the
    resolved (typed, exact) values of the options it sets."""
    params = {(run.configuration.entry, run.configuration.index): run.params for run in plan.runs}
    chosen = selection[
        selection["selected"]
        & (selection["dataset"] == setting.dataset)
        & (selection["noise_model"] == setting.noise)
        & (selection["noise_ratio"] == setting.ratio)
    ]
    picked = set(zip(chosen["method"], chosen["configuration"], strict=True))
    methods: list = []
    for configuration in plan.configurations:
        if (configuration.entry, configuration.index) not in picked:
            continue
        resolved = params[(configuration.entry, configuration.index)]
        options = {key: _plain(resolved[key]) for key in configuration.options}
        methods.append({configuration.method: options} if options else configuration.method)
    return methods


def sweep_document(
    plan: TuningPlan, selection: pd.DataFrame, setting: Setting, config: SweepConfig, folder: Path
) -> dict:
    """The sweep file's options: the setting, the selected methods, the tuning seeds, the
    profile, and the run store (relative to the file, as sweep files read paths)."""
    document: dict = {
        "dataset": setting.dataset,
        "noise_model": _noise_entry(setting),
        "noise": setting.ratio,
        "methods": selected_methods(plan, selection, setting),
        "seeds": list(plan.seeds),
        "profile": config.profile,
        "out": os.path.relpath(Path(config.out).resolve(), Path(folder).resolve()),
    }
    if config.backbone is not None:
        document["backbone"] = config.backbone
    if config.precision is not None:
        document["precision"] = config.precision
    if config.cache_dir is not None:
        document["cache_dir"] = str(Path(config.cache_dir).resolve())
    if config.plugin:
        document["plugin"] = [str(Path(path).resolve()) for path in config.plugin]
    return document


def write_sweep_files(
    plan: TuningPlan, selection: pd.DataFrame, config: SweepConfig, folder: Path, rule: str
) -> list[Path]:
    """One sweep file per setting with a selection, in ``folder``."""
    import yaml

    written = []
    for setting in plan.settings:
        document = sweep_document(plan, selection, setting, config, folder)
        if not document["methods"]:
            continue
        path = Path(folder) / sweep_file_name(setting, rule)
        header = (
            f"# rmdbench tune: the configuration of each method selected on {rule} "
            f"({plan.search} per method, tuning seeds {', '.join(map(str, plan.seeds))}).\n"
            f"# Evaluate them with more seeds: rmdbench sweep --config {path.name} "
            "--seeds 0,1,2\n"
        )
        text = header + yaml.safe_dump(document, sort_keys=False)
        atomic_write(path, lambda handle, text=text: handle.write(text), mode="w")
        written.append(path)
    return written
