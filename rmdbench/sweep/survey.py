"""Where each run of a grid stands in the store before a sweep trains (done, failed,
damaged, running elsewhere, todo), what is left to train, and the one line that says so.
A damaged run is trained again (its directory is first moved to ``.damaged/``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from rmdbench.run import RunSpec
from rmdbench.store import RunState, RunStore


def survey(specs: Sequence[RunSpec], store: RunStore) -> dict[str, RunState]:
    """Each run's state in the store: done, failed, damaged, running (locked elsewhere) or
    todo. Reads only; a store whose own folders are files is a ``StoreLayoutError``."""
    if not store.root.is_dir():
        return {spec.run_name: RunState.TODO for spec in specs}
    store.check_layout()
    states = {}
    for spec in specs:
        state = store.state(spec.run_name)
        if state != RunState.DONE and store.probe(spec.run_name):
            state = RunState.RUNNING
        states[spec.run_name] = state
    return states


def wanted_states(retry_failed: bool) -> set[RunState]:
    """The states a sweep trains (running ones aside: they are left to their holder).
    Damaged runs always: their record is lost, so they are no more done than a todo."""
    trained = {RunState.TODO, RunState.DAMAGED}
    return (trained | {RunState.FAILED}) if retry_failed else trained


def runs_to_train(
    specs: Sequence[RunSpec], states: Mapping[str, RunState], retry_failed: bool
) -> list[RunSpec]:
    """Not-done runs in grid order; failed ones only with ``retry_failed``; runs locked
    elsewhere last (by then their sweep may have finished them; if it died, we do)."""
    wanted = wanted_states(retry_failed)
    first = [spec for spec in specs if states[spec.run_name] in wanted]
    last = [spec for spec in specs if states[spec.run_name] == RunState.RUNNING]
    return first + last


def grid_summary(states: Mapping[str, RunState], retry_failed: bool) -> str:
    """'12 runs in the grid: 4 done, 1 failed (kept; ...), 1 damaged (...), 6 to train'."""
    counts = Counter(states.values())
    to_train = sum(counts[state] for state in wanted_states(retry_failed))
    parts = [f"{counts[RunState.DONE]} done"]
    if counts[RunState.FAILED]:
        kept = "" if retry_failed else " (kept; --retry-failed reruns them)"
        parts.append(f"{counts[RunState.FAILED]} failed{kept}")
    if counts[RunState.DAMAGED]:
        parts.append(f"{counts[RunState.DAMAGED]} damaged (moved to .damaged/, then retrained)")
    if counts[RunState.RUNNING]:
        parts.append(f"{counts[RunState.RUNNING]} running elsewhere")
    parts.append(f"{to_train} to train")
    return f"{len(states)} runs in the grid: " + ", ".join(parts)
