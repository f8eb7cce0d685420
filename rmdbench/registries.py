"""The registries. Built-in entries register themselves when their module is imported
(see rmdbench.plugins.load_builtins)."""

from __future__ import annotations

from rmdbench.registry import Registry

METHODS: Registry = Registry("method")
NOISE_MODELS: Registry = Registry("noise model")
DATASETS: Registry = Registry("dataset")
BACKBONES: Registry = Registry("backbone")
DATASET_FORMATS: Registry = Registry("dataset format")  # what `rmdbench data prepare` reads
