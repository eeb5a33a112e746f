"""The ensemble of repeats and CV folds: averaged predictions scored as one model (training/ensemble.py)."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from dlexp.config.load import config_from_dict
from dlexp.data.datasets import load_dataset
from dlexp.results.summary import ENSEMBLE_FIGURES
from dlexp.training.ensemble import ensemble_figures, shared_splits
from dlexp.training.experiment import execute
from dlexp.training.train import fit


def cfg(task="classification", **top):
    data = {"name": "moons", "n_samples": 200, "noise": 0.3} if task == "classification" else \
        {"name": "sine", "n_samples": 120, "noise": 0.3}
    raw = {"name": "t", "data": data, "model": {"hidden": [16]}, "optimizer": {"name": "adam", "lr": 0.01},
           "train": {"epochs": 15, "batch_size": 16, "dtype": "float64"}, **top}
    return config_from_dict(raw)


def ensemble_keys(summary: dict) -> set[str]:
    return {k for k in summary if k.startswith("ensemble_")}


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_an_ensemble_of_one_is_that_member(task):
    """Scored alone, a member's outputs give exactly the figures the trainer reported for it."""
    exp = cfg(task)
    ds = load_dataset(exp.data)
    res = fit(exp, ds, seed=0)
    metric = res.summary["metric"]
    got = ensemble_figures([(res.outputs, ds)], ("val", "test"), res.summary["task"], metric)
    for split in ("val", "test"):
        assert got[f"ensemble_{split}_loss"] == pytest.approx(res.summary[f"{split}_loss"], rel=1e-10)
        assert got[f"ensemble_{split}_{metric}"] == pytest.approx(res.summary[f"{split}_{metric}"], rel=1e-10)


def test_classification_averages_probabilities_not_logits():
    # two members, two rows, two classes; the second member is sure and wrong on row 0
    z1 = np.array([[2.0, 0.0], [0.0, 1.0]])
    z2 = np.array([[-800.0, 800.0], [0.0, 3.0]])  # softmax(z2)[0, 0] underflows to 0 in float64
    y = np.array([0, 1])
    ds = SimpleNamespace(y_val=y)
    got = ensemble_figures([({"val": z1}, ds), ({"val": z2}, ds)], ("val",), "classification", "acc")
    p1 = np.exp(z1) / np.exp(z1).sum(axis=1, keepdims=True)
    p_bar = np.array([p1[0] / 2, (p1[1] + np.exp([0.0, 3.0]) / np.exp([0.0, 3.0]).sum()) / 2])
    assert got["ensemble_val_loss"] == pytest.approx(-np.mean(np.log(p_bar[[0, 1], y])), rel=1e-12)
    # row 0: p̄ = (0.44, 0.56) → class 1, wrong, at a loss of −log 0.44; averaged logits (−399, 400)
    # would cost ~800 there
    assert got["ensemble_val_acc"] == 0.5 and got["ensemble_val_loss"] < 2


def test_regression_averages_in_the_targets_units():
    """Folds standardize the target each with its own (μ, σ): outputs are averaged in the target's units."""
    y_raw = np.array([[1.0], [2.0], [4.0]])
    scales = [(np.array([2.0]), np.array([1.0])), (np.array([3.0]), np.array([2.0]))]
    preds_raw = [np.array([[1.5], [2.0], [3.0]]), np.array([[0.5], [3.0], [4.0]])]
    members = []
    for (m, s), p in zip(scales, preds_raw):
        ds = SimpleNamespace(y_test=(y_raw - m) / s, target_mean=m, target_std=s)
        members.append(({"test": (p - m) / s}, ds))
    got = ensemble_figures(members, ("test",), "regression", "r2")
    pred = np.mean(preds_raw, axis=0)  # [1, 2.5, 3.5]
    mse_units = np.mean((pred - y_raw) ** 2)
    assert got["ensemble_test_loss"] == pytest.approx(np.mean([mse_units / s[0] ** 2 for _, s in scales]))
    r2 = 1 - np.sum((pred - y_raw) ** 2) / np.sum((y_raw - y_raw.mean()) ** 2)
    assert got["ensemble_test_r2"] == pytest.approx(r2)


