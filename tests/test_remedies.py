"""The ranked remedies of each label on representative configs, pinned: what comes first, with
which values, and the exact wording (as a digest of every action and reason)."""

from __future__ import annotations

import hashlib
import json

import pytest

from dlexp.analysis.diagnose import DEFAULT_THRESHOLDS
from dlexp.analysis.remedies import remedies

EV = {"n_train": 60, "n_val": 20, "n_test": 20, "n_params": 300, "n_inputs": 2, "reason": "train loss high",
      "window": 10, "train_projected_fall": None, "stopped_early": False, "val_rise": None, "min_val_epoch": 12,
      "gap": 0.4}

MOONS = {"name": "moons", "n_samples": 400, "train_size": 0.6, "val_size": 0.2, "test_size": 0.2, "poly_degree": 1}


def config(hidden=(8,), l1=0.0, l2=0.0, penalize_bias=False, dropout=0.0, data=None, optimizer=None,
           early_stopping=None, batch_size=32, norm="none"):
    return {"data": {**MOONS, **(data or {})},
            "model": {"hidden": list(hidden), "dropout": dropout, "norm": norm},
            "regularization": {"l1": l1, "l2": l2, "penalize_bias": penalize_bias},
            "optimizer": optimizer or {"name": "adam", "lr": 0.001},
            "train": {"epochs": 100, "batch_size": batch_size, "early_stopping": early_stopping}}


