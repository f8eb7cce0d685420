"""How noisy a noise model's labels really are, before training on them.

What ``rmdbench noise`` computes: severities resolved from the text a user gives (a bare
model name stands for each of its presets), the noisy masks a sweep run trains on, the
training cases a preview shows, and the calibration table of realised noise of every model
and preset next to the disagreement of real readers (docs/noise.md). The preview figure is
drawn by ``rmdbench.reports.noise_preview``; the command line only parses and prints.

The noisy masks are exactly those a sweep run trains on for the same dataset, crop size,
noise model, severity and seed: both seed the noise with the same severity key.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rmdbench.contracts.noise_model import NoiseModel
from rmdbench.data.base import SegmentationData
from rmdbench.errors import UserError
from rmdbench.profiles import MAX_CROP_SIZE, SUGGESTED_CROP_SIZE
from rmdbench.progress import Track

#: the smallest crop a noise model is shown or measured on (the largest: a profile's)
MIN_CROP_SIZE = 8
STATS_COLUMNS = (
    "noise_model",
    "severity",
    "cases",
    "dsc_mean",
    "dsc_median",
    "hd95_mean_mm",
    "hd95_median_mm",
    "flipped_mean",
)


class CropSizeOutOfRange(UserError):
    """A crop size outside :data:`MIN_CROP_SIZE` to ``MAX_CROP_SIZE`` (the command line
    names its option): ``crop_size``, ``problem`` ('too small', 'too large') and the
    ``suggested`` size."""

    def __init__(self, crop_size: int) -> None:
        self.crop_size = crop_size
        self.problem = "too small" if crop_size < MIN_CROP_SIZE else "too large"
        self.suggested = SUGGESTED_CROP_SIZE
        super().__init__(
            f"crop size {crop_size} is {self.problem}; use {MIN_CROP_SIZE} to "
            f"{MAX_CROP_SIZE}, e.g. {SUGGESTED_CROP_SIZE}"
        )


def check_crop_size(crop_size: int) -> int:
    """A crop a noise model can be shown or measured on: at least :data:`MIN_CROP_SIZE`,
    and at most what a profile takes (``MAX_CROP_SIZE``): a larger one is no memory's."""
    if not MIN_CROP_SIZE <= crop_size <= MAX_CROP_SIZE:
        raise CropSizeOutOfRange(crop_size)
    return crop_size


@dataclass(frozen=True)
class Severity:
    """One resolved noise model + severity, with the key that seeds its noise."""

    model_name: str
    label: str  # what tables and titles call it: the preset, or the options given
    params: dict
    model: NoiseModel

    @property
    def key(self) -> str:
        """The severity key a sweep run uses, so labels match runs."""
        from rmdbench.noise import severity_key

        return severity_key(self.params)


def severity_texts(text: str, every_preset: bool) -> list[tuple[str, str]]:
    """``text`` as (component, label) pairs: itself, or for a bare model name when
    ``every_preset``, each of its presets (``name[...]`` is always exactly what it says)."""
    from rmdbench.params import parse_component
    from rmdbench.registry import NOISE_MODELS

    name, options = parse_component(text)
    model_class = NOISE_MODELS.get(name)
    if every_preset and not options:
        return [(f"{name}[preset={preset}]", preset) for preset in model_class.presets]
    label = ",".join(f"{key}={value}" for key, value in options.items()) or "default"
    if set(options) == {"preset"}:
        label = options["preset"]
    return [(text, label)]


def resolve_severity(component: str, label: str, crop_size: int | None = None) -> Severity:
    """One severity; with ``crop_size``, one whose severity in pixels does not fit the crop
    is refused (``NoiseFitError``) by the very check a sweep plans with
    (``rmdbench.sweep.resolve_noise_model``): a radius of 10**20 px is no noise, and no
    memory holds the work."""
    from rmdbench.params import build_params
    from rmdbench.registry import NOISE_MODELS
    from rmdbench.sweep import resolve_noise_model

    model_name, _, params = resolve_noise_model(component, crop_size)
    model_class = NOISE_MODELS.get(model_name)
    built = build_params(model_class.Params, params, f"noise model '{model_name}'")
    return Severity(model_name, label, params, model_class(built))


def resolve_severities(
    text: str, every_preset: bool, crop_size: int | None = None
) -> list[Severity]:
    """``text`` as one severity; a bare model name gives each of its presets when
    ``every_preset`` (``name[...]`` is always exactly what it says). With ``crop_size``,
    each must fit the crop (``resolve_severity``)."""
    return [
        resolve_severity(component, label, crop_size)
        for component, label in severity_texts(text, every_preset)
    ]


@dataclass(frozen=True)
class StatsRequest:
    """What the calibration table measures, resolved before the dataset is built."""

    severities: list[Severity]
    #: named by the user: one that cannot be measured is refused, not skipped
    explicit: bool
    #: presets of the default listing left out because they do not fit the crop
    notes: list[str]


def stats_request(noise_models: list[str], crop_size: int) -> StatsRequest:
    """The severities of the calibration table, checked against the crop: those the user
    names must fit it (a one-line refusal, as in a sweep); of the default listing (every
    model, each preset), a preset that does not fit a small crop is skipped with a note."""
    from rmdbench.noise import NoiseFitError
    from rmdbench.params import split_top_level
    from rmdbench.registry import NOISE_MODELS

    texts = [item for value in noise_models for item in split_top_level(value)]
    if texts:
        severities = [
            severity
            for text in texts
            for severity in resolve_severities(text, every_preset=True, crop_size=crop_size)
        ]
        return StatsRequest(severities, explicit=True, notes=[])
    severities, notes = [], []
    for name in NOISE_MODELS.names():
        for component, label in severity_texts(name, every_preset=True):
            try:
                severities.append(resolve_severity(component, label, crop_size))
            except NoiseFitError as error:
                notes.append(f"skipped {name}[{label}]: {error}")
    return StatsRequest(severities, explicit=False, notes=notes)


