"""Write tests/golden/training.npz: what torch computes for whole float64 training runs.

    python scripts/make_golden_training.py [OUT]           # torch's answers → the golden file
    python scripts/make_golden_training.py --fixtures      # (re)write tests/data/training/ first

Each case is a dlexp config in tests/data/training/<case>.yaml: full-batch, float64, no dropout,
`model.init_from: <case>.npz` (an initial model.npz, also in that folder) on a small CSV dataset
(classes.csv: 60 rows, 4 features on very different scales, 3 classes; regression.csv: 60 rows,
4 features, one target). The equivalent torch program below reads the same YAML and

  * gets its data from dlexp's own `load_dataset` (data preparation is not what is compared),
  * builds the nn.Sequential [Linear, BatchNorm1d|LayerNorm?, activation] × hidden + Linear and
    loads the initial model.npz into it (Linear.weight = W.T),
  * trains with torch.optim: weight_decay only on Linear weights (a second param group with
    weight_decay 0 holds biases, γ and β), the L2 (λ/2)ΣW² and subgradient L1 λΣ|W| penalties added
    to the loss on Linear weights only, torch.nn.utils.clip_grad_norm_, soft-thresholding with
    the current lr after each step (proximal L1), a torch.optim.lr_scheduler stepped per epoch
    (ReduceLROnPlateau on the validation loss),
  * records after each epoch, in eval mode, what dlexp's metrics.csv holds: lr (the one used
    during the epoch), train/val loss and metric, penalty.

Only keys the YAML gives reach torch; everything else is torch's own default, so a dlexp default
that differs from torch's shows up as a disagreement. The golden file stores, per case, the YAML
text, the initial weights, torch's final parameters and buffers (in dlexp's model.npz names and
layout), the per-epoch figures and the global gradient norm before clipping; and, once per
dataset, the arrays load_dataset produced. No pickles.

PRE-NORM BIASES. The bias of a Dense layer followed by BatchNorm has, in exact arithmetic, a zero
gradient in training mode (BatchNorm subtracts the batch mean), so in floating point its gradient
is rounding noise (~1e-17), different in dlexp and torch. SGD moves it by lr·noise: harmless. An
adaptive optimizer divides by √v + eps with √v itself noise, so it moves it by ~lr·noise/eps per
step: with RMSprop's default eps 1e-8 that is ~1e-11 per step, and after 25 epochs such a bias
(and the running_mean that tracks it, hence the eval-mode losses) agrees only to ~1e-8 relative
— between torch and itself too (a 1e-15 perturbation of the initial weights moves torch's answer
by 1e-9 to 1e-8 there). That is ill-conditioning, not a disagreement, so the adaptive+BatchNorm
case uses eps 1e-4, which bounds the drift at ~1e-15 per step; every case here moves by at most
~2e-12 under such a perturbation, well inside the tests' rtol 1e-9.
"""

from __future__ import annotations

import csv
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "training"
OUT = ROOT / "tests" / "golden" / "training.npz"
METRIC_COLUMNS = ("lr", "train_loss", "val_loss", "train_metric", "val_metric", "penalty")

# ---- the cases (written to tests/data/training/ by --fixtures) ---------------------------------

COMMON = {
    "seed": 0,
    "train": {"epochs": 25, "batch_size": "full", "dtype": "float64", "shuffle": False},
}
CLASSES = {"name": "csv", "path": "classes.csv", "target": "fruit", "seed": 0}
REGRESSION = {"name": "csv", "path": "regression.csv", "target": "y", "seed": 0}

