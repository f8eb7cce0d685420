"""The ``slurm`` executor: one SLURM array task per run, through ``submitit``.

Each array task trains one run with the same ``run_task`` as every other executor, so
results land in the same run store (which must be on a filesystem the compute nodes
share). Limits are per run: ``--slurm-time`` and ``--slurm-gpus`` apply to each array task.
On pre-emption or timeout submitit calls the task's ``checkpoint`` and requeues it; the
run then restarts from scratch (its half-written staging directory is removed under the
lock), which for a benchmark run costs at most one run's time.

``--slurm-cluster local`` or ``debug`` runs the same code through submitit's local
executor (subprocesses) or debug executor (in this process): no cluster needed.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rmdbench.errors import UserError
from rmdbench.executors.base import (
    DONE,
    FAILED,
    SUBMITTED,
    Executor,
    Notify,
    RunEpoch,
    RunFinished,
    RunStarted,
    TaskReport,
    WorkerSettings,
    record_failure,
)
from rmdbench.run import RunSpec
from rmdbench.store import RunStore

CLUSTERS = ("slurm", "local", "debug")
UNLIMITED = 1_000_000  # no array parallelism limit: every run may start at once
POLL_SECONDS = {"slurm": 10.0, "local": 0.5, "debug": 0.0}


def require_submitit() -> None:
    """One clear line instead of an ImportError deep inside a sweep."""
    try:
        importlib.import_module("submitit")
    except ImportError:
        raise UserError(
            "the slurm executor needs submitit: pip install submitit (or pip install rmdbench)"
        ) from None


def parse_slurm_time(text: str | int) -> int:
    """SLURM time formats ('90', '1:30:00', '2-00', '2-12:00:00') -> whole minutes."""
    if isinstance(text, int) and not isinstance(text, bool):
        minutes = text
    else:
        value = str(text).strip()
        match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", value)
        if not match:
            raise UserError(
                f"--slurm-time '{value}' is not a SLURM time; write minutes (90), "
                "H:MM:SS (1:30:00) or D-HH:MM:SS (2-00:00:00)"
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
        raise UserError(f"--slurm-time must be at least one minute, got '{text}'")
    return minutes


def parse_memory_gb(text: str | float) -> float:
    """'32G', '32GB', '500M' or a number of GB -> GB."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([MG]?)B?\s*", str(text), re.IGNORECASE)
        if not match:
            raise UserError(f"--slurm-mem '{text}' is not a memory size; write e.g. 32G or 500M")
        value = float(match.group(1)) / (1024 if match.group(2).upper() == "M" else 1)
    if value <= 0:
        raise UserError(f"--slurm-mem must be positive, got '{text}'")
    return value


