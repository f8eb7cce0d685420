"""What the CLI fuzz tests (tests/cli/test_fuzz.py) share: a fresh sandbox per example, the
contract every invocation must keep, and the strategies that write command lines, sweep
files and run stores.

The contract, for ANY input: the exit code is 0, 1 or 2; no exception escapes (under
typer's CliRunner an escaped exception is exit code 1 with ``result.exception`` set: in a
shell it is a traceback); a refusal (exit 2) is exactly one line 'error: ...' and writes
nothing; and nothing outside the output folders the command declares is touched.

Option names are read from the app itself (``typer.main.get_command``), so an option added
later is fuzzed too (with generic text values until ``VALUES`` knows it better).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from hypothesis import strategies as st

from rmdbench.cli import app
from rmdbench.plugins import load_builtins
from rmdbench.profiles import MAX_CROP_SIZE, PROFILES, Profile
from rmdbench.registry import DATASET_FORMATS, METHODS, NOISE_MODELS

#: how long one invocation may take before it counts as a hang (seconds)
HANG_SECONDS = 30
#: a device that exists nowhere: bench always runs with it, so it refuses before timing
NO_DEVICE = "fuzz-no-device"
#: scales every test's ``max_examples``: RMDBENCH_FUZZ_SCALE=20 for a deeper run by hand
SCALE_VARIABLE = "RMDBENCH_FUZZ_SCALE"
#: RMDBENCH_FUZZ_RANDOM=1 draws new examples every run; by default the examples are the
#: same every run (derandomised), so CI is a regression test that cannot turn red by chance
RANDOM_VARIABLE = "RMDBENCH_FUZZ_RANDOM"


def derandomised() -> bool:
    """Whether hypothesis draws the same examples every run (the default; see
    ``RANDOM_VARIABLE``)."""
    return os.environ.get(RANDOM_VARIABLE, "") != "1"


def examples(count: int) -> int:
    """``count`` examples, times $RMDBENCH_FUZZ_SCALE (default 1): the standing suite stays
    small, a deliberate search can go deeper without editing the tests."""
    return count * max(1, int(os.environ.get(SCALE_VARIABLE) or 1))


# the sandbox -----------------------------------------------------------------------

#: what every sandbox holds before the command runs, relative to its working directory:
#: files and folders that path values name (an existing file, a folder, a broken plug-in)
SANDBOX_FILES: dict[str, bytes] = {
    "afile.txt": b"just text\n",
    "junk.bin": bytes(range(256)) * 4,
    "adir/.keep": b"",
    "ünï dir/.keep": b"",
    "plug.py": b"x = 1\n",  # registers nothing
    "bad.py": b"def broken(:\n",
    "raises.py": b"raise ValueError('a plug-in that raises')\n",
    "exits.py": b"import sys\nsys.exit(3)\n",
    "latin1.py": b"# caf\xe9\nx = '\xff'\n",
    "clash.py": (
        b"from rmdbench.api import METHODS\n"
        b"from rmdbench.methods.single import Single\n"
        b"METHODS.register('single')(Single)\n"
    ),
    "folder.py/.keep": b"",  # a folder named like a plug-in file
    "sweep.yaml": b"noise: [0.4\n",
    "good.yaml": b"noise: [0, 0.4]\nmethods: single,rmd[distill=false]\nseeds: [0, 1]\n",
    "empty.yaml": b"",
    "pairs/images/a.png": b"\x89PNG\r\n\x1a\nnot really",
    "pairs/masks/a.png": b"GIF89a",
    "store/.plans/x.json": b"{",
    "store/run-0/result.json": b"[]",
    "acdc/patient001/Info.cfg": b"ED: x\n",
}
#: path values: the sandbox's files and folders, and paths that do not exist or cannot
#: (under a file). Never an absolute path out of the sandbox, never '../..' (the output
#: check would not see it) and never a NUL byte (no shell can pass one).
PATHS = [
    *sorted({name.split("/.keep")[0] for name in SANDBOX_FILES}),
    "missing",
    "missing/deeper/still",
    "afile.txt/child",
    "adir/new",
    "new.png",
    "adir/figure.png",
    "figure.svg",
    "",
    ".",
    "..",
    "~/in-home",
    "ünï dir/ü.png",
]


@dataclass(frozen=True)
class Sandbox:
    """One example's own folders: ``work`` (the working directory), ``home`` ($HOME: a
    path with '~' lands there) and ``cache`` ($RMDBENCH_CACHE_DIR). Everything under
    ``root`` but the cache is watched."""

    root: Path
    work: Path
    home: Path
    cache: Path

    @property
    def environment(self) -> dict[str, str]:
        return {"RMDBENCH_CACHE_DIR": str(self.cache), "HOME": str(self.home)}


_SANDBOXES = itertools.count()


@contextlib.contextmanager
def sandbox(base: Path) -> Iterator[Sandbox]:
    """A fresh sandbox under ``base`` (one per hypothesis example: function-scoped fixtures
    are shared by all examples of a test), entered as the working directory, and removed
    after (hundreds of examples would leave pytest tens of thousands of files to clean)."""
    root = base / f"example{next(_SANDBOXES)}"
    box = Sandbox(root, root / "work", root / "home", root / "cache")
    for folder in (box.work, box.home, box.cache):
        folder.mkdir(parents=True)
    for name, content in SANDBOX_FILES.items():
        path = box.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    before = Path.cwd()
    os.chdir(box.work)
    try:
        yield box
    finally:
        os.chdir(before)
        shutil.rmtree(root, ignore_errors=True)


Snapshot = dict[str, tuple]


def snapshot(box: Sandbox) -> Snapshot:
    """Every path under the sandbox but the cache: its kind, and for a file its size, mtime
    and inode (a file replaced, rewritten or touched shows)."""
    found: Snapshot = {}
    for folder, folders, files in os.walk(box.root):
        here = Path(folder)
        if here == box.root:
            folders[:] = [name for name in folders if name != box.cache.name]
        for name in [*folders, *files]:
            path = here / name
            info = path.lstat()
            if path.is_symlink():
                found[str(path)] = ("link", os.readlink(path))
            elif name in folders:
                found[str(path)] = ("dir",)
            else:
                found[str(path)] = ("file", info.st_size, info.st_mtime_ns, info.st_ino)
    return found


def changes(before: Snapshot, after: Snapshot) -> list[Path]:
    """Paths added, removed or changed between two snapshots."""
    names = set(before) | set(after)
    return sorted(Path(name) for name in names if before.get(name) != after.get(name))


def outside(changed: list[Path], allowed: list[Path]) -> list[Path]:
    """The changed paths that are not in (or a new parent folder of) an allowed output."""

    def permitted(path: Path) -> bool:
        return any(path == out or out in path.parents or path in out.parents for out in allowed)

    return [path for path in changed if not permitted(path)]


# running one command line ----------------------------------------------------------


class Hang(BaseException):
    """An invocation ran past HANG_SECONDS (a BaseException: CliRunner keeps Exceptions)."""


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise ``Hang`` in this (the main) thread after ``seconds``."""

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    """What one invocation did: its result, and what it wrote in the sandbox."""

    argv: list[str]
    exit_code: int
    output: str
    exception: BaseException | None
    changed: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        shown = "\n".join(self.output.split("\n")[-15:])
        written = ", ".join(str(path) for path in self.changed[:8])
        return (
            f"argv={self.argv!r}\nexit {self.exit_code}, exception {self.exception!r}\n"
            f"changed: {written or '-'}\n--- output (last lines) ---\n{shown}"
        )


