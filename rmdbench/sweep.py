"""A sweep: the grid of runs from the command line or a YAML file, validated before anything
runs, then trained by an executor (inline, a local pool, SLURM) with a progress display.

Done runs are skipped; failed runs are kept until ``--retry-failed``; a run locked by
another sweep is left to it. So a killed sweep, rerun, completes the rest and retrains
nothing, and two sweeps on one store never train a run twice.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rich.console import Console

from rmdbench import labels
from rmdbench.data.resolve import (
    check_dataset,
    dataset_identity,
    default_backbone,
)
from rmdbench.errors import UserError
from rmdbench.executors.base import (
    ALREADY_DONE,
    DONE,
    ELSEWHERE,
    FAILED,
    KEPT_FAILED,
    SUBMITTED,
    DatasetCache,
    Executor,
    TaskReport,
    WorkerSettings,
)
from rmdbench.executors.progress import SweepMonitor
from rmdbench.noise import check_noise_dims, parse_noise_ratios
from rmdbench.params import build_params, params_dict, parse_component, split_top_level
from rmdbench.plugins import load_builtins
from rmdbench.profiles import Profile
from rmdbench.registry import METHODS, NOISE_MODELS
from rmdbench.run import RunSpec
from rmdbench.store import RunStore

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


# the sweep file ----------------------------------------------------------------------


@dataclass
class SweepConfig:
    """Every sweep option. A YAML file (``--config``) and the command line fill the same
    fields: defaults, then the file, then each flag given on the command line."""

    dataset: list[str] = field(default_factory=lambda: ["lidc-phantom"])
    noise_model: list[Component] = field(default_factory=lambda: ["distortion"])
    noise: list[float] = field(default_factory=lambda: [0.8])
    methods: list[Component] = field(default_factory=lambda: ["single", "coteaching", "rmd"])
    seeds: list[int] = field(default_factory=lambda: [0])
    profile: str = "quick"
    out: Path = Path("runs")
    device: str = "auto"
    cache_dir: Path | None = None
    plugin: list[Path] = field(default_factory=list)
    executor: str | None = None  # None: slurm if a slurm option is set, local if --workers
    workers: int | None = None
    retry_failed: bool = False
    checkpoint_every: int = 0  # epochs between saved training states; 0 = off
    slurm_partition: str | None = None
    slurm_time: str | None = None
    slurm_gpus: int | None = None
    slurm_cpus: int | None = None
    slurm_mem: str | None = None
    slurm_account: str | None = None
    slurm_qos: str | None = None
    slurm_constraint: str | None = None
    slurm_setup: list[str] = field(default_factory=list)
    slurm_cluster: str | None = None
    detach: bool = False

    def update(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            setattr(self, key, value)

    def slurm_options_given(self) -> list[str]:
        """The --slurm-* flags (and --detach) that were set, as flags."""
        given = [
            item.name
            for item in fields(self)
            if item.name.startswith("slurm_") and getattr(self, item.name) not in (None, [])
        ]
        if self.detach:
            given.append("detach")
        return ["--" + name.replace("_", "-") for name in given]


CONFIG_ALIASES = {
    "datasets": "dataset",
    "noise_models": "noise_model",
    "noise_ratios": "noise",
    "method": "methods",
    "seed": "seeds",
    "plugins": "plugin",
}


def config_keys() -> list[str]:
    return [item.name for item in fields(SweepConfig)]


def read_sweep_file(path: Path) -> dict[str, Any]:
    """The options a YAML sweep file sets, checked and converted. Relative paths in it are
    relative to the file, so a sweep file means the same from any directory."""
    import yaml

    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as error:
        raise UserError(f"cannot read sweep file '{path}' ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise UserError(f"sweep file '{path}' is not valid YAML{where}: {problem}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"sweep file '{path}' must be a mapping of option: value")
    known = config_keys()
    values: dict[str, Any] = {}
    for raw_key, value in loaded.items():
        key = CONFIG_ALIASES.get(str(raw_key).replace("-", "_"), str(raw_key).replace("-", "_"))
        if key not in known:
            close = difflib.get_close_matches(key, [*known, *CONFIG_ALIASES], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(
                f"unknown key '{raw_key}' in sweep file '{path}'{hint}; "
                f"known keys: {', '.join(known)}"
            )
        if key in values:
            raise UserError(f"sweep file '{path}' sets '{key}' twice (through an alias)")
        values[key] = _convert(key, value, path)
    return values


def _expect(condition: bool, key: str, what: str, value: Any, path: Path) -> None:
    if not condition:
        raise UserError(f"sweep file '{path}': '{key}' expects {what}, got {value!r}")


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _convert(key: str, value: Any, path: Path) -> Any:
    """One YAML value to the type of its SweepConfig field."""
    base = path.parent
    if key in ("dataset", "slurm_setup"):
        items = _as_list(value)
        _expect(all(isinstance(item, str) for item in items), key, "names", value, path)
        return split_list(items) if key == "dataset" else items
    if key in ("methods", "noise_model"):
        return _components(key, value, path)
    if key == "noise":
        items = _as_list(value)
        _expect(
            all(
                isinstance(item, int | float | str) and not isinstance(item, bool) for item in items
            ),
            key,
            "numbers in [0, 1]",
            value,
            path,
        )
        return parse_noise_ratios(items)
    if key == "seeds":
        items = _as_list(value)
        _expect(
            all(isinstance(item, int) and not isinstance(item, bool) for item in items),
            key,
            "integers",
            value,
            path,
        )
        return items
    if key in ("workers", "slurm_gpus", "slurm_cpus", "checkpoint_every"):
        _expect(
            isinstance(value, int) and not isinstance(value, bool), key, "an integer", value, path
        )
        return value
    if key in ("retry_failed", "detach"):
        _expect(isinstance(value, bool), key, "true or false", value, path)
        return value
    if key in ("out", "cache_dir"):
        _expect(isinstance(value, str), key, "a path", value, path)
        return base / Path(value).expanduser()
    if key == "plugin":
        items = _as_list(value)
        _expect(all(isinstance(item, str) for item in items), key, "paths", value, path)
        return [base / Path(item).expanduser() for item in items]
    if key in ("slurm_time", "slurm_mem"):
        _expect(
            isinstance(value, int | float | str) and not isinstance(value, bool),
            key,
            "a time or size",
            value,
            path,
        )
        return str(value)
    _expect(isinstance(value, str), key, "a string", value, path)
    return value


def _components(key: str, value: Any, path: Path) -> list[Component]:
    """'a,b[x=1]', a list of strings or one-key mappings {name: {param: value}}, or one
    mapping {name: params or null, ...}."""
    if isinstance(value, str):
        return list(split_list([value]))
    if isinstance(value, dict):
        value = [{name: params} for name, params in value.items()]
    _expect(isinstance(value, list), key, "a list of names", value, path)
    found: list[Component] = []
    for item in value:
        if isinstance(item, str):
            found.extend(split_list([item]))
        elif isinstance(item, dict) and len(item) == 1:
            name, params = next(iter(item.items()))
            _expect(
                isinstance(name, str) and (params is None or isinstance(params, dict)),
                key,
                "name: {parameter: value}",
                item,
                path,
            )
            options = {
                str(option): tuple(setting) if isinstance(setting, list) else setting
                for option, setting in (params or {}).items()
            }
            found.append((name, options))
        else:
            _expect(False, key, "a name or name: {parameter: value}", item, path)
    return found


# state of the grid in the store ------------------------------------------------------

DONE_STATE, FAILED_STATE, RUNNING_STATE, TODO_STATE = "done", "failed", "running", "todo"


def survey(specs: Sequence[RunSpec], store: RunStore) -> dict[str, str]:
    """Each run's state in the store: done, failed, running (locked elsewhere) or todo."""
    states = {}
    for spec in specs:
        state = store.state(spec.run_name) if store.root.is_dir() else TODO_STATE
        if state != DONE_STATE and store.root.is_dir() and store.probe(spec.run_name):
            state = RUNNING_STATE
        states[spec.run_name] = state
    return states


