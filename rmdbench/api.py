"""Everything a plug-in author imports: the one contract between rmdbench and its plug-ins.

A method, noise model, backbone, dataset or dataset format is a class (or factory) that
subclasses a base class below and registers itself under a name with a decorator::

    from rmdbench.api import METHODS, Method, StepOutput, pixel_loss

    @METHODS.register("mine")
    class Mine(Method):
        def training_step(self, images, labels, state):
            return StepOutput(pixel_loss(self.networks[0](images), labels).mean())

The built-in plug-ins (``rmdbench.methods``, ``rmdbench.noise_models``) import only from
this module, so whatever they use, a user's plug-in can use too. docs/plugins.md describes
each name.
"""

from rmdbench.backbones.base import DEFAULT_ENCODER_DROPOUT, Backbone
from rmdbench.contracts.method import (
    Method,
    MethodContext,
    NoParams,
    PredictionParams,
    StepOutput,
    StepState,
)
from rmdbench.contracts.noise_model import NoiseCase, NoiseModel
from rmdbench.contracts.search import (
    Choice,
    Dimension,
    IntUniform,
    LogUniform,
    SearchSpaceError,
    Uniform,
    check_search_space,
)
from rmdbench.data.base import SegmentationData
from rmdbench.data.formats.base import DatasetFormat
from rmdbench.errors import UserError
from rmdbench.metrics import dice
from rmdbench.params import parse_component, split_top_level
from rmdbench.registry import (
    BACKBONES,
    DATASET_FORMATS,
    DATASETS,
    METHODS,
    NOISE_MODELS,
    Registry,
)
from rmdbench.training.augment import StrongAugmentation, random_sample_flips
from rmdbench.training.batchnorm import frozen_running_statistics
from rmdbench.training.losses import (
    binary_kl,
    categorical_kl,
    labels_from_logits,
    logits_from_probabilities,
    output_channels,
    pixel_count,
    pixel_kl,
    pixel_loss,
    pixel_squared_distance,
    probabilities,
)
from rmdbench.training.schedules import Schedule
from rmdbench.training.selection import kept_count, masked_mean, smallest_mask

__all__ = [
    "BACKBONES",
    "DATASETS",
    "DATASET_FORMATS",
    "DEFAULT_ENCODER_DROPOUT",
    "METHODS",
    "NOISE_MODELS",
    "Backbone",
    "Choice",
    "DatasetFormat",
    "Dimension",
    "IntUniform",
    "LogUniform",
    "Method",
    "MethodContext",
    "NoParams",
    "NoiseCase",
    "NoiseModel",
    "PredictionParams",
    "Registry",
    "Schedule",
    "SearchSpaceError",
    "SegmentationData",
    "StepOutput",
    "StepState",
    "StrongAugmentation",
    "Uniform",
    "UserError",
    "binary_kl",
    "categorical_kl",
    "check_search_space",
    "dice",
    "frozen_running_statistics",
    "kept_count",
    "labels_from_logits",
    "logits_from_probabilities",
    "masked_mean",
    "output_channels",
    "parse_component",
    "pixel_count",
    "pixel_kl",
    "pixel_loss",
    "pixel_squared_distance",
    "probabilities",
    "random_sample_flips",
    "smallest_mask",
    "split_top_level",
]
