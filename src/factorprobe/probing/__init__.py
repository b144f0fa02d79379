"""Probing: load a model, find its fully connected layers, capture their units for stimuli.

- :func:`load_model`: the embedded Swish CNN, ``"timm:NAME"``, or any ``torch.nn.Module``;
- :func:`fc_layers`: the layers captured by default (pooled features, fully connected layers);
- :func:`capture`: activations as a DataArray ``(stimulus, unit)``, in memory or streamed to a
  resumable zarr store (:func:`open_activations`, :func:`to_netcdf`);
- :func:`layer`: one layer's units;
- :func:`train_embedded`: retrain the embedded model from a seed.

Importing this subpackage imports torch.
"""

from __future__ import annotations

from factorprobe.io.store import open_activations, to_netcdf
from factorprobe.probing.capture import capture, layer
from factorprobe.probing.embedded.network import NetworkConfig, SwishCNN
from factorprobe.probing.embedded.train import TrainConfig, train_embedded
from factorprobe.probing.layers import ACTIVATIONS, fc_layers
from factorprobe.probing.models import (
    ProbedModel,
    describe_models,
    list_models,
    load_model,
    model_card,
)

__all__ = [
    "ACTIVATIONS",
    "NetworkConfig",
    "ProbedModel",
    "SwishCNN",
    "TrainConfig",
    "capture",
    "describe_models",
    "fc_layers",
    "layer",
    "list_models",
    "load_model",
    "model_card",
    "open_activations",
    "to_netcdf",
    "train_embedded",
]
