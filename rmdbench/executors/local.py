"""The ``local`` executor: a pool of worker processes on this machine.

On a GPU machine one worker per visible GPU (``CUDA_VISIBLE_DEVICES`` set per worker;
``--workers N`` above the GPU count shares them round-robin), each with ``cores // N``
threads for its CPU-side work. On CPU every run trains at its profile's thread count
(results depend on it: docs/sweeps.md, "Threads and reproducibility"), so the pool is sized
to that count: by default ``cores // threads`` workers, which never oversubscribes the cores
(on a busy machine an oversubscribed OpenMP pool is many times slower).

Workers are subprocesses running ``rmdbench.executors.worker``, each fed one run at a
time, or with ``--pack K`` one pack of up to K runs that differ by seed only
(``rmdbench.executors.pack``). A worker that dies mid-run (killed, host out of memory, a
crash in native code) costs only its run or pack: each is recorded failed, a fresh worker
takes its place.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from rmdbench.errors import UserError
from rmdbench.executors.base import (
    Executor,
    Notify,
    RunFinished,
    TaskOutcome,
    TaskReport,
    WorkerSettings,
    elsewhere_report,
    record_failure,
)
from rmdbench.executors.pack import group_runs
from rmdbench.executors.worker import PARENT_PID_VARIABLE, decode, encode
from rmdbench.profiles import DEFAULT_THREADS
from rmdbench.run import OUT_OF_MEMORY_FIX, RunSpec
from rmdbench.store import FAILED_FILE, RunState, RunStore

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: a worker's log: ``local-<host>-<sweep pid>-worker<n>.log`` (older sweeps: no host)
LOG_NAME = re.compile(r"local-(?:(?P<host>.+)-)?(?P<pid>\d+)-worker\d+\.log")


def available_cores() -> int:
    """Cores this process may use (affinity and cgroup-restricted sets count, not the host)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The GPU ids a worker may be pinned to, in CUDA_VISIBLE_DEVICES terms."""
    import torch

    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return [item.strip() for item in listed.split(",") if item.strip()]
    return [str(index) for index in range(torch.cuda.device_count())]


@dataclass(frozen=True)
class LocalPlan:
    """How many workers, their torch threads, and the GPU of each ('' = CPU)."""

    workers: int
    threads: int
    gpus: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.gpus:
            return (
                f"local: {self.workers} workers on GPUs {','.join(dict.fromkeys(self.gpus))}, "
                f"{self.threads} CPU threads each"
            )
        threads = "thread" if self.threads == 1 else "threads"
        return f"local: {self.workers} workers × {self.threads} {threads} (CPU)"


def plan_local(
    device: str, workers: int | None, cores: int | None = None, threads: int = DEFAULT_THREADS
) -> LocalPlan:
    """One worker per GPU by default, the cores shared out evenly for CPU-side work. On CPU
    each run trains at ``threads`` (its profile's: results depend on the count, so the pool
    cannot pick its own), and ``workers`` defaults to as many as the cores hold at that
    count; an explicit ``workers`` is honoured, even above that."""
    cores = cores or available_cores()
    gpus = visible_gpus() if device != "cpu" else []
    if gpus:
        count = workers or len(gpus)
        return LocalPlan(
            count, max(1, cores // count), tuple(gpus[i % len(gpus)] for i in range(count))
        )
    return LocalPlan(workers or max(1, cores // threads), threads)


def fit_plan(plan: LocalPlan, specs: Sequence[RunSpec], cores: int | None = None) -> LocalPlan:
    """A CPU plan made for another thread count than the runs' (a caller that did not pass
    the profile's ``threads`` to ``plan_local``): the runs' count, and no more workers than
    the cores hold at it, so the pool does not oversubscribe them. GPU plans are kept."""
    if plan.gpus or not specs:
        return plan
    threads = max(spec.threads for spec in specs)
    if threads == plan.threads:
        return plan
    fitting = max(1, (cores or available_cores()) // threads)
    return LocalPlan(min(plan.workers, fitting), threads)


def process_alive(pid: int) -> bool:
    """Whether a process of this id runs on this machine (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_empty_logs(log_dir: Path) -> int:
    """Remove the empty worker logs of sweeps that are over (this process's, whose workers
    are stopped, or a dead process's on this host: a killed sweep leaves its workers' empty
    logs behind), then the folder if nothing is left. A live sweep's logs are kept: its
    workers still write to them. Returns how many were removed."""
    removed = 0
    host = socket.gethostname()
    for path in log_dir.glob("local-*.log") if log_dir.is_dir() else ():
        match = LOG_NAME.fullmatch(path.name)
        if match is None or match["host"] not in (None, host):
            continue  # not a worker log, or another machine's: its sweep may be alive
        pid = int(match["pid"])
        if pid != os.getpid() and process_alive(pid):
            continue
        with contextlib.suppress(OSError):
            if path.stat().st_size == 0:
                path.unlink()
                removed += 1
    with contextlib.suppress(OSError):
        log_dir.rmdir()  # only if empty: no worker had anything to say
    return removed


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        if name == "SIGKILL":
            return f"killed by {name}: often the system's out-of-memory killer; {OUT_OF_MEMORY_FIX}"
        return f"killed by {name}"
    return f"exit code {returncode}"


def last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


@dataclass
class _Worker:
    """The parent's handle on one worker process."""

    number: int
    slot: int
    process: subprocess.Popen
    log_path: Path
    stdin: IO[bytes]
    ready: bool = False
    task: list[RunSpec] | None = None  # the pack it trains: the runs not reported yet
    reader: threading.Thread | None = field(default=None, repr=False)


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, plan: LocalPlan, log_dir: Path) -> None:
        self.plan = plan
        self.log_dir = log_dir

    @property
    def parallelism(self) -> int:
        return self.plan.workers

    def describe(self) -> str:
        return self.plan.describe()

    def run(
        self, specs: Sequence[RunSpec], settings: WorkerSettings, notify: Notify
    ) -> list[TaskReport]:
        self.plan = fit_plan(self.plan, specs)
        settings = replace(settings, threads=self.plan.threads)
        store = RunStore(settings.store_root)
        remove_empty_logs(self.log_dir)  # left by sweeps killed before they could
        pending = deque(group_runs(specs, settings.pack))
        inbox: queue.Queue = queue.Queue()
        workers: dict[int, _Worker] = {}
        reports: dict[str, TaskReport] = {}
        starts = 0
        max_starts = self.plan.workers + len(specs)

        def start_worker() -> None:
            nonlocal starts
            taken = {worker.slot for worker in workers.values()}
            slot = min(set(range(self.plan.workers)) - taken)  # a replacement reuses the GPU
            worker = self._start(starts, slot, settings, inbox)
            workers[worker.number] = worker
            starts += 1

        def finish(report: TaskReport) -> None:
            reports[report.run_name] = report
            notify(RunFinished(report))

        try:
            for _ in range(min(self.plan.workers, len(pending))):
                start_worker()
            while workers:
                try:
                    number, message = inbox.get(timeout=1.0)
                except queue.Empty:
                    continue
                worker = workers[number]
                if message is None:  # the worker's stdout closed: it has exited
                    del workers[number]
                    self._reap(worker, store, finish)
                    while pending and len(workers) < self.plan.workers and starts < max_starts:
                        start_worker()
                elif message[0] == "ready":
                    worker.ready = True
                    self._dispatch(worker, pending)
                elif message[0] == "event":
                    notify(message[1])
                elif message[0] == "report":
                    finish(message[1])
                    worker.task = [
                        spec for spec in worker.task or [] if spec.run_name != message[1].run_name
                    ]
                    if not worker.task:  # its whole pack reported: the next one
                        worker.task = None
                        self._dispatch(worker, pending)
            for spec in (spec for pack in pending for spec in pack):  # only if workers kept
                message = "not run: local workers kept dying"  # dying: a rerun tries again
                finish(TaskReport(spec.run_name, TaskOutcome.FAILED, error=message))
        finally:
            for worker in workers.values():
                self._stop(worker)
            remove_empty_logs(self.log_dir)
        return [reports[spec.run_name] for spec in specs if spec.run_name in reports]

    def _start(
        self, number: int, slot: int, settings: WorkerSettings, inbox: queue.Queue
    ) -> _Worker:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"local-{socket.gethostname()}-{os.getpid()}-worker{number}.log"
        environment = dict(os.environ)
        environment[PARENT_PID_VARIABLE] = str(os.getpid())
        for variable in THREAD_VARIABLES:
            environment[variable] = str(self.plan.threads)
        if self.plan.gpus:
            environment["CUDA_VISIBLE_DEVICES"] = self.plan.gpus[slot]
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "rmdbench.executors.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=environment,
            )
        worker = _Worker(number, slot, process, log_path, process.stdin)
        worker.stdin.write(encode(settings))
        worker.stdin.flush()
        worker.reader = threading.Thread(
            target=_read_messages, args=(number, process.stdout, inbox), daemon=True
        )
        worker.reader.start()
        return worker

    @staticmethod
    def _dispatch(worker: _Worker, pending: deque) -> None:
        """The next pack to an idle worker; none left: close its stdin so it exits."""
        try:
            if pending:
                worker.task = pending.popleft()
                worker.stdin.write(encode(tuple(worker.task)))
                worker.stdin.flush()
            else:
                worker.stdin.close()
        except OSError:  # it died meanwhile: the run goes back, the exit is handled
            if worker.task is not None:
                pending.appendleft(worker.task)
                worker.task = None

    def _reap(self, worker: _Worker, store: RunStore, finish: Callable[[TaskReport], None]) -> None:
        returncode = worker.process.wait()
        for spec in worker.task or []:  # its pack's runs not reported yet
            message = f"worker process died during the run ({describe_exit(returncode)})"
            if worker.log_path.exists() and worker.log_path.stat().st_size:
                message += f"; log: {worker.log_path}"
            finish(unreported_run(store, spec, message, last_line(worker.log_path)))
        if worker.task is None and not worker.ready:
            detail = last_line(worker.log_path) or describe_exit(returncode)
            raise UserError(f"a local worker failed to start: {detail} (log: {worker.log_path})")
        if worker.log_path.exists() and worker.log_path.stat().st_size == 0:
            worker.log_path.unlink()

    @staticmethod
    def _stop(worker: _Worker) -> None:
        if worker.process.poll() is None:
            worker.process.terminate()
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        if worker.log_path.exists() and worker.log_path.stat().st_size == 0:
            worker.log_path.unlink()


