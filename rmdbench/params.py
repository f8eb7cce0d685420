"""Declared parameters: the ``name[key=value,...]`` syntax of the command line, and
typed construction of a plug-in's frozen ``Params`` dataclass from it."""

from __future__ import annotations

import dataclasses
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
    origin = typing.get_origin(annotation)
    optional = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if isinstance(value, int) and not isinstance(value, bool):
        # a YAML or Python 0 for a float field is 0.0: one value, one label, one run hash
        return float(value) if float in (annotation, *optional) else value
    if not isinstance(value, str):
        return value
    if origin in (typing.Union, types.UnionType) and len(optional) == 1:
        return None if value.lower() == "none" else _coerce(value, optional[0], where)
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
    if origin is tuple:
        item_type = typing.get_args(annotation)[0]
        items = [item for item in re.split(r"[-:/ ]+", value) if item]
        return tuple(_coerce(item, item_type, where) for item in items)
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise UserError(f"{where} must be one of {', '.join(choices)}, got '{value}'")
    return value


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
