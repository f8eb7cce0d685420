"""Training profiles: the sizes every method of a sweep shares.

``paper`` is the published setting (docs/methods.md). ``quick`` is sized for a 2-core CPU
(docs/performance.md): width 16, 64² crops, batch 16. ``tiny`` exists for tests and smoke runs.
Any field can be changed on the command line, ``quick[epochs=3]``; the changed profile is
named by that text, so its runs are told apart from the named profile's in every report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from rmdbench.errors import UserError
from rmdbench.params import build_params, parse_component

PRECISIONS = ("fp32", "bf16")


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

    def __post_init__(self) -> None:
        for field in ("crop_size", "base_width", "batch_size", "epochs", "eval_batch_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be {' or '.join(PRECISIONS)}, got {self.precision!r}")
        for field in ("max_train_cases", "max_eval_cases"):
            value = getattr(self, field)
            if value is not None and value < 1:
                raise ValueError(f"{field} must be at least 1 (or none for all cases)")

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


def get_profile(text: str) -> Profile:
    """A named profile, or one with fields changed: ``quick[epochs=3,crop_size=48]``."""
    name, overrides = parse_component(text)
    try:
        base = PROFILES[name]
    except KeyError:
        raise UserError(f"unknown profile '{name}'; choose one of: {', '.join(PROFILES)}") from None
    if not overrides:
        return base
    if "name" in overrides:
        raise UserError(f"profile '{text}': the name cannot be overridden")
    changed = build_params(Profile, {**base.as_dict(), **overrides}, f"profile '{name}'")
    if changed == base:
        return base
    # named by the fields that differ, in field order: the same profile, however it was
    # written ('epochs=3,crop_size=48' or 'crop_size=48,epochs=3'), is the same runs
    differing = [
        f"{key}={value}"
        for key, value in changed.as_dict().items()
        if key != "name" and value != getattr(base, key)
    ]
    return replace(changed, name=f"{name}[{','.join(differing)}]")
