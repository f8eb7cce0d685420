"""What several noise models share: severity validation, morphology by distance transform,
per-class application on label maps, and Dice between two masks.

Not a noise model (nothing registers here); the leading underscore keeps it out of sight.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from rmdbench.api import UserError


class SeverityError(UserError, ValueError):
    """A bad severity parameter. A ValueError, so ``build_params`` turns it into a one-line
    UserError naming the model; a UserError, so ``from_preset`` callers see one too."""


def set_field(params: Any, name: str, value: Any) -> None:
    """Store a normalised value on a frozen dataclass (inside ``__post_init__`` only)."""
    object.__setattr__(params, name, value)


def is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _pair(name: str, value: object, example: str) -> tuple[Any, Any]:
    """A range given as (low, high), [low, high] (JSON) or a single value (low = high)."""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 1:
        return value[0], value[0]
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    raise SeverityError(f"{name} must be a range low-high, e.g. {name}={example}; got {value!r}")


def int_range(name: str, value: object, minimum: int, example: str) -> tuple[int, int]:
    """An inclusive integer range with ``minimum <= low <= high``."""
    low, high = _pair(name, value, example)
    if not (is_integer(low) and is_integer(high)):
        raise SeverityError(f"{name} must be whole numbers, e.g. {name}={example}; got {value!r}")
    if not minimum <= low <= high:
        raise SeverityError(
            f"{name} range {low}-{high} must satisfy {minimum} <= low <= high, "
            f"e.g. {name}={example}"
        )
    return int(low), int(high)


def real_range(
    name: str,
    value: object,
    minimum: float,
    example: str,
    *,
    strict_minimum: bool = False,
) -> tuple[float, float]:
    """A range of finite reals with ``minimum <= low <= high`` (``<`` when strict)."""
    low, high = _pair(name, value, example)
    if not (is_real(low) and is_real(high)):
        raise SeverityError(f"{name} must be finite numbers, e.g. {name}={example}; got {value!r}")
    above = low > minimum if strict_minimum else low >= minimum
    if not (above and low <= high):
        sign = "<" if strict_minimum else "<="
        raise SeverityError(
            f"{name} range {low:g}-{high:g} must satisfy {minimum:g} {sign} low <= high, "
            f"e.g. {name}={example}"
        )
    return float(low), float(high)


def real_in(name: str, value: object, low: float, high: float, *, open_low: bool = False) -> float:
    """A finite real in [low, high] (or (low, high])."""
    if not is_real(value):
        raise SeverityError(f"{name} must be a finite number, got {value!r}")
    inside = (low < value if open_low else low <= value) and value <= high
    if not inside:
        bracket = "(" if open_low else "["
        raise SeverityError(f"{name} must be in {bracket}{low:g}, {high:g}], got {value}")
    return float(value)


def one_of(name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise SeverityError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def flag(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise SeverityError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def dilate(region: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by ``skimage.morphology.disk(radius)`` (``ball`` in 3D: the pixels
    within ``radius`` of the region), via one Euclidean distance transform: exact, and
    fast for any radius."""
    if radius <= 0 or not region.any():
        return region.copy()
    return ndimage.distance_transform_edt(~region) <= radius


def erode(region: np.ndarray, radius: int) -> np.ndarray:
    """Binary erosion by ``disk(radius)``, the image outside the crop counting as unknown
    (``border_value=1``), so a mask touching the crop edge is not eaten from outside."""
    if radius <= 0 or not region.any() or region.all():
        return region.copy()
    return ndimage.distance_transform_edt(region) > radius


def largest_safe_erosion(region: np.ndarray) -> int:
    """The largest erosion radius that leaves some foreground (0 for a one-pixel-thin mask)."""
    if not region.any() or region.all():
        return 0
    depth = float(ndimage.distance_transform_edt(region).max())
    return max(0, math.ceil(depth) - 1)


def per_class(
    mask: np.ndarray, num_classes: int, transform: Callable[[np.ndarray, int], np.ndarray]
) -> np.ndarray:
    """Apply a binary ``transform(region, label)`` to each foreground class of a label map.

    Binary masks: one call on ``mask > 0``. Multi-class: each class is transformed on its
    own, then painted in ascending label order, so where transformed classes overlap the
    higher label wins, and pixels no class covers any more become background (0).
    """
    if num_classes <= 2:
        return transform(mask > 0, 1).astype(mask.dtype)
    out = np.zeros_like(mask)
    for label in range(1, num_classes):
        out[transform(mask == label, label)] = label
    return out


def check_2d(mask: np.ndarray, model: str) -> np.ndarray:
    return check_dims(mask, model, (2,))


def check_dims(mask: np.ndarray, model: str, spatial_dims: tuple[int, ...]) -> np.ndarray:
    """The mask as an array, or a ValueError when the model does not work in its dims."""
    mask = np.asarray(mask)
    if mask.ndim not in spatial_dims:
        dims = " or ".join(f"{d}D" for d in spatial_dims)
        raise ValueError(f"{model} works on {dims} masks, got shape {mask.shape}")
    return mask
