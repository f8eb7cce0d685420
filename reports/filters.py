"""The ``--filter`` mini-language of ``rmdbench report``: ``COLUMN=VALUE`` keeps the rows of
the tidy frame where a column has that value, ``COLUMN!=VALUE`` drops them; ``|`` lists
alternatives (``seed=0|1``); numbers compare as numbers (``noise_ratio=0.40`` matches 0.4),
anything else as written (``method.distill=false``); an empty value or ``none`` matches a
field the run does not have. Every filter must match."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rmdbench.errors import UserError
from rmdbench.labels import format_value


def parse_filter(text: str) -> tuple[str, str, str]:
    """``'noise_model=erosion_dilation'`` -> (column, '=', value); ``!=`` negates."""
    for operator in ("!=", "="):
        column, sep, value = text.partition(operator)
        if sep and column.strip():
            return column.strip(), operator, value.strip()
    raise UserError(f"cannot read filter '{text}'; write COLUMN=VALUE or COLUMN!=VALUE")


def apply_filters(cases: pd.DataFrame, filters: list[str]) -> pd.DataFrame:
    """Keep the rows matching every ``COLUMN=VALUE`` (values may be listed with ``|``); an
    unknown column or a filter that leaves nothing is a UserError naming what exists."""
    for text in filters:
        column, operator, value = parse_filter(text)
        if column not in cases:
            known = [name for name in cases.columns if not name.startswith(("dsc_", "iou_"))]
            raise UserError(
                f"filter '{text}' names unknown column '{column}'; columns: {', '.join(known)}"
            )
        wanted = [item.strip() for item in value.split("|")]
        matches = _matches(cases[column], wanted)
        kept = cases[~matches] if operator == "!=" else cases[matches]
        if kept.empty:
            present = ", ".join(
                format_value(item) for item in sorted(cases[column].dropna().unique(), key=str)[:20]
            )
            raise UserError(
                f"filter '{text}' matches no runs; '{column}' takes the values: {present}"
            )
        cases = kept
    return cases.reset_index(drop=True)


def _matches(column: pd.Series, wanted: list[str]) -> pd.Series:
    """Compare as numbers when both sides are numbers, else as written on the command line;
    an empty value or ``none`` matches a field the run does not have."""
    result = pd.Series(False, index=column.index)
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    written = column.map(lambda value: "" if _missing(value) else format_value(value).lower())
    for item in wanted:
        number = _as_float(item)
        if item.lower() in ("", "none"):
            result |= written == ""
        elif number is not None and numeric:
            result |= np.isclose(column.astype(float), number)
        else:
            result |= written == item.lower()
    return result


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
