"""Damaged records: one run directory that does not read back whole (a truncated or empty
result.json, JSON of another shape, a lost or truncated table) never blocks a sweep, status
or a report. ``rmdbench status`` lists it with the reason, ``rmdbench report`` skips it with
a note, and a sweep moves it to ``OUT/.damaged/`` (never deleting it) and trains it again. A
directory holding another run's record, or none of rmdbench's, is left alone and not
counted; a file where the store keeps a folder of its own is one line and exit code 2."""

from __future__ import annotations

import itertools
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rmdbench.cli import app
from rmdbench.reports.store_reader import load_store
from rmdbench.status import read_status
from rmdbench.store import (
    CASES_FILE,
    CURVE_FILE,
    DAMAGED_DIR,
    FAILED_FILE,
    LOCK_DIR,
    NOISE_FILE,
    PLAN_DIR,
    RESULT_FILE,
    SPEC_FILE,
    STAGING_DIR,
    RunState,
    RunStore,
    StoreLayoutError,
    holder_identity,
    spec_key,
)
from rmdbench.sweep import prepare_store, survey
from tests.helpers.sweep_plugin import fast_methods, fast_sweep, starts, write_plugin

pytestmark = pytest.mark.usefixtures("one_thread")

METHODS = fast_methods("tag=0", "tag=1")
REPORT = ["--no-qualitative", "--metric", "dsc"]
EXAMPLES = itertools.count()  # a fresh copy of the store per hypothesis example


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, Path]:
    """The plug-in and a store of two done runs (tags 0 and 1), swept once for the module;
    each test spoils a copy."""
    folder = tmp_path_factory.mktemp("swept")
    plugin = write_plugin(folder)
    out = folder / "runs"
    result = CliRunner().invoke(app, fast_sweep(plugin, out, METHODS))
    assert result.exit_code == 0, result.output
    return plugin, out


def copy_of(swept: tuple[Path, Path], target: Path) -> Path:
    shutil.copytree(swept[1], target)
    return target


def run_dirs(out: Path) -> dict[int, Path]:
    """tag -> run directory, from the records (read before any is spoiled)."""
    found = {}
    for path in out.glob(f"*/{RESULT_FILE}"):
        found[json.loads(path.read_text())["spec"]["method_params"]["tag"]] = path.parent
    return found


def plan():
    from rmdbench.profiles import get_profile
    from rmdbench.sweep import plan_sweep, split_list

    return plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.0],
        methods=split_list([METHODS]),
        seeds=[0],
        profile=get_profile("tiny"),
    )


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def rewrite_cases(path: Path, **columns) -> None:
    """cases.parquet with ``columns`` replaced (every row: the value given); with
    ``rows=0``, without a row."""
    import pandas as pd

    cases = pd.read_parquet(path)
    if columns.pop("rows", None) == 0:
        cases = cases.iloc[:0]
    for column, value in columns.items():
        cases[column] = value
    cases.to_parquet(path, index=False)


