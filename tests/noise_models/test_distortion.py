"""The distortion noise model keeps the properties it promises (docs/noise.md)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.draw import disk

from rmdbench.contracts.noise_model import NoiseCase
from rmdbench.errors import UserError
from rmdbench.metrics import case_metrics
from rmdbench.noise_models.distortion import Distortion, DistortionParams, sample_coordinates
from rmdbench.registry import NOISE_MODELS

# elasticdeform 0.5.1 (numpy 1.26) on a 32x32 ellipse:
#   deform_grid(mask, grid, order=1, mode="nearest", rotate=30.0, zoom=1.3)
# with mask and grid as built in _reference_case. Binary output as packed bits (row-major),
# and the float64 output at a few boundary pixels.
ELASTICDEFORM_BITS = (
    "000001f8000003f8000003f8000001f0000000e00040004007f000000ff800001ffc00000fff3f0007ffff80"
    "03ffff8003ffffc001fffe4001fff80000ffe00c00ffc00401ff800001fe000003f8000007f800000ff00000"
    "1ff000001ff000001ff000000ff0000007f0000003f0000001f00000007000000010000000000000"
)
ELASTICDEFORM_FLOAT = {
    (0, 22): 0.271982210081,
    (8, 3): 0.517260227617,
    (14, 7): 0.581701686394,
    (18, 15): 0.062214551648,
    (29, 8): 0.313980579577,
}


def _reference_case() -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[:32, :32]
    mask = ((((rows - 14.0) / 7.0) ** 2 + ((cols - 17.0) / 10.0) ** 2) <= 1).astype(np.uint8)
    grid = (np.arange(50, dtype=float).reshape(2, 5, 5) % 7 - 3.0) * 1.5
    return mask, grid


def _disks(count: int, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Disks of radius 5-20 px near the centre, like centred lesion crops."""
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(count):
        mask = np.zeros((size, size), np.uint8)
        centre = rng.uniform(size / 2 - 6, size / 2 + 6, 2)
        rr, cc = disk(centre, rng.uniform(5, 20), shape=mask.shape)
        mask[rr, cc] = 1
        masks.append(mask)
    return masks


def _case(mask: np.ndarray, num_classes: int = 2) -> NoiseCase:
    return NoiseCase(mask=mask, spacing=np.array([0.7, 0.7]), num_classes=num_classes)


def test_registered_with_paper_defaults() -> None:
    assert NOISE_MODELS.get("distortion") is Distortion
    params = Distortion.from_preset().params
    assert params == DistortionParams()
    assert (params.points, params.sigma_low, params.sigma_high) == (5, 1.0, 11.0)
    assert (params.max_rotation_deg, params.zoom_low, params.zoom_high) == (45.0, 0.8, 2.0)
    assert params.threshold == 0.5
    assert Distortion.from_preset("acdc").params.sigma_high == 16.0
    assert set(Distortion.presets) >= {"default", "acdc", "mild", "severe"}


def test_warp_matches_elasticdeform() -> None:
    mask, grid = _reference_case()
    coordinates = sample_coordinates(mask.shape, grid, 30.0, 1.3)
    values = ndimage.map_coordinates(mask.astype(float), coordinates, order=1, mode="nearest")
    for (row, col), expected in ELASTICDEFORM_FLOAT.items():
        assert values[row, col] == pytest.approx(expected, abs=1e-9)
    expected_bits = np.unpackbits(np.frombuffer(bytes.fromhex(ELASTICDEFORM_BITS), np.uint8))
    np.testing.assert_array_equal((values >= 0.5).astype(np.uint8).ravel(), expected_bits)


