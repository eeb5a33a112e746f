"""Behaviour of initializers, layers, losses, regularizers and the MLP (numbers vs torch live in
test_torch_layers.py, gradients in test_gradcheck.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dlexp.nn.activations import ACTIVATIONS
from dlexp.errors import ConfigError, DataError
from dlexp.nn.init import INITIALIZERS
from dlexp.nn.layers import BatchNorm, Dense, Dropout, LayerNorm, ShiftNoise
from dlexp.nn.losses import LOSSES, MSE, SoftmaxCrossEntropy, cross_entropy, mse
from dlexp.nn.model import MLP, load_npz
from dlexp.nn.regularizers import add_penalty_grads, penalty, proximal_l1, weight_stats


def rand(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def mlp(**kw):
    args = dict(n_in=3, hidden=[8, 6], n_out=2, rng=np.random.default_rng(0))
    args.update(kw)
    return MLP(args.pop("n_in"), args.pop("hidden"), args.pop("n_out"), **args)


# ---- init ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, spread", [
    ("he_normal", lambda i, o: math.sqrt(2 / i)),
    ("xavier_normal", lambda i, o: math.sqrt(2 / (i + o))),
    ("he_uniform", lambda i, o: math.sqrt(6 / i) / math.sqrt(3)),  # std of U(-a, a) is a/√3
    ("xavier_uniform", lambda i, o: math.sqrt(6 / (i + o)) / math.sqrt(3)),
])
def test_initializer_scale(name, spread):
    W = INITIALIZERS[name](np.random.default_rng(0), 400, 300, np.float64)
    assert W.shape == (400, 300)
    assert abs(W.mean()) < 0.01 * spread(400, 300)
    assert W.std() == pytest.approx(spread(400, 300), rel=0.01)
    if "uniform" in name:
        assert np.abs(W).max() <= math.sqrt(3) * spread(400, 300)


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_initializer_float32_draws_the_float64_weights(name):
    W64 = INITIALIZERS[name](np.random.default_rng(5), 7, 3, np.float64)
    W32 = INITIALIZERS[name](np.random.default_rng(5), 7, 3, np.float32)
    assert W32.dtype == np.float32
    np.testing.assert_array_equal(W32, W64.astype(np.float32))


def assert_uniform(x, bound):
    """x (n,) looks like n draws of U(-bound, bound): inside the bound, reaching it, and its mean
    and mean square within 5 standard errors of 0 and bound²/3.

    For U(-a, a): Var(x) = a²/3 and Var(x²) = a⁴/5 - a⁴/9 = 4a⁴/45, so the standard errors of the
    mean and of the mean square are a/√(3n) and a²·√(4/45)/√n. The largest |x| falls short of a
    by more than 20a/n with probability (1 - 20/n)^n ≈ e^-20.
    """
    n = x.size
    assert np.abs(x).max() <= bound
    assert np.abs(x).max() >= bound * (1 - 20 / n)
    assert abs(x.mean()) < 5 * bound / math.sqrt(3 * n)
    assert abs((x**2).mean() - bound**2 / 3) < 5 * bound**2 * math.sqrt(4 / 45) / math.sqrt(n)


def test_torch_init_is_nn_linear_default():
    """W and b ~ U(±1/√fan_in): kaiming_uniform_(a=√5) has gain √(1/3), bound gain·√(3/fan_in)."""
    from dlexp.nn.init import BIASES

    rng = np.random.default_rng(0)
    W = INITIALIZERS["torch"](rng, 400, 300, np.float64)
    assert W.shape == (400, 300)
    assert_uniform(W.ravel(), 1 / math.sqrt(400))
    b = BIASES["torch"](rng, 400, 100_000, np.float64)
    assert b.shape == (100_000,)
    assert_uniform(b, 1 / math.sqrt(400))
    b32 = BIASES["torch"](np.random.default_rng(5), 7, 3, np.float32)
    assert b32.dtype == np.float32
    np.testing.assert_array_equal(b32, BIASES["torch"](np.random.default_rng(5), 7, 3, np.float64).astype(np.float32))


def test_torch_init_draws_like_torch():
    """The same distribution as torch.nn.Linear's own weights and biases (two-sample KS test)."""
    torch = pytest.importorskip("torch")
    from scipy import stats

    from dlexp.nn.init import BIASES

    torch.manual_seed(0)
    weight = torch.nn.Linear(400, 300).weight.detach().double().numpy().ravel()  # 120,000 draws
    bias = torch.nn.Linear(400, 30_000).bias.detach().double().numpy()
    rng = np.random.default_rng(0)
    ours_W = INITIALIZERS["torch"](rng, 400, 300, np.float64).ravel()
    ours_b = BIASES["torch"](rng, 400, 30_000, np.float64)
    for theirs, ours in ((weight, ours_W), (bias, ours_b)):
        assert np.abs(theirs).max() <= 1 / math.sqrt(400) and np.abs(ours).max() <= 1 / math.sqrt(400)
        assert stats.ks_2samp(theirs, ours).pvalue > 1e-3
    # the KS test does tell inits apart: he_uniform's bound is √6 times larger
    he = INITIALIZERS["he_uniform"](np.random.default_rng(0), 400, 300, np.float64).ravel()
    assert stats.ks_2samp(weight, he).pvalue < 1e-12


