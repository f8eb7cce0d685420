"""Tuned rows: the cells whose runs ``rmdbench tune`` selected (``.tuning/selected.json``,
written by hand here) carry ‡ and a footnote naming the rule; and one report end to end on
a real tiny sweep (three seeds), with every statistic over runs in it."""

from __future__ import annotations

import json

import pandas as pd

from rmdbench.cli import app
from rmdbench.plugins import load_builtins
from rmdbench.reports.tables import build_table, to_markdown
from rmdbench.reports.tuned import mark_tuned, tuned_note
from rmdbench.sweep import resolve_method, resolve_noise_model
from rmdbench.tuning import selected_path


def entry(method: str, ratio: float, rule: str = "noisy-val", noise: str = "distortion") -> dict:
    """A selection as ``rmdbench tune`` records it (``tuning.selected_entries``)."""
    load_builtins()
    name, _ = resolve_method(method)
    return {
        "dataset": "toy-disks",
        "noise_model": noise,
        "noise_model_name": noise.split("[")[0],
        "noise_preset": "default",
        "noise_ratio": ratio,
        "method": method,
        "method_name": name,
        "label": method,
        "parameters": {},
        "configuration": 0,
        "rule": rule,
        "mean_val_dsc": 0.6,
        "seeds": [0],
        "search": 2,
    }


def write_selected(root, entries: list[dict]) -> None:
    path = selected_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"selected": entries}))


def cases_frame() -> pd.DataFrame:
    """single and coteaching[forget_rate=0.02] at r=0.4 and 0.8, two seeds, as the store
    reader spells them (resolved hyper-parameters and severity as JSON)."""
    load_builtins()
    noise_name, preset, noise_params = resolve_noise_model("distortion")
    rows = []
    for method in ("single", "coteaching[forget_rate=0.02]"):
        name, params = resolve_method(method)
        for ratio in (0.4, 0.8):
            for seed in (0, 1):
                rows.append(
                    {
                        "run": f"{method}-{ratio}-{seed}",
                        "dataset": "toy-disks",
                        "noise_model": noise_name,
                        "noise_preset": preset,
                        "noise_params": json.dumps(noise_params, sort_keys=True),
                        "noise_setting": "distortion",
                        "noise_ratio": ratio,
                        "method": name,
                        "method_params": json.dumps(params, sort_keys=True),
                        "method_label": method,
                        "seed": seed,
                        "case_id": "a",
                        "dsc": 0.5 + 0.1 * seed,
                    }
                )
    return pd.DataFrame(rows)


def test_the_selected_cell_is_marked_and_the_rule_named(tmp_path):
    write_selected(
        tmp_path,
        [
            entry("coteaching[forget_rate=0.02]", 0.4),
            entry("coteaching[forget_rate=0.02]", 0.4, rule="clean-val"),
            entry("single", 0.8, noise="erosion_dilation"),  # another noise model: no mark
        ],
    )
    cases, notes = mark_tuned(cases_frame(), tmp_path)
    assert notes == []
    table = build_table(cases, "dsc", "t")
    tuned = table.cells.set_index(["row", "noise_ratio"])["tuned"]
    assert tuned["coteaching[forget_rate=0.02]", 0.4] == "clean-val,noisy-val"
    assert tuned["coteaching[forget_rate=0.02]", 0.8] == "" and tuned["single", 0.8] == ""
    line = next(row for row in to_markdown(table).splitlines() if "coteaching" in row)
    assert line.count("‡") == 1 and line.split("|")[2].strip().endswith("‡")
    note = tuned_note(table.tuned_rules)
    assert note.startswith("‡ configuration selected by `rmdbench tune`")
    assert "clean-val: on clean validation labels" in note and "noisy-val: on noisy" in note


def test_an_unreadable_tuning_record_is_a_note(tmp_path):
    path = selected_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    cases, notes = mark_tuned(cases_frame(), tmp_path)
    assert (cases["tuned"] == "").all()
    assert len(notes) == 1 and notes[0].startswith("tuned rows not marked: cannot read")
    assert tuned_note([]) == ""


def test_report_of_a_real_sweep_end_to_end(runner, tmp_path, one_thread):
    """Three seeds of two methods (3 epochs each): intervals in every cell, P(better)
    against the reference, the seed-power line, the memorisation section, the tuned mark,
    and the same report.md byte for byte when written twice."""
    runs = tmp_path / "runs"
    sweep = [
        "sweep", "--dataset", "toy-disks", "--profile", "tiny[epochs=3]", "--noise", "0.4",
        "--methods", "single,coteaching", "--seeds", "0,1,2",
        "--device", "cpu", "--out", str(runs),
    ]  # fmt: skip
    assert runner.invoke(app, sweep).exit_code == 0
    write_selected(runs, [entry("coteaching", 0.4)])
    report = ["report", str(runs), "--reference", "single", "--metric", "dsc", "--no-qualitative"]
    texts = []
    for out in ("first", "second"):
        result = runner.invoke(app, [*report, "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
        texts.append((tmp_path / out / "report.md").read_text())
    assert texts[0] == texts[1]
    text = texts[0]
    lines = text.splitlines()
    coteaching = next(line for line in lines if line.startswith("| coteaching |"))
    single = next(line for line in lines if line.startswith("| single |"))
    assert "[" in coteaching and coteaching.endswith("‡ |") and "‡" not in single
    assert "95% percentile-bootstrap CI over seeds (n = 3 seeds per cell" in text
    assert "selection rule noisy-val: on noisy validation labels" in text
    assert "#### P(method better than single) · over seed-paired runs" in text
    assert "(n=3) |" in text.split("#### P(method better than single)")[1]
    assert "Seed power: the sd of paired seed differences against single" in text
    assert "#### These trained networks, per case · paired Wilcoxon against single" in text
    memorisation = text.split("## Memorisation")[1].split("## Ranks")[0]
    assert "| 0.4 | coteaching |" in memorisation and "| 0.4 | single |" in memorisation
    figure = tmp_path / "first" / "memorisation_toy-disks_distortion.png"
    assert figure.stat().st_size > 1000 and figure.name in memorisation
    assert "P(method better than single) · every setting" in text
