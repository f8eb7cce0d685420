"""The ``acdc`` format on a tiny fake ACDC copy written on the fly (never real data).

Six patients, frames of 40 x 36 x 3 voxels at 0.75 x 1.0 x 10 mm: slice 0 has no label,
slice 1 an LV block inside myocardium plus an RV block, slice 2 RV touching LV (no
myocardium between, so an interpolated label would show up as a 2).
"""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rmdbench.data.prepared import load_prepared, patient_split
from tests.helpers.prepare import assert_refused, read_cases, run_prepare

SHAPE = (40, 36, 3)  # (i, j, k)
ZOOMS = (0.75, 1.0, 10.0)
PATIENTS = [f"patient{n:03d}" for n in range(1, 7)]
ED_LV, ES_LV = (slice(8, 32), slice(12, 18)), (slice(12, 28), slice(12, 18))


def write_nifti(path: Path, array: np.ndarray, zooms=ZOOMS, origin=(0.0, 0.0, 0.0)) -> None:
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = origin
    nib.save(nib.Nifti1Image(array, affine), str(path))


def frame_labels(phase: str) -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    labels[6:34, 9:21, 1] = 2  # myocardium around the LV
    labels[(*(ED_LV if phase == "ED" else ES_LV), 1)] = 3
    labels[8:32, 24:30, 1] = 1  # RV
    labels[8:20, 12:24, 2] = 1  # RV touching LV, nothing in between
    labels[20:32, 12:24, 2] = 3
    return labels


