"""Segmentation backbones, registered by name in rmdbench.registries.BACKBONES."""
