"""The shared training core: every method trains through this loop.

Data live on the device as tensors; each epoch draws a new permutation; the optimiser plan
(Adam, constant lr then linear decay, beta1 0.9 -> 0.1) follows the Schedule; the clean
validation Dice is recorded every epoch (and, given noisy validation labels, the Dice against
them); the last-epoch model is returned, with copies of the best epochs' states
(``model_selection``) for the evaluation rules that select by validation.
Host synchronisation happens once per epoch (logging), never inside an iteration.
Randomness comes from one stream per purpose (``streams.RandomStreams``), so every method
sees the same batches and flips for a seed; a few iterations per epoch also measure each
loss term's share of the gradient (``diagnostics``).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.profiler import record_function

from rmdbench.contracts.method import Method, StepOutput, StepState
from rmdbench.errors import UserError
from rmdbench.metrics import dice_per_case
from rmdbench.profiles import PRECISIONS, Profile
from rmdbench.training import diagnostics
from rmdbench.training.augment import random_sample_flips
from rmdbench.training.checkpoint import Checkpointing
from rmdbench.training.losses import labels_from_logits
from rmdbench.training.model_selection import BestEpoch, BestEpochs
from rmdbench.training.schedules import Schedule
from rmdbench.training.streams import RandomStreams


def select_device(requested: str = "auto") -> torch.device:
    """'auto' = CUDA when present, else CPU. An unknown or absent device is a
    ``DeviceError`` (a UserError) that carries the device asked for."""
    from rmdbench.errors import DeviceError

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            f"device '{requested}' was asked for but no CUDA GPU is visible; use cpu or auto",
            requested,
        )
    if requested not in ("cpu",) and not requested.startswith("cuda"):
        raise DeviceError(f"unknown device '{requested}'; use auto, cpu or cuda", requested)
    return torch.device(requested)


class NonFiniteLossError(RuntimeError):
    """Training diverged (NaN or inf loss)."""


@dataclass
class TrainResult:
    curve: list[dict] = field(default_factory=list)  # one row per epoch
    iterations: int = 0
    train_seconds: float = 0.0
    seconds_per_iteration: float = float("nan")  # median over epochs after the first
    resumed_from_epoch: int | None = None  # the epoch a checkpoint ended, when resumed
    #: evaluation rule -> the best epoch by its validation DSC, with the method's state
    best: dict[str, BestEpoch] = field(default_factory=dict)


def accumulate(sums: dict[str, torch.Tensor], values: dict[str, torch.Tensor]) -> None:
    """Add an iteration's logged values to the epoch's sums, on the device (no host sync)."""
    for key, value in values.items():
        sums[key] = sums.get(key, 0.0) + value


@dataclass(frozen=True)
class EpochPlan:
    """How an epoch of one training set runs: its batches (the last partial one dropped),
    the iterations whose term gradients are measured, and the rows and timings that
    follow; shared by ``Trainer.fit`` and the packed loop, so both record alike."""

    batch_size: int
    per_epoch: int
    epochs: int
    diagnosed: frozenset[int]

    @property
    def total(self) -> int:
        return self.per_epoch * self.epochs

    def batch(self, order: torch.Tensor, index: int) -> torch.Tensor:
        """The sample indices of iteration ``index`` of an epoch's permutation."""
        return order[index * self.batch_size : (index + 1) * self.batch_size]

    def progress(self, epoch: int, index: int) -> float:
        """The fraction of training done at iteration ``index`` of ``epoch``."""
        return (epoch * self.per_epoch + index) / self.total

    def training_row(
        self, epoch: int, sums: dict[str, float], diagnosed_sums: dict[str, float]
    ) -> dict:
        """An epoch's mean logs and measured term gradients, and its number; a
        ``NonFiniteLossError`` when a logged value is not finite (the run diverged).
        ``sums``: already on the host (floats) or 0-d tensors."""
        row = {key: float(value) / self.per_epoch for key, value in sums.items()}
        if not all(np.isfinite(value) for value in row.values()):
            raise NonFiniteLossError(f"non-finite training loss at epoch {epoch}: {row}")
        row.update(
            {key: float(value) / len(self.diagnosed) for key, value in diagnosed_sums.items()}
        )
        row.update(epoch=epoch)
        return row

    def finish(self, result: TrainResult, epoch_seconds: list[float], seconds: float) -> None:
        """The iterations and timings of a finished training."""
        result.iterations = self.total
        result.train_seconds = seconds
        timed = epoch_seconds[1:] or epoch_seconds
        if self.per_epoch:
            result.seconds_per_iteration = statistics.median(timed) / self.per_epoch


