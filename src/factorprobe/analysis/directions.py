"""Pseudo-units along random directions and principal axes of a layer (DESIGN §5.12).

Is the neuron basis privileged? A unit is the projection of the layer's activations onto an axis
``e_i``; the pseudo-units here project onto other unit-norm directions, in the same form as the
activations, so every measure runs on them unchanged;
:func:`factorprobe.analysis.basis.basis_comparison` sets the units against them. Projections are
of the *uncentred* activations, ``r_d(s) = Σ_i d_i a_i(s)``, so a
basis unit is exactly the pseudo-unit ``d = e_i``. Centring would subtract a constant from each
pseudo-unit, which changes no information or selectivity measure (MI, its significance, SI,
modularity, KL selectivity, ω², ANOVA and quantile bins are shift-invariant), only the
``"threshold"`` quantiser and the mean-response selectivity index.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import pandas as pd
import xarray as xr

from factorprobe._validation import check_choice, check_int
from factorprobe.analysis._estimate import seed_int
from factorprobe.analysis.layerwise import layer_blocks
from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT

__all__ = [
    "BASIS",
    "SOURCE",
    "directions",
    "principal_components",
    "random_directions",
]

Basis = Literal["random", "pca"]
BASES: tuple[str, ...] = get_args(Basis)

BASIS = "basis"  # coordinate on ``unit`` naming the basis a (pseudo-)unit belongs to
SOURCE = "source"  # dimension of the captured units a direction is expressed in
RATIO = "explained_variance_ratio"
_METHODS = {
    "random": "projection of the uncentred activations onto unit-norm directions drawn "
    "isotropically (normalised standard normal vectors) in each layer's unit space",
    "pca": "projection of the uncentred activations onto each layer's principal axes "
    "(right singular vectors of the centred activations), sign: largest loading positive",
}


def random_directions(
    acts: xr.DataArray,
    n: int,
    *,
    seed: int | np.random.Generator | None = 0,
    layers: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Pseudo-units: projections of each layer's activations onto ``n`` random unit directions.

    For a layer with ``U`` units, each direction ``d`` is a standard normal vector in R^U divided
    by its norm, which is uniform on the unit sphere (isotropic: no axis is favoured). The
    pseudo-unit's response to stimulus ``s`` is ``Σ_i d_i a_i(s)`` (uncentred: module docstring).

    A layer's directions depend only on ``seed``, the layer's name and its number of units: not
    on the other layers, their order, the ``layers`` selection or how the activations are
    chunked. The int seed actually used is stored in ``attrs["directions_seed"]``, so a result
    drawn with ``seed=None`` or a Generator can be reproduced.

    Parameters
    ----------
    acts : DataArray
        Activations with dims ``("stimulus", "unit")``, a ``layer`` coordinate on ``unit`` and
        (for the analyses) the factors as coordinates on ``stimulus``. Each selected layer is
        loaded into memory (float64).
    n : int
        Directions per layer (>= 1). May exceed the layer's number of units.
    seed : int, Generator or None, default=0
        Seed of the directions.
    layers : str or sequence of str, optional
        Layers to draw directions in (values of ``layer``); default all, in their order along
        ``unit``.

    Returns
    -------
    DataArray
        Dims ``("stimulus", "unit")``, the form of ``acts``: ``n`` pseudo-units per layer, with
        ``layer`` (the source layer), ``index`` (direction number within the layer) and
        ``basis`` (``"random"``) on ``unit``; the stimulus coordinates of ``acts`` (factors)
        kept; the attrs of ``acts`` plus ``basis``, ``directions_method``, ``directions_seed``
        and ``directions_n``. Units: those of ``acts``.

    Raises
    ------
    TypeError
        If ``acts`` is not a DataArray, ``n`` not an int, or ``seed`` of the wrong type.
    ValueError
        If ``n < 1``, or ``acts`` has the wrong dims, NaN or no ``layer`` coordinate.
    KeyError
        For an unknown layer.

    See Also
    --------
    directions : the direction vectors (e.g. for the saliency of a direction).
    basis_comparison : basis units vs these pseudo-units.

    References
    ----------
    Szegedy, C. et al. (2014). Intriguing properties of neural networks. ICLR.
    Bau, D. et al. (2017). Network dissection. CVPR (units vs random rotations).
    Morcos, A. S. et al. (2018). On the importance of single directions for generalization. ICLR.
    Muller, M. E. (1959). Uniform points on n-dimensional spheres. Commun. ACM 2, 19–20.

    Examples
    --------
    >>> from factorprobe.analysis.planted import planted_units
    >>> acts = planted_units(kinds=("size", "position"), n_units=3, noise=(0.5,), n_sizes=4,
    ...                      n_x=3, n_y=3)
    >>> pseudo = random_directions(acts, 5, seed=0)
    >>> dict(pseudo.sizes), str(pseudo["basis"][0].values), pseudo.attrs["directions_seed"]
    ({'stimulus': 36, 'unit': 5}, 'random', 0)
    """
    where = "random_directions"
    n = check_int(n, name="n", where=where, minimum=1)
    weights = directions(acts, n, basis="random", seed=seed, layers=layers)
    return _project(acts, weights, name=where)


