"""A standing fuzz test of the command line: for ANY command line, sweep file or run store,
the exit code is 0, 1 or 2, no exception escapes (a traceback in a shell), a refusal is one
line 'error: ...' that writes nothing, and nothing outside the declared output is touched.

Each example runs in a fresh sandbox (working directory, $HOME and $RMDBENCH_CACHE_DIR of
its own; ``tests.helpers.fuzz``). Nothing trains: sweeps run with --dry-run, or without it
but naming a plug-in that fails to import; bench runs with a device that does not exist
(it refuses before timing); noise commands run on toy-disks with a 16 px crop.

The strategies never draw, on purpose (each would be minutes of work, not a wrong answer):
the lidc-phantom dataset (~20 s to build), crops over 64 px up to the largest one taken
(``MAX_CROP_SIZE``: past it a crop is refused at once, and drawn), more than 4 preview
cases, another bench device. What the fuzz tests found is pinned at the end, each as the
example that found it, with the refusal it gets now.

The examples are the same on every run (derandomised): the standing suite is a regression
test that cannot fail by chance in CI. RMDBENCH_FUZZ_RANDOM=1 draws new ones, and
RMDBENCH_FUZZ_SCALE=20 runs 20 times as many (a deeper search by hand; what it finds is
pinned below as a fixed example).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from rmdbench.profiles import MAX_CROP_SIZE, SUGGESTED_CROP_SIZE, get_profile
from tests.helpers import fuzz
from tests.helpers.argv import overridden

#: the extreme values drawn make numpy and matplotlib warn (overflow, NaN): on purpose
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
FUZZ = settings(
    deadline=None,
    database=None,  # a fuzz run leaves no .hypothesis/ behind
    derandomize=fuzz.derandomised(),
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # tmp_path: each example makes its own sandbox
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
#: where each command may stop short of minutes of work (see the module docstring)
SWEEP = ("--dry-run", "--dataset", "toy-disks")
DOOMED = ("--dataset", "toy-disks", "--plugin", "bad.py")  # bad.py: a syntax error
NOISE = ("--dataset", "toy-disks", "--crop-size", "16")
PREVIEW = ("--cases", "1", "--noise-model", "distortion", "--out", "preview.png")
QUICK_COMMANDS = [("report",), ("status",), ("list",), ("bench",), ("data", "prepare")]
QUICK_COMMANDS += [("data", "info"), ("data", "formats")]
#: the toy grid whose run names the generated stores use (status, report, --dry-run)
STORE_GRID = ["--dataset", "toy-disks", "--profile", "tiny", "--noise", "0.8"]
STORE_GRID += ["--methods", "single,rmd", "--seeds", "0"]


@pytest.fixture(scope="module")
def pools() -> fuzz.Pools:
    return fuzz.pools()


@pytest.fixture(scope="module", autouse=True)
def _configured_before_home_moves():
    """matplotlib finds its config and font cache once, under the real $HOME: not inside a
    sandbox whose $HOME is watched."""
    import matplotlib
    import matplotlib.font_manager  # noqa: F401

    matplotlib.get_configdir()
    matplotlib.get_cachedir()


@pytest.fixture(scope="module")
def grid() -> tuple[dict, list[str]]:
    """A spec of the toy grid (as stored, through JSON) and the grid's run names."""
    from rmdbench.plugins import load_builtins
    from rmdbench.sweep import plan_sweep, split_list

    load_builtins()
    specs = plan_sweep(
        datasets=["toy-disks"],
        noise_models=["distortion"],
        noise_ratios=[0.8],
        methods=split_list(["single,rmd"]),
        seeds=[0],
        profile=get_profile("tiny"),
    )
    stored = json.loads(json.dumps(specs[0].as_dict(), default=str))
    return stored, [spec.run_name for spec in specs]


def crop_of(profile: object) -> int | None:
    try:
        return get_profile(str(profile)).crop_size
    except Exception:  # noqa: BLE001 - a bad profile is refused before any crop is made
        return None


def excluded(path: tuple[str, ...], tokens: list[str]) -> bool:
    """Whether the line is left out (``assume``): it would do minutes of work rather than
    refuse or finish at once (see the module docstring). The generators draw no such line;
    this catches a stray option that takes another option's value."""
    values = fuzz.parsed(path, tokens)
    crop = values.get("crop_size") if path[0] == "noise" else crop_of(values.get("profile"))
    if isinstance(crop, int) and 64 < crop <= MAX_CROP_SIZE:
        return True
    if path == ("noise", "preview") and isinstance(values.get("cases"), int):
        return values["cases"] > 4
    if path == ("bench",):
        return values.get("device") != fuzz.NO_DEVICE
    return "lidc-phantom" in str(values.get("dataset"))


