"""A run store as tidy pandas tables, for analysis in Python (``rmdbench.load_runs``,
``rmdbench.load_curves``), and the identity columns every table a run writes carries.

Each row names its run by the columns a store names runs by (``IDENTITY_COLUMNS``), so a
table read on its own, or concatenated with other runs' tables, is never ambiguous. The
columns come from the run's stored spec when it is read, so records written before the
tables carried them read the same way. Only runs whose record reads back whole are read
(``rmdbench.store.check_record``); a damaged one is left out with a warning.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rmdbench.errors import UserError
from rmdbench.labels import format_value
from rmdbench.store import (
    CASE_COLUMNS,
    CURVE_FILE,
    EVALUATION_RULES,
    RunState,
    RunStore,
    check_record,
    evaluation_files,
)

#: what names a run in every per-case and per-epoch table it writes: its directory
#: (``run``, which ends in the hash of its full spec) and the spec fields a reader groups
#: and filters by; parameters as canonical JSON
IDENTITY_COLUMNS = (
    "run",
    "dataset",
    "noise_model",
    "noise_preset",
    "noise_params",
    "noise_ratio",
    "method",
    "method_params",
    "seed",
    "profile",
    "profile_json",
    "backbone",
)
#: the spec fields that are one value each, as columns of the tidy frames
SPEC_COLUMNS = (
    "dataset",
    "noise_model",
    "noise_preset",
    "noise_ratio",
    "method",
    "seed",
    "backbone",
    "spec_version",
)


def spec_columns(spec: Mapping, run_name: str) -> dict[str, Any]:
    """A run's spec as the columns of its rows: ``SPEC_COLUMNS``, ``profile`` (its name),
    every profile, method, noise and code field flattened as ``profile.<key>``,
    ``method.<key>``, ``noise.<key>``, ``code.<component>``, the canonical JSON of the
    parameters (``profile_json``, ``method_params``, ``noise_params``) and ``run``. A field
    an old record lacks is None (a missing object adds no flattened column)."""
    columns: dict[str, Any] = {column: spec.get(column) for column in SPEC_COLUMNS}
    profile = _mapping(spec.get("profile"))
    columns["profile"] = profile.get("name", "unknown")
    columns.update(flatten("profile", profile, skip={"name"}))
    columns.update(flatten("method", _mapping(spec.get("method_params"))))
    columns.update(flatten("noise", _mapping(spec.get("noise_params"))))
    columns.update(flatten("code", _mapping(spec.get("code"))))
    columns["profile_json"] = json.dumps(profile, sort_keys=True)
    columns["method_params"] = json.dumps(spec.get("method_params") or {}, sort_keys=True)
    columns["noise_params"] = json.dumps(spec.get("noise_params") or {}, sort_keys=True)
    columns["run"] = run_name
    return columns


def identity_columns(spec: Mapping, run_name: str) -> dict[str, Any]:
    """The ``IDENTITY_COLUMNS`` of one run, as written into its tables."""
    columns = spec_columns(spec, run_name)
    return {column: columns[column] for column in IDENTITY_COLUMNS}


def with_identity(frame: pd.DataFrame, spec: Mapping, run_name: str) -> pd.DataFrame:
    """``frame`` with the run's identity columns first (a copy; a column of the same name
    already there is replaced)."""
    return _prepend(frame, identity_columns(spec, run_name))


def _prepend(table: pd.DataFrame, columns: Mapping[str, Any]) -> pd.DataFrame:
    """``table`` with one constant column per item of ``columns`` first, in their order
    (a copy; a column of the same name already there is replaced)."""
    rest = table.drop(columns=[name for name in columns if name in table.columns])
    head = pd.DataFrame({name: [value] * len(rest) for name, value in columns.items()})
    return pd.concat([head, rest.reset_index(drop=True)], axis=1)


def flatten(prefix: str, values: dict, skip: frozenset | set = frozenset()) -> dict[str, Any]:
    """``{'distill': False}`` -> ``{'method.distill': False}``; lists become strings so that
    every column stays hashable (group-by keys)."""
    flat = {}
    for key, value in values.items():
        if key in skip:
            continue
        if isinstance(value, list | tuple | dict):
            value = format_value(value)
        flat[f"{prefix}.{key}"] = value
    return flat


def _mapping(value: object) -> dict:
    """A record field that should hold a JSON object: it, or {} for anything else."""
    return value if isinstance(value, dict) else {}


def evaluated_files(result: Mapping, rule: str) -> str:
    """Whose files hold a run's test cases under ``rule`` (``rmdbench.store.evaluation_files``):
    ``last`` for the last epoch and for a best epoch that was the last; '' when the run
    has no evaluation under the rule (recorded before best epochs were kept, or trained
    without validation cases)."""
    if rule == "last":
        return "last"
    evaluation = _mapping(_mapping(result.get("evaluation")).get(rule))
    files = evaluation.get("files")
    return files if files in ("last", rule) else ""


def check_evaluation_rule(rule: str) -> None:
    if rule not in EVALUATION_RULES:
        raise UserError(
            f"unknown evaluation rule '{rule}'; choose one of: {', '.join(EVALUATION_RULES)}"
        )


def _done_runs(path: Path | str) -> list[tuple[Path, dict]]:
    """Every run of the store whose record reads back whole, with its result.json; the
    damaged ones are left out with one warning naming them."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"runs directory '{root}' does not exist; run 'rmdbench sweep' first")
    done, damaged = [], []
    for run_dir in RunStore(root).run_dirs():
        check = check_record(run_dir)
        if check.state == RunState.DONE:
            done.append((run_dir, check.record))
        elif check.state == RunState.DAMAGED and not check.foreign:
            damaged.append(run_dir.name)
    if damaged:
        warnings.warn(
            f"{len(damaged)} damaged run(s) left out of '{root}': {', '.join(damaged)}",
            stacklevel=3,
        )
    return done


