"""Per-case metrics against hand-computed values and against MONAI."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from rmdbench.metrics import (
    CONVENTIONS,
    NSD_TOLERANCE_MM,
    case_metrics,
    evaluate_cases,
    hd_unit,
    image_diagonal,
)


def _lines(shape: tuple[int, int], short: int, long: int) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-pixel-thick horizontal lines on row 1: columns [0, short) and [0, long)."""
    a = np.zeros(shape, np.uint8)
    b = np.zeros(shape, np.uint8)
    a[1, :short] = 1
    b[1, :long] = 1
    return a, b


def test_dsc_and_iou_on_small_arrays() -> None:
    prediction = np.zeros((5, 5), np.uint8)
    target = np.zeros((5, 5), np.uint8)
    prediction[1:3, 1:3] = 1  # 4 pixels
    target[1:3, 1:4] = 1  # 6 pixels, 4 shared
    metrics = case_metrics(prediction, target)
    assert metrics["dsc"] == pytest.approx(2 * 4 / (4 + 6))
    assert metrics["iou"] == pytest.approx(4 / 6)
    assert metrics["empty_both"] == 0.0 and metrics["empty_one"] == 0.0


def test_hd95_is_max_of_directed_percentiles_not_pooled() -> None:
    # A = 10 pixels, B = 20 pixels on one row; A is inside B. Every pixel is a surface pixel.
    # A -> B: 10 zeros, so its 95th percentile is 0.
    # B -> A: 10 zeros then 1..10; 95th percentile at position 0.95 * 19 = 18.05 -> 9 + 0.05.
    # Pooled (medpy): 20 zeros then 1..10; position 0.95 * 29 = 27.55 -> 8 + 0.55 = 8.55.
    a, b = _lines((3, 24), 10, 20)
    metrics = case_metrics(a, b)
    assert metrics["hd95"] == pytest.approx(9.05)
    assert metrics["hd95"] != pytest.approx(8.55)
    # Symmetric in its arguments.
    assert case_metrics(b, a)["hd95"] == pytest.approx(9.05)
    # ASSD: MONAI pools both directions' distances: (0 * 20 + 1 + ... + 10) / 30.
    assert metrics["assd"] == pytest.approx(55 / 30)
    assert metrics["dsc"] == pytest.approx(2 * 10 / 30)


def test_spacing_scales_surface_distances_per_axis() -> None:
    spacing = (2.0, 0.5)  # mm per row, mm per column
    a, b = _lines((3, 24), 10, 20)
    horizontal = case_metrics(a, b, spacing)
    assert horizontal["hd95"] == pytest.approx(9.05 * 0.5)  # distances run along columns
    assert horizontal["assd"] == pytest.approx(55 / 30 * 0.5)
    vertical = case_metrics(a.T.copy(), b.T.copy(), spacing)
    assert vertical["hd95"] == pytest.approx(9.05 * 2.0)  # now they run along rows
    assert vertical["assd"] == pytest.approx(55 / 30 * 2.0)
    assert vertical["dsc"] == horizontal["dsc"]  # overlap metrics ignore spacing


def test_diagonal_distance_with_anisotropic_spacing() -> None:
    # Two single pixels 3 rows and 4 columns apart: distance sqrt((3*2)^2 + (4*0.5)^2).
    a = np.zeros((8, 8), np.uint8)
    b = np.zeros((8, 8), np.uint8)
    a[1, 1] = 1
    b[4, 5] = 1
    metrics = case_metrics(a, b, (2.0, 0.5))
    expected = math.hypot(6.0, 2.0)
    assert metrics["hd95"] == pytest.approx(expected)
    assert metrics["assd"] == pytest.approx(expected)
    assert metrics["dsc"] == 0.0


def test_both_empty_is_a_perfect_score_and_flagged() -> None:
    empty = np.zeros((16, 16), np.uint8)
    metrics = case_metrics(empty, empty, (0.7, 0.7))
    assert metrics == {
        "dsc": 1.0,
        "iou": 1.0,
        "hd95": 0.0,
        "assd": 0.0,
        "nsd": 1.0,
        "empty_both": 1.0,
        "empty_one": 0.0,
    }


