"""Weight spectra of layers and how each unit's incoming weights spread over them.

For a layer's weight matrix W (units × inputs; a convolution's kernel flattened per output
channel) with singular values σ_1 ≥ … ≥ σ_r:

- ``effective_rank`` = exp(H(p)), p_k = σ_k / Σ σ (Roy & Vetterli 2007): r for equal singular
  values, 1 for a rank-1 matrix;
- ``stable_rank`` = ‖W‖_F² / ‖W‖₂² = Σ σ_k² / σ_1²;
- per unit u, ``spectral_participation``: the incoming weight vector w_u = Σ_k U[u, k] σ_k v_k
  has energy e_k = (U[u, k] σ_k)² in the right singular direction v_k; directions whose
  singular values tie are merged into one subspace (within them the directions are not
  unique), and the participation ratio (Σ e)² / Σ e² over the subspaces counts how many of
  the layer's modes the unit draws on (1 for every unit of a rank-1 or orthogonal matrix);
- per unit, ``weight_participation``: (Σ_i w_ui²)² / Σ_i w_ui⁴ over the inputs, the static
  counterpart of the Jacobian's input participation (1 = the unit reads one input).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from factorprobe.dims import INDEX, LAYER, UNIT
from factorprobe.probing.layers import resolve_targets
from factorprobe.probing.models import ProbedModel, load_model

__all__ = ["COMPONENT", "spectrum", "weight_spectrum", "weight_spread"]

#: the dimension of the singular values
COMPONENT = "component"
#: singular values within this relative distance of each other count as tied
TIE_TOLERANCE = 1e-6


def spectrum(weights: np.ndarray) -> dict[str, np.ndarray | float]:
    """Singular values, effective and stable rank, and per-unit participations of ``weights``.

    Parameters
    ----------
    weights : ndarray
        ``(n_units, n_inputs)``; more dimensions are flattened after the first.

    Returns
    -------
    dict
        ``singular_values (min(U, I),)``, ``effective_rank``, ``stable_rank`` (floats; NaN
        for a zero matrix), ``spectral_participation (U,)`` and ``weight_participation (U,)``
        (NaN for a unit with zero weights).

    Examples
    --------
    >>> out = spectrum(np.outer([1.0, 2.0], [3.0, 4.0, 0.0]))
    >>> round(out["effective_rank"], 6), round(out["stable_rank"], 6)
    (1.0, 1.0)
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w.reshape(w.shape[0], -1)
    u, s, _ = np.linalg.svd(w, full_matrices=False)
    total = s.sum()
    if total <= 0:
        nan_units = np.full(w.shape[0], np.nan)
        return {
            "singular_values": s,
            "effective_rank": float("nan"),
            "stable_rank": float("nan"),
            "spectral_participation": nan_units,
            "weight_participation": nan_units.copy(),
        }
    p = s / total
    entropy = -np.sum(p[p > 0] * np.log(p[p > 0]))
    energy = np.square(u * s[None, :])  # (U, k)
    # tied singular values share one subspace: sum the energies of its directions
    group = np.concatenate([[0], np.cumsum(np.diff(s) < -TIE_TOLERANCE * s[0])])
    merged = np.zeros((w.shape[0], int(group[-1]) + 1))
    # numpy's stubs type ufunc.at's indices as an integer array, not a tuple with slices
    np.add.at(merged, (slice(None), group), energy)  # type: ignore[arg-type]
    with np.errstate(invalid="ignore", divide="ignore"):
        spectral = merged.sum(1) ** 2 / np.square(merged).sum(1)
        squares = np.square(w)
        by_input = squares.sum(1) ** 2 / np.square(squares).sum(1)
    return {
        "singular_values": s,
        "effective_rank": float(np.exp(entropy)),
        "stable_rank": float(np.sum(s**2) / s[0] ** 2),
        "spectral_participation": spectral,
        "weight_participation": by_input,
    }


