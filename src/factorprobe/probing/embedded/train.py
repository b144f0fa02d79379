"""Training recipe of the embedded Swish CNN: shape recognition with size and position as nuisances.

Every batch is a fresh random design from :func:`factorprobe.stimuli.random_design` (random shape,
size, position over the whole canvas, rotation and contrast), rendered on the fly, plus Gaussian
background noise of a random level per image. The held-out set is drawn from a separate seed
stream, so none of its stimuli is used in training. Everything random is seeded explicitly: the
global torch and NumPy random states are left as they were.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from factorprobe._validation import check_int, check_real
from factorprobe.io.files import atomic_output
from factorprobe.probing.embedded.network import NetworkConfig, SwishCNN

_WHERE = "train_embedded"
WEIGHTS_FILE = "weights.safetensors"
CARD_FILE = "card.json"
MEAN, STD = (0.5,), (0.5,)


@dataclass(frozen=True)
class TrainConfig:
    """How the embedded model is trained (recorded in its card).

    Parameters
    ----------
    steps : int, default=1100
        Optimiser steps.
    batch_size : int, default=64
        Stimuli per step.
    learning_rate : float, default=0.004
        Peak AdamW learning rate (one-cycle schedule).
    weight_decay : float, default=1e-4
        AdamW weight decay.
    seed : int, default=0
        Seeds the weights' initialisation, the training designs and the noise.
    size : (float, float), default=(16, 80)
        Range of object sizes, in pixels.
    contrast : (float, float), default=(0.2, 1.0)
        Range of contrasts.
    noise : float, default=0.1
        Largest standard deviation of the Gaussian background noise (intensity units); each
        image draws its level uniformly in [0, noise].
    n_eval : int, default=2000
        Held-out stimuli for the accuracy per shape.
    network : NetworkConfig
        The architecture (input size, widths, number of FC layers, shapes).
    """

    steps: int = 1100
    batch_size: int = 64
    learning_rate: float = 0.004
    weight_decay: float = 1e-4
    seed: int = 0
    size: tuple[float, float] = (16.0, 80.0)
    contrast: tuple[float, float] = (0.2, 1.0)
    noise: float = 0.1
    n_eval: int = 2000
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        check_int(self.steps, name="steps", where=_WHERE, minimum=1)
        check_int(self.batch_size, name="batch_size", where=_WHERE, minimum=2)
        check_int(self.seed, name="seed", where=_WHERE, minimum=0)
        check_int(self.n_eval, name="n_eval", where=_WHERE, minimum=1)
        check_real(self.learning_rate, name="learning_rate", where=_WHERE, minimum=0)
        check_real(self.weight_decay, name="weight_decay", where=_WHERE, minimum=0)
        check_real(self.noise, name="noise", where=_WHERE, minimum=0)
        for name in ("size", "contrast"):
            low, high = getattr(self, name)
            check_real(low, name=name, where=_WHERE, minimum=0)
            check_real(high, name=name, where=_WHERE, minimum=low)
        if not isinstance(self.network, NetworkConfig):
            raise TypeError(
                f"The 'network' parameter of {_WHERE} must be a NetworkConfig; got "
                f"{type(self.network).__name__}."
            )


def train_embedded(
    out: str | os.PathLike[str], config: TrainConfig | None = None, *, progress: bool | None = None
) -> dict[str, Any]:
    """Train the embedded Swish CNN from a seed and write its weights and model card.

    Parameters
    ----------
    out : path-like
        Directory to write ``weights.safetensors`` and ``card.json`` into (created if needed;
        each file is written atomically).
    config : TrainConfig, optional
        Training configuration; the default reproduces the shipped model.
    progress : bool or None, default=None
        Show a progress bar; None shows one when standard error is a terminal.

    Returns
    -------
    dict
        The model card (also written to ``card.json``), with the held-out accuracy per shape.

    Examples
    --------
    >>> import tempfile
    >>> card = train_embedded(tempfile.mkdtemp(), TrainConfig(steps=1, batch_size=4, n_eval=8))
    >>> sorted(card["heldout_accuracy"])
    ['cross', 'disc', 'overall', 'square', 'triangle']
    """
    from safetensors.torch import save_file

    config = config or TrainConfig()
    train_seed, eval_seed = np.random.SeedSequence(config.seed).spawn(2)
    rng = np.random.default_rng(train_seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network = SwishCNN(config.network)
    network = network.to(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.learning_rate, total_steps=config.steps, pct_start=0.15
    )
    disable = None if progress is None else not progress  # None: shown on a terminal
    start = time.perf_counter()
    network.train()
    losses = []
    for _ in tqdm(range(config.steps), desc="train", disable=disable):
        x, y = _batch(config, config.batch_size, rng)
        loss = F.cross_entropy(network(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - start
    network.eval()
    accuracy = evaluate(network, config, np.random.default_rng(eval_seed))
    card = _card(config, network, accuracy, seconds, float(np.mean(losses[-20:])))
    card = json.loads(json.dumps(card))  # what card.json holds: lists, not tuples
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    metadata = {
        "config": config.network.to_json(),
        "mean": json.dumps(MEAN),
        "std": json.dumps(STD),
    }
    with atomic_output(out / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    with atomic_output(out / CARD_FILE) as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n")
    return card


def evaluate(
    network: nn.Module, config: TrainConfig, rng: np.random.Generator, *, batch_size: int = 200
) -> dict[str, float]:
    """Held-out accuracy per shape (and ``overall``) on fresh stimuli drawn from ``rng``."""
    shapes = config.network.shapes
    correct = np.zeros(len(shapes))
    total = np.zeros(len(shapes))
    remaining = config.n_eval
    with torch.inference_mode():
        while remaining > 0:
            n = min(batch_size, remaining)
            x, y = _batch(config, n, rng)
            predicted = network(x).argmax(dim=1)
            np.add.at(total, y.numpy(), 1)
            np.add.at(correct, y.numpy(), (predicted == y).numpy())
            remaining -= n
    accuracy = {
        s: float(c / t) if t else float("nan")
        for s, c, t in zip(shapes, correct, total, strict=True)
    }
    accuracy["overall"] = float(correct.sum() / total.sum())
    return accuracy


def _batch(
    config: TrainConfig, n: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render ``n`` random stimuli with background noise; return normalised inputs and labels."""
    from factorprobe.stimuli import random_design, render

    side = config.network.input_size
    space = random_design(
        n,
        seed=rng,
        canvas=side,
        size=tuple(config.size),
        x=(0.0, float(side)),
        y=(0.0, float(side)),
        shape=list(config.network.shapes),
        rotation=(0.0, 360.0),
        contrast=tuple(config.contrast),
    )
    images = render(space, canvas=side).image.values  # (n, row, col, 1)
    sigma = rng.uniform(0.0, config.noise, size=(n, 1, 1, 1)).astype(np.float32)
    images = images + sigma * rng.standard_normal(images.shape, dtype=np.float32)
    x = torch.from_numpy((images - MEAN[0]) / STD[0]).permute(0, 3, 1, 2)
    index = {s: i for i, s in enumerate(config.network.shapes)}
    y = torch.tensor([index[s] for s in space["shape"]], dtype=torch.long)
    return x.contiguous(memory_format=torch.channels_last), y