# ---- layers: shapes, dtype, the protocol ---------------------------------------------------------


def all_layers(dtype, n=5):
    rng = np.random.default_rng(0)
    layers = [Dense(rand((n, n), dtype=dtype), np.zeros(n, dtype)), BatchNorm(n, dtype=dtype),
              LayerNorm(n, dtype=dtype),
              Dropout(0.5, "inverted", rng), Dropout(0.5, "classic", rng), ShiftNoise(0.5, rng)]
    return layers + [cls() for cls in ACTIVATIONS.values()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_every_layer_keeps_shape_and_dtype(dtype, training):
    x, dout = rand((6, 5), dtype=dtype), rand((6, 5), seed=1, dtype=dtype)
    for layer in all_layers(dtype):
        y = layer.forward(x, training)
        dx = layer.backward(dout)
        assert y.shape == dx.shape == x.shape, layer
        assert y.dtype == dx.dtype == dtype, layer
        assert all(g.dtype == dtype and g.shape == layer.params[k].shape
                   for k, g in layer.grads.items()), layer
        assert set(layer.grads) == set(layer.params), layer
        assert all(b.dtype == dtype for b in layer.buffers.values()), layer


def test_layers_do_not_modify_inputs_and_keep_their_arrays():
    x, dout = rand((6, 5)), rand((6, 5), seed=1)
    x0, dout0 = x.copy(), dout.copy()
    for layer in all_layers(np.float64):
        arrays = {k: id(v) for k, v in (*layer.params.items(), *layer.grads.items(),
                                           *layer.buffers.items())}
        for training in (True, False):
            layer.forward(x, training)
            layer.backward(dout)
        np.testing.assert_array_equal(x, x0, err_msg=repr(layer))
        np.testing.assert_array_equal(dout, dout0, err_msg=repr(layer))
        after = {k: id(v) for k, v in (*layer.params.items(), *layer.grads.items(),
                                          *layer.buffers.items())}
        assert after == arrays, f"{layer!r} rebound an array that optimizers hold"


def test_grads_are_overwritten_not_accumulated():
    layer = Dense(rand((5, 3)), rand(3, seed=1))
    x, dout = rand((4, 5)), rand((4, 3), seed=2)
    layer.forward(x, True)
    layer.backward(dout)
    first = layer.grads["W"].copy()
    layer.backward(dout)
    np.testing.assert_array_equal(layer.grads["W"], first)
    np.testing.assert_allclose(first, x.T @ dout)


def test_reprs():
    assert repr(Dense(np.zeros((64, 32)), np.zeros(32))) == "Dense(64 -> 32)"
    assert repr(BatchNorm(32)) == "BatchNorm(32, momentum=0.1)"
    assert repr(LayerNorm(8)) == "LayerNorm(8)"
    assert repr(Dropout(0.5)) == "Dropout(0.5, inverted)"
    assert repr(ACTIVATIONS["relu"]()) == "ReLU()"
    assert repr(ACTIVATIONS["leaky_relu"]()) == "LeakyReLU(0.01)"


def test_activations_do_not_overflow():
    x = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for cls in ACTIVATIONS.values():
            layer = cls()
            assert np.isfinite(layer.forward(x, True)).all(), layer
            assert np.isfinite(layer.backward(np.ones_like(x))).all(), layer


# ---- batchnorm ----------------------------------------------------------------------------------


def test_batchnorm_training_normalises_and_updates_running_stats():
    x = 3 * rand((50, 4)) + 2
    bn = BatchNorm(4, momentum=0.1, dtype=np.float64)
    y = bn.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), x.var(axis=0) / (x.var(axis=0) + 1e-5))
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(bn.buffers["running_var"], 0.9 + 0.1 * x.var(axis=0, ddof=1))
    assert bn.num_batches_tracked == 1
    assert set(bn.buffers) == {"running_mean", "running_var"}