def principal_components(
    acts: xr.DataArray,
    n: int | None = None,
    *,
    layers: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Pseudo-units: projections of each layer's activations onto its top-``n`` principal axes.

    The axes are the right singular vectors of the layer's centred activations (stimuli ×
    units) by decreasing variance, each signed so its largest-magnitude loading is positive.
    The response is the projection of the uncentred activations ``Σ_i v_i a_i(s)``: the PC
    scores ``U_k S_k`` plus the constant ``Σ_i v_i mean(a_i)``; a layer's pseudo-units are
    uncorrelated. At most the numerical rank ``r = #{S_k > S_1 · max(N, U) · eps}`` axes are
    returned (a projection onto a zero-variance axis is rounding noise that a quantiser would
    turn into spurious bins); ``n > r`` gives ``r`` components there, with a warning.

    Parameters
    ----------
    acts : DataArray
        Activations with dims ``("stimulus", "unit")`` and a ``layer`` coordinate on ``unit``.
    n : int, optional
        Components per layer (>= 1); default all of non-zero variance.
    layers : str or sequence of str, optional
        Layers to analyse; default all, in their order along ``unit``.

    Returns
    -------
    DataArray
        Dims ``("stimulus", "unit")``: per layer its components, with ``layer``, ``index``
        (component number, 0 = most variance), ``basis`` (``"pca"``) and
        ``explained_variance_ratio`` (``S_k² / Σ_j S_j²``, the fraction of the layer's total
        variance) on ``unit``; stimulus coordinates and attrs as :func:`random_directions`.

    Raises
    ------
    TypeError, ValueError, KeyError
        As :func:`random_directions`.

    References
    ----------
    Jolliffe, I. T. (2002). Principal Component Analysis, 2nd ed. Springer.
    Golub, G. H. & Van Loan, C. F. (2013). Matrix Computations, 4th ed., §5.4 (numerical rank).

    Examples
    --------
    >>> from factorprobe.analysis.planted import planted_units
    >>> acts = planted_units(kinds=("size",), n_units=4, noise=(0.5,), n_sizes=4, n_x=3, n_y=3)
    >>> pcs = principal_components(acts, 2)
    >>> ratio = pcs["explained_variance_ratio"].values
    >>> pcs["index"].values.tolist(), bool(ratio[0] >= ratio[1])
    ([0, 1], True)
    """
    where = "principal_components"
    if n is not None:
        n = check_int(n, name="n", where=where, minimum=1)
    weights = directions(acts, n, basis="pca", layers=layers)
    return _project(acts, weights, name=where)


def directions(
    acts: xr.DataArray,
    n: int | None = None,
    *,
    basis: Basis = "random",
    seed: int | np.random.Generator | None = 0,
    layers: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """The unit-norm directions behind :func:`random_directions` / :func:`principal_components`.

    Parameters
    ----------
    acts : DataArray
        Activations, as for :func:`random_directions`.
    n : int, optional
        Directions per layer; required for ``basis="random"``, default all for ``"pca"``.
    basis : {"random", "pca"}, default="random"
        Random isotropic directions or principal axes.
    seed : int, Generator or None, default=0
        Seed of the random directions (unused for ``"pca"``).
    layers : str or sequence of str, optional
        Layers to use; default all.

    Returns
    -------
    DataArray
        Dims ``("unit", "source")``: row ``k`` is the direction of pseudo-unit ``k`` (same
        ``unit`` coordinates as the pseudo-units) expressed over all captured units ``source``
        (coordinates ``source_layer``, ``source_index``), zero outside its own layer and of unit
        Euclidean norm. ``pseudo.values == acts.values @ weights.values.T`` up to rounding, and
        ``weights.isel(unit=k)`` is what a saliency map of the direction differentiates.

    Raises
    ------
    ValueError
        For an unknown ``basis``, ``n=None`` with ``"random"``; else as :func:`random_directions`.

    Examples
    --------
    >>> from factorprobe.analysis.planted import planted_units
    >>> acts = planted_units(kinds=("size",), n_units=3, noise=(0.5,), n_sizes=4, n_x=3, n_y=3)
    >>> w = directions(acts, 2, seed=0)
    >>> w.dims, np.linalg.norm(w.values, axis=1).round(12).tolist()
    (('unit', 'source'), [1.0, 1.0])
    """
    where = "directions"
    check_choice(basis, BASES, name="basis", where=where)
    if n is None and basis == "random":
        raise ValueError(
            f"The 'n' parameter of {where} must be an int >= 1 for basis='random'; got None."
        )
    if n is not None:
        n = check_int(n, name="n", where=where, minimum=1)
    checked, blocks = layer_blocks(acts, where=where)
    labels = np.asarray(checked[LAYER].values).astype(str)
    chosen = _chosen_layers([name for name, _ in blocks], layers, where=where)
    base = seed_int(seed) if basis == "random" else None

    rows: list[np.ndarray] = []
    layer_of: list[str] = []
    index_of: list[np.ndarray] = []
    ratios: list[np.ndarray] = []
    for name, block in blocks:
        if name not in chosen:
            continue
        if basis == "random":
            assert base is not None and n is not None  # both checked above for this basis
            local, ratio = _random_axes(block.shape[1], n, _layer_rng(base, name)), None
        else:
            local, ratio = _principal_axes(block, n, name)
        full = np.zeros((local.shape[1], labels.size))
        full[:, labels == name] = local.T
        rows.append(full)
        layer_of += [name] * local.shape[1]
        index_of.append(np.arange(local.shape[1]))
        ratios.append(ratio if ratio is not None else np.empty(0))
    weights = np.concatenate(rows, axis=0)
    coords = {
        UNIT: (UNIT, np.arange(weights.shape[0])),
        LAYER: (UNIT, np.asarray(layer_of, dtype=str)),
        INDEX: (UNIT, np.concatenate(index_of)),
        BASIS: (UNIT, np.full(weights.shape[0], basis)),
        SOURCE: (SOURCE, np.asarray(checked[UNIT].values)),
        "source_layer": (SOURCE, labels),
        "source_index": (
            SOURCE,
            np.asarray(checked[INDEX].values) if INDEX in checked.coords else _within(labels),
        ),
    }
    if basis == "pca":
        coords[RATIO] = (UNIT, np.concatenate(ratios))
    attrs = {
        BASIS: basis,
        "directions_method": _METHODS[basis],
        "directions_n": "all" if n is None else int(n),
        "centered": 0,
    }
    if base is not None:
        attrs["directions_seed"] = int(base)
    return xr.DataArray(weights, dims=(UNIT, SOURCE), coords=coords, name="directions", attrs=attrs)


def _project(acts: xr.DataArray, weights: xr.DataArray, *, name: str) -> xr.DataArray:
    labels = weights["source_layer"].values
    values = np.asarray(acts.transpose(STIMULUS, UNIT).values, dtype=np.float64)
    keep = np.isin(labels, np.unique(weights[LAYER].values))
    projected = values[:, keep] @ weights.values[:, keep].T
    coords = {k: v for k, v in acts.coords.items() if v.dims == (STIMULUS,)}
    unit_coords = {k: v for k, v in weights.coords.items() if v.dims == (UNIT,)}
    return xr.DataArray(
        projected,
        dims=(STIMULUS, UNIT),
        coords={**coords, **unit_coords},
        name=name,
        attrs={**acts.attrs, **weights.attrs},
    )


def _layer_rng(base: int, layer: str) -> np.random.Generator:
    """A layer's directions depend on the seed and the layer's name only."""
    return np.random.default_rng([base, 1, zlib.crc32(layer.encode())])


def _random_axes(n_units: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_units, n)``: columns uniform on the unit sphere (normalised Gaussian vectors)."""
    draws = rng.standard_normal((n_units, n))
    return draws / np.linalg.norm(draws, axis=0, keepdims=True)


