"""Every backward against central finite differences in float64: relative error < 1e-6.

    ∂f/∂a ≈ (f(a + h) − f(a − h)) / 2h,   rel = ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖)

For a layer, f(x, params) = Σ y·dout with a fixed random dout, whose gradient is what backward(dout)
returns (dx) and fills in (grads).
"""

from __future__ import annotations

import numpy as np
import pytest

from dlexp.nn.activations import ACTIVATIONS
from dlexp.nn.layers import BatchNorm, Dense, Dropout, LayerNorm, ShiftNoise
from dlexp.nn.losses import MSE, SoftmaxCrossEntropy
from dlexp.nn.model import MLP
from dlexp.nn.regularizers import add_penalty_grads, penalty

H = 1e-6
MAX_REL = 1e-6


def numeric_grad(f, a: np.ndarray) -> np.ndarray:
    """Central differences of the scalar f() with respect to the array a, perturbed in place."""
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + H
        f_plus = f()
        a[idx] = old - H
        f_minus = f()
        a[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * H)
    return grad


def assert_close(analytic, numeric, what=""):
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    assert denom > 0, f"{what}: both gradients are zero, the check proves nothing"
    rel = np.linalg.norm(analytic - numeric) / denom
    assert rel < MAX_REL, f"{what}: relative error {rel:.2e}"


def check_layer(layer, x, **forward_kwargs):
    """dx and every param grad of `layer` (training mode) against finite differences."""
    rng = np.random.default_rng(1)
    y = layer.forward(x, True, **forward_kwargs)
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)
    grads = {k: g.copy() for k, g in layer.grads.items()}

    def f():
        return float(np.sum(layer.forward(x, True, **forward_kwargs) * dout))

    assert_close(dx, numeric_grad(f, x), f"{layer!r} dx")
    for name, p in layer.params.items():
        assert_close(grads[name], numeric_grad(f, p), f"{layer!r} d{name}")


def inputs(shape=(6, 5), seed=0, away_from_zero=False):
    x = np.random.default_rng(seed).standard_normal(shape)
    if away_from_zero:  # keep finite differences off the kinks of relu / leaky_relu / |w|
        x = np.sign(x) * (0.1 + np.abs(x))
    return x


def test_dense():
    rng = np.random.default_rng(2)
    check_layer(Dense(rng.standard_normal((5, 4)), rng.standard_normal(4)), inputs())


def test_batchnorm_training():
    layer = BatchNorm(5, dtype=np.float64)
    layer.params["gamma"][...] = [0.5, 1.5, -1.0, 2.0, 1.0]
    layer.params["beta"][...] = [0.1, -0.2, 0.3, 0.0, 1.0]
    check_layer(layer, 2 * inputs() + 1)


def test_batchnorm_eval():
    layer = BatchNorm(5, dtype=np.float64)
    layer.buffers["running_mean"][...] = [0.5, -1.0, 0.0, 2.0, 0.1]
    layer.buffers["running_var"][...] = [0.5, 2.0, 1.0, 3.0, 0.2]
    layer.params["gamma"][...] = [0.5, 1.5, -1.0, 2.0, 1.0]
    x = inputs()
    y = layer.forward(x, False)
    dout = np.random.default_rng(1).standard_normal(y.shape)
    dx = layer.backward(dout)
    dgamma = layer.grads["gamma"].copy()

    def f():
        return float(np.sum(layer.forward(x, False) * dout))

    assert_close(dx, numeric_grad(f, x), "dx")
    assert_close(dgamma, numeric_grad(f, layer.params["gamma"]), "dgamma")


def test_layernorm():
    layer = LayerNorm(5, dtype=np.float64)
    layer.params["gamma"][...] = [0.5, 1.5, -1.0, 2.0, 1.0]
    layer.params["beta"][...] = [0.1, -0.2, 0.3, 0.0, 1.0]
    check_layer(layer, 2 * inputs() + 0.5)


@pytest.mark.parametrize("mode", ["inverted", "classic"])
def test_dropout_fixed_mask(mode):
    mask = np.random.default_rng(3).random((6, 5)) >= 0.4
    check_layer(Dropout(0.4, mode), inputs(), mask=mask)