def memory_format(spatial_dims: int) -> torch.memory_format:
    """Channels-last for 2D and 3D convolutions (faster on GPUs and oneDNN)."""
    return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d


@dataclass
class DeviceData:
    """Images [N, C, *S] float and integer labels [N, 1, *S] stored as float, on the training
    device; S is (H, W) or (D, H, W)."""

    images: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def from_arrays(cls, images: np.ndarray, masks: np.ndarray, device: torch.device):
        images = torch.as_tensor(np.asarray(images), dtype=torch.float32, device=device)
        return cls(
            images.contiguous(memory_format=memory_format(images.ndim - 2)),
            cls.label_tensor(masks, device),
        )

    @staticmethod
    def label_tensor(masks: np.ndarray, device: torch.device) -> torch.Tensor:
        """Integer label maps [N, *S] as the float [N, 1, *S] tensor ``labels`` holds."""
        return torch.as_tensor(np.asarray(masks)[:, None], dtype=torch.float32, device=device)

    @property
    def spatial_dims(self) -> int:
        return self.images.ndim - 2

    def __len__(self) -> int:
        return self.images.shape[0]


class Trainer:
    def __init__(
        self,
        *,
        epochs: int,
        batch_size: int,
        learning_rate: float,
        eval_batch_size: int,
        device: torch.device,
        schedule: Schedule | None = None,
        on_epoch: Callable[[int, int, dict], None] | None = None,
        precision: str = "fp32",
        compile_networks: bool = False,
        diagnostic_samples: int = diagnostics.SAMPLES_PER_EPOCH,
    ) -> None:
        if precision not in PRECISIONS:
            raise UserError(f"unknown precision '{precision}'; use {' or '.join(PRECISIONS)}")
        self.precision = precision
        self.compile_networks = compile_networks
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.eval_batch_size = eval_batch_size
        self.device = device
        self.schedule = schedule or Schedule()
        self.on_epoch = on_epoch
        self.diagnostic_samples = diagnostic_samples  # per epoch; 0 switches them off

    @classmethod
    def from_profile(
        cls,
        profile: Profile,
        device: torch.device,
        on_epoch: Callable[[int, int, dict], None] | None = None,
    ) -> Trainer:
        return cls(
            epochs=profile.epochs,
            batch_size=profile.batch_size,
            learning_rate=profile.learning_rate,
            eval_batch_size=profile.eval_batch_size,
            device=device,
            on_epoch=on_epoch,
            precision=profile.precision,
            compile_networks=profile.compile,
        )

    def autocast(self):
        """bf16 autocast for the networks when asked (losses are computed in fp32)."""
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )

    def prepare(self, method: Method, spatial_dims: int = 2) -> None:
        """Move to the device in channels-last; cuDNN autotuning and torch.compile on request."""
        method.to(self.device, memory_format=memory_format(spatial_dims))
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        if self.compile_networks:
            for network in method.networks:
                network.compile()

    def fit(
        self,
        method: Method,
        train: DeviceData,
        val: DeviceData,
        seed: int,
        checkpointing: Checkpointing | None = None,
        noisy_val_labels: torch.Tensor | None = None,
    ) -> TrainResult:
        """Train for the profile's epochs; with ``checkpointing``, resume from a saved state
        and save one every few epochs (same result as an uninterrupted run). ``seed`` is the
        run's seed: every random stream derives from it (``RandomStreams``). With
        ``noisy_val_labels`` (laid out like ``val.labels``: the validation labels corrupted
        like the training ones), each epoch also scores them (``val_noisy_dsc``)."""
        self.prepare(method, train.spatial_dims)
        optimiser = self.make_optimiser(method)
        streams = RandomStreams.for_run(seed, self.device)
        plan = self.epoch_plan(train)
        result = TrainResult()
        epoch_seconds: list[float] = []
        first_epoch, earlier_seconds = 0, 0.0
        best = BestEpochs()
        saved = checkpointing.load() if checkpointing is not None else None
        if saved is not None:
            method.load_state_dict(saved["method"])
            optimiser.load_state_dict(saved["optimiser"])
            streams.restore(saved["random"], self.device)
            result.curve = list(saved["curve"])
            best = BestEpochs.restore(saved.get("best", {}))
            epoch_seconds = list(saved["epoch_seconds"])
            first_epoch, earlier_seconds = saved["epoch"] + 1, saved["train_seconds"]
            result.resumed_from_epoch = int(saved["epoch"])
        start = time.perf_counter()
        for epoch in range(first_epoch, self.epochs):
            method.train()
            epoch_start = time.perf_counter()
            order = torch.randperm(len(train), generator=streams.order, device=self.device)
            sums: dict[str, torch.Tensor] = {}
            diagnosed_sums: dict[str, torch.Tensor] = {}
            for index in range(plan.per_epoch):
                output, measured = self.train_iteration(
                    method,
                    optimiser,
                    train,
                    plan.batch(order, index),
                    plan.progress(epoch, index),
                    streams,
                    index in plan.diagnosed,
                )
                accumulate(sums, output.logs)
                accumulate(diagnosed_sums, measured)
            epoch_seconds.append(self.epoch_seconds(epoch_start))
            row = plan.training_row(epoch, sums, diagnosed_sums)
            self.complete_row(row, optimiser, method, val, noisy_val_labels, epoch_seconds[-1])
            result.curve.append(row)
            best.update(epoch, row, method.state_dict())
            if checkpointing is not None and checkpointing.due(epoch, self.epochs):
                checkpointing.save(
                    {
                        "epoch": epoch,
                        "method": method.state_dict(),
                        "optimiser": optimiser.state_dict(),
                        "random": streams.state(self.device),
                        "curve": result.curve,
                        "best": best.state(),
                        "epoch_seconds": epoch_seconds,
                        "train_seconds": earlier_seconds + time.perf_counter() - start,
                    }
                )
            if self.on_epoch is not None:
                self.on_epoch(epoch, self.epochs, row)
        result.best = best.best
        plan.finish(result, epoch_seconds, earlier_seconds + time.perf_counter() - start)
        return result

    def fit_packed(
        self,
        methods: list[Method],
        trains: list[DeviceData],
        val: DeviceData,
        seeds: list[int],
        noisy_val_labels: list[torch.Tensor | None] | None = None,
        on_epochs: list[Callable[[int, int, dict], None] | None] | None = None,
    ) -> list[TrainResult | NonFiniteLossError]:
        """Train K runs of one method as one vmapped step per iteration; per run, what
        ``fit`` gives for it, or the ``NonFiniteLossError`` that ended it
        (``rmdbench.training.packed_fit``)."""
        from rmdbench.training.packed_fit import fit_packed

        return fit_packed(self, methods, trains, val, seeds, noisy_val_labels, on_epochs)

    def epoch_plan(self, train: DeviceData) -> EpochPlan:
        """The batches of an epoch over ``train`` (the last partial batch dropped) and the
        iterations whose term gradients are measured."""
        batch_size = min(self.batch_size, len(train))
        per_epoch = len(train) // batch_size
        diagnosed = diagnostics.sampled_iterations(per_epoch, self.diagnostic_samples)
        return EpochPlan(batch_size, per_epoch, self.epochs, diagnosed)

    def epoch_seconds(self, epoch_start: float) -> float:
        """The wall time since ``epoch_start``, the GPU's queued work included."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - epoch_start

    def complete_row(
        self,
        row: dict,
        optimiser: torch.optim.Optimizer,
        method: Method,
        val: DeviceData,
        noisy_val_labels: torch.Tensor | None,
        seconds: float,
    ) -> None:
        """An epoch's curve row after its training columns: the learning rate it ended
        at, the validation scores of ``method`` and the epoch's seconds."""
        row.update(lr=optimiser.param_groups[0]["lr"])
        row.update(self.validation_scores(method, val, noisy_val_labels))
        row.update(seconds=seconds)

    def train_iteration(
        self,
        method: Method,
        optimiser: torch.optim.Optimizer,
        train: DeviceData,
        batch: torch.Tensor,
        progress: float,
        streams: RandomStreams,
        diagnose: bool = False,
    ) -> tuple[StepOutput, dict[str, torch.Tensor]]:
        """One iteration: batch + flips, the method's loss, one backward, one step; with
        ``diagnose``, also each loss term's gradient norm and share (returned second, empty
        otherwise). The named regions feed the breakdown of ``rmdbench bench``."""
        with record_function("data"):
            self.set_optimiser_plan(optimiser, progress)
            images, labels = random_sample_flips(
                train.images[batch], train.labels[batch], streams.flips
            )
        with record_function("step"), self.autocast():
            output = method.training_step(images, labels, StepState(progress, streams.method))
        measured: dict[str, torch.Tensor] = {}
        if diagnose:
            with record_function("diagnostics"):
                terms = output.named_terms()
                parameters = [p for p in method.parameters() if p.requires_grad]
                partial = diagnostics.partial_gradients(terms, parameters)
        with record_function("backward"):
            optimiser.zero_grad(set_to_none=True)
            output.loss.backward()
        if diagnose:
            with record_function("diagnostics"):
                norms = diagnostics.term_norms(list(terms), partial, parameters)
                measured = diagnostics.term_logs(norms)
        with record_function("optimiser"):
            optimiser.step()
        return output, measured

    def make_optimiser(self, method: Method) -> torch.optim.Optimizer:
        return self.optimiser_for(method.parameters())

    def optimiser_for(self, parameters) -> torch.optim.Optimizer:
        """Adam over ``parameters`` (a method's, or K runs' stacked): element-wise, so one
        Adam over stacked tensors is K Adams."""
        return torch.optim.Adam(parameters, lr=self.learning_rate)

    def set_optimiser_plan(self, optimiser: torch.optim.Optimizer, progress: float) -> None:
        lr = self.learning_rate * self.schedule.learning_rate_factor(progress)
        beta1 = self.schedule.adam_beta1(progress)
        for group in optimiser.param_groups:
            group["lr"] = lr
            group["betas"] = (beta1, group["betas"][1])

    @torch.inference_mode()
    def predict(self, method: Method, images: torch.Tensor) -> torch.Tensor:
        """Label maps [N, *S] (uint8) from the method's logits, in eval mode."""
        method.eval()
        chunks = []
        for start in range(0, images.shape[0], self.eval_batch_size):
            with self.autocast():
                logits = method.predict_logits(images[start : start + self.eval_batch_size])
            chunks.append(labels_from_logits(logits))
        return torch.cat(chunks) if chunks else images.new_zeros((0, *images.shape[2:]))

    def validation_scores(
        self, method: Method, val: DeviceData, noisy_labels: torch.Tensor | None = None
    ) -> dict[str, float]:
        """The mean validation DSC against the clean labels (``val_dsc``) and, when given,
        against ``noisy_labels`` (``val_noisy_dsc``), from one prediction; NaN when there
        are no validation cases."""
        if len(val) == 0:
            scores = {"val_dsc": math.nan}
            return scores if noisy_labels is None else {**scores, "val_noisy_dsc": math.nan}
        predicted = self.predict(method, val.images)
        num_classes = max(2, method.context.num_classes)
        scores = {"val_dsc": float(dice_per_case(predicted, val.labels[:, 0], num_classes).mean())}
        if noisy_labels is not None:
            noisy = dice_per_case(predicted, noisy_labels[:, 0], num_classes).mean()
            scores["val_noisy_dsc"] = float(noisy)
        return scores
