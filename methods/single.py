"""single: one network trained on every pixel of the noisy labels (the lower bound)."""

from __future__ import annotations

from rmdbench.api import METHODS, Method, StepOutput, pixel_loss


@METHODS.register("single")
class Single(Method):
    """Standard training: the mean per-pixel loss (BCE, or CE for multi-class) against the
    noisy label."""

    num_networks = 1
    packs_exactly = True  # its step draws no random numbers

    def training_step(self, images, labels, state) -> StepOutput:
        loss = pixel_loss(self.networks[0](images), labels).mean()
        return StepOutput.from_terms({"supervised": loss})
