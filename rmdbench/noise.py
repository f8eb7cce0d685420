"""Noisy training labels: which training cases a noise model corrupts, reproducibly, and how
noisy they really became.

The noise ratio r (the fraction of TRAINING cases whose mask is corrupted) and the
severity (the model's parameters) are separate axes (docs/noise.md). Validation and test
masks are never touched by training. A run also scores its final model against a noisy
copy of the validation labels (``split="val"``: the same model, severity and ratio), the
realistic rule for choosing hyper-parameters (docs/tuning.md); that copy draws from random
streams of its own, so the training labels are the same with or without it.

Randomness, so that a ratio sweep changes one thing at a time:

- the corrupted cases are the first ``round(r * n_train)`` (half rounds up) of ONE fixed
  permutation of the training cases, drawn from a generator seeded by (dataset, noise
  model, severity, seed). The ratio is not in that seed, so the cases corrupted at
  r = 0.4 are a subset of those at r = 0.6;
- each case's noisy mask comes from its own generator seeded by (dataset, noise model,
  severity, seed, case id), so it is identical at every ratio and does not depend on the
  order in which cases are processed.

Both seeds start with a purpose (``seed_purpose``): ``noise-selection`` and ``noise-case``
for the training split, as always, and ``noise-selection-val`` / ``noise-case-val`` for the
validation split, so corrupting one split never moves the other's draws.

Nothing depends on the training method: every method sees the same noisy labels.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rmdbench import seeding
from rmdbench.contracts.noise_model import NoiseCase, NoiseModel
from rmdbench.data.base import SegmentationData
from rmdbench.errors import OptionError, UserError
from rmdbench.metrics import case_metrics
from rmdbench.params import params_dict
from rmdbench.registry import NOISE_MODELS

#: the split a noise model corrupts unless told otherwise: the labels a method trains on
TRAIN_SPLIT = "train"
#: the splits of a dataset (``SegmentationData.split``); an empty one corrupts nothing
SPLITS = (TRAIN_SPLIT, "val", "test")

REALISED_COLUMNS = (
    "case_id",
    "corrupted",
    "noise_model",
    "noisy_dsc",
    "noisy_hd95",
    "flipped_fraction",
)


@dataclass(frozen=True, eq=False)
class NoisyLabels:
    """The labels of one split after noise (by default the training labels a method
    sees), and the realised noise per case of that split.

    masks:    uint8 [N, H, W], a copy of ``data.masks`` where only the corrupted cases of
              ``split`` differ (by default the training cases; the other splits stay clean).
    realised: one row per case of ``split`` (REALISED_COLUMNS): corrupted or not, the
              model, Dice and HD95 (mm; pixels when the spacing is unknown) of noisy vs
              clean, and the fraction of pixels whose label changed.
    """

    masks: np.ndarray
    realised: pd.DataFrame
    noise_model: str = ""
    severity: str = ""
    noise_ratio: float = math.nan
    seed: int = -1
    corrupted_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    split: str = TRAIN_SPLIT

    def summary(self) -> dict[str, float | int | str]:
        """How noisy the training labels really are, for tables and the run record.

        Means over the corrupted cases (NaN when none) and ``mean_train_dsc`` over all
        training cases (the label quality a method actually trains on).
        """
        realised = self.realised
        corrupted = realised[realised["corrupted"]]
        n_train = len(realised)

        def over_corrupted(column: str, statistic: str = "mean") -> float:
            return float(corrupted[column].agg(statistic)) if len(corrupted) else math.nan

        return {
            "noise_model": self.noise_model,
            "severity": self.severity,
            "noise_ratio": self.noise_ratio,
            "seed": self.seed,
            "n_train": n_train,
            "n_corrupted": len(corrupted),
            "fraction_corrupted": len(corrupted) / n_train if n_train else math.nan,
            "mean_noisy_dsc": over_corrupted("noisy_dsc"),
            "median_noisy_dsc": over_corrupted("noisy_dsc", "median"),
            "mean_noisy_hd95": over_corrupted("noisy_hd95"),
            "mean_flipped_fraction": over_corrupted("flipped_fraction"),
            "mean_train_dsc": float(realised["noisy_dsc"].mean()) if n_train else math.nan,
        }


def severity_key(params: dict) -> str:
    """The one canonical string of a severity (its parameters as a dict, keys sorted). It is
    part of every noise seed: a sweep run, ``rmdbench noise`` and a report all use it, so
    they see the same noisy labels."""
    return json.dumps(params, sort_keys=True, default=str)


def corrupted_count(noise_ratio: float, n_train: int) -> int:
    """round(noise_ratio * n_train), half rounding up (Python's round() would round 2.5
    to 2)."""
    return min(n_train, math.floor(noise_ratio * n_train + 0.5))


class NoiseRatioError(UserError):
    """A noise ratio that is not a number in [0, 1]."""


def check_noise_ratio(noise_ratio: object) -> float:
    """The ratio as a float, or a NoiseRatioError naming the fix."""
    if isinstance(noise_ratio, bool) or not isinstance(noise_ratio, numbers.Real):
        raise NoiseRatioError(
            f"noise ratio {noise_ratio!r} is not a number; pass a value like --noise 0.8"
        )
    value = float(noise_ratio)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise NoiseRatioError(
            f"noise ratio {value:g} is outside [0, 1]; pass a value like --noise 0.8"
        )
    return value


def parse_noise_ratios(values: Sequence[object]) -> list[float]:
    """The one reader of noise ratios: numbers (YAML) and text, where several are
    comma-separated as on the command line ('0,0.4,0.8'), give a list of checked floats.
    '0 0.4' is refused, not read as two: lists have one form."""
    ratios = []
    for value in values:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            ratios.append(check_noise_ratio(value))
            continue
        for item in filter(None, (part.strip() for part in str(value).split(","))):
            try:
                number = float(item)
            except ValueError:
                raise NoiseRatioError(
                    f"'{item}' is not a noise ratio; pass numbers in [0, 1], comma-separated, "
                    "e.g. --noise 0,0.4,0.8"
                ) from None
            ratios.append(check_noise_ratio(number))
    return ratios


def seed_purpose(kind: str, split: str) -> str:
    """The first part of a noise seed: ``noise-selection`` / ``noise-case`` for the
    training split (the seeds every run has always used), ``noise-<kind>-<split>`` for
    another split, so that split's draws are its own."""
    return f"noise-{kind}" if split == TRAIN_SPLIT else f"noise-{kind}-{split}"


