"""Run one rmdbench install on the bad inputs of the outside audit; classify what it does.

Each case builds its files in a fresh temporary folder, runs one ``rmdbench`` command there
(with a 120 s timeout) and records the exit code, the output and the outcome:

- ``one line + exit 2``: exit 2 and exactly one non-empty line on stdout + stderr;
- ``traceback``: a Python traceback in the output (the exception's last line is kept);
- ``box``: typer's multi-line boxed usage error;
- ``silent``: exit 0 although the input should have been refused (or a damaged record
  taken as good), or an exit code other than 0/1/2 with no message;
- ``handled``: exit 0 on an input that should be accepted and dealt with (a damaged run
  moved aside and retrained, listed by status, skipped by report), the case's check says how;
- ``other``: anything else, said in words.

Cases that name a MARKER file also record whether it was created: a pickle or a sweep file
that runs code would create it.

    python benchmarks/bad_inputs.py --rmdbench /work/venv-old/bin/rmdbench --label before \
        --out before.json
    python benchmarks/bad_inputs.py --rmdbench /work/venv/bin/rmdbench --label after \
        --out after.json
    python benchmarks/bad_inputs.py --table before.json after.json   # the markdown table

Run it from any folder; set RMDBENCH_CACHE_DIR to a built cache (only read: every case that
writes a dataset writes it inside its own folder).
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TIMEOUT_S = 120
MARKER = "MARKER"
TRACEBACK = "Traceback (most recent call last)"
TINY = ("--dataset", "toy-disks", "--profile", "tiny", "--methods", "single", "--noise", "0")
STORE = "runs"
TAIL_CHARS = 4000  # output kept per case in the JSON


# --- the case folder and its fixtures -----------------------------------------------------


@dataclass
class Workspace:
    """The rmdbench under test and a store of two done runs it trained (built once, copied
    into each case that needs one, so BEFORE's store is BEFORE's own)."""

    rmdbench: str
    env: dict[str, str]
    root: Path
    _store: Path | None = None

    def done_store(self, folder: Path) -> Path:
        """A copy of the done store at ``folder / STORE``."""
        if self._store is None:
            self._store = self.root / "template" / STORE
            self._store.parent.mkdir(parents=True)
            argv = [self.rmdbench, "sweep", *TINY, "--seeds", "0,1"]
            argv += ["--out", str(self._store)]
            done = subprocess.run(argv, cwd=self._store.parent, env=self.env, capture_output=True)
            if done.returncode != 0 or len(run_dirs(self._store)) != 2:
                sys.exit(f"could not build the done store:\n{done.stdout.decode()[-2000:]}")
        shutil.copytree(self._store, folder / STORE)
        return folder / STORE


def run_dirs(store: Path) -> list[Path]:
    """The run directories of a store (those holding a spec.json), sorted."""
    return sorted(path.parent for path in store.glob("*/spec.json"))


def first_result(store: Path) -> Path:
    """The result.json of the store's first run, the one the damage cases spoil."""
    return run_dirs(store)[0] / "result.json"


# --- payloads ------------------------------------------------------------------------------


class ShellPayload:
    """Unpickled, runs ``os.system("touch MARKER")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class ExecPayload:
    """Unpickled, runs ``builtins.exec`` of a line that writes MARKER; returns None."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def crops_dict(patients: int = 8, slices: int = 2, size: int = 32) -> dict:
    """A valid lidc-crops dict (see rmdbench/data/formats/lidc_crops.py): small crops,
    four annotator masks each."""
    rng = np.random.default_rng(0)
    crops = {}
    for patient in range(patients):
        for index in range(slices):
            lesion = np.zeros((size, size), dtype=np.uint8)
            lesion[10:20, 10 + index : 20 + index] = 1
            crops[f"LIDC-IDRI-{patient:04d}_slice_{index}"] = {
                "image": rng.random((size, size)),
                "masks": [lesion.copy() for _ in range(4)],
                "series_uid": f"1.2.3.{patient}",
                "pixel_spacing": 0.7,
            }
    return crops


