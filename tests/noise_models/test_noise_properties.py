"""Property tests (hypothesis) run over EVERY registered noise model: random small
datasets of random masks, random ratios and seeds."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmdbench.data.base import SegmentationData
from rmdbench.noise import apply_noise, corrupted_count
from rmdbench.plugins import load_builtins
from rmdbench.registry import NOISE_MODELS

load_builtins()
MODELS = NOISE_MODELS.names()


def _dataset(seed: int, n: int, size: int, empty_every: int) -> SegmentationData:
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size]
    masks = np.zeros((n, size, size), np.uint8)
    for case in range(n):
        if empty_every and case % empty_every == 0:
            continue
        centre = rng.uniform(0.3 * size, 0.7 * size, 2)
        radius = rng.uniform(2, 0.3 * size)
        masks[case] = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2
    readers = np.stack([masks, masks, np.roll(masks, 1, axis=1)], axis=1)
    split = np.array(["train", "train", "val", "test"] * (n // 4) + ["train"] * (n % 4))
    return SegmentationData(
        name="property",
        images=rng.random((n, 1, size, size), dtype=np.float32),
        masks=masks,
        spacing=np.full((n, 2), 0.8, np.float32),
        patient_ids=np.array([f"p{case}" for case in range(n)]),
        split=split,
        case_ids=np.array([f"c{case}" for case in range(n)]),
        readers=readers,
        reader_count=np.full(n, 3),
        given_masks=np.roll(masks, 1, axis=2),  # the user's own labels, for the given model
        given_present=np.ones(n, bool),
    )


datasets = st.builds(
    _dataset,
    seed=st.integers(0, 2**16),
    n=st.integers(4, 14),
    size=st.sampled_from([16, 24]),
    empty_every=st.sampled_from([0, 3]),
)
PROPERTY_SETTINGS = settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("name", MODELS)
@PROPERTY_SETTINGS
@given(data=datasets, low=st.floats(0, 1), high=st.floats(0, 1), seed=st.integers(0, 2**31))
def test_noise_model_properties(name, data, low, high, seed):
    low, high = sorted((low, high))
    model = NOISE_MODELS.get(name).from_preset("default")
    train = data.indices("train")
    noisy_low = apply_noise(data, model, low, seed)
    noisy_high = apply_noise(data, model, high, seed)
    again = apply_noise(data, model, high, seed)
    for noisy, ratio in ((noisy_low, low), (noisy_high, high)):
        # shape, dtype and binary labels kept
        assert noisy.masks.shape == data.masks.shape and noisy.masks.dtype == data.masks.dtype
        assert set(np.unique(noisy.masks)) <= {0, 1}
        # exactly round(r * N) training cases corrupted; validation and test untouched
        corrupted = noisy.realised["corrupted"].to_numpy()
        assert corrupted.sum() == corrupted_count(ratio, len(train))
        others = data.split != "train"
        assert np.array_equal(noisy.masks[others], data.masks[others])
        # cases left clean are unchanged; empty clean masks stay empty
        clean_ids = set(noisy.realised.loc[~noisy.realised["corrupted"], "case_id"])
        for index in train:
            if data.case_ids[index] in clean_ids or not data.masks[index].any():
                assert np.array_equal(noisy.masks[index], data.masks[index])
    # same seed, identical bytes
    assert noisy_high.masks.tobytes() == again.masks.tobytes()
    # nested ratios, and a case corrupted at both ratios has the same noisy mask
    low_ids = set(noisy_low.realised.loc[noisy_low.realised["corrupted"], "case_id"])
    high_ids = set(noisy_high.realised.loc[noisy_high.realised["corrupted"], "case_id"])
    assert low_ids <= high_ids
    for index in train:
        if data.case_ids[index] in low_ids:
            assert np.array_equal(noisy_low.masks[index], noisy_high.masks[index])
