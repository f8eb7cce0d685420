"""Noisy validation labels: corrupted like the training labels, from seeds of their own, so
the training labels are bit for bit those of every earlier run."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from rmdbench.data.toy import load_toy_disks
from rmdbench.noise import apply_noise, corrupted_count
from rmdbench.plugins import load_builtins
from rmdbench.registry import NOISE_MODELS

#: sha256 of the noisy masks of toy-disks (crop 32) at distortion r=0.4, seed 0, computed
#: with rmdbench before validation labels could be corrupted (commit a84b09e)
TRAIN_HASH_BEFORE = "ccf73f97905203b672d6f34476a74a503a3981f2ae69513327863380c068bbc3"


@pytest.fixture(scope="module")
def data():
    load_builtins()
    return load_toy_disks(crop_size=32)


def _model(name: str = "distortion"):
    model_class = NOISE_MODELS.get(name)
    return model_class(model_class.resolve_params("default", {}))


def test_training_labels_are_those_of_before(data):
    noisy = apply_noise(data, _model(), 0.4, 0)
    assert hashlib.sha256(noisy.masks.tobytes()).hexdigest() == TRAIN_HASH_BEFORE
    assert noisy.split == "train" and len(noisy.realised) == len(data.indices("train"))


@pytest.mark.parametrize("name", ["distortion", "erosion_dilation"])
def test_val_labels_are_noisy_and_touch_nothing_else(data, name):
    val = data.indices("val")
    train = apply_noise(data, _model(name), 0.4, 0)
    noisy = apply_noise(data, _model(name), 0.4, 0, split="val")
    changed = np.flatnonzero((noisy.masks != data.masks).any(axis=(1, 2)))
    assert set(changed) <= set(val) and len(changed) > 0
    assert len(noisy.corrupted_index) == corrupted_count(0.4, len(val))
    assert set(noisy.realised["case_id"]) == {str(case) for case in data.case_ids[val]}
    assert noisy.realised["noisy_dsc"][noisy.realised["corrupted"]].mean() < 0.95
    again = apply_noise(data, _model(name), 0.4, 0)
    assert np.array_equal(train.masks, again.masks)  # corrupting val moved no training draw


def test_val_labels_are_clean_at_ratio_0_and_reproducible(data):
    assert np.array_equal(apply_noise(data, _model(), 0.0, 0, split="val").masks, data.masks)
    first = apply_noise(data, _model(), 0.6, 3, split="val").masks
    assert np.array_equal(first, apply_noise(data, _model(), 0.6, 3, split="val").masks)
    assert not np.array_equal(first, apply_noise(data, _model(), 0.6, 4, split="val").masks)


def test_an_unknown_split_is_refused(data):
    with pytest.raises(ValueError, match="split must be one of train, val, test"):
        apply_noise(data, _model(), 0.4, 0, split="validation")
