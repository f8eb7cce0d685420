"""The qualitative figure: for a few test cases, the image, then the clean mask and each
method's stored prediction drawn as contours on it; and one training case with the noisy
label the methods were given. Reports never regenerate noise: the training case is the one
the run stored (``noisy_example.npz``, written by ``rmdbench.run``); runs made before
rmdbench stored it get no such row, and a note. Test images and clean masks are not stored
with the runs, so the dataset is loaded again (at the profile's crop size) for the test
rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from rmdbench.errors import UserError
from rmdbench.store import NOISY_EXAMPLE_FILE

from .plots import plot_qualitative
from .store_reader import RunStoreData
from .style import FigureOptions
from .tables import row_column, setting_groups

CASES_SHOWN = 3


class Panel(NamedTuple):
    """One cell of the figure: its title, its array and what the array is ('image';
    'clean', 'noisy' or 'prediction': a mask drawn as a contour on the row's image), and
    for a prediction the method label whose colour its contour has."""

    title: str
    array: np.ndarray
    kind: str
    method: str = ""


@dataclass
class QualitativeFigure:
    path: Path
    caption: str
    notes: list[str] = field(default_factory=list)


def _image(images: np.ndarray) -> np.ndarray:
    """The first channel, for display."""
    return images[0] if images.ndim == 3 else images


def choose_cases(group: pd.DataFrame, metric: str, count: int) -> list[str]:
    """Test cases spanning the range of results: worst, median and best mean ``metric``
    over the methods shown (not cherry-picked)."""
    means = group.groupby("case_id")[metric].mean().sort_values()
    if len(means) <= count:
        return list(means.index)
    positions = np.linspace(0, len(means) - 1, count).round().astype(int)
    return list(dict.fromkeys(means.index[positions]))


def qualitative_figure(
    store: RunStoreData,
    path: Path,
    metric: str = "dsc",
    count: int = CASES_SHOWN,
    options: FigureOptions | None = None,
) -> QualitativeFigure:
    """Draw the figure for the first setting, at its highest noise ratio and lowest seed.
    A dataset that cannot be loaded here is a UserError (the report notes it and goes on)."""
    from rmdbench.plugins import load_builtins
    from rmdbench.registry import DATASETS

    title, group = setting_groups(store.cases)[0]
    ratio = group["noise_ratio"].max()
    group = group[group["noise_ratio"] == ratio]
    seed = group["seed"].min()
    group = group[group["seed"] == seed]
    row = row_column(group)
    runs = group.drop_duplicates(row).sort_values(row)[[row, "run"]]
    result = store.results[runs["run"].iloc[0]]
    spec = result["spec"]
    load_builtins()
    data = DATASETS.get(spec["dataset"])(crop_size=spec["profile"]["crop_size"], cache_dir=None)
    index_of = {str(case_id): index for index, case_id in enumerate(data.case_ids)}
    case_ids = choose_cases(group, metric, count)

    predictions: dict[str, dict[str, np.ndarray]] = {}
    for label, run in runs.itertuples(index=False):
        stored = np.load(store.predictions_path(run), allow_pickle=False)
        predictions[label] = dict(
            zip(map(str, stored["case_ids"]), stored["predictions"], strict=True)
        )
    panels: dict[str, list[Panel]] = {}
    scores = group.set_index([row, "case_id"])[metric]
    for case_id in case_ids:
        if case_id not in index_of:
            raise UserError(f"test case '{case_id}' is not in dataset '{spec['dataset']}' now")
        index = index_of[case_id]
        cells = [
            Panel("image", _image(data.images[index]), "image"),
            Panel("clean", data.masks[index], "clean"),
        ]
        for label, by_case in predictions.items():
            prediction = by_case.get(case_id)
            if prediction is None:
                continue
            if prediction.shape != data.masks[index].shape:
                raise UserError(
                    f"stored prediction {prediction.shape} and dataset mask "
                    f"{data.masks[index].shape} differ; was the dataset rebuilt differently?"
                )
            score = scores.get((label, case_id), math.nan)
            title = f"{label}\n{metric.upper()} {score:.2f}"
            cells.append(Panel(title, prediction, "prediction", label))
        panels[f"test {case_id}"] = cells
    noisy, notes = _noisy_training_example(store, list(runs["run"]), ratio)
    if noisy is not None:
        panels[noisy[0]] = noisy[1]
    plot_qualitative(panels, path, options)
    caption = (
        f"{title}, noise ratio {ratio:g}, seed {seed}: test cases with the worst, median and "
        f"best mean {metric.upper()} over methods (rows); the image, then contours on it: "
        "the clean mask (yellow; dashed under the others) and each method's prediction (its "
        "colour in every figure)"
        + (
            "; last row: one corrupted training case with the noisy label every method "
            "was trained on (vermillion)."
            if noisy is not None
            else "."
        )
        + "".join(f" {note[0].upper()}{note[1:]}." for note in notes)
    )
    return QualitativeFigure(path, caption, notes)


def _noisy_training_example(
    store: RunStoreData, runs: list[str], ratio: float
) -> tuple[tuple[str, list[Panel]] | None, list[str]]:
    """The row of the corrupted training case stored by the first of ``runs`` that has one
    (they all trained on the same noisy labels): image, clean mask, noisy label. Without
    one, no row; and a note unless the runs corrupted no training case."""
    if ratio <= 0:
        return None, []
    stored_by = [store.run_dir(run) / NOISY_EXAMPLE_FILE for run in runs]
    path = next((path for path in stored_by if path.is_file()), None)
    if path is None:
        realised = store.realised
        if not realised.empty:
            rows = realised[realised["run"].isin(runs)]
            if not rows.empty and not rows["corrupted"].astype(bool).any():
                return None, []  # no training case was corrupted: nothing to show
        return None, [
            f"no noisy training example: these runs were made before rmdbench stored "
            f"{NOISY_EXAMPLE_FILE} with a run, and reports do not regenerate noise "
            "(rerun them to show one)"
        ]
    with np.load(path, allow_pickle=False) as stored:
        case_id = str(stored["case_id"])
        image, clean, noisy = stored["image"], stored["clean_mask"], stored["noisy_mask"]
        dice = float(stored["noisy_dsc"])
    cells = [
        Panel("image", _image(image), "image"),
        Panel("clean", clean, "clean"),
        Panel(f"noisy label\nDice {dice:.2f} vs clean", noisy, "noisy"),
    ]
    return (f"train {case_id}", cells), []