def weight_spectrum(
    model: ProbedModel | str | nn.Module, *, layers: Sequence[str] | None = None
) -> xr.Dataset:
    """Singular values, effective rank and stable rank of the chosen layers' weights.

    Parameters
    ----------
    model : ProbedModel, str or torch.nn.Module
        From :func:`~factorprobe.probing.load_model`, or a name it accepts.
    layers : sequence of str, optional
        Layers (module paths) with a ``weight``; default the fully connected layers.

    Returns
    -------
    Dataset
        ``singular_values`` over ``(layer, component)`` (NaN-padded), ``effective_rank`` and
        ``stable_rank`` over ``layer``.

    Raises
    ------
    ValueError
        For a layer without a weight matrix (the message names the layers that have one).
    """
    probed, names, found = _spectra(model, layers, where="weight_spectrum")
    width = max(len(f["singular_values"]) for f in found)
    values = np.full((len(names), width), np.nan)
    for row, f in zip(values, found, strict=True):
        row[: len(f["singular_values"])] = f["singular_values"]
    ranks = {k: np.asarray([f[k] for f in found]) for k in ("effective_rank", "stable_rank")}
    ds = xr.Dataset(
        {
            "singular_values": (
                (LAYER, COMPONENT),
                values,
                {"description": "singular values of the layer's weight matrix", "units": "1"},
            ),
            "effective_rank": (
                (LAYER,),
                ranks["effective_rank"],
                {
                    "description": "exp of the entropy of the normalised singular values "
                    "(Roy & Vetterli 2007)",
                    "units": "directions",
                },
            ),
            "stable_rank": (
                (LAYER,),
                ranks["stable_rank"],
                {"description": "squared Frobenius norm over squared spectral norm",
                 "units": "directions"},
            ),
        },
        coords={LAYER: names},
    )  # fmt: skip
    ds.attrs = {"model": _model_name(probed)}
    return ds


def weight_spread(
    model: ProbedModel | str | nn.Module, *, layers: Sequence[str] | None = None
) -> xr.Dataset:
    """How each unit's incoming weights spread over its layer's modes and over its inputs.

    Parameters
    ----------
    model : ProbedModel, str or torch.nn.Module
        From :func:`~factorprobe.probing.load_model`, or a name it accepts.
    layers : sequence of str, optional
        Layers (module paths) with a ``weight``; default the fully connected layers.

    Returns
    -------
    Dataset
        Over ``unit`` with ``layer`` and ``index`` coordinates (as capture's):
        ``spectral_participation`` and ``weight_participation`` (module docstring).

    Raises
    ------
    ValueError
        For a layer without a weight matrix (the message names the layers that have one).
    """
    probed, names, found = _spectra(model, layers, where="weight_spread")
    sizes = [len(f["weight_participation"]) for f in found]
    described = {
        "spectral_participation": (
            "participation ratio of the unit's incoming weight energy over the layer's "
            "singular subspaces (tied singular values merged)",
            "directions",
        ),
        "weight_participation": (
            "participation ratio of the unit's squared incoming weights over its inputs",
            "inputs",
        ),
    }
    ds = xr.Dataset(
        {
            key: ((UNIT,), np.concatenate([f[key] for f in found]),
                  {"description": text, "units": units})
            for key, (text, units) in described.items()
        },
        coords={
            LAYER: (UNIT, np.repeat(names, sizes)),
            INDEX: (UNIT, np.concatenate([np.arange(n) for n in sizes])),
        },
    )  # fmt: skip
    ds.attrs = {"model": _model_name(probed)}
    return ds


def _model_name(probed: ProbedModel) -> str:
    return str(getattr(probed, "name", type(probed.module).__name__))


def _spectra(model, layers, *, where: str):
    probed = model if isinstance(model, ProbedModel) else load_model(model)
    modules = dict(probed.module.named_modules())
    if layers is None:
        names = [t.layer for t in resolve_targets(probed, None, "post") if t.values != "pooled"]
    else:
        names = [layers] if isinstance(layers, str) else list(layers)
    weighted = [
        n for n, m in modules.items() if isinstance(getattr(m, "weight", None), torch.Tensor)
        and m.weight.ndim >= 2
    ]  # fmt: skip
    bad = [n for n in names if n not in weighted]
    if bad:
        raise ValueError(
            f"Layer {bad[0]!r} of {where} has no weight matrix; layers with one: "
            f"{', '.join(repr(n) for n in weighted)}."
        )
    return probed, names, [spectrum(modules[n].weight.detach().cpu().numpy()) for n in names]
