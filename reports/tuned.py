"""Which runs were tuned: ``rmdbench tune`` records each configuration it selected in the
store's ``.tuning/selected.json`` (``rmdbench.tuning.selected_configurations``). A table
cell whose runs are such a configuration, in the setting and at the ratio it was selected
for, carries ``‡`` and a footnote naming the rule; a reader then knows that row had a
search behind it, and whether it was selected on labels a user would have (noisy-val) or
on the clean oracle (clean-val).

A selection matches a run by dataset, noise ratio, noise model (registered name, preset
and resolved severity; any at r=0, where the clean run serves every noise model) and
method (the selected label, or the same resolved hyper-parameters). A ``selected.json``
that does not read is a note, not a refusal: the tables stand without their marks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from rmdbench.errors import UserError
from rmdbench.tuning import selected_configurations

TUNED_COLUMN = "tuned"
#: what resolving a recorded noise model or label may raise when this installation cannot
RESOLVE_ERRORS = (UserError, LookupError, TypeError, ValueError, AttributeError)
RULE_TEXT = {
    "noisy-val": "on noisy validation labels (corrupted like the training labels: what a user "
    "could do)",
    "clean-val": "on clean validation labels (the oracle)",
}


def _resolved(entry: dict) -> tuple[tuple | None, tuple | None]:
    """(noise name, preset, severity JSON) and (method name, hyper-parameter JSON) of an
    entry, as the sweep resolves them; None where this installation cannot (a plug-in
    that is not installed), and the names then match alone."""
    from rmdbench.plugins import load_builtins
    from rmdbench.sweep.plan import resolve_method, resolve_noise_model

    noise = method = None
    try:
        load_builtins()
        name, preset, params = resolve_noise_model(entry["noise_model"])
        noise = (name, preset, json.dumps(params, sort_keys=True))
    except RESOLVE_ERRORS:
        pass
    try:
        name, params = resolve_method(entry["label"])
        method = (name, json.dumps(params, sort_keys=True))
    except RESOLVE_ERRORS:
        pass
    return noise, method


def _canonical(text: object) -> str:
    """A stored params JSON re-dumped the way ``_resolved`` dumps (key order, spacing)."""
    try:
        return json.dumps(json.loads(str(text)), sort_keys=True)
    except ValueError:
        return str(text)


def _well_formed(entry: dict) -> bool:
    """An entry with the fields tuning writes, of their types; any other is left out (a
    hand-edited or foreign record must not take the report down)."""
    ratio = entry.get("noise_ratio")
    texts = ("dataset", "noise_model", "label")
    return (
        isinstance(ratio, int | float)
        and not isinstance(ratio, bool)
        and math.isfinite(ratio)
        and all(isinstance(entry.get(name), str) for name in texts)
    )


def _matches(runs: pd.DataFrame, entry: dict) -> pd.Series:
    """The runs (one row each) that are the configuration ``entry`` selected."""
    if not _well_formed(entry):
        return pd.Series(False, index=runs.index)
    noise, method = _resolved(entry)
    ratio = entry["noise_ratio"]
    hit = (runs["dataset"] == entry["dataset"]) & runs["noise_ratio"].map(
        lambda value: math.isclose(float(value), float(ratio), abs_tol=1e-9)
    )
    if float(ratio) == 0:
        pass  # no label is corrupted at r=0: the clean run is every noise model's
    elif noise is not None:
        hit &= (runs["noise_model"] == noise[0]) & (runs["noise_preset"] == noise[1])
        hit &= runs["noise_params"].map(_canonical) == noise[2]
    else:
        hit &= (runs["noise_model"] == str(entry.get("noise_model_name"))) & (
            runs["noise_preset"] == str(entry.get("noise_preset", "default"))
        )
    same_label = runs["method_label"] == entry["label"]
    if method is not None:
        same_params = (runs["method"] == method[0]) & (
            runs["method_params"].map(_canonical) == method[1]
        )
        return hit & (same_label | same_params)
    return hit & same_label


def tuned_rules(cases: pd.DataFrame, entries: list[dict]) -> pd.Series:
    """Per run name: the rules under which its configuration was selected for its
    setting and ratio ('noisy-val', 'clean-val,noisy-val'), '' for an untuned run."""
    runs = cases.drop_duplicates("run").set_index("run", drop=False)
    rules: dict[str, set[str]] = {name: set() for name in runs.index}
    for entry in entries:
        rule = str(entry.get("rule") or "tuned")
        for name in runs.index[_matches(runs, entry).to_numpy()]:
            rules[name].add(rule)
    return pd.Series({name: ",".join(sorted(found)) for name, found in rules.items()}, dtype=object)


def mark_tuned(cases: pd.DataFrame, store_root: Path) -> tuple[pd.DataFrame, list[str]]:
    """``cases`` with a ``tuned`` column (the rules, or '') and the notes to print: none,
    or why the store's tuning record was not read."""
    try:
        entries = selected_configurations(store_root)
    except UserError as error:
        return cases.assign(**{TUNED_COLUMN: ""}), [f"tuned rows not marked: {error}"]
    if not entries:
        return cases.assign(**{TUNED_COLUMN: ""}), []
    rules = tuned_rules(cases, entries)
    marked = cases.assign(**{TUNED_COLUMN: cases["run"].map(rules).fillna("")})
    return marked, []


def tuned_note(rules: list[str]) -> str:
    """The footnote sentence for a table with tuned cells ('' when it has none)."""
    if not rules:
        return ""
    described = "; ".join(f"{rule}: {RULE_TEXT.get(rule, 'rule as recorded')}" for rule in rules)
    return (
        f"‡ configuration selected by `rmdbench tune` for this setting and ratio "
        f"(selection rule {described})."
    )
