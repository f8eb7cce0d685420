"""Run store -> one tidy pandas DataFrame: a row per run x test case, with every spec
field as a column (method hyper-parameters as ``method.<key>``, noise severity as
``noise.<key>``, profile fields as ``profile.<key>``), so that any table, test or plot is a
group-by away and any spec field can be filtered on (``reports.filters``). The labels that
keep variants apart (``method_label``, ``noise_setting``, ...) come from
``reports.labelling``.

Reports read only what runs stored; nothing here loads a dataset or regenerates noise.
A run whose record does not read back whole (``RunState.DAMAGED``: a truncated result.json,
a lost or truncated table) is skipped with a note, and so is a directory that holds another
run's record or none of rmdbench's: one bad directory never hides the rest of a store.
A record that reads back but holds what no run writes is damaged too, and skipped the same
way (``rmdbench.store.record_problem``): a spec field of another type or range (a noise
ratio of 1e308, no backbone), a cases table without cases, a metric column missing or of
text, booleans or nulls, a value out of its range (a DSC of 1e308, an infinite flag), or a
metric NaN for every case. So every run the tables and figures get has cases, and a number
for every metric in some case: the plots need not guard against runs without any. When
no valid run remains the report is refused in one line, before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from rmdbench.errors import UserError
from rmdbench.results import (
    IDENTITY_COLUMNS,
    check_evaluation_rule,
    evaluated_files,
    spec_columns,
)
from rmdbench.store import (
    CASES_FILE,
    CURVE_FILE,
    DAMAGED_DIR,
    NOISE_FILE,
    RESULT_FILE,
    RunState,
    RunStore,
    cases_problem,
    check_record,
    evaluation_files,
    first_line,
    spec_problem,
)

from .labelling import add_labels

#: the columns that name one run's setting; a table never pools runs that differ in these
SETTING_COLUMNS = ("dataset", "noise_setting", "profile_setting", "backbone")
RUN_IDENTITY = (*SETTING_COLUMNS, "method_label", "noise_ratio", "seed")
SHARED_CLEAN = "shared_clean"
#: what reading a stored table may raise when its file is damaged past its footer
TABLE_ERRORS = (OSError, ValueError, KeyError, TypeError, pa.ArrowException)


class DamagedRun(Exception):
    """A run whose record turns out damaged while it is read (a table that opens but does
    not read): the run is skipped with a note, like one ``check_record`` calls damaged."""


@dataclass
class RunStoreData:
    """A loaded run store: the tidy per-case frame plus what belongs to runs, not cases."""

    root: Path
    cases: pd.DataFrame
    results: dict[str, dict] = field(default_factory=dict)  # run name -> result.json
    realised: pd.DataFrame = field(default_factory=pd.DataFrame)  # noise.parquet rows + run
    failed: list[str] = field(default_factory=list)  # run names with failed.json only
    damaged: dict[str, str] = field(default_factory=dict)  # run -> what is wrong: skipped
    foreign: dict[str, str] = field(default_factory=dict)  # directory -> why it is no run
    #: run -> its curve.parquet as read (None: it does not read), filled by ``curve``
    curves: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)
    #: the evaluation rule whose test cases were read (``rmdbench.store.EVALUATION_RULES``)
    evaluate: str = "last"

    @property
    def notes(self) -> list[str]:
        """One line per run left out because its record is damaged, and one for the
        directories that hold no run of this store."""
        notes = [
            f"run {name} skipped: its record is damaged ({reason}); 'rmdbench sweep' moves "
            f"it to {DAMAGED_DIR}/ and trains it again"
            for name, reason in sorted(self.damaged.items())
        ]
        if self.foreign:
            notes.append(
                f"ignored {len(self.foreign)} directory(ies) holding no run of this store: "
                f"{listing(self.foreign, limit=5)}"
            )
        return notes

    def run_dir(self, run: str) -> Path:
        return self.root / run

    def predictions_path(self, run: str) -> Path:
        """The run's test predictions under the store's evaluation rule."""
        return (
            self.run_dir(run)
            / evaluation_files(evaluated_files(self.results[run], self.evaluate))[1]
        )

    def curve(self, run: str) -> pd.DataFrame | None:
        """The run's per-epoch curve, read once however many sections use it; None when
        the file is missing or does not read."""
        if run not in self.curves:
            try:
                self.curves[run] = pd.read_parquet(self.run_dir(run) / CURVE_FILE)
            except TABLE_ERRORS:
                self.curves[run] = None
        return self.curves[run]

    def restrict(self, cases: pd.DataFrame) -> RunStoreData:
        """The same store seen through a filtered case frame (results and noise follow)."""
        runs = set(cases["run"].unique())
        return RunStoreData(
            root=self.root,
            cases=cases.reset_index(drop=True),
            results={name: value for name, value in self.results.items() if name in runs},
            realised=self.realised[self.realised["run"].isin(runs)].reset_index(drop=True)
            if len(self.realised)
            else self.realised,
            failed=self.failed,
            damaged=self.damaged,
            foreign=self.foreign,
            curves=self.curves,
            evaluate=self.evaluate,
        )


def read_result(run_dir: Path) -> dict:
    """A run's ``result.json``; a file that is not an rmdbench record is a UserError."""
    path = Path(run_dir) / RESULT_FILE
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as error:
        raise UserError(
            f"cannot read '{path}' ({first_line(error)}); it is not an rmdbench run record — "
            "point the report at a directory written by 'rmdbench sweep'"
        ) from None
    if not isinstance(result, dict) or not isinstance(result.get("spec"), dict):
        raise UserError(
            f"'{path}' is not an rmdbench run record (no 'spec'); point the report at a "
            "directory written by 'rmdbench sweep'"
        )
    problem = spec_problem(result["spec"])
    if problem:
        raise UserError(f"'{path}' is not a record rmdbench wrote: {problem}")
    return result