def test_zoom_above_one_magnifies_about_the_centre() -> None:
    mask = np.zeros((64, 64), np.uint8)
    rr, cc = disk((31.5, 31.5), 8, shape=mask.shape)
    mask[rr, cc] = 1
    coordinates = sample_coordinates(mask.shape, np.zeros((2, 5, 5)), 0.0, 2.0)
    zoomed = ndimage.map_coordinates(mask.astype(float), coordinates, order=1, mode="nearest")
    zoomed = zoomed >= 0.5
    assert zoomed.sum() / mask.sum() == pytest.approx(4.0, rel=0.05)
    assert ndimage.center_of_mass(zoomed) == pytest.approx((31.5, 31.5), abs=0.01)


def test_empty_mask_stays_empty() -> None:
    model = Distortion.from_preset("severe")
    empty = np.zeros((32, 32), np.uint8)
    out = model.corrupt(_case(empty), np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == empty.shape and not out.any()


def test_binary_output_keeps_dtype_shape_and_values() -> None:
    model = Distortion.from_preset()
    for i, mask in enumerate(_disks(5, size=48)):
        for dtype in (np.uint8, np.int64):
            out = model.corrupt(_case(mask.astype(dtype)), np.random.default_rng(i))
            assert out.dtype == dtype and out.shape == mask.shape
            assert set(np.unique(out)) <= {0, 1}
    rectangular = np.zeros((40, 56), np.uint8)
    rectangular[10:30, 20:40] = 1
    assert model.corrupt(_case(rectangular), np.random.default_rng(0)).shape == (40, 56)


def test_multiclass_uses_nearest_labels() -> None:
    mask = np.zeros((48, 48), np.uint8)
    mask[10:38, 10:38] = 1
    mask[18:30, 18:30] = 2
    mask[20:26, 32:36] = 3
    out = Distortion.from_preset().corrupt(_case(mask, num_classes=4), np.random.default_rng(3))
    assert out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1, 2, 3}
    assert not np.array_equal(out, mask)


def test_same_generator_same_mask_different_generator_different_mask() -> None:
    model = Distortion.from_preset()
    mask = _disks(1)[0]
    first = model.corrupt(_case(mask), np.random.default_rng(7))
    again = model.corrupt(_case(mask), np.random.default_rng(7))
    other = model.corrupt(_case(mask), np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_realised_dice_is_in_a_sensible_band_and_ordered_by_preset() -> None:
    # Measured on these 60 disks (radius 5-20 px in 64x64): median Dice 0.88 (mild),
    # 0.51 (default = paper LIDC; IQR 0.39-0.64), 0.40 (acdc), 0.34 (severe). The paper's
    # zoom U(0.8, 2) (mean 1.4, mostly growing the mask) dominates the loss of overlap.
    masks = _disks(60, seed=1)
    medians = {}
    for preset in ("mild", "default", "severe"):
        model = Distortion.from_preset(preset)
        dice = [
            case_metrics(model.corrupt(_case(mask), np.random.default_rng(i)), mask)["dsc"]
            for i, mask in enumerate(masks)
        ]
        medians[preset] = float(np.median(dice))
        assert np.mean(np.array(dice) < 1.0) > 0.9  # the masks really change
    assert 0.3 <= medians["default"] <= 0.95
    assert medians["mild"] > medians["default"] > medians["severe"]


def test_unknown_preset_or_parameter_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no preset 'extreme'"):
        Distortion.from_preset("extreme")
    with pytest.raises(UserError, match="no parameter sigma_max"):
        Distortion.from_preset(sigma_max=3.0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"sigma_low": 5.0, "sigma_high": 2.0},
        {"sigma_low": -1.0},
        {"sigma_low": 0.0, "sigma_high": 0.0},
        {"zoom_low": 0.0},
        {"zoom_low": 2.5},
        {"points": 1},
        {"points": 2.5},
        {"max_rotation_deg": -10.0},
        {"threshold": 0.0},
        {"sigma_high": float("nan")},
        {"zoom_high": "2"},
    ],
)
def test_invalid_parameters_are_a_one_line_user_error(overrides: dict[str, object]) -> None:
    with pytest.raises(UserError) as caught:
        Distortion.from_preset(**overrides)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("distortion:")
