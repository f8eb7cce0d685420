"""coteaching: pixel-level Co-teaching (Han et al., NeurIPS 2018)."""

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
    pixel_loss,
    smallest_mask,
)


def cross_small_loss(
    loss_1: torch.Tensor, loss_2: torch.Tensor, forget_rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Co-teaching's exchange: network 1 learns on the ⌊(1−τ)P⌋ pixels its peer finds
    smallest-loss, and vice versa. Pixels are pooled over the batch (as the released
    code does). Returns the two mean losses."""
    keep = kept_count(loss_1.numel(), 1.0 - forget_rate)
    clean_for_1 = smallest_mask(loss_2, keep)
    clean_for_2 = smallest_mask(loss_1, keep)
    denominator = max(keep, 1)
    return (loss_1 * clean_for_1).sum() / denominator, (loss_2 * clean_for_2).sum() / denominator


@dataclass(frozen=True)
class CoTeachingParams(PredictionParams):
    forget_rate: float = 0.005  # τ_max, pixel level (the released RMD default)

    def __post_init__(self) -> None:
        if not 0.0 <= self.forget_rate < 1.0:
            raise ValueError(f"forget_rate must be in [0, 1), got {self.forget_rate}")


@METHODS.register("coteaching")
class CoTeaching(Method):
    """Two networks; τ ramps linearly from 0 to ``forget_rate`` over the schedule's ramp."""

    Params = CoTeachingParams
    packs_exactly = True  # its step draws no random numbers
    num_networks = 2
    relative_cost = 2.0
    search_space: ClassVar[dict[str, Dimension]] = {"forget_rate": LogUniform(1e-3, 0.2)}

    def training_step(self, images, labels, state) -> StepOutput:
        forget = self.params.forget_rate * self.context.schedule.linear_ramp(state.progress)
        loss_1 = pixel_loss(self.networks[0](images), labels)
        loss_2 = pixel_loss(self.networks[1](images), labels)
        supervised_1, supervised_2 = cross_small_loss(loss_1, loss_2, forget)
        return StepOutput.from_terms({"supervised": supervised_1 + supervised_2})
