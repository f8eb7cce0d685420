"""Noise models: one file per model, registered by name in rmdbench.registry.NOISE_MODELS."""