def run_and_check(runner, tmp_path: Path, path: tuple[str, ...], tokens: list[str]) -> None:
    with fuzz.sandbox(tmp_path) as box:
        outcome = fuzz.invoke(runner, box, [*path, *tokens])
        observed(outcome)
        fuzz.assert_contract(outcome, box, fuzz.declared_outputs(path, tokens))


def observed(outcome: fuzz.Outcome) -> None:
    """How far the examples got, for --hypothesis-show-statistics ('sweep: exit 0' ...)."""
    words = 2 if outcome.argv[0] in ("noise", "data") else 1
    event(f"{' '.join(outcome.argv[:words])}: exit {outcome.exit_code}")


# command lines -----------------------------------------------------------------------


@settings(FUZZ, max_examples=fuzz.examples(50))
@given(data=st.data())
def test_any_sweep_command_line_keeps_the_contract(data, pools, runner, tmp_path):
    """``rmdbench sweep --dry-run ...`` with any options: a plan (exit 0) or one line; and
    without --dry-run but with a plug-in that fails to import (refused before any dataset
    or run, at the latest when the plug-in loads): one line, nothing written."""
    prefix = data.draw(st.sampled_from([SWEEP, SWEEP, DOOMED]), label="mode")
    tokens = data.draw(fuzz.command_line(("sweep",), pools, prefix=prefix), label="tokens")
    assume(not excluded(("sweep",), tokens))
    run_and_check(runner, tmp_path, ("sweep",), tokens)


@settings(FUZZ, max_examples=fuzz.examples(60))
@given(data=st.data())
def test_any_other_command_line_keeps_the_contract(data, pools, runner, tmp_path):
    """report, status, list, bench, data ... with any arguments and options."""
    path = data.draw(st.sampled_from(QUICK_COMMANDS), label="command")
    prefix = ("--device", fuzz.NO_DEVICE) if path == ("bench",) else ()
    skip = frozenset({"device"}) if path == ("bench",) else frozenset()
    tokens = data.draw(fuzz.command_line(path, pools, prefix=prefix, skip=skip), label="tokens")
    assume(not excluded(path, tokens))
    run_and_check(runner, tmp_path, path, tokens)


@settings(FUZZ, max_examples=fuzz.examples(20))
@given(
    words=st.lists(
        st.sampled_from(["noise", "data", "swep", "lst", "--version", "-v", "--plugin"])
        | st.sampled_from(fuzz.JUNK_WORDS),
        min_size=1,
        max_size=3,
    )
)
def test_a_command_that_does_not_exist_is_one_line(words, runner, tmp_path):
    """An unknown command, or a group given junk: one line. (A bare group, 'rmdbench noise'
    alone, shows its help with exit code 2 by design: never drawn.)"""
    assume(words not in (["noise"], ["data"]))
    with fuzz.sandbox(tmp_path) as box:
        fuzz.assert_contract(fuzz.invoke(runner, box, words), box, [])


@settings(FUZZ, max_examples=fuzz.examples(10))  # ~0.5-1 s each: the dataset is built
@given(data=st.data())
def test_any_noise_command_line_keeps_the_contract(data, pools, runner, tmp_path):
    """``rmdbench noise preview|stats`` on toy-disks with any options."""
    path = data.draw(st.sampled_from([("noise", "preview"), ("noise", "stats")]), label="command")
    prefix = (*NOISE, *PREVIEW) if path == ("noise", "preview") else NOISE
    tokens = data.draw(fuzz.command_line(path, pools, prefix=prefix), label="tokens")
    assume(not excluded(path, tokens))
    run_and_check(runner, tmp_path, path, tokens)


# sweep files -------------------------------------------------------------------------


@settings(FUZZ, max_examples=fuzz.examples(50))
@given(data=st.data())
def test_any_sweep_file_keeps_the_contract(data, pools, runner, tmp_path):
    """``rmdbench sweep --dry-run --config FILE`` for any FILE: a plan or one line, nothing
    written (a dry run writes nothing), the file's plug-ins never run."""
    from rmdbench.sweep.config import CONFIG_ALIASES, config_keys

    content = data.draw(
        fuzz.sweep_file(pools, config_keys(), list(CONFIG_ALIASES)), label="sweep file"
    )
    where = data.draw(st.sampled_from(["sweep.yml", "conf/sweep.yaml", "ünï dir/s.yaml"]))
    extra = data.draw(
        st.lists(st.sampled_from(["--allow-plugins", "--noise=0.4", "--seeds=1"]), max_size=2)
    )
    with fuzz.sandbox(tmp_path) as box:
        config = box.work / where
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_bytes(content)
        outcome = fuzz.invoke(runner, box, ["sweep", "--dry-run", "--config", where, *extra])
        observed(outcome)
        fuzz.assert_contract(outcome, box, [])