def selection_order(
    data: SegmentationData, model_name: str, preset_key: str, seed: int, split: str = TRAIN_SPLIT
) -> np.ndarray:
    """All case indices of ``split`` in the fixed random order whose first k are
    corrupted."""
    cases = data.indices(split)
    rng = seeding.generator(
        seed_purpose("selection", split), data.name, model_name, preset_key, int(seed)
    )
    return cases[rng.permutation(len(cases))]


def apply_noise(
    data: SegmentationData,
    model: NoiseModel,
    noise_ratio: float,
    seed: int,
    preset_key: str | None = None,
    split: str = TRAIN_SPLIT,
) -> NoisyLabels:
    """Corrupt ``round(noise_ratio * n)`` of the ``n`` masks of ``split`` (default: the
    training cases) of ``data`` with ``model``.

    ``preset_key`` names the severity in the seeds (default: ``severity_key`` of the
    model's parameters, as a sweep run uses); two severities with the same key share their
    random draws. Another ``split`` (``"val"``) draws from its own seeds
    (``seed_purpose``): the training labels are the same whether it is corrupted or not.
    """
    ratio = check_noise_ratio(noise_ratio)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    model_name = type(model).name
    if not model_name:
        raise ValueError(f"{type(model).__name__} has no registered name (set `name`)")
    if preset_key is None:
        preset_key = severity_key(params_dict(model.params))
    if data.num_classes > 2 and not type(model).supports_multiclass:
        raise UserError(
            f"noise model '{model_name}' supports binary masks only, but dataset "
            f"'{data.name}' has {data.num_classes} classes; choose another noise model"
        )

    check_noise_dims(type(model), data.spatial_dims, data.name)
    check_noise_data(type(model), data)
    order = selection_order(data, model_name, preset_key, seed, split)
    chosen = np.sort(order[: corrupted_count(ratio, len(order))])
    masks = np.array(data.masks, dtype=np.uint8, copy=True)
    purpose = seed_purpose("case", split)
    for index in chosen:
        rng = seeding.generator(
            purpose, data.name, model_name, preset_key, int(seed), str(data.case_ids[index])
        )
        noisy = np.asarray(model.corrupt(_noise_case(data, int(index)), rng))
        if noisy.shape != masks.shape[1:]:
            raise ValueError(
                f"noise model '{model_name}' returned shape {noisy.shape}, "
                f"expected {masks.shape[1:]}"
            )
        masks[index] = noisy.astype(np.uint8)

    realised = _realised(data, masks, chosen, model_name, split)
    return NoisyLabels(
        masks=masks,
        realised=realised,
        noise_model=model_name,
        severity=preset_key,
        noise_ratio=ratio,
        seed=int(seed),
        corrupted_index=chosen,
        split=split,
    )


class NoiseFitError(UserError):
    """A severity parameter larger than the crop it corrupts (a 99999 px radius on a 64 px
    crop): ``model``, ``parameter``, its ``value`` and the ``crop_size``."""

    def __init__(
        self, model: str = "", parameter: str = "", value: float = 0, crop_size: int = 0
    ) -> None:
        super().__init__(
            f"noise model '{model}': {parameter}={value:g} is larger than the {crop_size} px "
            f"crop; use {parameter} <= {crop_size}"
        )
        self.model = model
        self.parameter = parameter
        self.value = value
        self.crop_size = crop_size