@dataclass(frozen=True)
class SlurmOptions:
    """Per-run resources and where the jobs go."""

    folder: Path
    time_minutes: int = 60
    gpus: int = 0
    cpus: int | None = None
    mem_gb: float | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    array_parallelism: int | None = None  # most array tasks running at once (--workers)
    setup: tuple[str, ...] = ()
    cluster: str = "slurm"
    detach: bool = False
    poll_seconds: float | None = None

    def check(self) -> None:
        """Problems a user can fix, before anything is submitted or written."""
        if self.cluster not in CLUSTERS:
            raise UserError(
                f"unknown --slurm-cluster '{self.cluster}'; choose one of: {', '.join(CLUSTERS)}"
            )
        require_submitit()
        if self.cluster == "slurm" and shutil.which("sbatch") is None:
            raise UserError(
                "sbatch is not on PATH: run the sweep on a SLURM login node, or use "
                "--executor local (or --slurm-cluster local to try the slurm path here)"
            )
        if self.gpus < 0 or (self.cpus is not None and self.cpus < 1):
            raise UserError("--slurm-gpus must be >= 0 and --slurm-cpus >= 1")
        if self.detach and self.cluster == "debug":
            raise UserError("--detach needs a real queue; the debug cluster runs in this process")

    def parameters(self, count: int) -> dict:
        """submitit's AutoExecutor parameters (slurm_* ones are ignored off SLURM)."""
        parameters: dict = {
            "name": "rmdbench",
            "timeout_min": self.time_minutes,
            "gpus_per_node": self.gpus,
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


@dataclass
class _Pending:
    spec: RunSpec
    started: bool = False
    epoch: int = 0
    seen_at: float = field(default_factory=time.monotonic)


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(self, options: SlurmOptions) -> None:
        self.options = options

    @property
    def parallelism(self) -> int:
        return self.options.array_parallelism or UNLIMITED

    def describe(self) -> str:
        where = self.options.partition or "default partition"
        if self.options.cluster != "slurm":
            where = f"submitit {self.options.cluster} executor"
        return (
            f"slurm: one array task per run on {where}, {self.options.gpus} GPU(s), "
            f"{self.options.time_minutes} min each"
        )

    def run(
        self, specs: Sequence[RunSpec], settings: WorkerSettings, notify: Notify
    ) -> list[TaskReport]:
        import submitit

        from rmdbench.executors.slurm_job import SlurmRun

        if not specs:
            return []
        store = RunStore(settings.store_root)
        executor = submitit.AutoExecutor(
            folder=str(self.options.folder / "%j"), cluster=self.options.cluster
        )
        executor.update_parameters(**self.options.parameters(len(specs)))
        try:
            jobs = executor.map_array(SlurmRun(settings), list(specs))
        except (OSError, subprocess.SubprocessError) as error:
            raise UserError(f"submitting the SLURM array failed: {error}") from None
        if self.options.detach:
            return [
                TaskReport(spec.run_name, SUBMITTED, where=str(job.job_id))
                for spec, job in zip(specs, jobs, strict=True)
            ]
        pending = {job.job_id: (job, _Pending(spec)) for job, spec in zip(jobs, specs, strict=True)}
        reports: dict[str, TaskReport] = {}
        poll = self.options.poll_seconds
        poll = POLL_SECONDS[self.options.cluster] if poll is None else poll
        while pending:
            self._report_progress(store, pending, notify)
            for job_id, (job, state) in list(pending.items()):
                if job.done():
                    report = self._collect(job, state.spec, store)
                    reports[report.run_name] = report
                    notify(RunFinished(report))
                    del pending[job_id]
            if pending:
                time.sleep(poll)
        return [reports[spec.run_name] for spec in specs if spec.run_name in reports]

    @staticmethod
    def _report_progress(store: RunStore, pending: dict, notify: Notify) -> None:
        """Running runs and their epochs, read from the lock files in the shared store."""
        by_name = {state.spec.run_name: state for _, state in pending.values()}
        for holder in store.running():
            state = by_name.get(holder.run_name)
            if state is None:
                continue
            epochs = int(holder.info.get("epochs", 0) or 0)
            if not state.started:
                state.started = True
                notify(RunStarted(holder.run_name, epochs))
            epoch = int(holder.info.get("epoch", 0) or 0)
            if epoch > state.epoch:
                state.epoch = epoch
                val_dsc = holder.info.get("val_dsc")
                notify(
                    RunEpoch(
                        holder.run_name,
                        epoch,
                        epochs,
                        0.0,
                        float("nan") if val_dsc is None else float(val_dsc),
                    )
                )

    @staticmethod
    def _collect(job: object, spec: RunSpec, store: RunStore) -> TaskReport:
        """The job's report; a job that ended without one (killed, out of memory, too
        many timeouts) becomes a failed record, so the store tells the truth."""
        try:
            return job.result()
        except Exception as error:  # noqa: BLE001 - any job failure is this run's failure
            if store.is_done(spec.run_name):
                return TaskReport(spec.run_name, DONE)
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            message = (
                f"SLURM job {job.job_id} ended without a result ({first}); logs: {job.paths.stderr}"
            )
            record_failure(store, spec, message, str(error))
            return TaskReport(spec.run_name, FAILED, error=message)
