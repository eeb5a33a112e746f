"""Training speed of dlexp against scikit-learn's MLPClassifier and PyTorch, on one CPU core.

    python benchmarks/bench_train.py            # the full table (about 3 minutes on 2 cores)
    python benchmarks/bench_train.py --reps 9   # more repetitions, steadier medians

Workloads (the same work for every peer: architecture, optimizer, batch size, epochs, float32):
  P1  FLOP-bound      make_classification n=20000, 100 features (50 informative), 10 classes;
                      MLP 256-256 ReLU; Adam lr 1e-3; batch 128; 5 epochs.
  P2  overhead-bound  digits (1797 x 64, scaled to [0, 1]); MLP 64 ReLU; SGD momentum 0.9,
                      lr 0.01; batch 32; 20 epochs.

Peers run interleaved in one process (dlexp, sklearn, torch, dlexp, sklearn, torch, ...) with
BLAS pinned to one thread; each figure is the median over repetitions of that repetition's
mean epoch time (total training time / epochs: shuffling, batching, forward, backward, update).
dlexp is timed through its real loop, `dlexp.training.train.fit`: its epoch time is metrics.csv's
`epoch_time` (the training pass), its per-epoch evaluation `eval_time` is reported beside it.

Achieved FLOP/s = 6 · params · samples / epoch time: 2·params·N multiply-adds in the forward
pass and 4·params·N in the backward (dW and dx) of the Dense layers; element-wise work ignored.
(dlexp and torch skip the first layer's dx, so 6·params slightly overstates the work done.)
It is compared with the single-core float32 GEMM rate measured here (numpy's BLAS, 512³ and
1024³ matmuls, the better of the two medians).

Startup: wall time of `dlexp --help` in a subprocess, and of `dlexp run configs/quickstart.yaml`
from process start to the end of its first epoch (a wrapper calls dlexp's CLI `main` and
timestamps the first `on_epoch` callback). Memory: max RSS of a `dlexp run` subprocess on P1
(RUSAGE_CHILDREN of a small launcher process, so this one's RSS is not inherited).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one BLAS thread for every peer

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKLOADS = {
    "P1": dict(hidden=[256, 256], optimizer={"name": "adam", "lr": 1e-3}, batch=128, epochs=5),
    "P2": dict(hidden=[64], optimizer={"name": "sgd", "lr": 0.01, "momentum": 0.9}, batch=32,
               epochs=20),
}
P1_N_TRAIN, P1_N_VAL = 20000, 5000


# --- data ----------------------------------------------------------------------------------------

def p1_data():
    from sklearn.datasets import make_classification

    X, y = make_classification(P1_N_TRAIN + P1_N_VAL, 100, n_informative=50, n_classes=10,
                               random_state=0)
    X = X.astype(np.float32)
    return (X[:P1_N_TRAIN], y[:P1_N_TRAIN]), (X[P1_N_TRAIN:], y[P1_N_TRAIN:])


def p2_data():
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = (d.data / 16.0).astype(np.float32), d.target
    return (X, y), (X[-360:], y[-360:])  # train on all 1797; validate on a slice (dlexp needs one)


# --- peers: each trains once and returns the mean epoch time in seconds ---------------------------

def n_params(n_in, hidden, n_out):
    widths = [n_in, *hidden, n_out]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


class DlexpPeer:
    name = "dlexp"

    def __init__(self, wl, train, val):
        from dlexp.config.load import config_from_dict
        from dlexp.data.datasets import Dataset

        (X, y), (Xv, yv) = train, val
        n_classes = int(y.max()) + 1
        self.ds = Dataset(X, y, Xv, yv, Xv, yv, "classification", n_classes,
                          [f"x{j}" for j in range(X.shape[1])], None, "bench")
        self.exp = config_from_dict({
            "name": "bench", "seed": 0, "model": {"hidden": wl["hidden"], "activation": "relu"},
            "optimizer": wl["optimizer"],
            "train": {"epochs": wl["epochs"], "batch_size": wl["batch"], "dtype": "float32"}})
        self.n_eval = len(X) + len(Xv)
        self.eval_times, self.forward_times = [], []

    def run(self):
        from dlexp.training.train import EVAL_CHUNK, build_model, fit

        res = fit(self.exp, self.ds, seed=0)
        self.eval_times.append(statistics.fmean(r["eval_time"] for r in res.metrics))
        # A bare forward pass over the rows the per-epoch evaluation covers (train + val).
        model = build_model(self.exp, self.ds.n_features, self.ds.n_outputs,
                            np.random.default_rng(0), np.float32)
        t = time.perf_counter()
        model.predict(self.ds.X_train, batch=EVAL_CHUNK)
        model.predict(self.ds.X_val, batch=EVAL_CHUNK)
        self.forward_times.append(time.perf_counter() - t)
        return statistics.fmean(r["epoch_time"] for r in res.metrics)


class SklearnPeer:
    name = "sklearn"

    def __init__(self, wl, train, val):
        from sklearn.neural_network import MLPClassifier

        (self.X, self.y), opt = train, wl["optimizer"]
        kw = dict(solver="adam") if opt["name"] == "adam" else dict(
            solver="sgd", momentum=opt["momentum"], nesterovs_momentum=False,
            learning_rate="constant")
        self.epochs = wl["epochs"]
        self.clf = MLPClassifier(hidden_layer_sizes=tuple(wl["hidden"]), activation="relu",
                                 learning_rate_init=opt["lr"], batch_size=wl["batch"], alpha=0.0,
                                 max_iter=wl["epochs"], tol=1e-12, n_iter_no_change=10**9,
                                 early_stopping=False, shuffle=True, random_state=0, **kw)

    def run(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the point here
            t = time.perf_counter()
            self.clf.fit(self.X, self.y)
            elapsed = time.perf_counter() - t
        assert self.clf.n_iter_ == self.epochs and self.clf.coefs_[0].dtype == np.float32
        return elapsed / self.epochs


class TorchPeer:
    name = "torch"

    def __init__(self, wl, train, val):
        import torch

        torch.set_num_threads(1)
        self.torch, self.wl = torch, wl
        X, y = train
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

    def run(self):
        torch, wl = self.torch, self.wl
        nn = torch.nn
        torch.manual_seed(0)
        widths = [self.X.shape[1], *wl["hidden"]]
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        model = nn.Sequential(*layers, nn.Linear(widths[-1], int(self.y.max()) + 1))
        opt = wl["optimizer"]
        if opt["name"] == "adam":
            optimizer = torch.optim.Adam(model.parameters(), lr=opt["lr"])
        else:
            optimizer = torch.optim.SGD(model.parameters(), lr=opt["lr"], momentum=opt["momentum"])
        loss_fn = nn.CrossEntropyLoss()
        n, batch = len(self.X), wl["batch"]
        t = time.perf_counter()
        for _ in range(wl["epochs"]):
            order = torch.randperm(n)
            Xs, ys = self.X[order], self.y[order]
            total = 0.0
            for start in range(0, n, batch):
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(Xs[start:start + batch]), ys[start:start + batch])
                loss.backward()
                optimizer.step()
                total += loss.item()  # as dlexp and sklearn: every batch's loss reaches Python
        return (time.perf_counter() - t) / wl["epochs"]


# --- machine ---------------------------------------------------------------------------------------

def gemm_rate() -> float:
    """Single-core float32 GEMM FLOP/s: the better of 512³ and 1024³ matmul medians."""
    rng = np.random.default_rng(0)
    rates = []
    for size, reps in ((512, 40), (1024, 6)):
        a = rng.standard_normal((size, size), dtype=np.float32)
        b = rng.standard_normal((size, size), dtype=np.float32)
        c = np.empty_like(a)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(reps):
                np.matmul(a, b, out=c)
            times.append((time.perf_counter() - t) / reps)
        rates.append(2 * size**3 / statistics.median(times))
    return max(rates)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import threadpoolctl

    blas = [f"{i['internal_api']} {i.get('version') or ''} ({i.get('architecture') or ''})"
            for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, numpy {np.__version__}, BLAS {', '.join(blas)}")


# --- subprocess measurements -------------------------------------------------------------------------

FIRST_EPOCH_WRAPPER = textwrap.dedent("""
    import sys, time
    import dlexp.training.train as train
    real_fit, seen = train.fit, []
    def fit(exp, ds, seed, on_epoch=None):
        def hook(row):
            if not seen:
                seen.append(time.time())
                sys.__stderr__.write(f"FIRST_EPOCH {seen[0]!r}\\n")
            if on_epoch is not None:
                on_epoch(row)
        return real_fit(exp, ds, seed, on_epoch=hook)
    train.fit = fit
    from dlexp.cli import main
    sys.argv = ["dlexp", *sys.argv[1:]]
    main()