def invoke(runner: Any, box: Sandbox, argv: list[str]) -> Outcome:
    """Run ``rmdbench ARGV`` in the sandbox as typer's CliRunner does (the tests of
    tests/cli do the same), with a time limit, and note what changed on disk."""
    before = snapshot(box)
    try:
        with time_limit(HANG_SECONDS):
            result = runner.invoke(app, argv, env=box.environment)
        outcome = Outcome(argv, result.exit_code, result.output, result.exception)
    except Hang as hang:
        outcome = Outcome(argv, -1, f"HANG: {hang}", hang)
    outcome.changed = changes(before, snapshot(box))
    return outcome


def escaped(outcome: Outcome) -> bool:
    """Whether an exception escaped the command (a traceback in a shell)."""
    return outcome.exception is not None and not isinstance(outcome.exception, SystemExit)


def contract_problem(outcome: Outcome, box: Sandbox, allowed: list[Path]) -> str | None:
    """What ``outcome`` breaks of the contract (None: it keeps it). ``allowed``: the output
    folders or files the command line declares (relative paths are from the sandbox)."""
    if escaped(outcome):
        return f"an exception escaped: {outcome.exception!r}"
    if outcome.exit_code not in (0, 1, 2):
        return f"exit code {outcome.exit_code} (expected 0, 1 or 2)"
    if "Traceback (most recent call last)" in outcome.output:
        return "a traceback in the output"
    # lines as a terminal shows them: '\x1e' or '\x85' in an echoed value is no new line
    lines = outcome.output.rstrip("\n").split("\n") if outcome.output else []
    if outcome.exit_code == 2:
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return f"a refusal of {len(lines)} line(s), not one line 'error: ...'"
        if outcome.changed:
            return "a refusal wrote something"
    declared = [absolute(box, path) for path in allowed]
    stray = outside(outcome.changed, declared)
    if stray:
        return f"wrote outside its declared output(s) {declared}: {stray[:5]}"
    return None


def absolute(box: Sandbox, path: Path | str) -> Path:
    """An output path as the command would use it: '~' is the sandbox's home, a relative
    path is from the working directory; normalised, links not followed."""
    text = str(path)
    if text == "~" or text.startswith("~/"):
        text = str(box.home) + text[1:]
    return Path(os.path.normpath(box.work / text))


def assert_contract(outcome: Outcome, box: Sandbox, allowed: list[Path]) -> None:
    problem = contract_problem(outcome, box, allowed)
    assert problem is None, f"{problem}\n{outcome.describe()}"


# the app's commands and their declared outputs -------------------------------------


@functools.cache
def commands() -> dict[tuple[str, ...], Any]:
    """Every leaf command of the app by its path: ('sweep',), ('noise', 'stats'), ..."""
    found: dict[tuple[str, ...], Any] = {}

    def walk(prefix: tuple[str, ...], command: Any) -> None:
        children = getattr(command, "commands", None)
        if children is None:
            found[prefix] = command
            return
        for name, child in children.items():
            walk((*prefix, name), child)

    walk((), typer.main.get_command(app))
    return found


def parsed(path: tuple[str, ...], tokens: list[str]) -> dict[str, Any]:
    """The parameter values click would give ``tokens`` (errors ignored: resilient parsing),
    to find the declared outputs and keep the generators out of slow regions."""
    command = commands()[path]
    try:
        context = command.make_context(path[-1], list(tokens), resilient_parsing=True)
    except Exception:  # noqa: BLE001 - a line click cannot even read leniently
        return {}
    return dict(context.params)


#: per command: the parameters naming where it writes (a value of None: the default)
OUTPUT_PARAMETERS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("sweep",): ("cache_dir",),  # always run with --dry-run here: nothing but a cache
    ("report",): ("out",),
    ("bench",): ("out",),
    ("noise", "preview"): ("out",),
    ("data", "prepare"): ("out", "cache_dir"),
}


def declared_outputs(path: tuple[str, ...], tokens: list[str]) -> list[Path]:
    """Where the command line says the command may write (beyond $RMDBENCH_CACHE_DIR)."""
    values = parsed(path, tokens)
    outputs = [values.get(name) for name in OUTPUT_PARAMETERS.get(path, ())]
    if path == ("report",) and values.get("out") is None:
        outputs.append(values.get("runs_dir") or Path("runs"))  # the report goes there
    if path == ("bench",) and values.get("out") is None:
        outputs.append(Path("benchmarks"))
    return [Path(value) for value in outputs if value is not None and str(value) != ""]


