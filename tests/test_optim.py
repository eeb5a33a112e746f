"""Optimizers: one step by hand, agreement with torch.optim (live and golden), the contract.

Trajectories are compared at every one of 50 steps in float64 to rtol 1e-10. The golden file
tests/golden/optim.npz is written by scripts/make_golden_optim.py from torch, so the same numbers
are checked where torch is not installed.
"""

import inspect
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from helpers import load_script
from dlexp.nn.optim import OPTIMIZERS, SGD, Adam, clip_grad_norm

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = np.load(ROOT / "tests" / "golden" / "optim.npz")  # allow_pickle=False: data only
CASES = json.loads(str(GOLDEN["cases"]))
N_PARAMS = sum(1 for k in GOLDEN.files if k.startswith("param"))
N_STEPS = GOLDEN["grads0"].shape[0]
RTOL = 1e-10


def golden_script():
    """scripts/make_golden_optim.py as a module: the torch reference runners."""
    return load_script("make_golden_optim")


def dlexp_trajectory(case, dtype=np.float64):
    """Our params after each step, from the golden file's initial params and gradients."""
    opt = OPTIMIZERS[case["optimizer"]](**case["kwargs"])
    params = [GOLDEN[f"param{j}"].astype(dtype) for j in range(N_PARAMS)]
    traj = [np.empty((N_STEPS,) + p.shape, dtype=dtype) for p in params]
    for t in range(N_STEPS):
        if t == case["halve_lr_at"]:
            opt.lr *= 0.5
        grads = [GOLDEN[f"grads{j}"][t].astype(dtype) for j in range(N_PARAMS)]  # fresh copies
        opt.step(params, grads, case["decay"])
        for j, p in enumerate(params):
            assert p.dtype == dtype
            traj[j][t] = p
    return traj


def case_id(case):
    return case["name"]


