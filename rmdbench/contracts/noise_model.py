"""What a noise model is: a severity (declared parameters with named presets) and a
``corrupt`` that turns one clean mask into a noisy one with a given random generator."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import numpy as np

from rmdbench.errors import UserError
from rmdbench.params import build_params


@dataclass(frozen=True)
class NoiseCase:
    """What a noise model may look at for one training case."""

    mask: np.ndarray  # uint8 [H, W] clean label
    spacing: np.ndarray  # float [2] or [3] mm, one per spatial axis
    num_classes: int = 2
    readers: np.ndarray | None = None  # uint8 [R, H, W] real annotators' masks, if known
    reader_count: int = 0
    given: np.ndarray | None = None  # uint8 [H, W] the user's own noisy label, if any


class NoiseModel:
    """Base class. Subclasses set ``Params`` (a frozen dataclass of severity parameters whose
    defaults are the paper's setting), ``presets`` (name -> parameter overrides) and
    implement ``corrupt``."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = object
    presets: ClassVar[dict[str, dict[str, Any]]] = {"default": {}}
    supports_multiclass: ClassVar[bool] = True
    #: the mask dimensionalities it corrupts (2 = slices, 3 = volumes)
    spatial_dims: ClassVar[tuple[int, ...]] = (2,)
    #: needs the dataset's per-reader masks (checked before a sweep trains anything)
    requires_readers: ClassVar[bool] = False
    #: needs the user's own noisy labels (a folder's noisy_masks/; checked likewise)
    requires_given: ClassVar[bool] = False
    #: parameters (radii, shifts, displacement widths, in px) that may not exceed the crop
    crop_bounded: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Any) -> None:
        self.params = params

    @classmethod
    def check_preset(cls, preset: str) -> dict[str, Any]:
        """The parameter values of ``preset``, or a UserError naming the presets."""
        if preset not in cls.presets:
            raise UserError(
                f"noise model '{cls.name}' has no preset '{preset}'; "
                f"choose one of: {', '.join(cls.presets)}"
            )
        return cls.presets[preset]

    @classmethod
    def resolve_params(cls, preset: str = "default", overrides: dict[str, Any] | None = None):
        """For command-line text: the severity of ``preset`` with ``overrides`` on top,
        strings converted to the declared types; a bad value is a UserError."""
        values = {**cls.check_preset(preset), **(overrides or {})}
        return build_params(cls.Params, values, f"noise model '{cls.name}'")

    @classmethod
    def from_preset(cls, preset: str = "default", **overrides: Any) -> NoiseModel:
        """For Python callers: values are taken as given (no string conversion)."""
        preset_values = cls.check_preset(preset)
        known = {f.name for f in fields(cls.Params)}
        unknown = set(overrides) - known
        if unknown:
            raise UserError(
                f"noise model '{cls.name}' has no parameter {', '.join(sorted(unknown))}; "
                f"its parameters are: {', '.join(sorted(known))}"
            )
        return cls(replace(cls.Params(), **{**preset_values, **overrides}))

    def corrupt(self, case: NoiseCase, rng: np.random.Generator) -> np.ndarray:
        """Return the noisy mask of one training case the noise ratio selected.

        ``case.mask`` is the clean label, uint8 [H, W] (or [D, H, W] when ``spatial_dims``
        has 3): 0/1, or class indices when ``case.num_classes`` > 2; do not modify it in
        place. ``case.spacing`` is mm per axis; ``case.readers[:case.reader_count]`` are
        real annotators' masks when the dataset has them (set ``requires_readers``);
        ``case.given`` the user's own noisy label of the case, if it has one (set
        ``requires_given``).
        ``rng`` is seeded by (dataset, noise model, severity, seed, case id) and is the only
        randomness to use, so a case's noisy mask is the same at every ratio and for every
        method. The result must have the mask's shape (it is stored as uint8), keep binary
        masks binary and labels within 0..num_classes-1, and leave an empty mask empty.
        """
        raise NotImplementedError
