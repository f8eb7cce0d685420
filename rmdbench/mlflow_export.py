"""A run store as MLflow runs, for teams that browse their experiments in MLflow.

Each done run of the store becomes one MLflow run, named by the rmdbench run name:

- params: the run's identity, its spec (``spec.json``) flattened to dotted keys
  (``method_params.forget_rate``, ``profile.epochs``), JSON-written (``true``, ``null``);
- metrics: the test metrics of every evaluation rule (``test_dsc``, ...: the last epoch's,
  the summary in ``result.json``; ``best-clean-val.test_dsc``, ... with the rule's epoch
  as ``best-clean-val.epoch``), training time and realised noise, each at step 0;
- per-epoch curves: every numeric column of ``curve.parquet`` (loss terms, learning rate,
  validation DSC against clean and noisy labels, seconds) with step = epoch; a value the
  epoch did not record (NaN) is left out.

An export can be repeated: a run already in the experiment (tag ``rmdbench.run``, status
FINISHED) is skipped, and one left unfinished by an interrupted export is replaced. A run
that fails while it is logged is deleted, so no half-written run stays in the experiment.
MLflow is an optional dependency (``pip install "rmdbench[mlflow]"``), imported only here.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rmdbench.errors import MissingDependency, UserError
from rmdbench.outputs import check_writable_dir
from rmdbench.results import IDENTITY_COLUMNS
from rmdbench.store import (
    CURVE_FILE,
    EVALUATION_RULES,
    RunState,
    RunStore,
    check_record,
    evaluation_files,
)

INSTALL_HINT = 'pip install "rmdbench[mlflow]"'
DEFAULT_EXPERIMENT = "rmdbench"
#: the tag that names the rmdbench run an MLflow run holds (what a repeated export skips)
RUN_TAG = "rmdbench.run"
#: the curve column that is the step of every per-epoch metric
STEP_COLUMN = "epoch"
#: what MLflow takes in one log_batch call (its documented limits)
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
#: MLflow refuses a local folder store unless this is set (it prefers a database store,
#: which needs more than mlflow-skinny); an export to a folder is asked for by name
ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"
#: where runs go when no tracking URI is given and $MLFLOW_TRACKING_URI is not set
DEFAULT_FOLDER = "mlruns"
TRACKING_FIX = "pass a writable folder or a tracking URI with --tracking-uri"


@dataclass(frozen=True)
class MlflowExport:
    """What ``export_mlflow`` did: runs logged, runs already there (skipped), the
    experiment and the tracking URI they are in."""

    exported: int
    skipped: int
    experiment: str
    tracking_uri: str


def require_mlflow() -> Any:
    """MLflow's client class, or one line naming the extra to install."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MissingDependency(
            f"rmdbench export mlflow needs MLflow: {INSTALL_HINT}", "mlflow"
        ) from None
    return MlflowClient


def tracking_uri(target: str | Path | None) -> str:
    """The tracking URI for ``target``: a URI as given (``http://...``, ``file:///...``,
    ``sqlite:///...``), a folder as its ``file://`` URI, None as $MLFLOW_TRACKING_URI or
    the folder ``mlruns`` here. A folder that cannot take files is refused in one line."""
    if target is None:
        target = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_FOLDER
    text = str(target)
    parsed = urllib.parse.urlparse(text)
    if parsed.scheme not in ("", "file") and "://" in text:
        return text  # a server or database: MLflow checks it
    folder = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme else Path(text)
    folder = check_writable_dir(folder, "MLflow runs", fix=TRACKING_FIX)
    return folder.resolve().as_uri()


def export_mlflow(
    source: Path, target: str | Path | None = None, experiment: str = DEFAULT_EXPERIMENT
) -> MlflowExport:
    """Log every done run of the store ``source`` as an MLflow run of ``experiment`` at
    ``target`` (see ``tracking_uri``); checks everything before the first run is written."""
    client_class = require_mlflow()
    source = Path(source)
    if not source.is_dir():
        raise UserError(f"runs directory '{source}' does not exist; run 'rmdbench sweep' first")
    if not experiment.strip():
        raise UserError("the experiment name is empty; pass e.g. --experiment rmdbench")
    checks = {path: check_record(path) for path in RunStore(source).run_dirs()}
    done = {path: check.record for path, check in checks.items() if check.state == RunState.DONE}
    if not done:
        raise UserError(
            f"no finished runs in '{source}'; run 'rmdbench sweep --out {source}' first"
        )
    uri = tracking_uri(target)
    with _file_store_allowed(uri):
        client = client_class(tracking_uri=uri)
        experiment_id = _experiment_id(client, experiment)
        finished = _exported_runs(client, experiment_id)
        exported = 0
        for run_dir, record in done.items():
            if run_dir.name in finished:
                continue
            _log_run(client, experiment_id, run_dir, record, source)
            exported += 1
    return MlflowExport(exported, len(done) - exported, experiment, uri)


