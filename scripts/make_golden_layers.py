"""Write tests/golden/layers.npz: torch's float64 answers for every layer, activation and loss.

    python scripts/make_golden_layers.py [OUT]

Each case stores its inputs (drawn with a fixed NumPy seed), parameters, upstream gradients and
what torch computes from them, under keys "<case>/<field>". tests/test_torch_layers.py feeds the
same inputs to dlexp's layers and compares, so CI without torch checks the same numbers. No
pickles: every value is a plain numeric (or bool) array.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent.parent / "tests" / "golden" / "layers.npz"
SEED = 20240601


def _t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _np(t):
    return t.detach().numpy().copy()


def dense_case(rng):
    x, W, b = rng.standard_normal((6, 5)), rng.standard_normal((5, 4)), rng.standard_normal(4)
    dout = rng.standard_normal((6, 4))
    tx, tW, tb = _t(x, True), _t(W.T.copy(), True), _t(b, True)  # torch stores W.T
    y = F.linear(tx, tW, tb)
    y.backward(_t(dout))
    return {"x": x, "W": W, "b": b, "dout": dout,
            "y": _np(y), "dx": _np(tx.grad), "dW": _np(tW.grad).T.copy(), "db": _np(tb.grad)}


TORCH_ACTIVATIONS = {
    "relu": torch.nn.ReLU, "leaky_relu": torch.nn.LeakyReLU, "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid, "gelu": torch.nn.GELU, "identity": torch.nn.Identity,
}


def activation_case(rng, name):
    x = 3.0 * rng.standard_normal((6, 5))
    x[0, :3] = 0.0  # the kink of relu / leaky_relu: torch's gradient there is the x <= 0 branch
    x[1, :4] = [-40.0, 40.0, -8.0, 8.0]  # saturation: no overflow, no lost precision
    dout = rng.standard_normal((6, 5))
    tx = _t(x, True)
    y = TORCH_ACTIVATIONS[name]()(tx)
    y.backward(_t(dout))
    return {"x": x, "dout": dout, "y": _np(y), "dx": _np(tx.grad)}


def dropout_case(rng, mode, rate=0.3):
    """torch takes no mask, so the given mask goes through torch's own formula:
    inverted x·(mask/(1−p)) (what F.dropout computes) in training, F.dropout(training=False) in
    eval; classic x·mask in training, x·(1−p) in eval."""
    x, dout = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    mask = rng.random((6, 5)) >= rate
    out = {"x": x, "dout": dout, "mask": mask, "rate": np.array(rate)}
    for phase in ("train", "eval"):
        tx = _t(x, True)
        if phase == "train":
            keep = _t(mask.astype(float))
            y = tx * (keep / (1 - rate)) if mode == "inverted" else tx * keep
        else:
            y = F.dropout(tx, rate, training=False) if mode == "inverted" else tx * (1 - rate)
        y.backward(_t(dout))
        out[f"y_{phase}"], out[f"dx_{phase}"] = _np(y), _np(tx.grad)
    return out


def batchnorm_case(rng, momentum, steps=3, n=4, N=8):
    """Several training steps (outputs, grads, then running stats), then one eval step."""
    bn = torch.nn.BatchNorm1d(n, momentum=momentum).double()
    gamma, beta = 1.0 + 0.5 * rng.standard_normal(n), 0.5 * rng.standard_normal(n)
    with torch.no_grad():
        bn.weight.copy_(_t(gamma))
        bn.bias.copy_(_t(beta))
    xs = 2.0 * rng.standard_normal((steps, N, n)) + 1.0  # off-centre, off-scale: stats matter
    douts = rng.standard_normal((steps, N, n))
    out = {"momentum": np.array(np.nan if momentum is None else momentum),
           "gamma": gamma, "beta": beta, "xs": xs, "douts": douts}
    ys, dxs, dgammas, dbetas = [], [], [], []
    bn.train()
    for x, dout in zip(xs, douts):
        bn.zero_grad()
        tx = _t(x, True)
        y = bn(tx)
        y.backward(_t(dout))
        ys.append(_np(y)), dxs.append(_np(tx.grad))
        dgammas.append(_np(bn.weight.grad)), dbetas.append(_np(bn.bias.grad))
    out.update(ys=np.stack(ys), dxs=np.stack(dxs), dgammas=np.stack(dgammas),
               dbetas=np.stack(dbetas), running_mean=_np(bn.running_mean),
               running_var=_np(bn.running_var))
    bn.eval()
    bn.zero_grad()
    x_eval, dout_eval = 2.0 * rng.standard_normal((5, n)) + 1.0, rng.standard_normal((5, n))
    tx = _t(x_eval, True)
    y = bn(tx)
    y.backward(_t(dout_eval))
    out.update(x_eval=x_eval, dout_eval=dout_eval, y_eval=_np(y), dx_eval=_np(tx.grad),
               dgamma_eval=_np(bn.weight.grad), dbeta_eval=_np(bn.bias.grad))
    return out


def layernorm_case(rng, n=5):
    ln = torch.nn.LayerNorm(n).double()
    gamma, beta = 1.0 + 0.5 * rng.standard_normal(n), 0.5 * rng.standard_normal(n)
    with torch.no_grad():
        ln.weight.copy_(_t(gamma))
        ln.bias.copy_(_t(beta))
    x, dout = 2.0 * rng.standard_normal((6, n)) + 0.5, rng.standard_normal((6, n))
    tx = _t(x, True)
    y = ln(tx)
    y.backward(_t(dout))
    return {"gamma": gamma, "beta": beta, "x": x, "dout": dout, "y": _np(y), "dx": _np(tx.grad),
            "dgamma": _np(ln.weight.grad), "dbeta": _np(ln.bias.grad)}


def cross_entropy_case(rng, scale):
    logits, labels = scale * rng.standard_normal((7, 4)), rng.integers(0, 4, 7)
    tz = _t(logits, True)
    loss = F.cross_entropy(tz, torch.tensor(labels))
    loss.backward()
    return {"logits": logits, "labels": labels, "loss": _np(loss), "dlogits": _np(tz.grad)}


def mse_case(rng):
    pred, target = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    tp = _t(pred, True)
    loss = F.mse_loss(tp, _t(target))
    loss.backward()
    return {"pred": pred, "target": target, "loss": _np(loss), "dpred": _np(tp.grad)}


def make_cases() -> dict[str, dict[str, np.ndarray]]:
    """{case: {field: array}}, deterministic: one NumPy seed, torch in float64 on the CPU."""
    rng = np.random.default_rng(SEED)
    cases = {"dense": dense_case(rng)}
    for name in TORCH_ACTIVATIONS:
        cases[name] = activation_case(rng, name)
    cases["dropout_inverted"] = dropout_case(rng, "inverted")
    cases["dropout_classic"] = dropout_case(rng, "classic")
    cases["batchnorm_momentum"] = batchnorm_case(rng, 0.1)
    cases["batchnorm_cumulative"] = batchnorm_case(rng, None)
    cases["layernorm"] = layernorm_case(rng)
    cases["cross_entropy"] = cross_entropy_case(rng, 1.0)
    cases["cross_entropy_large"] = cross_entropy_case(rng, 300.0)  # log-sum-exp must not overflow
    cases["mse"] = mse_case(rng)
    return cases


def flatten(cases) -> dict[str, np.ndarray]:
    return {f"{case}/{field}": np.asarray(v) for case, fields in cases.items()
            for field, v in fields.items()}


def main(out: Path = OUT) -> None:
    arrays = flatten(make_cases())
    arrays["meta/torch_version"] = np.array(torch.__version__)  # a unicode array, not a pickle
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(f"{out}: {len(arrays)} arrays, {out.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