@pytest.mark.parametrize("empty_side", ["prediction", "target"])
def test_one_empty_gets_the_diagonal_penalty(empty_side: str) -> None:
    mask = np.zeros((3, 24), np.uint8)
    mask[1, 3:9] = 1
    empty = np.zeros_like(mask)
    pair = (empty, mask) if empty_side == "prediction" else (mask, empty)
    in_mm = case_metrics(*pair, spacing=(2.0, 0.5))
    diagonal_mm = math.hypot(3 * 2.0, 24 * 0.5)
    assert in_mm["dsc"] == 0.0 and in_mm["iou"] == 0.0
    assert in_mm["hd95"] == pytest.approx(diagonal_mm)
    assert in_mm["assd"] == pytest.approx(diagonal_mm)
    assert in_mm["nsd"] == 0.0
    assert in_mm["empty_one"] == 1.0 and in_mm["empty_both"] == 0.0
    in_pixels = case_metrics(*pair, spacing=None)
    assert in_pixels["hd95"] == pytest.approx(math.hypot(3, 24))
    assert not any(math.isnan(value) for value in in_mm.values())


def test_image_diagonal_and_unit() -> None:
    assert image_diagonal((3, 4)) == pytest.approx(5.0)
    assert image_diagonal((3, 4), (2.0, 1.5)) == pytest.approx(math.hypot(6.0, 6.0))
    assert hd_unit(None) == "px"
    assert hd_unit((0.7, 0.7)) == "mm"
    assert "HD95" in CONVENTIONS and "diagonal" in CONVENTIONS


def test_multiclass_is_the_mean_over_foreground_classes() -> None:
    prediction = np.zeros((6, 12), np.uint8)
    target = np.zeros((6, 12), np.uint8)
    prediction[1:3, 1:3] = 1  # class 1: 4 vs 6 pixels, 4 shared -> DSC 0.8
    target[1:3, 1:4] = 1
    prediction[3:5, 6:10] = 2  # class 2: 8 vs 8 pixels, 4 shared -> DSC 0.5
    target[3:5, 8:12] = 2
    metrics = case_metrics(prediction, target, num_classes=3)
    assert metrics["dsc_class1"] == pytest.approx(0.8)
    assert metrics["dsc_class2"] == pytest.approx(0.5)
    assert metrics["dsc"] == pytest.approx((0.8 + 0.5) / 2)
    assert metrics["iou_class1"] == pytest.approx(4 / 6)
    assert metrics["iou_class2"] == pytest.approx(4 / 12)
    assert metrics["iou"] == pytest.approx((4 / 6 + 4 / 12) / 2)
    assert metrics["hd95"] == pytest.approx((metrics["hd95_class1"] + metrics["hd95_class2"]) / 2)
    # Each class alone equals the binary metric of that class.
    alone = case_metrics((prediction == 2).astype(np.uint8), (target == 2).astype(np.uint8))
    assert metrics["hd95_class2"] == pytest.approx(alone["hd95"])
    # A class absent from both counts as perfect, one missing from one side as the penalty.
    four = case_metrics(prediction, target, num_classes=4)
    assert four["dsc_class3"] == 1.0 and four["hd95_class3"] == 0.0
    assert four["dsc"] == pytest.approx((0.8 + 0.5 + 1.0) / 3)
    assert four["empty_both"] == 0.0 and four["empty_one"] == 0.0
    missing = target.copy()
    missing[missing == 2] = 0
    penalised = case_metrics(prediction, missing, num_classes=3)
    assert penalised["dsc_class2"] == 0.0
    assert penalised["hd95_class2"] == pytest.approx(math.hypot(6, 12))
    assert penalised["empty_one"] == 1.0


def test_evaluate_cases_frame() -> None:
    rng = np.random.default_rng(0)
    predictions = (rng.random((7, 16, 16)) > 0.7).astype(np.uint8)
    targets = (rng.random((7, 16, 16)) > 0.7).astype(np.uint8)
    targets[3] = 0
    predictions[3] = 0
    spacing = rng.uniform(0.5, 1.0, size=(7, 2))
    ids = [f"case{i}" for i in range(7)]
    frame = evaluate_cases(predictions, targets, spacing, ids)
    assert list(frame.columns) == [
        "case_id",
        "dsc",
        "iou",
        "hd95",
        "assd",
        "nsd",
        "empty_both",
        "empty_one",
    ]
    assert len(frame) == 7
    assert list(frame["case_id"]) == ids
    assert frame.attrs["hd_unit"] == "mm"
    assert frame.loc[3, "empty_both"] == 1.0
    for i in (0, 5):
        expected = case_metrics(predictions[i], targets[i], spacing[i])
        assert frame.loc[i, "hd95"] == pytest.approx(expected["hd95"])
    multi = evaluate_cases(predictions * 2, targets, None, num_classes=3)
    assert "dsc_class2" in multi.columns and multi.attrs["hd_unit"] == "px"
    assert list(multi["case_id"]) == [str(i) for i in range(7)]