def load_runs(
    root: Path, run_names: set[str] | None = None, evaluate: str = "last"
) -> pd.DataFrame:
    """Every done run under ``root`` (or only ``run_names``) as the tidy frame: one row per
    run x test case. Its columns:

    - ``case_id`` and the run's per-case metrics from ``cases.parquet`` (``dsc``, ``iou``,
      ``hd95``, ``assd``, per class ``dsc_class<k>``..., ``empty_one``, ``empty_both``,
      ``hd_unit``);
    - the spec: ``dataset``, ``noise_model``, ``noise_preset``, ``noise_ratio``, ``method``,
      ``seed``, ``backbone``, ``spec_version``, ``profile`` (its name); every field flattened
      as ``method.<key>``, ``noise.<key>``, ``profile.<key>``, ``code.<component>`` (lists
      as strings); and the canonical JSON of each as ``method_params``, ``noise_params``,
      ``profile_json`` (``rmdbench.results.spec_columns``);
    - ``run`` (directory name), ``seconds_per_iteration``, ``conventions`` (a short hash of
      the metric conventions text), ``realised_noisy_dsc`` (mean Dice of the corrupted
      training masks vs clean; NaN at r=0) and ``realised_train_dsc`` (of all of them);
    - labels (``reports.labelling``): ``method_label`` (``rmd[distill=false]``),
      ``method_variant`` (``distill=false`` or ``default``), ``noise_setting``,
      ``profile_setting``;
    - ``shared_clean``: True on the r=0 rows copied to a noise setting that has no clean
      runs of its own (``share_clean_runs``).

    The report's frame; ``rmdbench.load_runs`` is the public one (one row per case per run:
    no labels, no shared copies).
    """
    return load_store(root, run_names, evaluate).cases


