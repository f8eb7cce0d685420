"""What the ``slurm`` executor is asked for: per-run resources and where the jobs go,
read and checked before anything is submitted. Imports nothing heavy (the command line
reads the default time limit from here).

The fields of ``SlurmOptions`` from ``partition`` to ``cluster`` are the sweep's
``slurm_*`` options (``SweepConfig``) without the prefix, so ``from_options`` fills them
by name: the list of SLURM options is written once, in ``SweepConfig``.
"""

from __future__ import annotations

import importlib
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rmdbench.errors import MissingDependency, OptionError

CLUSTERS = ("slurm", "local", "debug")
DEFAULT_SLURM_MINUTES = 120


def require_submitit() -> None:
    """One clear line instead of an ImportError deep inside a sweep."""
    try:
        importlib.import_module("submitit")
    except ImportError:
        raise MissingDependency(
            'the slurm executor needs submitit: pip install "rmdbench[slurm]"',
            "submitit",
        ) from None


def parse_slurm_time(text: str | int) -> int:
    """SLURM time formats ('90', '1:30:00', '2-00', '2-12:00:00') -> whole minutes."""
    if isinstance(text, int) and not isinstance(text, bool):
        minutes = text
    else:
        value = str(text).strip()
        match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", value)
        if not match:
            raise OptionError(
                f"--slurm-time '{value}' is not a SLURM time; write minutes (90), "
                "H:MM:SS (1:30:00) or D-HH:MM:SS (2-00:00:00)",
                "slurm_time",
            )
        days, first, second, third = match.groups()
        numbers = [int(part) for part in (first, second, third) if part is not None]
        if days is not None:  # D-H, D-H:M, D-H:M:S
            hours, minutes_part, seconds = (numbers + [0, 0])[:3]
            total_seconds = ((int(days) * 24 + hours) * 60 + minutes_part) * 60 + seconds
        elif len(numbers) == 3:  # H:M:S
            total_seconds = (numbers[0] * 60 + numbers[1]) * 60 + numbers[2]
        elif len(numbers) == 2:  # M:S
            total_seconds = numbers[0] * 60 + numbers[1]
        else:
            total_seconds = numbers[0] * 60
        minutes = -(-total_seconds // 60)
    if minutes < 1:
        raise OptionError(f"--slurm-time must be at least one minute, got '{text}'", "slurm_time")
    return minutes


def parse_memory_gb(text: str | float) -> float:
    """'32G', '32GB', '500M' or a number of GB -> GB."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([MG]?)B?\s*", str(text), re.IGNORECASE)
        if not match:
            raise OptionError(
                f"--slurm-mem '{text}' is not a memory size; write e.g. 32G or 500M", "slurm_mem"
            )
        value = float(match.group(1)) / (1024 if match.group(2).upper() == "M" else 1)
    if value <= 0:
        raise OptionError(f"--slurm-mem must be positive, got '{text}'", "slurm_mem")
    return value


def sbatch_memory(gb: float) -> str:
    """A size as submitit writes it for sbatch: whole GB, else MB."""
    return f"{int(gb)}GB" if gb == int(gb) else f"{int(gb * 1024)}MB"


@dataclass(frozen=True)
class SlurmOptions:
    """Per-run resources and where the jobs go; ``time`` and ``mem`` as given, read by
    ``time_minutes`` and ``mem_gb``."""

    folder: Path  # submitit's files: pickled tasks, each task's stdout and stderr
    partition: str | None = None
    time: str | int = DEFAULT_SLURM_MINUTES  # per run: minutes, H:MM:SS or D-HH:MM:SS
    gpus: int | None = None  # per run; None: what the partition offers (0 off SLURM)
    cpus: int | None = None  # per run; also the run's torch threads
    mem: str | float | None = None  # per run: 32G, 500M, or a number of GB
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: tuple[str, ...] = ()  # shell lines run before each task
    cluster: str = "slurm"  # or local / debug: submitit on this machine
    detach: bool = False  # submit and return
    array_parallelism: int | None = None  # most array tasks running at once (--workers)
    poll_seconds: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "setup", tuple(self.setup))

    @classmethod
    def from_options(cls, folder: Path, options: Mapping[str, Any], **other: Any) -> SlurmOptions:
        """From values named like the fields ({'partition': 'gpu', 'time': None, ...}); a
        None keeps the field's default."""
        given = {name: value for name, value in options.items() if value is not None}
        return cls(folder=folder, **given, **other)

    @property
    def time_minutes(self) -> int:
        return parse_slurm_time(self.time)

    @property
    def mem_gb(self) -> float | None:
        return None if self.mem is None else parse_memory_gb(self.mem)

    def check(self) -> SlurmOptions:
        """Problems a user can fix, before anything is submitted or written. Returns these
        options ``fitted`` to the partition the check read: build the executor from them,
        since ``fitted`` on an unchecked copy asks sinfo a second time."""
        parse_slurm_time(self.time)  # a bad time or size raises here
        if self.mem is not None:
            parse_memory_gb(self.mem)
        if self.cluster not in CLUSTERS:
            raise OptionError(
                f"unknown --slurm-cluster '{self.cluster}'; choose one of: {', '.join(CLUSTERS)}",
                "slurm_cluster",
            )
        require_submitit()
        if self.cluster == "slurm" and shutil.which("sbatch") is None:
            raise MissingDependency(
                "sbatch is not on PATH: run the sweep on a SLURM login node, or use "
                "--executor local (or --slurm-cluster local to try the slurm path here)",
                "sbatch",
            )
        negative_gpus = self.gpus is not None and self.gpus < 0
        if negative_gpus or (self.cpus is not None and self.cpus < 1):
            raise OptionError(
                "--slurm-gpus must be >= 0 and --slurm-cpus >= 1",
                "slurm_gpus" if negative_gpus else "slurm_cpus",
            )
        if self.detach and self.cluster == "debug":
            raise OptionError(
                "--detach needs a real queue; the debug cluster runs in this process", "detach"
            )
        if self.cluster == "slurm":
            return self.check_cluster()
        return self.fitted()  # off SLURM: no sinfo to ask

    def check_cluster(self) -> SlurmOptions:
        """The request against the partition (sinfo, read once), then whatever else sbatch
        would refuse (sbatch --test-only): nothing is submitted. Returns the options with
        the GPUs per run filled in from that partition."""
        from rmdbench.executors import slurm_cluster

        partition = slurm_cluster.chosen_partition(slurm_cluster.read_partitions(), self.partition)
        slurm_cluster.check_fits(partition, self.gpus, self.time_minutes, self.mem_gb)
        fitted = self if self.gpus is not None else replace(self, gpus=partition.gpus)
        slurm_cluster.dry_submit(fitted.sbatch_flags())
        return fitted

    def fitted(self) -> SlurmOptions:
        """These options with the GPUs per run filled in: what the partition offers (0
        when it has none), or 0 off SLURM."""
        if self.gpus is not None:
            return self
        if self.cluster != "slurm":
            return replace(self, gpus=0)
        from rmdbench.executors import slurm_cluster

        partitions = slurm_cluster.read_partitions()
        return replace(self, gpus=slurm_cluster.chosen_partition(partitions, self.partition).gpus)

    def sbatch_flags(self) -> list[str]:
        """The per-run request as sbatch flags, as submitit writes them from
        ``parameters`` (for ``sbatch --test-only``)."""
        values = {
            "partition": self.partition,
            "time": self.time_minutes,
            "gpus-per-node": self.gpus or None,
            "cpus-per-task": self.cpus,
            "mem": None if self.mem_gb is None else sbatch_memory(self.mem_gb),
            "account": self.account,
            "qos": self.qos,
            "constraint": self.constraint,
        }
        return ["--nodes=1", "--ntasks-per-node=1"] + [
            f"--{name}={value}" for name, value in values.items() if value is not None
        ]

    def parameters(self, count: int) -> dict:
        """submitit's AutoExecutor parameters (slurm_* ones are ignored off SLURM)."""
        parameters: dict = {
            "name": "rmdbench",
            "timeout_min": self.time_minutes,
            "gpus_per_node": self.gpus or 0,
            "tasks_per_node": 1,
            "nodes": 1,
            "slurm_array_parallelism": min(count, self.array_parallelism or count),
        }
        optional = {
            "cpus_per_task": self.cpus,
            "mem_gb": self.mem_gb,
            "slurm_partition": self.partition,
            "slurm_account": self.account,
            "slurm_qos": self.qos,
            "slurm_constraint": self.constraint,
            "slurm_setup": list(self.setup) or None,
        }
        parameters.update({key: value for key, value in optional.items() if value is not None})
        return parameters
