"""Selection on a hand-made table of validation scores, under both rules, and the store's
record of what was selected."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from rmdbench.tuning import (
    SelectedFileError,
    SelectionRuleError,
    check_rule,
    record_selected,
    select,
    selected_configurations,
    selected_path,
    summarise,
)

NAN = math.nan
#: (method, configuration) -> {seed: (clean val DSC, noisy val DSC)}
SCORES = {
    ("single", 0): {0: (0.70, 0.50), 1: (0.72, 0.52)},
    # clean-val prefers 2 (mean 0.85), noisy-val prefers 1 (mean 0.61)
    ("coteaching", 0): {0: (0.80, 0.55), 1: (0.80, 0.57)},
    ("coteaching", 1): {0: (0.78, 0.60), 1: (0.80, 0.62)},
    ("coteaching", 2): {0: (0.86, 0.50), 1: (0.84, 0.52)},
    # 1 has the best noisy mean but a failed seed; 2 ties with the defaults
    ("rmd", 0): {0: (0.75, 0.58), 1: (0.75, 0.58)},
    ("rmd", 1): {0: (0.90, 0.70), 1: (NAN, NAN)},
    ("rmd", 2): {0: (0.75, 0.58), 1: (0.75, 0.58)},
}


def _table(ratio: float = 0.4) -> pd.DataFrame:
    rows = [
        {
            "dataset": "toy-disks",
            "noise_model": "distortion",
            "noise_ratio": ratio,
            "method": method,
            "configuration": configuration,
            "label": f"{method}#{configuration}",
            "parameters": "{}",
            "seed": seed,
            "run": f"{method}-{configuration}-{seed}",
            "clean_dsc": clean,
            "noisy_dsc": noisy,
        }
        for (method, configuration), seeds in SCORES.items()
        for seed, (clean, noisy) in seeds.items()
    ]
    return pd.DataFrame(rows)


def _selected(rule: str, table: pd.DataFrame | None = None) -> dict:
    chosen = select(summarise(_table() if table is None else table), rule)
    chosen = chosen[chosen["selected"]]
    return {(row.noise_ratio, row.method): row.configuration for row in chosen.itertuples()}


def test_each_rule_picks_the_best_complete_mean_ties_keep_the_lower_number():
    assert _selected("noisy-val") == {(0.4, "single"): 0, (0.4, "coteaching"): 1, (0.4, "rmd"): 0}
    assert _selected("clean-val") == {(0.4, "single"): 0, (0.4, "coteaching"): 2, (0.4, "rmd"): 0}


def test_settings_are_selected_apart():
    other = _table(0.8)
    other.loc[(other["method"] == "coteaching") & (other["configuration"] == 0), "noisy_dsc"] = 0.9
    selected = _selected("noisy-val", pd.concat([_table(), other], ignore_index=True))
    assert selected[(0.4, "coteaching")] == 1 and selected[(0.8, "coteaching")] == 0


def test_summary_has_per_seed_and_mean_scores():
    summary = summarise(_table()).set_index(["method", "configuration"])
    row = summary.loc[("coteaching", 1)]
    assert row["clean_dsc_s0"] == 0.78 and row["noisy_dsc_s1"] == 0.62
    assert row["mean_noisy_dsc"] == pytest.approx(0.61) and row["complete"]
    assert not summary.loc[("rmd", 1), "complete"] and math.isnan(
        summary.loc[("rmd", 1), "mean_clean_dsc"]
    )


def test_a_method_with_no_complete_configuration_has_none_selected():
    table = _table()
    table.loc[table["method"] == "single", ["clean_dsc", "noisy_dsc"]] = NAN
    assert (0.4, "single") not in _selected("noisy-val", table)


def test_an_unknown_rule_is_one_line_naming_both():
    with pytest.raises(
        SelectionRuleError, match="unknown selection rule 'oracle'; choose clean-val or noisy-val"
    ):
        check_rule("oracle")


def _entry(method: str, label: str, rule: str = "noisy-val") -> dict:
    return {
        "dataset": "toy-disks",
        "noise_model": "distortion",
        "noise_ratio": 0.4,
        "method": method,
        "label": label,
        "rule": rule,
    }


def test_selected_record_merges_by_setting_method_and_rule(tmp_path):
    assert selected_configurations(tmp_path) == []
    record_selected(tmp_path, [_entry("rmd", "rmd[forget_rate=0.01]"), _entry("single", "single")])
    record_selected(
        tmp_path, [_entry("rmd", "rmd[forget_rate=0.02]"), _entry("rmd", "rmd", "clean-val")]
    )
    labels = {
        (entry["method"], entry["rule"]): entry["label"]
        for entry in selected_configurations(tmp_path)
    }
    assert labels == {
        ("rmd", "noisy-val"): "rmd[forget_rate=0.02]",
        ("single", "noisy-val"): "single",
        ("rmd", "clean-val"): "rmd",
    }


@pytest.mark.parametrize("text", ["{not json", json.dumps({"selected": 3}), json.dumps([1])])
def test_a_damaged_record_is_one_line(tmp_path, text):
    path = selected_path(tmp_path)
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(SelectedFileError, match="remove it and run rmdbench tune again"):
        selected_configurations(tmp_path)