#: how a record is damaged -> words of the reason given for it
DAMAGE = {
    "truncated result.json": (lambda run: truncate(run / RESULT_FILE), "not JSON"),
    "empty result.json": (lambda run: (run / RESULT_FILE).write_bytes(b""), "not JSON"),
    "JSON list": (lambda run: (run / RESULT_FILE).write_text("[1, 2]"), "holds a JSON list"),
    "missing cases.parquet": (lambda run: (run / CASES_FILE).unlink(), "cases.parquet is missing"),
    "truncated noise.parquet": (lambda run: truncate(run / NOISE_FILE), "noise.parquet does not"),
    "no cases": (lambda run: rewrite_cases(run / CASES_FILE, rows=0), "holds no cases"),
    "DSC past 1": (lambda run: rewrite_cases(run / CASES_FILE, dsc=1e308), "dsc holds values"),
    "HD95 all NaN": (
        lambda run: rewrite_cases(run / CASES_FILE, hd95=float("nan")),
        "hd95 is NaN for every case",
    ),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_record_is_listed_skipped_set_aside_and_retrained(
    kind, swept, runner, tmp_path, markers
):
    out = copy_of(swept, tmp_path / "runs")
    kept, victim = run_dirs(out)[0], run_dirs(out)[1]
    spoil, reason = DAMAGE[kind]
    spoil(victim)
    spoiled = {path.name: path.read_bytes() for path in victim.iterdir()}
    assert RunStore(out).state(victim.name) == RunState.DAMAGED
    assert not RunStore(out).is_done(victim.name)

    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code == 0, status.output
    assert "1 done, 0 failed, 1 damaged, 0 running, 0 left of 2 planned" in status.output
    (line,) = [text for text in status.output.splitlines() if text.startswith("damaged ")]
    assert victim.name in line and reason in line and "Traceback" not in status.output

    report = runner.invoke(app, ["report", str(out), "--out", str(tmp_path / "report"), *REPORT])
    assert report.exit_code == 0, report.output
    assert f"note: run {victim.name} skipped: its record is damaged" in report.output
    assert "1 runs from" in (tmp_path / "report" / "report.md").read_text()
    assert set(load_store(out).cases["run"]) == {kept.name}

    swept_again = runner.invoke(app, fast_sweep(swept[0], out, METHODS))
    assert swept_again.exit_code == 0, swept_again.output
    assert "1 done, 1 damaged (moved to .damaged/, then retrained), 1 to train" in (
        swept_again.output
    )
    assert f"damaged run {victim.name}" in swept_again.output
    assert "1 runs trained" in swept_again.output
    assert starts(markers) == Counter({1: 1})  # the damaged run only, once
    (aside,) = (out / DAMAGED_DIR).iterdir()
    assert aside.name.startswith(f"{victim.name}-")
    assert {path.name: path.read_bytes() for path in aside.iterdir()} == spoiled  # as it was
    assert RunStore(out).is_done(victim.name) and RunStore(out).is_done(kept.name)
    after = runner.invoke(app, ["status", str(out)])
    assert "2 done, 0 failed, 0 running, 0 left of 2 planned" in after.output, after.output


def test_preparing_the_store_sets_damaged_runs_aside_in_one_line_each(swept, tmp_path):
    out = copy_of(swept, tmp_path / "runs")
    victim = run_dirs(out)[1]
    (victim / RESULT_FILE).write_bytes(b"")
    store, specs = RunStore(out), plan()
    states = survey(specs, store)
    assert Counter(states.values()) == Counter([RunState.DONE, RunState.DAMAGED])
    lines: list[str] = []
    prepare_store(store, specs, states, on_message=lines.append)
    (line,) = lines
    assert victim.name in line and str(out / DAMAGED_DIR) in line and "not JSON" in line
    assert survey(specs, store)[victim.name] == RunState.TODO  # trained by the sweep
    victim.mkdir()
    (victim / RESULT_FILE).write_text("{}")  # damaged again; without the survey: redone
    prepare_store(store, specs)
    assert len(list((out / DAMAGED_DIR).iterdir())) == 2 and not victim.exists()


def test_a_lock_holder_finds_a_record_damaged_since_the_survey_and_sets_it_aside(swept, tmp_path):
    """The worker's own check, under the run's lock: a record damaged after the sweep
    surveyed the store is set aside, never deleted, and the run trained."""
    from rmdbench.executors.base import DatasetCache, WorkerSettings, run_task

    out = copy_of(swept, tmp_path / "runs")
    victim = run_dirs(out)[1]
    truncate(victim / CURVE_FILE)
    spec = next(spec for spec in plan() if spec.run_name == victim.name)
    report = run_task(spec, WorkerSettings(out, device="cpu"), DatasetCache())
    assert report.status == "done", report.error
    (aside,) = (out / DAMAGED_DIR).iterdir()
    assert (aside / RESULT_FILE).is_file() and RunStore(out).is_done(victim.name)


def test_a_foreign_directory_is_left_alone_and_not_counted(swept, runner, tmp_path, markers):
    out = copy_of(swept, tmp_path / "runs")
    runs = run_dirs(out)
    copied = out / "copied-by-hand"
    shutil.copytree(runs[0], copied)  # another run's record under a name of its own
    (out / "notes").mkdir()
    (out / "notes" / RESULT_FILE).write_text(json.dumps({"accuracy": 0.9}))
    planned_twin = runs[1]  # a planned run's directory holding run 0's record: damaged
    shutil.rmtree(planned_twin)
    shutil.copytree(runs[0], planned_twin)

    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code == 0, status.output
    assert "1 done, 0 failed, 1 damaged" in status.output
    assert f"foreign  copied-by-hand: its result.json is the record of run '{runs[0].name}'" in (
        status.output
    )
    assert "foreign  notes: its result.json is not an rmdbench run record" in status.output
    report = runner.invoke(app, ["report", str(out), "--out", str(tmp_path / "report"), *REPORT])
    assert report.exit_code == 0, report.output
    assert "note: ignored 2 directory(ies) holding no run of this store" in report.output
    assert f"note: run {planned_twin.name} skipped" in report.output

    lines: list[str] = []
    prepare_store(RunStore(out), plan(), on_message=lines.append)
    assert len(lines) == 2 and "record of run" in lines[0]
    assert "2 directories" in lines[1] and "copied-by-hand, notes" in lines[1]
    swept_again = runner.invoke(app, fast_sweep(swept[0], out, METHODS))
    assert swept_again.exit_code == 0, swept_again.output
    assert starts(markers) == Counter({1: 1})
    assert (copied / RESULT_FILE).is_file() and (out / "notes" / RESULT_FILE).is_file()
    after = runner.invoke(app, ["status", str(out)])
    assert "2 done, 0 failed, 0 running, 0 left of 2 planned" in after.output, after.output


def test_a_record_is_its_run_only_when_its_spec_hashes_to_the_name(swept, tmp_path):
    """The identity check: ``RunSpec.key`` is ``spec_key`` of the spec as stored (through
    JSON), so a record whose spec was changed is not its run's."""
    from rmdbench.plugins import load_builtins
    from rmdbench.profiles import get_profile
    from rmdbench.sweep import plan_sweep, split_list

    load_builtins()
    specs = plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion", "erosion_dilation[preset=severe]"],
        noise_ratios=[0.0, 0.4],
        methods=split_list(["single,rmd[distill=false]"]),
        seeds=[0, 1],
        profile=get_profile("tiny"),
    )
    for spec in specs:
        stored = json.loads(json.dumps(spec.as_dict(), default=str))
        assert spec.run_name.endswith(f"-{spec_key(stored)}")
    out = copy_of(swept, tmp_path / "runs")
    victim = run_dirs(out)[1]
    record = json.loads((victim / RESULT_FILE).read_text())
    record["spec"]["seed"] = 7
    (victim / RESULT_FILE).write_text(json.dumps(record))
    check = RunStore(out).check(victim.name)
    assert check.state == RunState.DAMAGED and "does not hash" in check.reason
    assert not check.foreign


