"""Synthetic units with planted tuning to size and position, whose right answers are known."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import xarray as xr

from factorprobe._validation import as_rng, check_choice, check_int, check_real
from factorprobe.analysis._estimate import seed_int
from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT

__all__ = ["PlantedKind", "planted_units"]

PlantedKind = Literal["size", "position", "additive", "conjunctive", "mixed", "silent", "noise"]
KINDS: tuple[str, ...] = get_args(PlantedKind)


def planted_units(
    *,
    kinds: Sequence[PlantedKind] = (
        "size",
        "position",
        "additive",
        "conjunctive",
        "silent",
        "noise",
    ),
    n_units: int = 10,
    noise: Sequence[float] = (0.25, 0.5, 1.0),
    n_sizes: int = 10,
    n_x: int = 10,
    n_y: int = 10,
    repeats: int = 1,
    mix: Sequence[float] = (0.03, 0.1, 0.3),
    layer: str = "planted",
    seed: int | np.random.Generator | None = 0,
) -> xr.DataArray:
    """Responses of synthetic units over a full size × x × y grid, with known tuning.

    Tuning curves take values in [0, 1]; each unit adds Gaussian noise of standard deviation
    ``noise`` (a multiple of the tuning range):

    - ``"size"``: a Gaussian bump or a sigmoid over size, random centre and width;
    - ``"position"``: a 2-D Gaussian bump over (x, y);
    - ``"additive"``: the mean of a size and a position tuning (both factors, no interaction);
    - ``"conjunctive"``: their product (responds only to one size at one place: synergy);
    - ``"mixed"``: a weak position code riding on a strong size code,
      √(1 − w)·s̃ + √w·p̃ with s̃, p̃ the size and position tunings standardised over the grid,
      so that position explains exactly the share ``w`` of the variance (one unit set per
      value of ``mix``; on a crossed grid the two parts are uncorrelated);
    - ``"silent"``: constant 0 (no noise); ``"noise"``: noise only.

    Parameters
    ----------
    kinds : sequence of str, default=all but ``"mixed"``
        Kinds to plant, in order.
    n_units : int, default=10
        Units per kind and noise level.
    noise : sequence of float, default=(0.25, 0.5, 1.0)
        Noise standard deviations.
    n_sizes, n_x, n_y : int, default=10
        Levels per factor (sizes 16..64 px, x and y 40..184 px on a 224 px canvas).
    repeats : int, default=1
        Stimuli per grid cell (each with fresh noise). With ``noise=(0.0,)`` and one repeat the
        units are deterministic functions of the grid, the regime of a real network.
    mix : sequence of float, default=(0.03, 0.1, 0.3)
        Position's share of the variance of the ``"mixed"`` units, each in [0, 1].
    layer : str, default="planted"
        Value of the ``layer`` coordinate.
    seed : int, Generator or None, default=0
        Seed of the tuning parameters and the noise.

    Returns
    -------
    DataArray
        Dims ``("stimulus", "unit")``, factor coordinates ``size``, ``x``, ``y`` on ``stimulus``;
        ``layer``, ``index``, ``kind`` (the planted kind), ``noise``, ``snr`` (variance of
        the tuning over the stimuli / noise variance; 0 for silent and noise units) and
        ``position_share`` (position's planted share of the tuning's variance: 0 for size, 1
        for position, ``w`` for mixed units, NaN for the others) on ``unit``.

    Examples
    --------
    >>> acts = planted_units(kinds=("size", "noise"), n_units=2, noise=(0.5,), n_sizes=4,
    ...                      n_x=3, n_y=3)
    >>> acts.sizes["stimulus"], acts["kind"].values.tolist()
    (36, ['size', 'size', 'noise', 'noise'])
    """
    where = "planted_units"
    kind_list: list[str] = [kinds] if isinstance(kinds, str) else list(kinds)
    for kind in kind_list:
        check_choice(kind, KINDS, name="kinds", where=where)
    n_units = check_int(n_units, name="n_units", where=where, minimum=1)
    levels = [
        check_int(v, name=n, where=where, minimum=2)
        for v, n in ((n_sizes, "n_sizes"), (n_x, "n_x"), (n_y, "n_y"))
    ]
    repeats = check_int(repeats, name="repeats", where=where, minimum=1)
    sigmas = [check_real(s, name="noise", where=where, minimum=0.0) for s in noise]
    if not sigmas or not kind_list:
        raise ValueError(
            f"{where} needs at least one kind and one noise level; got "
            f"kinds={kind_list}, noise={list(noise)}."
        )
    mixes = [check_real(w, name="mix", where=where, minimum=0.0, maximum=1.0) for w in mix]
    if "mixed" in kind_list and not mixes:
        raise ValueError(f"{where} needs at least one value of 'mix' for kind 'mixed'; got [].")
    seed = seed_int(seed)
    rng = as_rng(seed)

    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, n) for n in levels], indexing="ij"), -1)
    t = np.repeat(grid.reshape(-1, 3), repeats, axis=0)  # (S, 3) in [0, 1]
    per_kind = [n_units * len(sigmas) * (len(mixes) if k == "mixed" else 1) for k in kind_list]
    kind_of = np.repeat(kind_list, per_kind)
    sigma_of = np.concatenate(
        [np.tile(np.repeat(sigmas, n_units), len(mixes) if k == "mixed" else 1) for k in kind_list]
    )
    share_of = np.full(len(kind_of), np.nan)
    share_of[kind_of == "size"] = 0.0
    share_of[kind_of == "position"] = 1.0
    share_of[kind_of == "mixed"] = np.repeat(mixes, n_units * len(sigmas))[
        : int((kind_of == "mixed").sum())
    ]
    n_total = len(kind_of)

    size_tuning = _size_tuning(t[:, 0], n_total, rng)
    position_tuning = _position_tuning(t[:, 1:], n_total, rng)
    signal = np.zeros_like(size_tuning)

    def standard(curve: np.ndarray) -> np.ndarray:
        sd = curve.std(axis=0)
        return (curve - curve.mean(axis=0)) / np.where(sd > 0, sd, 1.0)

    w = np.nan_to_num(share_of)
    mixed = np.sqrt(1 - w) * standard(size_tuning) + np.sqrt(w) * standard(position_tuning)
    for kind, curve in (
        ("size", size_tuning),
        ("position", position_tuning),
        ("additive", 0.5 * (size_tuning + position_tuning)),
        ("conjunctive", size_tuning * position_tuning),
        ("mixed", mixed),
    ):
        chosen = kind_of == kind
        signal[:, chosen] = curve[:, chosen]
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(sigma_of > 0, signal.var(axis=0) / sigma_of**2, np.inf)
    snr[np.isin(kind_of, ("silent", "noise"))] = 0.0
    eps = rng.standard_normal(signal.shape)
    responses = signal + eps * sigma_of[None, :]
    responses[:, kind_of == "silent"] = 0.0

    size_px = 16 + 48 * t[:, 0]
    return xr.DataArray(
        responses,
        dims=(STIMULUS, UNIT),
        coords={
            "size": (STIMULUS, np.round(size_px, 3)),
            "x": (STIMULUS, np.round(40 + 144 * t[:, 1], 3)),
            "y": (STIMULUS, np.round(40 + 144 * t[:, 2], 3)),
            LAYER: (UNIT, np.full(n_total, layer)),
            INDEX: (UNIT, np.arange(n_total)),
            "kind": (UNIT, kind_of.astype(str)),
            "noise": (UNIT, sigma_of),
            "snr": (UNIT, snr),
            "position_share": (UNIT, share_of),
        },
        name="activation",
        attrs={"model": "planted", "seed": seed},
    )


def _size_tuning(t: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    centre = rng.uniform(0.0, 1.0, n)
    width = rng.uniform(0.1, 0.3, n)
    bump = np.exp(-((t[:, None] - centre) ** 2) / (2 * width**2))
    sigmoid = 1.0 / (1.0 + np.exp(-(t[:, None] - centre) / (0.5 * width)))
    monotone = rng.random(n) < 0.5
    return np.where(monotone, sigmoid, bump)


def _position_tuning(t: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    centre = rng.uniform(0.0, 1.0, (2, n))
    width = rng.uniform(0.15, 0.3, n)
    d2 = (t[:, 0, None] - centre[0]) ** 2 + (t[:, 1, None] - centre[1]) ** 2
    return np.exp(-d2 / (2 * width**2))