CASES = {
    "sgd_momentum_dampening": {
        "data": CLASSES,
        "model": {"hidden": [8, 6], "activation": "tanh", "init": "xavier_normal",
                  "norm": "batchnorm", "norm_momentum": 0.1},
        "regularization": {"l2": 0.002},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.25,
                      "weight_decay": 0.001},
    },
    "sgd_nesterov_exponential": {
        "data": CLASSES,
        "model": {"hidden": [8], "activation": "tanh", "init": "xavier_uniform",
                  "norm": "batchnorm", "norm_momentum": 0.3},
        "regularization": {"l2": 0.001},
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.8, "nesterov": True,
                      "weight_decay": 0.005, "schedule": {"name": "exponential", "gamma": 0.95}},
    },
    "adam_amsgrad_l1_layernorm_gelu": {
        "data": {**CLASSES, "standardize": False},  # raw scales: LayerNorm copes
        "model": {"hidden": [8, 8], "activation": "gelu", "init": "he_normal", "norm": "layernorm"},
        "regularization": {"l1": 0.001, "l1_mode": "subgradient"},
        "optimizer": {"name": "adam", "lr": 0.02, "amsgrad": True, "weight_decay": 0.001},
    },
    "adamw_step_clip_relu": {
        "data": CLASSES,
        "model": {"hidden": [10], "activation": "relu", "init": "he_uniform"},
        "optimizer": {"name": "adamw", "lr": 0.03, "betas": [0.8, 0.99],  # default weight_decay
                      "schedule": {"name": "step", "step_size": 8, "gamma": 0.5},
                      "clip_norm": 0.3},
    },
    "rmsprop_centered_momentum_proximal_l1": {
        "data": CLASSES,
        "model": {"hidden": [8, 6], "activation": "relu", "init": "he_normal"},
        "regularization": {"l1": 1.0, "l1_mode": "proximal"},  # exact zeros
        "optimizer": {"name": "rmsprop", "lr": 0.01, "centered": True, "momentum": 0.5,
                      "weight_decay": 0.001},
    },
    "rmsprop_batchnorm_cumulative": {
        "data": CLASSES,
        "model": {"hidden": [8, 6], "activation": "relu", "init": "he_normal",
                  "norm": "batchnorm", "norm_momentum": None},
        "regularization": {"l1": 0.1, "l1_mode": "proximal"},
        # eps 1e-4, not the default 1e-8: see PRE-NORM BIASES in the module docstring
        "optimizer": {"name": "rmsprop", "lr": 0.01, "alpha": 0.9, "centered": True,
                      "momentum": 0.5, "eps": 1.0e-4},
    },
    "adagrad_lr_decay_leaky_relu": {
        "data": CLASSES,
        "model": {"hidden": [8], "activation": "leaky_relu", "init": "he_normal"},
        "regularization": {"l2": 0.001},
        "optimizer": {"name": "adagrad", "lr": 0.1, "lr_decay": 0.05,
                      "initial_accumulator_value": 0.1, "weight_decay": 0.001},
    },
    "adadelta_sigmoid_shuffled": {
        "data": CLASSES,
        "model": {"hidden": [8], "activation": "sigmoid", "init": "xavier_normal"},
        "optimizer": {"name": "adadelta", "lr": 1.0, "rho": 0.8, "weight_decay": 0.0005},
        # full batch: shuffling changes the summation order only
        "train": {"shuffle": True},
    },
    "linear_sgd_l1_l2": {
        "data": CLASSES,
        "model": {"hidden": [], "init": "xavier_normal"},
        "regularization": {"l1": 0.002, "l2": 0.01},
        "optimizer": {"name": "sgd", "lr": 0.5},
    },
    "regression_mse_cosine_batchnorm": {
        "data": REGRESSION,
        "model": {"hidden": [12, 8], "activation": "relu", "init": "he_normal",
                  "norm": "batchnorm"},  # norm_momentum: dlexp's default
        "regularization": {"l2": 0.001},
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9,
                      "schedule": {"name": "cosine", "eta_min": 0.001}},  # T_max: train.epochs
    },
    "regression_adam_plateau": {
        "data": REGRESSION,
        "model": {"hidden": [8], "activation": "tanh", "init": "xavier_normal"},
        "optimizer": {"name": "adam", "lr": 0.2,
                      "schedule": {"name": "plateau", "factor": 0.5, "patience": 1,
                                   "threshold": 0.02, "cooldown": 1}},
        "train": {"epochs": 30},
    },
}


def case_config(name: str) -> dict:
    """The case's YAML content: COMMON, then the case's keys, then its init_from."""
    spec = CASES[name]
    cfg = {"name": name, "seed": COMMON["seed"]}
    for section in ("data", "model", "regularization", "optimizer", "train"):
        merged = {**COMMON.get(section, {}), **spec.get(section, {})}
        if section == "model":
            merged["init_from"] = f"{name}.npz"
        if merged:
            cfg[section] = merged
    return cfg