def runs_to_train(
    specs: Sequence[RunSpec], states: Mapping[str, str], retry_failed: bool
) -> list[RunSpec]:
    """Not-done runs in grid order; failed ones only with ``retry_failed``; runs locked
    elsewhere last (by then their sweep may have finished them; if it died, we do)."""
    wanted = {TODO_STATE, FAILED_STATE} if retry_failed else {TODO_STATE}
    first = [spec for spec in specs if states[spec.run_name] in wanted]
    last = [spec for spec in specs if states[spec.run_name] == RUNNING_STATE]
    return first + last


def grid_summary(states: Mapping[str, str], retry_failed: bool) -> str:
    counts = {state: list(states.values()).count(state) for state in set(states.values())}
    to_train = counts.get(TODO_STATE, 0) + (counts.get(FAILED_STATE, 0) if retry_failed else 0)
    parts = [f"{counts.get(DONE_STATE, 0)} done"]
    if counts.get(FAILED_STATE):
        kept = "" if retry_failed else " (kept; --retry-failed reruns them)"
        parts.append(f"{counts[FAILED_STATE]} failed{kept}")
    if counts.get(RUNNING_STATE):
        parts.append(f"{counts[RUNNING_STATE]} running elsewhere")
    parts.append(f"{to_train} to train")
    return f"{len(states)} runs in the grid: " + ", ".join(parts)


