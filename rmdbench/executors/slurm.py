"""The ``slurm`` executor: one SLURM array task per run, through ``submitit``.

Each array task trains one run with the same ``run_task`` as every other executor, so
results land in the same run store (which must be on a filesystem the compute nodes
share). What it is asked for, and the checks, are in ``slurm_options``. Limits are per
run: ``--slurm-time`` and ``--slurm-gpus`` apply to each array task. On pre-emption or
timeout submitit calls the task's ``checkpoint`` and requeues it; the run then restarts
from scratch (its half-written staging directory is removed under the lock), which for a
benchmark run costs at most one run's time.

``--slurm-cluster local`` or ``debug`` runs the same code through submitit's local
executor (subprocesses) or debug executor (in this process): no cluster needed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rmdbench.errors import UserError
from rmdbench.executors.base import (
    Executor,
    Notify,
    RunEpoch,
    RunFinished,
    RunStarted,
    TaskOutcome,
    TaskReport,
    WorkerSettings,
    record_failure,
)
from rmdbench.executors.slurm_cluster import SlurmRefused, sbatch_message
from rmdbench.executors.slurm_options import SlurmOptions
from rmdbench.executors.slurm_queue import (
    GONE,
    TIMED_OUT,
    ended_reason,
    has_ended,
    task_states,
)
from rmdbench.run import RunSpec
from rmdbench.store import RunStore

UNLIMITED = 1_000_000  # no array parallelism limit: every run may start at once
POLL_SECONDS = {"slurm": 10.0, "local": 0.5, "debug": 0.0}


@dataclass
class _Pending:
    spec: RunSpec
    started: bool = False
    epoch: int = 0
    gone: int = 0  # polls in a row that squeue did not show the task
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

        if not specs:
            return []
        store = RunStore(settings.store_root)
        executor = submitit.AutoExecutor(
            folder=str(self.options.folder / "%j"), cluster=self.options.cluster
        )
        executor.update_parameters(**self.options.parameters(len(specs)))
        jobs = self._submit(executor, settings, specs)
        if self.options.detach:
            return [
                TaskReport(spec.run_name, TaskOutcome.SUBMITTED, where=str(job.job_id))
                for spec, job in zip(specs, jobs, strict=True)
            ]
        pending = {job.job_id: (job, _Pending(spec)) for job, spec in zip(jobs, specs, strict=True)}
        reports: dict[str, TaskReport] = {}
        poll = self.options.poll_seconds
        poll = POLL_SECONDS[self.options.cluster] if poll is None else poll
        submitted = time.monotonic()
        while pending:
            self._report_progress(store, pending, notify)
            states = self._queue_states(list(pending))
            for job_id, (job, state) in list(pending.items()):
                queued = states.get(job_id)
                state.gone = state.gone + 1 if queued == GONE else 0
                if queued == GONE and state.gone < 2:  # not shown once: ask again first
                    queued = None
                finished = job.paths.result_pickle.exists() or has_ended(queued)
                if finished or (queued is None and job.done()):
                    report = self._collect(job, state.spec, store, queued)
                    reports[report.run_name] = report
                    notify(RunFinished(report))
                    del pending[job_id]
            if pending:  # short runs are seen to end soon; long ones polled less often
                time.sleep(min(poll, 1.0 + (time.monotonic() - submitted) / 30))
        return [reports[spec.run_name] for spec in specs if spec.run_name in reports]

    def _submit(self, executor: object, settings: WorkerSettings, specs: Sequence[RunSpec]):
        """The array, submitted; sbatch's refusal as one line (``SlurmRefused``)."""
        from submitit.core.utils import FailedJobError

        from rmdbench.executors.slurm_job import SlurmRun

        try:
            task = SlurmRun(settings, self.options.time_minutes)
            return executor.map_array(task, list(specs))
        except FailedJobError as error:
            raise SlurmRefused(f"sbatch refused the array: {sbatch_message(str(error))}") from None
        except (OSError, subprocess.SubprocessError) as error:
            raise UserError(f"submitting the SLURM array failed: {error}") from None

    def _queue_states(self, job_ids: list[str]) -> dict[str, str]:
        """squeue's word on each task (on a real cluster): tasks that ended without a
        result are found even where submitit cannot tell (no accounting database)."""
        if self.options.cluster != "slurm":
            return {}
        return task_states(job_ids) or {}

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

    def _collect(
        self, job: object, spec: RunSpec, store: RunStore, queued: str | None
    ) -> TaskReport:
        """The job's report; a job that ended without one (cancelled, killed, out of time
        or memory) becomes a failed record saying why, so the store tells the truth."""
        error_text = ""
        if job.paths.result_pickle.exists() or queued in (None, "COMPLETED"):
            try:
                return job.result()
            except Exception as error:  # noqa: BLE001 - any job failure is this run's failure
                error_text = str(error)
        if store.is_done(spec.run_name):
            return TaskReport(spec.run_name, TaskOutcome.DONE)
        minutes = self.options.time_minutes
        if queued and queued not in ("COMPLETED", GONE):
            message = ended_reason(queued, job.job_id, minutes)
        elif TIMED_OUT in error_text:  # submitit's 'timed-out too many times'
            message = ended_reason("TIMEOUT", job.job_id, minutes)
        else:
            first = (error_text.strip().splitlines() or ["no result"])[0]
            message = f"SLURM job {job.job_id} ended without a result ({first})"
        message += f"; logs: {job.paths.stderr}"
        record_failure(store, spec, message, error_text)
        return TaskReport(spec.run_name, TaskOutcome.FAILED, error=message)
