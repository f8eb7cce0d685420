"""The fast test plug-in trains through the command line and marks each start."""

from __future__ import annotations

import json
from collections import Counter

from typer.testing import CliRunner

from rmdbench.cli import app
from rmdbench.store import RESULT_FILE
from tests.helpers.sweep_plugin import (
    MARKER_VARIABLE,
    fast_methods,
    fast_sweep,
    starts,
    write_plugin,
)


def test_fast_plugin_trains_and_marks_each_start(one_thread, tmp_path, monkeypatch):
    markers = tmp_path / "markers"
    monkeypatch.setenv(MARKER_VARIABLE, str(markers))
    plugin = write_plugin(tmp_path)
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, fast_sweep(plugin, out, fast_methods("tag=7")))
    assert result.exit_code == 0, result.output
    record = json.loads(next(out.glob(f"fast-*/{RESULT_FILE}")).read_text())
    assert record["spec"]["method_params"]["tag"] == 7
    assert starts(markers) == Counter({7: 1})
