"""Training protocols: early stopping, restored weights, repeats, cross-validation, divergence."""

import json
import math
import statistics
import warnings
from pathlib import Path

import numpy as np
import pytest

from dlexp.config.load import config_from_dict
from dlexp.training.early_stopping import EarlyStopping
from dlexp.training.experiment import execute
from dlexp.results.store import read_csv, write_run
from dlexp.training.train import build_model, evaluate
from dlexp.nn.losses import LOSSES


def cfg(**sections):
    base = {"name": "t", "data": {"name": "moons", "n_samples": 200, "noise": 0.3},
            "model": {"hidden": [16]}, "optimizer": {"name": "adam", "lr": 0.01},
            "train": {"epochs": 10, "batch_size": 16}}
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    return config_from_dict(base)


def feed(stopper, values):
    """Epochs at which update() said stop (first one), or None."""
    for epoch, v in enumerate(values, start=1):
        if stopper.update(epoch, v):
            return epoch
    return None


# --- early stopping on scripted validation curves ------------------------------------------------

def test_no_improvement_rule():
    es = EarlyStopping(patience=3)
    assert feed(es, [1.0, 0.9, 0.8, 0.85, 0.81, 0.82, 0.7]) == 6
    assert es.best_epoch == 3 and es.best_value == 0.8 and es.stopped_epoch == 6


def test_no_improvement_min_delta():
    # improvements of 0.005 are not improvements when min_delta = 0.01
    es = EarlyStopping(patience=2, min_delta=0.01)
    assert feed(es, [1.0, 0.995, 0.99, 0.5]) == 3
    assert es.best_epoch == 1


def test_consecutive_increase_rule():
    # the notes' rule: stop when the validation error rose `patience` epochs in a row;
    # a dip in between resets the count even without a new best
    es = EarlyStopping(patience=3, rule="consecutive_increase")
    assert feed(es, [1.0, 0.8, 0.9, 1.0, 0.95, 1.0, 1.1, 1.2, 0.1]) == 8
    assert es.best_epoch == 2


def test_consecutive_increase_not_triggered_by_plateau():
    es = EarlyStopping(patience=2, rule="consecutive_increase")
    assert feed(es, [1.0, 1.0, 1.0, 1.0, 1.0]) is None


def test_start_from_epoch():
    es = EarlyStopping(patience=2, start_from_epoch=3)
    # epochs 1-3 are ignored even though epoch 1 is the lowest
    assert feed(es, [0.1, 0.2, 0.3, 0.9, 0.95, 0.97]) == 6
    assert es.best_epoch == 4


def test_metric_monitor_is_maximised():
    es = EarlyStopping(monitor="val_acc", patience=2)
    assert feed(es, [0.5, 0.7, 0.6, 0.65]) == 4
    assert es.best_epoch == 2 and es.best_value == 0.7


# --- restored weights ------------------------------------------------------------------------------

def final_figures_match_best_row(out):
    rows = out.metrics
    best = rows[out.summary["best_epoch"] - 1]
    assert out.summary["val_loss"] == pytest.approx(best["val_loss"], rel=0, abs=0)
    assert out.summary["train_loss"] == pytest.approx(best["train_loss"], rel=0, abs=0)


def test_restore_best_when_stopping_triggers():
    exp = cfg(train={"epochs": 200, "batch_size": 8,
                     "early_stopping": {"patience": 5}},
              model={"hidden": [64, 64]}, data={"n_samples": 120, "noise": 0.4})
    out = execute(exp)
    s = out.summary
    assert s["stopped_early"] and s["stopped_epoch"] == s["epochs_run"] < 200
    assert s["epochs_run"] - s["best_epoch"] == 5
    assert s["restored_best"]
    final_figures_match_best_row(out)


def test_restore_best_when_stopping_never_triggers():
    exp = cfg(train={"epochs": 25, "early_stopping": {"patience": 1000}}, data={"noise": 0.4})
    out = execute(exp)
    s = out.summary
    assert not s["stopped_early"] and s["epochs_run"] == 25 and s["restored_best"]
    assert s["best_epoch"] == min(out.metrics, key=lambda r: r["val_loss"])["epoch"]
    final_figures_match_best_row(out)


def test_saved_weights_are_the_reported_ones(tmp_path):
    exp = cfg(train={"epochs": 30, "early_stopping": {"patience": 4}}, model={"hidden": [16], "norm": "batchnorm"})
    out = execute(exp)
    folder = write_run(tmp_path, "r", out, "")
    state = dict(np.load(folder / "model.npz", allow_pickle=False))
    from dlexp.data.datasets import load_dataset

    ds = load_dataset(exp.data, Path.cwd())
    model = build_model(exp, 2, 2, np.random.default_rng(0), np.float32)
    model.load_state_dict(state)
    loss, acc = evaluate(model, LOSSES["cross_entropy"](), ds.X_val.astype(np.float32), ds.y_val, "classification")
    assert loss == out.summary["val_loss"] and acc == out.summary["val_acc"]


