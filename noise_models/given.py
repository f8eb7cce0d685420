"""Your own noisy labels: the training mask of a corrupted case is the one you supplied
(a ``folder`` dataset's ``noisy_masks/<case>`` file), used as it is. Nothing is simulated,
so this measures the methods on the label noise of your own annotation process (a quick
annotator, a model's pseudo-labels, an older protocol) while validation and test are
scored on your clean masks (``masks/``).

The noise ratio picks the training cases that get their given label, as for every model:
``--noise 1`` trains on every given label; a lower ratio mixes them with clean masks. A
selected case without a given label keeps its clean mask (it shows in the realised noise as
a case of Dice 1). A dataset without any given labels is refused before a sweep trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rmdbench.api import NOISE_MODELS, NoiseCase, NoiseModel

from ._shared import check_dims


@dataclass(frozen=True)
class GivenParams:
    """No severity: the labels are what they are."""


@NOISE_MODELS.register("given")
class Given(NoiseModel):
    """Your own noisy training labels (a folder's noisy_masks/), used as they are.

    Needs a dataset prepared with ``noisy_masks/`` (rmdbench data prepare folder); other
    datasets get a one-line error naming the fix. Use ``--noise 1`` for every given label.
    """

    name: ClassVar[str] = "given"
    Params: ClassVar[type] = GivenParams
    spatial_dims = (2, 3)
    supports_multiclass: ClassVar[bool] = True
    requires_given: ClassVar[bool] = True

    def corrupt(self, case: NoiseCase, rng: np.random.Generator) -> np.ndarray:
        """The case's given label in the clean mask's dtype (binary masks kept 0/1), or a
        copy of the clean mask when the case has none. ``rng`` is not used: nothing is
        drawn."""
        mask = check_dims(case.mask, self.name, self.spatial_dims)
        if case.given is None:
            return mask.copy()
        given = np.asarray(case.given)
        if given.shape != mask.shape:
            raise ValueError(f"the given label has shape {given.shape}, the mask {mask.shape}")
        if case.num_classes <= 2:
            given = given > 0
        return given.astype(mask.dtype)
