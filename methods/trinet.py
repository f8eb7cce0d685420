"""trinet: Tri-network (Zhang et al., MICCAI 2020), as PyMIC implements it.

Each network learns on the pixels that BOTH other networks find small-loss. The paper also
speaks of using the peers' disagreement; that part is not implemented (PyMIC's reference
version does not have it either). Prediction: network 1, as for every method (PyMIC's
default); ``trinet[predict=ensemble]`` predicts with the mean of the three probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from rmdbench.api import (
    METHODS,
    Dimension,
    LogUniform,
    Method,
    PredictionParams,
    StepOutput,
    kept_count,
    masked_mean,
    pixel_loss,
    smallest_mask,
)


def peer_agreed_losses(losses: list[torch.Tensor], forget_rate: float) -> list[torch.Tensor]:
    """For each network k: mean of its loss over the intersection of the other two
    networks' ⌊(1−τ)P⌋ smallest-loss pixels."""
    keep = kept_count(losses[0].numel(), 1.0 - forget_rate)
    small = [smallest_mask(loss, keep) for loss in losses]
    result = []
    for k, loss in enumerate(losses):
        peers = [small[j] for j in range(len(losses)) if j != k]
        result.append(masked_mean(loss, peers[0] & peers[1]))
    return result


@dataclass(frozen=True)
class TriNetParams(PredictionParams):
    forget_rate: float = 0.005  # τ_max, pixel level, as for the other methods

    def __post_init__(self) -> None:
        if not 0.0 <= self.forget_rate < 1.0:
            raise ValueError(f"forget_rate must be in [0, 1), got {self.forget_rate}")


@METHODS.register("trinet")
class TriNet(Method):
    """Three networks; each trained where both peers find the loss small."""

    Params = TriNetParams
    packs_exactly = True  # its step draws no random numbers
    num_networks = 3
    relative_cost = 3.0
    search_space: ClassVar[dict[str, Dimension]] = {"forget_rate": LogUniform(1e-3, 0.2)}

    def training_step(self, images, labels, state) -> StepOutput:
        forget = self.params.forget_rate * self.context.schedule.linear_ramp(state.progress)
        losses = [pixel_loss(network(images), labels) for network in self.networks]
        supervised = peer_agreed_losses(losses, forget)
        return StepOutput.from_terms({"supervised": supervised[0] + supervised[1] + supervised[2]})
