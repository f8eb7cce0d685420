"""Every sweep option, and the YAML sweep file that sets them.

The fields of ``SweepConfig`` and their type annotations are the schema: a value from a
sweep file (or a command-line flag) is checked and converted by its field's type, through
``VALUE_TYPES``. Adding an option is adding a field.
"""

from __future__ import annotations

import difflib
import functools
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, NewType

from rmdbench.errors import OptionError, SweepFileError
from rmdbench.noise import parse_noise_ratios
from rmdbench.sweep.plan import Component, flag, split_list

#: a name; one string may hold several, comma-separated: 'lidc-phantom,toy-disks'
Name = NewType("Name", str)
#: a fraction of corrupted training masks in [0, 1]; one string may hold several: '0,0.4'
NoiseRatio = NewType("NoiseRatio", float)
#: text that a sweep file may write as a number: a time (90) or a size (32)
Text = NewType("Text", str)

SLURM_PREFIX = "slurm_"


@dataclass
class SweepConfig:
    """Every sweep option. A YAML file (``--config``) and the command line fill the same
    fields: defaults, then the file, then each flag given on the command line."""

    dataset: list[Name] = field(default_factory=lambda: ["lidc-phantom"])
    noise_model: list[Component] = field(default_factory=lambda: ["distortion"])
    noise: list[NoiseRatio] = field(default_factory=lambda: [0.8])
    methods: list[Component] = field(default_factory=lambda: ["single", "coteaching", "rmd"])
    seeds: list[int] = field(default_factory=lambda: [0])
    profile: str = "quick"
    precision: str | None = None  # None: the profile's; fp32 or bf16 changes that field
    backbone: str | None = None  # None: the profile's (the paper's U-Net unless it says)
    out: Path = Path("runs")
    device: str = "auto"
    cache_dir: Path | None = None
    plugin: list[Path] = field(default_factory=list)
    executor: str | None = None  # None: slurm if a slurm option is set, local if --workers
    workers: int | None = None
    retry_failed: bool = False
    checkpoint_every: int = 0  # epochs between saved training states; 0 = off
    pack: Text | None = None  # runs per pack (a number, or auto: 8 on a GPU, 1 on CPU)
    # the slurm_* options: SlurmOptions has the same fields without the prefix
    slurm_partition: str | None = None
    slurm_time: Text | None = None
    slurm_gpus: int | None = None
    slurm_cpus: int | None = None
    slurm_mem: Text | None = None
    slurm_account: str | None = None
    slurm_qos: str | None = None
    slurm_constraint: str | None = None
    slurm_setup: list[str] = field(default_factory=list)
    slurm_cluster: str | None = None
    detach: bool = False

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        allow_plugins: bool = False,
    ) -> SweepConfig:
        """The defaults, then the sweep file at ``path``, then ``overrides`` (the flags
        given on the command line; read like the file's values, paths as given).

        A sweep file's ``plugin`` key names code to run: it is refused unless
        ``allow_plugins`` (``--allow-plugins``), so that reading, or dry-running, a sweep
        file someone sent runs nothing. A plug-in named in ``overrides`` (``--plugin`` on
        the command line) is asked for by the user and needs no permission."""
        config = cls()
        if path is not None:
            values = read_sweep_file(path)
            if values.get("plugin") and not allow_plugins:
                raise SweepFileError(
                    f"sweep file '{path}' names plug-in code to run "
                    f"(plugin: {', '.join(str(item) for item in values['plugin'])}); "
                    "run it only if you trust it, with --allow-plugins",
                    Path(path),
                    "plugin",
                )
            config.update(values)
        config.update({key: read_value(key, value) for key, value in (overrides or {}).items()})
        return config

    def update(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            setattr(self, key, value)

    def slurm_values(self) -> dict[str, Any]:
        """The slurm_* options without the prefix: {'partition': ..., 'time': ...}."""
        return {
            item.name.removeprefix(SLURM_PREFIX): getattr(self, item.name)
            for item in fields(self)
            if item.name.startswith(SLURM_PREFIX)
        }

    def slurm_options_given(self) -> list[str]:
        """The --slurm-* flags (and --detach) that were set, as flags."""
        given = [
            SLURM_PREFIX + name
            for name, value in self.slurm_values().items()
            if value not in (None, [])
        ]
        if self.detach:
            given.append("detach")
        return [flag(name) for name in given]


def config_keys() -> list[str]:
    return [item.name for item in fields(SweepConfig)]


#: the axes of the grid, none of which may be empty (that is a grid of 0 runs), and what
#: to give
GRID_AXES = {
    "dataset": "one dataset, e.g. --dataset lidc-phantom",
    "noise_model": "one noise model, e.g. --noise-model distortion",
    "noise": "one noise ratio, e.g. --noise 0.8",
    "methods": "one method, e.g. --methods single,rmd",
    "seeds": "one seed, e.g. --seeds 0",
}


CONFIG_ALIASES = {
    "datasets": "dataset",
    "noise_models": "noise_model",
    "noise_ratios": "noise",
    "method": "methods",
    "seed": "seeds",
    "plugins": "plugin",
}


# reading values by type --------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_component(value: Any) -> bool:
    """'name[key=value]', or a mapping {name: {key: value} or null, ...}."""
    if isinstance(value, dict):
        return all(
            isinstance(name, str) and (params is None or isinstance(params, dict))
            for name, params in value.items()
        )
    return isinstance(value, str)


def _components(value: str | dict, base: Path | None) -> list[Component]:
    if isinstance(value, str):
        return list(split_list([value]))
    return [
        (
            name,
            {
                str(option): tuple(setting) if isinstance(setting, list) else setting
                for option, setting in (params or {}).items()
            },
        )
        for name, params in value.items()
    ]


def _path(value: str | os.PathLike, base: Path | None) -> Path:
    """A path from a sweep file is relative to the file; one from the command line is
    taken as given."""
    return Path(value) if base is None else base / Path(value).expanduser()


@dataclass(frozen=True)
class ValueType:
    """How a value of one type is written and read. ``several``: one written value may
    give several (a comma-separated string of names)."""

    one: str  # what it expects, for an error: "an integer"
    many: str  # the same for a list: "integers"
    accepts: Callable[[Any], bool]
    read: Callable[[Any, Path | None], Any] = lambda value, base: value
    several: bool = False


VALUE_TYPES: dict[Any, ValueType] = {
    str: ValueType("a string", "strings", lambda value: isinstance(value, str)),
    int: ValueType("an integer", "integers", _is_integer),
    bool: ValueType("true or false", "true or false", lambda value: isinstance(value, bool)),
    Path: ValueType("a path", "paths", lambda value: isinstance(value, str | os.PathLike), _path),
    Text: ValueType(
        "a time or size",
        "times or sizes",
        lambda value: isinstance(value, str) or _is_number(value),
        lambda value, base: str(value),
    ),
    Name: ValueType(
        "a name",
        "names",
        lambda value: isinstance(value, str),
        lambda value, base: split_list([value]),
        several=True,
    ),
    NoiseRatio: ValueType(
        "a number in [0, 1]",
        "numbers in [0, 1]",
        lambda value: isinstance(value, str) or _is_number(value),
        lambda value, base: parse_noise_ratios([value]),
        several=True,
    ),
    Component: ValueType(
        "a name or name: {parameter: value}",
        "names or name: {parameter: value}",
        _is_component,
        _components,
        several=True,
    ),
}


class _Mismatch(Exception):
    def __init__(self, expects: str) -> None:
        self.expects = expects


def _read_typed(annotation: Any, value: Any, base: Path | None) -> Any:
    """``value`` as ``annotation`` (a VALUE_TYPES key, ``X | None`` or ``list[X]``)."""
    optional = typing.get_origin(annotation) in (typing.Union, UnionType)
    if optional and NoneType in typing.get_args(annotation):  # X | None
        if value is None:
            return None
        (annotation,) = (item for item in typing.get_args(annotation) if item is not NoneType)
    if typing.get_origin(annotation) is list:
        kind = VALUE_TYPES[typing.get_args(annotation)[0]]
        items = value if isinstance(value, list) else [value]
        if not all(kind.accepts(item) for item in items):
            raise _Mismatch(kind.many)
        read = [kind.read(item, base) for item in items]
        return [part for parts in read for part in parts] if kind.several else read
    kind = VALUE_TYPES[annotation]
    if not kind.accepts(value):
        raise _Mismatch(kind.one)
    return kind.read(value, base)


def read_value(key: str, value: Any, source: Path | None = None) -> Any:
    """One value of the SweepConfig field ``key``, checked and converted by the field's
    type. ``source``: the sweep file it comes from (relative paths are relative to it)."""
    if key not in _field_types():
        raise OptionError(f"unknown sweep option '{key}'; known: {', '.join(config_keys())}", key)
    annotation = _field_types()[key]
    try:
        read = _read_typed(annotation, value, None if source is None else Path(source).parent)
    except _Mismatch as mismatch:
        if source is None:
            raise OptionError(f"'{key}' expects {mismatch.expects}, got {value!r}", key) from None
        raise SweepFileError(
            f"sweep file '{source}': '{key}' expects {mismatch.expects}, got {value!r}",
            source,
            key,
        ) from None
    if key in GRID_AXES and read == []:  # '--methods ""' or 'seeds: []': a grid of 0 runs
        if source is None:
            raise OptionError(f"{flag(key)} is empty; give at least {GRID_AXES[key]}", key)
        raise SweepFileError(
            f"sweep file '{source}': '{key}' is empty; give at least {GRID_AXES[key]}",
            source,
            key,
        )
    return read


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(SweepConfig)


# the sweep file ----------------------------------------------------------------------


class _DuplicateKey(Exception):
    """A key written twice in one YAML mapping (YAML itself would keep the last)."""

    def __init__(self, key: object, first_line: int, line: int) -> None:
        super().__init__(key)
        self.key, self.first_line, self.line = key, first_line, line


@functools.cache
def _strict_loader() -> type:
    """yaml.SafeLoader that refuses a key written twice in one mapping: 'noise: 0.8' on
    line 3 silently replaced by 'noise: 0' on line 30 is a sweep the author did not mean.
    (Merge keys, '<<: *base', may still be overridden.)"""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:  # an unhashable key: SafeLoader says so itself
                    continue
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
            return super().construct_mapping(node, deep)

    return StrictLoader


def _load_yaml(path: Path) -> Any:
    """The YAML document of a sweep file, or a SweepFileError: unreadable, not UTF-8, not
    YAML, or a key written twice."""
    import yaml

    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SweepFileError(f"cannot read sweep file '{path}' ({error.strerror})", path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SweepFileError(
            f"sweep file '{path}' is not UTF-8 text (byte 0x{raw[error.start]:02x} on line "
            f"{line}); save it as UTF-8",
            path,
        ) from None
    try:
        return yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a SafeLoader
    except _DuplicateKey as duplicate:
        raise SweepFileError(
            f"sweep file '{path}' sets '{duplicate.key}' twice (lines {duplicate.first_line} "
            f"and {duplicate.line}); keep one",
            path,
            str(duplicate.key),
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise SweepFileError(
            f"sweep file '{path}' is not valid YAML{where}: {problem}", path
        ) from None


def read_sweep_file(path: Path) -> dict[str, Any]:
    """The options a YAML sweep file sets, checked and converted. Relative paths in it are
    relative to the file, so a sweep file means the same from any directory."""
    path = Path(path)
    loaded = _load_yaml(path)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SweepFileError(f"sweep file '{path}' must be a mapping of option: value", path)
    known = config_keys()
    values: dict[str, Any] = {}
    for raw_key, value in loaded.items():
        key = CONFIG_ALIASES.get(str(raw_key).replace("-", "_"), str(raw_key).replace("-", "_"))
        if key not in known:
            close = difflib.get_close_matches(key, [*known, *CONFIG_ALIASES], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SweepFileError(
                f"unknown key '{raw_key}' in sweep file '{path}'{hint}; "
                f"known keys: {', '.join(known)}",
                path,
                str(raw_key),
            )
        if key in values:
            raise SweepFileError(
                f"sweep file '{path}' sets '{key}' twice (through an alias)", path, key
            )
        values[key] = read_value(key, value, path)
    return values
