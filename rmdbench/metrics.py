"""Per-case segmentation metrics (DSC, IoU, HD95, ASSD, NSD) with declared conventions.

Libraries disagree on exactly the choices that move surface-distance numbers, so this
module fixes them (docs/metrics.md) and states them in ``CONVENTIONS``, to be printed
under every table.

The surface distances reproduce MONAI 1.6 (``monai.metrics.compute_hausdorff_distance``
and ``compute_average_surface_distance``), checked by reading its source and by the tests:

- a surface ("edge") is ``mask XOR binary_erosion(mask)`` with scipy's default cross
  structuring element, everything outside the image counting as background (MONAI crops
  to the union bounding box with a 1-pixel margin and pads with zeros: the same thing);
- distances are exact Euclidean distances from each edge pixel of one mask to the nearest
  edge pixel of the other, in physical units when a spacing is given;
- HD95: MONAI computes the 95th percentile (``torch.quantile``, linear interpolation) of
  the directed distances pred->target and target->pred separately and returns their
  maximum; it does NOT take the percentile of the pooled distances (medpy, seg-metrics);
- ASSD (``symmetric=True``): MONAI concatenates both directed distance sets and takes one
  mean, so the side with more edge pixels weighs more (not the mean of the two means);
- NSD (normalised surface Dice at a tolerance tau, ``compute_surface_dice`` without
  sub-voxels): the edge pixels of both masks within tau of the other mask's edge, over all
  edge pixels of both masks; each edge pixel counts one, not its surface area.

MONAI itself loops in Python over cases with a KD-tree per case, returns NaN/inf for empty
masks (NSD: NaN when both are empty) and warns; here the same quantities come from
``scipy.ndimage.distance_transform_edt`` on the cropped union bounding box (several times
faster), with the empty-mask policy applied explicitly, and the tests compare the numbers
with MONAI's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

HD_UNIT_MM = "mm"
HD_UNIT_PIXELS = "px"
HD_PERCENTILE = 95.0
#: NSD's tolerance: an edge pixel within this distance of the other mask's edge counts as
#: correct. In mm (pixels for a case without a spacing). 1 mm is about 1.4 pixels at
#: LIDC-IDRI's typical 0.7 mm: a contour one pixel off is still right, two are not.
NSD_TOLERANCE_MM = 1.0
METRIC_KEYS = ("dsc", "iou", "hd95", "assd", "nsd")
#: the flags each case carries after its metrics
FLAG_KEYS = ("empty_both", "empty_one")

CONVENTIONS = """\
Metrics per case (2D crop or 3D volume), then the mean over cases.
DSC = 2|A∩B|/(|A|+|B|); IoU = |A∩B|/|A∪B|; multi-class: per foreground class, then the mean.
HD95 = max of the two directed 95th-percentile surface distances (MONAI/DeepMind), \
not the percentile of pooled distances (medpy).
ASSD = mean of the pooled surface distances of both directions (MONAI, symmetric).
Surfaces: foreground pixels removed by a 4-connected (6 in 3D) erosion; Euclidean distances \
in mm when the spacing is known, else in pixels.
Both masks empty: DSC 1, IoU 1, HD95 0, ASSD 0 (counted as "n empty").
Exactly one mask empty: DSC 0, IoU 0, HD95 = ASSD = the image diagonal (penalty, counted)."""
#: NSD's convention, printed under tables that show NSD only: it is kept out of
#: ``CONVENTIONS``, whose text identifies the conventions of a run's numbers and must not
#: change for runs stored before NSD existed
NSD_CONVENTION = f"""\
NSD = share of the edge pixels of both masks within {NSD_TOLERANCE_MM:g} mm of the other \
mask's edge (px without a spacing; MONAI compute_surface_dice, no sub-voxels); \
both empty: 1; exactly one empty: 0."""


def dice(first: np.ndarray, second: np.ndarray, num_classes: int = 2) -> float:
    """Dice of two label maps, the mean over foreground classes; both empty counts as 1."""
    labels = [None] if num_classes <= 2 else range(1, num_classes)
    scores = []
    for label in labels:
        a = first > 0 if label is None else first == label
        b = second > 0 if label is None else second == label
        total = int(a.sum()) + int(b.sum())
        scores.append(1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total)
    return float(np.mean(scores))


