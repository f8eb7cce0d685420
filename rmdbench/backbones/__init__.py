"""Segmentation backbones, registered by name in rmdbench.registry.BACKBONES."""
