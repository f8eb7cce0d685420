"""jocor: JoCoR (Wei et al., CVPR 2020) at pixel level."""

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
    Uniform,
    kept_count,
    pixel_kl,
    pixel_loss,
    smallest_mask,
)


def joint_loss_parts(
    logits_1: torch.Tensor, logits_2: torch.Tensor, labels: torch.Tensor, co_lambda: float
) -> dict[str, torch.Tensor]:
    """The per-pixel joint loss as its two weighted parts, ``supervised`` (1−λ)(ℓ1+ℓ2) and
    ``agreement`` λ(KL(p1‖p2) + KL(p2‖p1)); both KL directions keep their gradient (the
    co-regularisation of the official code)."""
    supervised = pixel_loss(logits_1, labels) + pixel_loss(logits_2, labels)
    agreement = pixel_kl(logits_1, logits_2) + pixel_kl(logits_2, logits_1)
    return {"supervised": (1 - co_lambda) * supervised, "agreement": co_lambda * agreement}


def joint_loss(
    logits_1: torch.Tensor, logits_2: torch.Tensor, labels: torch.Tensor, co_lambda: float
) -> torch.Tensor:
    """Per-pixel (1−λ)(ℓ1+ℓ2) + λ(KL(p1‖p2) + KL(p2‖p1))."""
    parts = joint_loss_parts(logits_1, logits_2, labels, co_lambda)
    return parts["supervised"] + parts["agreement"]


def small_joint_loss_means(
    parts: dict[str, torch.Tensor], forget_rate: float
) -> dict[str, torch.Tensor]:
    """Each part's sum over the ⌊(1−τ)P⌋ pixels of smallest joint loss (selection on
    detached values), over that count: the terms add up to the mean small joint loss."""
    joint = parts["supervised"] + parts["agreement"]
    keep = kept_count(joint.numel(), 1.0 - forget_rate)
    kept = smallest_mask(joint, keep)
    return {name: (part * kept).sum() / max(keep, 1) for name, part in parts.items()}


@dataclass(frozen=True)
class JoCoRParams(PredictionParams):
    forget_rate: float = 0.005  # τ_max, pixel level, as for coteaching and rmd
    co_lambda: float = 0.1  # official default; its README reports 0.65-0.9 best at high noise

    def __post_init__(self) -> None:
        if not 0.0 <= self.forget_rate < 1.0:
            raise ValueError(f"forget_rate must be in [0, 1), got {self.forget_rate}")
        if not 0.0 <= self.co_lambda <= 1.0:
            raise ValueError(f"co_lambda must be in [0, 1], got {self.co_lambda}")


@METHODS.register("jocor")
class JoCoR(Method):
    """Two networks, one joint loss with agreement regularisation, small-loss selection."""

    Params = JoCoRParams
    packs_exactly = True  # its step draws no random numbers
    num_networks = 2
    relative_cost = 2.0
    search_space: ClassVar[dict[str, Dimension]] = {
        "forget_rate": LogUniform(1e-3, 0.2),
        "co_lambda": Uniform(0.05, 0.95),
    }

    def training_step(self, images, labels, state) -> StepOutput:
        forget = self.params.forget_rate * self.context.schedule.linear_ramp(state.progress)
        parts = joint_loss_parts(
            self.networks[0](images), self.networks[1](images), labels, self.params.co_lambda
        )
        return StepOutput.from_terms(small_joint_loss_means(parts, forget))
