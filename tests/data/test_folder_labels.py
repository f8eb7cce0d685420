"""folder with labels of your own: several annotators per case (masks/<annotator>/<case>)
feeding the reader noise model, and your noisy training labels (noisy_masks/<case>) used as
they are by the given noise model; validation and test stay on the clean masks. Every bad
input is one line naming the fix, and leaves nothing behind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rmdbench.data.prepared import load_prepared
from rmdbench.metrics import case_metrics
from rmdbench.noise import apply_noise
from rmdbench.plugins import load_builtins
from rmdbench.registry import NOISE_MODELS
from tests.data.test_format_folder import prepare, raw_image, save
from tests.helpers.prepare import assert_refused, finished_records, tiny_sweep

SIZE = 32
CASES = 12
ANNOTATORS = ("anna", "ben", "carl")
#: each annotator's outline: the clean square shifted by this many px (rows, columns)
SHIFTS = {"anna": (0, 0), "ben": (1, 1), "carl": (-2, 2)}


def square(index: int, grow: int = 0) -> np.ndarray:
    """A binary square whose place varies by case."""
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    top, left = 6 + index % 7, 8 + (3 * index) % 9
    mask[top - grow : top + 10 + grow, left - grow : left + 10 + grow] = 1
    return mask


def annotator_mask(index: int, annotator: str) -> np.ndarray:
    return np.roll(square(index), SHIFTS[annotator], axis=(0, 1))


def given_mask(index: int) -> np.ndarray:
    """A noisy training label far from the clean one: the square grown by 4 px."""
    return square(index, grow=4)


def make_labelled(root, *, clean=True, annotators=ANNOTATORS, noisy=False):
    """CASES PNG images with clean masks, each annotator's masks and noisy labels."""
    for index in range(CASES):
        save(root / "images" / f"case{index}.png", raw_image("png", index, (SIZE, SIZE)))
        if clean:
            save(root / "masks" / f"case{index}.png", square(index))
        for annotator in annotators:
            mask = annotator_mask(index, annotator)
            save(root / "masks" / annotator / f"case{index}.png", mask)
        if noisy:
            save(root / "noisy_masks" / f"case{index}.png", given_mask(index))
    return root


@pytest.fixture
def readers_source(tmp_path):
    return make_labelled(tmp_path / "readers", clean=False)


@pytest.fixture
def noisy_source(tmp_path):
    return make_labelled(tmp_path / "noisy", annotators=(), noisy=True)


def test_annotators_are_kept_and_their_consensus_is_the_clean_label(
    runner, tmp_path, readers_source
):
    result, target = prepare(runner, tmp_path, readers_source)
    assert result.exit_code == 0, result.output
    assert "3 annotators (anna, ben, carl)" in " ".join(result.output.split())
    data = load_prepared(target)
    assert data.readers.shape == (CASES, 3, SIZE, SIZE)
    assert data.reader_count.tolist() == [3] * CASES
    for row, case_id in enumerate(data.case_ids):
        index = int(case_id.removeprefix("case"))
        stack = np.stack([annotator_mask(index, name) for name in ANNOTATORS])
        np.testing.assert_array_equal(data.readers[row], stack)
        np.testing.assert_array_equal(data.masks[row], 2 * stack.sum(axis=0) >= 3)


def test_a_given_clean_mask_wins_over_the_consensus_and_counts_vary(runner, tmp_path):
    root = make_labelled(tmp_path / "mixed")
    (root / "masks" / "carl" / "case4.png").unlink()  # carl did not read case 4
    result, target = prepare(runner, tmp_path, root)
    assert result.exit_code == 0, result.output
    data = load_prepared(target)
    row = data.case_ids.tolist().index("case4")
    assert data.reader_count[row] == 2 and not data.readers[row, 2].any()
    np.testing.assert_array_equal(data.masks[row], square(4))


def test_reader_noise_sweeps_on_three_annotators(runner, tmp_path, readers_source, one_thread):
    result, target = prepare(runner, tmp_path, readers_source)
    assert result.exit_code == 0, result.output
    swept, out = tiny_sweep(
        runner, tmp_path, target, "--methods", "single", "--noise-model", "reader",
        "--noise", "1",
    )  # fmt: skip
    assert swept.exit_code == 0, swept.output
    (record,) = finished_records(out)
    assert record["status"] == "done"
    data = load_prepared(target)
    (run_dir,) = out.glob("single-reader-*")
    realised = pd.read_parquet(run_dir / "noise.parquet")
    assert realised["corrupted"].all() and (realised["noisy_dsc"] < 1).any()
    # every training label is one of its case's annotators' masks
    load_builtins()
    noisy = apply_noise(data, NOISE_MODELS.get("reader").from_preset(), 1.0, seed=0)
    for index in data.indices("train"):
        assert any(np.array_equal(noisy.masks[index], r) for r in data.readers[index])
    held_out = data.split != "train"
    np.testing.assert_array_equal(noisy.masks[held_out], data.masks[held_out])


