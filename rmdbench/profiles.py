"""Training profiles: the sizes every method of a sweep shares.

``paper`` is the published setting (docs/methods.md). ``quick`` is sized for a 2-core CPU
(docs/performance.md): width 16, 64² crops, batch 16. ``memorise`` is ``quick`` on 128
training cases for 48 epochs (384 iterations): the smallest CPU budget measured in which a
plain network at high noise memorises the noisy labels, its clean validation DSC falling
after a peak (docs/metrics.md, "Memorisation"), the regime noisy-label methods exist for.
``tiny`` exists for tests and smoke runs.
Any field can be changed on the command line, ``quick[epochs=3]``; the changed profile is
named by that text, so its runs are told apart from the named profile's in every report.

``threads`` is the torch thread count a run trains with on the CPU. On the CPU results
depend on it (reductions are split across threads), so it is fixed by the profile, not by
the executor: every executor sets it before training, and the same run name gives the same
result bit for bit wherever it trains (docs/sweeps.md, "Threads and reproducibility").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

from rmdbench.errors import UserError
from rmdbench.params import build_params, parse_component

PRECISIONS = ("fp32", "bf16")
#: torch threads per run on the CPU unless a profile says otherwise. One: what the local
#: executor's workers used on the 2-core reference machine (the published replication),
#: and a count no machine is too small for, so a pool of workers never oversubscribes it.
#: A run at this count leaves it out of its hash, so runs made before the field existed
#: keep their names.
DEFAULT_THREADS = 1
#: the largest crop (px per side) a profile or a noise command takes: past a 512 px CT
#: slice or a 2k x 2k radiograph with room to spare, and short of what no memory holds
#: (a crop of 10**6 px is terabytes per case)
MAX_CROP_SIZE = 4096
#: the crop a refusal of one out of range suggests (the quick profile's)
SUGGESTED_CROP_SIZE = 64
#: the network a profile trains unless told otherwise: the paper's U-Net, unet2d or unet3d
#: by the data (rmdbench.backbones.choice). A run at this value leaves it out of its hash,
#: so runs made before the field existed keep their names.
DEFAULT_BACKBONE = "unet"


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
    threads: int = DEFAULT_THREADS  # torch threads of a CPU run (part of its identity)
    #: NAME or NAME[key=value,...] of a registered backbone (--backbone); checked against
    #: the registry and the data when a sweep is planned
    backbone: str = DEFAULT_BACKBONE

    def __post_init__(self) -> None:
        fields = ("crop_size", "base_width", "batch_size", "epochs", "eval_batch_size", "threads")
        for field in fields:
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1")
        if self.crop_size > MAX_CROP_SIZE:
            raise ValueError(
                f"crop_size must be at most {MAX_CROP_SIZE} px, got {self.crop_size}; "
                f"use e.g. crop_size={SUGGESTED_CROP_SIZE}"
            )
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be {' or '.join(PRECISIONS)}, got {self.precision!r}")
        for field in ("max_train_cases", "max_eval_cases"):
            value = getattr(self, field)
            if value is not None and value < 1:
                raise ValueError(f"{field} must be at least 1 (or none for all cases)")
        parse_component(self.backbone)  # the syntax now; the name when the sweep is planned

    def as_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", crop_size=64, base_width=16, batch_size=16, epochs=6),
    "memorise": Profile(
        "memorise", crop_size=64, base_width=16, batch_size=16, epochs=48, max_train_cases=128
    ),
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


def get_profile(text: str, precision: str | None = None, backbone: str | None = None) -> Profile:
    """A named profile, or one with fields changed: ``quick[epochs=3,crop_size=48]``.
    ``precision`` (``--precision``) and ``backbone`` (``--backbone``) change those fields
    as ``quick[precision=bf16]`` or ``quick[backbone=basicunet]`` would, so the runs are
    named alike however they were asked for, and never mix with the defaults' runs."""
    name, overrides = parse_component(text)
    if precision is not None:
        overrides = {**overrides, "precision": precision}
    if backbone is not None:
        overrides = {**overrides, "backbone": backbone}
    if "backbone" in overrides:  # one network, one name (rmdbench.backbones.choice)
        from rmdbench.backbones.choice import canonical_backbone  # it imports this module

        overrides["backbone"] = canonical_backbone(str(overrides["backbone"]))
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


def profile_threads(profile: dict) -> int:
    """The CPU thread count of a profile as a run spec stores it (a spec written before the
    field existed, or at the default, has none: it trained at ``DEFAULT_THREADS``)."""
    return int(profile.get("threads", DEFAULT_THREADS))


def trains_on_cpu(device: str) -> bool:
    """Whether a run asked for ``device`` (auto, cpu, cuda[:n]) trains on the CPU, as
    ``select_device`` resolves it (an absent GPU asked for by name fails the run anyway)."""
    import torch

    return device == "cpu" or (device == "auto" and not torch.cuda.is_available())


def training_threads(profile: dict, device: str, otherwise: int | None = None) -> int | None:
    """The torch thread count to train a run of ``profile`` with on ``device``: on the CPU
    the profile's, since results depend on it; on a GPU ``otherwise`` (the executor's own
    choice for CPU-side work; None = leave torch's count), since there it changes speed,
    not results."""
    return profile_threads(profile) if trains_on_cpu(device) else otherwise


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Torch's intra-op thread count set to ``count`` (None: left alone) for the block, then
    restored, so a run in the caller's process (inline, notebooks) leaves it as it was."""
    import torch

    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
