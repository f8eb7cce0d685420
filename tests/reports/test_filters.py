"""The ``--filter`` mini-language (reports.filters) on a hand-made tidy frame: operators,
alternatives, numbers as numbers, case, missing fields, and the errors that name the fix."""

from __future__ import annotations

import pandas as pd
import pytest

from rmdbench.errors import UserError
from rmdbench.reports.filters import apply_filters, parse_filter


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": ["a", "b", "c", "d"],
            "method": ["single", "rmd", "rmd", "coteaching"],
            "noise_ratio": [0.0, 0.4, 0.8, 0.8],
            "seed": [0, 1, 0, 2],
            "method.distill": [None, True, False, None],
            "noise.radius": ["1-2", "1-2", "2-6", "2-6"],
        },
        index=[10, 11, 12, 13],
    )


def kept(frame: pd.DataFrame, *filters: str) -> list[str]:
    return list(apply_filters(frame, list(filters))["run"])


def test_parse_filter_reads_both_operators_and_trims():
    assert parse_filter("noise_model=erosion_dilation") == ("noise_model", "=", "erosion_dilation")
    assert parse_filter(" method != rmd ") == ("method", "!=", "rmd")
    assert parse_filter("seed=0|1") == ("seed", "=", "0|1")
    assert parse_filter("method.distill=") == ("method.distill", "=", "")
    for text in ("no operator", "=rmd", " = 0"):
        with pytest.raises(UserError, match="write COLUMN=VALUE or COLUMN!=VALUE"):
            parse_filter(text)


def test_values_match_as_numbers_or_as_written(frame):
    assert kept(frame, "noise_ratio=0.40") == ["b"]  # numbers compare as numbers
    assert kept(frame, "noise_ratio=0|0.8") == ["a", "c", "d"]  # alternatives with |
    assert kept(frame, "seed=0 | 2") == ["a", "c", "d"]
    assert kept(frame, "method=RMD") == ["b", "c"]  # case does not matter
    assert kept(frame, "method.distill=false") == ["c"]  # booleans as on the command line
    assert kept(frame, "noise.radius=2-6") == ["c", "d"]  # lists as written


def test_negation_missing_fields_and_several_filters(frame):
    assert kept(frame, "method!=rmd") == ["a", "d"]
    assert kept(frame, "noise_ratio!=0|0.8") == ["b"]
    assert kept(frame, "method.distill=") == ["a", "d"]  # a field the run does not have
    assert kept(frame, "method.distill=none") == ["a", "d"]
    assert kept(frame, "method.distill!=none") == ["b", "c"]
    assert kept(frame, "noise_ratio=0.8", "method!=coteaching") == ["c"]  # every one must match
    assert list(apply_filters(frame, ["method=rmd"]).index) == [0, 1]
    assert apply_filters(frame, []).equals(frame.reset_index(drop=True))


def test_unknown_columns_and_empty_results_name_what_exists(frame):
    with pytest.raises(UserError, match="unknown column 'colour'; columns: run, method"):
        apply_filters(frame, ["colour=red"])
    with pytest.raises(
        UserError, match="'method=jocor' matches no runs; 'method' takes the values: "
        "coteaching, rmd, single"
    ):  # fmt: skip
        apply_filters(frame, ["method=jocor"])
    with pytest.raises(UserError, match="'noise_ratio' takes the values: 0, 0.4, 0.8"):
        apply_filters(frame, ["noise_ratio=0.5"])
