"""dlexp's layers, activations and losses agree with torch in float64 to 1e-10 relative.

Two layers of tests over the same cases:
  * golden: tests/golden/layers.npz, written by scripts/make_golden_layers.py from torch; these
    tests never import torch, so CI without torch checks the same numbers;
  * live: against torch itself where it is installed (skipped otherwise), including a check that
    the golden file is what the script produces today.
Each runner feeds a case's inputs to dlexp and returns the outputs under the golden field names.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlexp.nn.activations import ACTIVATIONS
from dlexp.nn.layers import BatchNorm, Dense, Dropout, LayerNorm
from dlexp.nn.losses import MSE, SoftmaxCrossEntropy, cross_entropy, mse

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "layers.npz"
SCRIPT = ROOT / "scripts" / "make_golden_layers.py"
RTOL, ATOL = 1e-10, 1e-12


def run_dense(c):
    layer = Dense(c["W"].copy(), c["b"].copy())
    y = layer.forward(c["x"], training=True)
    dx = layer.backward(c["dout"])
    return {"y": y, "dx": dx, "dW": layer.grads["W"], "db": layer.grads["b"]}


def activation_runner(name):
    def run(c):
        layer = ACTIVATIONS[name]()
        y = layer.forward(c["x"], training=True)
        return {"y": y, "dx": layer.backward(c["dout"])}
    return run


def dropout_runner(mode):
    def run(c):
        layer = Dropout(float(c["rate"]), mode)  # no rng: the mask is given, nothing is drawn
        out = {"y_train": layer.forward(c["x"], training=True, mask=c["mask"]),
               "dx_train": layer.backward(c["dout"])}
        out.update(y_eval=layer.forward(c["x"], training=False), dx_eval=layer.backward(c["dout"]))
        return out
    return run


def run_batchnorm(c):
    momentum = None if np.isnan(c["momentum"]) else float(c["momentum"])
    layer = BatchNorm(c["gamma"].size, momentum=momentum, dtype=np.float64)
    layer.params["gamma"][...] = c["gamma"]
    layer.params["beta"][...] = c["beta"]
    ys, dxs, dgammas, dbetas = [], [], [], []
    for x, dout in zip(c["xs"], c["douts"]):
        ys.append(layer.forward(x, training=True))
        dxs.append(layer.backward(dout))
        dgammas.append(layer.grads["gamma"].copy())  # grads are buffers, overwritten next step
        dbetas.append(layer.grads["beta"].copy())
    out = {"ys": np.stack(ys), "dxs": np.stack(dxs), "dgammas": np.stack(dgammas),
           "dbetas": np.stack(dbetas), "running_mean": layer.buffers["running_mean"].copy(),
           "running_var": layer.buffers["running_var"].copy()}
    out["y_eval"] = layer.forward(c["x_eval"], training=False)
    out["dx_eval"] = layer.backward(c["dout_eval"])
    out["dgamma_eval"], out["dbeta_eval"] = layer.grads["gamma"], layer.grads["beta"]
    return out


def run_layernorm(c):
    layer = LayerNorm(c["gamma"].size, dtype=np.float64)
    layer.params["gamma"][...] = c["gamma"]
    layer.params["beta"][...] = c["beta"]
    y = layer.forward(c["x"], training=True)
    dx = layer.backward(c["dout"])
    return {"y": y, "dx": dx, "dgamma": layer.grads["gamma"], "dbeta": layer.grads["beta"]}


def run_cross_entropy(c):
    loss = SoftmaxCrossEntropy()
    value = loss.forward(c["logits"], c["labels"])
    assert cross_entropy(c["logits"], c["labels"]) == value  # the stateless form agrees
    return {"loss": np.array(value), "dlogits": loss.backward()}


def run_mse(c):
    loss = MSE()
    value = loss.forward(c["pred"], c["target"])
    assert mse(c["pred"], c["target"]) == value
    return {"loss": np.array(value), "dpred": loss.backward()}


RUNNERS = {
    "dense": run_dense,
    **{name: activation_runner(name) for name in ACTIVATIONS},
    "dropout_inverted": dropout_runner("inverted"),
    "dropout_classic": dropout_runner("classic"),
    "batchnorm_momentum": run_batchnorm,
    "batchnorm_cumulative": run_batchnorm,
    "layernorm": run_layernorm,
    "cross_entropy": run_cross_entropy,
    "cross_entropy_large": run_cross_entropy,
    "mse": run_mse,
}


def check_case(name: str, fields: dict[str, np.ndarray]) -> None:
    """Run dlexp on the case's inputs; every output the runner gives must match torch's."""
    got = RUNNERS[name](fields)
    assert got, name
    for field, value in got.items():
        np.testing.assert_allclose(value, fields[field], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name}/{field}")


def load_golden() -> dict[str, dict[str, np.ndarray]]:
    cases: dict[str, dict[str, np.ndarray]] = {}
    with np.load(GOLDEN, allow_pickle=False) as archive:
        for key in archive.files:
            case, field = key.split("/", 1)
            cases.setdefault(case, {})[field] = archive[key]
    cases.pop("meta", None)
    return cases


# ---- golden: no torch needed -------------------------------------------------------------------


def test_golden_file_covers_every_runner():
    golden = load_golden()
    assert sorted(golden) == sorted(RUNNERS)
    assert GOLDEN.stat().st_size < 200_000


@pytest.mark.parametrize("name", sorted(RUNNERS))
def test_golden(name):
    check_case(name, load_golden()[name])


def test_golden_runs_without_torch():
    """The golden tests pass in a Python where `import torch` fails, and the live ones skip."""
    code = ("import sys; sys.modules['torch'] = None; import pytest; "
            f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', {str(Path(__file__))!r}, "
            "'-k', 'not runs_without_torch']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipped" in proc.stdout and "failed" not in proc.stdout


# ---- live: against torch itself ----------------------------------------------------------------


def _script():
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("make_golden_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def live_cases():
    return _script().make_cases()


@pytest.mark.parametrize("name", sorted(RUNNERS))
def test_live(name, live_cases):
    check_case(name, live_cases[name])


def test_golden_file_is_current(live_cases):
    """Regenerating the golden file today gives the committed numbers (same inputs, same torch
    answers); if this fails, torch changed or the script did: rerun it and review the diff."""
    golden = load_golden()
    for case, fields in live_cases.items():
        assert sorted(fields) == sorted(golden[case]), case
        for field, value in fields.items():
            np.testing.assert_allclose(golden[case][field], value, rtol=RTOL, atol=ATOL,
                                       err_msg=f"{case}/{field}")


def test_torch_dropout_is_the_inverted_formula():
    """torch's own random dropout: every output is 0 or x/(1−p) (our inverted mode), and the kept
    fraction is 1−p; in eval it is the identity."""
    torch = pytest.importorskip("torch")
    p = 0.3
    x = torch.rand(200, 50, dtype=torch.float64) + 0.5  # no zeros: a 0 output means dropped
    torch.manual_seed(0)
    y = torch.nn.functional.dropout(x, p, training=True).numpy()
    x = x.numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=RTOL)
    assert abs(kept.mean() - (1 - p)) < 0.02
    ours = Dropout(p, "inverted").forward(x, training=True, mask=kept)
    np.testing.assert_allclose(ours, y, rtol=RTOL, atol=0)
    np.testing.assert_array_equal(torch.nn.functional.dropout(torch.tensor(x), p, training=False),
                                  Dropout(p).forward(x, training=False))


@pytest.mark.parametrize("norm", ["batchnorm", "layernorm"])
def test_whole_mlp_matches_torch_sequential(norm):
    """A whole MLP (norm + gelu, no dropout) against the torch.nn.Sequential with its weights:
    outputs, every parameter gradient, and BatchNorm running stats after two steps."""
    torch = pytest.importorskip("torch")
    from dlexp.nn.model import MLP

    rng = np.random.default_rng(3)
    model = MLP(5, [7, 6], 3, activation="gelu", norm=norm, rng=rng, dtype=np.float64)
    Norm = torch.nn.BatchNorm1d if norm == "batchnorm" else torch.nn.LayerNorm
    seq = torch.nn.Sequential(
        torch.nn.Linear(5, 7), Norm(7), torch.nn.GELU(),
        torch.nn.Linear(7, 6), Norm(6), torch.nn.GELU(),
        torch.nn.Linear(6, 3)).double()
    torch_params = dict(seq.named_parameters())
    ours = model.parameters()
    assert len(ours) == len(torch_params)
    for (name, value), tp in zip(ours, torch_params.values()):
        with torch.no_grad():  # our W is (in, out), torch's Linear weight is (out, in)
            tp.copy_(torch.tensor(value.T if name.endswith(".W") else value))
        if name.endswith(".W"):
            value[...] = rng.standard_normal(value.shape)  # gradients through random weights
            with torch.no_grad():
                tp.copy_(torch.tensor(value.T))
    for step in range(2):
        X, y = rng.standard_normal((9, 5)), rng.integers(0, 3, 9)
        loss = SoftmaxCrossEntropy()
        value = loss.forward(model.forward(X, training=True), y)
        model.backward(loss.backward())
        seq.zero_grad()
        tloss = torch.nn.functional.cross_entropy(seq(torch.tensor(X)), torch.tensor(y))
        tloss.backward()
        assert math.isclose(value, tloss.item(), rel_tol=RTOL)
        for (name, _), grad, tp in zip(ours, model.gradients(), torch_params.values()):
            expected = tp.grad.numpy()
            np.testing.assert_allclose(grad, expected.T if name.endswith(".W") else expected,
                                       rtol=RTOL, atol=ATOL, err_msg=name)
    if norm == "batchnorm":
        state = model.state_dict()
        for i, j in enumerate((1, 4)):
            np.testing.assert_allclose(state[f"batchnorm{i}.running_mean"],
                                       seq[j].running_mean.numpy(), rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(state[f"batchnorm{i}.running_var"],
                                       seq[j].running_var.numpy(), rtol=RTOL, atol=ATOL)
    seq.eval()
    X = rng.standard_normal((4, 5))
    np.testing.assert_allclose(model.predict(X), seq(torch.tensor(X)).detach().numpy(),
                               rtol=RTOL, atol=ATOL)