def test_without_early_stopping_final_weights_are_kept():
    out = execute(cfg(train={"epochs": 12}))
    s = out.summary
    assert s["restored_best"] is False and s["stopped_epoch"] is None
    assert s["val_loss"] == out.metrics[-1]["val_loss"]


def test_monitor_must_fit_the_task():
    from dlexp.errors import ConfigError

    exp = cfg(data={"name": "sine"}, train={"early_stopping": {"monitor": "val_acc"}})
    with pytest.raises(ConfigError, match="val_acc does not fit a regression task"):
        execute(exp)


# --- repeats and CV ----------------------------------------------------------------------------

def test_repeats_aggregate_and_are_deterministic():
    exp = cfg(repeats=3, train={"epochs": 5})
    a, b = execute(exp), execute(exp)
    assert [lbl for lbl, _ in a.members] == ["seed0", "seed1", "seed2"]
    vals = [m.summary["val_loss"] for _, m in a.members]
    assert len(set(vals)) == 3  # different training seeds really differ
    assert a.summary["val_loss"] == pytest.approx(statistics.fmean(vals))
    assert a.summary["val_loss_std"] == pytest.approx(statistics.stdev(vals))
    assert a.summary["n_members"] == 3 and a.summary["kind"] == "repeats"
    assert [m.summary["val_loss"] for _, m in b.members] == vals
    # the split is fixed across seeds unless repeat_data is set
    assert {m.summary["data_seed"] for _, m in a.members} == {0}
    # per-epoch curves: mean and std columns
    row = a.metrics[2]
    col = [m.metrics[2]["val_loss"] for _, m in a.members]
    assert row["val_loss"] == pytest.approx(statistics.fmean(col))
    assert row["val_loss_std"] == pytest.approx(statistics.stdev(col)) and row["n_members"] == 3


def test_explicit_seeds_and_repeat_data():
    out = execute(cfg(seeds=[5, 9], repeat_data=True, train={"epochs": 2}))
    assert [lbl for lbl, _ in out.members] == ["seed5-data0", "seed9-data1"]
    assert [m.summary["seed"] for _, m in out.members] == [5, 9]
    assert out.summary["seeds"] == [5, 9]


def test_cross_validation_members(tmp_path):
    exp = cfg(eval={"cv": 4}, train={"epochs": 3})
    out = execute(exp)
    assert out.summary["kind"] == "cv" and out.summary["n_members"] == 4
    members = [m.summary for _, m in out.members]
    assert [m["fold"] for m in members] == [0, 1, 2, 3]
    # folds partition the train+val pool (200 * 0.8 = 160 samples), test is held out and shared
    assert sum(m["n_val"] for m in members) == 160
    assert all(m["n_train"] + m["n_val"] == 160 for m in members)
    assert len({m["n_test"] for m in members}) == 1
    folder = write_run(tmp_path, "cv", out, "")
    assert sorted(p.name for p in (folder / "members").iterdir()) == [f"seed0-fold{k}" for k in range(4)]
    top = read_csv(folder / "metrics.csv")
    assert "val_loss_std" in top[0] and len(top) == 3


# --- divergence --------------------------------------------------------------------------------

def test_huge_learning_rate_diverges_cleanly(capfd):
    exp = cfg(optimizer={"name": "sgd", "lr": 1e3}, train={"epochs": 20})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = execute(exp)
    s = out.summary
    assert s["status"] == "diverged"
    assert s["diverged_epoch"] == s["epochs_run"] == len(out.metrics)
    # every epoch before the diverged one was finite
    assert all(math.isfinite(r["train_loss"]) for r in out.metrics[:-1])
    err = capfd.readouterr().err
    assert "RuntimeWarning" not in err and "overflow" not in err


def test_divergence_threshold_marks_the_epoch():
    exp = cfg(optimizer={"name": "sgd", "lr": 3.0}, train={"epochs": 30, "divergence_threshold": 1.0})
    out = execute(exp)
    rows = out.metrics
    first_bad = next(r["epoch"] for r in rows if not (r["train_loss"] <= 1.0))
    assert out.summary["status"] == "diverged" and out.summary["diverged_epoch"] == first_bad == len(rows)


def test_diverged_run_is_exit_0(tmp_path):
    from click.testing import CliRunner

    from dlexp.cli import main

    p = tmp_path / "d.yaml"
    p.write_text("data: {name: moons, n_samples: 100}\nmodel: {hidden: [8]}\noptimizer: {name: sgd, lr: 1000}\n"
                 "train: {epochs: 5}\n")
    res = CliRunner().invoke(main, ["run", str(p), "--results", str(tmp_path), "-q", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["status"] == "diverged"
