"""folder: image/mask pairs of every file type (PNG, TIFF, .npy, NIfTI) built on the fly,
prepared through the CLI, checked value by value (scaling, axis order, labels, spacing,
patients and splits from cases.csv), then swept; every bad input is a one-line error naming
the file and leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import numpy as np
import pytest
import tifffile
from PIL import Image

from rmdbench.data.prepared import load_prepared
from tests.helpers.prepare import assert_refused, finished_records, run_prepare, tiny_sweep

SIZE = 36
KINDS = ("png", "tiff", "npy", "nifti")
SUFFIX = {"png": ".png", "tiff": ".tif", "npy": ".npy", "nifti": ".nii.gz"}
NIFTI_ZOOMS = (0.8, 0.9)


def label_map(seed: int, size: int = SIZE) -> np.ndarray:
    """Labels 0, 1 and 2: two blocks at places that vary by case."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), dtype=np.uint8)
    top, left = rng.integers(6, size - 16, size=2)
    mask[top : top + 10, left : left + 10] = 1
    mask[top + 3 : top + 7, left + 3 : left + 7] = 2
    return mask


def raw_image(kind: str, seed: int, shape: tuple[int, ...] = (SIZE, SIZE)) -> np.ndarray:
    """Each file type's natural pixel type: uint8 PNG, uint16 TIFF, float .npy/NIfTI."""
    rng = np.random.default_rng(100 + seed)
    if kind == "png":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    if kind == "tiff":
        return rng.integers(0, 4000, size=shape, dtype=np.uint16)
    return rng.normal(50.0, 20.0, size=shape).astype(np.float32)


