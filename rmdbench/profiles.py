"""Training profiles: the sizes every method of a sweep shares.

``paper`` is the published setting (spec/methods.md). ``quick`` is sized for a 2-core CPU
(spec/sizing.md): width 16, 64² crops, batch 16. ``tiny`` exists for tests and smoke runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rmdbench.errors import UserError


@dataclass(frozen=True)
class Profile:
    name: str
    crop_size: int
    base_width: int
    batch_size: int
    epochs: int
    learning_rate: float = 1e-3
    eval_batch_size: int = 64
    max_train_cases: int | None = None  # None = all training cases
    max_eval_cases: int | None = None  # per split (val, test); None = all
    precision: str = "fp32"  # or "bf16": autocast of the networks, losses in fp32
    compile: bool = False  # torch.compile each network (costs more than it saves on CPU)

    def as_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", crop_size=64, base_width=16, batch_size=16, epochs=6),
    "paper": Profile(
        "paper", crop_size=128, base_width=64, batch_size=20, epochs=50, eval_batch_size=40
    ),
    "tiny": Profile(
        "tiny",
        crop_size=32,
        base_width=4,
        batch_size=8,
        epochs=8,
        max_train_cases=64,
        max_eval_cases=16,
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UserError(f"unknown profile '{name}'; choose one of: {', '.join(PROFILES)}") from None