@pytest.mark.parametrize("folder", [STAGING_DIR, LOCK_DIR, PLAN_DIR, DAMAGED_DIR])
def test_a_file_where_the_store_keeps_a_folder_is_one_line_and_exit_2(
    folder, swept, runner, tmp_path, markers
):
    out = copy_of(swept, tmp_path / "runs")
    (run_dirs(out)[1] / RESULT_FILE).write_bytes(b"")  # something to do for the sweep
    shutil.rmtree(out / folder, ignore_errors=True)
    (out / folder).write_text("not a folder")
    for arguments in (fast_sweep(swept[0], out, METHODS), ["status", str(out)]):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith("error: ") and f"'{out / folder}' is a file" in line
    assert starts(markers) == Counter()
    with pytest.raises(StoreLayoutError) as raised:
        read_status(out)
    assert raised.value.path == out / folder


def test_a_record_that_names_itself_but_holds_what_no_run_writes_is_damaged(swept, tmp_path):
    """A spec of another type or range that still hashes to its directory's name (so it
    passes the identity check) is damaged, not foreign: status lists it, the report loader
    skips it with the reason, and the good run is loaded."""
    out = copy_of(swept, tmp_path / "runs")
    source = run_dirs(out)[1]
    record = json.loads((source / RESULT_FILE).read_text())
    for change, reason in (
        ({"noise_ratio": "0.4"}, "its spec's noise_ratio is a JSON string, not a number"),
        ({"noise_ratio": 1e308}, "its spec's noise_ratio 1e+308 is not in [0, 1]"),
        ({"method_params": [1]}, "its spec's method_params is a JSON list, not an object"),
        ({"seed": True}, "its spec's seed is a JSON boolean, not an integer"),
        ({"backbone": None}, "its spec lacks backbone"),
    ):
        spec = {**record["spec"], **change}
        spec = {key: value for key, value in spec.items() if value is not None}
        name = f"{source.name.rsplit('-', 1)[0]}-{spec_key(spec)}"
        shutil.copytree(source, out / name)
        (out / name / RESULT_FILE).write_text(
            json.dumps({**record, "run_name": name, "spec": spec})
        )
        check = RunStore(out).check(name)
        assert (check.state, check.reason, check.foreign) == (RunState.DAMAGED, reason, False)
        assert read_status(out).damaged[name][1] == reason
        loaded = load_store(out)
        assert loaded.damaged[name] == reason and name not in set(loaded.cases["run"])
        shutil.rmtree(out / name)


