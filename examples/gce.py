"""A complete rmdbench plug-in in one file: the generalized cross-entropy baseline.

Zhang & Sabuncu (NeurIPS 2018): L_q = (1 − p_y^q) / q, between the mean absolute error
(q = 1) and cross-entropy (q → 0); robust to label noise. Use it with

    rmdbench sweep --plugin examples/gce.py --methods "single,gce[q=0.7]"
"""

from dataclasses import dataclass

import torch

from rmdbench.api import METHODS, Method, StepOutput


@dataclass(frozen=True)
class GCEParams:
    q: float = 0.7  # the paper's default

    def __post_init__(self) -> None:
        if not 0.0 < self.q <= 1.0:
            raise ValueError(f"q must be in (0, 1], got {self.q}")


@METHODS.register("gce")
class GeneralizedCrossEntropy(Method):
    """One network trained with the generalized cross-entropy on every pixel."""

    Params = GCEParams
    num_networks = 1

    def training_step(self, images, labels, state) -> StepOutput:
        probability = torch.sigmoid(self.networks[0](images).float())
        label_probability = torch.where(labels > 0.5, probability, 1 - probability)
        loss = ((1 - label_probability.clamp_min(1e-6) ** self.params.q) / self.params.q).mean()
        return StepOutput.from_terms({"supervised": loss})
