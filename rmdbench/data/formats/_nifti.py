"""NIfTI reading shared by the ACDC and BraTS formats.

Every way a downloaded file can be broken (missing, truncated, not NIfTI, wrong shape,
non-finite values, stray label values) becomes a one-line :class:`UserError` naming the
file, so ``rmdbench data prepare`` can say exactly what to fix. Resampling and intensity
scaling live here too, so both formats treat voxels the same way.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError
from scipy import ndimage

from rmdbench.errors import UserError

READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, ImageFileError, HeaderDataError)


@dataclass(frozen=True)
class Volume:
    """One 3D NIfTI volume as stored: array axes (i, j, k), zooms in mm along them."""

    path: Path
    array: np.ndarray
    zooms: tuple[float, float, float]
    affine: np.ndarray


def nifti_file(folder: Path, stem: str) -> Path:
    """``stem.nii.gz``, or ``stem.nii`` when only the uncompressed file is there; the
    ``.nii.gz`` name when neither is, so the error names what the download normally has."""
    compressed = folder / f"{stem}.nii.gz"
    plain = folder / f"{stem}.nii"
    return plain if plain.is_file() and not compressed.is_file() else compressed


def require_file(path: Path, what: str) -> Path:
    """The path, or a one-line error saying which expected file is missing."""
    if not path.is_file():
        raise UserError(f"{path} is missing; {what}")
    return path


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def _open(path: Path) -> nib.Nifti1Image:
    try:
        image = nib.load(str(path))
    except READ_ERRORS as error:
        raise UserError(f"{path} cannot be read as NIfTI ({_one_line(error)})") from None
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise UserError(f"{path} is not a NIfTI image ({type(image).__name__})")
    return image


def _voxels(image: nib.Nifti1Image, path: Path, *, labels: bool) -> np.ndarray:
    """The voxel array; labels as stored (no float64 copy), images as float32."""
    try:
        if labels:
            return np.asarray(image.dataobj)
        return image.get_fdata(dtype=np.float32)
    except READ_ERRORS as error:
        raise UserError(f"{path} is truncated or damaged ({_one_line(error)})") from None


def _three_d(array: np.ndarray, path: Path) -> np.ndarray:
    """Drop trailing singleton axes ((X, Y, Z, 1) files exist); anything else must be 3D."""
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise UserError(f"{path} holds a {array.ndim}D array {array.shape}; expected a 3D volume")
    return array


def _zooms(image: nib.Nifti1Image, path: Path) -> tuple[float, float, float]:
    zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    if len(zooms) != 3 or not all(np.isfinite(z) and z > 0 for z in zooms):
        raise UserError(f"{path}: header voxel size {zooms} is not three positive numbers (mm)")
    return zooms


def load_volume(path: Path, what: str) -> Volume:
    """An intensity volume (float32), checked for readability, shape and finite values;
    ``what`` says what the missing file should have been."""
    require_file(path, what)
    image = _open(path)
    array = _three_d(_voxels(image, path, labels=False), path)
    if not np.isfinite(array).all():
        raise UserError(f"{path} contains NaN or infinite values; the file is damaged")
    return Volume(path, array, _zooms(image, path), np.asarray(image.affine, dtype=float))


def load_labels(path: Path, allowed: tuple[int, ...], what: str) -> Volume:
    """A label volume (uint8) whose every value is one of ``allowed``."""
    require_file(path, what)
    image = _open(path)
    raw = _three_d(_voxels(image, path, labels=True), path)
    values = np.unique(raw)
    bad = [v for v in values.tolist() if v not in allowed]
    if bad:
        raise UserError(
            f"{path} has label value {bad[0]:g}; this format's labels are "
            f"{', '.join(str(v) for v in allowed)}"
        )
    return Volume(path, raw.astype(np.uint8), _zooms(image, path), np.asarray(image.affine, float))


def check_same_grid(volume: Volume, reference: Volume, *, affine: bool = True) -> None:
    """Image and labels (or two modalities) must share shape, voxel size and placement,
    else the label would sit on the wrong voxels."""
    if volume.array.shape != reference.array.shape:
        raise UserError(
            f"{volume.path} has shape {volume.array.shape} but {reference.path.name} has "
            f"{reference.array.shape}; they must match voxel for voxel"
        )
    if not np.allclose(volume.zooms, reference.zooms, rtol=1e-4, atol=1e-4):
        raise UserError(
            f"{volume.path} has voxel size {volume.zooms} mm but {reference.path.name} has "
            f"{reference.zooms}; they must match"
        )
    if affine and not np.allclose(volume.affine, reference.affine, rtol=0, atol=1e-3):
        raise UserError(
            f"{volume.path} is placed differently in space (affine) from "
            f"{reference.path.name}; they must share one grid"
        )


def fitted_shape(shape: tuple[int, ...], factors: tuple[float, ...]) -> tuple[int, ...]:
    """The voxel counts after scaling each axis by its factor (at least 1)."""
    return tuple(max(1, round(n * f)) for n, f in zip(shape, factors, strict=True))


def resample(array: np.ndarray, shape: tuple[int, ...], *, order: int) -> np.ndarray:
    """``array`` on a grid of ``shape`` covering the same extent (voxel edges aligned, as
    ``grid_mode`` does): order 1 for intensities, order 0 for labels (no invented values)."""
    if tuple(array.shape) == tuple(shape):
        return array
    factors = [new / old for new, old in zip(shape, array.shape, strict=True)]
    return ndimage.zoom(array, factors, order=order, mode="nearest", grid_mode=True)


def resampled_spacing(
    spacing: tuple[float, ...], before: tuple[int, ...], after: tuple[int, ...]
) -> tuple[float, ...]:
    """The exact voxel size after resampling: same extent, new voxel count."""
    return tuple(s * b / a for s, b, a in zip(spacing, before, after, strict=True))


def normalise(
    array: np.ndarray,
    inside: np.ndarray | None = None,
    *,
    percentiles: tuple[float, float] = (0.5, 99.5),
) -> np.ndarray:
    """Scale to [0, 1] between two percentiles (of the ``inside`` voxels when given; those
    outside become 0): robust to the few very bright voxels MRI often has."""
    sample = array if inside is None else array[inside]
    if sample.size == 0:
        return np.zeros(array.shape, np.float32)
    low, high = np.percentile(sample, percentiles)
    scaled = np.zeros(array.shape, np.float32)
    if high > low:
        scaled = np.clip((array - low) / (high - low), 0.0, 1.0).astype(np.float32)
    if inside is not None:
        scaled[~inside] = 0.0
    return scaled
