"""Random boundary shift: each point of the contour moves along its normal by a smooth
random offset, like a hand that wobbles around the true edge.

A smooth random field of signed offsets (white noise smoothed by a Gaussian of width
``correlation_length``, periodic borders so its spread is the same everywhere, normalised
to unit standard deviation and scaled by an amplitude drawn per case) gives each edge
pixel an offset: a stationary Gaussian process along the contour, the continuous analogue
of a Markov chain of edge moves, with a standard deviation of ``amplitude`` px. Every other
pixel takes the offset of its nearest edge pixel, and is foreground when its signed
distance to the edge (negative inside) is below that offset: the edge moves outward where
the offset is positive and inward where it is negative, with no islands far from the edge.
An inward move never reaches deeper than the mask's thickest point, so a mask is never
erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from rmdbench.api import NOISE_MODELS, NoiseCase, NoiseModel

from ._shared import check_2d, per_class, real_in, real_range, set_field


@dataclass(frozen=True)
class BoundaryParams:
    """Severity of the boundary wobble; defaults calibrated to Dice ~0.7 on lidc-phantom."""

    amplitude: tuple[float, float] = (1.0, 2.5)  # offset std ~ U[low, high] px, per case
    correlation_length: float = 3.0  # px: how far along the edge an offset persists

    def __post_init__(self) -> None:
        set_field(self, "amplitude", real_range("amplitude", self.amplitude, 0.0, "1-2.5"))
        set_field(
            self,
            "correlation_length",
            real_in("correlation_length", self.correlation_length, 0.0, 1000.0, open_low=True),
        )


def moved_edge(region: np.ndarray, field: np.ndarray) -> np.ndarray:
    """``region`` with each edge point moved outward by ``field`` px at that point.

    ``phi`` is the signed distance to the edge (+-0.5 next to it, negative inside); each
    pixel reads the offset at its nearest edge pixel (inner edge for pixels outside, outer
    edge for pixels inside), clamped so that the deepest pixel always stays foreground.
    """
    outside, nearest_inner = ndimage.distance_transform_edt(~region, return_indices=True)
    inside, nearest_outer = ndimage.distance_transform_edt(region, return_indices=True)
    phi = np.where(region, 0.5 - inside, outside - 0.5)
    nearest = np.where(region, nearest_outer, nearest_inner)
    offset = field[nearest[0], nearest[1]]
    offset = np.maximum(offset, phi.min() + 1e-6)
    return phi < offset


def smooth_field(white: np.ndarray, correlation_length: float) -> np.ndarray:
    """Unit-variance smooth Gaussian field from white noise (periodic Gaussian filter)."""
    smooth = ndimage.gaussian_filter(white, correlation_length, mode="wrap")
    impulse = np.zeros_like(white)
    impulse[0, 0] = 1.0
    kernel = ndimage.gaussian_filter(impulse, correlation_length, mode="wrap")
    return smooth / np.sqrt(np.sum(kernel**2))


@NOISE_MODELS.register("boundary")
class Boundary(NoiseModel):
    """Move the boundary in and out by a smooth random offset (a wobbling contour).

    Presets (realised Dice on lidc-phantom crop 64, ratio 1, seed 0, mean/median):
    ``default`` amplitude 1-2.5 px, correlation 3 px (0.73/0.75); ``mild`` 0.5-1.5 px
    (0.84/0.87); ``severe`` 2-4 px (0.59/0.61); ``jagged`` 1-2.5 px, correlation 1.5 px
    (0.73/0.74). Multi-class: one field per class, painted as in ``erosion_dilation``.
    """

    name: ClassVar[str] = "boundary"
    Params: ClassVar[type] = BoundaryParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "mild": {"amplitude": (0.5, 1.5)},
        "severe": {"amplitude": (2.0, 4.0)},
        "jagged": {"correlation_length": 1.5},
    }
    supports_multiclass: ClassVar[bool] = True
    #: checked against the profile's crop at plan time (rmdbench.noise.check_noise_fits)
    crop_bounded: ClassVar[tuple[str, ...]] = ("amplitude",)

    def corrupt(self, case: NoiseCase, rng: np.random.Generator) -> np.ndarray:
        """The mask with a wobbled edge; same shape and dtype; an empty mask stays empty."""
        mask = check_2d(case.mask, self.name)
        params: BoundaryParams = self.params
        amplitude = rng.uniform(*params.amplitude)
        fields = rng.standard_normal((max(1, case.num_classes - 1), *mask.shape))
        if not mask.any():
            return mask.copy()

        def transform(region: np.ndarray, label: int) -> np.ndarray:
            if not region.any():
                return region
            if region.all():
                return region
            field = amplitude * smooth_field(fields[label - 1], params.correlation_length)
            return moved_edge(region, field)

        return per_class(mask, case.num_classes, transform)
