"""The noisy training example a run stores for reports (``noisy_example.npz``): it is the
label the run trained on, picked deterministically, and only noisy runs have one. Reports
show it as stored; they never regenerate noise (tests in test_reports.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from rmdbench.noise import NoisyLabels, apply_noise
from rmdbench.params import build_params
from rmdbench.plugins import load_builtins
from rmdbench.profiles import get_profile
from rmdbench.registry import DATASETS, NOISE_MODELS
from rmdbench.run import RunSpec, execute_run, noisy_example
from rmdbench.store import NOISY_EXAMPLE_FILE, RESULT_FILE, RunStore
from rmdbench.sweep import resolve_noise_model

RUN_FILES = {
    "spec.json",
    "cases.parquet",
    "curve.parquet",
    "noise.parquet",
    "predictions.npz",
    RESULT_FILE,
}
RESULT_KEYS = {
    "status",
    "run_name",
    "spec",
    "summary",
    "noise",
    "timings",
    "sizes",
    "validation",
    "evaluation",  # one epoch: every rule's is the last, so no best-epoch files
    "conventions",
    "nsd_convention",
    "provenance",
}


def test_a_noisy_run_stores_the_label_it_trained_on(tmp_path, one_thread):
    load_builtins()
    profile = get_profile("tiny[epochs=1,max_train_cases=24]")
    data = DATASETS.get("toy-disks")(crop_size=profile.crop_size)
    noise_name, preset, noise_params = resolve_noise_model("distortion")
    specs = [
        RunSpec(
            "toy-disks", noise_name, preset, noise_params, ratio, "single", {}, 3,
            profile.as_dict(),
        )
        for ratio in (0.0, 0.5)
    ]  # fmt: skip
    store = RunStore(tmp_path)
    for spec in specs:
        outcome = execute_run(spec, data, profile, store, torch.device("cpu"))
        assert outcome.status == "done", outcome.error
    clean_dir, noisy_dir = (store.run_dir(spec.run_name) for spec in specs)

    # a clean run is recorded as before; a noisy one has the one extra file
    assert {path.name for path in clean_dir.iterdir()} == RUN_FILES
    assert {path.name for path in noisy_dir.iterdir()} == RUN_FILES | {NOISY_EXAMPLE_FILE}
    for run_dir in (clean_dir, noisy_dir):
        assert set(json.loads((run_dir / RESULT_FILE).read_text())) == RESULT_KEYS

    with np.load(noisy_dir / NOISY_EXAMPLE_FILE, allow_pickle=False) as stored:
        example = dict(stored)
    assert set(example) == {"image", "clean_mask", "noisy_mask", "case_id", "noisy_dsc"}
    case_id = str(example["case_id"])
    index = [str(name) for name in data.case_ids].index(case_id)
    assert index in data.indices("train")[: profile.max_train_cases]  # a case trained on

    # the noisy mask is what apply_noise gives for the run's spec: the label trained on
    noise_class = NOISE_MODELS.get(noise_name)
    model = noise_class(build_params(noise_class.Params, noise_params, "noise model"))
    noisy = apply_noise(data, model, specs[1].noise_ratio, specs[1].seed, specs[1].severity_key)
    np.testing.assert_array_equal(example["noisy_mask"], noisy.masks[index])
    np.testing.assert_array_equal(example["clean_mask"], data.masks[index])
    np.testing.assert_array_equal(example["image"], data.images[index])
    assert not np.array_equal(example["noisy_mask"], example["clean_mask"])

    # its Dice is the run's record, and it is the corrupted case at their median
    realised = pd.read_parquet(noisy_dir / "noise.parquet").set_index("case_id")
    assert len(realised) == profile.max_train_cases and realised.loc[case_id, "corrupted"]
    assert float(example["noisy_dsc"]) == pytest.approx(realised.loc[case_id, "noisy_dsc"])
    corrupted = realised.loc[realised["corrupted"], "noisy_dsc"].sort_values(kind="stable")
    assert corrupted.index[(len(corrupted) - 1) // 2] == case_id


class Cases:
    """The three arrays ``noisy_example`` reads, for four 2x2 cases."""

    case_ids = np.array(["c0", "c1", "c2", "c3"])
    images = np.arange(4 * 1 * 2 * 2, dtype=np.float32).reshape(4, 1, 2, 2)
    masks = np.array([[[1, 0], [0, 0]], [[0, 0], [0, 0]], [[1, 1], [0, 0]], [[1, 1], [1, 0]]])


def labels(dice: list[float], corrupted: list[bool]) -> NoisyLabels:
    realised = pd.DataFrame({"case_id": Cases.case_ids, "corrupted": corrupted, "noisy_dsc": dice})
    return NoisyLabels(masks=1 - Cases.masks, realised=realised)


def test_the_example_is_the_nonempty_corrupted_case_at_the_median():
    # c1 has an empty clean mask: left out, so the median of 0.1, 0.6, 0.9 is c2's Dice
    example = noisy_example(Cases, labels([0.1, 0.5, 0.6, 0.9], [True] * 4))
    assert str(example["case_id"]) == "c2" and float(example["noisy_dsc"]) == 0.6
    np.testing.assert_array_equal(example["noisy_mask"], 1 - Cases.masks[2])
    np.testing.assert_array_equal(example["clean_mask"], Cases.masks[2])
    np.testing.assert_array_equal(example["image"], Cases.images[2])
    # an even count: the lower middle one; equal Dice: training order; clean cases never count
    example = noisy_example(Cases, labels([0.4, 1.0, 0.2, 1.0], [True, False, True, False]))
    assert str(example["case_id"]) == "c2"
    example = noisy_example(Cases, labels([0.5, 0.0, 0.5, 0.5], [True, True, True, True]))
    assert str(example["case_id"]) == "c2"
    # only empty masks corrupted: one of them all the same
    example = noisy_example(Cases, labels([1.0, math.nan, 1.0, 0.3], [False, True, False, True]))
    assert str(example["case_id"]) == "c3"
    example = noisy_example(Cases, labels([1.0, 0.0, 1.0, 1.0], [False, True, False, False]))
    assert str(example["case_id"]) == "c1"
    assert noisy_example(Cases, labels([1.0] * 4, [False] * 4)) is None