# value pools -----------------------------------------------------------------------


def words(max_size: int) -> st.SearchStrategy:
    """Text as a shell or a YAML file passes it: any character (newlines too: a refusal
    that echoes one escapes it) but NUL and a lone surrogate (argv holds no NUL; a
    surrogate comes only from non-UTF-8 argv bytes, not fuzzed here)."""
    return st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=max_size,
    )


TEXT = words(8)
JUNK_WORDS = ["", " ", "-", "--", "-x", "x", "ü", "名前", "a b", "[", "]", "=", ",", "'", '"']
JUNK_WORDS += ["none", "null", "true", "{}", "[]", "$HOME", "*", "\t", "\r", "\x1e", "0x10"]
JUNK_WORDS += ["\n", "a\nb", "\u2028"]
JUNK = st.sampled_from(JUNK_WORDS) | TEXT
#: huge numbers: past anything allocatable (a crop past ``MAX_CROP_SIZE`` is refused at
#: once; a crop or a case count between ~100 and 10**6 would run for minutes: never drawn)
HUGE = st.integers(10**6, 10**40).map(str) | st.integers(-(10**40), -(10**6)).map(str)
#: integers as the command line writes them: small, negative, huge
INTEGERS = st.sampled_from(["0", "1", "2", "3", "-1", "-7", "+2", "007"]) | HUGE
NOT_INTEGERS = st.sampled_from(["1.5", "nan", "inf", "1e3", "1e400", "٣", "1_0", "0x10"]) | JUNK
RATIOS = st.sampled_from(["0", "0.4", "0.8", "1", "0,0.4", "0,0.8", "0.8,0.8", " 0.4 ", "1e-300"])
NOT_RATIOS = st.sampled_from(["-0.1", "1.5", "nan", "inf", "1e400", "[0.4]", "0..4", "٠٫٤"])
NOT_RATIOS |= st.sampled_from(["0 0.4", "0;0.4"]) | JUNK  # a list is comma-separated
#: hyper-parameter values that parse (numbers of any size, booleans, ranges, lists)...
PARAM_VALUES = ["0", "1", "2", "5", "-1", "0.5", "0.999", "1e-9", "100000", "1e300", "-1e300"]
PARAM_VALUES += ["99999999999999999999", "nan", "inf", "true", "false", "none", "2-6", "0-1"]
PARAM_VALUES += ["6-2", "1-100000", "default"]
#: ... and values that do not
BAD_PARAM_VALUES = ["maybe", "", "x", "[1,2]", "0-", "ü", "a+b", "1,2", "=", "[", "]"]


@dataclass(frozen=True)
class Family:
    """The components of one registry (methods, noise models, ...): each name with the
    hyper-parameters it takes and extra values that parse for some of them (presets)."""

    keys: dict[str, list[str]]
    extra_values: tuple[str, ...] = ()

    def good(self, most: int = 3) -> st.SearchStrategy:
        """'name' or 'name[key=value,...]' with the name's own keys and values that parse;
        up to ``most`` of them, comma-separated."""
        values = st.sampled_from([*PARAM_VALUES, *self.extra_values])

        @st.composite
        def one(draw: Any) -> str:
            name = draw(st.sampled_from(sorted(self.keys)))
            keys = self.keys[name]
            if not keys or draw(st.integers(0, 2)):  # mostly as is: parameters often refuse
                return name
            chosen = draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
            pairs = [(key, draw(values)) for key in chosen]
            return f"{name}[{','.join(f'{key}={value}' for key, value in pairs)}]"

        return st.lists(one(), min_size=1, max_size=most).map(",".join)

    def bad(self) -> st.SearchStrategy:
        """Components with an unknown name or key, a value that does not parse, or broken
        brackets (among good ones)."""
        names = sorted(self.keys)
        every_key = sorted({key for keys in self.keys.values() for key in keys}) or ["x"]
        values = [*PARAM_VALUES, *BAD_PARAM_VALUES]
        return st.tuples(
            component([*names, "no-such-name"], every_key, values),
            st.lists(self.good(), max_size=2),
            st.booleans(),
        ).map(_joined)


def _joined(parts: tuple[str, list[str], bool]) -> str:
    """The bad component first or last among good ones, comma-separated."""
    bad, good, first = parts
    return ",".join([bad, *good] if first else [*good, bad])


@st.composite
def component(draw: Any, names: list[str], keys: list[str], values: list[str]) -> str:
    """One 'name' or 'name[key=value,...]', most likely not well formed."""
    name = draw(st.sampled_from(names) | JUNK)
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(keys) | TEXT, st.sampled_from(values) | TEXT), max_size=3
        )
    )
    body = ",".join(f"{key}={value}" for key, value in pairs)
    broken = [f"{name}[{body}]", f"{name}[", f"{name}]", f"{name}[{body}", f"{name}[[{body}]]"]
    broken += [f"{name}[{body}]x", f"{name}[=1]", f"{name}[k]", f"{name}[{body}][{body}]"]
    broken += [f"[{body}]", f"{name}[{body},{body}]", f"{name},", f",{name}"]
    return draw(st.sampled_from(broken))


@dataclass(frozen=True)
class Choice:
    """The values of one parameter: ``good`` (well formed, maybe extreme) and ``bad``."""

    good: st.SearchStrategy
    bad: st.SearchStrategy = JUNK


class Pools:
    """The values of each parameter by its python name, and by (command, name) where one
    command needs others (its positional arguments, ...). Not a dataclass: a failing
    example prints its fixtures, and hypothesis would print every strategy."""

    def __init__(
        self,
        by_name: dict[str, Choice],
        by_command: dict[tuple[tuple[str, ...], str], Choice],
        families: dict[str, Family],
    ) -> None:
        self.by_name = by_name
        self.by_command = by_command
        self.families = families

    def __repr__(self) -> str:
        return f"Pools({len(self.by_name)} options)"

    def value(self, path: tuple[str, ...], name: str, good: bool = True) -> st.SearchStrategy:
        """A good value of the parameter (or a bad one)."""
        choice = self.by_command.get((path, name)) or self.by_name.get(name) or Choice(JUNK)
        return choice.good if good else choice.bad


