"""Which executor a sweep's options ask for, every executor option checked against it,
and the executor and worker settings built from them."""

from __future__ import annotations

from pathlib import Path

from rmdbench.errors import OptionError
from rmdbench.executors import EXECUTOR_NAMES
from rmdbench.executors.base import DatasetCache, Executor, WorkerSettings
from rmdbench.executors.slurm_options import SlurmOptions
from rmdbench.profiles import get_profile
from rmdbench.store import RunStore
from rmdbench.sweep.config import SweepConfig

SLURM_FOLDER = ".slurm"  # submitit's files, under the run store
LOG_FOLDER = ".logs"  # local workers' logs, under the run store


def choose_executor(config: SweepConfig) -> str:
    """The executor to use (``executor``, else slurm when a slurm option is set, local
    with ``workers``, else inline), with every executor option checked against it."""
    slurm_flags = config.slurm_options_given()
    name = config.executor or (
        "slurm" if slurm_flags else "local" if config.workers is not None else "inline"
    )
    if name not in EXECUTOR_NAMES:
        raise OptionError(
            f"unknown executor '{name}'; choose one of: {', '.join(EXECUTOR_NAMES)}", "executor"
        )
    if config.workers is not None and config.workers < 1:
        raise OptionError(f"--workers must be at least 1, got {config.workers}", "workers")
    if config.checkpoint_every < 0:
        raise OptionError(
            f"--checkpoint-every must be 0 (off) or a number of epochs, got "
            f"{config.checkpoint_every}",
            "checkpoint_every",
        )
    if slurm_flags and name != "slurm":
        raise OptionError(
            f"{slurm_flags[0]} applies to the slurm executor; add --executor slurm "
            f"(or drop it for --executor {name})",
            slurm_flags[0].removeprefix("--").replace("-", "_"),
        )
    if name == "inline" and config.workers not in (None, 1):
        raise OptionError(
            "--workers applies to --executor local or slurm; inline trains one run at a time",
            "workers",
        )
    if name == "slurm":
        slurm_options(config).check()
    return name


def slurm_options(config: SweepConfig) -> SlurmOptions:
    """The slurm_* options (and ``detach``, ``workers``) as the slurm executor takes them."""
    return SlurmOptions.from_options(
        Path(config.out).resolve() / SLURM_FOLDER,
        config.slurm_values(),
        detach=config.detach,
        array_parallelism=config.workers,
    )


def build_executor(
    name: str, config: SweepConfig, store: RunStore, datasets: DatasetCache
) -> Executor:
    """The executor ``name`` (from ``choose_executor``); ``datasets``: what this process
    loaded, which the inline executor reuses."""
    if name == "local":
        from rmdbench.executors.local import LocalExecutor, plan_local

        profile = get_profile(config.profile, precision=config.precision, backbone=config.backbone)
        threads = profile.threads
        plan = plan_local(config.device, config.workers, threads=threads)
        return LocalExecutor(plan, store.root / LOG_FOLDER)
    if name == "slurm":
        from rmdbench.executors.slurm import SlurmExecutor

        return SlurmExecutor(slurm_options(config).fitted())
    from rmdbench.executors.inline import InlineExecutor

    return InlineExecutor(datasets)


def worker_settings(config: SweepConfig, store: RunStore) -> WorkerSettings:
    """What every worker needs besides a spec, with absolute paths (workers may start
    elsewhere)."""
    return WorkerSettings(
        store_root=store.root.resolve(),
        device=config.device,
        cache_dir=None if config.cache_dir is None else Path(config.cache_dir).resolve(),
        plugins=tuple(Path(path).resolve() for path in config.plugin),
        retry_failed=config.retry_failed,
        checkpoint_every=config.checkpoint_every,
    )