def write_folder_source(source: Path, cases: int = 10, size: int = 32) -> None:
    """A valid ``folder`` source of .npy image/mask pairs."""
    rng = np.random.default_rng(0)
    (source / "images").mkdir(parents=True)
    (source / "masks").mkdir()
    for case in range(cases):
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[8:20, 8:20] = 1
        np.save(source / "images" / f"case{case:02d}.npy", rng.random((size, size)))
        np.save(source / "masks" / f"case{case:02d}.npy", mask)


def write_sweep_file(path: Path, extra: str = "", methods: str = "[single]") -> None:
    """A sweep YAML on toy-disks / tiny / no noise, plus ``extra`` lines."""
    path.write_text(
        f"dataset: toy-disks\nprofile: tiny\nmethods: {methods}\nnoise: [0]\nout: {STORE}\n{extra}"
    )


# --- setups: each builds the files of one case in its folder ----------------------------------


def nothing(work: Workspace, folder: Path) -> None:
    """No files needed."""


def pickle_list(work: Workspace, folder: Path) -> None:
    (folder / "evil.pickle").write_bytes(pickle.dumps([ShellPayload(folder / MARKER)]))


def pickle_in_dict(work: Workspace, folder: Path) -> None:
    crops = crops_dict()
    crops["LIDC-IDRI-0003_slice_1"]["series_uid"] = ExecPayload(folder / MARKER)
    (folder / "crops.pickle").write_bytes(pickle.dumps(crops))


def sweep_with_plugin(work: Workspace, folder: Path) -> None:
    (folder / "evil.py").write_text(f"open({str(folder / MARKER)!r}, 'w').write('pwned')\n")
    write_sweep_file(folder / "sweep.yaml", "plugin: evil.py\n")


