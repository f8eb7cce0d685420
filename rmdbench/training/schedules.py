"""Schedules as functions of training progress p in [0, 1).

The paper states its constants in epochs of a 50-epoch run (ramps of 10 epochs, lr decay
and strong augmentation from epoch 10). rmdbench expresses them as fractions of training
(10 of 50 epochs = 0.2) and evaluates them every iteration, so a short profile leaves its
warm-up exactly as a long one does. One definition, used by every method alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PAPER_EPOCHS = 50


@dataclass(frozen=True)
class Schedule:
    """Where the paper's epoch-10 milestones fall, as fractions of training."""

    ramp_end: float = 10 / PAPER_EPOCHS  # forget-rate and consistency ramps reach their maximum
    decay_start: float = 10 / PAPER_EPOCHS  # lr starts its linear decay, beta1 drops to 0.1
    strong_augmentation_start: float = 10 / PAPER_EPOCHS  # RMD adds noise + warp to its flips

    def linear_ramp(self, progress: float) -> float:
        """0 -> 1 linearly until ``ramp_end`` (Co-teaching's forget-rate ramp)."""
        return min(progress / self.ramp_end, 1.0) if self.ramp_end > 0 else 1.0

    def sigmoid_ramp(self, progress: float) -> float:
        """exp(-5 (1 - t)^2) with t = min(p / ramp_end, 1): the mean-teacher ramp RMD uses."""
        t = self.linear_ramp(progress)
        return math.exp(-5.0 * (1.0 - t) ** 2)

    def learning_rate_factor(self, progress: float) -> float:
        """1 until ``decay_start``, then linear to 0 at the end of training."""
        if progress < self.decay_start:
            return 1.0
        return max(0.0, (1.0 - progress) / (1.0 - self.decay_start))

    def adam_beta1(self, progress: float) -> float:
        """The Co-teaching plan: 0.9 during warm-up, 0.1 once the lr decays."""
        return 0.9 if progress < self.decay_start else 0.1

    def strong_augmentation(self, progress: float) -> bool:
        return progress >= self.strong_augmentation_start