def _card(
    config: TrainConfig,
    network: SwishCNN,
    accuracy: dict[str, float],
    seconds: float,
    final_loss: float,
) -> dict[str, Any]:
    from factorprobe._version import __version__

    training = asdict(config)
    del training["network"]
    net = config.network
    act = "SiLU" if net.activation == "silu" else "ReLU"
    side = net.map_side
    head = "pool (global mean)"
    if net.head == "flat":
        head = f"flat (the {net.channels[-1]}x{side}x{side} map flattened, no pooling)"
    card: dict[str, Any] = {
        "name": twin_name(net),
        "description": _description(net),
        "architecture": {
            "config": json.loads(net.to_json()),
            "parameters": int(sum(p.numel() for p in network.parameters())),
            "layers": (
                [f"features (stem 7x7/4, then 3x3/2 stages; BatchNorm, {act})", head]
                + [f"fc{i} + act{i} ({act})" for i in range(1, net.n_fc + 1)]
                + ["classifier (logits)"]
            ),
        },
        "input": {
            "size": [config.network.input_size, config.network.input_size],
            "channels": 1,
            "range": "stimuli in [0, 1], normalised as (x - mean) / std",
            "mean": list(MEAN),
            "std": list(STD),
        },
        "classes": list(config.network.shapes),
        "training": training,
        "seed": config.seed,
        "heldout_accuracy": accuracy,
        "heldout_stimuli": config.n_eval,
        "final_training_loss": final_loss,
        "training_seconds": round(seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "torch_version": torch.__version__,
        "factorprobe_version": __version__,
    }
    if card["name"] != "embedded":
        # The twins' cards carry the command that reproduces them (the shipped default's card
        # predates this field and stays byte-identical; its command is ``factorprobe train``).
        card["command"] = train_command(config)
    return card


def twin_name(network: NetworkConfig) -> str:
    """Name a trained network loads by: ``embedded``, ``embedded:relu``, ``embedded:flat``.

    Parameters
    ----------
    network : NetworkConfig
        The architecture.

    Returns
    -------
    str
        ``"embedded"`` for the Swish pooled default; otherwise ``"embedded:"`` followed by the
        twin's departures from it, joined by ``"-"`` (``relu``, ``flat``, or ``relu-flat``).

    Examples
    --------
    >>> twin_name(NetworkConfig(activation="relu"))
    'embedded:relu'
    """
    parts = []
    if network.activation == "relu":
        parts.append("relu")
    if network.head == "flat":
        parts.append("flat")
    return "embedded:" + "-".join(parts) if parts else "embedded"


def train_command(config: TrainConfig) -> str:
    """The ``factorprobe train`` command line that reproduces ``config`` (``OUT`` for the output).

    Only the options that differ from the CLI's defaults are written.

    Examples
    --------
    >>> train_command(TrainConfig(network=NetworkConfig(head="flat")))
    'factorprobe train --out OUT --head flat'
    """
    default, net0 = TrainConfig(), NetworkConfig()
    words = ["factorprobe", "train", "--out", "OUT"]
    for flag, value, ref in (
        ("--steps", config.steps, default.steps),
        ("--seed", config.seed, default.seed),
        ("--batch-size", config.batch_size, default.batch_size),
        ("--learning-rate", config.learning_rate, default.learning_rate),
        ("--n-fc", config.network.n_fc, net0.n_fc),
        ("--fc-width", config.network.fc_width, net0.fc_width),
        ("--input-size", config.network.input_size, net0.input_size),
        ("--activation", config.network.activation, net0.activation),
        ("--head", config.network.head, net0.head),
        ("--n-eval", config.n_eval, default.n_eval),
    ):
        if value != ref:
            words += [flag, str(value)]
    return " ".join(words)


def _description(network: NetworkConfig) -> str:
    if network.activation == "silu" and network.head == "pool":
        return (
            "Swish (SiLU) CNN trained by factorprobe to recognise the shape of one object on a "
            "blank canvas, with random size, position, rotation, contrast and background noise."
        )
    act = "Swish (SiLU)" if network.activation == "silu" else "ReLU"
    head = (
        "global mean pooling before fc1"
        if network.head == "pool"
        else "the last feature map flattened into fc1 (no global pooling, so fc1 sees position)"
    )
    return (
        f"{act} CNN with {head}, a twin of the embedded Swish network trained by factorprobe "
        "with the same seed, recipe and data to recognise the shape of one object on a blank "
        "canvas, with random size, position, rotation, contrast and background noise."
    )