def test_golden_covers_every_optimizer_and_option():
    names = {c["name"] for c in CASES}
    assert {c["optimizer"] for c in CASES} == set(OPTIMIZERS)
    assert {"sgd_plain", "sgd_momentum_dampening", "sgd_nesterov", "sgd_weight_decay", "adagrad",
            "adadelta", "rmsprop_plain", "rmsprop_centered_momentum", "rmsprop_weight_decay",
            "adam_plain", "adam_amsgrad", "adam_weight_decay", "adamw", "adamw_amsgrad"} <= names
    # every weight-decay optimizer is checked with a parameter excluded from decay
    masked = {c["optimizer"] for c in CASES if c["decay"] is not None and not all(c["decay"])}
    assert masked == set(OPTIMIZERS)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_golden_torch_trajectory(case):
    ours = dlexp_trajectory(case)
    for j in range(N_PARAMS):
        np.testing.assert_allclose(ours[j], GOLDEN[f"{case['name']}.param{j}"], rtol=RTOL, atol=0,
                                   err_msg=f"{case['name']} param{j}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_live_torch_trajectory(case):
    pytest.importorskip("torch")
    inputs = {k: GOLDEN[k] for k in GOLDEN.files}
    theirs = golden_script().torch_trajectory(case, inputs)
    ours = dlexp_trajectory(case)
    for j in range(N_PARAMS):
        np.testing.assert_allclose(ours[j], theirs[j], rtol=RTOL, atol=0,
                                   err_msg=f"{case['name']} param{j}")
        # the committed golden file still says what this torch says
        golden = GOLDEN[f"{case['name']}.param{j}"]
        np.testing.assert_allclose(golden, theirs[j], rtol=RTOL, atol=0)


def test_sgd_steps_by_the_written_formula():
    """Two SGD steps with momentum, dampening and weight decay, worked out by hand."""
    lr, mu, tau, wd = 0.1, 0.9, 0.5, 0.01
    p = np.array([1.0, -2.0])
    g1, g2 = np.array([0.5, 0.25]), np.array([-1.0, 2.0])
    opt = SGD(lr=lr, momentum=mu, dampening=tau, weight_decay=wd)
    opt.step([p], [g1.copy()])
    # t = 1: g = g1 + wd·p0 = [0.51, 0.23]; b = g (no dampening at the first step); p = p0 − lr·b
    np.testing.assert_allclose(p, [1.0 - 0.1 * 0.51, -2.0 - 0.1 * 0.23], rtol=1e-15)
    b1 = np.array([0.51, 0.23])
    p1 = p.copy()
    opt.step([p], [g2.copy()])
    # t = 2: g = g2 + wd·p1; b = μ·b1 + (1 − τ)·g; p = p1 − lr·b
    g = g2 + wd * p1
    b2 = mu * b1 + (1 - tau) * g
    np.testing.assert_allclose(p, p1 - lr * b2, rtol=1e-15)
    np.testing.assert_allclose(opt.state[0]["momentum_buffer"], b2, rtol=1e-15)


def test_sgd_momentum_is_the_notes_velocity_form():
    """Notes: v ← γv + η∇J, θ ← θ − v. torch's b with v = lr·b gives the same trajectory."""
    rng = np.random.default_rng(1)
    eta, gamma = 0.05, 0.9
    p = rng.normal(size=5)
    theta, v = p.copy(), np.zeros(5)
    opt = SGD(lr=eta, momentum=gamma)
    for _ in range(30):
        g = rng.normal(size=5)
        v = gamma * v + eta * g
        theta = theta - v
        opt.step([p], [g.copy()])
    np.testing.assert_allclose(p, theta, rtol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float32_stays_float32(case):
    ours = dlexp_trajectory(case, dtype=np.float32)  # asserts the dtype after every step
    opt = OPTIMIZERS[case["optimizer"]](**case["kwargs"])
    opt.step([np.ones(3, np.float32)], [np.ones(3, np.float32)])
    assert all(a.dtype == np.float32 for s in opt.state.values() for a in s.values()
               if isinstance(a, np.ndarray))
    # and float32 follows the float64 trajectory to float32 accuracy
    for j in range(N_PARAMS):
        golden = GOLDEN[f"{case['name']}.param{j}"]
        np.testing.assert_allclose(ours[j], golden, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_updates_in_place_without_temporaries(case):
    """params are updated in place (views into one buffer see it) and, once the state exists,
    a step allocates nothing the size of a parameter."""
    rng = np.random.default_rng(0)
    flat = rng.normal(size=300_000).astype(np.float32)
    params = [flat[:200_000].reshape(1000, 200), flat[200_000:]]  # views: rebinding would miss
    decay = [True, False]
    opt = OPTIMIZERS[case["optimizer"]](**case["kwargs"])
    before = flat.copy()
    opt.step(params, [rng.normal(size=p.shape).astype(np.float32) for p in params], decay)
    assert np.shares_memory(params[0], flat) and not np.array_equal(flat, before)
    grads = [rng.normal(size=p.shape).astype(np.float32) for p in params]
    tracemalloc.start()
    opt.step(params, grads, decay)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 100_000, f"a step allocated {peak} bytes (params: {flat.nbytes} bytes)"


def test_decay_mask_excludes_a_parameter():
    for name, cls in OPTIMIZERS.items():
        p, q = np.ones(3), np.ones(3)
        opt = cls(lr=0.1, weight_decay=0.5)
        opt.step([p, q], [np.zeros(3), np.zeros(3)], decay=[True, False])
        assert np.all(q == 1.0), name  # zero gradient, no decay: q does not move
        assert np.all(p < 1.0), name   # decay alone shrinks p


def test_state_is_lazy_and_per_index():
    opt = Adam(lr=0.1)
    assert opt.state == {}
    opt.step([np.zeros(2), np.zeros(3)], [np.ones(2), np.ones(3)])
    assert sorted(opt.state) == [0, 1]
    assert opt.state[0]["step"] == 1 and opt.state[1]["exp_avg"].shape == (3,)


# torch's signatures (names, order, defaults), as config validation reads them
SIGNATURES = {
    "sgd": {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
    "adagrad": {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                "eps": 1e-10},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                "centered": False},
    "adam": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
             "amsgrad": False},
    "adamw": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2,
              "amsgrad": False},
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_signature_is_torchs(name):
    params = inspect.signature(OPTIMIZERS[name]).parameters
    assert {k: p.default for k, p in params.items()} == SIGNATURES[name]
    assert list(params) == list(SIGNATURES[name])  # lr first, torch's order
    assert repr(OPTIMIZERS[name]()).startswith(f"{OPTIMIZERS[name].__name__}(lr=")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_signature_matches_live_torch(name):
    torch = pytest.importorskip("torch")
    cls = getattr(torch.optim, OPTIMIZERS[name].__name__)
    # torch's device/implementation switches have no meaning here; AdamW is dlexp's
    # decoupled_weight_decay=True
    switches = {"params", "foreach", "maximize", "capturable", "differentiable", "fused",
                "decoupled_weight_decay"}
    theirs = {k: p.default for k, p in inspect.signature(cls).parameters.items()
              if k not in switches}
    assert list(theirs) == list(SIGNATURES[name])
    assert theirs == SIGNATURES[name]


def test_betas_as_list_or_tuple():
    assert Adam(betas=[0.8, 0.9]).betas == (0.8, 0.9)
    assert Adam(betas=(0.8, 0.9)).betas == (0.8, 0.9)


# (optimizer, kwargs, text the message must contain)
INVALID = [
    ("sgd", {"lr": -1}, "lr must be >= 0, got -1"),
    ("sgd", {"momentum": -0.1}, "momentum"),
    ("sgd", {"weight_decay": -1e-3}, "weight_decay"),
    ("sgd", {"nesterov": True}, "nesterov requires momentum > 0 and dampening = 0"),
    ("sgd", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov requires"),
    ("adagrad", {"lr_decay": -1}, "lr_decay"),
    ("adagrad", {"initial_accumulator_value": -1}, "initial_accumulator_value"),
    ("adagrad", {"eps": -1}, "eps"),
    ("adadelta", {"rho": 1.5}, "rho must be in [0, 1]"),
    ("adadelta", {"weight_decay": -1}, "weight_decay"),
    ("rmsprop", {"alpha": -0.5}, "alpha"),
    ("rmsprop", {"momentum": -0.5}, "momentum"),
    ("rmsprop", {"eps": -1}, "eps"),
    ("adam", {"betas": (1.0, 0.999)}, "betas[0] must be in [0, 1)"),
    ("adam", {"betas": (0.9, -0.1)}, "betas[1] must be in [0, 1)"),
    ("adam", {"eps": -1}, "eps"),
    ("adamw", {"weight_decay": -0.01}, "weight_decay"),
    ("adamw", {"betas": (0.9, 1.0)}, "betas[1]"),
]
# invalid for dlexp, whatever torch makes of them
INVALID_TYPES = [
    ("adam", {"betas": 0.9}, "betas must be a pair"),
    ("adam", {"betas": [0.9]}, "betas must be a pair"),
    ("sgd", {"lr": "0.1"}, "lr must be a number"),
    ("sgd", {"lr": float("nan")}, "lr"),
    ("sgd", {"nesterov": "yes"}, "nesterov must be true or false"),
    ("adam", {"amsgrad": 1}, "amsgrad must be true or false"),
    ("rmsprop", {"centered": None}, "centered must be true or false"),
]


@pytest.mark.parametrize("name, kwargs, text", INVALID + INVALID_TYPES)
def test_invalid_hyperparameters_raise_a_clear_value_error(name, kwargs, text):
    with pytest.raises(ValueError) as err:
        OPTIMIZERS[name](**kwargs)
    assert text in str(err.value)
    assert err.value.key in kwargs  # HyperparameterError.key: the config key to report


@pytest.mark.parametrize("name, kwargs, text", INVALID)
def test_torch_rejects_the_same_hyperparameters(name, kwargs, text):
    torch = pytest.importorskip("torch")
    cls = getattr(torch.optim, OPTIMIZERS[name].__name__)
    with pytest.raises(ValueError):
        cls([torch.zeros(1, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("name, kwargs", [
    ("sgd", {"lr": 0.0}), ("sgd", {"dampening": 0.5, "momentum": 0.9}), ("adadelta", {"rho": 1.0}),
    ("adadelta", {"rho": 0.0}), ("adam", {"betas": (0.0, 0.0)}), ("rmsprop", {"alpha": 0.0}),
    ("adagrad", {"eps": 0.0}), ("sgd", {"nesterov": True, "momentum": 0.5}),
])
def test_edge_values_torch_accepts_are_accepted(name, kwargs):
    OPTIMIZERS[name](**kwargs)


def test_step_checks_list_lengths():
    with pytest.raises(ValueError, match="2 params, 1 grads"):
        SGD(lr=0.1).step([np.zeros(1), np.zeros(1)], [np.zeros(1)])


def test_lr_is_public_and_read_at_each_step():
    p = np.zeros(1)
    opt = SGD(lr=0.1)
    opt.step([p], [np.ones(1)])
    opt.lr = 0.01
    opt.step([p], [np.ones(1)])
    np.testing.assert_allclose(p, [-0.11], rtol=1e-15)


def _clip_inputs():
    return [GOLDEN[f"clip_grads{j}"].copy() for j in range(N_PARAMS)]


@pytest.mark.parametrize("name, max_norm", json.loads(str(GOLDEN["clip_cases"])))
def test_clip_grad_norm_matches_golden(name, max_norm):
    grads = _clip_inputs()
    norm = clip_grad_norm(grads, max_norm)
    assert isinstance(norm, float)
    np.testing.assert_allclose(norm, GOLDEN[f"{name}.norm"], rtol=RTOL)
    for j, g in enumerate(grads):
        np.testing.assert_allclose(g, GOLDEN[f"{name}.grads{j}"], rtol=RTOL, atol=0)


@pytest.mark.parametrize("name, max_norm", json.loads(str(GOLDEN["clip_cases"])))
def test_clip_grad_norm_matches_live_torch(name, max_norm):
    pytest.importorskip("torch")
    their_norm, theirs = golden_script().torch_clip(_clip_inputs(), max_norm)
    grads = _clip_inputs()
    np.testing.assert_allclose(clip_grad_norm(grads, max_norm), their_norm, rtol=RTOL)
    for g, t in zip(grads, theirs):
        np.testing.assert_allclose(g, t, rtol=RTOL, atol=0)


def test_clip_grad_norm_by_hand():
    grads = [np.array([3.0, 0.0], dtype=np.float32), np.array([[4.0]], dtype=np.float32)]
    assert clip_grad_norm(grads, 1.0) == 5.0
    np.testing.assert_allclose(grads[0], [3.0 / (5.0 + 1e-6), 0.0], rtol=1e-6)
    assert grads[0].dtype == np.float32 and grads[1].shape == (1, 1)
    untouched = [np.array([0.3, 0.4])]
    assert clip_grad_norm(untouched, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(untouched[0], [0.3, 0.4])
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(untouched, -1.0)
