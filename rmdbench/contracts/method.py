"""What a training method is: its networks and the loss of one training step.

The Trainer owns everything shared (device, data, epochs, optimiser plan, evaluation,
timing); a method only builds its networks and turns a batch into a loss. One Adam over
all of a method's parameters equals one Adam per network (Adam is element-wise), so the
Trainer runs one optimiser and one backward per iteration for every method.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from rmdbench.backbones.base import Backbone
from rmdbench.contracts.search import Dimension
from rmdbench.params import build_params
from rmdbench.seeding import seed_words
from rmdbench.training.losses import logits_from_probabilities, probabilities
from rmdbench.training.schedules import Schedule


@dataclass(frozen=True)
class MethodContext:
    """What the engine gives a method: how to build a network and the shared schedule.
    With ``init_seed``, network k is initialised from its own stream (seed, k), so network k
    of every method starts from the same weights whatever else a method builds."""

    build_backbone: Callable[[], Backbone]
    schedule: Schedule = field(default_factory=Schedule)
    num_classes: int = 2
    init_seed: int | None = None

    def build_network(self, index: int) -> Backbone:
        """Network ``index`` (0-based) of a method; seeded by (init_seed, index) when set,
        without touching torch's global generator."""
        if self.init_seed is None:
            return self.build_backbone()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_words("init", self.init_seed, index)[0])
            return self.build_backbone()


@dataclass
class StepState:
    """Where training stands at this iteration."""

    progress: float  # in [0, 1): fraction of all training iterations done
    generator: torch.Generator  # on the training device; the only source of randomness


@dataclass
class StepOutput:
    """The loss to minimise and detached scalars to log (kept on the device).

    ``terms``: the loss as named parts, weights included, that sum to ``loss``
    (``{"supervised": ..., "distill": lambda * ramp * kl}``). The trainer measures each
    term's share of the gradient a few times per epoch (``grad_share_<term>`` in the run's
    curve), and reports flag a term that never acts. Build it with ``from_terms``; a
    method that gives no terms counts as one term, ``loss``."""

    loss: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)
    terms: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def from_terms(
        cls, terms: dict[str, torch.Tensor], logs: dict[str, torch.Tensor] | None = None
    ) -> StepOutput:
        """The loss as the sum of ``terms``; ``logs`` gets ``loss`` unless it has one."""
        if not terms:
            raise ValueError("a StepOutput needs at least one loss term")
        loss = functools.reduce(torch.add, terms.values())
        return cls(loss, {"loss": loss.detach(), **(logs or {})}, dict(terms))

    def named_terms(self) -> dict[str, torch.Tensor]:
        return self.terms or {"loss": self.loss}


@dataclass(frozen=True)
class NoParams:
    """For methods without hyper-parameters."""


#: how a method with several networks predicts: network 1 (the released RMD code's and
#: PyMIC's rule) or the mean of all its networks' probabilities
PREDICTION_RULES = ("first", "ensemble")


@dataclass(frozen=True)
class PredictionParams:
    """The one prediction rule every multi-network method shares: its Params inherit
    this, so ``trinet[predict=ensemble]`` and ``coteaching[predict=ensemble]`` mean the
    same thing, and every method predicts with network 1 by default."""

    predict: Literal["first", "ensemble"] = "first"


class Method(nn.Module):
    """Base class for training methods. Subclasses set ``Params`` (a frozen dataclass
    whose defaults are the paper's) and ``num_networks``, and implement
    ``training_step``; ``@METHODS.register(name)`` sets ``name``; ``search_space`` says
    what ``rmdbench tune`` may vary (docs/tuning.md). Prediction uses
    network 1 (``PredictionParams`` gives multi-network methods the ``predict`` switch)."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    num_networks: ClassVar[int] = 1
    #: forward+backward work per iteration relative to ``single`` (for progress estimates)
    relative_cost: ClassVar[float] = 1.0
    #: what ``rmdbench tune`` may vary: parameter -> dimension (``LogUniform``, ...);
    #: checked against ``Params`` before a tuning sweep trains. Empty: nothing to tune
    search_space: ClassVar[dict[str, Dimension]] = {}
    #: whether K runs packed into one vmapped step (``rmdbench.training.packing``) equal
    #: the K unpacked runs: only when a step draws no random numbers (no
    #: StepState.generator, no dropout), since a packed step draws from one stream for all
    #: K. Opt-in: a method that never draws says True (``single``, ``coteaching``, ...)
    packs_exactly: ClassVar[bool] = False

    def __init__(self, params: Any, context: MethodContext) -> None:
        super().__init__()
        self.params = params
        self.context = context
        self.networks = nn.ModuleList(
            [context.build_network(index) for index in range(self.num_networks)]
        )

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

        Return ``StepOutput.from_terms({"supervised": ..., "distill": ...}, logs)``: the
        loss as named terms, weights included, whose sum the Trainer minimises (one
        backward and one Adam step over all parameters; it also measures each term's share
        of the gradient), and detached scalar tensors to log; ``StepOutput(loss, logs)``
        with ``logs`` holding at least ``"loss"`` also works. Never call ``.item()`` here
        (the Trainer reads logs once per epoch and stops a run whose logged values are not
        finite).
        """
        raise NotImplementedError

    def predict_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits [N, K, *S] used for validation and test (eval mode, no gradient):
        network 1's, or with ``predict=ensemble`` (``PredictionParams``) those of the mean
        probability of all networks."""
        if getattr(self.params, "predict", "first") == "ensemble":
            mean = torch.stack([probabilities(net(images)) for net in self.networks]).mean(0)
            return logits_from_probabilities(mean)
        return self.networks[0](images)