def family(registry: Any, extra_values: tuple[str, ...] = ()) -> Family:
    return Family({entry.name: _params_of(entry) for entry in registry}, extra_values)


def _params_of(entry: Any) -> list[str]:
    params = getattr(entry.factory, "Params", None)
    keys = [item.name for item in dataclasses.fields(params)] if params else []
    return keys + (["preset"] if getattr(entry.factory, "presets", None) else [])


def _presets(entry: Any) -> list[str]:
    return list(getattr(entry.factory, "presets", None) or {})


def _relative_name(text: str) -> bool:
    """A generated path: relative, inside the sandbox."""
    return not text.startswith(("/", "~", "..")) and ".." not in text.split("/")


def pools() -> Pools:
    """Every value strategy, from the registries (built-ins loaded)."""
    load_builtins()
    methods = family(METHODS)
    presets = tuple(sorted({preset for entry in NOISE_MODELS for preset in _presets(entry)}))
    noise_models = family(NOISE_MODELS, (*presets, "reader+distortion", "mixed", "bias+bias"))
    formats = family(DATASET_FORMATS)
    # crops: never 65 px to MAX_CROP_SIZE (minutes of work); past it, refused at once
    crops = st.sampled_from(["16", "24", "8"] * 3 + [str(MAX_CROP_SIZE + 1), "1000000"]) | HUGE
    profile_keys = [item.name for item in dataclasses.fields(Profile) if item.name != "name"]
    profiles = Family({name: profile_keys for name in PROFILES}, ("16", "24"))
    # datasets: never lidc-phantom (building it takes ~20 s on first use)
    datasets = Family({"toy-disks": []})
    paths = Choice(st.sampled_from(PATHS), TEXT.filter(_relative_name))
    folders = ["adir", "adir/new", "missing", "missing/deeper/still", "ünï dir", ".", "~/in-home"]
    folder_paths = Choice(st.sampled_from(folders), st.sampled_from(PATHS) | paths.bad)
    sweep_files = Choice(st.sampled_from(["good.yaml", "empty.yaml"]), paths.good | paths.bad)
    integers = Choice(INTEGERS, NOT_INTEGERS)
    few = Choice(st.sampled_from(["1", "2", "0", "-1"]) | HUGE, NOT_INTEGERS)
    methods_choice = Choice(methods.good(), methods.bad())

    def words_from(*good: str) -> Choice:
        return Choice(st.sampled_from(good), st.sampled_from(["nope", *JUNK_WORDS]) | TEXT)

    by_name = {
        "noise": Choice(RATIOS, NOT_RATIOS),
        "methods": methods_choice,
        "noise_model": Choice(noise_models.good(), noise_models.bad()),
        "dataset": Choice(datasets.good(), datasets.bad()),
        "seeds": Choice(INTEGERS | st.sampled_from(["0,1", "0,1,2", "1,1", " 2 ,0"]), NOT_INTEGERS),
        "seed": integers,
        "profile": Choice(profiles.good(most=1).filter(_small_crop), profiles.bad()),
        "out": paths,  # a folder, a figure or a JSON file by command: any path is good
        "config": sweep_files,
        "cache_dir": folder_paths,
        "plugin": paths,  # none of the sandbox's plug-ins loads: a dry run does not run them
        # cuda, mps and slurm are well formed but refused here (no GPU, no sbatch): rarer
        "device": words_from("auto", "cpu", "auto", "cpu", "cuda", "cuda:0", "cuda:-1", "mps"),
        "executor": words_from("inline", "local", "inline", "local", "slurm"),
        "workers": integers,
        "checkpoint_every": integers,
        "slurm_time": Choice(
            st.sampled_from(["90", "1:30:00", "2-00:00:00", "1", "10000000"]),
            st.sampled_from(["0", "-5", "1:99:00", "1:2:3:4"]) | NOT_INTEGERS,
        ),
        "slurm_mem": words_from("16G", "0", "-1G", "1T", "512M"),
        "slurm_gpus": integers,
        "slurm_cpus": integers,
        "slurm_cluster": words_from("slurm", "local", "debug"),
        "slurm_setup": words_from("source .venv/bin/activate", "", "exit 1"),
        "table_format": words_from("md", "latex", "csv"),
        "output_format": words_from("table", "md", "csv"),
        "reference": words_from(*(entry.name for entry in METHODS)),
        "filters": words_from(
            *("seed=0", "method!=rmd", "seed=0|1", "method.distill=false", "noise_ratio=0.8"),
            "seed=0,method!=rmd",
        ),
        "metrics": words_from("dsc", "hd95", "iou", "assd", "dsc,hd95"),
        "iterations": few,
        "cases": Choice(st.sampled_from(["1", "2", "0", "-1", "-1000000"]), NOT_INTEGERS),
        "crop_size": Choice(crops, st.sampled_from(["2", "0", "-16", "x", ""]) | NOT_INTEGERS),
        "precision": words_from("fp32", "bf16"),
        "dataset_name": words_from("my-set", "../up", "a/b", ".hidden", "toy-disks"),
    }
    by_command = {
        (("report",), "runs_dir"): paths,
        (("status",), "runs_dir"): paths,
        (("list",), "kind"): words_from(
            "methods", "noise-models", "datasets", "backbones", "dataset-formats"
        ),
        (("data", "prepare"), "name"): Choice(formats.good(), formats.bad()),
        (("data", "prepare"), "source"): paths,
        (("data", "info"), "dataset"): Choice(
            st.sampled_from(PATHS) | datasets.good(), datasets.bad()
        ),
    }
    return Pools(by_name, by_command, {"methods": methods, "noise_model": noise_models})


def _small_crop(profile: str) -> bool:
    """A profile whose crop (if it sets one) is at most 64 px, or past ``MAX_CROP_SIZE``
    (refused at once): one in between is minutes of work (see ``crops`` in ``pools``)."""
    for part in profile.replace("[", ",").replace("]", ",").split(","):
        key, _, value = part.partition("=")
        if key.strip() == "crop_size":
            try:
                return not 64 < float(value) <= MAX_CROP_SIZE
            except ValueError:
                return True
    return True


