"""Noise ratio, nesting, reproducibility and realised noise of rmdbench.noise.apply_noise."""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.draw import disk

import rmdbench.noise_models.distortion  # noqa: F401  (registers "distortion")
from rmdbench.contracts.noise_model import NoiseCase, NoiseModel
from rmdbench.data.base import SegmentationData
from rmdbench.errors import UserError
from rmdbench.noise import REALISED_COLUMNS, NoisyLabels, apply_noise, corrupted_count, severity_key
from rmdbench.params import params_dict
from rmdbench.registry import NOISE_MODELS

N_TRAIN, N_VAL, N_TEST = 30, 5, 5


def _dataset(
    n_train: int = N_TRAIN, size: int = 40, num_classes: int = 2, seed: int = 0, name: str = "tiny"
) -> SegmentationData:
    """Hand-made cases: disks of random radius (3 empty training masks), random spacing."""
    rng = np.random.default_rng(seed)
    n = n_train + N_VAL + N_TEST
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        if i in (2, 11, 17):
            continue
        rr, cc = disk(
            rng.uniform(size / 2 - 4, size / 2 + 4, 2), rng.uniform(4, 12), shape=(size, size)
        )
        masks[i, rr, cc] = 1
        if num_classes > 2:
            inner_r, inner_c = disk(
                rng.uniform(size / 2 - 1, size / 2 + 1, 2), 3, shape=(size, size)
            )
            masks[i, inner_r, inner_c] = 2
    split = np.array(["train"] * n_train + ["val"] * N_VAL + ["test"] * N_TEST)
    rng.shuffle(split[: n_train + N_VAL])  # val cases interleaved with training cases
    return SegmentationData(
        name=name,
        images=rng.random((n, 1, size, size), dtype=np.float32),
        masks=masks,
        spacing=rng.uniform(0.5, 1.0, size=(n, 2)).astype(np.float32),
        patient_ids=np.array([f"p{i}" for i in range(n)]),
        split=split,
        case_ids=np.array([f"case{i:03d}" for i in range(n)]),
        num_classes=num_classes,
    )


@pytest.fixture(scope="module")
def data() -> SegmentationData:
    return _dataset()


def _distortion() -> NoiseModel:
    return NOISE_MODELS.get("distortion").from_preset("default")


def _corrupted_ids(noisy: NoisyLabels) -> set[str]:
    return set(noisy.realised.loc[noisy.realised["corrupted"], "case_id"])


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.25, 0.5, 0.6, 0.8, 1.0])
def test_ratio_is_met_exactly(data: SegmentationData, ratio: float) -> None:
    noisy = apply_noise(data, _distortion(), ratio, seed=1, preset_key="default")
    expected = int(np.floor(ratio * N_TRAIN + 0.5))
    assert noisy.realised["corrupted"].sum() == expected
    assert noisy.summary()["n_corrupted"] == expected
    assert noisy.summary()["fraction_corrupted"] == pytest.approx(expected / N_TRAIN)
    assert len(noisy.corrupted_index) == expected


def test_count_rounds_half_up() -> None:
    assert corrupted_count(0.5, 5) == 3  # round(2.5) in Python would give 2
    assert corrupted_count(0.25, 30) == 8  # 7.5
    assert corrupted_count(0.0, 30) == 0 and corrupted_count(1.0, 30) == 30
    assert corrupted_count(0.7, 10) == 7


def test_nested_across_ratios_and_same_noisy_mask_at_every_ratio(data: SegmentationData) -> None:
    model = _distortion()
    runs = [apply_noise(data, model, r, seed=3, preset_key="default") for r in (0.2, 0.4, 0.6, 1.0)]
    for smaller, larger in itertools.pairwise(runs):
        assert _corrupted_ids(smaller) < _corrupted_ids(larger)
        for index in smaller.corrupted_index:
            np.testing.assert_array_equal(smaller.masks[index], larger.masks[index])


@settings(max_examples=15, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.integers(0, 2**31))
def test_nesting_holds_for_any_two_ratios(low: float, high: float, seed: int) -> None:
    low, high = sorted((low, high))
    data = _dataset(n_train=12, size=24)
    model = _distortion()
    small = apply_noise(data, model, low, seed=seed, preset_key="default")
    large = apply_noise(data, model, high, seed=seed, preset_key="default")
    assert _corrupted_ids(small) <= _corrupted_ids(large)


