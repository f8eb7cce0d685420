"""A sweep: the grid of runs from the command line or a YAML file, validated before
anything runs, then trained by an executor (inline, a local pool, SLURM).

Done runs are skipped; failed runs are kept until ``retry_failed``; a run locked by
another sweep is left to it. So a killed sweep, rerun, completes the rest and retrains
nothing, and two sweeps on one store never train a run twice.

One job per module:

- ``config``: ``SweepConfig`` (every option; its fields are the sweep-file schema) and the
  YAML sweep-file reader;
- ``plan``: the grid of ``RunSpec`` s, every name and hyper-parameter checked;
- ``survey``: each run's ``RunState`` in the store, what is left to train;
- ``executor``: which executor the options ask for, checked, and built;
- ``execute``: datasets and store made ready, the runs trained, a ``SweepResult``.
"""

from rmdbench.sweep.config import SweepConfig, config_keys, read_sweep_file
from rmdbench.sweep.execute import (
    SweepEvent,
    SweepResult,
    SweepStarted,
    prepare_datasets,
    prepare_store,
    run_cost,
    run_label,
    run_sweep,
)
from rmdbench.sweep.executor import (
    build_executor,
    choose_executor,
    slurm_options,
    worker_settings,
)
from rmdbench.sweep.plan import (
    Component,
    plan_sweep,
    resolve_method,
    resolve_noise_model,
    share_clean_runs,
    split_list,
)
from rmdbench.sweep.survey import grid_summary, runs_to_train, survey

__all__ = [
    "Component",
    "SweepConfig",
    "SweepEvent",
    "SweepResult",
    "SweepStarted",
    "build_executor",
    "choose_executor",
    "config_keys",
    "grid_summary",
    "plan_sweep",
    "prepare_datasets",
    "prepare_store",
    "read_sweep_file",
    "resolve_method",
    "resolve_noise_model",
    "run_cost",
    "run_label",
    "run_sweep",
    "runs_to_train",
    "share_clean_runs",
    "slurm_options",
    "split_list",
    "survey",
    "worker_settings",
]
