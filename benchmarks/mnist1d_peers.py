"""MNIST-1D: dlexp's accuracy against PyTorch's and scikit-learn's, on the same rows.

    python benchmarks/mnist1d_peers.py                        # 3 seeds, 200 epochs (about 3 minutes)
    python benchmarks/mnist1d_peers.py --seeds 10             # the README's table (about 11 minutes)
    python benchmarks/mnist1d_peers.py --seeds 1 --epochs 20 --no-torch --json mnist1d.json

Data: `data: {name: mnist1d}` at its defaults, loaded by dlexp: the published MNIST-1D
(Greydanus 2020), 3,200 training and 800 validation rows carved from the package's 4,000
training rows (data.seed 0), and the 1,000 published test rows; standardized on the training
split. Those float32 arrays are what every peer trains and is scored on.

Models: a plain MLP 40-100-100-10 (ReLU) and a linear (softmax) model 40-10, each at its
library's default initialization (dlexp he_normal, torch nn.Linear's U(±1/√fan_in), sklearn
Glorot uniform), and dlexp and torch once more each with the other's (dlexp `init: torch`;
torch kaiming_normal_ weights and zero biases, which is dlexp's he_normal). Every peer: Adam,
lr 1e-3 (betas 0.9/0.999, eps 1e-8), batch 100, reshuffled every epoch, no weight decay,
float32, the same fixed number of epochs, one seed per run (init and shuffling). scikit-learn
is MLPClassifier (alpha 0) stepped one epoch per partial_fit call (max_iter 1), so that its
Adam state carries on; its linear model is hidden_layer_sizes=().
LogisticRegression (lbfgs, C = 1) is printed beside the linear models for reference.

Figures: test accuracy after the last epoch, and at the epoch of best validation accuracy (the
first such epoch; dlexp: early stopping on val_acc that never stops, restoring the best
weights, which trains the same steps), as mean ± std (ddof 1) over the seeds; time per run is
the median wall time of a whole run, per-epoch evaluation included (dlexp evaluates train and
val, the others val and test). BLAS is pinned to one thread for everyone.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one BLAS thread for every peer

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = {"MLP 100-100": [100, 100], "linear": []}
LR, BATCH = 1e-3, 100


def mnist1d_splits():
    """dlexp's default mnist1d Dataset and its splits as float32 X, int64 y."""
    from dlexp.config.load import config_from_dict
    from dlexp.data.datasets import load_dataset

    ds = load_dataset(config_from_dict({"name": "mnist1d", "data": {"name": "mnist1d"}}).data)
    splits = {s: (getattr(ds, f"X_{s}").astype(np.float32), getattr(ds, f"y_{s}").astype(np.int64))
              for s in ("train", "val", "test")}
    return ds, splits


def accuracy(pred, y) -> float:
    return float(np.mean(np.asarray(pred) == y))


# --- peers: each trains one model and returns {final, best, best_epoch, time} -------------------

def run_dlexp(ds, splits, hidden, seed, epochs, init="he_normal"):
    from dlexp.config.load import config_from_dict
    from dlexp.training.train import fit

    def config(early_stopping):
        return config_from_dict({
            "name": "mnist1d-peers", "data": {"name": "mnist1d"}, "model": {"hidden": hidden, "init": init},
            "optimizer": {"name": "adam", "lr": LR},
            "train": {"epochs": epochs, "batch_size": BATCH, "dtype": "float32", "early_stopping": early_stopping}})

    t = time.perf_counter()
    last = fit(config(None), ds, seed=seed).summary
    elapsed = time.perf_counter() - t
    # the same steps again, keeping the weights of the best val_acc epoch (patience: never stops)
    best = fit(config({"monitor": "val_acc", "patience": epochs + 1, "restore_best": True}), ds, seed=seed).summary
    return {"final": last["test_acc"], "best": best["test_acc"], "best_epoch": best["best_epoch"], "time": elapsed}


