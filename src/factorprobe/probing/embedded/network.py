"""The embedded network: a small Swish (SiLU) CNN with fully connected hidden layers.

The architecture is described by :class:`NetworkConfig`, which travels with the weights (in the
safetensors metadata and the model card), so a checkpoint always rebuilds the network it came from.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from factorprobe._validation import check_int

_WHERE = "NetworkConfig"


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of the embedded Swish CNN.

    Parameters
    ----------
    input_size : int, default=224
        Side of the square grayscale input, in pixels.
    channels : tuple of int, default=(24, 48, 96, 128)
        Output channels of the convolution stages. The first is the stem (7×7, stride 4: the
        early downsampling that keeps training on a CPU fast); each later stage halves the
        resolution (3×3, stride 2), so a 224 px input leaves a 7×7 map after four stages.
    n_fc : int, default=3
        Number of fully connected hidden layers (each followed by SiLU).
    fc_width : int, default=128
        Units per hidden fully connected layer.
    shapes : tuple of str, default=("disc", "square", "triangle", "cross")
        Class labels, in output order.
    """

    input_size: int = 224
    channels: tuple[int, ...] = (24, 48, 96, 128)
    n_fc: int = 3
    fc_width: int = 128
    shapes: tuple[str, ...] = field(default=("disc", "square", "triangle", "cross"))

    def __post_init__(self) -> None:
        check_int(self.input_size, name="input_size", where=_WHERE, minimum=16)
        check_int(self.n_fc, name="n_fc", where=_WHERE, minimum=1, maximum=16)
        check_int(self.fc_width, name="fc_width", where=_WHERE, minimum=1)
        if not self.channels:
            raise ValueError(
                f"The 'channels' parameter of {_WHERE} needs at least one stage; got ()."
            )
        for c in self.channels:
            check_int(c, name="channels", where=_WHERE, minimum=1)
        if len(self.shapes) < 2 or len(set(self.shapes)) != len(self.shapes):
            raise ValueError(
                f"The 'shapes' parameter of {_WHERE} must name at least 2 distinct shapes; "
                f"got {self.shapes!r}."
            )
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "shapes", tuple(str(s) for s in self.shapes))

    def to_json(self) -> str:
        """Return the configuration as a JSON string (stored beside the weights)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NetworkConfig:
        """Rebuild a configuration from :meth:`to_json` output."""
        data = json.loads(text)
        data["channels"] = tuple(data["channels"])
        data["shapes"] = tuple(data["shapes"])
        return cls(**data)


class GlobalPool(nn.Module):
    """Global average pooling to a flat feature vector (the input of the first FC layer)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class SwishCNN(nn.Module):
    """Convolution stages with SiLU, global pooling, ``n_fc`` SiLU FC layers, a classifier.

    Module names (what :func:`factorprobe.probing.fc_layers` reports): ``pool`` (pooled
    features), ``fc1`` ... ``fcN`` with activations ``act1`` ... ``actN``, and ``classifier``.
    """

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        self.config = config or NetworkConfig()
        stages: list[nn.Module] = []
        prev = 1
        for i, width in enumerate(self.config.channels):
            kernel, stride = (7, 4) if i == 0 else (3, 2)
            stages += [
                nn.Conv2d(prev, width, kernel, stride=stride, padding=kernel // 2, bias=False),
                nn.BatchNorm2d(width),
                nn.SiLU(),
            ]
            prev = width
        self.features = nn.Sequential(*stages)
        self.pool = GlobalPool()
        for i in range(1, self.config.n_fc + 1):
            self.add_module(f"fc{i}", nn.Linear(prev, self.config.fc_width))
            self.add_module(f"act{i}", nn.SiLU())
            prev = self.config.fc_width
        self.classifier = nn.Linear(prev, len(self.config.shapes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        for i in range(1, self.config.n_fc + 1):
            x = getattr(self, f"act{i}")(getattr(self, f"fc{i}")(x))
        return self.classifier(x)