def test_agrees_with_monai() -> None:
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance
    from skimage.draw import ellipse

    rng = np.random.default_rng(1)

    def blob() -> np.ndarray:
        mask = np.zeros((48, 48), np.uint8)
        for _ in range(rng.integers(1, 3)):
            rr, cc = ellipse(
                *rng.uniform(4, 44, 2),
                *rng.uniform(2, 12, 2),
                shape=mask.shape,
                rotation=rng.uniform(0, 3),
            )
            mask[rr, cc] = 1
        return mask

    predictions = np.stack([blob() for _ in range(12)])
    targets = np.stack([blob() for _ in range(12)])
    targets[0, 0, :] = 1  # foreground on the image border
    spacing = rng.uniform(0.4, 2.0, size=(12, 2))
    ours = evaluate_cases(predictions, targets, spacing)
    as_tensor = [torch.from_numpy(x[:, None].astype(np.float32)) for x in (predictions, targets)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd95 = compute_hausdorff_distance(
            *as_tensor, include_background=True, percentile=95, spacing=[list(s) for s in spacing]
        )
        assd = compute_average_surface_distance(
            *as_tensor, include_background=True, symmetric=True, spacing=[list(s) for s in spacing]
        )
    np.testing.assert_allclose(ours["hd95"], hd95[:, 0].numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ours["assd"], assd[:, 0].numpy(), rtol=1e-5, atol=1e-4)


def test_3d_case_agrees_with_monai() -> None:
    from monai.metrics import compute_hausdorff_distance

    a = np.zeros((10, 12, 14), np.uint8)
    b = np.zeros_like(a)
    a[2:7, 3:9, 4:10] = 1
    b[3:9, 2:8, 5:13] = 1
    spacing = (2.5, 0.8, 0.6)
    ours = case_metrics(a, b, spacing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = compute_hausdorff_distance(
            torch.from_numpy(a[None, None].astype(np.float32)),
            torch.from_numpy(b[None, None].astype(np.float32)),
            include_background=True,
            percentile=95,
            spacing=list(spacing),
        )
    assert ours["hd95"] == pytest.approx(float(theirs[0, 0]), rel=1e-5)


def test_bad_inputs_are_rejected() -> None:
    mask = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        case_metrics(mask, np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="integer labels"):
        case_metrics(mask.astype(float), mask)
    with pytest.raises(ValueError, match="outside"):
        case_metrics(mask + 2, mask)
    with pytest.raises(ValueError, match="spacing"):
        case_metrics(mask, mask, (1.0, 1.0, 1.0))


@pytest.mark.parametrize("num_classes", [2, 4])
def test_the_device_dice_of_validation_equals_the_metrics_dice(num_classes):
    """Validation during training scores with the same Dice as the test metrics."""
    import torch

    from rmdbench.metrics import dice, dice_per_case

    rng = np.random.default_rng(3)
    predicted = rng.integers(0, num_classes, size=(5, 9, 9))
    target = rng.integers(0, num_classes, size=(5, 9, 9))
    predicted[0] = 0
    target[0] = 0  # both empty: 1
    expected = [dice(p, t, num_classes) for p, t in zip(predicted, target, strict=True)]
    found = dice_per_case(torch.from_numpy(predicted), torch.from_numpy(target), num_classes)
    assert expected[0] == 1.0
    np.testing.assert_allclose(found.numpy(), expected, rtol=1e-6)


# --- NSD against MONAI -----------------------------------------------------------------------


def _monai_nsd(prediction: np.ndarray, target: np.ndarray, spacing, tolerance: float) -> float:
    """MONAI's normalised surface Dice of one binary case (no sub-voxels, as rmdbench)."""
    from monai.metrics import compute_surface_dice

    as_tensor = [torch.from_numpy(x[None, None].astype(np.float32)) for x in (prediction, target)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI warns about empty masks
        value = compute_surface_dice(
            *as_tensor,
            class_thresholds=[tolerance],
            include_background=True,
            spacing=None if spacing is None else list(spacing),
        )
    return float(value[0, 0])


def _square(shape: tuple[int, ...], start: int, size: int, shift: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[tuple(slice(start + d, start + d + size) for d in shift)] = 1
    return mask


NSD_CASES = {
    # name: (prediction, target, spacing, tolerance)
    "identical": (
        _square((20, 20), 5, 8, (0, 0)),
        _square((20, 20), 5, 8, (0, 0)),
        (0.7, 0.7),
        1.0,
    ),
    "shifted square, within tolerance": (
        _square((24, 24), 6, 8, (0, 1)),
        _square((24, 24), 6, 8, (0, 0)),
        (0.7, 0.7),
        1.0,
    ),
    "shifted square, partly out": (
        _square((24, 24), 6, 8, (0, 3)),
        _square((24, 24), 6, 8, (0, 0)),
        (0.7, 0.7),
        1.0,
    ),
    "anisotropic spacing": (
        _square((24, 24), 6, 8, (2, 2)),
        _square((24, 24), 6, 8, (0, 0)),
        (0.4, 2.5),
        1.0,
    ),
    "anisotropic 3D": (
        _square((12, 14, 16), 3, 6, (1, 0, 2)),
        _square((12, 14, 16), 3, 6, (0, 1, 0)),
        (2.5, 0.8, 0.6),
        1.5,
    ),
    "pixel units": (_square((20, 20), 4, 9, (1, 2)), _square((20, 20), 4, 9, (0, 0)), None, 2.0),
    "one empty (prediction)": (
        np.zeros((16, 16), np.uint8),
        _square((16, 16), 4, 6, (0, 0)),
        (0.7, 0.7),
        1.0,
    ),
    "one empty (target)": (
        _square((16, 16), 4, 6, (0, 0)),
        np.zeros((16, 16), np.uint8),
        (0.7, 0.7),
        1.0,
    ),
}


@pytest.mark.parametrize("name", list(NSD_CASES))
def test_nsd_agrees_with_monai(name: str) -> None:
    prediction, target, spacing, tolerance = NSD_CASES[name]
    ours = case_metrics(prediction, target, spacing, nsd_tolerance=tolerance)["nsd"]
    assert ours == pytest.approx(_monai_nsd(prediction, target, spacing, tolerance), abs=1e-6)


def test_nsd_corner_values() -> None:
    """The values the cases above must have, so MONAI agreeing is not both being wrong."""
    same = NSD_CASES["identical"]
    assert case_metrics(*same[:2], same[2])["nsd"] == 1.0
    within = NSD_CASES["shifted square, within tolerance"]
    assert case_metrics(*within[:2], within[2])["nsd"] == 1.0  # 0.7 mm off, tolerance 1 mm
    out = NSD_CASES["shifted square, partly out"]
    assert 0.0 < case_metrics(*out[:2], out[2])["nsd"] < 1.0  # 2.1 mm off: only some edges
    assert case_metrics(*NSD_CASES["one empty (prediction)"][:3])["nsd"] == 0.0


def test_nsd_both_empty_is_one_where_monai_says_nan() -> None:
    """The declared convention (docs/metrics.md): both empty scores 1 like DSC, never NaN."""
    empty = np.zeros((16, 16), np.uint8)
    assert math.isnan(_monai_nsd(empty, empty, (0.7, 0.7), 1.0))
    assert case_metrics(empty, empty, (0.7, 0.7))["nsd"] == 1.0


def test_nsd_tolerance_is_in_mm() -> None:
    """A 1-pixel shift at 0.7 mm is inside 1 mm; at 1.5 mm spacing it is outside."""
    prediction, target = _square((24, 24), 6, 8, (0, 1)), _square((24, 24), 6, 8, (0, 0))
    assert case_metrics(prediction, target, (0.7, 0.7))["nsd"] == 1.0
    assert case_metrics(prediction, target, (1.5, 1.5))["nsd"] < 1.0
    assert NSD_TOLERANCE_MM == 1.0  # docs/metrics.md states it
    with pytest.raises(ValueError, match="nsd_tolerance"):
        case_metrics(prediction, target, (0.7, 0.7), nsd_tolerance=-1.0)


def test_nsd_multi_class_is_the_mean_over_classes() -> None:
    target = np.zeros((24, 24), np.uint8)
    target[2:8, 2:8] = 1
    prediction = target.copy()
    prediction[14:20, 14:20] = 2  # class 2 only in the prediction: NSD 0
    metrics = case_metrics(prediction, target, (0.7, 0.7), num_classes=3)
    assert metrics["nsd_class1"] == 1.0 and metrics["nsd_class2"] == 0.0
    assert metrics["nsd"] == 0.5