def run_torch(ds, splits, hidden, seed, epochs, init=None):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    nn = torch.nn
    (X, y), (Xv, yv), (Xt, yt) = (tuple(map(torch.from_numpy, splits[s])) for s in ("train", "val", "test"))
    widths = [X.shape[1], *hidden]
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(widths[-1], 10))
    if init == "he_normal":  # dlexp's default: W ~ N(0, 2 / fan_in), b = 0
        for layer in model:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()

    def acc(A, b):
        with torch.no_grad():
            return float((model(A).argmax(1) == b).float().mean())

    best = (-1.0, 0.0, 0)  # (val acc, test acc, epoch)
    t = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(X))
        for start in range(0, len(X), BATCH):
            idx = order[start:start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
        model.eval()
        val = acc(Xv, yv)
        if val > best[0]:
            best = (val, acc(Xt, yt), epoch)
    final = acc(Xt, yt)
    return {"final": final, "best": best[1], "best_epoch": best[2], "time": time.perf_counter() - t}


def run_sklearn(ds, splits, hidden, seed, epochs):
    from sklearn.neural_network import MLPClassifier

    (X, y), (Xv, yv), (Xt, yt) = (splits[s] for s in ("train", "val", "test"))
    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation="relu", solver="adam", learning_rate_init=LR,
                        batch_size=BATCH, alpha=0.0, max_iter=1, tol=1e-12, n_iter_no_change=10**9, shuffle=True,
                        random_state=seed)
    classes = np.arange(10)
    best = (-1.0, 0.0, 0)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: one epoch per call is the point
        for epoch in range(1, epochs + 1):
            clf.partial_fit(X, y, classes=classes)  # one epoch; the Adam state carries on
            val = accuracy(clf.predict(Xv), yv)
            if val > best[0]:
                best = (val, accuracy(clf.predict(Xt), yt), epoch)
    assert clf.coefs_[0].dtype == np.float32 and clf._optimizer.t == epochs * -(-len(X) // BATCH)
    final = accuracy(clf.predict(Xt), yt)
    return {"final": final, "best": best[1], "best_epoch": best[2], "time": time.perf_counter() - t}


def logistic_regression(splits) -> dict:
    from sklearn.linear_model import LogisticRegression

    (X, y), (Xt, yt) = splits["train"], splits["test"]
    t = time.perf_counter()
    clf = LogisticRegression(max_iter=5000).fit(X, y)
    return {"final": accuracy(clf.predict(Xt), yt), "time": time.perf_counter() - t}


def run_dlexp_torch_init(ds, splits, hidden, seed, epochs):
    """dlexp with torch's initialization (init: torch, nn.Linear's default): the same model as torch's."""
    return run_dlexp(ds, splits, hidden, seed, epochs, init="torch")


def run_torch_he_init(ds, splits, hidden, seed, epochs):
    """torch with dlexp's default initialization (he_normal): the same model as dlexp's."""
    return run_torch(ds, splits, hidden, seed, epochs, init="he_normal")


PEERS = {"dlexp": run_dlexp, "dlexp (init: torch)": run_dlexp_torch_init, "torch": run_torch,
         "torch (init: he_normal)": run_torch_he_init, "sklearn": run_sklearn}


# --- table -------------------------------------------------------------------------------------------

def mean_std(values) -> str:
    values = [100 * v for v in values]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {std:.1f}"


def table(results, logreg, epochs) -> str:
    lines = [f"| model | peer | test acc % after {epochs} epochs | test acc % at best val epoch | best epoch "
             "(median) | time / run (median) |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for model in MODELS:
        for peer, runs in results[model].items():
            lines.append(f"| {model} | {peer} | {mean_std([r['final'] for r in runs])} | "
                         f"{mean_std([r['best'] for r in runs])} | "
                         f"{statistics.median(r['best_epoch'] for r in runs):.0f} | "
                         f"{statistics.median(r['time'] for r in runs):.2f} s |")
    if logreg is not None:
        lines.append(f"| linear | sklearn LogisticRegression (lbfgs, C=1) | {100 * logreg['final']:.1f} | – | – | "
                     f"{logreg['time']:.2f} s |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="runs per peer and model, seeds 0, 1, …")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--peers", nargs="+", choices=list(PEERS), default=list(PEERS), metavar="PEER",
                    help=f"the peers to run (default: all of {', '.join(PEERS)})")
    ap.add_argument("--json", type=Path, help="also write every run's figures to this file")
    args = ap.parse_args(argv)

    peers = {name: PEERS[name] for name in args.peers}
    if not args.no_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("PyTorch is not installed: leaving it out", file=sys.stderr)
            args.no_torch = True
    if args.no_torch:
        peers = {name: run for name, run in peers.items() if not name.startswith("torch")}

    ds, splits = mnist1d_splits()
    print(f"{ds}; every peer trains on these rows", file=sys.stderr)
    results = {model: {peer: [] for peer in peers} for model in MODELS}
    with threadpool_limits(1):
        for seed in range(args.seeds):  # peers interleaved, so a busy spell of the machine hits all of them
            for model, hidden in MODELS.items():
                for peer, run in peers.items():
                    r = run(ds, splits, hidden, seed, args.epochs)
                    results[model][peer].append(r)
                    print(f"seed {seed} · {model} · {peer}: test acc {r['final']:.3f} (at best val "
                          f"{r['best']:.3f}, epoch {r['best_epoch']}) · {r['time']:.1f} s", file=sys.stderr)
        logreg = logistic_regression(splits)
    print(table(results, logreg, args.epochs))
    if args.json:
        args.json.write_text(json.dumps({"epochs": args.epochs, "seeds": args.seeds, "runs": results,
                                         "logistic_regression": logreg}, indent=1))


if __name__ == "__main__":
    main()