def _tidy(frames: list[pd.DataFrame], empty_columns: tuple[str, ...]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=list(empty_columns))
    return pd.concat(frames, ignore_index=True)


def load_runs(path: Path | str, *, evaluate: str = "last") -> pd.DataFrame:
    """Every finished run of a run store (``rmdbench sweep --out PATH``, or a compact copy
    from ``rmdbench export compact``) as one tidy frame: one row per test case per run.

    Columns: the run's identity (``IDENTITY_COLUMNS``: ``run``, ``dataset``,
    ``noise_model``, ``noise_preset``, ``noise_params``, ``noise_ratio``, ``method``,
    ``method_params``, ``seed``, ``profile``, ``profile_json``, ``backbone``), then
    ``spec_version``, the spec's fields flattened (``method.<key>``, ``noise.<key>``,
    ``profile.<key>``, ``code.<component>``), then ``case_id`` and the case's metrics
    (``dsc``, ``iou``, ``hd95``, ``assd``, per class ``dsc_class<k>``..., ``empty_both``,
    ``empty_one``, ``hd_unit``). ``evaluate``: which networks' test scores
    (``last``, ``best-clean-val`` or ``best-noisy-val``, as ``rmdbench report --evaluate``);
    a run without that evaluation is an error. An empty store gives an empty frame."""
    check_evaluation_rule(evaluate)
    frames, lacking = [], []
    for run_dir, record in _done_runs(path):
        files = evaluated_files(record, evaluate)
        if not files:
            lacking.append(run_dir.name)
            continue
        cases = pd.read_parquet(run_dir / evaluation_files(files)[0])
        frames.append(_with_spec(cases, record, run_dir.name))
    if lacking:
        raise UserError(
            f"{len(lacking)} run(s) have no '{evaluate}' evaluation, e.g. {lacking[0]}; "
            "load them with evaluate='last'"
        )
    return _tidy(frames, (*IDENTITY_COLUMNS, *CASE_COLUMNS))


def load_curves(path: Path | str) -> pd.DataFrame:
    """Every finished run's training curve (``curve.parquet``) as one tidy frame: one row
    per epoch per run, with the identity and spec columns of ``load_runs`` first, then
    ``epoch`` and what the run recorded each epoch (its loss terms, ``val_dsc`` and
    ``val_noisy_dsc``: validation DSC against clean and noisy labels, the gradient
    shares ``grad_share_<term>``)."""
    frames = [
        _with_spec(pd.read_parquet(run_dir / CURVE_FILE), record, run_dir.name)
        for run_dir, record in _done_runs(path)
    ]
    return _tidy(frames, (*IDENTITY_COLUMNS, "epoch"))


def _with_spec(table: pd.DataFrame, record: Mapping, run_name: str) -> pd.DataFrame:
    """One run's table with its identity and spec columns first, from its stored spec."""
    columns = spec_columns(record["spec"], run_name)
    ordered = {name: columns[name] for name in IDENTITY_COLUMNS}
    ordered.update((name, value) for name, value in columns.items() if name not in ordered)
    return _prepend(table, ordered)