def truncated_result(work: Workspace, folder: Path) -> None:
    result = first_result(work.done_store(folder))
    text = result.read_text()
    result.write_text(text[: len(text) // 2])


def list_result(work: Workspace, folder: Path) -> None:
    first_result(work.done_store(folder)).write_text("[1, 2, 3]\n")


def plan_list(work: Workspace, folder: Path) -> None:
    store = work.done_store(folder)
    (store / ".plans").mkdir(exist_ok=True)
    (store / ".plans" / "x.json").write_text("[1]\n")


def staging_file(work: Workspace, folder: Path) -> None:
    (folder / STORE).mkdir()
    (folder / STORE / ".staging").write_text("not a folder\n")


def done_store_and_file(work: Workspace, folder: Path) -> None:
    work.done_store(folder)
    (folder / "taken").write_text("a file\n")


def a_file(work: Workspace, folder: Path) -> None:
    (folder / "taken").write_text("a file\n")


def folder_source_and_file(work: Workspace, folder: Path) -> None:
    write_folder_source(folder / "src")
    (folder / "taken").write_text("a file\n")


def folder_source_zero_image(work: Workspace, folder: Path) -> None:
    write_folder_source(folder / "src")
    (folder / "src" / "images" / "case03.npy").write_bytes(b"")


def latin1_sweep_file(work: Workspace, folder: Path) -> None:
    write_sweep_file(folder / "sweep.yaml")
    with (folder / "sweep.yaml").open("ab") as handle:
        handle.write("# caf\xe9 au lait\n".encode("latin-1"))


def duplicate_key(work: Workspace, folder: Path) -> None:
    write_sweep_file(folder / "sweep.yaml", "noise: [0.4]\n")


def distill_three(work: Workspace, folder: Path) -> None:
    write_sweep_file(folder / "sweep.yaml", methods="[{rmd: {distill: 3}}]")


def plugin_exits(work: Workspace, folder: Path) -> None:
    (folder / "plug.py").write_text("import sys\n\nsys.exit(3)\n")


# A plug-in's imports, for both installs: 7dbeb4d had no rmdbench.api yet.
PLUGIN_IMPORTS = """\
try:
    from rmdbench.api import METHODS, Method
except ImportError:  # rmdbench before rmdbench.api
    from rmdbench.methods.base import Method
    from rmdbench.registries import METHODS
"""


def plugin_adds_int(work: Workspace, folder: Path) -> None:
    (folder / "plug.py").write_text(PLUGIN_IMPORTS + '\nMETHODS.add("x", 3)\n')


def plugin_bad_params(work: Workspace, folder: Path) -> None:
    (folder / "plug.py").write_text(
        PLUGIN_IMPORTS + '\n\n@METHODS.register("x")\nclass X(Method):\n    Params = int\n'
    )


# --- checks of the cases that should be handled, not refused --------------------------------


def result_whole_again(folder: Path, output: str) -> tuple[bool, str]:
    """The damaged run was retrained (its result.json is a JSON object again) and named."""
    try:
        whole = isinstance(json.loads(first_result(folder / STORE).read_text()), dict)
    except (OSError, ValueError, IndexError):
        whole = False
    named = "damaged" in output.lower()
    skipped = re.search(r"(\d+) skipped", output)
    said = f"{skipped.group(1)} skipped" if skipped else "no skip count"
    facts = f"result.json {'whole again' if whole else 'still damaged'}; {said}"
    return whole and named, facts + ("; names the damaged run" if named else "")


def status_names_damage(folder: Path, output: str) -> tuple[bool, str]:
    """status counts the spoiled run as damaged, not as done."""
    named = "damaged" in output.lower()
    return named, "lists it as damaged" if named else "does not mention the damage"


def report_skips_damage(folder: Path, output: str) -> tuple[bool, str]:
    """report wrote report.md from the good run and named the one it skipped."""
    written = (folder / STORE / "report.md").is_file()
    named = "damaged" in output.lower() or "skipp" in output.lower()
    facts = f"report.md {'written' if written else 'not written'}"
    return written and named, facts + ("; notes the skipped run" if named else "")


def status_survives(folder: Path, output: str) -> tuple[bool, str]:
    return True, "status printed"


def plan_without_plugin(folder: Path, output: str) -> tuple[bool, str]:
    """A dry run prints the plan without running the sweep file's plug-in."""
    return not (folder / MARKER).exists(), "plan printed"


# --- the cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input: the audit's class, the files, the command and what NOW should do.

    ``refuse``: NOW should refuse it (one line + exit 2); else it should accept the input and
    deal with it, as ``check`` (folder, output) -> (as it should?, what happened) tells."""

    name: str
    audit_class: str
    bad_input: str
    argv: tuple[str, ...]
    setup: Callable[[Workspace, Path], None] = nothing
    refuse: bool = True
    check: Callable[[Path, str], tuple[bool, str]] | None = None
    env: dict[str, str] = field(default_factory=dict)  # "{dir}" is the case's folder
    marker: bool = False


CASES = [
    Case(
        "pickle-list",
        "1 untrusted pickle",
        "a list holding an os.system('touch MARKER') payload",
        ("data", "prepare", "lidc-crops", "evil.pickle", "--out", "prepared"),
        pickle_list,
        marker=True,
    ),
    Case(
        "pickle-in-crops",
        "1 untrusted pickle",
        "valid crops dict, one series_uid is a builtins.exec payload writing MARKER",
        ("data", "prepare", "lidc-crops", "crops.pickle", "--out", "prepared"),
        pickle_in_dict,
        marker=True,
    ),
    Case(
        "sweep-file-plugin",
        "2 code in a sweep file",
        "sweep.yaml with plugin: evil.py",
        ("sweep", "--config", "sweep.yaml", "--dry-run"),
        sweep_with_plugin,
        marker=True,
    ),
    Case(
        "sweep-file-plugin-allowed",
        "2 code in a sweep file",
        "same, with --allow-plugins (dry run: plan only, no plug-in code)",
        ("sweep", "--config", "sweep.yaml", "--allow-plugins", "--dry-run"),
        sweep_with_plugin,
        refuse=False,
        check=plan_without_plugin,
        marker=True,
    ),
    Case(
        "truncated-sweep",
        "3 damaged records",
        "done run's result.json cut to half",
        ("sweep", *TINY, "--seeds", "0,1", "--out", STORE),
        truncated_result,
        refuse=False,
        check=result_whole_again,
    ),
    Case(
        "truncated-status",
        "3 damaged records",
        "done run's result.json cut to half",
        ("status", STORE),
        truncated_result,
        refuse=False,
        check=status_names_damage,
    ),
    Case(
        "truncated-report",
        "3 damaged records",
        "done run's result.json cut to half",
        ("report", STORE, "--no-qualitative"),
        truncated_result,
        refuse=False,
        check=report_skips_damage,
    ),
    Case(
        "list-result-sweep",
        "3 damaged records",
        "result.json holds a JSON list",
        ("sweep", *TINY, "--seeds", "0,1", "--out", STORE),
        list_result,
        refuse=False,
        check=result_whole_again,
    ),
    Case(
        "list-result-status",
        "3 damaged records",
        "result.json holds a JSON list",
        ("status", STORE),
        list_result,
        refuse=False,
        check=status_names_damage,
    ),
    Case(
        "list-result-report",
        "3 damaged records",
        "result.json holds a JSON list",
        ("report", STORE, "--no-qualitative"),
        list_result,
        refuse=False,
        check=report_skips_damage,
    ),
    Case(
        "plan-list-status",
        "3 damaged records",
        ".plans/x.json holds [1]",
        ("status", STORE),
        plan_list,
        refuse=False,
        check=status_survives,
    ),
    Case(
        "staging-file-sweep",
        "3 damaged records",
        ".staging is a file (store otherwise empty)",
        ("sweep", *TINY, "--out", STORE),
        staging_file,
    ),
    Case(
        "report-out-file",
        "4 outputs not writable",
        "--out is an existing file",
        ("report", STORE, "--no-qualitative", "--out", "taken"),
        done_store_and_file,
    ),
    Case(
        "preview-parent-file",
        "4 outputs not writable",
        "--out's parent is a file",
        (
            "noise",
            "preview",
            "--noise-model",
            "erosion_dilation",
            "--dataset",
            "toy-disks",
            "--cases",
            "1",
            "--out",
            "taken/unwritable.png",
        ),
        a_file,
    ),
    Case(
        "bench-out-file",
        "4 outputs not writable",
        "--out (a folder) is an existing file",
        (
            "bench",
            "--out",
            "taken",
            "--profile",
            "tiny",
            "--iterations",
            "1",
            "--methods",
            "single",
            "--device",
            "cpu",
        ),
        a_file,
    ),
    Case(
        "prepare-out-file",
        "4 outputs not writable",
        "--out is an existing file",
        ("data", "prepare", "folder", "src", "--out", "taken"),
        folder_source_and_file,
    ),
    Case(
        "cache-dir-file",
        "4 outputs not writable",
        "RMDBENCH_CACHE_DIR is a file",
        (
            "sweep",
            "--dataset",
            "lidc-phantom",
            "--profile",
            "tiny",
            "--methods",
            "single",
            "--noise",
            "0",
            "--out",
            STORE,
        ),
        a_file,
        env={"RMDBENCH_CACHE_DIR": "{dir}/taken"},
    ),
    Case(
        "sweep-file-latin1",
        "4 outputs not writable",
        "sweep.yaml with a Latin-1 byte",
        ("sweep", "--config", "sweep.yaml", "--dry-run"),
        latin1_sweep_file,
    ),
    Case(
        "folder-zero-image",
        "4 outputs not writable",
        "folder source, one image file of 0 bytes",
        ("data", "prepare", "folder", "src", "--out", "prepared"),
        folder_source_zero_image,
    ),
    Case(
        "empty-noise",
        "5 strict input",
        "--noise ''",
        ("sweep", *TINY[:-2], "--noise", "", "--dry-run"),
    ),
    Case(
        "empty-methods",
        "5 strict input",
        "--methods ''",
        ("sweep", *TINY[:4], "--methods", "", "--noise", "0", "--dry-run"),
    ),
    Case(
        "seeds-abc",
        "5 strict input",
        "--seeds abc",
        ("sweep", *TINY, "--seeds", "abc", "--dry-run"),
    ),
    Case(
        "yaml-duplicate-key",
        "5 strict input",
        "sweep.yaml names noise: twice",
        ("sweep", "--config", "sweep.yaml", "--dry-run"),
        duplicate_key,
    ),
    Case(
        "yaml-distill-3",
        "5 strict input",
        "sweep.yaml methods: [{rmd: {distill: 3}}]",
        ("sweep", "--config", "sweep.yaml", "--dry-run"),
        distill_three,
    ),
    Case(
        "radius-99999",
        "5 strict input",
        "erosion_dilation[radius=99999]",
        ("sweep", *TINY, "--noise-model", "erosion_dilation[radius=99999]", "--dry-run"),
    ),
    Case(
        "plugin-sys-exit",
        "5 strict input",
        "plug-in file calls sys.exit(3)",
        ("list", "--plugin", "plug.py"),
        plugin_exits,
    ),
    Case(
        "plugin-adds-int",
        "5 strict input",
        'plug-in: METHODS.add("x", 3)',
        ("list", "--plugin", "plug.py"),
        plugin_adds_int,
    ),
    Case(
        "plugin-params-int",
        "5 strict input",
        "plug-in method class with Params = int",
        ("list", "--plugin", "plug.py"),
        plugin_bad_params,
    ),
    Case(
        "sweep-out-file",
        "6 control",
        "sweep --out is an existing file",
        ("sweep", *TINY, "--out", "taken"),
        a_file,
    ),
    Case(
        "sweep-out-file-dry",
        "6 control",
        "sweep --out is an existing file, dry run",
        ("sweep", *TINY, "--out", "taken", "--dry-run"),
        a_file,
    ),
]


# --- running and classifying ----------------------------------------------------------------


def exception_line(output: str) -> str:
    """The last ``SomeError: message`` line of a traceback (plain or typer's rich one)."""
    found = re.findall(
        r"^[\s│]*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b.*)$",
        output,
        flags=re.MULTILINE,
    )
    return found[-1].strip(" │")[:160] if found else "?"


def classify(case: Case, rc: int, output: str, check: tuple[bool, str] | None) -> str:
    """The outcome in the words of the module docstring."""
    lines = [line for line in output.splitlines() if line.strip()]
    if rc in (124, 137):
        return f"other: killed by the {TIMEOUT_S} s timeout ({len(lines)} lines so far)"
    if TRACEBACK in output:
        return f"traceback ({exception_line(output)}), exit {rc}"
    if "╭─" in output and rc != 0:
        return f"box, exit {rc}"
    if rc == 2 and len(lines) == 1:
        return "one line + exit 2" + ("" if case.refuse else " (the whole command refused)")
    if rc == 2 and lines[-1].startswith("error:"):
        return f"other: exit 2, the error line after {len(lines) - 1} progress line(s)"
    if rc == 0 and case.refuse:
        return "silent (exit 0, accepted)"
    if rc == 0 and check is not None:
        as_it_should, facts = check
        return f"{'handled' if as_it_should else 'silent'} (exit 0: {facts})"
    if rc not in (0, 1, 2) and not lines:
        return f"silent (exit {rc}, no message)"
    first = lines[0][:100] if lines else ""
    return f"other: exit {rc}, {len(lines)} lines, first: {first!r}"


def run_case(case: Case, work: Workspace) -> dict:
    """Build the case's files in a fresh folder, run the command, classify the outcome."""
    folder = Path(tempfile.mkdtemp(prefix=f"{case.name}.", dir=work.root))
    case.setup(work, folder)
    env = dict(work.env)
    env.update({key: value.format(dir=folder) for key, value in case.env.items()})
    argv = ["timeout", str(TIMEOUT_S), work.rmdbench, *case.argv]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True)
    seconds = time.monotonic() - start
    output = (done.stdout + done.stderr).decode("utf-8", "replace")
    check = case.check(folder, output) if case.check is not None and done.returncode == 0 else None
    outcome = classify(case, done.returncode, output, check)
    record = {
        "name": case.name,
        "class": case.audit_class,
        "input": case.bad_input,
        "command": "rmdbench " + " ".join(arg if arg else "''" for arg in case.argv),
        "rc": done.returncode,
        "outcome": outcome,
        "seconds": round(seconds, 1),
        "output": output[-TAIL_CHARS:],
    }
    if case.marker:
        record["marker_created"] = (folder / MARKER).exists()
    return record


def run_all(rmdbench: str, label: str, only: list[str]) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"bad-inputs-{label}."))
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="100", NO_COLOR="1")
    env.setdefault("RMDBENCH_CACHE_DIR", "/work/cache")
    work = Workspace(rmdbench=rmdbench, env=env, root=root)
    records = []
    for case in CASES:
        if only and case.name not in only:
            continue
        record = run_case(case, work)
        marker = f" MARKER={record['marker_created']}" if "marker_created" in record else ""
        print(f"{case.name:28} {record['outcome']}{marker} [{record['seconds']} s]", flush=True)
        records.append(record)
    shutil.rmtree(root, ignore_errors=True)
    return {"label": label, "rmdbench": rmdbench, "cases": records}