def _principal_axes(block: np.ndarray, n: int | None, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """``(U, k)`` principal axes of a layer's ``(S, U)`` activations and their variance ratios."""
    centred = block - block.mean(axis=0, keepdims=True)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    tol = (singular[0] if singular.size else 0.0) * max(centred.shape) * np.finfo(float).eps
    rank = int((singular > tol).sum())
    k = rank if n is None else min(n, rank)
    if n is not None and n > rank:
        warnings.warn(
            f"principal_components: layer {layer!r} has rank {rank} over these stimuli; "
            f"returning {rank} components instead of n={n}.",
            UserWarning,
            stacklevel=4,
        )
    axes = vt[:k].T
    biggest = np.abs(axes).argmax(axis=0)
    axes = axes * np.sign(axes[biggest, np.arange(k)])
    total = (singular**2).sum()
    ratio = singular[:k] ** 2 / total if total > 0 else np.zeros(k)
    return axes, ratio


def _chosen_layers(available: list[str], layers: str | Sequence[str] | None, *, where: str):
    if layers is None:
        return set(available)
    wanted = [layers] if isinstance(layers, str) else list(layers)
    valid = ", ".join(repr(a) for a in available)
    if not wanted:
        raise ValueError(
            f"The 'layers' parameter of {where} must name at least one layer ({valid}); got []."
        )
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise KeyError(f"Unknown layer {unknown[0]!r} for {where}; valid layers: {valid}.")
    return set(wanted)


def _within(labels: np.ndarray) -> np.ndarray:
    """Position of each unit within its layer (when the activations carry no ``index``)."""
    return pd.Series(labels).groupby(labels).cumcount().to_numpy()
