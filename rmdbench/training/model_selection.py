"""Best-epoch model selection: the networks of the epoch with the best validation DSC,
kept while training goes on, so a run can be evaluated by a rule other than "the last
epoch" (``rmdbench report --evaluate``).

Methods for noisy labels exist to stop memorisation: a network that peaks on clean
validation data and then fits the noise scores worse at its last epoch than at its best.
Two rules select the best epoch, by the validation DSC against the clean labels (an
oracle: a benchmark has them, a user with noisy data does not) or against the validation
labels corrupted like the training ones (what such a user could do). The earliest epoch
wins a tie; an epoch whose score is NaN (no validation cases) is never selected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

#: the curve column each best-epoch rule of ``rmdbench.store.EVALUATION_RULES`` maximises
SELECTED_BY = {"best-clean-val": "val_dsc", "best-noisy-val": "val_noisy_dsc"}


def state_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy of a method's state that training, going on in place, does not touch."""
    return {key: value.detach().clone() for key, value in state.items()}


@dataclass
class BestEpoch:
    """One rule's best epoch so far: its number, score and a copy of the method's state."""

    epoch: int
    score: float
    state: dict[str, torch.Tensor]


@dataclass
class BestEpochs:
    """The best epoch of each best-epoch rule, updated once per epoch from its curve row."""

    best: dict[str, BestEpoch] = field(default_factory=dict)

    def update(self, epoch: int, row: dict, state: dict[str, torch.Tensor]) -> None:
        """Keep a copy of ``state`` for every rule whose score in ``row`` beats its best;
        the copy is taken once however many rules it serves."""
        copy = None
        for rule, column in SELECTED_BY.items():
            score = row.get(column, math.nan)
            if math.isnan(score):
                continue
            held = self.best.get(rule)
            if held is None or score > held.score:
                if copy is None:
                    copy = state_copy(state)
                self.best[rule] = BestEpoch(epoch, float(score), copy)

    def state(self) -> dict:
        """What a checkpoint saves, so a resumed run selects as an uninterrupted one."""
        return {
            rule: {"epoch": held.epoch, "score": held.score, "state": held.state}
            for rule, held in self.best.items()
        }

    @classmethod
    def restore(cls, saved: dict) -> BestEpochs:
        return cls(
            {
                rule: BestEpoch(int(held["epoch"]), float(held["score"]), held["state"])
                for rule, held in saved.items()
            }
        )