""")


def run_child(argv, cwd) -> tuple[float, str]:
    """(wall seconds, stderr) of one child process."""
    t = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}:\n{proc.stderr}")
    return wall, proc.stderr


def dlexp_exe() -> str:
    exe = Path(sys.executable).with_name("dlexp")
    return str(exe) if exe.exists() else "dlexp"


def help_time() -> float:
    return run_child([dlexp_exe(), "--help"], ROOT)[0]


def sklearn_import_time() -> float:
    """Wall time of a bare `import sklearn.datasets` (what make_moons costs the quickstart)."""
    return run_child([sys.executable, "-c", "import sklearn.datasets"], ROOT)[0]


def python_start_time() -> float:
    return run_child([sys.executable, "-c", "pass"], ROOT)[0]


def first_epoch_time(out: Path, *sets: str) -> float:
    t0 = time.time()
    _, err = run_child([sys.executable, "-c", FIRST_EPOCH_WRAPPER, "run", "configs/quickstart.yaml",
                        "--results", str(out), "--force", *sets], ROOT)
    stamp = next(float(line.split()[1]) for line in err.splitlines() if line.startswith("FIRST_EPOCH"))
    return stamp - t0


P1_CONFIG = """\
name: bench-p1
seed: 0
data: {name: classification, n_samples: 25000, n_features: 100, n_informative: 50, n_classes: 10,
       train_size: 20000, val_size: 2500, test_size: 2500}