def test_batchnorm_eval_uses_running_stats_and_leaves_them_alone():
    bn = BatchNorm(4, dtype=np.float64)
    bn.buffers["running_mean"][...] = 1.0
    bn.buffers["running_var"][...] = 4.0
    x = rand((3, 4))
    np.testing.assert_allclose(bn.forward(x, training=False), (x - 1.0) / np.sqrt(4.0 + 1e-5))
    np.testing.assert_array_equal(bn.buffers["running_mean"], 1.0)
    assert bn.num_batches_tracked == 0
    assert bn.forward(x[:1], training=False).shape == (1, 4)  # a batch of 1 is fine in eval


def test_batchnorm_cumulative_average_when_momentum_is_none():
    bn = BatchNorm(3, momentum=None, dtype=np.float64)
    batches = [2 * rand((10, 3), seed=s) + s for s in range(4)]
    for x in batches:
        bn.forward(x, training=True)
    np.testing.assert_allclose(bn.buffers["running_mean"], np.mean([b.mean(0) for b in batches], 0))
    np.testing.assert_allclose(bn.buffers["running_var"],
                               np.mean([b.var(0, ddof=1) for b in batches], 0))


def test_batchnorm_refuses_a_training_batch_of_one():
    with pytest.raises(ValueError, match="batchnorm needs more than 1 sample per training batch"):
        BatchNorm(4).forward(rand((1, 4), dtype=np.float32), training=True)


# ---- layernorm ----------------------------------------------------------------------------------


def test_layernorm_is_per_sample_and_the_same_in_eval():
    ln = LayerNorm(6, dtype=np.float64)
    x = 5 * rand((4, 6)) - 3
    y = ln.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), x.var(axis=1) / (x.var(axis=1) + 1e-5))
    np.testing.assert_array_equal(ln.forward(x, training=False), y)
    np.testing.assert_array_equal(ln.forward(x[:1], training=True), y[:1])  # needs no batch


# ---- dropout ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_inverted_dropout_keeps_the_expectation(rate):
    x = np.ones((400, 250), np.float32)
    y = Dropout(rate, "inverted", np.random.default_rng(0)).forward(x, training=True)
    assert y.dtype == np.float32
    assert set(np.unique(y)) == {0.0, np.float32(1 / (1 - rate))}
    assert (y != 0).mean() == pytest.approx(1 - rate, abs=0.01)
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    np.testing.assert_array_equal(Dropout(rate).forward(x, training=False), x)


def test_classic_dropout_scales_at_eval():
    x = rand((300, 200), dtype=np.float32)
    layer = Dropout(0.3, "classic", np.random.default_rng(0))
    y = layer.forward(x, training=True)
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept])  # no rescaling while training
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(layer.forward(x, training=False), x * 0.7)
    np.testing.assert_allclose(layer.backward(x), x * 0.7)