def write_csvs() -> None:
    """classes.csv and regression.csv: deterministic, 4 decimals, features on varied scales."""
    rng = np.random.default_rng(7)
    n, names = 60, ["apple", "banana", "cherry"]
    y = np.arange(n) % 3
    centers = np.array([[0.0, 0.0, 0.0], [1.2, -0.8, 0.6], [-0.5, 1.0, 1.3]])
    Z = centers[y] + rng.standard_normal((n, 3))  # overlapping classes: no quick zero loss
    X = np.column_stack([5.0 + 2.0 * Z[:, 0], 150.0 + 40.0 * Z[:, 1], 0.02 * Z[:, 2],
                         rng.standard_normal(n)])  # the last column is pure noise
    _write_csv(DATA / "classes.csv", ["weight", "length", "acidity", "noise", "fruit"],
               [[f"{v:.4f}" for v in row] + [names[c]] for row, c in zip(X, y)])
    X = rng.uniform(-2.0, 2.0, (n, 4))
    t = (1.5 * X[:, 0] - X[:, 1] + 0.8 * np.tanh(2.0 * X[:, 2]) + 0.3 * X[:, 3] ** 2
         + 0.3 * rng.standard_normal(n))  # mostly linear, some curvature: learnable from 36 rows
    _write_csv(DATA / "regression.csv", ["x1", "x2", "x3", "x4", "y"],
               [[f"{v:.4f}" for v in row] + [f"{50.0 + 10.0 * v:.4f}"] for row, v in zip(X, t)])


def _write_csv(path: Path, header, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def initial_state(name: str) -> dict[str, np.ndarray]:
    """dlexp's own initialization for the case's model, with γ, β, biases and running stats
    perturbed so that loading every key matters."""
    from dlexp.config.load import load_config
    from dlexp.data.datasets import load_dataset
    from dlexp.nn.model import MLP

    exp = load_config(DATA / f"{name}.yaml")
    exp.model.init_from = None
    ds = load_dataset(exp.data, DATA)
    rng = np.random.default_rng([zlib.crc32(name.encode()), 11])  # per case, order-free
    model = MLP.from_config(exp.model, ds.n_features, ds.n_outputs, rng, np.float64)
    state = model.state_dict()
    for key, v in state.items():
        if key.endswith((".b", ".beta", ".running_mean")):
            v[...] = 0.1 * rng.standard_normal(v.shape)
        elif key.endswith(".gamma"):
            v[...] = 1.0 + 0.1 * rng.standard_normal(v.shape)
        elif key.endswith(".running_var"):
            v[...] = rng.uniform(0.5, 1.5, v.shape)
    return state


def write_fixtures() -> None:
    from dlexp.results.store import npz_bytes

    DATA.mkdir(parents=True, exist_ok=True)
    write_csvs()
    for name in CASES:
        text = "# whole-training agreement with torch: see scripts/make_golden_training.py\n"
        text += yaml.safe_dump(case_config(name), sort_keys=False, default_flow_style=None)
        (DATA / f"{name}.yaml").write_text(text, encoding="utf-8")
        (DATA / f"{name}.npz").write_bytes(npz_bytes(initial_state(name)))
    print(f"{DATA}: {len(CASES)} configs and initial models, classes.csv, regression.csv")


# ---- the equivalent torch program --------------------------------------------------------------

ACTIVATIONS = {"relu": torch.nn.ReLU, "leaky_relu": torch.nn.LeakyReLU, "tanh": torch.nn.Tanh,
               "sigmoid": torch.nn.Sigmoid, "gelu": torch.nn.GELU, "identity": torch.nn.Identity}
OPTIMIZERS = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad,
              "adadelta": torch.optim.Adadelta, "rmsprop": torch.optim.RMSprop,
              "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def dataset(name: str):
    """dlexp's own train/val/test arrays for the case (the CLI's path resolution included)."""
    from dlexp.config.load import load_config
    from dlexp.data.datasets import load_dataset

    exp = load_config(DATA / f"{name}.yaml")
    return load_dataset(exp.data, Path.cwd())


def build(raw: dict, n_in: int, n_out: int, init: dict[str, np.ndarray]):
    """nn.Sequential holding the initial weights; (model, [(dlexp key, parameter or buffer)])."""
    m = raw.get("model", {})
    norm, layers, names = m.get("norm", "none"), [], []
    width = n_in
    for i, h in enumerate(m.get("hidden", [64, 64])):
        layers.append(torch.nn.Linear(width, h))
        names.append(f"dense{i}")
        if norm == "batchnorm":
            kw = {"momentum": m["norm_momentum"]} if "norm_momentum" in m else {}
            layers.append(torch.nn.BatchNorm1d(h, **kw))
            names.append(f"batchnorm{i}")
        elif norm == "layernorm":
            layers.append(torch.nn.LayerNorm(h))
            names.append(f"layernorm{i}")
        layers.append(ACTIVATIONS[m.get("activation", "relu")]())
        names.append(None)
        width = h
    layers.append(torch.nn.Linear(width, n_out))
    names.append(f"dense{len(m.get('hidden', [64, 64]))}")
    seq = torch.nn.Sequential(*layers).double()
    tensors = []  # (dlexp key, tensor): parameters and buffers
    for layer, name in zip(seq, names):
        if isinstance(layer, torch.nn.Linear):
            tensors += [(f"{name}.W", layer.weight), (f"{name}.b", layer.bias)]
        elif isinstance(layer, torch.nn.BatchNorm1d):
            tensors += [(f"{name}.gamma", layer.weight), (f"{name}.beta", layer.bias),
                        (f"{name}.running_mean", layer.running_mean),
                        (f"{name}.running_var", layer.running_var)]
        elif isinstance(layer, torch.nn.LayerNorm):
            tensors += [(f"{name}.gamma", layer.weight), (f"{name}.beta", layer.bias)]
    assert sorted(k for k, _ in tensors) == sorted(init), (sorted(init), [k for k, _ in tensors])
    with torch.no_grad():
        for key, t in tensors:
            v = init[key]
            t.copy_(torch.tensor(v.T if key.endswith(".W") else v, dtype=torch.float64))
    return seq, tensors


def make_scheduler(opt, raw: dict):
    sched = dict(raw.get("optimizer", {}).get("schedule", {"name": "constant"}))
    name = sched.pop("name")
    if name == "constant":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(opt, **sched)
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(opt, **sched)
    if name == "cosine":
        sched.setdefault("T_max", raw["train"]["epochs"])  # dlexp documents T_max: train.epochs
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, **sched)
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", **sched)
    raise ValueError(name)


