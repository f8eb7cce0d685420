"""Common random numbers: one random stream per purpose, each derived from the run's seed.

Every method of a sweep trains on the same batches, in the same order, with the same
flips, when the seed is the same: the data order, the per-sample flips and a method's own
randomness (RMD's strong augmentation) each draw from their own generator, so a method that
draws more (RMD) does not shift what the others see. Network k of every method starts from
the same weights (``MethodContext.build_network``). Between-method differences then carry
the methods' effect, not the run-to-run noise of data order (Bouthillier et al., MLSys 2021:
randomise every source of variation, and pair what you compare).

Element-wise dropout (RMD's model augmentation) draws from torch's global generator, as
``torch.nn.functional.dropout`` gives no other choice; it is seeded from its own purpose
here, and nothing else draws from it during training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rmdbench.seeding import seed_words

#: the purposes of the streams a training loop draws from, in checkpoint order
PURPOSES = ("order", "flips", "method")
#: the purpose that seeds torch's global generator (dropout) at the start of training
GLOBAL_PURPOSE = "dropout"


def stream_seed(purpose: str, seed: int, *more: object) -> int:
    """The 32-bit seed of one stream: a stable hash of (purpose, seed, ...), the same on
    every machine and for every method."""
    return seed_words(purpose, seed, *more)[0]


def seeded_generator(device: torch.device, seed: int) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


@dataclass
class RandomStreams:
    """The generators of one training run: ``order`` (one permutation per epoch), ``flips``
    (the per-sample flips of every batch) and ``method`` (what ``StepState.generator``
    gives a method)."""

    order: torch.Generator
    flips: torch.Generator
    method: torch.Generator

    @classmethod
    def for_run(cls, seed: int, device: torch.device) -> RandomStreams:
        """The streams of the run with this seed; also seeds torch's global generator
        (dropout) from its own purpose."""
        torch.manual_seed(stream_seed(GLOBAL_PURPOSE, seed))
        return cls(*(seeded_generator(device, stream_seed(name, seed)) for name in PURPOSES))

    def state(self, device: torch.device) -> dict:
        """Every generator the loop draws from, for a checkpoint: the streams, torch's
        global CPU generator and, on a GPU, that GPU's."""
        state = {name: getattr(self, name).get_state() for name in PURPOSES}
        state["cpu"] = torch.get_rng_state()
        if device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(device)
        return state

    def restore(self, state: dict, device: torch.device) -> None:
        for name in PURPOSES:
            getattr(self, name).set_state(state[name])
        torch.set_rng_state(state["cpu"])
        if device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], device)
