"""Jacobian measures and weight spectra against hand-built layers and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import factorprobe as fp
from factorprobe.interventions.jacobian import jacobian_measures, jacobian_summary
from factorprobe.interventions.weights import spectrum, weight_spectrum, weight_spread


def test_linear_units_have_zero_variability_and_their_weight_participation():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    out = jacobian_summary(
        lambda x: w @ x + 1.0, torch.randn(40, 7, generator=gen, dtype=torch.float64)
    )
    np.testing.assert_allclose(out["jacobian_variability"].values, 0.0, atol=1e-12)
    squares = w.numpy() ** 2
    np.testing.assert_allclose(
        out["input_participation"].values, squares.sum(1) ** 2 / (squares**2).sum(1), rtol=1e-12
    )
    np.testing.assert_allclose(out["gain"].values, np.linalg.norm(w.numpy(), axis=1), rtol=1e-12)


def test_a_unit_copying_one_input_relies_on_one_input():
    x = torch.randn(30, 6, dtype=torch.float64)
    out = jacobian_summary(lambda v: torch.stack([v[2], 3.0 * v[4], v.sum()]), x)
    np.testing.assert_allclose(out["input_participation"].values, [1.0, 1.0, 6.0], rtol=1e-12)
    np.testing.assert_allclose(out["gain"].values, [1.0, 3.0, np.sqrt(6.0)], rtol=1e-12)


def test_relu_unit_variability_is_one_minus_its_active_share():
    # unit 0 is active where x_0 > 0: on 12 of the 40 stimuli
    x = torch.zeros(40, 3, dtype=torch.float64)
    x[:, 0] = torch.where(torch.arange(40) < 12, 1.0, -1.0).double()
    x[:, 1:] = torch.randn(40, 2, dtype=torch.float64) * 0.1
    w = torch.tensor([[2.0, 0.1, -0.1], [0.0, 1.0, 1.0]], dtype=torch.float64)
    out = jacobian_summary(lambda v: torch.relu(w @ v + torch.tensor([0.0, 5.0])), x)
    assert out["jacobian_variability"].values[0] == pytest.approx(1 - 12 / 40, abs=1e-12)
    assert out["jacobian_variability"].values[1] == pytest.approx(0.0, abs=1e-12)  # always on


def test_matches_finite_differences_on_a_nonlinear_layer():
    gen = torch.Generator().manual_seed(1)
    w1 = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    w2 = torch.randn(3, 4, generator=gen, dtype=torch.float64)

    def fn(v):
        return torch.tanh(w2 @ torch.nn.functional.silu(w1 @ v))

    x = torch.randn(25, 5, generator=gen, dtype=torch.float64)
    eps = 1e-6
    fd = torch.stack(
        [
            torch.stack(
                [
                    (fn(xs + eps * e) - fn(xs - eps * e)) / (2 * eps)
                    for e in torch.eye(5, dtype=torch.float64)
                ],
                -1,
            )
            for xs in x
        ]
    ).numpy()  # (S, U, I)
    g2 = (fd**2).mean(0)
    participation = g2.sum(1) ** 2 / (g2**2).sum(1)
    energy = g2.sum(1)
    variability = (energy - (fd.mean(0) ** 2).sum(1)) / energy
    out = jacobian_summary(fn, x, batch_size=7)
    np.testing.assert_allclose(out["input_participation"].values, participation, rtol=1e-7)
    np.testing.assert_allclose(out["jacobian_variability"].values, variability, rtol=1e-6)
    np.testing.assert_allclose(out["gain"].values, np.linalg.norm(fd, axis=2).mean(0), rtol=1e-7)


def test_a_dead_unit_gets_nan_and_zero_gain():
    out = jacobian_summary(lambda v: torch.stack([v[0] * 0.0, v[1]]), torch.randn(5, 2))
    assert out["gain"].values[0] == 0.0
    assert np.isnan(out["input_participation"].values[0])
    assert np.isnan(out["jacobian_variability"].values[0])


def test_bad_inputs_say_what_was_wrong():
    with pytest.raises(ValueError, match=r"shape \(n_stimuli, n_inputs\); got \(3,\)"):
        jacobian_summary(lambda v: v, torch.randn(3))
    with pytest.raises(ValueError, match="batch_size"):
        jacobian_summary(lambda v: v, torch.randn(3, 2), batch_size=0)


@pytest.fixture(scope="module")
def embedded():
    model = fp.probing.load_model("embedded")
    space = fp.stimuli.grid(size=[16, 32], x=[60, 164], y=[60, 164], shape="disc")
    return model, fp.stimuli.render(space)


def test_embedded_layers_match_the_dense_closed_form(embedded):
    # a dense unit with a pointwise activation has J_s = phi'(z_s) w: its input participation
    # is its weight participation, and the classifier (no activation) is linear
    model, stim = embedded
    jac = jacobian_measures(model, stim)
    spread = weight_spread(model)
    assert list(dict.fromkeys(jac["layer"].values)) == ["fc1", "fc2", "fc3", "classifier"]
    np.testing.assert_allclose(
        jac["input_participation"].values, spread["weight_participation"].values, rtol=1e-5
    )
    linear = jac["layer"].values == "classifier"
    np.testing.assert_allclose(jac["jacobian_variability"].values[linear], 0.0, atol=1e-6)
    assert (jac["jacobian_variability"].values[~linear] > 0).mean() > 0.9
    assert jac["gain"].attrs["description"]


def test_unknown_layer_is_named(embedded):
    model, stim = embedded
    with pytest.raises(ValueError, match="fc9"):
        jacobian_measures(model, stim, layers=["fc9"])
    with pytest.raises(ValueError, match="'pool' of weight_spectrum has no weight matrix"):
        weight_spectrum(model, layers=["pool"])


def test_rank_one_and_orthogonal_spectra():
    rank_one = spectrum(np.outer([1.0, -2.0, 0.5], [3.0, 4.0, 0.0, 1.0]))
    assert rank_one["effective_rank"] == pytest.approx(1.0)
    assert rank_one["stable_rank"] == pytest.approx(1.0)
    np.testing.assert_allclose(rank_one["spectral_participation"], 1.0)
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))
    ortho = spectrum(2.0 * q)
    assert ortho["effective_rank"] == pytest.approx(6.0)
    assert ortho["stable_rank"] == pytest.approx(6.0)
    np.testing.assert_allclose(ortho["singular_values"], 2.0)
    np.testing.assert_allclose(ortho["spectral_participation"], 1.0)  # one tied subspace
    np.testing.assert_allclose(spectrum(np.eye(4))["weight_participation"], 1.0)


def test_distinct_singular_values_spread_by_the_closed_form():
    rng = np.random.default_rng(1)
    u, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    v, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    s = np.array([5.0, 3.0, 2.0, 1.0, 0.5])
    out = spectrum(u @ np.diag(s) @ v.T)
    energy = (u * s) ** 2
    np.testing.assert_allclose(
        out["spectral_participation"], energy.sum(1) ** 2 / (energy**2).sum(1), rtol=1e-10
    )
    p = s / s.sum()
    assert out["effective_rank"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert out["stable_rank"] == pytest.approx((s**2).sum() / 25.0)


def test_weight_spectrum_is_labelled(embedded):
    model, _ = embedded
    ds = weight_spectrum(model)
    assert ds["singular_values"].dims == ("layer", "component")
    n = ds["singular_values"].notnull().sum("component")
    assert ((ds["effective_rank"] >= 1) & (ds["effective_rank"] <= n)).all()
    assert ((ds["stable_rank"] >= 1) & (ds["stable_rank"] <= n)).all()
    spread = weight_spread(model)
    assert spread["spectral_participation"].dims == ("unit",)
    assert {"layer", "index"} <= set(spread.coords)