def test_non_finite_outputs_leave_the_split_out():
    ds = SimpleNamespace(y_val=np.array([0, 1]))
    got = ensemble_figures([({"val": np.array([[np.nan, 0.0], [0.0, 1.0]])}, ds)], ("val",), "classification", "acc")
    assert got == {}


def test_shared_splits():
    assert shared_splits(cv=False, data_seeds={0}) == ("val", "test")
    assert shared_splits(cv=True, data_seeds={0}) == ("test",)
    assert shared_splits(cv=False, data_seeds={0, 1}) == ()


def test_repeats_report_the_ensemble_beside_the_members_mean():
    out = execute(cfg(repeats=3))
    s = out.summary
    assert ensemble_keys(s) == {"ensemble_val_loss", "ensemble_val_acc", "ensemble_test_loss", "ensemble_test_acc"}
    assert ensemble_keys(s) <= set(ENSEMBLE_FIGURES)
    members = [m for _, m in out.members]
    assert all(not ensemble_keys(m.summary) for m in members)  # members are single runs
    # cross-entropy is convex in the probabilities: the averaged prediction is never worse than
    # the mean member (Jensen), whatever the seeds
    for split in ("val", "test"):
        assert s[f"ensemble_{split}_loss"] <= s[f"{split}_loss"] + 1e-12
    # recomputed from the members' own saved weights: the same figure
    from dlexp.analysis.inference import predict_from_state
    from dlexp.config.load import resolved_dict

    ds = load_dataset(config_from_dict({**resolved_dict(cfg()), "name": "t"}).data)
    probs = []
    for m in members:
        z = predict_from_state(m.state, resolved_dict(cfg()), ds.X_test).astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        probs.append(e / e.sum(axis=1, keepdims=True))
    p_bar = np.mean(probs, axis=0)
    assert s["ensemble_test_loss"] == pytest.approx(-np.mean(np.log(p_bar[np.arange(len(ds.y_test)), ds.y_test])))
    assert s["ensemble_test_acc"] == pytest.approx(np.mean(p_bar.argmax(axis=1) == ds.y_test))


def test_cv_ensembles_the_shared_test_split_only():
    s = execute(cfg("regression", eval={"cv": 3})).summary
    assert ensemble_keys(s) == {"ensemble_test_loss", "ensemble_test_r2"}
    assert math.isfinite(s["ensemble_test_loss"]) and s["ensemble_test_r2"] <= 1


def test_no_ensemble_without_shared_rows_or_without_members():
    assert not ensemble_keys(execute(cfg(seeds=[0, 1], repeat_data=True)).summary)  # a split per member
    assert not ensemble_keys(execute(cfg()).summary)                                # a single run
    diverged = execute(cfg(repeats=2, optimizer={"name": "sgd", "lr": 1e3})).summary
    assert diverged["n_diverged"] == 2 and not ensemble_keys(diverged)               # no member to average


def test_the_ensemble_reaches_summary_json_and_the_tables(tmp_path):
    from helpers import invoke

    p = tmp_path / "r.yaml"
    p.write_text("data: {name: moons, n_samples: 120}\nmodel: {hidden: [8]}\ntrain: {epochs: 3}\nrepeats: 2\n")
    r = invoke("run", p, "--results", tmp_path / "res", "-q", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert {"ensemble_val_acc", "ensemble_test_loss"} <= set(summary)
    r = invoke("table", summary["run_id"], "--results", tmp_path / "res", "--format", "json")
    row, = json.loads(r.stdout)
    assert row["ensemble_test_acc"] == summary["ensemble_test_acc"]