def dice_per_case(predicted: torch.Tensor, target: torch.Tensor, num_classes: int = 2):
    """``dice`` on the device for a batch of label maps [N, *S] (validation during
    training): one score per case, the mean over foreground classes, both empty = 1."""
    labels = [None] if num_classes <= 2 else range(1, num_classes)
    dims = tuple(range(1, predicted.ndim))
    scores = []
    for label in labels:
        a = (predicted > 0 if label is None else predicted == label).float()
        b = (target > 0 if label is None else target == label).float()
        intersection = (a * b).sum(dims)
        total = a.sum(dims) + b.sum(dims)
        scores.append(
            torch.where(total > 0, 2 * intersection / total.clamp_min(1), torch.ones_like(total))
        )
    return torch.stack(scores).mean(0)


def hd_unit(spacing: object) -> str:
    """The unit of HD95/ASSD: mm when a spacing is known, else pixels."""
    return HD_UNIT_PIXELS if spacing is None else HD_UNIT_MM


def image_diagonal(shape: Sequence[int], spacing: Sequence[float] | None = None) -> float:
    """The declared penalty for a surface distance with one empty mask: the diagonal of the
    image extent (``shape[i] * spacing[i]``), in mm, or pixels when spacing is None."""
    sampling = np.ones(len(shape)) if spacing is None else np.asarray(spacing, dtype=float)
    return float(np.sqrt(np.sum((np.asarray(shape, dtype=float) * sampling) ** 2)))


def case_metrics(
    prediction: np.ndarray,
    target: np.ndarray,
    spacing: Sequence[float] | np.ndarray | None = None,
    num_classes: int = 2,
    nsd_tolerance: float = NSD_TOLERANCE_MM,
) -> dict[str, float]:
    """DSC, IoU, HD95, ASSD and NSD of one case of integer labels (2D or 3D).

    Returns ``dsc``, ``iou``, ``hd95``, ``assd``, ``nsd`` (for multi-class: the mean over
    the foreground classes, with ``dsc_class1``, ``iou_class1``, ... per class) and the
    flags ``empty_both`` (every foreground class is empty in both masks) and ``empty_one``
    (some class is empty in exactly one mask, so the diagonal penalty was used), as
    1.0/0.0. Surface distances, and NSD's ``nsd_tolerance``, are in mm when ``spacing`` is
    given, else pixels.
    """
    prediction, target, sampling = _check_case(prediction, target, spacing, num_classes)
    if not (np.isfinite(nsd_tolerance) and nsd_tolerance >= 0):
        raise ValueError(f"nsd_tolerance must be a finite number >= 0, got {nsd_tolerance}")
    diagonal = image_diagonal(target.shape, sampling)
    if num_classes == 2:
        values = _binary_metrics(
            prediction.astype(bool), target.astype(bool), sampling, diagonal, nsd_tolerance
        )
        return dict(zip((*METRIC_KEYS, *FLAG_KEYS), values, strict=True))

    result: dict[str, float] = {}
    per_class = []
    for label in range(1, num_classes):
        values = _binary_metrics(
            prediction == label, target == label, sampling, diagonal, nsd_tolerance
        )
        per_class.append(values)
        for key, value in zip(METRIC_KEYS, values[: len(METRIC_KEYS)], strict=True):
            result[f"{key}_class{label}"] = value
    table = np.asarray(per_class)
    out = {key: float(table[:, k].mean()) for k, key in enumerate(METRIC_KEYS)}
    out["empty_both"] = float(table[:, len(METRIC_KEYS)].all())
    out["empty_one"] = float(table[:, len(METRIC_KEYS) + 1].any())
    out.update(result)
    return out


def evaluate_cases(
    predictions: np.ndarray,
    targets: np.ndarray,
    spacing: np.ndarray | None,
    case_ids: Sequence[str] | np.ndarray | None = None,
    num_classes: int = 2,
    nsd_tolerance: float = NSD_TOLERANCE_MM,
) -> pd.DataFrame:
    """One row of ``case_metrics`` per case of ``predictions``/``targets`` [N, H, W] (or
    [N, D, H, W]); ``spacing`` is [N, ndim] in mm, or None for pixel units (recorded in
    ``frame.attrs["hd_unit"]``); NSD at ``nsd_tolerance`` in the same unit."""
    predictions = np.asarray(predictions)
    targets = np.asarray(targets)
    if predictions.shape != targets.shape:
        raise ValueError(
            f"predictions {predictions.shape} and targets {targets.shape} differ in shape"
        )
    n = len(targets)
    if spacing is not None:
        spacing = np.asarray(spacing, dtype=float)
        if spacing.shape != (n, targets.ndim - 1):
            raise ValueError(
                f"spacing must be [N, {targets.ndim - 1}] = {(n, targets.ndim - 1)}, "
                f"got {spacing.shape}"
            )
    if case_ids is None:
        case_ids = [str(i) for i in range(n)]
    if len(case_ids) != n:
        raise ValueError(f"case_ids has {len(case_ids)} entries, not {n}")
    rows = []
    for i in range(n):
        row: dict[str, object] = {"case_id": str(case_ids[i])}
        row.update(
            case_metrics(
                predictions[i],
                targets[i],
                None if spacing is None else spacing[i],
                num_classes,
                nsd_tolerance,
            )
        )
        rows.append(row)
    columns = ["case_id", *METRIC_KEYS, *FLAG_KEYS]
    if num_classes > 2:
        columns += [f"{k}_class{c}" for c in range(1, num_classes) for k in METRIC_KEYS]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["hd_unit"] = hd_unit(spacing)
    return frame