# --- the table ------------------------------------------------------------------------------


def cell(record: dict | None) -> str:
    if record is None:
        return "not run"
    text = re.sub(r"[^'\s]*/bad-inputs-[^/]+/[^/]+/", "", record["outcome"])  # the case folder
    if "marker_created" in record:
        text += "; **MARKER created**" if record["marker_created"] else "; no MARKER"
    return text.replace("|", "\\|")


def table(before_path: Path, after_path: Path) -> str:
    """One markdown row per case: class, input, command, before, after."""
    before = {record["name"]: record for record in json.loads(before_path.read_text())["cases"]}
    after = {record["name"]: record for record in json.loads(after_path.read_text())["cases"]}
    rows = [
        "| # | class | bad input | command | before (7dbeb4d) | now |",
        "|---|---|---|---|---|---|",
    ]
    for number, case in enumerate(CASES, 1):
        record = after.get(case.name) or before.get(case.name)
        if record is None:
            continue
        command = record["command"].replace("|", "\\|")
        rows.append(
            f"| {number} | {case.audit_class} | {case.bad_input.replace('|', '/')} | "
            f"`{command}` | {cell(before.get(case.name))} | {cell(after.get(case.name))} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rmdbench", help="the rmdbench executable to test")
    parser.add_argument("--label", default="run", help="a name for this install")
    parser.add_argument("--out", type=Path, help="the JSON of outcomes")
    parser.add_argument("--only", nargs="*", default=[], help="run only these cases")
    parser.add_argument(
        "--table",
        nargs=2,
        type=Path,
        metavar=("BEFORE", "AFTER"),
        help="print the markdown table of two JSON files and exit",
    )
    args = parser.parse_args()
    if args.table:
        print(table(*args.table))
        return
    if not args.rmdbench or not args.out:
        parser.error("--rmdbench and --out are needed (or --table BEFORE AFTER)")
    results = run_all(args.rmdbench, args.label, args.only)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