def check_noise_fits(model: NoiseModel, crop_size: int) -> None:
    """Refuse a severity that does not fit the crop: each parameter a noise model names in
    ``crop_bounded`` (a class attribute: radii, shifts, displacement widths, in px) must not
    exceed ``crop_size``; beyond it the noise is meaningless (a dilation that fills the
    crop) or costly. The components of a mixture (``components``) are checked too. A sweep
    checks its grid against the profile's crop when it plans (``rmdbench.sweep.plan``), and
    ``rmdbench noise stats|preview`` check what they show the same way (a preset that does
    not fit is skipped with a note); ``apply_noise`` itself does not check."""
    for parameter in getattr(type(model), "crop_bounded", ()):
        value = getattr(model.params, parameter)
        largest = max(value) if isinstance(value, tuple | list) else value
        if largest > crop_size:
            raise NoiseFitError(type(model).name, parameter, largest, crop_size)
    for component in getattr(model, "components", ()):
        check_noise_fits(component, crop_size)


def check_noise_dims(model: type[NoiseModel], spatial_dims: int, dataset: str) -> None:
    """A 2D-only noise model on volumes is a one-line error naming those that work."""
    if spatial_dims in model.spatial_dims:
        return
    able = [entry.name for entry in NOISE_MODELS if spatial_dims in entry.factory.spatial_dims]
    raise UserError(
        f"noise model '{model.name}' works on "
        f"{' or '.join(f'{d}D' for d in model.spatial_dims)} masks and dataset '{dataset}' is "
        f"{spatial_dims}D; choose one of: {', '.join(able)}"
    )


#: what a noise model needing per-reader masks says on a dataset without them
NO_READER_MASKS = (
    "noise model '{model}' needs per-reader masks and dataset '{dataset}' has none; use a "
    "dataset with readers (--dataset lidc-phantom, or a folder prepared with "
    "masks/<annotator>/ subfolders, docs/datasets.md)"
)
#: what a noise model needing the user's own noisy labels says on data without them
NO_GIVEN_LABELS = (
    "noise model '{model}' trains on your own noisy labels and dataset '{dataset}' has none; "
    "prepare a folder with noisy_masks/<case> files: rmdbench data prepare folder SOURCE "
    "(docs/datasets.md)"
)


def check_noise_labels(
    model: type[NoiseModel], dataset: str, *, readers: bool, given: bool
) -> None:
    """A noise model that needs per-reader masks (``requires_readers``) or the user's own
    noisy labels (``requires_given``) on a dataset without them: one line naming the fix.
    A sweep asks before it writes anything (from a prepared copy's description, or from the
    loaded data)."""
    if model.requires_readers and not readers:
        raise OptionError(NO_READER_MASKS.format(model=model.name, dataset=dataset), "dataset")
    if model.requires_given and not given:
        raise OptionError(NO_GIVEN_LABELS.format(model=model.name, dataset=dataset), "dataset")


def check_noise_data(model: type[NoiseModel], data: SegmentationData) -> None:
    """``apply_noise``'s check: the user's own noisy labels for a model that needs them
    (per-reader masks are checked by the reader model itself, case by case)."""
    if model.requires_given and data.given_masks is None:
        raise UserError(NO_GIVEN_LABELS.format(model=model.name, dataset=data.name))


def _noise_case(data: SegmentationData, index: int) -> NoiseCase:
    readers = None if data.readers is None else data.readers[index]
    reader_count = 0
    if data.reader_count is not None:
        reader_count = int(data.reader_count[index])
    elif readers is not None:
        reader_count = len(readers)
    return NoiseCase(
        mask=data.masks[index],
        spacing=np.asarray(data.spacing[index], dtype=float),
        num_classes=data.num_classes,
        readers=readers,
        reader_count=reader_count,
        given=_given_label(data, index),
    )


def _given_label(data: SegmentationData, index: int) -> np.ndarray | None:
    """The user's own noisy label of case ``index``, or None when it has none."""
    if data.given_masks is None or not bool(data.given_present[index]):
        return None
    return np.asarray(data.given_masks[index])


def _realised(
    data: SegmentationData,
    masks: np.ndarray,
    chosen: np.ndarray,
    model_name: str,
    split: str = TRAIN_SPLIT,
) -> pd.DataFrame:
    """Per case of ``split``: noisy-vs-clean Dice, HD95 (mm) and flipped fraction. Cases
    left clean get Dice 1, HD95 0, flipped 0 without computing them."""
    cases = data.indices(split)
    is_chosen = np.isin(cases, chosen)
    dsc = np.ones(len(cases))
    hd95 = np.zeros(len(cases))
    flipped = np.zeros(len(cases))
    for row in np.flatnonzero(is_chosen):
        index = cases[row]
        metrics = case_metrics(
            masks[index], data.masks[index], data.spacing[index], data.num_classes
        )
        dsc[row] = metrics["dsc"]
        hd95[row] = metrics["hd95"]
        flipped[row] = float(np.mean(masks[index] != data.masks[index]))
    return pd.DataFrame(
        {
            "case_id": [str(case_id) for case_id in data.case_ids[cases]],
            "corrupted": is_chosen,
            "noise_model": model_name,
            "noisy_dsc": dsc,
            "noisy_hd95": hd95,
            "flipped_fraction": flipped,
        },
        columns=list(REALISED_COLUMNS),
    )