def unreported_run(store: RunStore, spec: RunSpec, message: str, details: str) -> TaskReport:
    """The report of a run whose worker died before reporting it, from the store: done
    (the record was complete), failed with the record it has (a run of the pack that
    failed before the death keeps its own error), trained by a live process elsewhere
    (a run of the pack that another sweep holds), else recorded failed with ``message``."""
    name = spec.run_name
    state = store.state(name)
    if state == RunState.DONE:
        return TaskReport(name, TaskOutcome.DONE)
    if state == RunState.FAILED:
        return TaskReport(
            name, TaskOutcome.FAILED, error=f"{message}; {recorded_error(store, name)}"
        )
    if record_failure(store, spec, message, details):
        return TaskReport(name, TaskOutcome.FAILED, error=message)
    if store.is_done(name):  # finished by another sweep meanwhile
        return TaskReport(name, TaskOutcome.ALREADY_DONE)
    return elsewhere_report(store, name)


def recorded_error(store: RunStore, name: str) -> str:
    """The one-line error of a run's failed record, as kept."""
    try:
        error = json.loads((store.run_dir(name) / FAILED_FILE).read_text()).get("error", "")
    except (OSError, ValueError):
        error = ""
    return f"its failed record is kept: {error}" if error else "its failed record is kept"


def _read_messages(number: int, stream: IO[bytes], inbox: queue.Queue) -> None:
    """One thread per worker turns its stdout lines into inbox messages; None at the end."""
    for line in stream:
        try:
            inbox.put((number, decode(line)))
        except Exception:  # noqa: BLE001, S112 - not a protocol line; the log has the rest
            continue
    inbox.put((number, None))