def test_reproducible_from_the_seed(data: SegmentationData) -> None:
    model = _distortion()
    first = apply_noise(data, model, 0.6, seed=5, preset_key="default")
    again = apply_noise(data, _distortion(), 0.6, seed=5, preset_key="default")
    other = apply_noise(data, model, 0.6, seed=6, preset_key="default")
    assert first.masks.tobytes() == again.masks.tobytes()
    assert _corrupted_ids(first) == _corrupted_ids(again)
    assert not np.array_equal(first.masks, other.masks)
    assert _corrupted_ids(first) != _corrupted_ids(other)


def test_severity_and_dataset_name_enter_the_seed(data: SegmentationData) -> None:
    model = _distortion()
    base = apply_noise(data, model, 1.0, seed=5, preset_key="default")
    other_key = apply_noise(data, model, 1.0, seed=5, preset_key="acdc")
    renamed = _dataset(name="tiny-renamed")
    other_name = apply_noise(renamed, model, 1.0, seed=5, preset_key="default")
    assert not np.array_equal(base.masks, other_key.masks)
    assert not np.array_equal(base.masks, other_name.masks)


def test_noisy_mask_does_not_depend_on_case_order(data: SegmentationData) -> None:
    model = _distortion()
    noisy = apply_noise(data, model, 1.0, seed=9, preset_key="default")
    permutation = np.random.default_rng(0).permutation(len(data))
    shuffled = apply_noise(data.subset(permutation), model, 1.0, seed=9, preset_key="default")
    np.testing.assert_array_equal(shuffled.masks, noisy.masks[permutation])


def test_val_and_test_untouched_and_clean_train_cases_unchanged(data: SegmentationData) -> None:
    noisy = apply_noise(data, _distortion(), 0.8, seed=2, preset_key="default")
    held_out = np.flatnonzero(data.split != "train")
    np.testing.assert_array_equal(noisy.masks[held_out], data.masks[held_out])
    clean_train = np.setdiff1d(data.indices("train"), noisy.corrupted_index)
    np.testing.assert_array_equal(noisy.masks[clean_train], data.masks[clean_train])
    assert set(noisy.corrupted_index) <= set(data.indices("train"))
    assert noisy.masks is not data.masks
    assert noisy.masks.dtype == np.uint8 and noisy.masks.shape == data.masks.shape


def test_ratio_zero_changes_nothing_and_one_corrupts_every_training_case(
    data: SegmentationData,
) -> None:
    model = _distortion()
    zero = apply_noise(data, model, 0.0, seed=4, preset_key="default")
    np.testing.assert_array_equal(zero.masks, data.masks)
    assert not zero.realised["corrupted"].any()
    assert (zero.realised["noisy_dsc"] == 1.0).all()
    summary = zero.summary()
    assert summary["n_corrupted"] == 0 and np.isnan(summary["mean_noisy_dsc"])
    assert summary["mean_train_dsc"] == 1.0

    one = apply_noise(data, model, 1.0, seed=4, preset_key="default")
    assert one.realised["corrupted"].all()
    train = data.indices("train")
    non_empty = [i for i in train if data.masks[i].any()]
    changed = [not np.array_equal(one.masks[i], data.masks[i]) for i in non_empty]
    assert all(changed)


def test_empty_training_masks_stay_empty(data: SegmentationData) -> None:
    noisy = apply_noise(data, _distortion(), 1.0, seed=0, preset_key="default")
    for index in (2, 11, 17):
        if data.split[index] == "train":
            assert not noisy.masks[index].any()
    realised = noisy.realised.set_index("case_id")
    assert realised.loc["case002", "noisy_dsc"] == 1.0  # both empty counts as identical


def test_binary_values_stay_binary(data: SegmentationData) -> None:
    noisy = apply_noise(data, _distortion(), 1.0, seed=0, preset_key="default")
    assert set(np.unique(noisy.masks)) <= {0, 1}


