"""The run store: one directory per run, named by a hash of its full spec.

A run directory appears only complete: everything is written into a temporary directory
under ``.staging/`` (one level deeper, so no reader globbing ``*/result.json`` ever sees a
half-moved record), which is renamed into place at the end (an atomic rename on one
filesystem). A run is done when its ``result.json`` reads back whole: a JSON object
naming this run (its ``run_name`` is the directory's name and its spec hashes to it) next to
tables that open, and holding what rmdbench writes: a spec whose every field has its type
and range, per-case metrics that are numbers in their range (``record_problem``). A record
that does not (truncated, emptied, a table lost, a spec or a metric no run could have
written) makes the run *damaged*: a sweep moves it aside to ``.damaged/`` (never deleted)
and trains it again. A failed run has ``failed.json`` (error and traceback) instead and is
kept until a sweep is told ``--retry-failed``.

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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pandas as pd

from rmdbench.atomic import FILE_MODE, make_temporary_dir
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
#: the rules a run's test set is evaluated under (``rmdbench.training.model_selection``):
#: the last epoch's networks, or the best epoch's by clean or by noisy validation DSC
EVALUATION_RULES = ("last", "best-clean-val", "best-noisy-val")
STAGING_DIR = ".staging"
LOCK_DIR = ".locks"
PLAN_DIR = ".plans"
DAMAGED_DIR = ".damaged"  # damaged run directories, set aside by sweeps (never deleted)
#: the store's own folders: where one exists it must be a directory
STORE_FOLDERS = (STAGING_DIR, LOCK_DIR, PLAN_DIR, DAMAGED_DIR)
#: the tables of a done run: each must open (its parquet footer read) for the run to count
RECORD_TABLES = (CASES_FILE, CURVE_FILE, NOISE_FILE)


def evaluation_files(rule: str) -> tuple[str, str]:
    """The cases and predictions files of a rule's evaluation: the run's own for ``last``,
    ``cases-<rule>.parquet`` and ``predictions-<rule>.npz`` for a best-epoch rule whose
    epoch is not the last (result.json's ``evaluation`` says which files each rule uses)."""
    if rule == "last":
        return CASES_FILE, PREDICTIONS_FILE
    return f"cases-{rule}.parquet", f"predictions-{rule}.npz"


#: what a JSON value that is not an object is called in a message
JSON_KINDS = {
    list: "list",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
#: the JSON values a spec field may hold, as a message names them (a number or an integer
#: is never a boolean)
JSON_TYPES = {"a number": (int, float), "an integer": int, "a string": str, "an object": dict}
#: the fields of a run's spec (``rmdbench.run.RunSpec.as_dict``, every one of them there
#: since the first record) and the JSON value each holds (``JSON_TYPES``)
SPEC_FIELDS = {
    "dataset": "a string",
    "noise_model": "a string",
    "noise_preset": "a string",
    "noise_params": "an object",
    "noise_ratio": "a number",
    "method": "a string",
    "method_params": "an object",
    "seed": "an integer",
    "profile": "an object",
    "backbone": "a string",
    "spec_version": "an integer",
}
#: fields a spec holds only sometimes (a prepared dataset's fingerprint; the fingerprints
#: of the code a run trained with, absent from records made before they were kept; a
#: chosen backbone's parameters)
OPTIONAL_SPEC_FIELDS = {
    "dataset_fingerprint": "a string",
    "code": "an object",
    "backbone_params": "an object",
}
#: a surface distance (mm, or px without a spacing) past this is no measurement of a crop
MAX_SURFACE_DISTANCE = 1e6
#: the per-case metrics of cases.parquet (``rmdbench.metrics.METRIC_KEYS``; per class as
#: ``dsc_class1``, ...) and the range of their values. NaN is allowed (a metric undefined
#: for a case), but not for every case of a run: such a run has no result to show
CASE_METRICS = {
    "dsc": (0.0, 1.0),
    "iou": (0.0, 1.0),
    "hd95": (0.0, MAX_SURFACE_DISTANCE),
    "assd": (0.0, MAX_SURFACE_DISTANCE),
    "nsd": (0.0, 1.0),
}
#: metrics added after runs were first stored: an older cases.parquet lacks them, and is
#: read with the metric absent (never damaged)
LATER_CASE_METRICS = ("nsd",)
#: the per-case flags of cases.parquet, 1 or 0: both masks empty, exactly one empty
CASE_FLAGS = ("empty_both", "empty_one")
#: the columns every cases.parquet holds (``rmdbench.metrics.evaluate_cases``)
CASE_COLUMNS = (
    "case_id",
    *(name for name in CASE_METRICS if name not in LATER_CASE_METRICS),
    *CASE_FLAGS,
)
LEGACY_STAGING_PREFIX = ".staging-"  # staging dirs of rmdbench before .staging/ existed
TRASH_MARK = ".trash-"
#: a lock that is busy is tried again this many times (seconds between tries): a probe by
#: ``rmdbench status`` or a stale-staging sweep holds it for microseconds only
LOCK_RETRY_DELAYS = (0.02, 0.05, 0.1, 0.2, 0.4)


class RunState(StrEnum):
    """Where one run of a grid stands in the store. The values are the words shown by
    ``--dry-run`` and written in JSON."""

    DONE = "done"  # result.json reads back whole, names this run, its tables open
    FAILED = "failed"  # failed.json and no result: kept until --retry-failed
    RUNNING = "running"  # its lock is held by a live process (a sweep elsewhere)
    TODO = "todo"  # no record yet
    DAMAGED = "damaged"  # a result.json that does not read back whole: set aside, retrained


class StoreLayoutError(OptionError):
    """One of the store's own folders (``.staging``, ``.locks``, ...) is not a directory;
    ``path`` is that file. Nothing can be locked or staged until it is moved away."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message, "out")
        self.path = path


@dataclass(frozen=True)
class RecordCheck:
    """What one run directory holds, from its files alone (locks are not looked at)."""

    state: RunState  # DONE, DAMAGED, FAILED or TODO
    #: DAMAGED: what is wrong with the record, in a few words; FAILED: why failed.json
    #: says nothing (it is not a JSON object)
    reason: str = ""
    #: DONE: result.json; FAILED: failed.json; DAMAGED: result.json when only a table is
    #: at fault; else {}
    record: dict = field(default_factory=dict)
    #: DAMAGED because the record is not this directory's: another run's result.json, or one
    #: that rmdbench did not write. A store's reader leaves such a directory alone.
    foreign: bool = False


def spec_key(spec: Mapping) -> str:
    """The hash that ends a run's name: of the spec's canonical JSON (``RunSpec.key`` is
    this of ``RunSpec.as_dict()``), so a record's stored spec proves which run it is."""
    canonical = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def check_record(run_dir: Path) -> RecordCheck:
    """DONE only when ``result.json`` parses as an object whose ``run_name`` is the
    directory's name, whose spec hashes to that name, and whose tables open (their parquet
    footers: cheap enough for stores of thousands of runs), and when what it holds is what
    rmdbench writes (``record_problem``: a spec of the right types, a cases table of
    numbers in range); else DAMAGED, with the reason. Without a result: FAILED
    (``failed.json``) or TODO."""
    result_path = run_dir / RESULT_FILE
    if not os.path.lexists(result_path):
        failed_path = run_dir / FAILED_FILE
        if not failed_path.is_file():
            return RecordCheck(RunState.TODO)
        failed = _load_json(failed_path)
        if isinstance(failed, dict):
            return RecordCheck(RunState.FAILED, record=failed)
        return RecordCheck(RunState.FAILED, f"{FAILED_FILE} is not a JSON object (truncated?)")
    record, problem, foreign = identify_record(run_dir)
    if problem:
        return RecordCheck(RunState.DAMAGED, problem, foreign=foreign)
    problem = _table_problem(run_dir) or record_problem(run_dir, record)
    if problem:
        return RecordCheck(RunState.DAMAGED, problem, record=record)
    return RecordCheck(RunState.DONE, record=record)


def identify_record(run_dir: Path) -> tuple[dict, str, bool]:
    """``result.json`` as the record of the run the directory is named after:
    ``(record, '', False)``; else ``({}, why not, foreign)``, foreign when it is another
    run's record or none of rmdbench's rather than a damaged one. Reads JSON only."""
    path = run_dir / RESULT_FILE
    try:
        record = json.loads(path.read_bytes())
    except OSError as error:
        return {}, f"{RESULT_FILE} cannot be read ({error.strerror or error})", False
    except (ValueError, RecursionError):
        return {}, f"{RESULT_FILE} is not JSON (truncated?)", False
    if not isinstance(record, dict):
        kind = JSON_KINDS.get(type(record), type(record).__name__)
        return {}, f"{RESULT_FILE} holds a JSON {kind}, not a record", False
    problem, foreign = _identity_problem(record, run_dir.name)
    return ({}, problem, foreign) if problem else (record, "", False)


def _identity_problem(record: dict, name: str) -> tuple[str, bool]:
    """Why a parsed result.json is not the record of run ``name`` ('' if it is), and whether
    it is another run's or none of rmdbench's (foreign) rather than a damaged one."""
    run_name, spec = record.get("run_name"), record.get("spec")
    if run_name is None and spec is None:
        return f"its {RESULT_FILE} is not an rmdbench run record (no run_name, no spec)", True
    if isinstance(run_name, str) and run_name != name:
        return f"its {RESULT_FILE} is the record of run '{run_name}'", True
    if run_name != name:
        return f"{RESULT_FILE} has no run_name", False
    if not isinstance(spec, dict):
        return f"{RESULT_FILE} has no spec", False
    try:
        key = spec_key(spec)
    except (ValueError, TypeError, RecursionError):
        key = ""
    if not key or not name.endswith(f"-{key}"):
        return f"the spec in {RESULT_FILE} is not this run's (it does not hash to its name)", False
    return "", False


def _table_problem(run_dir: Path) -> str:
    """The first record table that is missing or does not open ('' if all open)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name in RECORD_TABLES:
        path = run_dir / name
        if not path.is_file():
            return f"{name} is missing"
        try:
            pq.read_metadata(path)
        except (OSError, ValueError, pa.ArrowException) as error:
            return f"{name} does not open ({first_line(error)})"
    return ""


def record_problem(run_dir: Path, record: dict) -> str:
    """What a record that passes the identity check holds that rmdbench never writes ('' if
    nothing): a spec field missing or of another type or range (``spec_problem``), a cases
    table without cases or whose metrics are not numbers in their range
    (``cases_problem``). Readers trust a DONE record: a report computes on it, so such a
    record is damaged, not shown."""
    return spec_problem(record["spec"]) or cases_problem(run_dir / CASES_FILE)


def spec_problem(spec: dict) -> str:
    """Why ``spec`` is not one a run of rmdbench has ('' if it is): a field missing or
    holding another JSON type (``SPEC_FIELDS``), or a noise ratio outside [0, 1]."""
    missing = [key for key in SPEC_FIELDS if key not in spec]
    if missing:
        return f"its spec lacks {', '.join(missing)}"
    for key, kind in {**SPEC_FIELDS, **OPTIONAL_SPEC_FIELDS}.items():
        if key in spec and not _is_json(spec[key], kind):
            return f"its spec's {key} is a JSON {json_kind(spec[key])}, not {kind}"
    ratio = spec["noise_ratio"]
    if not 0 <= ratio <= 1:  # NaN too
        return f"its spec's noise_ratio {ratio!r:.24} is not in [0, 1]"  # JSON ints are any size
    return ""


def _is_json(value: object, kind: str) -> bool:
    """Whether ``value`` (read from JSON) is ``kind``, one of ``JSON_TYPES``."""
    if isinstance(value, bool) and kind in ("a number", "an integer"):
        return False
    return isinstance(value, JSON_TYPES[kind])


def json_kind(value: object) -> str:
    """What a JSON value is called in a message: 'string', 'list', 'object', ..."""
    return "object" if isinstance(value, dict) else JSON_KINDS.get(type(value), "value")


def cases_problem(path: Path) -> str:
    """Why a run's cases table holds no result a report can show ('' if it does): no
    cases, a column of ``CASE_COLUMNS`` missing, a metric or flag that is not numbers
    (text, booleans, nulls) or out of its range, or a metric NaN for every case. The table
    is small (one row per test case): read whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as error:
        return f"{path.name} does not read ({first_line(error)})"
    if table.num_rows == 0:
        return f"{path.name} holds no cases"
    missing = [name for name in CASE_COLUMNS if name not in table.column_names]
    if missing:
        return f"{path.name} lacks column(s) {', '.join(missing)}"
    for name in table.column_names:
        problem = _column_problem(name, table.column(name))
        if problem:
            return f"{path.name}: {problem}"
    return ""


def case_range(column: str) -> tuple[float, float] | None:
    """The range of a per-case metric or flag column (``dsc``, ``hd95_class2``,
    ``empty_one``); None for a column that is neither (``case_id``, ``hd_unit``). A
    metric is named as the report takes one (``reports.report.check_options``)."""
    if column in CASE_FLAGS:
        return (0.0, 1.0)
    return CASE_METRICS.get(column.split("_class")[0])


def _column_problem(name: str, column: object) -> str:
    """Why one column of a cases table is no metric or flag ('' if it is, or if it is
    neither): not numbers, or for a metric a value out of its range (infinite too) or NaN
    in every row; a flag is 0 or 1, never NaN."""
    import numpy as np
    import pyarrow as pa

    bounds = case_range(name)
    if bounds is None:
        return ""
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return f"{name} holds {kind} values, not numbers"
    values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    present = values[~np.isnan(values)]
    if name in CASE_FLAGS:
        ones_and_zeros = np.isin(values, (0.0, 1.0)).all()
        return "" if ones_and_zeros else f"{name} holds values other than 0 and 1"
    if present.size == 0:
        return f"{name} is NaN for every case"
    low, high = bounds
    if not ((present >= low) & (present <= high)).all():
        return f"{name} holds values outside [{low:g}, {high:g}]"
    return ""


def first_line(error: BaseException, limit: int = 120) -> str:
    """An error as one short line (pyarrow's messages can run over several)."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _load_json(path: Path) -> object:
    """A JSON file's value, or None when it cannot be read or parsed."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


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
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
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
        """Create the root and prove it is writable, before any run starts; its own folders
        must be folders (``check_layout``)."""
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
        self.check_layout()

    def check_layout(self) -> None:
        """Refuse, in one line naming it, a file where the store keeps a folder of its own
        (``.staging``, ``.locks``, ``.plans``, ``.damaged``): no run could be locked or
        staged, and every probe of a lock would fail."""
        for name in STORE_FOLDERS:
            path = self.root / name
            if os.path.lexists(path) and not path.is_dir():
                raise StoreLayoutError(
                    f"'{path}' is a file, but rmdbench keeps its {name} folder there; "
                    "move the file away (or pass another --out)",
                    path,
                )

    def run_dir(self, run_name: str) -> Path:
        return self.root / run_name

    def check(self, run_name: str) -> RecordCheck:
        """What the run's directory holds (see ``check_record``)."""
        return check_record(self.run_dir(run_name))

    def is_done(self, run_name: str) -> bool:
        """A record that reads back whole; a damaged one is not done."""
        return self.state(run_name) == RunState.DONE

    def is_failed(self, run_name: str) -> bool:
        return self.state(run_name) == RunState.FAILED

    def state(self, run_name: str) -> RunState:
        """DONE, DAMAGED, FAILED or TODO from the records alone (locks are not looked at;
        RUNNING takes a ``probe``)."""
        return self.check(run_name).state

    def set_aside(self, run_name: str) -> Path:
        """Move a damaged run directory to ``.damaged/<run>-<time>/``, never deleting it
        (what is left of it may still be read by hand), so the run can be trained again.
        The caller holds the run's lock. Returns where it went."""
        folder = self.root / DAMAGED_DIR
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{run_name}-{time.strftime('%Y%m%dT%H%M%S')}"
        target, number = folder / stem, 1
        while os.path.lexists(target):  # set aside twice within a second
            number += 1
            target = folder / f"{stem}-{number}"
        os.rename(self.run_dir(run_name), target)
        return target

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
        except OSError:  # no lock file (or no readable one): nobody can hold it
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
            try:
                if path.stat().st_size == 0:  # released cleanly: not running
                    continue
            except OSError:  # gone meanwhile
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
        ever holds one complete record; a damaged one is set aside to ``.damaged/``
        rather than removed."""
        staging_root = self.root / STAGING_DIR
        staging_root.mkdir(parents=True, exist_ok=True)
        staging = make_temporary_dir(staging_root, f"{run_name}.")
        try:
            yield staging
            final = self.run_dir(run_name)
            trash = None
            if os.path.lexists(final) and self.state(run_name) == RunState.DAMAGED:
                self.set_aside(run_name)
            if os.path.lexists(final):
                trash = make_temporary_dir(staging_root, f"{run_name}{TRASH_MARK}")
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
        """Every run any recorded sweep planned, with its method. A plan file that does
        not read back as ``{"runs": {name: method}}`` adds nothing (and what it holds that
        is not a name and a method is skipped)."""
        runs: dict[str, str] = {}
        for path in sorted((self.root / PLAN_DIR).glob("*.json")):
            plan = _load_json(path)
            planned = plan.get("runs") if isinstance(plan, dict) else None
            if isinstance(planned, dict):
                runs.update(
                    (name, method)
                    for name, method in planned.items()
                    if isinstance(name, str) and isinstance(method, str)
                )
        return runs

    def run_dirs(self) -> list[Path]:
        """Every directory that may be a run (the store's own dot-folders left out)."""
        if not self.root.is_dir():
            return []
        return sorted(
            path for path in self.root.iterdir() if path.is_dir() and not path.name.startswith(".")
        )

    def done_runs(self) -> list[Path]:
        return [path for path in self.run_dirs() if check_record(path).state == RunState.DONE]

    def failed_runs(self) -> list[Path]:
        return [path for path in self.run_dirs() if check_record(path).state == RunState.FAILED]


def _read_info(fd: int) -> dict:
    """The JSON object a lock holder wrote; {} while it is being rewritten (or when it is
    not an object)."""
    try:
        info = json.loads(os.pread(fd, 1 << 16, 0) or b"{}")
    except (OSError, ValueError, RecursionError):
        return {}
    return info if isinstance(info, dict) else {}


def holder_identity() -> dict:
    """Who holds a lock: shown by ``rmdbench status`` and 'running elsewhere' lines; in a
    SLURM task also its job id (what scancel and scontrol take)."""
    identity = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if job and task:
        identity["slurm_job"] = f"{job}_{task}"
    elif os.environ.get("SLURM_JOB_ID"):
        identity["slurm_job"] = os.environ["SLURM_JOB_ID"]
    return identity


def write_table(path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(path, index=False)