model: {hidden: [256, 256], activation: relu}
optimizer: {name: adam, lr: 0.001}
train: {epochs: 5, batch_size: 128, dtype: float32}
"""


# A child's ru_maxrss starts at its parent's RSS at fork (Linux keeps the high-water mark across
# exec), and this process holds torch and the data sets: a small launcher forks `dlexp run`.
RSS_LAUNCHER = textwrap.dedent("""
    import resource, subprocess, sys, time
    t = time.perf_counter()
    subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, wall)
""")


def p1_peak_rss(tmp: Path) -> tuple[float, float]:
    """(max RSS MB, wall seconds) of `dlexp run` on P1, data generation and result files included."""
    cfg = tmp / "p1.yaml"
    cfg.write_text(P1_CONFIG)
    out = subprocess.run([sys.executable, "-c", RSS_LAUNCHER, dlexp_exe(), "run", str(cfg), "--results",
                          str(tmp / "results"), "--force", "-q"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


# --- the table ---------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5, help="repetitions (medians are reported)")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = ap.parse_args(argv)

    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
    peer_classes = [DlexpPeer, SklearnPeer] + ([TorchPeer] if have_torch else [])
    data = {"P1": p1_data(), "P2": p2_data()}

    times = {(w, c.name): [] for w in WORKLOADS for c in peer_classes}
    gemm, helps, firsts, firsts_sk, sk_imports, py_starts = [], [], [], [], [], []
    peers = {}
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for w, wl in WORKLOADS.items():
            peers[w] = [c(wl, *data[w]) for c in peer_classes]
            for p in peers[w]:
                p.run()  # warm-up: imports, caches, first-touch of memory
        for rep in range(args.reps):
            gemm.append(gemm_rate())
            for w in WORKLOADS:
                for p in peers[w]:  # interleaved: dlexp, sklearn, torch, dlexp, ...
                    times[(w, p.name)].append(p.run())
            helps.append(help_time())
            firsts.append(first_epoch_time(tmp / "quick"))
            # the same run on a NumPy-made dataset of the same size: what dlexp itself costs
            firsts_sk.append(first_epoch_time(tmp / "quick", "--set", "data.name=blobs"))
            sk_imports.append(sklearn_import_time())
            py_starts.append(python_start_time())
            print(f"repetition {rep + 1}/{args.reps} done", file=sys.stderr)
        rss, rss_wall = p1_peak_rss(tmp)

    med = {k: statistics.median(v) for k, v in times.items()}
    peak = statistics.median(gemm)
    rows = []
    for w, wl in WORKLOADS.items():
        (X, _), _ = data[w]
        P = n_params(X.shape[1], wl["hidden"], int(data[w][0][1].max()) + 1)
        steps = -(-len(X) // wl["batch"])
        flops = 6 * P * len(X)
        for p in peers[w]:
            t = med[(w, p.name)]
            rows.append({"workload": w, "peer": p.name, "epoch_s": t, "step_us": t / steps * 1e6,
                         "gflops": flops / t / 1e9, "of_gemm": flops / t / peak,
                         "vs_dlexp": t / med[(w, "dlexp")]})
            if p.name == "dlexp":
                rows[-1]["eval_s"] = statistics.median(p.eval_times)
                rows[-1]["forward_s"] = statistics.median(p.forward_times)

    print(f"\nMachine: {machine()}")
    print(f"Single-core float32 GEMM: {peak / 1e9:.1f} GFLOP/s (median of {args.reps}); "
          f"{args.reps} repetitions, medians; BLAS pinned to 1 thread\n")
    print("| workload | peer | epoch time | best of reps | time / step | GFLOP/s (6·P·N) | % of GEMM "
          "| × dlexp time |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        best = min(times[(r["workload"], r["peer"])])
        print(f"| {r['workload']} | {r['peer']} | {r['epoch_s'] * 1e3:.1f} ms | {best * 1e3:.1f} ms "
              f"| {r['step_us']:.0f} µs | {r['gflops']:.1f} | {r['of_gemm'] * 100:.0f} % "
              f"| {r['vs_dlexp']:.2f} |")
    print()
    for r in rows:
        if r["peer"] == "dlexp":
            print(f"{r['workload']} dlexp eval_time {r['eval_s'] * 1e3:.1f} ms per epoch "
                  f"(a bare forward pass over the same train+val rows: {r['forward_s'] * 1e3:.1f} ms)")
    print(f"`dlexp --help`: {statistics.median(helps):.3f} s · `dlexp run configs/quickstart.yaml` "
          f"to the end of epoch 1: {statistics.median(firsts):.3f} s · "
          f"`dlexp run` on P1: max RSS {rss:.0f} MB ({rss_wall:.1f} s)")
    print(f"For scale: `python -c pass` {statistics.median(py_starts):.3f} s; "
          f"`python -c 'import sklearn.datasets'` {statistics.median(sk_imports):.3f} s "
          f"(moons is drawn with NumPy, so the quickstart skips it); the quickstart with "
          f"`--set data.name=blobs` (made by scikit-learn, imported for it) to the end of epoch 1: "
          f"{statistics.median(firsts_sk):.3f} s\n")

    def ratio(w, a, b):
        return med[(w, a)] / med[(w, b)] if (w, b) in med else None

    def spread(w, a, b):
        """Range of the per-repetition ratios (peers of one repetition ran back to back), and the
        ratio of the best times."""
        if (w, b) not in med:
            return ""
        rs = [x / y for x, y in zip(times[(w, a)], times[(w, b)])]
        return f"{min(rs):.2f}–{max(rs):.2f}× (best/best {min(times[(w, a)]) / min(times[(w, b)]):.2f}×)"

    p1 = next(r for r in rows if r["workload"] == "P1" and r["peer"] == "dlexp")
    of_gemm = [6 * n_params(100, [256, 256], 10) * P1_N_TRAIN / t / g
               for t, g in zip(times[("P1", "dlexp")], gemm)]
    checks = [
        ("P1 epoch time ≤ 0.5× scikit-learn's", ratio("P1", "dlexp", "sklearn"), 0.5, "×",
         spread("P1", "dlexp", "sklearn")),
        ("P1 epoch time ≤ 0.6× torch's", ratio("P1", "dlexp", "torch"), 0.6, "×",
         spread("P1", "dlexp", "torch")),
        ("P1 ≥ 55 % of the GEMM rate", p1["of_gemm"], 0.55, "≥",
         f"{min(of_gemm) * 100:.0f}–{max(of_gemm) * 100:.0f} % (each with its repetition's GEMM rate)"),
        ("P2 time per step ≤ 0.5× scikit-learn's", ratio("P2", "dlexp", "sklearn"), 0.5, "×",
         spread("P2", "dlexp", "sklearn")),
        ("`dlexp run` on P1 max RSS ≤ 300 MB", rss, 300, "MB", "one run"),
        ("`dlexp --help` ≤ 0.25 s", statistics.median(helps), 0.25, "s",
         f"{min(helps):.2f}–{max(helps):.2f} s"),
        ("quickstart first epoch ≤ 1 s after start", statistics.median(firsts), 1.0, "s",
         f"{min(firsts):.2f}–{max(firsts):.2f} s"),
    ]
    print("| target | measured (median) | per repetition | met |")
    print("| --- | ---: | ---: | :---: |")
    for label, value, limit, unit, rng in checks:
        if value is None:
            print(f"| {label} | n/a (peer missing) | | – |")
            continue
        ok = value >= limit if unit == "≥" else value <= limit
        shown = (f"{value * 100:.0f} %" if unit == "≥" else f"{value:.2f}×" if unit == "×"
                 else f"{value:.0f} MB" if unit == "MB" else f"{value:.2f} s")
        print(f"| {label} | {shown} | {rng} | {'yes' if ok else 'NO'} |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "gemm_flops": gemm, "help_s": helps,
                                         "first_epoch_s": firsts, "first_epoch_blobs_s": firsts_sk,
                                         "p1_rss_mb": rss,
                                         "sklearn_import_s": sk_imports, "python_start_s": py_starts,
                                         "raw": {f"{w}/{n}": v for (w, n), v in times.items()}},
                                        indent=2))


if __name__ == "__main__":
    main()