def _check_case(
    prediction: np.ndarray,
    target: np.ndarray,
    spacing: Sequence[float] | np.ndarray | None,
    num_classes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    prediction = np.asarray(prediction)
    target = np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and target {target.shape} differ in shape")
    if target.ndim not in (2, 3):
        raise ValueError(f"a case must be 2D or 3D, got shape {target.shape}")
    if num_classes < 2:
        raise ValueError(f"num_classes counts the background too, so it is >= 2, not {num_classes}")
    for name, array in (("prediction", prediction), ("target", target)):
        if not (array.dtype == bool or np.issubdtype(array.dtype, np.integer)):
            raise ValueError(f"{name} must hold integer labels, got dtype {array.dtype}")
        if array.size and (array.min() < 0 or array.max() >= num_classes):
            raise ValueError(
                f"{name} has labels outside [0, {num_classes - 1}] (num_classes={num_classes})"
            )
    sampling = None
    if spacing is not None:
        sampling = np.asarray(spacing, dtype=float).reshape(-1)
        if sampling.shape != (target.ndim,) or not np.all(sampling > 0):
            raise ValueError(f"spacing must be {target.ndim} positive numbers, got {spacing}")
    return prediction, target, sampling


def _binary_metrics(
    prediction: np.ndarray,
    target: np.ndarray,
    sampling: np.ndarray | None,
    diagonal: float,
    nsd_tolerance: float,
) -> tuple[float, float, float, float, float, float, float]:
    """(dsc, iou, hd95, assd, nsd, empty_both, empty_one) of two boolean masks."""
    size_pred = int(prediction.sum())
    size_target = int(target.sum())
    if size_pred == 0 and size_target == 0:
        return 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0
    if size_pred == 0 or size_target == 0:
        return 0.0, 0.0, diagonal, diagonal, 0.0, 0.0, 1.0
    intersection = int(np.logical_and(prediction, target).sum())
    dsc = 2.0 * intersection / (size_pred + size_target)
    iou = intersection / (size_pred + size_target - intersection)
    to_target, to_prediction = directed_surface_distances(prediction, target, sampling)
    hd95 = max(
        float(np.percentile(to_target, HD_PERCENTILE)),
        float(np.percentile(to_prediction, HD_PERCENTILE)),
    )
    pooled = np.concatenate([to_target, to_prediction])
    assd = float(pooled.mean())
    nsd = float(np.count_nonzero(pooled <= nsd_tolerance) / pooled.size)
    return dsc, iou, hd95, assd, nsd, 0.0, 0.0


def directed_surface_distances(
    prediction: np.ndarray, target: np.ndarray, sampling: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each surface pixel of ``prediction`` to the surface of ``target``, and
    back, for two non-empty boolean masks (MONAI's edges and exact Euclidean distances)."""
    union = prediction | target
    box = tuple(slice(max(int(idx.min()) - 1, 0), int(idx.max()) + 2) for idx in np.nonzero(union))
    edges_pred = _edges(prediction[box])
    edges_target = _edges(target[box])
    to_target = ndimage.distance_transform_edt(~edges_target, sampling=sampling)[edges_pred]
    to_prediction = ndimage.distance_transform_edt(~edges_pred, sampling=sampling)[edges_target]
    return to_target, to_prediction


def _edges(mask: np.ndarray) -> np.ndarray:
    """Foreground pixels that a cross-shaped erosion removes (outside counts as background)."""
    return mask & ~ndimage.binary_erosion(mask, border_value=0)
