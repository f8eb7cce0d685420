"""The budget rule: which configurations of each method a tuning sweep trains.

Every method gets the same number N of configurations (``--search N``), so no method is
tuned harder than another. Configuration 0 is the method as given (its defaults, or the
options written on the command line); configurations 1 .. N-1 draw every parameter of its
declared ``search_space`` from a generator seeded by (method name, N, first tuning seed):
a rerun draws the same values and trains nothing new, and the draws of a parameter do not
depend on which others are fixed. A parameter given on the command line
(``rmd[forget_rate=0.01]``) is fixed: kept in every configuration, never drawn. A method
with nothing to search gets its one configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rmdbench import seeding
from rmdbench.contracts.search import check_search_space
from rmdbench.errors import OptionError
from rmdbench.labels import label
from rmdbench.params import parse_component
from rmdbench.registry import METHODS

#: one configuration per method: the defaults only
NO_SEARCH = 1


class SearchBudgetError(OptionError):
    """A ``--search`` that is not a positive number of configurations."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "search")


def check_search(search: object) -> int:
    """``search`` as the number of configurations per method (at least 1)."""
    if isinstance(search, bool) or not isinstance(search, int) or search < NO_SEARCH:
        raise SearchBudgetError(
            f"--search must be a number of configurations per method, at least 1 "
            f"(1: the defaults only), got {search!r}"
        )
    return search


@dataclass(frozen=True)
class Configuration:
    """One configuration of one method entry. ``entry``: the method as given ('rmd',
    'rmd[variant=released]'); ``method``: its registered name; ``index``: 0 for the entry
    as given, 1 .. N-1 drawn; ``options``: the entry's own options and the drawn values,
    as a sweep component takes them; ``drawn``: the drawn values alone; ``searched``: the
    parameters the search varies for this entry (every declared one not fixed)."""

    entry: str
    method: str
    index: int
    options: dict = field(default_factory=dict)
    drawn: dict = field(default_factory=dict)
    searched: tuple[str, ...] = ()

    @property
    def component(self) -> tuple[str, dict]:
        """What ``plan_sweep`` takes as a method: (name, options)."""
        return self.method, dict(self.options)


def entry_parts(entry: str | tuple[str, dict]) -> tuple[str, str, dict]:
    """A method entry of the sweep options as (text as given, name, options)."""
    if isinstance(entry, tuple):
        name, options = entry
        return label(name, dict(options)), name, dict(options)
    name, options = parse_component(entry)
    return entry.strip(), name, dict(options)


def method_configurations(
    entry: str | tuple[str, dict], search: int, first_seed: int
) -> list[Configuration]:
    """The ``search`` configurations of one method entry (one when it has nothing to
    search), its search space checked against its ``Params`` first."""
    search = check_search(search)
    text, name, fixed = entry_parts(entry)
    method_class = METHODS.get(name)
    space = method_class.search_space
    check_search_space(method_class.Params, space, f"method '{name}'")
    searched = tuple(key for key in sorted(space) if key not in fixed)
    configurations = [Configuration(text, name, 0, dict(fixed), {}, searched)]
    if not searched:
        return configurations
    rng = seeding.generator("tune", name, int(search), int(first_seed))
    for index in range(1, search):
        values = {key: space[key].draw(rng) for key in sorted(space)}  # fixed ones too
        drawn = {key: values[key] for key in searched}
        configurations.append(Configuration(text, name, index, {**fixed, **drawn}, drawn, searched))
    return configurations
