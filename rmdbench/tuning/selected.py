"""The store's record of what tuning selected, ``<store>/.tuning/selected.json``, so that
reports can mark tuned rows: one entry per (dataset, noise model, ratio, method, rule).

A later tuning of the same (dataset, noise model, ratio, method, rule) replaces its entry;
the others stay, so tunings of different settings accumulate. The file is rewritten under
a lock and atomically, so two tunings on one store never lose each other's entries.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pandas as pd

from rmdbench.atomic import atomic_write
from rmdbench.errors import UserError
from rmdbench.tuning.plan import TuningPlan

TUNING_DIR = ".tuning"
SELECTED_FILE = "selected.json"
#: what names an entry: a newer selection of the same key replaces it
ENTRY_KEY = ("dataset", "noise_model", "noise_ratio", "method", "rule")


class SelectedFileError(UserError):
    """``selected.json`` that is not what tuning writes; ``path``: the file."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def selected_path(store_root: Path) -> Path:
    return Path(store_root) / TUNING_DIR / SELECTED_FILE


def selected_entries(plan: TuningPlan, selection: pd.DataFrame) -> list[dict]:
    """The selected rows as entries: the setting (``noise_model`` as given, with its
    registered ``noise_model_name`` and ``noise_preset``), ``method`` as given and its
    registered ``method_name``, the selected ``label`` (as sweeps and reports write the
    method), its ``parameters``, ``configuration`` number, ``rule``, ``mean_val_dsc``
    under the rule, the tuning ``seeds`` and ``search`` (configurations per method)."""
    settings = {(s.dataset, s.noise, s.ratio): s for s in plan.settings}
    methods = {c.entry: c.method for c in plan.configurations}
    entries = []
    for row in selection[selection["selected"]].itertuples(index=False):
        setting = settings[(row.dataset, row.noise_model, row.noise_ratio)]
        rule_column = "mean_noisy_dsc" if row.rule == "noisy-val" else "mean_clean_dsc"
        entries.append(
            {
                "dataset": row.dataset,
                "noise_model": row.noise_model,
                "noise_model_name": setting.noise_model,
                "noise_preset": setting.noise_preset,
                "noise_ratio": float(row.noise_ratio),
                "method": row.method,
                "method_name": methods[row.method],
                "label": row.label,
                "parameters": json.loads(row.parameters),
                "configuration": int(row.configuration),
                "rule": row.rule,
                "mean_val_dsc": float(getattr(row, rule_column)),
                "seeds": list(plan.seeds),
                "search": plan.search,
            }
        )
    return entries


def _key(entry: dict) -> tuple:
    return tuple(json.dumps(entry.get(name), sort_keys=True) for name in ENTRY_KEY)


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as error:
        raise SelectedFileError(
            f"cannot read the tuning record '{path}' ({type(error).__name__}); "
            "remove it and run rmdbench tune again",
            path,
        ) from None
    entries = document.get("selected") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise SelectedFileError(
            f"'{path}' is not a tuning record (no list of selected entries); "
            "remove it and run rmdbench tune again",
            path,
        )
    return entries


def record_selected(store_root: Path, entries: list[dict]) -> Path:
    """Merge ``entries`` into the store's ``selected.json`` (same key: replaced)."""
    path = selected_path(store_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".selected.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = {_key(entry): entry for entry in _read(path)}
        merged.update({_key(entry): entry for entry in entries})
        text = json.dumps({"selected": list(merged.values())}, indent=2, sort_keys=True)
        atomic_write(path, lambda handle: handle.write(text + "\n"), mode="w")
    return path


def selected_configurations(store_root: Path) -> list[dict]:
    """Every selection recorded in the run store at ``store_root`` (see
    ``selected_entries`` for the fields); [] when nothing was tuned there. A file that is
    not a tuning record is a one-line ``SelectedFileError``."""
    return _read(selected_path(store_root))