@contextlib.contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    """Let MLflow open a local folder store while the export runs (``ALLOW_FILE_STORE``),
    where the user asked for one and did not set the variable; restored after."""
    if not uri.startswith("file:") or ALLOW_FILE_STORE in os.environ:
        yield
        return
    os.environ[ALLOW_FILE_STORE] = "true"
    try:
        yield
    finally:
        os.environ.pop(ALLOW_FILE_STORE, None)


def _experiment_id(client: Any, name: str) -> str:
    """The id of the experiment called ``name``, created when it does not exist."""
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(name)
    if found.lifecycle_stage != "active":
        raise UserError(
            f"MLflow experiment '{name}' is deleted; restore it or pass another --experiment"
        )
    return found.experiment_id


def _exported_runs(client: Any, experiment_id: str) -> set[str]:
    """rmdbench run names already logged whole in the experiment. Runs an interrupted
    export left unfinished are deleted here, to be logged again."""
    finished: set[str] = set()
    page_token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=page_token)
        for run in page:
            name = run.data.tags.get(RUN_TAG)
            if name is None:
                continue
            if run.info.status == "FINISHED":
                finished.add(name)
            else:
                client.delete_run(run.info.run_id)
        page_token = page.token
        if not page_token:
            return finished


def _log_run(client: Any, experiment_id: str, run_dir: Path, record: Mapping, source: Path) -> None:
    """One rmdbench run (``record``: its result.json) as one MLflow run: params, final
    metrics, curves; deleted again if any of it fails."""
    from mlflow.entities import Metric, Param

    run = client.create_run(
        experiment_id,
        run_name=run_dir.name,
        tags={RUN_TAG: run_dir.name, "rmdbench.store": str(source.resolve())},
    )
    run_id = run.info.run_id
    try:
        params = [Param(key, value) for key, value in run_params(record).items()]
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, 0) for key, value in final_metrics(record, run_dir)]
        curve = pd.read_parquet(run_dir / CURVE_FILE)
        metrics += [Metric(key, value, now, step) for key, value, step in curve_metrics(curve)]
        for start in range(0, len(params), MAX_PARAMS_PER_BATCH):
            client.log_batch(run_id, params=params[start : start + MAX_PARAMS_PER_BATCH])
        for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS_PER_BATCH])
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.delete_run(run_id)
        raise


def run_params(record: Mapping) -> dict[str, str]:
    """The run's identity as MLflow params: its name and its spec, nested fields as dotted
    keys, values as JSON (strings as they are)."""
    params = {"run_name": str(record["run_name"])}
    params.update(_flatten(record["spec"]))
    return params


def _flatten(value: Mapping, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            flat.update(_flatten(item, f"{name}."))
        else:
            flat[name] = item if isinstance(item, str) else json.dumps(item, sort_keys=True)
    return flat


def final_metrics(record: Mapping, run_dir: Path) -> list[tuple[str, float]]:
    """The run's final numbers: test metrics of each evaluation rule (the last epoch's
    unprefixed), the rules' epochs, training time and realised noise; finite numbers only."""
    found: list[tuple[str, float]] = [
        (f"test_{key}", value) for key, value in record.get("summary", {}).items()
    ]
    evaluation = record.get("evaluation") or {}
    for rule in EVALUATION_RULES[1:]:
        entry = evaluation.get(rule)
        if not isinstance(entry, Mapping):
            continue
        found.append((f"{rule}.epoch", entry.get("epoch")))
        cases_path = run_dir / evaluation_files(str(entry.get("files", rule)))[0]
        if cases_path.is_file():
            means = _measured(pd.read_parquet(cases_path)).select_dtypes("number").mean()
            found += [(f"{rule}.test_{key}", value) for key, value in means.items()]
    timings = record.get("timings") or {}
    found += [(key, timings.get(key)) for key in ("train_seconds", "seconds_per_iteration")]
    noise = record.get("noise") or {}
    found += [
        (f"noise.{key}", value)
        for key, value in noise.items()
        if key not in ("noise_ratio", "seed")
    ]
    return [(key, float(value)) for key, value in found if _finite_number(value)]


def _measured(table: pd.DataFrame) -> pd.DataFrame:
    """A run's table without its identity columns (``noise_ratio`` and ``seed`` are
    numbers, but params of the run, not metrics)."""
    return table.drop(columns=[column for column in IDENTITY_COLUMNS if column in table])


def curve_metrics(curve: pd.DataFrame) -> list[tuple[str, float, int]]:
    """(name, value, epoch) of every recorded value of every numeric curve column."""
    found = []
    numeric = _measured(curve).select_dtypes("number")
    for column in numeric.columns:
        if column == STEP_COLUMN:
            continue
        for epoch, value in zip(curve[STEP_COLUMN], numeric[column], strict=True):
            if _finite_number(value):
                found.append((str(column), float(value), int(epoch)))
    return found


def _finite_number(value: object) -> bool:
    """A number MLflow can plot: a real number (numpy's too), not a bool, NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value))