def test_dropout_mask_comes_from_the_run_rng():
    x = np.ones((5, 7), np.float32)
    a = Dropout(0.5, rng=np.random.default_rng(3)).forward(x, True)
    b = Dropout(0.5, rng=np.random.default_rng(3)).forward(x.astype(np.float64), True)
    np.testing.assert_array_equal(a, b)  # same seed, same mask, whatever the dtype
    mask = np.random.default_rng(3).random((5, 7)) >= 0.5
    np.testing.assert_array_equal(a != 0, mask)
    layer = Dropout(0.5, rng=np.random.default_rng(3))
    layer.forward(x, True, mask=np.ones((5, 7), bool))  # an explicit mask draws nothing
    np.testing.assert_array_equal(layer.forward(x, True), a)


def test_dropout_rate_zero_is_identity_and_draws_nothing():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    x = rand((4, 3))
    layer = Dropout(0.0, "classic", rng)
    assert layer.forward(x, True) is x and layer.forward(x, False) is x
    assert layer.backward(x) is x
    assert rng.bit_generator.state == state


@pytest.mark.parametrize("rate, mode", [(1.0, "inverted"), (-0.1, "inverted"), (0.5, "gaussian")])
def test_dropout_rejects_bad_settings(rate, mode):
    with pytest.raises(ValueError):
        Dropout(rate, mode)


# ---- losses -------------------------------------------------------------------------------------


def test_loss_registry():
    assert set(LOSSES) == {"cross_entropy", "mse"}


def test_cross_entropy_is_stable_and_uniform_at_zero_logits():
    assert cross_entropy(np.zeros((5, 4)), np.arange(5) % 4) == pytest.approx(math.log(4))
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = SoftmaxCrossEntropy()
        assert loss.forward(logits, np.array([0, 0])) == pytest.approx(1e4 / 2)
        d = loss.backward()
    assert d.dtype == np.float32 and np.isfinite(d).all()


@given(arrays(np.float64, (4, 3), elements=st.floats(-50, 50)), st.lists(
    st.integers(0, 2), min_size=4, max_size=4))
@settings(max_examples=50, deadline=None)
def test_cross_entropy_gradient_rows_sum_to_zero(logits, labels):
    loss = SoftmaxCrossEntropy()
    assert loss.forward(logits, np.array(labels)) >= 0
    np.testing.assert_allclose(loss.backward().sum(axis=1), 0, atol=1e-15)


def test_mse_is_a_mean_over_all_elements():
    pred, target = rand((4, 3)), rand((4, 3), seed=1)
    assert mse(pred, target) == pytest.approx(((pred - target) ** 2).mean())
    loss = MSE()
    loss.forward(pred, target)
    np.testing.assert_allclose(loss.backward(), 2 * (pred - target) / 12)


def test_mse_accepts_a_flat_target_for_one_output_and_keeps_float32():
    pred = rand((5, 1), dtype=np.float32)
    target = rand(5, seed=1)  # (N,) float64: not broadcast to (N, N), not upcast
    loss = MSE()
    expected = ((pred[:, 0] - target) ** 2).mean()
    assert loss.forward(pred, target) == pytest.approx(expected, rel=1e-6)
    assert loss.backward().dtype == np.float32 and loss.backward().shape == (5, 1)
    with pytest.raises(ValueError):
        mse(rand((5, 2)), rand(5))


# ---- regularizers -------------------------------------------------------------------------------


def test_penalty_value():
    weights = [np.array([[1.0, -2.0]]), np.array([[0.5], [-0.5]])]
    assert penalty(weights, 0.1, 0.0) == pytest.approx(0.1 * 4.0)
    assert penalty(weights, 0.0, 0.2) == pytest.approx(0.1 * 5.5)
    assert penalty(weights, 0.1, 0.2) == pytest.approx(0.4 + 0.55)
    assert penalty(weights, 0.0, 0.0) == 0.0