def test_given_labels_train_and_the_clean_masks_score(runner, tmp_path, noisy_source, one_thread):
    result, target = prepare(runner, tmp_path, noisy_source)
    assert result.exit_code == 0, result.output
    assert "--noise-model given --noise 1" in " ".join(result.output.split())
    data = load_prepared(target)
    assert data.given_present.all()
    load_builtins()
    noisy = apply_noise(data, NOISE_MODELS.get("given").from_preset(), 1.0, seed=0)
    train = data.indices("train")
    np.testing.assert_array_equal(noisy.masks[train], data.given_masks[train])
    assert not np.array_equal(data.given_masks[train], data.masks[train])
    held_out = data.split != "train"
    np.testing.assert_array_equal(noisy.masks[held_out], data.masks[held_out])

    swept, out = tiny_sweep(
        runner, tmp_path, target, "--methods", "single", "--noise-model", "given", "--noise", "1"
    )
    assert swept.exit_code == 0, swept.output
    (run_dir,) = out.glob("single-given-*")
    # the stored training noise is the given labels' Dice against the clean masks
    realised = pd.read_parquet(run_dir / "noise.parquet").set_index("case_id")
    for case_id, row in realised.iterrows():
        index = data.case_ids.tolist().index(case_id)
        expected = case_metrics(data.given_masks[index], data.masks[index], data.spacing[index])
        assert row["noisy_dsc"] == pytest.approx(expected["dsc"])
        assert row["noisy_dsc"] < 0.9
    # the test cases are scored against the clean masks
    stored = np.load(run_dir / "predictions.npz")
    cases = pd.read_parquet(run_dir / "cases.parquet").set_index("case_id")
    for prediction, case_id in zip(stored["predictions"], stored["case_ids"], strict=True):
        index = data.case_ids.tolist().index(str(case_id))
        clean = case_metrics(prediction, data.masks[index], data.spacing[index])["dsc"]
        assert cases.loc[str(case_id), "dsc"] == pytest.approx(clean)


def _annotator_of_another_shape(root):
    return save(root / "masks" / "ben" / "case3.png", np.zeros((SIZE, SIZE - 4), np.uint8))


def _noisy_of_another_shape(root):
    return save(root / "noisy_masks" / "case5.png", np.zeros((SIZE + 2, SIZE), np.uint8))


def _noisy_without_clean_mask(root):
    save(root / "images" / "case99.png", raw_image("png", 99, (SIZE, SIZE)))
    path = save(root / "noisy_masks" / "case99.png", given_mask(1))
    return path, "has no clean mask", "masks/case99"


def _annotator_without_image(root):
    return save(root / "masks" / "anna" / "stray.png", square(0)), "no image 'stray.*'"


def _empty_annotator_folder(root):
    (root / "masks" / "dora").mkdir()
    return root / "masks" / "dora", "without masks"


BREAKERS = {
    "annotator shape": _annotator_of_another_shape,
    "noisy shape": _noisy_of_another_shape,
    "noisy without clean": _noisy_without_clean_mask,
    "annotator without image": _annotator_without_image,
    "empty annotator folder": _empty_annotator_folder,
}


@pytest.mark.parametrize("breaker", list(BREAKERS))
def test_bad_labels_are_one_line_naming_the_file(runner, tmp_path, breaker):
    root = make_labelled(tmp_path / "labels", noisy=True)
    named = BREAKERS[breaker](root)
    fragments = named if isinstance(named, tuple) else (named,)
    result, target = prepare(runner, tmp_path, root)
    assert_refused(result, target, *(str(fragment) for fragment in fragments))


@pytest.mark.parametrize(
    ("model", "fragments"),
    [
        ("given", ("noise model 'given'", "has none", "noisy_masks/<case>")),
        ("reader", ("needs per-reader masks", "masks/<annotator>/")),
    ],
)
def test_given_or_reader_without_such_masks_is_one_line(runner, tmp_path, model, fragments):
    root = make_labelled(tmp_path / "plain", annotators=())
    result, target = prepare(runner, tmp_path, root)
    assert result.exit_code == 0, result.output
    swept, out = tiny_sweep(runner, tmp_path, target, "--noise-model", model, "--noise", "1")
    lines = swept.output.strip().splitlines()
    assert swept.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not out.exists()