def test_shift_noise_fixed_draw():
    rng = np.random.default_rng(4)
    check_layer(ShiftNoise(0.5), inputs(), shift=(rng.uniform(-0.5, 0.5, 5), rng.uniform(-0.5, 0.5, 5)))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation(name):
    check_layer(ACTIVATIONS[name](), 2 * inputs(away_from_zero=True))


def test_softmax_cross_entropy():
    logits, y = 3 * inputs((7, 4)), np.random.default_rng(1).integers(0, 4, 7)
    loss = SoftmaxCrossEntropy()
    loss.forward(logits, y)
    assert_close(loss.backward(), numeric_grad(lambda: loss.forward(logits, y), logits))


def test_mse():
    pred, target = inputs((6, 3)), inputs((6, 3), seed=1)
    loss = MSE()
    loss.forward(pred, target)
    assert_close(loss.backward(), numeric_grad(lambda: loss.forward(pred, target), pred))


@pytest.mark.parametrize("l1, l2", [(0.0, 0.3), (0.2, 0.0), (0.2, 0.3)])
def test_penalties(l1, l2):
    weights = [inputs((4, 3), away_from_zero=True), inputs((3, 2), seed=1, away_from_zero=True)]
    grads = [np.zeros_like(W) for W in weights]
    add_penalty_grads(weights, grads, l1, l2, "subgradient")
    for W, g in zip(weights, grads):
        assert_close(g, numeric_grad(lambda: penalty(weights, l1, l2), W))


@pytest.mark.parametrize("norm, activation, dropout_mode, loss_name, shift_noise", [
    ("batchnorm", "relu", "inverted", "cross_entropy", 0.0),
    ("layernorm", "tanh", "classic", "mse", 0.0),
    ("none", "gelu", "inverted", "cross_entropy", 0.0),
    ("batchnorm", "tanh", "inverted", "cross_entropy", 0.5),
])
def test_whole_mlp(norm, activation, dropout_mode, loss_name, shift_noise):
    """Loss + (l2/2)·ΣW² of a whole MLP (training mode, dropout masks and shift-noise draws fixed)
    against finite differences for every parameter."""
    rng = np.random.default_rng(4)
    model = MLP(3, [5, 4], 2, activation=activation, norm=norm, dropout_rates=[0.3, 0.2],
                dropout_mode=dropout_mode, shift_noise=shift_noise, rng=rng, dtype=np.float64)
    for _, p in model.parameters():  # γ, β away from 1, 0 and nonzero biases: nothing trivial
        p += 0.3 * rng.standard_normal(p.shape)
    X = rng.standard_normal((8, 3))
    y = rng.integers(0, 2, 8) if loss_name == "cross_entropy" else rng.standard_normal((8, 2))
    loss, l2 = (SoftmaxCrossEntropy() if loss_name == "cross_entropy" else MSE()), 0.05
    dropouts = [l for l in model.layers if l.kind in ("dropout", "shift_noise")]
    assert len(dropouts) == (4 if shift_noise else 2)

    def f():
        for d in dropouts:  # the same seed each call: the same (fixed) masks and shifts
            d.rng = np.random.default_rng(7)
        return loss.forward(model.forward(X, True), y) + penalty(model.dense_weights(), 0.0, l2)

    f()
    model.backward(loss.backward())
    grads = model.gradients()
    decay = [g for g, m in zip(grads, model.decay_mask()) if m]
    add_penalty_grads(model.dense_weights(), decay, 0.0, l2, "subgradient")
    grads = [g.copy() for g in grads]
    for (name, p), g in zip(model.parameters(), grads):
        numeric = numeric_grad(f, p)
        if norm == "batchnorm" and name in ("dense0.b", "dense1.b"):
            # BatchNorm subtracts the batch mean: a bias just before it has no effect, and no grad
            assert np.abs(g).max() < 1e-12 and np.abs(numeric).max() < 1e-8, name
            continue
        assert_close(g, numeric, name)
