"""Run every study in configs/studies/ at full size and render its key figure into docs/gallery/.

    python scripts/make_gallery.py [--jobs N] [--results DIR] [--out docs/gallery] [STUDY …]

Each study is a sweep spec; finished runs are reused (runs are stored by content hash), so a second
call only redraws. After each sweep the runs are diagnosed (`dlexp diagnose`, which also writes the
label into summary.json and the sweep's summary.csv) and the key figures are printed as a table, the
numbers the studies' README quotes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "configs" / "studies"

# study → (plot kind, metric, figures printed per point[, points drawn: {key: value}, or a list of them
# (each point matching one is drawn), default all])
GALLERY = {
    "capacity": ("validation", "loss", ["train_loss", "val_loss", "gap"]),
    "learning-curve": ("learning", "loss", ["train_loss", "val_loss", "gap"]),
    "l2": ("validation", "loss", ["train_loss", "val_loss", "gap", "val_acc", "weights.l2_norm"]),
    "dropout": ("validation", "loss", ["train_loss", "val_loss", "gap", "val_acc"]),
    "sparsity": ("weights", None, ["weights.zero_fraction", "weights.near_zero_fraction", "weights.l2_norm",
                                   "val_acc"]),
    "bias-penalty": ("validation", "loss", ["train_loss", "val_loss", "train_r2", "val_r2"]),
    "early-stopping": ("compare", "loss", ["epochs_run", "best_epoch", "train_loss", "val_loss", "gap"]),
    "batch-size": ("compare", "loss", ["train_loss", "val_acc", "epoch_time", "rises"]),
    "momentum": ("compare", "loss", ["train_loss", "val_acc", "rises"]),
    # the pair at effective step 1: six curves with their val lines hide the zig-zag the claim is about
    "momentum-smooth": ("compare", "loss", ["train_loss", "val_acc", "rises"],
                        [{"optimizer": {"name": "sgd", "lr": 1.0}},
                         {"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9}}]),
    "optimizers": ("compare", "loss", ["train_loss", "val_acc"]),
    # the layer statistics at lr 0.5, where both train; at lr 2 the plain net's values blow up to 1e29
    "batchnorm-lr": ("activations", None, ["n_diverged", "train_loss", "val_acc", "drift"], {"optimizer.lr": 0.5}),
    "norm-batch-size": ("validation", "loss", ["train_loss", "val_loss", "val_acc"]),
    "double-descent": ("validation", "loss", ["train_loss", "val_loss", "val_acc", "n_params"]),
    "mnist1d-table": ("compare", "acc", ["train_acc", "val_acc", "test_acc", "n_params"]),
    "mnist1d-double-descent": ("validation", "acc", ["train_acc", "val_acc", "test_acc", "test_loss", "n_params"]),
    "mnist1d-random-labels": ("compare", "acc", ["train_acc", "val_acc", "test_acc", "fit_epoch"]),
    # the notes' last claims
    "ensemble": ("averaging", None, ["val_loss", "ensemble_val_loss", "test_loss", "ensemble_test_loss", "val_acc",
                                     "ensemble_val_acc", "test_acc", "ensemble_test_acc"]),
    "dropout-averaging": ("averaging", None, ["test_loss", "ensemble_test_loss", "test_acc", "ensemble_test_acc"]),
    "init-scale": ("validation", "acc", ["n_diverged", "train_loss", "val_acc"]),
    "feature-selection": ("inputs", None, ["weights.zero_fraction", "train_acc", "val_acc"]),
    "add-features": ("validation", "loss", ["train_loss", "val_loss", "gap"]),
    "l1-gap": ("validation", "loss", ["train_loss", "val_loss", "gap", "val_acc", "weights.zero_fraction"]),
    "cv-ensemble": ("validation", "loss", ["test_loss", "ensemble_test_loss", "test_acc", "ensemble_test_acc"]),
    "correlated-features": ("inputs", None, ["train_acc", "val_acc", "weights.zero_fraction"]),
    "batchnorm-regularizes": ("compare", "loss", ["train_loss", "val_loss", "gap", "val_acc"]),
    "vanishing-gradients": ("gradients", None, ["train_loss", "val_acc"]),
    "covariate-shift": ("compare", "loss", ["train_loss@1", "train_loss@5", "train_loss", "val_acc", "drift"]),
    # each seed's final loss: the mean over seeds would mix the two minima the claim is about
    "local-minima": ("seeds", "loss", ["train_loss", "train_acc", "n_good", "lowest_loss", "grad_norm"]),
}

# compare figures whose claim is about time, not epochs: batch GD's epochs are cheap, SGD's many steps are not
PER_SECOND = {"batch-size"}


def member_stat(run, fn) -> float | None:
    """Mean over the run's members (seeds) of fn(member)."""
    values = [fn(m) for m in (run.members() or [run])]
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def rises(run) -> float | None:
    """Sum of the epoch-to-epoch increases of the train loss over its final value (0: monotone)."""
    tl = [r["train_loss"] for r in run.metrics if r.get("train_loss") is not None]
    return sum(max(0.0, b - a) for a, b in zip(tl, tl[1:])) / tl[-1] if len(tl) > 1 and tl[-1] else None