# run stores --------------------------------------------------------------------------


@settings(FUZZ, max_examples=fuzz.examples(30))
@given(data=st.data())
def test_status_and_a_dry_run_of_any_store_keep_the_contract(data, grid, runner, tmp_path):
    """A store built from scratch (runs named as the grid names them or not, records whose
    spec hashes right but holds anything, the store's own folders as files, links): status
    and a --dry-run sweep read it, write nothing, and exit 0 or refuse in one line.
    (tests/engine/test_damaged_records.py spoils a real store; this one builds odd ones.)"""
    base_spec, planned = grid
    entries = data.draw(fuzz.store_entries(base_spec, planned), label="store")
    with fuzz.sandbox(tmp_path) as box:
        fuzz.write_store(box.work / "runs-fuzz", entries)
        for argv in (
            ["status", "runs-fuzz"],
            ["sweep", "--dry-run", *STORE_GRID, "--out", "runs-fuzz"],
        ):
            outcome = fuzz.invoke(runner, box, argv)
            observed(outcome)
            problem = fuzz.contract_problem(outcome, box, [])
            assert problem is None, (
                f"{problem}\nstore: {fuzz.text_of_entries(entries)}\n{outcome.describe()}"
            )


@settings(FUZZ, max_examples=fuzz.examples(8))  # a report that gets far draws figures
@given(data=st.data())
def test_a_report_of_any_store_keeps_the_contract(data, grid, runner, tmp_path):
    """``rmdbench report STORE --out DIR`` on a store built from scratch, with one to three
    records that pass the identity check: a report or one line, written into DIR only."""
    base_spec, planned = grid
    entries = data.draw(fuzz.report_store(base_spec, planned), label="store")
    with fuzz.sandbox(tmp_path) as box:
        fuzz.write_store(box.work / "runs-fuzz", entries)
        argv = ["report", "runs-fuzz", "--out", "report", "--no-qualitative", "--metric", "dsc"]
        outcome = fuzz.invoke(runner, box, argv)
        observed(outcome)
        problem = fuzz.contract_problem(outcome, box, [Path("report")])
        assert problem is None, (
            f"{problem}\nstore: {fuzz.text_of_entries(entries)}\n{outcome.describe()}"
        )


# found by the fuzz tests and fixed: each pinned as the example that found it -------------


def refused(outcome: fuzz.Outcome, box: fuzz.Sandbox, *words: str) -> None:
    """The contract, and a refusal (exit 2) whose one line holds each of ``words``."""
    fuzz.assert_contract(outcome, box, [])
    assert outcome.exit_code == 2, outcome.describe()
    assert all(word in outcome.output for word in words), outcome.describe()


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "\n"],
        ["sweep", "--dry-run", "--dataset", "toy-disks", "--executor=\n"],
        ["sweep", "--dry-run", "--dataset", "a\nb"],
        ["status", "a\nb"],
    ],
    ids=["report-runs-dir", "sweep-executor", "sweep-dataset", "status-runs-dir"],
)
def test_a_value_with_a_newline_is_refused_in_one_line(argv, runner, tmp_path):
    """The value is echoed with its newline escaped (backslash-n): one line, still shown."""
    with fuzz.sandbox(tmp_path) as box:
        refused(fuzz.invoke(runner, box, argv), box, "\\n")


def test_a_sweep_file_value_with_a_newline_is_refused_in_one_line(runner, tmp_path):
    with fuzz.sandbox(tmp_path) as box:
        (box.work / "sweep.yml").write_text("dataset: 'a\n\n  b'\n")
        outcome = fuzz.invoke(runner, box, ["sweep", "--dry-run", "--config", "sweep.yml"])
        refused(outcome, box, "a\\nb")