def load_store(
    root: Path, run_names: set[str] | None = None, evaluate: str = "last"
) -> RunStoreData:
    """Read every done run under ``root`` (or only ``run_names``) into a RunStoreData, each
    with its test cases under the evaluation rule ``evaluate``; a run without them is a
    UserError that names the fix."""
    check_evaluation_rule(evaluate)
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"runs directory '{root}' does not exist; run 'rmdbench sweep' first")
    frames, results, realised = [], {}, []
    failed, damaged, foreign = [], {}, {}
    lacking: list[str] = []
    store = RunStore(root)
    planned = store.planned_runs()  # a planned run's directory is its run's, whatever it holds
    for run_dir in store.run_dirs():
        name = run_dir.name
        if run_names is not None and name not in run_names:
            continue
        check = check_record(run_dir)
        if check.state == RunState.FAILED:
            failed.append(name)
        elif check.state == RunState.DAMAGED:
            (foreign if check.foreign and name not in planned else damaged)[name] = check.reason
        if check.state != RunState.DONE:
            continue
        files = evaluated_files(check.record, evaluate)
        if not files:
            lacking.append(name)
            continue
        cases_file = evaluation_files(files)[0]
        problem = cases_problem(run_dir / cases_file) if files != "last" else ""
        if problem:
            damaged[name] = problem
            continue
        try:
            cases, noise = _read_run(run_dir, check.record, cases_file)
        except DamagedRun as error:
            damaged[name] = str(error)
            continue
        results[name] = check.record
        frames.append(cases)
        if noise is not None:
            realised.append(noise)
    if lacking:
        raise UserError(
            f"{len(lacking)} run(s) have no '{evaluate}' evaluation (recorded before rmdbench "
            f"kept the best epoch's networks, or trained without validation cases), e.g. "
            f"{sorted(lacking)[0]}; report with --evaluate last, or train them again"
        )
    if not frames:
        skipped = "".join(
            f"; skipped {len(found)} {kind}: {listing(found)}"
            for kind, found in (("damaged run(s)", damaged), ("foreign directory(ies)", foreign))
            if found
        )
        raise UserError(
            f"no finished runs in '{root}' (no */{RESULT_FILE} that reads back whole)"
            f"{skipped}; run 'rmdbench sweep --out {root}' first"
        )
    cases = pd.concat(frames, ignore_index=True)
    add_labels(cases)
    noise_frame = pd.concat(realised, ignore_index=True) if realised else pd.DataFrame()
    _add_realised(cases, noise_frame)
    cases = share_clean_runs(cases)
    return RunStoreData(
        root=root,
        cases=cases,
        results=results,
        realised=noise_frame,
        failed=failed,
        damaged=damaged,
        foreign=foreign,
        evaluate=evaluate,
    )