# command lines ---------------------------------------------------------------------


def misspellings(name: str) -> st.SearchStrategy:
    """``name`` with one slip: a letter dropped, doubled or swapped, '_' for '-', one dash,
    upper case, an 's' too many."""
    core = name.lstrip("-")
    slips = [
        "-" + core,
        "--" + core.replace("-", "_"),
        "--" + core.upper(),
        name + "s",
        "---" + core,
        name + "=",
    ]
    for index in range(len(core)):
        slips.append("--" + core[:index] + core[index + 1 :])
        slips.append("--" + core[:index] + core[index] + core[index:])
        if index + 1 < len(core):
            swapped = core[:index] + core[index + 1] + core[index] + core[index + 2 :]
            slips.append("--" + swapped)
    return st.sampled_from(sorted(set(slips) - {name}))


def _options(command: Any, skip: frozenset[str]) -> list[Any]:
    return [
        param
        for param in command.params
        if param.param_type_name == "option" and param.name not in skip
    ]


@functools.cache
def every_option_name() -> list[str]:
    """Every option of every command: a stray one from another command is a likely slip."""
    names = {
        name
        for command in commands().values()
        for param in _options(command, frozenset())
        for name in [*param.opts, *param.secondary_opts]
    }
    return sorted(names)


SLURM_OPTIONS = ("slurm_", "detach")


@st.composite
def option_item(draw: Any, path: tuple[str, ...], pools: Pools, options: list, good: bool):
    """One option as typed: '--name value', '--name=value' or a flag. The --slurm-* options
    and --detach are drawn a quarter as often as the others, and mostly with --slurm-cluster
    local or debug (without it they are refused at once here: no sbatch)."""
    slurm = [param for param in options if param.name.startswith(SLURM_OPTIONS)]
    common = [param for param in options if param not in slurm]
    rare = slurm and (not common or draw(st.integers(0, 3)) == 0)
    param = draw(st.sampled_from(slurm if rare else common))
    name = draw(st.sampled_from([*param.opts, *param.secondary_opts]))
    cluster = []
    if rare and param.name != "slurm_cluster" and draw(st.integers(0, 2)):
        cluster = ["--slurm-cluster", draw(st.sampled_from(["local", "debug"]))]
    if param.is_flag:
        return [name, *cluster]
    value = draw(pools.value(path, param.name, good))
    typed = [f"{name}={value}"] if draw(st.integers(0, 9)) == 0 else [name, value]
    return [*typed, *cluster]


@st.composite
def fault(draw: Any, path: tuple[str, ...], pools: Pools, options: list) -> list[str]:
    """One thing wrong: a bad value, a misspelt option, a value without its option, an
    option of another command or a stray word."""
    kind = draw(st.sampled_from(["bad value"] * 3 + ["slip", "lone value", "stray", "other"]))
    if not options or kind == "stray":
        return [draw(st.sampled_from(["--help", "-h", "--", "--no", "-"]) | JUNK)]
    if kind == "bad value":
        return draw(option_item(path, pools, options, good=False))
    param = draw(st.sampled_from(options))
    if kind == "slip":
        slip = draw(misspellings(param.opts[0]))
        return [slip] if param.is_flag else [slip, draw(pools.value(path, param.name))]
    if kind == "lone value":
        return [draw(pools.value(path, param.name, draw(st.booleans())))]
    return [draw(st.sampled_from(every_option_name()))]


