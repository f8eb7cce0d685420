"""Noise models: one file per model, registered by name in rmdbench.registries.NOISE_MODELS."""
