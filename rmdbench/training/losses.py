"""Per-pixel losses shared by the methods (binary: one logit channel)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def pixel_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-pixel BCE-with-logits against a {0, 1} label, same shape as ``logits``."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")


def binary_kl(target_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel KL(Bernoulli(sigmoid(target)) || Bernoulli(sigmoid(student))), in fp32."""
    target_logits, student_logits = target_logits.float(), student_logits.float()
    target = torch.sigmoid(target_logits)
    log_target, log_target_neg = F.logsigmoid(target_logits), F.logsigmoid(-target_logits)
    log_student, log_student_neg = F.logsigmoid(student_logits), F.logsigmoid(-student_logits)
    return target * (log_target - log_student) + (1 - target) * (log_target_neg - log_student_neg)