def test_the_case_metrics_checked_are_those_rmdbench_writes(tmp_path):
    """``store.CASE_METRICS`` (what a record is checked for) names every metric of
    ``rmdbench.metrics`` (what a run writes), and a run's own cases table passes."""
    import pandas as pd

    from rmdbench.metrics import METRIC_KEYS, evaluate_cases
    from rmdbench.store import CASE_COLUMNS, CASE_METRICS, cases_problem

    assert tuple(CASE_METRICS) == METRIC_KEYS
    masks = np.zeros((3, 8, 8), np.uint8)
    masks[0, 2:5, 2:5] = 1
    predictions = masks.copy()
    predictions[1, 0, 0] = 1  # exactly one empty: the diagonal penalty
    for classes in (2, 3):
        cases = evaluate_cases(predictions, masks, None, num_classes=classes)
        assert set(CASE_COLUMNS) <= set(cases.columns)
        path = tmp_path / f"{classes}.parquet"
        cases.to_parquet(path, index=False)
        assert cases_problem(path) == "", pd.read_parquet(path)


def test_nsd_is_checked_when_present_and_absent_in_older_tables(tmp_path):
    """Tables written before NSD existed lack the column and are fine; a table that has it
    holds shares in [0, 1] like DSC."""
    from rmdbench.metrics import evaluate_cases
    from rmdbench.store import cases_problem

    masks = np.zeros((2, 8, 8), np.uint8)
    masks[:, 2:5, 2:5] = 1
    cases = evaluate_cases(masks, masks, None)
    path = tmp_path / "cases.parquet"
    cases.drop(columns="nsd").to_parquet(path, index=False)
    assert cases_problem(path) == ""
    cases.assign(nsd=[0.5, 1.5]).to_parquet(path, index=False)
    assert cases_problem(path) == "cases.parquet: nsd holds values outside [0, 1]"
    cases.drop(columns="dsc").to_parquet(path, index=False)
    assert cases_problem(path) == "cases.parquet lacks column(s) dsc"


# -- any bytes, any JSON ----------------------------------------------------------------