def planned_run(
    root: Path, grid: tuple[dict, list[str]], rows: int, spec: dict | None = None, **cases
) -> Path:
    """The grid's first run as a done record whose tables hold ``rows`` rows each, every
    metric 0.5 and every flag 0; ``spec``: fields of its spec replaced (None: dropped; the
    run is then named by the new spec's hash, so that it still passes the identity check);
    ``cases``: columns of its cases.parquet replaced (None: dropped)."""
    from rmdbench.store import CASE_FLAGS, spec_key

    base, planned = grid
    changed = {**base, **(spec or {})}
    changed = {key: value for key, value in changed.items() if value is not None}
    name = f"{planned[0].rsplit('-', 1)[0]}-{spec_key(changed)}"
    run = root / name
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({"run_name": name, "spec": changed}))
    for name, columns in fuzz.TABLES.items():
        cells = {column: [0.5] * rows for column in columns}
        cells.update({key: ["a"] * rows for key in ("case_id", "hd_unit") if key in columns})
        cells.update({key: [0.0] * rows for key in CASE_FLAGS if key in columns})
        if name == "cases.parquet":
            cells.update(cases)
        kept = {column: value for column, value in cells.items() if value is not None}
        (run / name).write_bytes(fuzz.parquet_bytes(kept))
    return run


REPORT = ["report", "runs", "--out", "report", "--no-qualitative", "--metric", "dsc"]


def report_of_one_damaged_run(runner, box: fuzz.Sandbox, run: Path, *reason: str) -> None:
    """A store whose only run is damaged: ``status`` lists it as damaged (with ``reason``),
    the report is refused in one line naming it, and writes nothing."""
    status = fuzz.invoke(runner, box, ["status", "runs"])
    fuzz.assert_contract(status, box, [])
    assert status.exit_code == 0 and "1 damaged" in status.output, status.describe()
    (line,) = [text for text in status.output.splitlines() if text.startswith("damaged ")]
    assert run.name in line and all(word in line for word in reason), status.describe()
    outcome = fuzz.invoke(runner, box, REPORT)
    refused(outcome, box, "no finished runs", "1 damaged run(s)", run.name, *reason)
    assert not (box.work / "report").exists()


def test_a_report_of_a_run_without_cases_is_one_line(grid, runner, tmp_path):
    """A run without cases is damaged: skipped (its plots would have no panel)."""
    with fuzz.sandbox(tmp_path) as box:
        run = planned_run(box.work / "runs", grid, rows=0)
        report_of_one_damaged_run(runner, box, run, "cases.parquet holds no cases")


def test_a_report_of_runs_whose_metric_is_nan_is_one_line(grid, runner, tmp_path):
    """A run whose DSC is NaN for every case is damaged: skipped (it has no result)."""
    with fuzz.sandbox(tmp_path) as box:
        run = planned_run(box.work / "runs", grid, rows=2, dsc=[float("nan")] * 2)
        report_of_one_damaged_run(runner, box, run, "dsc is NaN for every case")


def test_a_report_of_a_run_planted_by_hand_is_written(grid, runner, tmp_path):
    """The record the examples around spoil is a good one: with cases and a DSC that is a
    number, the report is written (so they are refused for the reason they name); one NaN
    case of a metric, beside a number, is kept."""
    with fuzz.sandbox(tmp_path) as box:
        planned_run(box.work / "runs", grid, rows=2, iou=[float("nan"), 0.5])
        outcome = fuzz.invoke(runner, box, REPORT)
        fuzz.assert_contract(outcome, box, [Path("report")])
        assert outcome.exit_code == 0 and "wrote report" in outcome.output, outcome.describe()


def test_a_damaged_run_beside_a_good_one_is_skipped_with_a_note(grid, runner, tmp_path):
    """The good run is reported, the damaged one named in a note (the damaged-run note)."""
    with fuzz.sandbox(tmp_path) as box:
        planned_run(box.work / "runs", grid, rows=2)
        bad = planned_run(box.work / "runs", grid, rows=2, spec={"noise_ratio": 1e308})
        outcome = fuzz.invoke(runner, box, REPORT)
        fuzz.assert_contract(outcome, box, [Path("report")])
        assert outcome.exit_code == 0, outcome.describe()
        note = f"note: run {bad.name} skipped: its record is damaged (its spec's noise_ratio"
        assert note in outcome.output, outcome.describe()
        assert "1 runs from" in (box.work / "report" / "report.md").read_text()


@pytest.mark.parametrize(
    "columns",
    [
        {"empty_both": None},
        {"empty_one": None},
        {"empty_both": ["x", "y"]},
        {"dsc": ["x", "y"]},
        {"dsc": [None, None]},
        {"dsc": [True, False]},
        {"dsc": [1e308, 1e308]},
        {"empty_one": [float("inf"), 0.0]},
    ],
    ids=[
        "no-empty_both",
        "no-empty_one",
        "empty_both-text",
        "dsc-text",
        "dsc-null",
        "dsc-bool",
        "dsc-near-float-max",
        "empty_one-inf",
    ],
)
def test_a_report_of_a_run_with_odd_case_columns_is_one_line(columns, grid, runner, tmp_path):
    """A metric or flag missing, not numbers or out of range: the run is damaged."""
    with fuzz.sandbox(tmp_path) as box:
        run = planned_run(box.work / "runs", grid, rows=2, **columns)
        report_of_one_damaged_run(runner, box, run, "cases.parquet", next(iter(columns)))