def save(path: Path, array: np.ndarray, zooms: tuple[float, ...] = NIFTI_ZOOMS) -> Path:
    """Write one array in the file type its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name
    if name.endswith(".png"):
        Image.fromarray(array).save(path)
    elif name.endswith(".tif"):
        tifffile.imwrite(path, array)
    elif name.endswith(".npy"):
        np.save(path, array)
    else:
        image = nibabel.Nifti1Image(array, np.diag([*zooms, 1.0, 1.0][:3] + [1.0]))
        image.header.set_zooms(zooms[: array.ndim] + (1.0,) * (array.ndim - len(zooms)))
        nibabel.save(image, path)
    return path


def make_folder(root: Path, count: int = 8, size: int = SIZE) -> dict[str, tuple]:
    """``count`` pairs cycling through the file types; returns case -> (kind, image, mask)
    as written. Case 1's mask is a .npy next to a PNG image (extensions may differ); case 7
    is a 2D NIfTI saved as x * y * 1, as many tools write slices."""
    written = {}
    for index in range(count):
        kind = KINDS[(index // 2) % len(KINDS)]
        name = f"case{index}"
        image, mask = raw_image(kind, index, (size, size)), label_map(index, size)
        extra = (slice(None), slice(None), None) if index == 7 else ()
        save(root / "images" / f"{name}{SUFFIX[kind]}", image[extra])
        mask_suffix = ".npy" if index == 1 else SUFFIX[kind]
        save(root / "masks" / f"{name}{mask_suffix}", mask[extra])
        written[name] = (kind, image, mask)
    return written


def write_csv(root: Path, *lines: str) -> None:
    (root / "cases.csv").write_text("\n".join(lines) + "\n")


def prepare(runner, tmp_path: Path, source: Path, name: str = "folder", out: str = "mine"):
    target = tmp_path / "prepared" / out
    cache = ["--cache-dir", str(tmp_path / "cache")]
    return run_prepare(runner, name, source, target, *cache), target


def minmax(array: np.ndarray) -> np.ndarray:
    values = array.astype(np.float64)
    return (values - values.min()) / (values.max() - values.min())


@pytest.fixture
def source(tmp_path) -> Path:
    root = tmp_path / "pairs"
    make_folder(root)
    write_csv(root, "case,patient_id,spacing", "case0,p1,0.5", "case1,p1,", "case5,p5,")
    return root


def test_every_file_type_is_read_scaled_and_aligned(runner, tmp_path, source):
    result, target = prepare(runner, tmp_path, source, "folder[intensity=minmax]")
    assert result.exit_code == 0, result.output
    data = load_prepared(target)
    written = make_folder(tmp_path / "again")
    assert data.case_ids.tolist() == [f"case{index}" for index in range(8)]
    assert data.images.shape == (8, 1, SIZE, SIZE) and data.num_classes == 3
    for row, (kind, image, mask) in enumerate(written.values()):
        if kind == "nifti":  # NIfTI (x, y) arrays are read as (y, x) rows
            image, mask = image.T, mask.T
        np.testing.assert_allclose(data.images[row, 0], minmax(image), atol=1e-6)
        np.testing.assert_array_equal(data.masks[row], mask)


def test_spacing_patients_and_split_from_csv_and_headers(runner, tmp_path, source):
    result, target = prepare(runner, tmp_path, source)
    assert result.exit_code == 0, result.output
    data = load_prepared(target)
    spacing = dict(zip(data.case_ids.tolist(), data.spacing.astype(float).tolist(), strict=True))
    assert spacing["case0"] == pytest.approx([0.5, 0.5])
    assert spacing["case6"] == spacing["case7"] == pytest.approx(list(reversed(NIFTI_ZOOMS)))
    assert spacing["case2"] == pytest.approx([1.0, 1.0])
    patients = data.patient_ids.tolist()
    assert patients[:2] == ["p1", "p1"] and patients[5] == "p5" and patients[2] == "case2"
    assert data.split[0] == data.split[1]
    assert set(data.split.tolist()) == {"train", "val", "test"}
    output = " ".join(result.output.split())
    assert "5 of 8 cases have no spacing" in output
    assert "label values [0, 1, 2]" in output and "class 2" in output
    meta = json.loads((target / "dataset.json").read_text())
    assert meta["format"] == "folder" and meta["num_classes"] == 3 and meta["readers"] == 0


def test_percentile_scaling_size_and_num_classes(runner, tmp_path, source):
    result, target = prepare(runner, tmp_path, source, "folder[size=32,num_classes=4]")
    assert result.exit_code == 0, result.output
    data = load_prepared(target)
    assert data.images.shape == (8, 1, 32, 32) and data.num_classes == 4
    images = np.asarray(data.images)
    assert images.min() >= 0 and images.max() <= 1
    flat = images.reshape(8, -1)
    assert (flat.min(axis=1) == 0).all() and (flat.max(axis=1) == 1).all()
    assert (flat == 1).sum(axis=1).min() > 1  # the top 0.5 % are clipped to 1
    written = make_folder(tmp_path / "again")
    np.testing.assert_array_equal(data.masks[0], written["case0"][2][2:34, 2:34])


def test_splits_from_csv_rgb_channels_and_255_masks(runner, tmp_path):
    root = tmp_path / "rgb"
    rng = np.random.default_rng(0)
    for index in range(4):
        save(root / "images" / f"c{index}.png", rng.integers(0, 256, (SIZE, SIZE, 3), np.uint8))
        save(root / "masks" / f"c{index}.png", (label_map(index) > 0).astype(np.uint8) * 255)
    write_csv(root, "case,patient_id,split", "c0,a,train", "c1,a,train", "c2,b,val", "c3,c,test")
    result, target = prepare(runner, tmp_path, root)
    assert result.exit_code == 0, result.output
    data = load_prepared(target)
    assert data.images.shape == (4, 3, SIZE, SIZE)
    assert data.split.tolist() == ["train", "train", "val", "test"]
    assert data.num_classes == 2 and set(np.unique(data.masks).tolist()) == {0, 1}
    output = " ".join(result.output.split())
    assert "read as 0 (background) and 1" in output and "channel 2" in output


def test_3d_nifti_volumes(runner, tmp_path):
    root = tmp_path / "volumes"
    zooms = (0.6, 0.7, 2.0)
    for index in range(3):
        mask = np.zeros((20, 18, 6), dtype=np.uint8)
        mask[5:12, 4:10, 1 + index : 4 + index] = 1
        save(root / "images" / f"v{index}.nii.gz", raw_image("nifti", index, (20, 18, 6)), zooms)
        save(root / "masks" / f"v{index}.nii.gz", mask, zooms)
    result, target = prepare(runner, tmp_path, root)
    assert result.exit_code == 0, result.output
    data = load_prepared(target)
    assert data.spatial_dims == 3 and data.images.shape == (3, 1, 6, 18, 20)
    np.testing.assert_allclose(data.spacing, [[2.0, 0.7, 0.6]] * 3, rtol=1e-6)
    assert data.masks[0, 1:4, 4:10, 5:12].all() and data.masks[0].sum() == 7 * 6 * 3


def test_sweep_on_the_prepared_folder(runner, tmp_path, source, one_thread):
    result, target = prepare(runner, tmp_path, source, "folder[size=32]")
    assert result.exit_code == 0, result.output
    swept, out = tiny_sweep(runner, tmp_path, target, "--methods", "single", "--noise", "0")
    assert swept.exit_code == 0, swept.output
    records = finished_records(out)
    assert len(records) == 1 and records[0]["status"] == "done"


# Each bad input breaks a good folder and returns what the one-line error must contain:
# the file it names (and a text, as a tuple).


def _missing_image_folder(root: Path) -> tuple:
    for path in (root / "images").iterdir():
        path.unlink()
    return root / "images", "no images"


def _image_without_mask(root: Path) -> Path:
    (root / "masks" / "case3.tif").unlink()
    return root / "images" / "case3.tif"


def _mask_without_image(root: Path) -> Path:
    return save(root / "masks" / "extra.png", label_map(0))


def _truncated_png(root: Path) -> Path:
    path = root / "images" / "case0.png"
    path.write_bytes(path.read_bytes()[:60])
    return path


def _truncated_nifti(root: Path) -> Path:
    path = root / "masks" / "case6.nii.gz"
    path.write_bytes(path.read_bytes()[:100])
    return path


def _garbage_npy(root: Path) -> Path:
    path = root / "images" / "case4.npy"
    path.write_bytes(b"not numpy at all")
    return path


def _shape_mismatch(root: Path) -> Path:
    return save(root / "images" / "case4.npy", raw_image("npy", 4, (SIZE, 30)))


def _non_integer_mask(root: Path) -> Path:
    return save(root / "masks" / "case5.npy", label_map(5) * 0.5)


def _negative_label(root: Path) -> Path:
    return save(root / "masks" / "case5.npy", label_map(5).astype(np.int16) - 1)


def _cases_of_two_shapes(root: Path) -> Path:
    save(root / "masks" / "case7.nii.gz", label_map(7, 40))
    return save(root / "images" / "case7.nii.gz", raw_image("nifti", 7, (40, 40)))


def _patient_in_two_splits(root: Path) -> tuple:
    lines = [f"case{index},p{index // 2},train" for index in range(8)]
    lines[3] = "case3,p1,test"
    write_csv(root, "case,patient_id,split", *lines)
    return root / "cases.csv", "patient 'p1' is in both"


def _csv_row_without_case(root: Path) -> tuple:
    write_csv(root, "case,patient_id", "case0,p0", "nosuch,p9")
    return root / "cases.csv", "case 'nosuch' has no image/mask pair"


def _unsupported_file(root: Path) -> Path:
    path = root / "images" / "notes.txt"
    path.write_text("hello")
    return path


def _colour_mask(root: Path) -> Path:
    colour = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    colour[5:10, 5:10, 0] = 255
    return save(root / "masks" / "case0.png", colour)


BREAKERS = {
    "no images": _missing_image_folder,
    "image without mask": _image_without_mask,
    "mask without image": _mask_without_image,
    "truncated png": _truncated_png,
    "truncated nifti": _truncated_nifti,
    "garbage npy": _garbage_npy,
    "image and mask shapes": _shape_mismatch,
    "non-integer mask": _non_integer_mask,
    "negative label": _negative_label,
    "cases of two shapes": _cases_of_two_shapes,
    "patient in two splits": _patient_in_two_splits,
    "csv row without case": _csv_row_without_case,
    "unsupported file": _unsupported_file,
    "colour mask": _colour_mask,
}


@pytest.mark.parametrize("breaker", list(BREAKERS))
def test_bad_folder_is_one_line_naming_the_file(runner, tmp_path, breaker):
    root = tmp_path / "pairs"
    make_folder(root)
    named = BREAKERS[breaker](root)
    fragments = named if isinstance(named, tuple) else (named,)
    result, target = prepare(runner, tmp_path, root)
    assert_refused(result, target, *(str(fragment) for fragment in fragments))


def test_label_at_or_above_num_classes_names_the_mask(runner, tmp_path, source):
    result, target = prepare(runner, tmp_path, source, "folder[num_classes=2]")
    assert_refused(result, target, str(source / "masks" / "case0.png"), "num_classes=2")


def test_missing_folders_are_one_line(runner, tmp_path):
    result, target = prepare(runner, tmp_path, tmp_path / "nowhere")
    assert_refused(result, target, "does not exist", str(tmp_path / "nowhere"))
    (tmp_path / "half" / "images").mkdir(parents=True)
    result, target = prepare(runner, tmp_path, tmp_path / "half")
    assert_refused(result, target, "does not exist", str(tmp_path / "half" / "masks"))


def test_bad_option_is_one_line(runner, tmp_path, source):
    result, target = prepare(runner, tmp_path, source, "folder[num_classes=1]")
    assert_refused(result, target, "num_classes must be 0 (infer) or 2")
    result, target = prepare(runner, tmp_path, source, "folder[intensity=zscore]")
    assert_refused(result, target, "must be one of minmax, percentile")
