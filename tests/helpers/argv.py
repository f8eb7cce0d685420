"""Command lines for tests: a base line whose options a test case overrides."""

from __future__ import annotations


def overridden(base: list[str], extra: list[str]) -> list[str]:
    """``base`` then ``extra``, without the options of ``base`` that ``extra`` gives again
    (with their values: every option of ``base`` takes one). An option is given once: the
    command line refuses one given twice."""
    again = {token.partition("=")[0] for token in extra if token.startswith("--")}
    kept, skip = [], False
    for token in base:
        if skip:
            skip = False
        elif token in again:
            skip = True
        else:
            kept.append(token)
    return [*kept, *extra]
