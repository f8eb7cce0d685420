"""Seeds derived from names, so that the same spec gives the same random draws on any machine."""

from __future__ import annotations

import hashlib
import json

import numpy as np


def seed_words(*parts: object) -> list[int]:
    """Four 32-bit words from a stable hash of the JSON of ``parts``."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def generator(*parts: object) -> np.random.Generator:
    """A numpy Generator seeded by ``parts`` only (no global state)."""
    return np.random.default_rng(np.random.SeedSequence(seed_words(*parts)))