def listing(reasons: dict[str, str], limit: int = 3) -> str:
    """'a (why), b (why) and 4 more': a few of many, in one line."""
    names = sorted(reasons)
    text = ", ".join(f"{name} ({reasons[name]})" for name in names[:limit])
    return text + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _read_run(
    run_dir: Path, result: dict, cases_file: str = CASES_FILE
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One done run's cases from ``cases_file`` (with its spec attached) and realised
    noise; ``DamagedRun`` when they do not read after all. Its spec and cases were checked
    with the record (``check_record``) or by the caller."""
    return _run_cases(run_dir, result, cases_file), _run_noise(run_dir)


def share_clean_runs(cases: pd.DataFrame) -> pd.DataFrame:
    """At noise ratio 0 no label is corrupted, so the noise model changes nothing: a noise
    setting without r=0 runs of its own shows the r=0 runs of another setting of the same
    dataset, profile and backbone (rows copied, ``shared_clean`` True). A sweep can then
    train the clean runs once for all its noise models. Table footnotes name the source;
    the Friedman ranks leave the copies out (they are not new evidence); within a table the
    Wilcoxon tests at r=0 use them like the setting's own runs."""
    cases[SHARED_CLEAN] = False
    keys = ["dataset", "profile_setting", "backbone"]
    noise_columns = [
        column for column in cases.columns if column.startswith("noise") and column != "noise_ratio"
    ]
    borrowed = []
    for _, group in cases.groupby(keys, sort=False):
        clean = group[group["noise_ratio"] == 0]
        if clean.empty:
            continue
        source = clean[clean["noise_setting"] == clean["noise_setting"].iloc[0]]
        for _, rows in group.groupby("noise_setting", sort=False):
            if (rows["noise_ratio"] == 0).any():
                continue
            copy = source.copy()
            for column in noise_columns:
                copy[column] = [rows[column].iloc[0]] * len(copy)
            copy[SHARED_CLEAN] = True
            borrowed.append(copy)
    return pd.concat([cases, *borrowed], ignore_index=True) if borrowed else cases


def _run_cases(run_dir: Path, result: dict, cases_file: str = CASES_FILE) -> pd.DataFrame:
    """One run's per-case metrics with the run's spec, timings and noise summary attached."""
    cases = _read_table(run_dir / cases_file)
    if "case_id" not in cases:
        raise DamagedRun(f"{cases_file} has no case_id column")
    # the identity columns a run writes into its tables are attached again from its spec,
    # at the place they have for records written before the tables carried them
    cases = cases.drop(columns=[name for name in IDENTITY_COLUMNS if name in cases.columns])
    scalars: dict[str, Any] = spec_columns(result["spec"], run_dir.name)
    scalars["seconds_per_iteration"] = _number(
        _mapping(result.get("timings")).get("seconds_per_iteration")
    )
    noise = _mapping(result.get("noise"))
    scalars["realised_noisy_dsc"] = _dice(noise.get("mean_noisy_dsc"))
    scalars["realised_train_dsc"] = _dice(noise.get("mean_train_dsc"))
    conventions = result.get("conventions")
    conventions = conventions if isinstance(conventions, str) else ""
    scalars["conventions"] = hashlib.sha256(conventions.encode()).hexdigest()[:8]
    for column, value in scalars.items():
        cases[column] = value
    cases["case_id"] = cases["case_id"].astype(str)
    if "hd_unit" not in cases:
        cases["hd_unit"] = "mm"
    return cases


def _run_noise(run_dir: Path) -> pd.DataFrame | None:
    path = run_dir / NOISE_FILE
    if not path.is_file():
        return None
    noise = _read_table(path)
    noise["run"] = run_dir.name
    return noise


def _read_table(path: Path) -> pd.DataFrame:
    """A stored table; ``DamagedRun`` when its file does not read (a footer that opens
    does not prove the pages behind it)."""
    try:
        return pd.read_parquet(path)
    except TABLE_ERRORS as error:
        raise DamagedRun(f"{path.name} does not read ({first_line(error)})") from None


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _dice(value: object) -> float:
    """A realised Dice from a record: a number in [0, 1], else NaN (not recorded): one
    past it is no Dice, and would take the realised-noise figure's axis with it."""
    number = _number(value)
    return number if 0 <= number <= 1 else math.nan


def _mapping(value: object) -> dict:
    """A record field that should hold a JSON object: it, or {} for anything else."""
    return value if isinstance(value, dict) else {}


def _add_realised(cases: pd.DataFrame, noise: pd.DataFrame) -> None:
    """Per run, from noise.parquet: the mean Dice of every training mask against its clean
    mask (what a method trains on) and of the corrupted ones; the result.json summary is
    the fallback for runs without the file."""
    if noise.empty or "noisy_dsc" not in noise or "corrupted" not in noise:
        return
    dice = pd.to_numeric(noise["noisy_dsc"], errors="coerce")
    dice = dice.where(dice.between(0, 1))  # no Dice past it (see ``_dice``)
    train = dice.groupby(noise["run"]).mean()
    hit = noise["corrupted"].fillna(False).astype(bool)
    corrupted = dice[hit].groupby(noise["run"][hit]).mean()
    cases["realised_train_dsc"] = cases["run"].map(train).fillna(cases["realised_train_dsc"])
    from_file = cases["run"].map(corrupted)
    has_file = cases["run"].isin(train.index)
    cases["realised_noisy_dsc"] = np.where(has_file, from_file, cases["realised_noisy_dsc"])


def check_conventions(store: RunStoreData) -> None:
    """Numbers computed under different metric conventions must not share a table."""
    counts = store.cases.groupby("conventions")["run"].nunique()
    if len(counts) > 1:
        groups = ", ".join(f"{key} ({count} runs)" for key, count in counts.items())
        raise UserError(
            f"runs use different metric conventions ({groups}); their numbers are not "
            f"comparable — report one group at a time, e.g. --filter conventions={counts.index[0]}"
        )


def check_duplicates(cases: pd.DataFrame) -> None:
    """Two runs of the same method, setting, ratio and seed would be pooled as one: they
    differ in a field the tables do not show (e.g. the spec version), so refuse them."""
    runs = cases.drop_duplicates("run")
    keys = [key for key in RUN_IDENTITY if key in runs]
    clashes = runs[runs.duplicated(keys, keep=False)]
    if clashes.empty:
        return
    first = clashes.groupby(keys, dropna=False).head(2).iloc[:2]
    differing = [
        column
        for column in runs.columns
        if column not in ("run", "case_id")
        and not column.startswith("realised")
        and first[column].astype(str).nunique() > 1
    ]
    raise UserError(
        f"runs '{first['run'].iloc[0]}' and '{first['run'].iloc[1]}' have the same method, "
        f"setting, noise ratio and seed (they differ only in: "
        f"{', '.join(differing) or 'nothing recorded'}); keep one group with --filter "
        f"or report their directories separately"
    )
