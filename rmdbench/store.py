"""The run store: one directory per run, named by a hash of its full spec.

A run directory appears only complete: everything is written into a temporary directory
under ``.staging/`` (one level deeper, so no reader globbing ``*/result.json`` ever sees a
half-moved record), which is renamed into place at the end (an atomic rename on one
filesystem). A run is done when its ``result.json`` exists; a failed run has
``failed.json`` (error and traceback) instead and is kept until a sweep is told
``--retry-failed``.

Whoever trains a run holds an exclusive ``flock`` on ``.locks/<run>.lock`` for the whole
attempt, so concurrent sweeps (or SLURM array tasks) on one store never train a run twice;
the kernel drops the lock when its process dies, even by SIGKILL, which is also how a
staging directory is known to be stale. The lock file holds the holder's progress (pid,
host, epoch) as JSON for ``rmdbench status``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pandas as pd

from rmdbench.errors import OptionError

try:  # POSIX only; without it runs are not locked (one sweep per store at a time)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

RESULT_FILE = "result.json"
FAILED_FILE = "failed.json"
SPEC_FILE = "spec.json"
CASES_FILE = "cases.parquet"  # per test case metrics
CURVE_FILE = "curve.parquet"  # per epoch: loss terms, clean validation DSC
NOISE_FILE = "noise.parquet"  # per training case: corrupted or not, realised noise
PREDICTIONS_FILE = "predictions.npz"  # test predictions with their case ids
NOISY_EXAMPLE_FILE = "noisy_example.npz"  # one corrupted training case, for the figures
STAGING_DIR = ".staging"
LOCK_DIR = ".locks"
PLAN_DIR = ".plans"
LEGACY_STAGING_PREFIX = ".staging-"  # staging dirs of rmdbench before .staging/ existed
TRASH_MARK = ".trash-"
#: a lock that is busy is tried again this many times (seconds between tries): a probe by
#: ``rmdbench status`` or a stale-staging sweep holds it for microseconds only
LOCK_RETRY_DELAYS = (0.02, 0.05, 0.1, 0.2, 0.4)


class RunState(StrEnum):
    """Where one run of a grid stands in the store. The values are the words shown by
    ``--dry-run`` and written in JSON."""

    DONE = "done"  # result.json exists
    FAILED = "failed"  # failed.json and no result: kept until --retry-failed
    RUNNING = "running"  # its lock is held by a live process (a sweep elsewhere)
    TODO = "todo"  # no record yet


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


class RunLock:
    """An exclusive, non-blocking lock on one run, released by the kernel if its holder dies.

    The lock file is never deleted (deleting a flocked file lets two processes lock two
    different inodes of one name); it stays, empty once released."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.info: dict = {}

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, delays: tuple[float, ...] = LOCK_RETRY_DELAYS) -> bool:
        """Take the lock; False if another process holds it (after a few short retries)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:  # pragma: no cover - no locking available
            self._fd = fd
            return True
        for delay in (*delays, None):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if delay is None:
                    os.close(fd)
                    return False
                time.sleep(delay)
            else:
                self._fd = fd
                return True
        return False  # pragma: no cover - the loop always returns

    def update(self, **fields: object) -> None:
        """Record the holder's progress in the lock file (read by ``rmdbench status``)."""
        if self._fd is None:
            return
        self.info.update(fields, updated=time.time())
        payload = json.dumps(self.info, default=str).encode()
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, payload)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@dataclass(frozen=True)
class RunningRun:
    """A run whose lock is held right now, with what its holder last wrote."""

    run_name: str
    info: dict


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ensure_writable(self) -> None:
        """Create the root and prove it is writable, before any run starts."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-test-"):
                pass
        except OSError as error:
            raise OptionError(
                f"cannot write to runs directory '{self.root}' ({error.strerror}); "
                "pass a writable directory with --out",
                "out",
            ) from None

    def run_dir(self, run_name: str) -> Path:
        return self.root / run_name

    def is_done(self, run_name: str) -> bool:
        return (self.run_dir(run_name) / RESULT_FILE).is_file()

    def is_failed(self, run_name: str) -> bool:
        return (self.run_dir(run_name) / FAILED_FILE).is_file() and not self.is_done(run_name)

    def state(self, run_name: str) -> RunState:
        """DONE, FAILED or TODO from the records alone (locks are not looked at; RUNNING
        takes a ``probe``)."""
        if self.is_done(run_name):
            return RunState.DONE
        return RunState.FAILED if self.is_failed(run_name) else RunState.TODO

    # locks ---------------------------------------------------------------------------

    def lock_path(self, run_name: str) -> Path:
        return self.root / LOCK_DIR / f"{run_name}.lock"

    def lock(self, run_name: str) -> RunLock:
        """The (not yet acquired) lock of one run."""
        return RunLock(self.lock_path(run_name))

    def probe(self, run_name: str) -> RunningRun | None:
        """The run's holder if its lock is held, else None. Takes a shared lock for an
        instant, never blocks; a trainer's acquire retries past such a probe."""
        path = self.lock_path(run_name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            if fcntl is None:  # pragma: no cover
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return RunningRun(run_name, _read_info(fd))
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def running(self) -> list[RunningRun]:
        """Every run whose lock is held now (by any process on any host sharing the store)."""
        found = []
        for path in sorted((self.root / LOCK_DIR).glob("*.lock")):
            if path.stat().st_size == 0:  # released cleanly: not running
                continue
            holder = self.probe(path.name.removesuffix(".lock"))
            if holder is not None:
                found.append(holder)
        return found

    # staging -------------------------------------------------------------------------

    @contextmanager
    def staging(self, run_name: str) -> Iterator[Path]:
        """A temporary directory that becomes ``run_dir(run_name)`` when the block ends
        (on success or after a failure record was written); removed if nothing is kept.
        An earlier record (a failed attempt) is moved aside first, so the final name only
        ever holds one complete record."""
        staging_root = self.root / STAGING_DIR
        staging_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{run_name}.", dir=staging_root))
        try:
            yield staging
            final = self.run_dir(run_name)
            trash = None
            if final.exists():
                trash = Path(tempfile.mkdtemp(prefix=f"{run_name}{TRASH_MARK}", dir=staging_root))
                os.replace(final, trash / "old")
            os.replace(staging, final)
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def staging_dirs(self) -> list[tuple[Path, str]]:
        """Every staging (or trash) directory with the run it belongs to."""
        found = []
        staging_root = self.root / STAGING_DIR
        if staging_root.is_dir():
            for path in staging_root.iterdir():
                if TRASH_MARK in path.name:
                    name = path.name.split(TRASH_MARK)[0]
                else:  # '<run>.<random>': the random part has no dot, the run name may
                    name = path.name.rsplit(".", 1)[0]
                found.append((path, name))
        for path in self.root.glob(f"{LEGACY_STAGING_PREFIX}*"):
            found.append((path, path.name.removeprefix(LEGACY_STAGING_PREFIX).rsplit("-", 1)[0]))
        return sorted(found)

    def remove_stale_staging(self, run_name: str | None = None, *, locked: bool = False) -> int:
        """Remove staging directories left by dead processes (their run is not locked);
        ``locked=True`` when the caller holds ``run_name``'s lock. Returns how many."""
        removed = 0
        for path, owner in self.staging_dirs():
            if run_name is not None and owner != run_name:
                continue
            if locked:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
                continue
            lock = self.lock(owner)
            if not lock.acquire(delays=()):
                continue  # being written right now
            try:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
            finally:
                lock.release()
        return removed

    # plans ---------------------------------------------------------------------------

    def record_plan(self, runs: dict[str, str]) -> None:
        """Remember a sweep's grid (run name -> method), so ``rmdbench status`` can say how
        many runs are left from the store alone. One file per distinct grid; atomic."""
        digest = hashlib.sha256("\n".join(sorted(runs)).encode()).hexdigest()[:12]
        folder = self.root / PLAN_DIR
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{digest}.json"
        if target.exists():
            return
        temporary = folder / f".{digest}.{os.getpid()}.tmp"
        write_json(temporary, {"runs": runs, "created": time.time()})
        os.replace(temporary, target)

    def planned_runs(self) -> dict[str, str]:
        """Every run any recorded sweep planned, with its method."""
        runs: dict[str, str] = {}
        for path in sorted((self.root / PLAN_DIR).glob("*.json")):
            try:
                runs.update(json.loads(path.read_text()).get("runs", {}))
            except (OSError, ValueError, TypeError):
                continue
        return runs

    def done_runs(self) -> list[Path]:
        return sorted(path.parent for path in self.root.glob(f"*/{RESULT_FILE}"))

    def failed_runs(self) -> list[Path]:
        return sorted(
            path.parent
            for path in self.root.glob(f"*/{FAILED_FILE}")
            if not (path.parent / RESULT_FILE).is_file()
        )


def _read_info(fd: int) -> dict:
    """The JSON a lock holder wrote; {} while it is being rewritten."""
    try:
        return json.loads(os.pread(fd, 1 << 16, 0) or b"{}")
    except (OSError, ValueError):
        return {}


def holder_identity() -> dict:
    """Who holds a lock: shown by ``rmdbench status`` and 'running elsewhere' lines."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}


def write_table(path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(path, index=False)
