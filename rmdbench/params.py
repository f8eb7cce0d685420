"""Declared parameters: the ``name[key=value,...]`` syntax of the command line, and
typed construction of a plug-in's frozen ``Params`` dataclass from it."""

from __future__ import annotations

import dataclasses
import numbers
import re
import types
import typing
from typing import Any

from rmdbench.errors import UserError

_COMPONENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[(.*)\])?\s*$")
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets: 'a,b[x=1,y=2]' -> ['a', 'b[x=1,y=2]']."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def parse_component(text: str) -> tuple[str, dict[str, str]]:
    """'rmd[distill=false]' -> ('rmd', {'distill': 'false'})."""
    match = _COMPONENT.match(text)
    if not match:
        raise UserError(f"cannot read '{text}'; write NAME or NAME[key=value,...]")
    name, body = match.group(1), match.group(2)
    options: dict[str, str] = {}
    for item in split_top_level(body or ""):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"cannot read '{item}' in '{text}'; write key=value")
        options[key.strip()] = value.strip()
    return name, options


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """``value`` as the field type ``annotation``: text (the command line) is converted,
    any other value (YAML, JSON, Python) is checked, so a wrong type is a one-line error
    and not a run variant of its own ('distill: 3' is neither true nor false)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        is_none = value is None or (isinstance(value, str) and value.lower() == "none")
        if is_none and len(options) < len(typing.get_args(annotation)):
            return None
        return _coerce(value, options[0], where) if len(options) == 1 else value
    if isinstance(value, str):
        return _from_text(value, annotation, where)
    return _checked(value, annotation, where)


def _from_text(value: str, annotation: Any, where: str) -> Any:
    """Command-line text as ``annotation``: 'false', '3', '1-2' (a range), a choice."""
    if annotation is bool:
        lowered = value.lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise UserError(f"{where} expects true or false, got '{value}'")
    if annotation in (int, float):
        try:
            return annotation(value)
        except ValueError:
            kind = "an integer" if annotation is int else "a number"
            raise UserError(f"{where} expects {kind}, got '{value}'") from None
    if typing.get_origin(annotation) is tuple:
        item_type = typing.get_args(annotation)[0]
        items = [item for item in re.split(r"[-:/ ]+", value) if item]
        return tuple(_coerce(item, item_type, where) for item in items)
    _check_choice(value, annotation, where)
    return value


def _checked(value: Any, annotation: Any, where: str) -> Any:
    """A value that is not text, checked against ``annotation``: a bool field takes only
    true/false, an int field only integers (not bools), a float field integers or floats
    (an integer becomes a float: one value, one label, one run hash), a Literal only its
    choices, a tuple a list of its item type (or one item, a range low = high). Other
    annotations take the value as given."""
    is_bool = isinstance(value, bool)
    if annotation is bool:
        if not is_bool:
            raise UserError(f"{where} expects true or false, got {value!r}")
        return value
    if annotation is int:
        if is_bool or not isinstance(value, numbers.Integral):
            raise UserError(f"{where} expects an integer, got {value!r}")
        return int(value)
    if annotation is float:
        if is_bool or not isinstance(value, numbers.Real):
            raise UserError(f"{where} expects a number, got {value!r}")
        return float(value)
    if annotation is str:
        raise UserError(f"{where} expects text, got {value!r}")
    if typing.get_origin(annotation) is tuple:
        item_type = typing.get_args(annotation)[0]
        if isinstance(value, list | tuple):
            return tuple(_coerce(item, item_type, where) for item in value)
        return _coerce(value, item_type, where)
    _check_choice(value, annotation, where)
    return value


def _check_choice(value: Any, annotation: Any, where: str) -> None:
    """A Literal field takes only its choices."""
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            shown = ", ".join(str(choice) for choice in choices)
            got = f"'{value}'" if isinstance(value, str) else repr(value)
            raise UserError(f"{where} must be one of {shown}, got {got}")


def build_params(params_class: type, overrides: dict[str, Any], owner: str) -> Any:
    """An instance of ``params_class`` with ``overrides`` (strings are converted to the
    declared field types); an unknown key or a bad value is a one-line UserError."""
    hints = typing.get_type_hints(params_class)
    names = [field.name for field in dataclasses.fields(params_class)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise UserError(
            f"{owner} has no parameter {', '.join(unknown)}; its parameters are: "
            f"{', '.join(names) or 'none'}"
        )
    values = {
        key: _coerce(value, hints[key], f"{owner} parameter '{key}'")
        for key, value in overrides.items()
    }
    try:
        return params_class(**values)
    except (TypeError, ValueError) as error:
        raise UserError(f"{owner}: {error}") from None


def params_dict(params: Any) -> dict[str, Any]:
    """The resolved values, JSON-ready (tuples become lists)."""
    return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else {}