def read_case(name: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(the case's YAML as a plain dict, its initial model.npz)."""
    text = (DATA / f"{name}.yaml").read_text(encoding="utf-8")
    raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    with np.load(DATA / raw["model"]["init_from"], allow_pickle=False) as z:
        return raw, {k: z[k] for k in z.files}


def torch_run(raw: dict, ds, init: dict[str, np.ndarray]) -> dict:
    """Train a case with torch from its YAML dict, dlexp's Dataset and the initial weights:
    {"final": {dlexp key: array}, "metrics": {column: (epochs,)}, "grad_norms": (epochs,) the
    global gradient norm before clipping}."""
    classification = ds.task == "classification"
    X = {s: torch.tensor(getattr(ds, f"X_{s}"), dtype=torch.float64) for s in ("train", "val")}
    Y = {s: torch.tensor(getattr(ds, f"y_{s}")) for s in ("train", "val")}
    seq, tensors = build(raw, ds.n_features, ds.n_outputs, init)

    weights = [l.weight for l in seq if isinstance(l, torch.nn.Linear)]
    others = [p for p in seq.parameters() if all(p is not w for w in weights)]
    o = dict(raw.get("optimizer", {}))
    opt_name, clip = o.pop("name"), o.pop("clip_norm", None)
    o.pop("schedule", None)
    if "betas" in o:
        o["betas"] = tuple(o["betas"])
    # dlexp's rule: weight decay on Linear weights only (group 0 takes torch's default, if any)
    opt = OPTIMIZERS[opt_name]([{"params": weights}, {"params": others, "weight_decay": 0.0}], **o)
    sched = make_scheduler(opt, raw)
    reg = raw.get("regularization", {})
    l1, l2, mode = reg.get("l1", 0.0), reg.get("l2", 0.0), reg.get("l1_mode", "subgradient")
    loss_fn = F.cross_entropy if classification else F.mse_loss

    def penalty(use_l1=True):
        total = torch.zeros((), dtype=torch.float64)
        for W in weights:
            if l1 and use_l1:
                total = total + l1 * W.abs().sum()
            if l2:
                total = total + 0.5 * l2 * (W * W).sum()
        return total

    def figures(split):
        with torch.no_grad():
            out = seq(X[split])
            loss = loss_fn(out, Y[split]).item()
            if classification:
                metric = (out.argmax(dim=1) == Y[split]).double().mean().item()
            else:
                y = Y[split]
                metric = 1.0 - ((out - y) ** 2).sum().item() / ((y - y.mean(dim=0)) ** 2).sum().item()
        return loss, metric

    rows, grad_norms = {c: [] for c in METRIC_COLUMNS}, []
    for _ in range(raw["train"]["epochs"]):
        lrs = {g["lr"] for g in opt.param_groups}
        assert len(lrs) == 1, lrs
        rows["lr"].append(lrs.pop())
        seq.train()
        opt.zero_grad()
        loss = loss_fn(seq(X["train"]), Y["train"])
        if l2 or (l1 and mode == "subgradient"):  # proximal L1 is a step, not a loss term
            loss = loss + penalty(use_l1=mode == "subgradient")
        loss.backward()
        grads = [p.grad for p in seq.parameters()]
        grad_norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(seq.parameters(), clip)
        opt.step()
        if l1 and mode == "proximal":
            threshold = opt.param_groups[0]["lr"] * l1
            with torch.no_grad():
                for W in weights:
                    W.copy_(torch.sign(W) * torch.clamp(W.abs() - threshold, min=0.0))
        seq.eval()
        train_loss, train_metric = figures("train")
        val_loss, val_metric = figures("val")
        rows["train_loss"].append(train_loss)
        rows["val_loss"].append(val_loss)
        rows["train_metric"].append(train_metric)
        rows["val_metric"].append(val_metric)
        rows["penalty"].append(penalty().item() if (l1 or l2) else 0.0)
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(val_loss)
        elif sched is not None:
            sched.step()
    final = {}
    for key, t in tensors:
        v = t.detach().numpy().copy()
        final[key] = v.T.copy() if key.endswith(".W") else v
    return {"final": final, "metrics": {c: np.array(v) for c, v in rows.items()},
            "grad_norms": np.array(grad_norms)}


def make_cases() -> dict[str, dict[str, np.ndarray]]:
    """{case: {field: array}} from the fixtures in tests/data/training/ and torch."""
    cases = {}
    for name in CASES:
        raw, init = read_case(name)
        res = torch_run(raw, dataset(name), init)
        fields = {"config_yaml": np.array((DATA / f"{name}.yaml").read_text(encoding="utf-8")),
                  "dataset": np.array(dataset_key(raw)), "grad_norms": res["grad_norms"]}
        fields.update({f"init/{k}": v for k, v in init.items()})
        fields.update({f"final/{k}": v for k, v in res["final"].items()})
        fields.update({f"metrics/{k}": v for k, v in res["metrics"].items()})
        cases[name] = fields
    return cases


def dataset_key(raw: dict) -> str:
    """The data arrays a case trains on are stored once per CSV file and standardization."""
    data = raw["data"]
    return Path(data["path"]).stem + ("_standardized" if data.get("standardize", True) else "_raw")


def make_datasets() -> dict[str, dict[str, np.ndarray]]:
    """{dataset key: {X_train, y_train, X_val, …}}: what dlexp's load_dataset gave the cases."""
    out = {}
    for name in CASES:
        key = dataset_key(read_case(name)[0])
        if key not in out:
            ds = dataset(name)
            out[key] = {f"{a}_{s}": getattr(ds, f"{a}_{s}") for s in ("train", "val", "test")
                        for a in ("X", "y")}
    return out


def flatten(cases, datasets) -> dict[str, np.ndarray]:
    arrays = {f"{case}/{field}": np.asarray(v) for case, fields in cases.items()
              for field, v in fields.items()}
    arrays.update({f"datasets/{key}/{field}": np.asarray(v) for key, fields in datasets.items()
                   for field, v in fields.items()})
    return arrays


def main(out: Path = OUT) -> None:
    torch.set_num_threads(1)
    arrays = flatten(make_cases(), make_datasets())
    arrays["meta/torch_version"] = np.array(torch.__version__)  # a unicode array, not a pickle
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(f"{out}: {len(arrays)} arrays, {out.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--fixtures" in args:
        args.remove("--fixtures")
        write_fixtures()
    main(Path(args[0]) if args else OUT)