def test_realised_table(data: SegmentationData) -> None:
    noisy = apply_noise(data, _distortion(), 0.5, seed=8, preset_key="default")
    realised = noisy.realised
    assert tuple(realised.columns) == REALISED_COLUMNS
    assert len(realised) == N_TRAIN
    assert list(realised["case_id"]) == list(data.case_ids[data.indices("train")])
    assert (realised["noise_model"] == "distortion").all()
    clean = realised[~realised["corrupted"]]
    assert (clean["noisy_dsc"] == 1.0).all() and (clean["noisy_hd95"] == 0.0).all()
    assert (clean["flipped_fraction"] == 0.0).all()
    corrupted = realised[realised["corrupted"]]
    for row in corrupted.itertuples():
        index = int(np.flatnonzero(data.case_ids == row.case_id)[0])
        flipped = np.mean(noisy.masks[index] != data.masks[index])
        assert row.flipped_fraction == pytest.approx(flipped)
    assert corrupted["noisy_dsc"].between(0.0, 1.0).all()
    assert corrupted["noisy_dsc"].median() < 0.95
    summary = noisy.summary()
    assert summary["mean_noisy_dsc"] == pytest.approx(corrupted["noisy_dsc"].mean())
    assert summary["noise_model"] == "distortion" and summary["severity"] == "default"
    assert summary["noise_ratio"] == 0.5 and summary["seed"] == 8


def test_realised_hd95_is_in_mm(data: SegmentationData) -> None:
    from rmdbench.metrics import case_metrics

    noisy = apply_noise(data, _distortion(), 1.0, seed=8, preset_key="default")
    index = int(data.indices("train")[0])
    expected = case_metrics(noisy.masks[index], data.masks[index], data.spacing[index])["hd95"]
    row = noisy.realised.set_index("case_id").loc[data.case_ids[index]]
    assert row["noisy_hd95"] == pytest.approx(expected)


def test_multiclass_labels_stay_in_range() -> None:
    data = _dataset(num_classes=3)
    noisy = apply_noise(data, _distortion(), 1.0, seed=0, preset_key="default")
    assert set(np.unique(noisy.masks)) <= {0, 1, 2}
    assert noisy.realised["noisy_dsc"].lt(1.0).any()


def test_default_preset_key_is_the_canonical_severity(data: SegmentationData) -> None:
    model = _distortion()
    distortion = NOISE_MODELS.get("distortion")
    key = severity_key(params_dict(model.params))
    assert key == severity_key(params_dict(distortion.from_preset("default").params))
    assert key != severity_key(params_dict(distortion.from_preset("acdc").params))
    # the key a sweep run seeds its noise with, for the same severity
    spec_params = params_dict(distortion.resolve_params("default"))
    assert key == severity_key(spec_params)
    implicit = apply_noise(data, model, 0.5, seed=1)
    explicit = apply_noise(data, model, 0.5, seed=1, preset_key=key)
    np.testing.assert_array_equal(implicit.masks, explicit.masks)


@pytest.mark.parametrize("ratio", [1.5, -0.1, float("nan")])
def test_bad_ratio_is_a_user_error(data: SegmentationData, ratio: float) -> None:
    with pytest.raises(UserError, match=r"outside \[0, 1\]; pass a value like --noise 0.8"):
        apply_noise(data, _distortion(), ratio, seed=0, preset_key="default")


def test_bad_ratio_message_is_the_documented_one(data: SegmentationData) -> None:
    with pytest.raises(UserError) as caught:
        apply_noise(data, _distortion(), 1.5, seed=0, preset_key="default")
    assert str(caught.value) == "noise ratio 1.5 is outside [0, 1]; pass a value like --noise 0.8"
    with pytest.raises(UserError, match="not a number"):
        apply_noise(data, _distortion(), "0.5", seed=0, preset_key="default")  # type: ignore[arg-type]


class _BinaryOnly(NoiseModel):
    name: ClassVar[str] = "binary-only-test"
    supports_multiclass: ClassVar[bool] = False

    def corrupt(self, case: NoiseCase, rng: np.random.Generator) -> np.ndarray:
        return case.mask


def test_binary_only_model_refuses_multiclass_data() -> None:
    with pytest.raises(UserError, match="binary masks only"):
        apply_noise(_dataset(num_classes=3), _BinaryOnly(None), 0.5, seed=0, preset_key="x")