def test_penalty_grads_in_place_and_by_mode():
    W = np.array([[1.0, -2.0, 0.0]], np.float32)
    g = np.ones_like(W)
    add_penalty_grads([W], [g], 0.1, 0.5, "subgradient")
    np.testing.assert_allclose(g, 1 + 0.5 * W + 0.1 * np.sign(W))
    assert g.dtype == np.float32
    g = np.ones_like(W)
    add_penalty_grads([W], [g], 0.1, 0.5, "proximal")  # L1 is left to proximal_l1
    np.testing.assert_allclose(g, 1 + 0.5 * W)
    with pytest.raises(ValueError, match="l1_mode"):
        add_penalty_grads([W], [g], 0.1, 0.5, "lasso")


def test_proximal_l1_soft_thresholds_to_exact_zeros():
    W = np.array([[0.5, -0.5, 0.05, -0.05, 0.0]], np.float32)
    before = W
    proximal_l1([W], lr=0.1, l1=1.0)
    assert W is before and W.dtype == np.float32
    np.testing.assert_allclose(W, [[0.4, -0.4, 0.0, 0.0, 0.0]], atol=1e-7)
    assert weight_stats([W])["zero_fraction"] == 0.6


@given(arrays(np.float64, 20, elements=st.floats(-10, 10)), st.floats(0, 5))
def test_proximal_l1_is_the_soft_threshold(W, t):
    expected = np.sign(W) * np.maximum(np.abs(W) - t, 0)
    proximal_l1([W], lr=1.0, l1=t)
    np.testing.assert_array_equal(W, expected)


def test_weight_stats():
    stats = weight_stats([np.array([[3.0, -4.0]]), np.array([0.0, 1e-4, 0.0, 1.0])])
    assert stats == {"l1_norm": pytest.approx(8.0001),
                     "l2_norm": pytest.approx(math.sqrt(26 + 1e-8)),
                     "near_zero_fraction": 0.5, "zero_fraction": 2 / 6}
    assert all(type(v) is float for v in stats.values())


# ---- MLP ----------------------------------------------------------------------------------------


def test_mlp_layer_stack_and_names():
    model = mlp(norm="batchnorm", dropout_rates=[0.5, 0.0], activation="tanh")
    assert [l.kind for l in model.layers] == [
        "dense", "batchnorm", "tanh", "dropout", "dense", "batchnorm", "tanh", "dense"]
    assert [n for n, _ in model.parameters()] == [
        "dense0.W", "dense0.b", "batchnorm0.gamma", "batchnorm0.beta",
        "dense1.W", "dense1.b", "batchnorm1.gamma", "batchnorm1.beta", "dense2.W", "dense2.b"]
    assert model.decay_mask() == [True, False, False, False, True, False, False, False, True, False]
    assert [W.shape for W in model.dense_weights()] == [(3, 8), (8, 6), (6, 2)]
    assert [g.shape for g in model.gradients()] == [p.shape for _, p in model.parameters()]
    assert model.n_params == (3 * 8 + 8 + 16) + (8 * 6 + 6 + 12) + (6 * 2 + 2)


def test_mlp_without_hidden_layers_is_linear():
    model = mlp(hidden=[])
    assert [l.kind for l in model.layers] == ["dense"]
    X = rand((4, 3), dtype=np.float32)
    np.testing.assert_allclose(model.forward(X, True), X @ model.dense_weights()[0], rtol=1e-6)
    assert model.n_params == 3 * 2 + 2


def test_mlp_repr_shows_the_stack_and_size():
    text = repr(mlp(norm="layernorm", dropout_rates=[0.1, 0.1]))
    for part in ("dense0", "Dense(3 -> 8)", "LayerNorm(8)", "ReLU()", "Dropout(0.1, inverted)",
                 "Dense(6 -> 2)", "128 parameters", "float32"):
        assert part in text, part


