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

#: ``--pack auto``: runs per pack by device type. Measured (docs/performance.md): on an
#: H200, 16 packed runs train 4.1-6.8x the images/s of the same runs one by one; on a
#: 2-core CPU packing is slower (0.53-0.86x), so it stays off there
AUTO_PACK = {"cuda": 8, "cpu": 1}
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
    check_pack(config, name)
    if name == "slurm":
        slurm_options(config).check()
    return name


def requested_pack(config: SweepConfig) -> int | None:
    """The runs per pack asked for (``--pack K``); None for auto (the default)."""
    text = "auto" if config.pack is None else str(config.pack).strip()
    if text == "auto":
        return None
    try:
        pack = int(text)
    except ValueError:
        pack = 0
    if pack < 1:
        raise OptionError(
            f"--pack takes a number of runs per pack (at least 1; 1 = off) or auto, got "
            f"'{config.pack}'",
            "pack",
        )
    return pack


def check_pack(config: SweepConfig, executor: str) -> None:
    """``--pack``: a valid value, and above 1 only where runs can share a process and
    need no mid-run checkpoint (a pack saves none)."""
    pack = requested_pack(config)
    if pack is None or pack == 1:
        return
    if executor == "slurm":
        raise OptionError(
            "--pack trains several runs in one process and --executor slurm runs one per "
            "array task; drop --pack (or use --executor local)",
            "pack",
        )
    if config.checkpoint_every:
        raise OptionError(
            "--pack cannot save mid-run checkpoints; drop --checkpoint-every or use --pack 1",
            "pack",
        )


def pack_size(config: SweepConfig, executor: str) -> int:
    """Runs per pack: ``--pack K``, or for auto ``AUTO_PACK`` of the device the runs train
    on (1 with slurm or checkpoints, which cannot pack)."""
    pack = requested_pack(config)
    if pack is not None:
        return pack
    if executor == "slurm" or config.checkpoint_every:
        return 1
    from rmdbench.training.trainer import select_device

    return AUTO_PACK.get(select_device(config.device).type, 1)


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


def worker_settings(config: SweepConfig, store: RunStore, executor: str) -> WorkerSettings:
    """What every worker needs besides a spec, with absolute paths (workers may start
    elsewhere); ``executor``: the one chosen (``choose_executor``), which sets the pack."""
    return WorkerSettings(
        store_root=store.root.resolve(),
        device=config.device,
        cache_dir=None if config.cache_dir is None else Path(config.cache_dir).resolve(),
        plugins=tuple(Path(path).resolve() for path in config.plugin),
        retry_failed=config.retry_failed,
        checkpoint_every=config.checkpoint_every,
        pack=pack_size(config, executor),
    )
