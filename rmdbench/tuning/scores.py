"""The validation scores of a tuning grid, read from the run store: one row per
(setting, configuration, seed), with the final model's DSC on the clean and on the noisy
validation labels that each run recorded (``result.json``'s ``validation``)."""

from __future__ import annotations

import json
import math

import pandas as pd

from rmdbench.errors import UserError
from rmdbench.labels import method_label
from rmdbench.store import RunState, RunStore
from rmdbench.tuning.plan import PlannedRun, TuningPlan

#: the columns of the scores table, in order
SCORE_COLUMNS = (
    "dataset",
    "noise_model",
    "noise_ratio",
    "method",
    "configuration",
    "label",
    "parameters",
    "seed",
    "run",
    "clean_dsc",
    "noisy_dsc",
)


class UnscoredRunsError(UserError):
    """Done runs of a tuning grid recorded before runs kept validation scores: they would
    be left out of the selection (the defaults among them), so tuning refuses them up
    front. ``runs``: their names."""

    def __init__(self, message: str, runs: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.runs = runs


def recorded_scores(store: RunStore, run_name: str) -> dict | None:
    """The ``validation`` facts of a done run; None when the run is not done, or was
    recorded before runs kept them."""
    check = store.check(run_name)
    if check.state != RunState.DONE:
        return None
    validation = check.record.get("validation")
    return validation if isinstance(validation, dict) else None


def check_scored(plan: TuningPlan, store: RunStore, states: dict[str, RunState]) -> None:
    """Refuse a grid whose done runs lack validation scores (recorded by an older
    rmdbench), naming the fix, before anything trains."""
    unscored = tuple(
        spec.run_name
        for spec in plan.specs
        if states.get(spec.run_name) == RunState.DONE
        and recorded_scores(store, spec.run_name) is None
    )
    if unscored:
        raise UnscoredRunsError(
            f"{len(unscored)} done run(s) of this tuning grid in '{store.root}' were recorded "
            f"before runs kept validation scores (e.g. {unscored[0]}); tune into another run "
            "store (--out), or move those run directories out of this one to train them again",
            unscored,
        )


def _score(validation: dict | None, key: str) -> float:
    value = (validation or {}).get(key)
    return float(value) if isinstance(value, int | float) else math.nan


def _row(run: PlannedRun, validation: dict | None) -> dict:
    configuration = run.configuration
    searched = {key: run.params[key] for key in configuration.searched if key in run.params}
    return {
        "dataset": run.setting.dataset,
        "noise_model": run.setting.noise,
        "noise_ratio": run.setting.ratio,
        "method": configuration.entry,
        "configuration": configuration.index,
        "label": method_label(configuration.method, run.params),
        "parameters": json.dumps(searched, sort_keys=True, default=str),
        "seed": run.seed,
        "run": run.run_name,
        "clean_dsc": _score(validation, "clean_dsc"),
        "noisy_dsc": _score(validation, "noisy_dsc"),
    }


def collect_scores(plan: TuningPlan, store: RunStore) -> pd.DataFrame:
    """One row per planned (setting, configuration, seed) with its validation DSCs (NaN
    for a run that is not done: failed, or left to another sweep)."""
    cache: dict[str, dict | None] = {}
    rows = []
    for run in plan.runs:
        if run.run_name not in cache:
            cache[run.run_name] = recorded_scores(store, run.run_name)
        rows.append(_row(run, cache[run.run_name]))
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