def frame_image(labels: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = 100.0 + 40.0 * labels + rng.normal(0, 5, SHAPE)
    return (image * (1 + seed % 3)).astype(np.float32)  # scanners differ in scale


def write_patient(root: Path, index: int, name: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    es = 4 + index
    lines = ["ED: 1", f"ES: {es}"][:: -1 if index == 1 else 1]  # any order works
    (folder / "Info.cfg").write_text("\n".join([*lines, "Group: NOR", "NbFrame: 30", ""]))
    for phase, number in (("ED", 1), ("ES", es)):
        labels = frame_labels(phase)
        write_nifti(folder / f"{name}_frame{number:02d}_gt.nii.gz", labels)
        write_nifti(folder / f"{name}_frame{number:02d}.nii.gz", frame_image(labels, index))
    (folder / f"{name}_4d.nii.gz").write_bytes(b"not read")  # the cine file is ignored


def make_acdc(root: Path) -> Path:
    for index, name in enumerate(PATIENTS):
        write_patient(root, index, name)
    return root


def prepare(runner, source: Path, out: Path, name: str = "acdc"):
    return run_prepare(runner, name, source, out)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, runner):
    """The default preparation (resample to 1.5 mm, 128 x 128), run once."""
    root = tmp_path_factory.mktemp("acdc")
    source = make_acdc(root / "training")
    out = root / "prepared"
    result = prepare(runner, source, out)
    assert result.exit_code == 0, result.output
    return out, result


def test_slices_of_both_phases_become_128_square_cases(prepared):
    out, _ = prepared
    images, masks = np.load(out / "images.npy"), np.load(out / "masks.npy")
    assert images.shape == (36, 1, 128, 128) and images.dtype == np.float32
    assert masks.shape == (36, 128, 128) and masks.dtype == np.uint8
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.9
    ids = [row["case_id"] for row in read_cases(out)]
    expected = [f"{p}_{ph}_s{z:02d}" for p in PATIENTS for ph in ("ED", "ES") for z in range(3)]
    assert ids == expected
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["num_classes"] == 4 and meta["spatial_dims"] == 2
    assert meta["class_names"] == ["background", "RV", "myocardium", "LV"]


def test_resampled_to_1_5_mm_with_rows_along_j_and_columns_along_i(prepared):
    """The ED LV block is 24 x 6 voxels (i x j) = 18 x 6 mm: 12 columns x 4 rows at 1.5 mm,
    placed in the 20 x 24 resampled slice padded by 54 columns and 52 rows."""
    out, _ = prepared
    rows = read_cases(out)
    assert all(float(r["spacing_0"]) == 1.5 and float(r["spacing_1"]) == 1.5 for r in rows)
    masks = np.load(out / "masks.npy")
    lv = np.argwhere(masks[1] == 3)  # patient001 ED slice 1
    assert len(lv) == 48  # area preserved: 48 x 1.5^2 = 24 x 0.75 x 6 x 1.0 mm^2
    assert lv.min(axis=0).tolist() == [52 + 8, 54 + 4]
    assert lv.max(axis=0).tolist() == [52 + 11, 54 + 15]


def test_labels_are_never_interpolated(prepared):
    out, _ = prepared
    masks = np.load(out / "masks.npy")
    assert np.unique(masks).tolist() == [0, 1, 2, 3]
    for index in range(2, 36, 3):  # slice 2: RV touching LV; a blend would be myocardium
        assert np.unique(masks[index]).tolist() == [0, 1, 3]
    for index in range(0, 36, 3):
        assert not masks[index].any()


def test_ed_and_es_frames_named_in_info_cfg_are_both_read(prepared):
    out, _ = prepared
    masks = np.load(out / "masks.npy")
    ids = [row["case_id"] for row in read_cases(out)]
    for patient in PATIENTS:
        ed = masks[ids.index(f"{patient}_ED_s01")]
        es = masks[ids.index(f"{patient}_ES_s01")]
        assert (ed == 3).sum() == 48 and (es == 3).sum() == 32  # ES: 16 x 6 voxels


def test_split_is_by_patient(prepared):
    out, _ = prepared
    rows = read_cases(out)
    split_of: dict[str, set[str]] = {}
    for row in rows:
        assert row["case_id"].startswith(row["patient_id"] + "_")
        split_of.setdefault(row["patient_id"], set()).add(row["split"])
    assert sorted(split_of) == PATIENTS
    assert all(len(splits) == 1 for splits in split_of.values())
    expected = patient_split(PATIENTS, seed="acdc/patient-split/v1")
    assert {p: s.pop() for p, s in split_of.items()} == expected
    assert sorted(set(expected.values())) == ["test", "train", "val"]


def test_summary_is_printed(prepared):
    out, result = prepared
    text = " ".join(result.output.split())
    assert "prepared acdc" in text
    assert "shape (channels, *spatial) (1, 128, 128)" in text
    assert "label values [0, 1, 2, 3] (background, RV, myocardium, LV)" in text
    assert "12 empty masks" in text
    assert "resampled in plane to 1.5 mm" in text


def test_load_prepared_crops_to_the_profile_size(prepared):
    out, _ = prepared
    data = load_prepared(out, crop_size=64)
    assert data.images.shape == (36, 1, 64, 64) and data.masks.shape == (36, 64, 64)
    assert data.spacing.shape == (36, 2) and data.num_classes == 4
    assert (np.asarray(data.masks[1]) == 3).sum() == 48  # the heart is central: nothing lost


def test_crop_mode_keeps_voxels_and_spacing(runner, tmp_path):
    """The released code's preprocessing: no resampling, a plain centre crop."""
    source = make_acdc(tmp_path / "training")
    out = tmp_path / "crop"
    result = prepare(runner, source, out, "acdc[mode=crop,size=32]")
    assert result.exit_code == 0, result.output
    masks = np.load(out / "masks.npy")
    assert np.load(out / "images.npy").shape == (36, 1, 32, 32)
    rows = read_cases(out)
    assert all((float(r["spacing_0"]), float(r["spacing_1"])) == (1.0, 0.75) for r in rows)
    raw = frame_labels("ED")[:, :, 1].T  # [j, i]; crop rows 2..34, columns 4..36
    assert np.array_equal(masks[1], raw[2:34, 4:36])


def test_skip_empty_drops_unlabelled_slices_with_a_note(runner, tmp_path):
    source = make_acdc(tmp_path / "training")
    out = tmp_path / "skip"
    result = prepare(runner, source, out, "acdc[skip_empty=true,size=32]")
    assert result.exit_code == 0, result.output
    masks = np.load(out / "masks.npy")
    assert len(masks) == 24 and masks.reshape(24, -1).any(axis=1).all()
    assert not any(row["case_id"].endswith("_s00") for row in read_cases(out))
    assert "dropped 12 of 36 slices with an empty label" in " ".join(result.output.split())


def test_bad_option_is_one_line(runner, tmp_path):
    source = make_acdc(tmp_path / "training")
    result = prepare(runner, source, tmp_path / "out", "acdc[spacing=0]")
    assert result.exit_code == 2 and "spacing must be a positive" in result.output
    assert len(result.output.strip().splitlines()) == 1


def _remove(name: str):
    return lambda source: (source / name).unlink()


def _write_info(text: str):
    return lambda source: (source / "patient003" / "Info.cfg").write_text(text)


def _replace_gt(**changes):
    def damage(source: Path) -> None:
        labels = changes.get("labels", frame_labels("ED"))
        path = source / "patient002" / "patient002_frame01_gt.nii.gz"
        write_nifti(path, labels, changes.get("zooms", ZOOMS), changes.get("origin", (0, 0, 0)))

    return damage


def _truncate(source: Path) -> None:
    path = source / "patient004" / "patient004_frame01.nii.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _nan_image(source: Path) -> None:
    image = frame_image(frame_labels("ED"), 4)
    image[3, 3, 1] = np.nan
    write_nifti(source / "patient005" / "patient005_frame01.nii.gz", image)


def _bad_label() -> np.ndarray:
    labels = frame_labels("ED")
    labels[0, 0, 0] = 5
    return labels


BAD_INPUTS = {
    "missing folder": (lambda source: None, "nowhere", "does not exist"),
    "no patient folders": (lambda source: None, "empty", "no patientXXX folders"),
    "missing Info.cfg": (_remove("patient003/Info.cfg"), "Info.cfg", "is missing"),
    "Info.cfg without ES": (_write_info("ED: 1\nGroup: NOR\n"), "Info.cfg", "no 'ES: N'"),
    "missing ED image": (
        _remove("patient002/patient002_frame01.nii.gz"),
        "patient002_frame01.nii.gz",
        "ED frame",
    ),
    "missing ES labels": (
        _remove("patient006/patient006_frame09_gt.nii.gz"),
        "patient006_frame09_gt.nii.gz",
        "ES frame",
    ),
    "truncated NIfTI": (_truncate, "patient004_frame01.nii.gz", "truncated"),
    "not NIfTI": (
        lambda source: (source / "patient002" / "patient002_frame01_gt.nii.gz").write_text("x"),
        "patient002_frame01_gt.nii.gz",
        "cannot be read as NIfTI",
    ),
    "shape mismatch": (
        _replace_gt(labels=np.zeros((40, 36, 4), np.uint8)),
        "patient002_frame01_gt.nii.gz",
        "shape",
    ),
    "spacing mismatch": (
        _replace_gt(zooms=(1.0, 1.0, 10.0)),
        "patient002_frame01_gt.nii.gz",
        "voxel size",
    ),
    "affine mismatch": (
        _replace_gt(origin=(5.0, 0.0, 0.0)),
        "patient002_frame01_gt.nii.gz",
        "affine",
    ),
    "label outside 0..3": (
        _replace_gt(labels=_bad_label()),
        "patient002_frame01_gt.nii.gz",
        "label value 5",
    ),
    "non-finite image": (_nan_image, "patient005_frame01.nii.gz", "NaN"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_the_file_and_writes_nothing(runner, tmp_path, case):
    damage, names, says = BAD_INPUTS[case]
    if case == "missing folder":
        source = tmp_path / "nowhere"
    elif case == "no patient folders":
        source = tmp_path / "empty"
        (source / "notes").mkdir(parents=True)
    else:
        source = make_acdc(tmp_path / "training")
    damage(source)
    out = tmp_path / "out" / "acdc"
    result = prepare(runner, source, out)
    assert_refused(result, out, names, says)
