"""Search dimensions: draws inside their ranges, reproducible from a seed; a space that
does not fit its Params is refused as one line naming the fix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from rmdbench.api import (
    Choice,
    IntUniform,
    LogUniform,
    SearchSpaceError,
    Uniform,
    check_search_space,
)
from rmdbench.plugins import load_builtins
from rmdbench.registry import METHODS


@dataclass(frozen=True)
class RateParams:
    rate: float = 0.1
    width: int = 4
    mode: str = "a"

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {self.rate}")


DIMENSIONS = [
    LogUniform(1e-3, 0.2),
    Uniform(0.05, 0.95),
    IntUniform(2, 5),
    Choice("paper", "released", "other"),
]


@pytest.mark.parametrize("dimension", DIMENSIONS, ids=lambda d: type(d).__name__)
def test_draws_stay_inside_the_range_and_repeat_from_a_seed(dimension):
    rng, again = np.random.default_rng(7), np.random.default_rng(7)
    values = [dimension.draw(rng) for _ in range(300)]
    assert values == [dimension.draw(again) for _ in range(300)]
    if isinstance(dimension, Choice):
        assert set(values) == set(dimension.values)  # every value is reachable
        return
    assert all(dimension.low <= value <= dimension.high for value in values)
    assert len(set(values)) > 3  # not stuck on one value
    if isinstance(dimension, IntUniform):
        assert set(values) == {2, 3, 4, 5} and all(type(value) is int for value in values)


def test_log_uniform_spreads_over_orders_of_magnitude_and_keeps_three_digits():
    rng = np.random.default_rng(0)
    values = np.array([LogUniform(1e-3, 10).draw(rng) for _ in range(2000)])
    decades = np.histogram(np.log10(values), bins=[-3, -2, -1, 0, 1])[0]
    assert decades.min() > 350  # ~500 per decade: uniform in the log, not in the value
    assert all(float(f"{value:.3g}") == value for value in values)


@pytest.mark.parametrize(
    "space, message",
    [
        (
            {"speed": Uniform(0.1, 0.2)},
            "'speed': not a parameter of the method; its parameters are: rate, width, mode",
        ),
        ({"rate": Uniform(0.5, 0.5)}, "the range is empty (low 0.5 >= high 0.5); give low < high"),
        ({"rate": Uniform(0.6, 0.2)}, "the range is empty (low 0.6 >= high 0.2)"),
        (
            {"rate": LogUniform(0.0, 0.5)},
            "a log range must lie above 0, got (0, 0.5); give low > 0",
        ),
        ({"rate": LogUniform(-0.1, 0.5)}, "a log range must lie above 0"),
        (
            {"rate": LogUniform(1e-3, 2.0)},
            "the Params refuse rate=2.0 (rate must be in [0, 1), got 2.0); narrow the range",
        ),
        ({"rate": Uniform(-0.5, 0.5)}, "the Params refuse rate=-0.5"),
        ({"width": IntUniform(1.5, 3)}, "IntUniform takes integers"),
        ({"width": LogUniform(1, 8)}, "the Params refuse width=1.0"),
        ({"mode": Choice("a")}, "a Choice needs at least two values"),
        ({"rate": 0.3}, "0.3 is not a dimension; use LogUniform, Uniform, IntUniform or Choice"),
    ],
)
def test_a_bad_space_is_one_line_naming_the_fix(space, message):
    with pytest.raises(SearchSpaceError) as caught:
        check_search_space(RateParams, space, "method 'mine'")
    text = str(caught.value)
    assert message in text and text.startswith("method 'mine' search space")
    assert "\n" not in text and caught.value.key == next(iter(space))


def test_a_good_space_passes():
    space = {"rate": LogUniform(1e-3, 0.5), "width": IntUniform(1, 8), "mode": Choice("a", "b")}
    check_search_space(RateParams, space, "method 'mine'")


def test_every_built_in_method_declares_a_space_that_fits():
    load_builtins()
    declared = {
        entry.name: entry.factory.search_space for entry in METHODS if entry.origin == "rmdbench"
    }
    for name, space in declared.items():
        check_search_space(METHODS.get(name).Params, space, f"method '{name}'")
    assert declared["single"] == {}
    assert declared["coteaching"] == {"forget_rate": LogUniform(1e-3, 0.2)}
    assert declared["trinet"] == {"forget_rate": LogUniform(1e-3, 0.2)}
    assert declared["jocor"] == {
        "forget_rate": LogUniform(1e-3, 0.2),
        "co_lambda": Uniform(0.05, 0.95),
    }
    assert declared["rmd"] == {
        "forget_rate": LogUniform(1e-3, 0.2),
        "distill_weight": LogUniform(1e-3, 10),
        "reliable_fraction": Uniform(0.3, 1.0),
    }