@pytest.mark.parametrize(
    "spec",
    [
        {"backbone": None},
        {"method": 1},
        {"noise_ratio": "x"},
        {"noise_ratio": 1e308},
        {"noise_params": "x"},
        {"method_params": [1]},
        {"dataset": [1]},
    ],
    ids=[
        "no-backbone",
        "method-1",
        "ratio-text",
        "ratio-huge",
        "noise_params-text",
        "method_params-list",
        "dataset-list",
    ],
)
def test_a_report_of_a_run_with_an_odd_spec_is_one_line(spec, grid, runner, tmp_path):
    """A spec field missing, of another JSON type or out of range: the run is damaged."""
    with fuzz.sandbox(tmp_path) as box:
        run = planned_run(box.work / "runs", grid, rows=2, spec=spec)
        report_of_one_damaged_run(runner, box, run, "its spec", next(iter(spec)))


@pytest.mark.parametrize(
    "argv",
    [
        overridden(["noise", "stats", *NOISE], ["--crop-size", "1000000"]),
        overridden(["noise", "stats", *NOISE], ["--crop-size", "99999999999999999999999"]),
        overridden(
            ["noise", "preview", *NOISE],
            ["--crop-size", "1000000", "--noise-model", "distortion", "--out", "f.png"],
        ),
        [*SWEEP, "--noise-model", "reader", "--profile", "tiny[crop_size=1000000]"],
    ],
    ids=["stats", "stats-overflow", "preview", "sweep-dry-run-reader"],
)
def test_a_huge_crop_is_refused_in_one_line(argv, runner, tmp_path):
    """Refused at once, naming the largest crop taken and one to use."""
    path = ("sweep",) if argv[0] == "--dry-run" else tuple(argv[:2])
    tokens = argv if path == ("sweep",) else argv[2:]
    with fuzz.sandbox(tmp_path) as box:
        outcome = fuzz.invoke(runner, box, [*path, *tokens])
        refused(outcome, box, "crop", f"{MAX_CROP_SIZE}", f"{SUGGESTED_CROP_SIZE}")


@pytest.mark.parametrize(
    "argv",
    [
        ["noise", "stats", *NOISE, "--noise-model", "distortion[points=100000]"],
        [
            "noise",
            "stats",
            *NOISE,
            "--noise-model",
            "erosion_dilation[radius=99999999999999999999]",
        ],
        overridden(
            ["noise", "preview", *NOISE, *PREVIEW],
            ["--noise-model", "bias[radius=99999999999999999999]"],
        ),
    ],
    ids=["stats-points", "stats-radius", "preview-radius"],
)
def test_a_noise_severity_past_the_crop_is_one_line(argv, runner, tmp_path):
    """The sweep's own check (the same words as in the test below)."""
    with fuzz.sandbox(tmp_path) as box:
        refused(fuzz.invoke(runner, box, argv), box, "larger than the 16 px crop")


def test_a_sweep_refuses_a_severity_past_the_crop_in_one_line(runner, tmp_path):
    """What the noise commands do too (see the test above): the sweep's check."""
    argv = [*("sweep",), *SWEEP, "--noise-model", "distortion[points=100000]"]
    with fuzz.sandbox(tmp_path) as box:
        refused(fuzz.invoke(runner, box, argv), box, "larger than the")


def test_a_realised_dice_past_one_is_not_plotted(grid, runner, tmp_path):
    """A record's realised Dice (noise.parquet, result.json) of 1e308 is no Dice: the report
    shows it as not recorded; plotted, it took the least-squares fit down (LinAlgError)."""
    with fuzz.sandbox(tmp_path) as box:
        for seed, dice in ((0, 1e308), (1, 0.5), (2, 0.7)):
            run = planned_run(box.work / "runs", grid, rows=2, spec={"seed": seed})
            noise = {"case_id": ["a", "b"], "corrupted": [True, False], "noisy_dsc": [dice] * 2}
            (run / "noise.parquet").write_bytes(fuzz.parquet_bytes(noise))
            record = json.loads((run / "result.json").read_text())
            record["noise"] = {"mean_noisy_dsc": dice, "mean_train_dsc": dice}
            (run / "result.json").write_text(json.dumps(record))
        outcome = fuzz.invoke(runner, box, REPORT)
        fuzz.assert_contract(outcome, box, [Path("report")])
        assert outcome.exit_code == 0 and "wrote report" in outcome.output, outcome.describe()
