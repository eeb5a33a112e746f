"""The x axis of a sweep: which swept key is a number for every run, its value per run, its name.

Read by the sweep's diagnosis (where its best point is, which side under- or overfits) and by
the validation and learning curves, so that both order the points the same way.
"""

from __future__ import annotations

import statistics

from .. import dotted
from ..results.reader import Run

SEED_KEYS = ("seed", "seeds", "repeats", "data.seed")  # swept for error bars, never an x axis
REG_KEYS = ("regularization.l1", "regularization.l2", "optimizer.weight_decay")
# +1: a larger value adds capacity (the underfitting side is on the left); −1: it removes capacity.
CAPACITY = {"model.hidden": 1, "data.poly_degree": 1, "train.epochs": 1, "regularization.l1": -1,
            "regularization.l2": -1, "model.dropout": -1, "model.dropout.rate": -1, "optimizer.weight_decay": -1}
AXIS_NAMES = {"regularization.l1": "L1 strength λ", "regularization.l2": "L2 strength λ",
              "model.dropout": "dropout rate", "model.dropout.rate": "dropout rate",
              "optimizer.lr": "learning rate", "optimizer.weight_decay": "weight decay",
              "train.epochs": "epochs", "train.batch_size": "batch size",
              "data.poly_degree": "polynomial degree", "data.noise": "data noise",
              "data.label_noise": "label noise (fraction of train labels)", "data.n_samples": "samples"}


def swept_value(run: Run, key: str):
    return run.point[key] if key in run.point else dotted.get(run.config, key)


ARCHITECTURES = "hidden layers (units × layers)"  # the axis of mixed widths and depths


def architectures(values) -> list[tuple]:
    """The distinct hidden-layer lists of `values`, in the order of their positions on an
    architecture axis: by total units, then by depth."""
    return sorted({tuple(v) for v in values}, key=lambda h: (sum(h), len(h)))


def _hidden_axis(values) -> tuple[list[float], str] | None:
    """Width when every list is one repeated width, depth when only the length varies; else one
    position per architecture (0, 1, 2, … in `architectures` order): [32, 32] is neither 64 units
    in one layer nor two layers alone, and [8] and [4, 4] are two points, not one of 8 units."""
    if not all(isinstance(v, list) for v in values):
        return None
    if len({len(v) for v in values}) == 1 and all(len(set(v)) <= 1 for v in values):
        return [float(v[0]) if v else 0.0 for v in values], "hidden width (units per layer)"
    if len({w for v in values for w in v}) <= 1:
        return [float(len(v)) for v in values], "depth (hidden layers)"
    position = {h: float(i) for i, h in enumerate(architectures(values))}
    return [position[tuple(v)] for v in values], ARCHITECTURES


def _rate(v):
    if isinstance(v, dict):
        v = v.get("rate")
    if isinstance(v, list):
        return statistics.fmean(v) if v else 0.0
    return v


def numeric_axis(key: str, runs: list[Run]) -> tuple[list[float], str] | None:
    """(x per run, axis label) when `key` has a number for every run, else None."""
    values = [swept_value(r, key) for r in runs]
    if key == "model.hidden":
        return _hidden_axis(values)
    if key in ("model.dropout", "model.dropout.rate"):
        values = [_rate(v) for v in values]
    if key == "train.batch_size":  # "full" = the whole training set
        values = [r.summary.get("n_train") if v == "full" else v for r, v in zip(runs, values)]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    name = AXIS_NAMES.get(key)
    return [float(v) for v in values], (f"{name} ({key})" if name else key)


def x_key(swept: list[str], runs: list[Run]) -> str | None:
    """The numeric swept key with the most distinct values (seeds and train_size aside)."""
    best, most = None, 1
    for key in swept:
        if key in SEED_KEYS or key == "data.train_size":
            continue
        axis = numeric_axis(key, runs)
        if axis and len(set(axis[0])) > most:
            best, most = key, len(set(axis[0]))
    return best
