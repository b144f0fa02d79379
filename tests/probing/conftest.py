"""Fixtures for the probing tests: the embedded model, small timm models, small stimuli."""

from __future__ import annotations

import pytest
import torch

import factorprobe as fp

SMALL = 64  # px: the input size of timm models in tests


def _timm(name: str, **kwargs) -> fp.probing.ProbedModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return fp.probing.load_model(f"timm:{name}", input_size=SMALL, model_kwargs=kwargs)


@pytest.fixture(scope="session")
def embedded() -> fp.probing.ProbedModel:
    return fp.probing.load_model("embedded")


@pytest.fixture(scope="session")
def effnet() -> fp.probing.ProbedModel:
    return _timm("efficientnet_b0")


@pytest.fixture(scope="session")
def vgg() -> fp.probing.ProbedModel:
    # A narrow first FC layer keeps the random-init VGG small; the head's layout is unchanged.
    return _timm("vgg11", mlp_ratio=1 / 64)


@pytest.fixture(scope="session")
def grid_space():
    return fp.stimuli.grid(
        size=[16, 32, 48], x=[60, 112, 164], y=[60, 164], shape=["disc", "square"]
    )


@pytest.fixture(scope="session")
def stim(grid_space):
    return fp.stimuli.render(grid_space, canvas=224)


@pytest.fixture(scope="session")
def small_stim():
    space = fp.stimuli.grid(size=[12, 20], x=[24, 40], y=[32], shape=["disc", "triangle"])
    return fp.stimuli.render(space, canvas=SMALL)
