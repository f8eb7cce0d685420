"""``rmdbench sweep --pack K``: a packed sweep writes the records an unpacked one writes
(same runs, files and result.json keys; ``provenance.pack`` says how each trained), and
every bad use of the option is one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmdbench.cli import app
from rmdbench.store import RESULT_FILE

pytestmark = pytest.mark.usefixtures("one_thread")
GRID = [
    "--dataset",
    "toy-disks",
    "--profile",
    "tiny[epochs=2,max_train_cases=16]",
    "--noise",
    "0.4",
    "--methods",
    "single,rmd",
    "--seeds",
    "0,1",
    "--device",
    "cpu",
]


def keys(value, prefix: str = "") -> set[str]:
    """Every key of a JSON record, nested ones as 'section.key'."""
    if not isinstance(value, dict):
        return set()
    found = set()
    for key, item in value.items():
        found.add(prefix + key)
        found |= keys(item, f"{prefix}{key}.")
    return found


def records(out: Path) -> dict[str, tuple[set[str], set[str], dict]]:
    """Per run directory: its files, its result.json keys and the record."""
    found = {}
    for result in out.glob(f"*/{RESULT_FILE}"):
        record = json.loads(result.read_text())
        files = {path.name for path in result.parent.iterdir()}
        found[result.parent.name] = (files, keys(record), record)
    return found


def test_a_packed_sweep_writes_what_an_unpacked_sweep_writes(runner, tmp_path):
    outs = {}
    for pack in ("1", "2"):
        outs[pack] = tmp_path / f"pack{pack}"
        result = runner.invoke(app, ["sweep", *GRID, "--pack", pack, "--out", str(outs[pack])])
        assert result.exit_code == 0, result.output
    unpacked, packed = records(outs["1"]), records(outs["2"])
    assert len(unpacked) == 4 and packed.keys() == unpacked.keys()  # the same run names
    for name, (files, record_keys, record) in packed.items():
        assert files == unpacked[name][0], name
        assert record_keys == unpacked[name][1], name
        assert record["spec"] == unpacked[name][2]["spec"]
        assert unpacked[name][2]["provenance"]["pack"] == 1
        # single's two seeds share a pack; rmd's step draws random numbers: alone
        assert record["provenance"]["pack"] == (2 if record["spec"]["method"] == "single" else 1)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--pack", "0"], "--pack takes a number of runs"),
        (["--pack=-2"], "--pack takes a number of runs"),
        (["--pack", "1.5"], "--pack takes a number of runs"),
        (["--pack", "many"], "--pack takes a number of runs"),
        (["--pack", "2", "--executor", "slurm"], "drop --pack (or use --executor local)"),
        (["--pack", "4", "--checkpoint-every", "1"], "drop --checkpoint-every or use --pack 1"),
    ],
)
def test_bad_pack_is_one_line_exit_2_nothing_written(runner, tmp_path, options, says):
    out = tmp_path / "runs"
    result = runner.invoke(app, ["sweep", *GRID, *options, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0 and says in result.output
    assert not out.exists() or not any(out.iterdir())


def test_a_sweep_file_sets_pack_and_a_flag_overrides_it(runner, tmp_path):
    """``pack:`` in a sweep file, as a number; a bad value there is refused like the flag."""
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text("pack: 0\n")
    out = ["--out", str(tmp_path / "runs")]
    result = runner.invoke(app, ["sweep", "--config", str(sweep_file), *GRID, *out, "--dry-run"])
    assert result.exit_code == 2 and "--pack takes a number of runs" in result.output
    result = runner.invoke(
        app, ["sweep", "--config", str(sweep_file), *GRID, *out, "--pack", "auto", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    sweep_file.write_text("pack: 4\n")
    result = runner.invoke(
        app,
        ["sweep", "--config", str(sweep_file), *GRID, *out, "--dry-run"],
    )
    assert result.exit_code == 0, result.output


def test_a_local_worker_trains_a_pack(runner, tmp_path, markers):
    """--executor local sends a pack to one worker as one task; each run reports."""
    out = tmp_path / "runs"
    grid = [item if item != "single,rmd" else "single" for item in GRID]
    result = runner.invoke(
        app, ["sweep", *grid, "--workers", "1", "--pack", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    found = records(out)
    assert len(found) == 2
    assert {record["provenance"]["pack"] for _, _, record in found.values()} == {2}
