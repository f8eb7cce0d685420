"""Where a method's hyper-parameters may be tuned: declarative search dimensions, declared
next to the defaults (``search_space`` on the method class), and the check that a space
fits the method's ``Params``.

A benchmark that tunes only the new method, or nobody, compares a tuned method with
untuned ones. ``rmdbench tune`` gives every method the same number of configurations drawn
from its own declared space, so the space belongs to the method's author, in the method's
file, and is checked before anything trains: a range the ``Params`` would refuse fails as
one line, not as a failed run half-way through a tuning sweep.

Drawn numbers are rounded to ``SIGNIFICANT_DIGITS`` significant digits, so that the label a
run gets (``coteaching[forget_rate=0.0123]``) names its value exactly and a sweep file can
repeat it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from rmdbench.errors import UserError
from rmdbench.params import build_params

#: significant digits kept of a drawn number (``Uniform``, ``LogUniform``)
SIGNIFICANT_DIGITS = 3


class SearchSpaceError(UserError):
    """A search space that does not fit its ``Params``: an unknown key, an empty range, a
    log range that reaches 0, a value the ``Params`` refuse. ``owner``: whose space
    ("method 'rmd'"); ``key``: the parameter it is about."""

    def __init__(self, message: str, owner: str = "", key: str = "") -> None:
        super().__init__(message)
        self.owner = owner
        self.key = key


def _rounded(value: float, low: float, high: float) -> float:
    """``value`` to ``SIGNIFICANT_DIGITS`` significant digits, kept inside [low, high]."""
    return min(max(float(f"{value:.{SIGNIFICANT_DIGITS}g}"), low), high)


class Dimension:
    """One searchable parameter. ``draw(rng)`` gives a value; ``problem()`` says why the
    dimension itself is unusable ('' when it is not); ``ends()`` are the values a
    ``Params`` must accept for the dimension to fit it (the two ends of a range, every
    choice)."""

    def draw(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def problem(self) -> str:
        return ""

    def ends(self) -> tuple[Any, ...]:
        raise NotImplementedError


def _range_problem(low: float, high: float, integers: bool = False) -> str:
    numbers = (low, high)
    if integers and not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        return f"IntUniform takes integers, got ({low!r}, {high!r})"
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
        return f"the range takes numbers, got ({low!r}, {high!r})"
    if not all(math.isfinite(n) for n in numbers):
        return f"the range ({low:g}, {high:g}) is not finite"
    if low >= high:
        return f"the range is empty (low {low:g} >= high {high:g}); give low < high"
    return ""


@dataclasses.dataclass(frozen=True)
class Uniform(Dimension):
    """A number drawn uniformly from [low, high]: for weights and fractions of the same
    order of magnitude (``co_lambda``, ``reliable_fraction``)."""

    low: float
    high: float

    def draw(self, rng: np.random.Generator) -> float:
        return _rounded(float(rng.uniform(self.low, self.high)), self.low, self.high)

    def problem(self) -> str:
        return _range_problem(self.low, self.high)

    def ends(self) -> tuple[float, float]:
        return (float(self.low), float(self.high))


@dataclasses.dataclass(frozen=True)
class LogUniform(Dimension):
    """A number whose logarithm is uniform on [log low, log high]: for rates and weights
    that matter by orders of magnitude (``forget_rate``, ``distill_weight``). Both ends
    must be above 0."""

    low: float
    high: float

    def draw(self, rng: np.random.Generator) -> float:
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return _rounded(value, self.low, self.high)

    def problem(self) -> str:
        problem = _range_problem(self.low, self.high)
        if not problem and self.low <= 0:
            return (
                f"a log range must lie above 0, got ({self.low:g}, {self.high:g}); "
                "give low > 0, or use Uniform"
            )
        return problem

    def ends(self) -> tuple[float, float]:
        return (float(self.low), float(self.high))


@dataclasses.dataclass(frozen=True)
class IntUniform(Dimension):
    """An integer drawn uniformly from low, low + 1, ..., high (both included)."""

    low: int
    high: int

    def draw(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high, endpoint=True))

    def problem(self) -> str:
        return _range_problem(self.low, self.high, integers=True)

    def ends(self) -> tuple[int, int]:
        return (self.low, self.high)


@dataclasses.dataclass(frozen=True, init=False)
class Choice(Dimension):
    """One of a few values, each as likely: ``Choice("paper", "released")``,
    ``Choice(True, False)``."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", tuple(values))

    def draw(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def problem(self) -> str:
        if len(self.values) < 2:
            return f"a Choice needs at least two values, got {len(self.values)}"
        return ""

    def ends(self) -> tuple[Any, ...]:
        return self.values


def check_search_space(params_class: type, space: Mapping[str, Any], owner: str) -> None:
    """Refuse, as one-line ``SearchSpaceError`` naming the fix, a ``space`` that does not
    fit ``params_class``: a key that is not one of its fields, something that is not a
    ``Dimension``, an empty range, a log range that touches or crosses 0, or a range end
    (a choice) that the ``Params`` refuse. Each end is tried by building the ``Params`` with
    that one value and every other field at its default."""
    if not isinstance(space, Mapping):
        raise SearchSpaceError(
            f"{owner}: search_space must be a dict of parameter -> dimension, "
            f"got {type(space).__name__}",
            owner,
        )
    names = [field.name for field in dataclasses.fields(params_class)]
    for key, dimension in space.items():
        where = f"{owner} search space, '{key}'"
        if key not in names:
            raise SearchSpaceError(
                f"{where}: not a parameter of the method; its parameters are: "
                f"{', '.join(names) or 'none'} (rename or remove the key)",
                owner,
                key,
            )
        if not isinstance(dimension, Dimension):
            raise SearchSpaceError(
                f"{where}: {dimension!r} is not a dimension; use LogUniform, Uniform, "
                "IntUniform or Choice from rmdbench.api",
                owner,
                key,
            )
        problem = dimension.problem()
        if problem:
            raise SearchSpaceError(f"{where}: {problem}", owner, key)
        for value in dimension.ends():
            try:
                build_params(params_class, {key: value}, owner)
            except UserError as error:
                detail = str(error).removeprefix(f"{owner}: ").removeprefix(f"{owner} ")
                raise SearchSpaceError(
                    f"{where}: the Params refuse {key}={value!r} ({detail}); "
                    "narrow the range to values the Params accept",
                    owner,
                    key,
                ) from None
