"""Reading one image or label file (PNG, TIFF, NIfTI, ``.npy``) into a numpy array, with the
voxel size when the file records one. Every failure is a one-line UserError naming the file,
so a format that reads many files says exactly which one is broken.

Axis conventions, so that an image and its mask line up whatever the file type:

- PNG and TIFF keep their own order, rows first; a colour axis (RGB) is the last one.
- ``.npy`` is taken as saved; a channel axis, if any, is the first one (PyTorch order).
- NIfTI arrays (x, y[, z]) are reversed to ([z,] y, x), so that rows are y and the depth
  axis comes first as in [D, H, W]; the header's zooms are reversed with them. A channel
  axis (the 4th NIfTI axis) therefore comes first too. Trailing length-1 axes beyond the
  second are dropped (a 2D slice saved as x × y × 1 is 2D).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rmdbench.errors import UserError

SUFFIXES = (".nii.gz", ".nii", ".png", ".tif", ".tiff", ".npy")
NIFTI_SUFFIXES = (".nii.gz", ".nii")
NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class ImageFile:
    """What one file held.

    array:         the pixel values, in the axis order described in the module docstring
    spacing:       mm per axis of ``array`` (from a NIfTI header), or None
    channels_last: whether a channel axis would be the last axis (PNG, TIFF) or the first
    """

    array: np.ndarray
    spacing: tuple[float, ...] | None
    channels_last: bool


def image_suffix(path: Path) -> str | None:
    """The recognised suffix of a file name (lower case), or None."""
    name = path.name.lower()
    return next((suffix for suffix in SUFFIXES if name.endswith(suffix)), None)


def image_stem(path: Path) -> str:
    """The file name without its recognised suffix: 'case1.nii.gz' -> 'case1'."""
    suffix = image_suffix(path)
    return path.name[: -len(suffix)] if suffix else path.stem


def read_image_file(path: Path, *, label: bool = False) -> ImageFile:
    """The file's array; ``label`` reads a PNG palette as its indices (label values) and
    refuses a colour PNG whose channels differ (a colour-coded mask is not a label map).
    An empty file, or an array with no pixels (an axis of length 0), is refused naming it."""
    image_file = _read_any(path, label=label)
    if image_file.array.size == 0:
        kind = "mask" if label else "image"
        raise UserError(
            f"{path}: an empty {kind} (shape {image_file.array.shape}, no pixels); "
            "replace or remove this case"
        )
    return image_file


def _read_any(path: Path, *, label: bool) -> ImageFile:
    suffix = image_suffix(path)
    _check_not_empty(path)
    if suffix == ".png":
        return ImageFile(_read_png(path, label=label), None, channels_last=True)
    if suffix in (".tif", ".tiff"):
        return ImageFile(_read_tiff(path), None, channels_last=True)
    if suffix == ".npy":
        return ImageFile(_read_npy(path), None, channels_last=False)
    if suffix in NIFTI_SUFFIXES:
        return _read_nifti(path)
    raise UserError(f"{path}: not a PNG, TIFF, NIfTI or .npy file")


def _check_not_empty(path: Path) -> None:
    """A zero-byte file (an interrupted copy or download) is named as such, not left to
    each decoder's own message."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise _unreadable(path, error) from None
    if size == 0:
        raise UserError(f"{path}: an empty file (0 bytes); is the copy or download complete?")


def _unreadable(path: Path, error: BaseException) -> UserError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return UserError(f"{path}: cannot read the file ({reason}); is it complete and not corrupt?")


def _read_png(path: Path, *, label: bool) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            return _png_array(image, path, label=label)
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - a broken file can fail anywhere in the decoder
        raise _unreadable(path, error) from None


def _png_array(image, path: Path, *, label: bool) -> np.ndarray:
    """Grey (any bit depth) stays 2D; colour becomes [H, W, 3] for an image. Alpha is
    dropped: it is transparency, not a measurement."""
    mode = image.mode
    if label and mode == "P":
        return np.asarray(image)
    if mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F"):
        return np.asarray(image)
    if mode == "LA":
        return np.asarray(image.convert("L"))
    colour = np.asarray(image.convert("RGB"))
    if not label:
        return colour
    if np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(
        colour[..., 0], colour[..., 2]
    ):
        return colour[..., 0]
    raise UserError(
        f"{path}: a colour mask; save masks as single-channel label images (0 = background)"
    )


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        return np.asarray(tifffile.imread(path))
    except Exception as error:  # noqa: BLE001 - a broken file can fail anywhere in the decoder
        raise _unreadable(path, error) from None


def _read_npy(path: Path) -> np.ndarray:
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(NPY_MAGIC))
    except OSError as error:
        raise _unreadable(path, error) from None
    if magic != NPY_MAGIC:
        raise UserError(f"{path}: not a NumPy .npy file (no .npy header); save it with np.save")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - a broken file can fail anywhere in np.load
        raise _unreadable(path, error) from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise UserError(f"{path}: not a numeric array (dtype {getattr(array, 'dtype', '?')})")
    return array


def _read_nifti(path: Path) -> ImageFile:
    import nibabel

    try:
        image = nibabel.load(path)
        array = np.asanyarray(image.dataobj)
        zooms = tuple(float(zoom) for zoom in image.header.get_zooms())
    except Exception as error:  # noqa: BLE001 - a broken file can fail anywhere in nibabel
        raise _unreadable(path, error) from None
    zooms = (zooms + (1.0,) * array.ndim)[: array.ndim]
    while array.ndim > 2 and array.shape[-1] == 1:
        array, zooms = array[..., 0], zooms[:-1]
    spacing = tuple(reversed(zooms))
    return ImageFile(np.ascontiguousarray(array.transpose()), spacing, channels_last=False)