def drift(run) -> float | None:
    """Mean over layers of std/mean, over epochs ≥ 1, of the probe batch's pre-activation std."""
    layers: dict = {}
    for row in run.activations:
        if row["epoch"] and row["std"] is not None and row["std"] == row["std"] and abs(row["std"]) < 1e30:
            layers.setdefault(row["layer"], []).append(row["std"])
    cvs = [statistics.pstdev(v) / statistics.fmean(v) for v in layers.values() if len(v) > 1 and statistics.fmean(v)]
    return statistics.fmean(cvs) if cvs else None


def fit_epoch(run) -> float | None:
    """The first epoch whose train accuracy reaches 95 % (random labels: how long memorising takes)."""
    return next((float(r["epoch"]) for r in run.metrics if (r.get("train_acc") or 0) >= 0.95), None)


def loss_after(run, epochs: int) -> float | None:
    """The train loss after the first `epochs` epochs (how fast a run learns)."""
    rows = [r for r in run.metrics if r["epoch"] == epochs]
    return rows[0]["train_loss"] if rows else None


def lowest_loss(run) -> float | None:
    """The lowest train loss of any epoch (SGD at a constant lr may pass a minimum it does not end in)."""
    tl = [r["train_loss"] for r in run.metrics if r.get("train_loss") is not None]
    return min(tl) if tl else None


def grad_norm(run) -> float | None:
    """The largest Dense layer weight-gradient norm in the last epoch (train.track_gradients)."""
    row = run.metrics[-1] if run.metrics else {}
    norms = [v for k, v in row.items() if k.startswith("grad_norm_") and v is not None]
    return max(norms) if norms else None


def n_good(run) -> int:
    """Members (seeds) whose final train loss is below 0.1: local-minima's good minimum, not its poor one."""
    return sum((m.summary.get("train_loss") or 1.0) < 0.1 for m in (run.members() or [run]))


# printed figures computed from each member's metrics and averaged over the members (seeds)
MEMBER_STATS = {"rises": rises, "fit_epoch": fit_epoch, "drift": drift, "lowest_loss": lowest_loss,
                "grad_norm": grad_norm}


def figure(run, key: str):
    if key.startswith("train_loss@"):  # train_loss@5: after 5 epochs
        return member_stat(run, lambda m: loss_after(m, int(key.partition("@")[2])))
    if key in MEMBER_STATS:
        return member_stat(run, MEMBER_STATS[key])
    if key == "n_good":
        return n_good(run)
    node = run.summary
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("studies", nargs="*", help=f"studies to run (default: all: {', '.join(GALLERY)})")
    ap.add_argument("--jobs", type=int, default=None, help="runs trained at once (default: the number of CPUs)")
    ap.add_argument("--results", type=Path, default=ROOT / "results", help="results folder (default: results/)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery", help="figure folder (default: docs/gallery)")
    args = ap.parse_args(argv)

    from dlexp.analysis.verdict import diagnose
    from dlexp.figures.choose import plot
    from dlexp.results.reader import Sweep
    from dlexp.sweeps.sweep import run_sweep
    from dlexp.sweeps.spec import load_spec

    names = args.studies or list(GALLERY)
    unknown = [n for n in names if n not in GALLERY]
    if unknown:
        ap.error(f"unknown studies {unknown}; valid: {', '.join(GALLERY)}")
    for name in names:
        kind, metric, keys, *select = GALLERY[name]
        t0 = time.perf_counter()
        plan = load_spec(STUDIES / f"{name}.yaml")
        result = run_sweep(plan, args.results, jobs=args.jobs, quiet=True, echo=lambda text: print(text, file=sys.stderr))
        if result.failures:
            print(f"{name}: {len(result.failures)} runs failed", file=sys.stderr)
            return 1
        labels = {r.run_id: d["label"] for r, d in diagnose([plan.name], args.results)}
        sweep = Sweep.load(args.results / "sweeps" / plan.name)
        wanted = select[0] if select and isinstance(select[0], list) else select  # [{key: value}, …]
        targets = [r.folder for r in sweep.runs
                   if any(all(r.point.get(k) == v for k, v in w.items()) for w in wanted)] if select else [plan.name]
        path = plot(targets, kind=kind, metric=metric, out=args.out / f"{name}.png", results=args.results,
                    per_second=name in PER_SECOND)
        print(f"\n## {name} ({plan.name}: {len(sweep.runs)} points × {len(plan.spec.get('seeds', [0]))} seeds, "
              f"{time.perf_counter() - t0:.0f} s) → {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        print(" | ".join(["point", *keys, "diagnosis"]))
        for run in sweep.runs:
            print(" | ".join([run.label, *(fmt(figure(run, k)) for k in keys), labels.get(run.run_id, "–")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
