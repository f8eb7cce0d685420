"""What a training method is: its networks and the loss of one training step.

The Trainer owns everything shared (device, data, epochs, optimiser plan, evaluation,
timing); a method only builds its networks and turns a batch into a loss. One Adam over
all of a method's parameters equals one Adam per network (Adam is element-wise), so the
Trainer runs one optimiser and one backward per iteration for every method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from rmdbench.backbones.base import Backbone
from rmdbench.params import build_params
from rmdbench.training.schedules import Schedule


@dataclass(frozen=True)
class MethodContext:
    """What the engine gives a method: how to build a network and the shared schedule."""

    build_backbone: Callable[[], Backbone]
    schedule: Schedule = field(default_factory=Schedule)
    num_classes: int = 2


@dataclass
class StepState:
    """Where training stands at this iteration."""

    progress: float  # in [0, 1): fraction of all training iterations done
    generator: torch.Generator  # on the training device; the only source of randomness


@dataclass
class StepOutput:
    """The loss to minimise and detached scalars to log (kept on the device)."""

    loss: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class NoParams:
    """For methods without hyper-parameters."""


class Method(nn.Module):
    """Base class for training methods. Subclasses set ``Params`` (a frozen dataclass
    whose defaults are the paper's) and ``num_networks``, and implement
    ``training_step``; ``@METHODS.register(name)`` sets ``name``. Prediction uses
    network 1 unless a method says otherwise (rmdbench's declared choice for every
    two-network method)."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    num_networks: ClassVar[int] = 1
    #: forward+backward work per iteration relative to ``single`` (for progress estimates)
    relative_cost: ClassVar[float] = 1.0

    def __init__(self, params: Any, context: MethodContext) -> None:
        super().__init__()
        self.params = params
        self.context = context
        self.networks = nn.ModuleList([context.build_backbone() for _ in range(self.num_networks)])

    @classmethod
    def create(cls, options: dict[str, Any], context: MethodContext) -> Method:
        return cls(build_params(cls.Params, options, f"method '{cls.name}'"), context)

    def training_step(
        self, images: torch.Tensor, labels: torch.Tensor, state: StepState
    ) -> StepOutput:
        """The loss of one training iteration on one batch (networks in training mode).

        ``images``: float [N, C, H, W] (3D: [N, C, D, H, W]), intensities in [0, 1], on the
        training device, already randomly flipped. ``labels``: float [N, 1, *S], the NOISY
        training labels flipped with the images: 0/1 for a binary task, the class index
        0..K-1 (stored as a float) for K > 2 classes; ``pixel_loss`` takes both as they are.
        Networks in ``self.networks`` return logits: one channel (binary) or K.

        ``state.progress`` in [0, 1) is the fraction of training done; pass it to
        ``self.context.schedule`` so ramps and milestones match the other methods.
        ``state.generator`` (a torch.Generator on the device) is the only source of
        randomness to draw from: it is seeded from the run and checkpointed.

        Return ``StepOutput(loss, logs)``: a scalar loss with gradient (the Trainer runs one
        backward and one Adam step over all parameters) and detached scalar tensors to log,
        at least ``"loss"``; never call ``.item()`` here (the Trainer reads logs once per
        epoch and stops a run whose logged values are not finite).
        """
        raise NotImplementedError

    def predict_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits [N, K, *S] used for validation and test (eval mode, no gradient):
        network 1's by default."""
        return self.networks[0](images)