def test_mlp_init_is_seeded_in_layer_order_with_zero_biases():
    a, b = mlp(), mlp()
    for (_, p), (_, q) in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
    rng = np.random.default_rng(0)
    he = INITIALIZERS["he_normal"]
    np.testing.assert_array_equal(a.dense_weights()[0], he(rng, 3, 8, np.float32))
    np.testing.assert_array_equal(a.dense_weights()[1], he(rng, 8, 6, np.float32))
    assert all(not p.any() for n, p in a.parameters() if n.endswith(".b"))


@pytest.mark.parametrize("name", sorted(set(INITIALIZERS) - {"torch"}))
def test_mlp_init_other_than_torch_draws_weights_only(name):
    model, rng = mlp(init=name), np.random.default_rng(0)
    for W, (fan_in, fan_out) in zip(model.dense_weights(), [(3, 8), (8, 6), (6, 2)]):
        np.testing.assert_array_equal(W, INITIALIZERS[name](rng, fan_in, fan_out, np.float32))
    assert all(not p.any() for n, p in model.parameters() if n.endswith(".b"))


def test_mlp_torch_init_draws_each_layers_weights_then_biases():
    from dlexp.nn.init import BIASES

    model, rng = mlp(init="torch"), np.random.default_rng(0)
    params = dict(model.parameters())
    for i, (fan_in, fan_out) in enumerate([(3, 8), (8, 6), (6, 2)]):
        np.testing.assert_array_equal(params[f"dense{i}.W"], INITIALIZERS["torch"](rng, fan_in, fan_out, np.float32))
        np.testing.assert_array_equal(params[f"dense{i}.b"], BIASES["torch"](rng, fan_in, fan_out, np.float32))
        assert params[f"dense{i}.b"].any() and np.abs(params[f"dense{i}.b"]).max() <= 1 / math.sqrt(fan_in)


def test_mlp_float32_end_to_end():
    model = mlp(norm="batchnorm", dropout_rates=[0.3, 0.3], dtype=np.float32)
    out = model.forward(rand((10, 3)), True)  # float64 data is cast, not mixed in
    assert out.dtype == np.float32
    loss = SoftmaxCrossEntropy()
    loss.forward(out, np.arange(10) % 2)
    model.backward(loss.backward())
    assert all(g.dtype == np.float32 for g in model.gradients())


def test_mlp_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="unknown activation 'rleu' \\(did you mean 'relu'\\?\\)"):
        mlp(activation="rleu")
    with pytest.raises(ConfigError, match="valid: none, batchnorm, layernorm"):
        mlp(norm="groupnorm")
    with pytest.raises(ConfigError, match="model.dropout.mode: unknown dropout mode 'invert'"):
        mlp(dropout_mode="invert")
    with pytest.raises(ValueError, match="dropout rates"):
        mlp(dropout_rates=[0.5])


def test_predict_is_chunked_eval_and_leaves_running_stats():
    model = mlp(norm="batchnorm", dropout_rates=[0.5, 0.5])
    X = rand((50, 3), dtype=np.float32)
    for _ in range(3):
        model.forward(X, True)
    state = model.state_dict()
    full = model.forward(X, training=False)
    np.testing.assert_allclose(model.predict(X, batch=7), full, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(X), model.predict(X))  # no dropout in eval
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, state[k])


def test_preactivations_are_the_inputs_to_each_activation():
    model = mlp(norm="layernorm")
    X = rand((9, 3), dtype=np.float32)
    pre = model.preactivations(X)
    assert [p.shape for p in pre] == [(9, 8), (9, 6)]
    h = model.layers[1].forward(model.layers[0].forward(X, False), False)  # dense0 -> layernorm0
    np.testing.assert_array_equal(pre[0], h)