KEYS = ["run_name", "spec", "method", "timings", "train_seconds", "total_seconds", "error"]
KEYS += ["runs", "epoch", "epochs", "updated", "host", "pid", "profile", "noise", "conventions"]
KEYS += ["provenance", "versions", "summary"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)
#: a file of the store (``{run}`` the spoiled run, ``{other}`` the run kept whole) and what
#: is written into it: random bytes, a JSON value, the file cut short, or one field of a
#: JSON object replaced
TARGETS = [
    f"{{run}}/{RESULT_FILE}",
    f"{{run}}/{CASES_FILE}",
    f"{{run}}/{CURVE_FILE}",
    f"{{run}}/{NOISE_FILE}",
    f"{{run}}/{SPEC_FILE}",
    f"{{run}}/{FAILED_FILE}",
    f"extra/{FAILED_FILE}",
    f"extra/{RESULT_FILE}",
    f"{PLAN_DIR}/fuzz.json",
    f"{LOCK_DIR}/{{other}}.lock",  # held while status reads it
]
CHANGES = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=40)),
    st.tuples(st.just("json"), JSON_VALUES),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("field"), st.tuples(st.sampled_from(KEYS), JSON_VALUES)),
)


def apply_change(path: Path, change: tuple) -> None:
    kind, value = change
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "bytes":
        path.write_bytes(value)
    elif kind == "json":
        path.write_text(json.dumps(value))
    elif kind == "truncate":
        data = path.read_bytes() if path.is_file() else b'{"runs": {"a": "b"}}'
        path.write_bytes(data[: int(len(data) * value)])
    else:
        try:
            record = json.loads(path.read_bytes())
        except (OSError, ValueError):
            record = {}
        record = record if isinstance(record, dict) else {}
        record[value[0]] = value[1]
        path.write_text(json.dumps(record))


def spoiled_copy(swept: tuple[Path, Path], tmp_path: Path, changes: list) -> tuple[Path, dict]:
    """A fresh copy of the store for one example, and the names of its two runs (``run``:
    the one to spoil, ``other``: the one kept whole)."""
    out = copy_of(swept, tmp_path / f"runs{next(EXAMPLES)}")
    runs = run_dirs(out)
    return out, {"run": runs[1].name, "other": runs[0].name}


SPOILING = st.lists(st.tuples(st.sampled_from(TARGETS), CHANGES), min_size=1, max_size=3)
FEW = settings(
    deadline=None,
    derandomize=True,  # the same examples every run: CI cannot turn red by chance
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings(FEW, max_examples=25)
@given(changes=SPOILING)
def test_status_and_the_report_loader_survive_any_bytes_and_any_json(
    swept, runner, tmp_path, changes
):
    """Whatever lands in a record, a plan or a lock file: ``read_status`` never raises,
    ``rmdbench status`` exits 0 without a traceback, and the run kept whole is still counted
    and loaded for the report (so the loader raises nothing, not even a ``UserError``)."""
    out, names = spoiled_copy(swept, tmp_path, changes)
    holder = RunStore(out).lock(names["other"])
    assert holder.acquire()
    try:
        holder.update(**holder_identity(), epoch=1, epochs=8)
        for target, change in changes:
            apply_change(out / target.format(**names), change)
        lock_file = out / LOCK_DIR / f"{names['other']}.lock"
        if lock_file.stat().st_size:  # an emptied lock file reads as released
            assert names["other"] in read_status(out).running
        shown = runner.invoke(app, ["status", str(out)])
        assert shown.exit_code == 0 and shown.exception is None, shown.output
    finally:
        holder.release()
    assert names["other"] in read_status(out).done
    assert names["other"] in set(load_store(out).cases["run"])


@settings(FEW, max_examples=4)  # a report draws its figures: ~2 s each
@given(changes=SPOILING)
def test_the_report_command_survives_any_bytes_and_any_json(swept, runner, tmp_path, changes):
    """``rmdbench report`` on a spoiled store exits 0, 1 or 2, never with a traceback."""
    out, names = spoiled_copy(swept, tmp_path, changes)
    for target, change in changes:
        apply_change(out / target.format(**names), change)
    report = runner.invoke(app, ["report", str(out), "--out", str(out / "report"), *REPORT])
    assert report.exit_code in (0, 1, 2), report.output
    assert report.exception is None or isinstance(report.exception, SystemExit), report.output
    assert "Traceback" not in report.output