def prepare_datasets(
    specs: Sequence[RunSpec],
    profile: Profile,
    cache: DatasetCache,
    console: Console,
    *,
    only_for_readers: bool = False,
) -> None:
    """Load every dataset once here, before any record is written: it builds the on-disk
    cache before workers race for it, and reader noise is checked against the data.
    ``only_for_readers``: load just what the reader check needs (a dry run)."""
    needs_readers = {
        spec.dataset for spec in specs if NOISE_MODELS.get(spec.noise_model).requires_readers
    }
    names = dict.fromkeys(spec.dataset for spec in specs)
    for name in names:
        if only_for_readers and name not in needs_readers:
            continue
        console.print(f"loading dataset {name} (built and cached on first use)")
        data = cache.get(name, profile.crop_size, progress=console.is_terminal)
        if name in needs_readers and data.readers is None:
            model = next(
                spec.noise_model
                for spec in specs
                if spec.dataset == name and NOISE_MODELS.get(spec.noise_model).requires_readers
            )
            raise UserError(
                f"noise model '{model}' needs per-reader masks and dataset "
                f"'{name}' has none; use a dataset with readers (--dataset lidc-phantom)"
            )


def method_label(spec: RunSpec) -> str:
    """The method and the hyper-parameters that differ from its defaults: 'rmd[distill=false]'."""
    return labels.method_label(spec.method, spec.method_params)


def run_cost(spec: RunSpec) -> float:
    """Expected work of a run, in units of one epoch of ``single`` (for the ETA)."""
    return METHODS.get(spec.method).relative_cost * float(spec.profile.get("epochs", 1))


# running -----------------------------------------------------------------------------


@dataclass
class SweepResult:
    reports: list[TaskReport] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)  # done before the sweep began
    kept_failed: list[str] = field(default_factory=list)  # failed before, not retried
    seconds: float = 0.0

    def with_status(self, *statuses: str) -> list[TaskReport]:
        return [report for report in self.reports if report.status in statuses]

    @property
    def trained(self) -> list[TaskReport]:
        return self.with_status(DONE, FAILED)

    @property
    def failed(self) -> list[TaskReport]:
        return self.with_status(FAILED)

    @property
    def skipped(self) -> int:
        return len(self.already_done) + len(self.with_status(ALREADY_DONE))

    @property
    def failed_names(self) -> list[str]:
        """Every run of the grid that stands failed after this sweep."""
        names = [report.run_name for report in self.with_status(FAILED, KEPT_FAILED)]
        return names + [name for name in self.kept_failed if name not in names]

    @property
    def elsewhere(self) -> list[TaskReport]:
        return self.with_status(ELSEWHERE)

    @property
    def submitted(self) -> list[TaskReport]:
        return self.with_status(SUBMITTED)


def run_sweep(
    specs: Sequence[RunSpec],
    states: Mapping[str, str],
    *,
    executor: Executor,
    settings: WorkerSettings,
    console: Console,
) -> SweepResult:
    """Train every run that is not done (nor kept failed), through ``executor``, with a
    progress display; one failing run is recorded and the sweep goes on."""
    started = time.perf_counter()
    result = SweepResult(
        already_done=[name for name, state in states.items() if state == DONE_STATE],
        kept_failed=[]
        if settings.retry_failed
        else [name for name, state in states.items() if state == FAILED_STATE],
    )
    todo = runs_to_train(specs, states, settings.retry_failed)
    if todo:
        cost = {spec.run_name: run_cost(spec) for spec in todo}
        labels = {
            spec.run_name: f"{method_label(spec)} {spec.noise_model} r={spec.noise_ratio:g} "
            f"s={spec.seed}"
            for spec in todo
        }
        monitor = SweepMonitor(
            todo, cost, console=console, parallelism=executor.parallelism, labels=labels
        )
        with monitor:
            result.reports = executor.run(todo, settings, monitor)
    result.seconds = time.perf_counter() - started
    return result
