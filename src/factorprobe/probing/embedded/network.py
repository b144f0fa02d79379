"""The embedded network: a small Swish (SiLU) CNN with fully connected hidden layers.

Two twins share its architecture but one choice: ``activation="relu"`` swaps every SiLU for a
ReLU, and ``head="flat"`` flattens the last feature map into ``fc1`` instead of pooling it.

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
ACTIVATIONS = ("silu", "relu")
HEADS = ("pool", "flat")


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
    activation : {"silu", "relu"}, default="silu"
        Nonlinearity after every convolution stage and hidden FC layer.
    head : {"pool", "flat"}, default="pool"
        How the last feature map reaches ``fc1``: ``"pool"`` averages it over space (module
        ``pool``, one value per channel); ``"flat"`` flattens it (module ``flat``, channels ×
        rows × columns values), which keeps where things are.
    """

    input_size: int = 224
    channels: tuple[int, ...] = (24, 48, 96, 128)
    n_fc: int = 3
    fc_width: int = 128
    shapes: tuple[str, ...] = field(default=("disc", "square", "triangle", "cross"))
    activation: str = "silu"
    head: str = "pool"

    def __post_init__(self) -> None:
        for name, valid in (("activation", ACTIVATIONS), ("head", HEADS)):
            value = getattr(self, name)
            if value not in valid:
                raise ValueError(
                    f"The {name!r} parameter of {_WHERE} must be one of {list(valid)}; "
                    f"got {value!r}."
                )
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

    @property
    def map_side(self) -> int:
        """Side of the last feature map, in positions (7 for a 224 px input and four stages)."""
        side = self.input_size
        for i in range(len(self.channels)):
            kernel, stride = (7, 4) if i == 0 else (3, 2)
            side = (side + 2 * (kernel // 2) - kernel) // stride + 1
        return side

    def to_json(self) -> str:
        """Return the configuration as a JSON string (stored beside the weights).

        The twins' fields are written only where they differ from the default, so the shipped
        Swish network's metadata reads as it always did.
        """
        data = asdict(self)
        for name, default in (("activation", "silu"), ("head", "pool")):
            if data[name] == default:
                del data[name]
        return json.dumps(data, sort_keys=True)

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


class Flatten(nn.Module):
    """The last feature map flattened to a vector (channels × rows × columns), for ``fc1``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def _activation(name: str) -> nn.Module:
    return nn.SiLU() if name == "silu" else nn.ReLU()


class SwishCNN(nn.Module):
    """Convolution stages with SiLU, global pooling, ``n_fc`` SiLU FC layers, a classifier.

    Module names (what :func:`factorprobe.probing.fc_layers` reports): ``pool`` (pooled
    features; ``flat`` for the flattened head), ``fc1`` ... ``fcN`` with activations ``act1``
    ... ``actN``, and ``classifier``. As in timm, :meth:`forward_features` runs the convolution
    stages and :meth:`forward_head` the rest, so ``forward(x) ==
    forward_head(forward_features(x))``.
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
                _activation(self.config.activation),
            ]
            prev = width
        self.features = nn.Sequential(*stages)
        if self.config.head == "pool":
            self.pool = GlobalPool()
        else:
            self.flat = Flatten()
            prev *= self.config.map_side**2
        for i in range(1, self.config.n_fc + 1):
            self.add_module(f"fc{i}", nn.Linear(prev, self.config.fc_width))
            self.add_module(f"act{i}", _activation(self.config.activation))
            prev = self.config.fc_width
        self.classifier = nn.Linear(prev, len(self.config.shapes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution stages: images (N, 1, H, W) to the last feature map."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Pooling (or flattening), the FC layers and the classifier: feature map to logits."""
        x = self.pool(x) if self.config.head == "pool" else self.flat(x)
        for i in range(1, self.config.n_fc + 1):
            x = getattr(self, f"act{i}")(getattr(self, f"fc{i}")(x))
        return self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