def load_dataset(name: str, crop_size: int, *, progress: Track | None = None) -> SegmentationData:
    """A built-in dataset at ``crop_size`` (not cached in a sweep's cache folder)."""
    from rmdbench.registry import DATASETS

    check_crop_size(crop_size)
    return DATASETS.get(name)(crop_size=crop_size, cache_dir=None, progress=progress)


def noisy_masks(
    data: SegmentationData, index: np.ndarray, severity: Severity, seed: int
) -> np.ndarray:
    """The noisy mask of each training case in ``index`` (as corrupted at any ratio: each
    case's noise is seeded by its id, not by which other cases are corrupted)."""
    from rmdbench.noise import apply_noise

    subset = data.subset(index)
    return apply_noise(subset, severity.model, 1.0, seed, severity.key).masks


def preview_cases(data: SegmentationData, order: np.ndarray, cases: int) -> np.ndarray:
    """Training cases (non-empty where possible) spread evenly over the corruption
    ``order``, so that at ratio r about the first r * cases of them are noisy (the nesting
    of ratios made visible)."""
    non_empty = np.array([data.masks[index].any() for index in order])
    candidates = order[non_empty] if non_empty.any() else order
    picks = ((np.arange(cases) + 0.5) * len(candidates) / cases).astype(int)
    return candidates[np.unique(picks)]


def _row(model: str, severity: str, frame: pd.DataFrame) -> dict:
    return {
        "noise_model": model,
        "severity": severity,
        "cases": len(frame),
        "dsc_mean": frame["dsc"].mean(),
        "dsc_median": frame["dsc"].median(),
        "hd95_mean_mm": frame["hd95"].mean(),
        "hd95_median_mm": frame["hd95"].median(),
        "flipped_mean": frame["flipped"].mean(),
    }


def noise_rows(
    data: SegmentationData, severities: list[Severity], seed: int, skip_errors: bool
) -> tuple[list[dict], list[str]]:
    """Realised noise of each severity at ratio 1 over the training cases, and the notes of
    severities skipped (when ``skip_errors``: e.g. reader on a dataset without readers)."""
    from rmdbench.noise import apply_noise

    rows, notes = [], []
    for severity in severities:
        try:
            noisy = apply_noise(data, severity.model, 1.0, seed, severity.key)
        except UserError as error:
            if not skip_errors:
                raise
            notes.append(f"skipped {severity.model_name}[{severity.label}]: {error}")
            continue
        realised = noisy.realised.rename(
            columns={"noisy_dsc": "dsc", "noisy_hd95": "hd95", "flipped_fraction": "flipped"}
        )
        rows.append(_row(severity.model_name, severity.label, realised))
    return rows, notes


def _compare(first: np.ndarray, second: np.ndarray, spacing: np.ndarray, num_classes: int) -> dict:
    from rmdbench.metrics import case_metrics

    metrics = case_metrics(first, second, spacing, num_classes)
    return {
        "dsc": metrics["dsc"],
        "hd95": metrics["hd95"],
        "flipped": float(np.mean(first != second)),
    }


def reader_rows(data: SegmentationData) -> list[dict]:
    """Real readers on the training cases: each reader vs the consensus, and every pair of
    readers of a case against each other."""
    if data.readers is None:
        return []
    vs_consensus, pairwise = [], []
    for index in data.indices("train"):
        count = len(data.readers[index])
        if data.reader_count is not None:
            count = int(data.reader_count[index])
        readers = data.readers[index][:count]
        spacing, classes = data.spacing[index], data.num_classes
        vs_consensus += [_compare(r, data.masks[index], spacing, classes) for r in readers]
        pairwise += [
            _compare(a, b, spacing, classes) for a, b in itertools.combinations(readers, 2)
        ]
    rows = []
    if vs_consensus:
        rows.append(_row("real readers", "reader vs consensus", pd.DataFrame(vs_consensus)))
    if pairwise:
        rows.append(_row("real readers", "reader vs reader", pd.DataFrame(pairwise)))
    return rows


def stats_frame(
    data: SegmentationData, request: StatsRequest, seed: int
) -> tuple[pd.DataFrame, list[str]]:
    """The calibration table: realised noise per model and severity, then real readers;
    and the notes of severities left out."""
    rows, notes = noise_rows(data, request.severities, seed, skip_errors=not request.explicit)
    rows += reader_rows(data)
    return pd.DataFrame(rows, columns=list(STATS_COLUMNS)), [*request.notes, *notes]


def stats_caption(data: SegmentationData, crop_size: int, seed: int) -> str:
    """What the calibration table was measured on."""
    return (
        f"{data.name}, crop {crop_size}, {len(data.indices('train'))} training cases, "
        f"ratio 1, seed {seed}; HD95 in mm"
    )


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers rounded for reading: Dice 3 decimals, HD95 2, flipped fraction 4."""
    digits = {"dsc_mean": 3, "dsc_median": 3, "hd95_mean_mm": 2, "hd95_median_mm": 2}
    out = frame.copy()
    for column, places in {**digits, "flipped_mean": 4}.items():
        out[column] = [
            "nan" if (value is None or math.isnan(value)) else f"{value:.{places}f}"
            for value in frame[column]
        ]
    out["cases"] = frame["cases"].astype(int).astype(str)
    return out