@st.composite
def command_line(
    draw: Any,
    path: tuple[str, ...],
    pools: Pools,
    *,
    prefix: tuple[str, ...] = (),
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """The tokens after ``rmdbench PATH``: ``prefix``, then the command's arguments and
    options in any order. Lines are clean (every value well formed, if extreme), have one
    fault, or several: a line with a fault early never reaches the checks behind it.
    ``skip``: options never drawn. A clean line gives each option once; an option it
    draws replaces the prefix's (``without_given``)."""
    command = commands()[path]
    options = _options(command, skip)
    arguments = [param for param in command.params if param.param_type_name == "argument"]
    faults = draw(st.sampled_from([0, 0, 1, 1, 3]))
    items: list[list[str]] = []
    for argument in arguments:  # usually in place: the options then reach the command
        if draw(st.integers(0, 9)) < 9:
            items.append([draw(pools.value(path, argument.name))])
    drawn: set[str] = set()
    for _ in range(draw(st.integers(0, 5))):
        fresh = [param for param in options if not drawn & {*param.opts, *param.secondary_opts}]
        if fresh:
            item = draw(option_item(path, pools, fresh, good=True))
            drawn.update(token.partition("=")[0] for token in item if token.startswith("--"))
            items.append(item)
    items.extend(draw(fault(path, pools, options)) for _ in range(faults))
    order = draw(st.permutations(range(len(items))))
    tokens = [token for index in order for token in items[index]]
    forbidden = {name for param in command.params if param.name in skip for name in param.opts}
    tokens = [token for token in tokens if token.split("=")[0] not in forbidden]
    return [*without_given(command, prefix, tokens), *tokens]


def without_given(command: Any, prefix: tuple[str, ...], tokens: list[str]) -> list[str]:
    """``prefix`` less the options that ``tokens`` give again, with their values: an option
    is given once (the command line refuses one given twice), so a drawn value replaces the
    prefix's (a drawn --out, --crop-size or --dataset is fuzzed as it was before)."""
    given = {token.partition("=")[0] for token in tokens}
    params = {name: param for param in command.params for name in param.opts}
    kept, index = [], 0
    while index < len(prefix):
        param = params.get(prefix[index])
        width = 1 if param is None or param.is_flag else 2
        if prefix[index] not in given:
            kept.extend(prefix[index : index + width])
        index += width
    return kept


# sweep files -----------------------------------------------------------------------


def junk(text: st.SearchStrategy) -> st.SearchStrategy:
    """Any JSON/YAML value: scalars (NaN, infinities, huge integers, ``text``), lists and
    mappings of them, nested."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=True, allow_infinity=True)
        | text
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(text | st.integers(), children, max_size=3)
        ),
        max_leaves=8,
    )


#: a value for a sweep file
JUNK_VALUE = junk(words(8))
#: a value for a store's files: any text (a store is read, never echoed in a refusal)
STORE_JUNK = junk(st.text(max_size=8))
#: a hyper-parameter as YAML writes it: numbers of any size, booleans, text, a range
NATIVE = (
    st.integers(-2, 6)
    | st.sampled_from([2**70, -(2**70), 10**6])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
    | words(6)
    | st.lists(st.integers(-1, 8), max_size=3)
)


def component_mapping(family: Family) -> st.SearchStrategy:
    """A sweep file's mapping form, {name: {key: value} or null}, with the names' keys."""

    @st.composite
    def mapping(draw: Any) -> dict:
        names = draw(st.lists(st.sampled_from(sorted(family.keys)), min_size=1, max_size=2))
        result: dict[str, Any] = {}
        for name in names:
            keys = family.keys[name]
            if not keys or draw(st.booleans()):
                result[name] = None
                continue
            extra = st.sampled_from(family.extra_values) if family.extra_values else NATIVE
            result[name] = draw(st.dictionaries(st.sampled_from(keys), NATIVE | extra, max_size=2))
        return result

    return mapping()


def yaml_values(pools: Pools) -> dict[str, st.SearchStrategy]:
    """Per sweep-file key: values as a sweep file writes them, well formed (maybe extreme)."""
    good = {name: choice.good for name, choice in pools.by_name.items()}
    integers = st.integers(-3, 3) | st.sampled_from([2**70, -(2**70)])
    ratios = st.floats(0, 1) | st.sampled_from([0, 1, 0.4, 5e-324]) | good["noise"]
    names = {name: good[name] | st.lists(good[name], min_size=1, max_size=3) for name in good}
    return {
        "dataset": names["dataset"],
        "noise_model": names["noise_model"] | component_mapping(pools.families["noise_model"]),
        "noise": ratios | st.lists(ratios, min_size=1, max_size=3),
        "methods": names["methods"] | component_mapping(pools.families["methods"]),
        "seeds": integers | st.lists(integers, min_size=1, max_size=3),
        "profile": good["profile"],
        "out": good["out"],
        "cache_dir": good["cache_dir"],
        "plugin": names["plugin"],
        "device": good["device"],
        "executor": good["executor"],
        "workers": integers,
        "retry_failed": st.booleans(),
        "checkpoint_every": integers,
        "slurm_partition": words(6),
        "slurm_time": good["slurm_time"] | integers,
        "slurm_gpus": integers,
        "slurm_cpus": integers,
        "slurm_mem": good["slurm_mem"] | integers,
        "slurm_setup": names["slurm_setup"],
        "slurm_cluster": good["slurm_cluster"],
        "detach": st.booleans(),
    }


@st.composite
def yaml_fault(draw: Any, pools: Pools, keys: list[str], aliases: list[str]) -> tuple:
    """One wrong entry of a sweep file: a key's value of the wrong type or malformed, an
    alias (maybe of a key already set), a misspelt or unknown key."""
    kind = draw(st.sampled_from(["wrong type", "wrong type", "malformed", "alias", "slip", "key"]))
    if kind == "wrong type":
        return draw(st.sampled_from(keys)), draw(JUNK_VALUE)
    if kind == "malformed":
        key = draw(st.sampled_from(sorted(set(keys) & set(pools.by_name))))
        return key, draw(pools.value(("sweep",), key, good=False))
    if kind == "alias":
        return draw(st.sampled_from(aliases)), draw(JUNK_VALUE | yaml_values(pools)["seeds"])
    if kind == "slip":
        key = draw(st.sampled_from(keys))
        return draw(misspellings("--" + key.replace("_", "-"))).lstrip("-") or "x", 1
    return draw(words(6) | st.integers() | st.booleans() | st.none()), draw(JUNK_VALUE)


@st.composite
def sweep_file(draw: Any, pools: Pools, keys: list[str], aliases: list[str]) -> bytes:
    """A sweep file's bytes: a mapping of keys to well-formed values dumped as YAML, with
    no fault, one or several (see ``yaml_fault``), maybe then spoiled as text (a key
    written twice, a non-UTF-8 byte, a python tag, cut short, a merge key), or junk outright.

    A mapping always sets ``dataset`` (toy-disks or a bad value): the default, lidc-phantom,
    takes ~20 s to build when a reader noise model asks for it."""
    import yaml

    kind = draw(st.sampled_from(["mapping"] * 8 + ["junk", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=60))
    if kind == "junk":
        return yaml.safe_dump(draw(JUNK_VALUE), allow_unicode=True).encode()
    values = yaml_values(pools)
    document: dict[Any, Any] = {"dataset": draw(values["dataset"])}
    for _ in range(draw(st.integers(0, 5))):
        key = draw(st.sampled_from(sorted(values)))
        document[key] = draw(values[key])
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 3]))):
        key, value = draw(yaml_fault(pools, keys, aliases))
        document[key] = value
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    spoil = draw(st.sampled_from(["none"] * 5 + ["twice", "latin1", "tag", "cut", "merge"]))
    if spoil == "twice":
        first = text.split("\n")[0]
        text = f"{text}{first}\n"
    elif spoil == "tag":
        text += "extra: !!python/object/apply:os.system ['echo owned']\n"
    elif spoil == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif spoil == "merge":  # a merge key: its values may be overridden
        text = f"<<: {{noise: [0.4], seeds: [0, 1]}}\n{text}"
    data = text.encode()
    if spoil == "latin1":
        data = data + "noise_model: café\n".encode("latin-1")
    return data


# run stores ------------------------------------------------------------------------

STORE_NAMES = ["result.json", "failed.json", "spec.json", "cases.parquet", "curve.parquet"]
STORE_NAMES += ["noise.parquet", "predictions.npz", "noisy_example.npz", "notes.txt"]
#: numbers no metric of a case holds (a run with one is damaged: skipped by a report)
ODD_NUMBERS = [float("nan"), float("inf"), -float("inf"), -1.0, 0.5, 2.0, 1e6, 1e308, -1e308]
#: a number as a record's other tables and fields may hold it: in range, at the edges,
#: NaN, infinite, negative, near the largest float
METRIC = st.floats(0, 1) | st.sampled_from([0.0, 1.0, *ODD_NUMBERS])
#: a case's score (DSC, IoU) as rmdbench writes it: in [0, 1], or NaN (undefined)
SCORE = st.floats(0, 1) | st.sampled_from([0.0, 1.0, float("nan")])
#: a case's surface distance as rmdbench writes it (the diagonal penalty is 45.25 px)
DISTANCE = st.floats(0, 100) | st.sampled_from([0.0, 45.25, float("nan")])
#: a 0/1 flag per case, as a number
FLAG = st.sampled_from([0.0, 1.0])
CASES = "cases.parquet"
#: how many rows a cases table has: seldom none (a run without cases is damaged)
CASE_ROWS = [0, 1, 1, 2, 2, 3, 3, 4, 4]
#: the tables of a run as rmdbench writes them: column -> strategy of one cell
TABLES = {
    "cases.parquet": {
        "case_id": st.sampled_from(["toy-041", "toy-042", "", "ü"]),
        "dsc": SCORE,
        "iou": SCORE,
        "hd95": DISTANCE,
        "assd": DISTANCE,
        "empty_both": FLAG,
        "empty_one": FLAG,
        "hd_unit": st.sampled_from(["mm", "px", ""]),
    },
    "curve.parquet": {
        "loss": METRIC,
        "epoch": st.integers(0, 3),
        "lr": METRIC,
        "val_dsc": METRIC,
        "seconds": METRIC,
    },
    "noise.parquet": {
        "case_id": st.sampled_from(["toy-000", "toy-001"]),
        "corrupted": st.booleans(),
        "noise_model": st.sampled_from(["distortion", ""]),
        "noisy_dsc": METRIC,
        "noisy_hd95": METRIC,
        "flipped_fraction": METRIC,
    },
}
CELL = (
    st.none()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-5, 5)
    | st.text(max_size=4)
    | st.booleans()
)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()


def parquet_bytes(columns: dict[str, list]) -> bytes:
    """A parquet file of the given columns (a column of mixed types is stored as text)."""
    import io

    import pandas as pd

    frame = pd.DataFrame(columns)
    for column in frame.columns:
        kinds = {type(value) for value in frame[column]}
        if len(kinds) > 1 or kinds & {dict, list}:
            frame[column] = frame[column].map(repr)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


@st.composite
def table(draw: Any, name: str = "cases.parquet") -> bytes:
    """A record table: as rmdbench writes it (any number of rows: a cases table of none is
    rare), with a column dropped, retyped (any cells), spoiled (a number no case holds) or
    added, or bytes that are not parquet."""
    kind = draw(st.sampled_from(["written"] * 7 + ["changed", "changed", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=30))
    rows = draw(st.sampled_from(CASE_ROWS) if name == CASES else st.integers(0, 4))
    columns = {column: [draw(cell) for _ in range(rows)] for column, cell in TABLES[name].items()}
    if kind == "changed":
        column = draw(st.sampled_from(sorted(columns)) | st.text(max_size=4))
        change = draw(st.sampled_from(["drop", "retype", "spoil"]))
        if change == "drop":
            columns.pop(column, None)
        elif change == "retype":
            columns[column] = [draw(CELL) for _ in range(rows)]
        else:
            cells = columns.setdefault(column, [0.0] * rows)
            for row in draw(st.lists(st.integers(0, max(rows - 1, 0)), max_size=rows)):
                cells[row] = draw(st.sampled_from(ODD_NUMBERS))
    return parquet_bytes(columns)


def spec_edit(base: dict) -> st.SearchStrategy:
    """One change to a real run's spec: a field dropped, an unknown field added, a field
    given any JSON (another type), a text field given other text, a number another number
    of its kind (a noise ratio out of range, huge, NaN), a mapping another key (with any
    JSON). A record whose spec is not one rmdbench writes is damaged: a report skips it."""
    fields = sorted(base)
    texts = sorted(key for key, value in base.items() if isinstance(value, str))
    mappings = sorted(key for key, value in base.items() if isinstance(value, dict))
    ratios = st.floats(-1, 2) | st.sampled_from([0, 1, 1e308, float("nan"), float("inf")])
    return st.one_of(
        st.tuples(st.sampled_from(fields), st.just(DROP)),
        st.tuples(st.text(max_size=5).filter(lambda key: key not in base), STORE_JUNK),
        st.tuples(st.sampled_from(fields), STORE_JUNK),
        st.tuples(st.sampled_from(texts), st.text(max_size=6)),
        st.tuples(st.just("noise_ratio"), ratios),
        st.tuples(st.just("seed"), st.integers(-(2**70), 2**70)),
        st.tuples(
            st.sampled_from(mappings),
            st.dictionaries(st.text(max_size=5), STORE_JUNK, max_size=2).map(Merge),
        ),
    )


#: a spec edit's value that drops the field
DROP = object()


class Merge(dict):
    """A spec edit's value merged into the field's mapping (not replacing it)."""


def spec_with_faults(base: dict) -> st.SearchStrategy:
    """A real run's spec, unchanged or with one or two ``spec_edit`` changes."""
    count = st.sampled_from([0, 0, 1, 1, 2])
    edits = count.flatmap(lambda n: st.lists(spec_edit(base), min_size=n, max_size=n))
    return edits.map(lambda changes: _edited(base, changes))


def _edited(base: dict, edits: list[tuple[str, Any]]) -> dict:
    spec = json.loads(json.dumps(base, default=str))
    for key, value in edits:
        if value is DROP:
            spec.pop(key, None)
        elif isinstance(value, Merge) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


@dataclass(frozen=True)
class StoreEntry:
    """One thing written in a generated store: a file (``content``), a folder, or a link
    (``target``), at ``path`` under the store."""

    path: str
    content: bytes | None = None
    target: str | None = None


#: the fields of a result.json beyond the name and the spec, as rmdbench writes them
RECORD_FIELDS = {
    "timings": st.fixed_dictionaries({"seconds_per_iteration": METRIC, "total_seconds": METRIC}),
    "noise": st.fixed_dictionaries({"mean_noisy_dsc": METRIC, "mean_train_dsc": METRIC}),
    "conventions": st.sampled_from(["Metrics per case.", ""]),
    "summary": st.fixed_dictionaries({"dsc": METRIC, "hd95": METRIC}),
    "status": st.just("done"),
}


@st.composite
def consistent_run(draw: Any, base_spec: dict, planned: str) -> list[StoreEntry]:
    """A run directory whose result.json passes the identity check (its spec hashes to the
    directory's name) and whose tables open: what a reader trusts. Its spec, fields and
    tables are as rmdbench writes them or hold a fault (``spec_with_faults``, ``table``).
    Named as ``planned`` (the run of ``base_spec``) is: the very run when nothing changed."""
    from rmdbench.store import spec_key

    spec = json.loads(json_bytes(draw(spec_with_faults(base_spec))))  # as read back
    seed = draw(st.integers(0, 3))
    if isinstance(spec.get("seed"), int):
        spec["seed"] = seed  # distinct runs, not duplicates of one another
    if isinstance(spec.get("method"), str):
        spec["method"] = draw(st.sampled_from(["single", "rmd", spec["method"]]))
    name = f"{planned.rsplit('-', 1)[0]}-{spec_key(spec)}"
    record = {"run_name": name, "spec": spec}
    for field_name, value in RECORD_FIELDS.items():
        if draw(st.integers(0, 5)):
            record[field_name] = draw(value if draw(st.integers(0, 4)) else STORE_JUNK)
    entries = [StoreEntry(f"{name}/result.json", json_bytes(record))]
    for table_name in TABLES:
        if draw(st.integers(0, 19)):  # now and then a table is missing
            entries.append(StoreEntry(f"{name}/{table_name}", draw(table(table_name))))
    return entries


@st.composite
def store_entries(draw: Any, base_spec: dict, planned: list[str]) -> list[StoreEntry]:
    """A whole store: runs named as the plan names them or not, records that pass the
    identity check, the store's own folders (or files in their place), links, and in
    each file JSON, parquet or bytes."""
    run_names = st.sampled_from(planned) | st.sampled_from(["run-a", ".hidden", "ü-run", "x y"])
    file_names = st.sampled_from(STORE_NAMES)
    content = st.one_of(
        st.binary(max_size=40),
        STORE_JUNK.map(json_bytes),
        st.builds(lambda error: json_bytes({"error": error}), STORE_JUNK),
        st.builds(lambda runs: json_bytes({"runs": runs}), STORE_JUNK),
        table(),
    )
    entries: list[StoreEntry] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(
            st.sampled_from(
                ["runfile"] * 3
                + ["consistent"] * 3
                + ["plan", "lock", "staging", "damaged", "folder", "link", "toplevel"]
            )
        )
        if kind == "runfile":
            entries.append(StoreEntry(f"{draw(run_names)}/{draw(file_names)}", draw(content)))
        elif kind == "consistent":
            entries.extend(draw(consistent_run(base_spec, planned[0])))
        elif kind == "plan":
            name = draw(st.sampled_from(["a", "b.tmp", ".c"]))
            entries.append(StoreEntry(f".plans/{name}.json", draw(content)))
        elif kind == "lock":
            entries.append(StoreEntry(f".locks/{draw(run_names)}.lock", draw(content)))
        elif kind == "staging":
            name = draw(st.sampled_from([f"{planned[0]}.abc", f"{planned[0]}.trash-1", "x"]))
            entries.append(StoreEntry(f".staging/{name}/result.json", draw(content)))
        elif kind == "damaged":
            entries.append(StoreEntry(f".damaged/{draw(run_names)}-1/result.json", draw(content)))
        elif kind == "folder":  # a folder where a file is expected
            entries.append(StoreEntry(f"{draw(run_names)}/{draw(file_names)}/.keep", b""))
        elif kind == "link":
            where = f"{planned[0]}/result.json", "loop", f"{planned[0]}/cases.parquet"
            target = ".", "..", "missing", "/dev/null", "../afile.txt", "loop"
            entries.append(
                StoreEntry(
                    draw(st.sampled_from([*where, ".locks/z.lock"])),
                    target=draw(st.sampled_from(target)),
                )
            )
        else:  # a file at the top of the store, maybe where a run or a folder should be
            name = draw(st.sampled_from([planned[0], ".locks", ".plans", ".staging-old-1"]))
            entries.append(StoreEntry(name, draw(content)))
    return entries


@st.composite
def report_store(draw: Any, base_spec: dict, planned: list[str]) -> list[StoreEntry]:
    """A store a report gets far into: one to three records that pass the identity check,
    maybe a few entries of ``store_entries`` around them."""
    runs = draw(st.lists(consistent_run(base_spec, planned[0]), min_size=1, max_size=3))
    around = draw(st.none() | store_entries(base_spec, planned))
    return [entry for run in runs for entry in run] + (around or [])


def write_store(root: Path, entries: list[StoreEntry]) -> None:
    """Write the entries (one that cannot be written where an earlier one stands, a file
    under a file, is skipped)."""
    root.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        path = root / entry.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if entry.target is not None:
                if not os.path.lexists(path):
                    path.symlink_to(entry.target)
            elif not path.is_dir():
                path.write_bytes(entry.content or b"")
        except OSError:
            continue


def text_of_entries(entries: list[StoreEntry]) -> str:
    """Entries, short, for a failure message."""
    return "; ".join(
        f"{entry.path} -> {entry.target}"
        if entry.target
        else f"{entry.path}: {(entry.content or b'')[:200]!r}"
        for entry in entries
    )
