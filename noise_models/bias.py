"""Systematic bias: every corrupted mask is dilated (over-segmentation) or every one is
eroded (under-segmentation), never a mix. This is the annotation-protocol noise the RMD
abstract calls systematic: one reader who always draws outside (or inside) the edge.
Unlike ``erosion_dilation``, the errors do not average out over cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from rmdbench.api import NOISE_MODELS, NoiseCase, NoiseModel

from ._shared import check_dims, flag, int_range, one_of, set_field
from .erosion_dilation import morph

DIRECTIONS = ("dilate", "erode")


@dataclass(frozen=True)
class BiasParams:
    """Severity of the systematic bias: a direction and a radius range."""

    direction: Literal["dilate", "erode"] = "dilate"  # dilate = over-, erode = under-segment
    radius: tuple[int, int] = (1, 2)  # disk radius ~ U{low..high} px, drawn per case
    keep_nonempty: bool = True  # an erosion never erases a mask: its radius is capped

    def __post_init__(self) -> None:
        one_of("direction", self.direction, DIRECTIONS)
        set_field(self, "radius", int_range("radius", self.radius, 0, "1-2"))
        set_field(self, "keep_nonempty", flag("keep_nonempty", self.keep_nonempty))


@NOISE_MODELS.register("bias")
class Bias(NoiseModel):
    """Systematic over- or under-segmentation: always dilate, or always erode.

    Presets (realised Dice on lidc-phantom crop 64, ratio 1, seed 0, mean/median):
    ``default`` = ``over``: dilate 1-2 px (0.76/0.78); ``under``: erode 1-2 px (0.64/0.69);
    ``over_severe``: dilate 2-4 px (0.59/0.60); ``under_severe``: erode 2-4 px (0.36/0.32).
    Multi-class as ``erosion_dilation`` (per class, higher label wins overlaps).
    """

    name: ClassVar[str] = "bias"
    Params: ClassVar[type] = BiasParams
    spatial_dims = (2, 3)  # distance transforms and reader masks work on volumes too
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "over": {"direction": "dilate"},
        "under": {"direction": "erode"},
        "over_severe": {"direction": "dilate", "radius": (2, 4)},
        "under_severe": {"direction": "erode", "radius": (2, 4)},
    }
    supports_multiclass: ClassVar[bool] = True
    #: checked against the profile's crop at plan time (rmdbench.noise.check_noise_fits)
    crop_bounded: ClassVar[tuple[str, ...]] = ("radius",)

    def corrupt(self, case: NoiseCase, rng: np.random.Generator) -> np.ndarray:
        """The dilated (or eroded) mask; same shape and dtype; an empty mask stays empty."""
        mask = check_dims(case.mask, self.name, self.spatial_dims)
        params: BiasParams = self.params
        radius = int(rng.integers(params.radius[0], params.radius[1] + 1))
        if not mask.any():
            return mask.copy()
        dilating = params.direction == "dilate"
        return morph(mask, case.num_classes, dilating, radius, params.keep_nonempty)
