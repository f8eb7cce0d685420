"""``rmdbench export compact``: a copy of a store without test predictions, from which the
report renders the same tables; the committed compact stores re-render their committed
reports byte for byte (what CI checks for every table in the docs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmdbench.cli import app
from rmdbench.compact import KEPT_FILES
from rmdbench.store import PREDICTIONS_FILE
from tests.reports.test_reports import store  # noqa: F401 - the hand-written store fixture

REPOSITORY = Path(__file__).resolve().parents[2]
#: committed compact stores, the report folder rendered from each, and its options
COMMITTED_REPORTS = [
    ("docs/rmd-audit/data", "docs/rmd-audit/report", ["--reference", "coteaching"]),
    ("docs/memorise/data", "docs/memorise/report", ["--reference", "single"]),
    (
        "docs/memorise/data",
        "docs/memorise/report-best-clean-val",
        ["--reference", "single", "--evaluate", "best-clean-val"],
    ),
    ("docs/replication/data", "docs/replication/report", ["--reference", "rmd"]),
]


def test_the_copy_keeps_the_records_and_drops_the_predictions(store, runner, tmp_path):  # noqa: F811
    copy = tmp_path / "compact"
    result = runner.invoke(app, ["export", "compact", str(store), str(copy)])
    assert result.exit_code == 0, result.output
    originals = sorted(path.name for path in store.iterdir() if path.is_dir())
    assert sorted(path.name for path in copy.iterdir()) == originals
    for name in originals:
        kept = {path.name for path in (copy / name).iterdir()}
        assert PREDICTIONS_FILE not in kept
        assert kept == {path.name for path in (store / name).iterdir()} & set(KEPT_FILES)
    assert f"copied {len(originals)} run(s)" in result.output


def test_the_copy_reports_the_same_tables(store, runner, tmp_path):  # noqa: F811
    copy = tmp_path / "compact"
    assert runner.invoke(app, ["export", "compact", str(store), str(copy)]).exit_code == 0
    texts = []
    for runs in (store, copy):
        out = tmp_path / f"report-{runs.name}"
        result = runner.invoke(app, ["report", str(runs), "--out", str(out), "--no-qualitative"])
        assert result.exit_code == 0, result.output
        texts.append((out / "report.md").read_text().replace(str(runs), "RUNS"))
    assert texts[0] == texts[1]
    skipped = runner.invoke(app, ["report", str(copy), "--out", str(tmp_path / "with")])
    assert skipped.exit_code == 0, skipped.output
    assert "the runs hold no test predictions" in (tmp_path / "with" / "report.md").read_text()


def test_an_existing_destination_or_a_missing_store_is_refused(store, runner, tmp_path):  # noqa: F811
    existing = tmp_path / "there"
    existing.mkdir()
    for arguments, message in (
        ([str(store), str(existing)], "exists; give a new folder"),
        ([str(tmp_path / "nowhere"), str(tmp_path / "new")], "does not exist"),
    ):
        result = runner.invoke(app, ["export", "compact", *arguments])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and result.output.count("\n") == 1
        assert message in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["there"]
    assert not any(existing.iterdir())


@pytest.mark.parametrize("data, folder, options", COMMITTED_REPORTS)
def test_committed_reports_render_byte_for_byte(
    data, folder, options, runner, tmp_path, monkeypatch
):
    monkeypatch.chdir(REPOSITORY)  # the report names its store as given: the same relative path
    result = runner.invoke(app, ["report", data, "--out", str(tmp_path), *options])
    assert result.exit_code == 0, result.output
    committed = (REPOSITORY / folder / "report.md").read_bytes()
    assert (tmp_path / "report.md").read_bytes() == committed