def test_state_dict_round_trip(tmp_path):
    a = mlp(norm="batchnorm", dropout_rates=[0.2, 0.2])
    X = rand((20, 3), dtype=np.float32)
    a.forward(X, True)  # running stats move away from 0 / 1
    state = a.state_dict()
    assert list(state) == [
        "dense0.W", "dense0.b", "batchnorm0.gamma", "batchnorm0.beta", "batchnorm0.running_mean",
        "batchnorm0.running_var", "dense1.W", "dense1.b", "batchnorm1.gamma", "batchnorm1.beta",
        "batchnorm1.running_mean", "batchnorm1.running_var", "dense2.W", "dense2.b"]
    state["dense0.W"][0, 0] += 1  # a copy: the model does not change
    assert a.state_dict()["dense0.W"][0, 0] != state["dense0.W"][0, 0]

    np.savez(tmp_path / "model.npz", **a.state_dict())
    b = mlp(norm="batchnorm", dropout_rates=[0.2, 0.2], rng=np.random.default_rng(9))
    held = [p for _, p in b.parameters()]
    b.load_state_dict(load_npz(tmp_path / "model.npz"), source="model.npz")
    assert all(p is q for p, (_, q) in zip(held, b.parameters()))  # loaded in place
    np.testing.assert_array_equal(b.predict(X), a.predict(X))


def test_load_state_dict_mismatch_names_source_and_layer():
    state = mlp(n_out=3).state_dict()
    model = mlp(n_out=2)
    before = model.state_dict()
    with pytest.raises(ConfigError) as err:
        model.load_state_dict(state, source="model.init_from: /x/model.npz")
    assert str(err.value) == "\n".join([
        "model.init_from: /x/model.npz: dense2.W has shape (6, 3), this model needs (6, 2)",
        "model.init_from: /x/model.npz: dense2.b has shape (3,), this model needs (2,)"])
    for k, v in model.state_dict().items():  # all or nothing
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_missing_and_unexpected_keys():
    with pytest.raises(ConfigError, match="batchnorm0.gamma is missing") as err:
        mlp(norm="batchnorm").load_state_dict(mlp().state_dict(), source="a.npz")
    assert "a.npz: batchnorm0.running_var is missing" in str(err.value)
    with pytest.raises(ConfigError, match="a.npz: unexpected keys layernorm0.beta, layernorm0"):
        mlp().load_state_dict(mlp(norm="layernorm").state_dict(), source="a.npz")


def test_load_npz_errors_name_the_path(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(DataError, match=f"{missing}: no such file"):
        load_npz(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match=str(garbage)):
        load_npz(garbage)
    good = tmp_path / "good.npz"
    np.savez(good, **{"dense0.W": np.ones((300, 300))})
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(DataError, match=str(truncated)):
        load_npz(truncated)
    npy = tmp_path / "array.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(DataError, match="not an .npz archive"):
        load_npz(npy)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=str(pickled)):
        load_npz(pickled)
    assert load_npz(good)["dense0.W"].shape == (300, 300)


def test_penalize_bias_puts_the_dense_biases_under_the_penalty(tmp_path):
    """One full-batch SGD step from the same weights: with penalize_bias the biases move by the
    extra −lr·l2·b, the weights exactly as without it; the reported penalty gains (l2/2)·Σb²."""
    from dlexp.config.load import config_from_dict
    from dlexp.data.datasets import load_dataset
    from dlexp.training.train import fit

    def run(**reg):
        raw = {"name": "pb", "data": {"name": "moons", "n_samples": 80}, "model": {"hidden": [6]},
               "optimizer": {"name": "sgd", "lr": 0.1}, "train": {"epochs": 1, "batch_size": "full"},
               "regularization": reg}
        if start.exists():
            raw["model"]["init_from"] = str(start)
        exp = config_from_dict(raw)
        return fit(exp, load_dataset(exp.data, tmp_path), seed=0)

    start = tmp_path / "start.npz"
    np.savez(start, **run().state)  # one plain step: biases no longer 0
    b0 = {k: v for k, v in load_npz(start).items() if k.endswith(".b")}
    assert all(np.abs(b).max() > 0 for b in b0.values())
    plain, biased = run(l2=0.5), run(l2=0.5, penalize_bias=True)
    for k, v in plain.state.items():
        if k.endswith(".W"):
            np.testing.assert_array_equal(biased.state[k], v)
        else:
            np.testing.assert_allclose(biased.state[k], v - 0.1 * 0.5 * b0[k], rtol=1e-5, atol=1e-7)
    extra = 0.25 * sum(float(np.sum(biased.state[k].astype(np.float64) ** 2)) for k in b0)
    assert biased.summary["penalty"] == pytest.approx(plain.summary["penalty"] + extra, rel=1e-5)


