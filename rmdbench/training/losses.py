"""Per-pixel losses and the logits-to-labels rule shared by the methods.

Binary tasks have one logit channel (sigmoid, BCE); tasks with K > 2 classes have K
channels (softmax, cross-entropy). Every per-pixel function returns [B, 1, *S], one value
per pixel whatever the number of classes, so a selection rule (small loss, reliability)
picks pixels the same way in both cases.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def is_binary(logits: torch.Tensor) -> bool:
    """One logit channel (or no channel axis at all): a binary task."""
    return logits.ndim < 2 or logits.shape[1] == 1


def output_channels(num_classes: int) -> int:
    """Logit channels of a network for a task: 1 for binary (sigmoid), else one per class."""
    return 1 if num_classes <= 2 else num_classes


def pixel_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-pixel BCE-with-logits (binary) or cross-entropy (multi-class) against integer
    labels [B, 1, *S] (stored as floats), in fp32; shape [B, 1, *S]."""
    if is_binary(logits):
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")
    targets = labels[:, 0].long()
    return F.cross_entropy(logits.float(), targets, reduction="none").unsqueeze(1)


def binary_kl(target_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel KL(Bernoulli(sigmoid(target)) || Bernoulli(sigmoid(student))), in fp32."""
    target_logits, student_logits = target_logits.float(), student_logits.float()
    target = torch.sigmoid(target_logits)
    log_target, log_target_neg = F.logsigmoid(target_logits), F.logsigmoid(-target_logits)
    log_student, log_student_neg = F.logsigmoid(student_logits), F.logsigmoid(-student_logits)
    return target * (log_target - log_student) + (1 - target) * (log_target_neg - log_student_neg)


def categorical_kl(target_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel KL(softmax(target) || softmax(student)) over the class channels, in fp32;
    shape [B, 1, *S]."""
    log_target = F.log_softmax(target_logits.float(), dim=1)
    log_student = F.log_softmax(student_logits.float(), dim=1)
    return (log_target.exp() * (log_target - log_student)).sum(dim=1, keepdim=True)


def pixel_kl(target_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel KL(p_target || p_student) of the predicted label distributions."""
    if is_binary(target_logits):
        return binary_kl(target_logits, student_logits)
    return categorical_kl(target_logits, student_logits)


def pixel_squared_distance(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Per-pixel squared distance of two logit maps, summed over channels: [B, 1, *S]."""
    return (first.float() - second.float()).square().sum(dim=1, keepdim=True)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """sigmoid (binary) or softmax over the class channels, in fp32."""
    logits = logits.float()
    return torch.sigmoid(logits) if is_binary(logits) else torch.softmax(logits, dim=1)


def logits_from_probabilities(probability: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`probabilities` (up to a constant per pixel for softmax)."""
    if is_binary(probability):
        return torch.logit(probability, eps=1e-6)
    return probability.clamp_min(1e-6).log()


def labels_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Integer label maps [B, *S] (uint8): logit > 0 (binary) or the arg-max class."""
    if is_binary(logits):
        return (logits[:, 0] > 0).to(torch.uint8)
    return logits.argmax(dim=1).to(torch.uint8)


def pixel_count(logits: torch.Tensor) -> int:
    """Pixels (voxels) in a batch of logit maps, whatever the number of channels."""
    return logits[:, :1].numel()
