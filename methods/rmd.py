"""rmd: Reliable Mutual Distillation (Fang et al., IEEE TMI 2023).

Default variant: two networks; cross small-loss supervision as in
Co-teaching; a joint data augmentation T of the input and both weak predictions plus
model augmentation (encoder dropout) gives strong views s_k; network k's reliability per
pixel is r_k = (s_k − T(o_k))²; network 1 distils the peer's knowledge,
KL(σ(T(o_2)) ‖ σ(s_1)), on the ⌊ρP⌋ pixels where network 2 is most reliable, and vice
versa; the targets T(o_peer) are detached.

``variant="released"`` reproduces the released code where it differs: (1) the targets are
NOT detached, so gradient flows into the teacher through the augmentation; (2) the
reliable fraction is tied to the ramp, ρ = min(w(p), 1), i.e. every pixel once the ramp
ends (the LIDC ``consist_factor=1``); (3) its constants λ = 0.0009 and ``strong_bn=train``
where rmdbench's paper-variant defaults are λ = 0.1 and ``frozen`` (docs/rmd-audit.md: at
0.0009 the distillation gives ~4e-4 of the gradient). Its data-order bug (no shuffling) is
not reproduced.

Two switches are about how the released code runs, not what the paper describes:
``strong_bn`` (``train``: the strong passes update BatchNorm's running statistics, as the
released code does; ``frozen``: they normalise with batch statistics but leave the running
ones to the weak passes, which evaluation sees) and ``warp_units`` (``pixels``: the elastic
displacement is in pixels of the image given, as released; ``relative``: in pixels of a
128² image, scaled to the image, so a 64² crop is warped as strongly as a 128² one).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from rmdbench.api import (
    METHODS,
    Dimension,
    LogUniform,
    Method,
    PredictionParams,
    StepOutput,
    StrongAugmentation,
    Uniform,
    frozen_running_statistics,
    kept_count,
    masked_mean,
    pixel_count,
    pixel_kl,
    pixel_loss,
    pixel_squared_distance,
    smallest_mask,
)

from .coteaching import cross_small_loss


def reliable_distillation(
    student_strong: torch.Tensor,
    teacher_targets: torch.Tensor,
    teacher_reliability: torch.Tensor,
    keep: int,
) -> torch.Tensor:
    """Mean KL(p(teacher) ‖ p(student)) over the ``keep`` pixels where the teacher's
    reliability score is smallest (most reliable); p is the sigmoid, or the softmax for
    multi-class tasks."""
    reliable = smallest_mask(teacher_reliability, keep)
    return masked_mean(pixel_kl(teacher_targets, student_strong), reliable)


#: the released code's constants, which ``variant=released`` keeps
RELEASED_DEFAULTS = {"distill_weight": 0.0009, "strong_bn": "train"}
#: rmdbench's defaults for the paper variant, chosen by measurement (docs/rmd-audit.md): at
#: the released λ the distillation gives ~4e-4 of the gradient, i.e. it does not act
PAPER_DEFAULTS = {"distill_weight": 0.1, "strong_bn": "frozen"}


@dataclass(frozen=True)
class RMDParams(PredictionParams):
    forget_rate: float = 0.005  # τ_max of the cross small-loss supervision (pixel level)
    reliable_fraction: float = 0.8  # ρ_max
    distill_weight: float | None = None  # λ; none: the variant's (paper 0.1, released 0.0009)
    augmented_views: int = 1  # A
    cross_selection: bool = True
    distill: bool = True
    reliability: bool = True
    data_aug: bool = True
    model_aug: bool = True
    variant: Literal["paper", "released"] = "paper"
    strong_bn: Literal["train", "frozen"] | None = None  # none: paper frozen, released train
    warp_units: Literal["pixels", "relative"] = "pixels"  # the released code: pixels

    def __post_init__(self) -> None:
        # a field left at none takes its variant's value: rmd[variant=released] is the
        # released code's constants, whatever rmdbench's own defaults become
        defaults = RELEASED_DEFAULTS if self.variant == "released" else PAPER_DEFAULTS
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if not self.distill_weight >= 0.0:
            raise ValueError(f"distill_weight must be at least 0, got {self.distill_weight}")
        if not 0.0 <= self.forget_rate < 1.0:
            raise ValueError(f"forget_rate must be in [0, 1), got {self.forget_rate}")
        if not 0.0 < self.reliable_fraction <= 1.0:
            raise ValueError(f"reliable_fraction must be in (0, 1], got {self.reliable_fraction}")
        if self.augmented_views < 1:
            raise ValueError(f"augmented_views must be at least 1, got {self.augmented_views}")
        if self.variant not in ("paper", "released"):
            raise ValueError(f"variant must be paper or released, got {self.variant!r}")
        if self.strong_bn not in ("train", "frozen"):
            raise ValueError(f"strong_bn must be train or frozen, got {self.strong_bn!r}")
        if self.warp_units not in ("pixels", "relative"):
            raise ValueError(f"warp_units must be pixels or relative, got {self.warp_units!r}")


@METHODS.register("rmd")
class RMD(Method):
    """Reliable Mutual Distillation; every step of docs/methods.md, with ablation switches."""

    Params = RMDParams
    num_networks = 2
    relative_cost = 4.0
    packs_exactly = False  # strong views draw warps and dropout
    search_space: ClassVar[dict[str, Dimension]] = {
        "forget_rate": LogUniform(1e-3, 0.2),
        "distill_weight": LogUniform(1e-3, 10),
        "reliable_fraction": Uniform(0.3, 1.0),
    }

    def __init__(self, params: RMDParams, context) -> None:
        super().__init__(params, context)
        self.augmentation = StrongAugmentation(relative=params.warp_units == "relative")

    def reliable_fraction(self, ramp: float) -> float:
        if not self.params.reliability:
            return 1.0
        if self.params.variant == "released":
            return min(ramp, 1.0)
        return min(self.params.reliable_fraction * ramp, 1.0)

    def training_step(self, images, labels, state) -> StepOutput:
        params, schedule = self.params, self.context.schedule
        net_1, net_2 = self.networks
        weak_1, weak_2 = net_1(images), net_2(images)
        loss_1, loss_2 = pixel_loss(weak_1, labels), pixel_loss(weak_2, labels)
        if params.cross_selection:
            forget = params.forget_rate * schedule.linear_ramp(state.progress)
            supervised_1, supervised_2 = cross_small_loss(loss_1, loss_2, forget)
        else:
            supervised_1, supervised_2 = loss_1.mean(), loss_2.mean()
        supervised = supervised_1 + supervised_2
        logs = {"supervised": supervised.detach()}
        if not params.distill:
            return StepOutput.from_terms({"supervised": supervised}, logs)

        ramp = schedule.sigmoid_ramp(state.progress)
        distill = self.distillation_loss(images, weak_1, weak_2, state)
        logs["distill"] = distill.detach()  # before its weight: the KL itself
        terms = {"supervised": supervised, "distill": params.distill_weight * ramp * distill}
        return StepOutput.from_terms(terms, logs)

    def strong_pass(self):
        """Where the strong forwards run: with ``strong_bn=frozen``, BatchNorm's running
        statistics are left as the weak passes made them."""
        if self.params.strong_bn == "frozen":
            return frozen_running_statistics(self.networks)
        return contextlib.nullcontext()

    def distillation_loss(
        self, images: torch.Tensor, weak_1: torch.Tensor, weak_2: torch.Tensor, state
    ) -> torch.Tensor:
        """Both directions of the reliable distillation, averaged over augmented views."""
        params, schedule = self.params, self.context.schedule
        net_1, net_2 = self.networks
        keep = kept_count(
            pixel_count(weak_1), self.reliable_fraction(schedule.sigmoid_ramp(state.progress))
        )
        detach = params.variant != "released"
        targets = [weak_1.detach(), weak_2.detach()] if detach else [weak_1, weak_2]
        distill = torch.zeros((), device=images.device)
        for _ in range(params.augmented_views):
            strong_images, (target_1, target_2) = images, targets
            if params.data_aug:
                strong_images, (target_1, target_2) = self.augmentation(
                    images,
                    targets,
                    state.generator,
                    warp=schedule.strong_augmentation(state.progress),
                )
            dropout = params.model_aug
            with self.strong_pass():
                strong_1 = net_1(strong_images, feature_dropout=dropout)
                strong_2 = net_2(strong_images, feature_dropout=dropout)
            reliability_1 = pixel_squared_distance(strong_1.detach(), target_1.detach())
            reliability_2 = pixel_squared_distance(strong_2.detach(), target_2.detach())
            distill = distill + reliable_distillation(strong_1, target_2, reliability_2, keep)
            distill = distill + reliable_distillation(strong_2, target_1, reliability_1, keep)
        return distill / params.augmented_views