CASES = {
    # label, config, evidence changes -> ranked (key, values)
    "underfit-linear-still-falling": (
        "underfitting", config(hidden=()), {"train_projected_fall": 0.5},
        [("data.poly_degree", [3, 5]), ("train.epochs", [200, 400]), ("model.hidden", [[16], [64]])]),
    "underfit-every-brake-on": (
        "underfitting", config(hidden=(16, 16), l1=0.01, l2=0.1, penalize_bias=True, dropout=0.5),
        {"train_projected_fall": 0.02},
        [("regularization.penalize_bias", [False]), ("regularization.l2", [0.01, 0.0]),
         ("regularization.l1", [0.001, 0.0]), ("model.dropout.rate", [0.25, 0.0]),
         ("model.hidden", [[32, 32], [64, 64]]), ("data.poly_degree", [3, 5]), ("train.epochs", [200, 400])]),
    "underfit-wide-input-high-degree": (
        "underfitting", config(hidden=(8,), data={"poly_degree": 11}), {"n_inputs": 30, "stopped_early": True,
                                                                        "train_projected_fall": 0.9},
        [("model.hidden", [[16], [32]])]),
    "underfit-per-layer-dropout-flat": (
        "underfitting", config(hidden=(8, 4), l2=0.001, dropout=[0.2, 0.4], data={"poly_degree": 10}),
        {"train_projected_fall": 0.01, "n_inputs": None},
        [("regularization.l2", [0.0001, 0.0]), ("model.dropout.rate", [0.2, 0.0]),
         ("model.hidden", [[16, 8], [32, 16]]), ("data.poly_degree", [12])]),
    "overfit-big-net-val-rose": (
        "overfitting", config(hidden=(64, 64)), {"val_rise": 0.3, "n_params": 4500},
        [("train.early_stopping", [{"patience": 20, "restore_best": True}]), ("data.train_size", [120, 240]),
         ("model.hidden", [[64], [32, 32]]), ("regularization.l2", [0.001, 0.01]),
         ("model.dropout.rate", [0.2, 0.5]), ("regularization.l1", [0.0001, 0.001])]),
    "overfit-csv-regularized": (
        "overfitting", config(hidden=(32,), l1=0.001, l2=0.01, dropout={"rate": 0.85, "mode": "inverted"},
                              data={"name": "csv", "n_samples": None},
                              early_stopping={"patience": 5, "restore_best": True}), {},
        [("regularization.l2", [0.03, 0.1]), ("model.hidden", [[16], [8]]), ("regularization.l1", [0.003, 0.01])]),
    "overfit-linear-int-split": (
        "overfitting", config(hidden=(), dropout=0.3, data={"n_samples": 100, "train_size": 60, "val_size": 20,
                                                             "test_size": 20}),
        {"val_rise": 0.05},
        [("data.train_size", [120, 240]), ("regularization.l2", [0.001, 0.01]),
         ("train.early_stopping", [{"patience": 20, "restore_best": True}]), ("regularization.l1", [0.0001, 0.001])]),
    "overfit-fraction-split-some-dropout": (
        "overfitting", config(hidden=(8, 4), dropout=0.3, data={"n_samples": 100}), {},
        [("data.train_size", [120, 240]), ("regularization.l2", [0.001, 0.01]), ("model.hidden", [[8], [4, 2]]),
         ("model.dropout.rate", [0.4, 0.5]), ("train.early_stopping", [{"patience": 20, "restore_best": True}]),
         ("regularization.l1", [0.0001, 0.001])]),
    "overfit-one-unit": (
        "overfitting", config(hidden=(1,), data={"n_samples": 100}), {},
        [("data.train_size", [120, 240]), ("regularization.l2", [0.001, 0.01]), ("model.dropout.rate", [0.2, 0.5]),
         ("model.hidden", [[]]), ("train.early_stopping", [{"patience": 20, "restore_best": True}]),
         ("regularization.l1", [0.0001, 0.001])]),
    "overconfident-no-stopping": (
        "overconfident", config(hidden=(64,)), {"val_rise": 0.4},
        [("regularization.l2", [0.001, 0.01]),
         ("train.early_stopping", [{"monitor": "val_acc", "patience": 20, "restore_best": True}]),
         ("model.dropout.rate", [0.2, 0.5])]),
    "overconfident-stopped-on-the-loss": (
        "overconfident", config(hidden=(64,), l2=0.001, early_stopping={"monitor": "val_loss", "patience": 10,
                                                                         "restore_best": True}), {},
        [("train.early_stopping", [{"monitor": "val_acc", "patience": 10, "restore_best": True}]),
         ("regularization.l2", [0.003, 0.01]), ("model.dropout.rate", [0.2, 0.5])]),
    "not-converged-plain-sgd": (
        "not_converged", config(optimizer={"name": "sgd", "lr": 0.01}), {"train_projected_fall": 0.4},
        [("train.epochs", [200, 400]), ("optimizer.lr", [0.03, 0.1]),
         ("optimizer", [{"name": "sgd", "lr": 0.01, "momentum": 0.9}])]),
    "not-converged-adagrad-scheduled": (
        "not_converged", config(optimizer={"name": "adagrad", "lr": 0.01, "schedule": "constant", "clip_norm": 1.0}),
        {"train_projected_fall": 0.4},
        [("train.epochs", [200, 400]), ("optimizer.lr", [0.03, 0.1]),
         ("optimizer", [{"name": "adam", "lr": 0.001, "schedule": "constant", "clip_norm": 1.0}])]),
    "not-converged-adam-no-lr": (
        "not_converged", config(optimizer={"name": "adam", "lr": None}), {"train_projected_fall": 0.4},
        [("train.epochs", [200, 400])]),
    "diverged-sgd": (
        "diverged", config(optimizer={"name": "sgd", "lr": 1.0}), {},
        [("optimizer.lr", [0.33, 0.1]), ("optimizer.clip_norm", [1.0, 5.0]), ("model.norm", ["batchnorm"])]),
    "diverged-clipped-small-batches": (
        "diverged", config(optimizer={"name": "sgd", "lr": 1.0, "clip_norm": 5.0}, batch_size=2), {},
        [("optimizer.lr", [0.33, 0.1]), ("model.norm", ["layernorm"]), ("optimizer.clip_norm", [1.7, 0.5])]),
    "diverged-linear-normalized": (
        "diverged", config(hidden=(), optimizer={"name": "adam", "lr": 0.5}, norm="batchnorm"), {},
        [("optimizer.lr", [0.17, 0.05]), ("optimizer.clip_norm", [1.0, 5.0])]),
    "good-fit": ("good_fit", config(), {}, []),
}

# sha256 of every case's full output (key, action, why, values, base), in CASES order
WORDING = "00d71b5e58ee9c8f"


def ranked(name):
    label, cfg, changes, _ = CASES[name]
    return remedies(label, {**EV, **changes}, cfg, dict(DEFAULT_THRESHOLDS))


@pytest.mark.parametrize("name", list(CASES))
def test_ranking_is_pinned(name):
    assert [(r["key"], r["values"]) for r in ranked(name)] == CASES[name][3]


def test_actions_and_reasons_are_pinned():
    text = json.dumps([ranked(name) for name in CASES], sort_keys=True, ensure_ascii=False)
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == WORDING