def test_init_gain_scales_every_dense_weight_and_nothing_else():
    """model.init_gain multiplies the init's W draws (the same draws: the rng stream is untouched);
    biases, BatchNorm's γ and β keep their values. At its default 1.0 the run id of 0.1.0 stays."""
    from dlexp.config.load import config_from_dict, run_id
    from dlexp.nn.model import MLP

    def model(gain, init="torch"):
        return MLP(3, [5, 4], 2, init=init, init_gain=gain, norm="batchnorm", rng=np.random.default_rng(7),
                   dtype=np.float64)

    for init in ("he_normal", "torch"):
        base, scaled = model(1.0, init).state_dict(), model(0.25, init).state_dict()
        for key, v in base.items():
            want = 0.25 * v if key.endswith(".W") and key.startswith("dense") else v
            np.testing.assert_array_equal(scaled[key], want, err_msg=f"{init}: {key}")
    assert run_id(config_from_dict({"name": "any", "model": {"init_gain": 1.0}})) == "9519da3f9d43"
    assert run_id(config_from_dict({"name": "any", "model": {"init_gain": 0.1}})) != "9519da3f9d43"


def test_shift_noise_draws_a_new_scale_and_shift_per_unit_every_step_and_is_off_in_eval():
    """y = x·e^u + v with u, v ~ U(±a) per unit, a fresh draw per training forward; eval: y = x.
    Two probe rows 0 and 1 read the draw back: row 0 is v, row 1 − row 0 is e^u."""
    from dlexp.config.load import config_from_dict, run_id
    from dlexp.nn.model import MLP

    a, n = 0.5, 64
    layer = ShiftNoise(a, np.random.default_rng(0))
    probe = np.stack([np.zeros(n), np.ones(n)])
    draws = [layer.forward(probe, True) for _ in range(400)]
    v = np.array([d[0] for d in draws])
    u = np.log(np.array([d[1] - d[0] for d in draws]))
    for x in (u, v):
        assert -a <= x.min() < -0.95 * a and 0.95 * a < x.max() <= a  # the whole interval, no more
        assert abs(x.mean()) < 0.02 and abs(x.std() - a / np.sqrt(3)) < 0.01  # uniform
    assert np.abs(np.diff(v, axis=0)).min() > 0  # a new draw every step, for every unit
    x = rand((6, n))
    np.testing.assert_array_equal(layer.forward(x, False), x)
    np.testing.assert_array_equal(layer.backward(x), x)
    np.testing.assert_array_equal(ShiftNoise(0.0).forward(x, True), x)
    with pytest.raises(ValueError, match="rng"):
        ShiftNoise(0.5).forward(x, True)
    # in the MLP: after each hidden norm, before the activation; no parameters, so no npz keys
    kinds = [l.kind for l in MLP(3, [5, 4], 2, norm="batchnorm", shift_noise=a, rng=np.random.default_rng(1)).layers]
    assert kinds == ["dense", "batchnorm", "shift_noise", "relu", "dense", "batchnorm", "shift_noise", "relu", "dense"]
    plain = MLP(3, [5, 4], 2, norm="batchnorm", rng=np.random.default_rng(1)).state_dict()
    noisy = MLP(3, [5, 4], 2, norm="batchnorm", shift_noise=a, rng=np.random.default_rng(1)).state_dict()
    assert plain.keys() == noisy.keys() and all(np.array_equal(plain[k], noisy[k]) for k in plain)
    assert run_id(config_from_dict({"name": "any", "model": {"shift_noise": 0.0}})) == "9519da3f9d43"
    assert run_id(config_from_dict({"name": "any", "model": {"shift_noise": 0.5}})) != "9519da3f9d43"
