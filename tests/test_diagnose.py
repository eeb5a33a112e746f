"""`dlexp diagnose`: labels on scripted and real runs, remedies that fit the config, --emit, --json,
atomic updates of summary.json and summary.csv, damaged runs skipped."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from pathlib import Path

import numpy  # noqa: F401  (loaded before threadpool_limits, so its BLAS pool is the one limited)
import pytest
import yaml
from click.testing import CliRunner

from dlexp.analysis import diagnose as diagnose_module
from dlexp.cli import main
from dlexp.config.load import config_from_dict, resolved_dict, run_id
from dlexp.config.yamlfile import dump_yaml, set_dotted
from dlexp.dotted import get as get_dotted
from dlexp.analysis.diagnose import (DEFAULT_THRESHOLDS, LABELS, diagnose_run, follow_up_spec, thresholds_from, trend,
                                    write_follow_up)
from dlexp.errors import UsageError
from dlexp.training.experiment import execute
from dlexp.results.reader import Run
from dlexp.results.store import npz_bytes, write_run
from dlexp.sweeps.sweep import run_sweep
from dlexp.sweeps.spec import load_spec

@pytest.fixture(autouse=True)
def scripted_runs_have_no_reference(request, monkeypatch):
    """A scripted run's curves are made up, not fitted to its data: no reference fit of that data is
    held against them. Tests marked `fitted` train real runs and keep the reference."""
    if "fitted" not in request.keywords:
        monkeypatch.setattr(diagnose_module, "_reference_fit", lambda data_json: {})


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """Small matrices: one BLAS thread is ~10× faster than a pool fighting over 2 cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


SINE = {"name": "fake", "data": {"name": "sine", "n_samples": 200, "noise": 0.3},
        "model": {"hidden": [16, 16]}, "optimizer": {"name": "adam", "lr": 0.01}, "train": {"epochs": 100}}


# ---- scripted run folders -------------------------------------------------------------------------

def curve(start, stop, n, bend=None, end=None):
    """n values from start to stop (linear), then optionally on to `end` after epoch `bend`."""
    if bend is None:
        return [start + (stop - start) * i / (n - 1) for i in range(n)]
    first = [start + (stop - start) * i / (bend - 1) for i in range(bend)]
    return first + [stop + (end - stop) * (i + 1) / (n - bend) for i in range(n - bend)]


MOONS = {"name": "moons", "n_samples": 200, "noise": 0.2}


def fake_run(out: Path, name: str, train: list, val: list, config: dict | None = None, acc=None, **summary) -> Run:
    """A run folder with scripted metrics.csv and summary.json (final figures = last epoch).
    acc=(train accuracies, val accuracies): a classification run on moons (the class prior is the
    baseline); else a regression run on sine."""
    raw = json.loads(json.dumps(SINE))
    if acc is not None:
        raw["data"] = dict(MOONS)
    for k, v in (config or {}).items():
        set_dotted(raw, k, v)
    raw["name"] = name
    exp = config_from_dict(raw)
    folder = out / "runs" / f"{name}-{run_id(exp)}"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(dump_yaml(resolved_dict(exp)))
    m = "acc" if acc is not None else "r2"
    ta, va = acc if acc is not None else ([1 - t for t in train], [1 - v for v in val])
    rows = [f"epoch,train_loss,val_loss,train_{m},val_{m},penalty,lr"]
    rows += [f"{i + 1},{t!r},{v!r},{a!r},{b!r},0.0,0.01" for i, (t, v, a, b) in enumerate(zip(train, val, ta, va))]
    (folder / "metrics.csv").write_text("\n".join(rows) + "\n")
    base = {"run_id": folder.name, "name": name, "kind": "single", "status": "completed",
            "task": "classification" if acc is not None else "regression",
            "metric": m, "epochs_run": len(train), "stopped_early": False, "restored_best": False,
            "train_loss": train[-1], "val_loss": val[-1], f"train_{m}": ta[-1], f"val_{m}": va[-1],
            "gap": val[-1] - train[-1], "n_params": 337, "n_train": 120, "n_val": 40, "n_test": 40}
    base.update(summary)
    (folder / "summary.json").write_text(json.dumps(base))
    (folder / "model.npz").write_bytes(npz_bytes({"dense0.W": [[0.0] * 16], "dense0.b": [0.0] * 16}))
    return Run.load(folder)


@pytest.fixture
def runs(tmp_path):
    n = 100
    r = {
        "underfit": fake_run(tmp_path, "underfit", curve(1.0, 0.9, n, bend=50, end=0.9), curve(1.0, 0.92, n, bend=50,
                                                                                              end=0.92)),
        "overfit": fake_run(tmp_path, "overfit", curve(0.9, 0.05, n), curve(0.9, 0.30, n, bend=30, end=0.60)),
        "gap": fake_run(tmp_path, "gap", curve(0.9, 0.05, n), curve(0.9, 0.30, n, bend=30, end=0.60),
                        config={"train.early_stopping": {"patience": 70}},
                        stopped_early=True, restored_best=True, train_loss=0.08, val_loss=0.30,
                        train_r2=0.92, val_r2=0.70),
        "good": fake_run(tmp_path, "good", curve(0.9, 0.20, n, bend=60, end=0.199),
                         curve(0.9, 0.23, n, bend=60, end=0.229)),
        "slow": fake_run(tmp_path, "slow", curve(0.95, 0.40, n), curve(0.96, 0.45, n)),
        "diverged": fake_run(tmp_path, "diverged", curve(0.9, 0.5, 10), curve(0.9, 0.5, 10), status="diverged",
                             train_loss=None, val_loss=None, train_r2=None, val_r2=None, diverged_epoch=10),
        "exploded": fake_run(tmp_path, "exploded", curve(0.9, 5.0, 20), curve(0.9, 5.2, 20), train_r2=-4.0),
        # far above the baseline too, but falling all the way (a bias held at 0 by its penalty):
        # a model that cannot fit, not a training that blew up
        "stuck": fake_run(tmp_path, "stuck", curve(40.0, 6.0, 20, bend=15, end=5.99),
                          curve(41.0, 6.1, 20, bend=15, end=6.09), train_r2=-5.0),
    }
    return r


@pytest.mark.parametrize("name, label", [("underfit", "underfitting"), ("overfit", "overfitting"),
                                         ("gap", "overfitting"), ("good", "good_fit"), ("slow", "not_converged"),
                                         ("diverged", "diverged"), ("exploded", "diverged"),
                                         ("stuck", "underfitting")])
def test_labels_of_scripted_runs(runs, name, label):
    d = diagnose_run(runs[name])
    assert d["label"] == label, d["reason"]
    assert set(d) >= {"label", "reason", "evidence", "remedies"}
    assert all(set(r) >= {"key", "action", "why"} for r in d["remedies"])
    assert (d["remedies"] == []) == (label == "good_fit")


def test_evidence_is_numbers(runs):
    ev = diagnose_run(runs["overfit"])["evidence"]
    assert ev["baseline"] == "mean predictor" and ev["baseline_loss"] == pytest.approx(1.0)
    assert ev["min_val_epoch"] == 30 and ev["min_val_loss"] == pytest.approx(0.30)
    assert ev["val_rise"] == pytest.approx(1.0)  # 0.30 → 0.60
    assert ev["gap"] == pytest.approx(0.55) and ev["rel_gap"] == pytest.approx(0.55 / 0.60)
    assert ev["window"] == 10 and ev["train_trend"] < 0 < ev["val_trend"]
    # restored best weights: the rise of the curve is not held against the run, the gap is
    d = diagnose_run(runs["gap"])
    assert d["evidence"]["restored_best"] and "of the val loss" in d["reason"]


def test_val_rising_with_train_rising_is_not_overfitting(tmp_path):
    """A strong penalty can push train and val loss up together after an early dip: no overfitting."""
    pulled = fake_run(tmp_path, "pulled", curve(0.5, 0.3, 100, bend=10, end=0.42), curve(0.5, 0.35, 100, bend=10,
                      end=0.44), config={"regularization.l2": 0.3})
    d = diagnose_run(pulled)
    assert d["evidence"]["val_rise"] > 0.2 and d["evidence"]["train_change_after_min"] > 0
    assert d["label"] != "overfitting", d["reason"]


# ---- the classes of misjudgment the rules are built against ------------------------------------------

def geometric(start, stop, n):
    return [start * (stop / start) ** (i / (n - 1)) for i in range(n)]


def test_a_perfect_fit_is_a_good_fit_not_unfinished_or_overfitting(tmp_path):
    """Separable data: val accuracy 1.0, losses ~1e-5 still falling 41 % in relative terms and a
    relative gap of 95 %, all of it a tiny share of the baseline's 0.69."""
    n = 100
    train, val = geometric(0.3, 1.3e-5, n), geometric(0.3, 2.6e-4, n)
    d = diagnose_run(fake_run(tmp_path, "separable", train, val, acc=([1.0] * n, [1.0] * n)))
    ev = d["evidence"]
    assert ev["train_trend"] < -0.4 and ev["rel_gap"] > 0.9  # what used to fire …
    assert ev["val_projected_fall_vs_baseline"] < 1e-3 and ev["gap_vs_baseline"] < 1e-3  # … is nothing against B
    assert d["label"] == "good_fit" and d["also"] == [] and d["remedies"] == [], d["reason"]


def test_an_explosion_is_diverged_even_when_the_loss_comes_down(tmp_path):
    """SGD at lr 20: 3e11 and 2e13 in the first epochs, then 2.6× the baseline's loss for good."""
    train = [3e11, 2e13] + [2.6] * 38
    d = diagnose_run(fake_run(tmp_path, "lr20", train, [2.7] * 40, train_r2=-1.6,
                              config={"optimizer": {"name": "sgd", "lr": 20.0}}))
    assert d["label"] == "diverged", d["reason"]
    assert "spiked to 2e+13 at epoch 2" in d["reason"] and d["evidence"]["max_vs_baseline"] > 1e12
    assert d["remedies"][0]["key"] == "optimizer.lr" and d["remedies"][0]["values"] == [6.7, 2.0]
    # the same end without the spike is a model that cannot fit
    calm = diagnose_run(fake_run(tmp_path, "calm", [3.0, 2.8] + [2.6] * 38, [2.7] * 40, train_r2=-1.6))
    assert calm["label"] == "underfitting"
    # a spike the run recovered from to a fit is not held against the fit
    fit = diagnose_run(fake_run(tmp_path, "recovered", [500.0] + curve(0.5, 0.1, 99, bend=60, end=0.1),
                                [400.0] + curve(0.5, 0.12, 99, bend=60, end=0.12)))
    assert fit["label"] == "good_fit", fit["reason"]


def test_a_loss_that_rises_on_predictions_that_still_improve_is_overconfidence(tmp_path):
    """The MNIST-1D shape: val loss bottoms out at epoch 6, val accuracy rises for 100 epochs."""
    n = 100
    train = geometric(0.69, 0.01, n)  # the baseline's loss is log 2 = 0.69
    val = curve(0.69, 0.4, n, bend=6, end=0.6)
    acc = (curve(0.2, 1.0, n), curve(0.2, 0.61, n, bend=6, end=0.69))
    d = diagnose_run(fake_run(tmp_path, "confident", train, val, acc=acc))
    assert d["label"] == "overconfident", d["reason"]
    assert "0.61 → 0.69" in d["reason"] and d["evidence"]["min_val_epoch"] == 6
    assert [r["key"] for r in d["remedies"]][:2] == ["regularization.l2", "train.early_stopping"]
    assert d["remedies"][1]["values"] == [{"monitor": "val_acc", "patience": 20, "restore_best": True}]
    # early stopping on val_loss kept epoch 6 while a later epoch was 8 points better: monitor the metric
    stopped = diagnose_run(fake_run(tmp_path, "stopped", train[:30], val[:30],
                                    acc=(acc[0][:30], curve(0.2, 0.61, 30, bend=6, end=0.69)),
                                    config={"train.early_stopping": {"monitor": "val_loss", "patience": 24}},
                                    stopped_early=True, restored_best=True, train_loss=train[5], val_loss=val[5],
                                    train_acc=acc[0][5], val_acc=0.61))
    assert stopped["label"] == "overconfident", stopped["reason"]
    assert stopped["also"] == ["underfitting"]  # the kept epoch's train loss is high: it was kept too soon
    assert stopped["remedies"][0]["action"] == "early stopping on val_acc instead of val_loss"


def test_the_accuracy_decides_whether_a_rising_classification_loss_is_overfitting(tmp_path):
    n = 100
    train, val = geometric(0.6, 0.001, n), curve(0.6, 0.08, n, bend=30, end=0.15)
    # a real tabular set: train 100 %, val 98.5 % throughout, the loss up from over-confidence alone
    held = diagnose_run(fake_run(tmp_path, "tabular", train, val, acc=(curve(0.6, 1.0, n), [0.985] * n)))
    assert held["label"] == "good_fit", held["reason"]
    # few rows, a big net: train 100 %, val 84 %, the loss up 600 %: the accuracy confirms it
    val = curve(0.65, 0.65, n, bend=8, end=4.7)
    big = diagnose_run(fake_run(tmp_path, "few-rows", train, val, acc=(curve(0.6, 1.0, n), [0.84] * n)))
    assert big["label"] == "overfitting", big["reason"]


def test_the_verdict_names_the_interpolation_peak_and_the_sides(tmp_path):
    from dlexp.analysis.verdict import verdict

    widths = [2, 4, 8, 16, 64, 256]
    vals = [1.4, 1.2, 1.9, 1.0, 0.8, 0.7]  # a dip, a peak at 8, then down again
    runs = [dataclasses.replace(fake_run(tmp_path, f"w{w}", curve(0.9, v / 2, 50), curve(0.9, v, 50)),
                                point={"model.hidden": [w]}) for w, v in zip(widths, vals)]
    labels = ["underfitting", "good_fit", "overfitting", "overfitting", "overfitting", "good_fit"]
    v = verdict(runs, ["model.hidden"], {r.run_id: {"label": lab} for r, lab in zip(runs, labels)})
    assert v.best.shown == "[256]" and v.peak is not None and v.peak.shown == "[8]"
    text = v.text()
    assert "interpolation peak at model.hidden=[8]" in text and "double descent" in text
    assert "smaller values: overfitting at [8], [16], [64] and underfitting at [2]" in text
    # an ordinary U (1.4, 1.2, 1.9): no peak named
    u = verdict(runs[:3], ["model.hidden"], {r.run_id: {"label": "good_fit"} for r in runs[:3]})
    assert u.peak is None and "peak" not in u.text()


def test_trend():
    assert trend([3, 2, 1]) == pytest.approx(-1.0)      # fell by its mean over the window
    assert trend([1, 1, 1, 1]) == 0.0
    assert trend([1, 2]) is None and trend([0, 0, 0]) is None


def test_thresholds_are_configurable(runs):
    assert diagnose_run(runs["good"])["label"] == "good_fit"
    # a gap of 13% of the val loss is 3% of the baseline's loss: no finding below gap_floor 5% …
    assert diagnose_run(runs["good"], thresholds={"overfit_gap": 0.1})["label"] == "good_fit"
    # … and overfitting once both thresholds allow it; the overrides are kept with the diagnosis
    d = diagnose_run(runs["good"], thresholds={"overfit_gap": 0.1, "gap_floor": 0.01})
    assert d["label"] == "overfitting" and d["thresholds"] == {"overfit_gap": 0.1, "gap_floor": 0.01}
    assert "thresholds" not in diagnose_run(runs["good"])
    assert thresholds_from(["overfit_gap=0.1"])["overfit_gap"] == 0.1
    assert DEFAULT_THRESHOLDS["overfit_gap"] == 0.35  # the defaults are left alone
    with pytest.raises(UsageError, match="did you mean 'overfit_gap'"):
        thresholds_from(["overfit_gpa=1"])
    with pytest.raises(UsageError, match="expected a number"):
        thresholds_from(["overfit_gap=big"])
    with pytest.raises(UsageError, match="finite number ≥ 0"):
        thresholds_from(["gap_floor=-1"])


def test_peers_reveal_underfitting(tmp_path):
    """A run at R² 0.6 is no worse than the baseline rule allows, but far from the sweep's best."""
    mid = fake_run(tmp_path, "mid", curve(0.9, 0.4, 50, bend=30, end=0.4), curve(0.9, 0.42, 50, bend=30, end=0.42))
    best = fake_run(tmp_path, "best", curve(0.9, 0.15, 50, bend=30, end=0.15), curve(0.9, 0.2, 50, bend=30, end=0.2),
                    config={"model.hidden": [64]})
    other_data = fake_run(tmp_path, "other", curve(0.9, 0.05, 50, bend=30, end=0.05), curve(0.9, 0.06, 50, bend=30,
                          end=0.06), config={"data.noise": 0.0})
    assert diagnose_run(mid)["label"] == "good_fit"
    d = diagnose_run(mid, peers=[mid, best, other_data])
    assert d["label"] == "underfitting" and "best val loss" in d["reason"]
    assert d["evidence"]["best_peer_run"] == best.run_id  # the noise-free run is not comparable
    assert d["evidence"]["fit_vs_best_peer"] == pytest.approx(2.0)  # train 0.40 (val 0.42) against 0.20


# ---- remedies follow the run's own config ---------------------------------------------------------

def keys(d):
    return [r["key"] for r in d["remedies"]]


def test_overfitting_remedies_respect_the_config(tmp_path):
    over = dict(train=curve(0.9, 0.05, 100), val=curve(0.9, 0.30, 100, bend=30, end=0.60))
    plain = diagnose_run(fake_run(tmp_path, "plain", **over))
    assert keys(plain)[0] == "train.early_stopping"  # the curve rose: stopping early comes first
    assert {"data.train_size", "model.hidden", "regularization.l2", "model.dropout.rate"} <= set(keys(plain))
    more = next(r for r in plain["remedies"] if r["key"] == "data.train_size")
    # every row of the 200 is in a split already: the follow-up draws 560, with val and test kept at
    # 40 rows each, and repeats the run's own 120 training rows on them first
    assert more["values"] == [240, 480] and more["current"] == 120
    assert more["base"] == {"data": {"n_samples": 560, "val_size": 40, "test_size": 40}}
    assert "draws new rows" in more["note"]
    drop = next(r for r in plain["remedies"] if r["key"] == "model.dropout.rate")
    assert drop["values"] == [0.2, 0.5] and drop["action"].startswith("add dropout")

    heavy = diagnose_run(fake_run(tmp_path, "heavy", **over, config={
        "model.dropout": 0.5, "regularization.l2": 0.01, "train.early_stopping": {"patience": 90}}))
    assert "train.early_stopping" not in keys(heavy)  # it is on already
    drop = next(r for r in heavy["remedies"] if r["key"] == "model.dropout.rate")
    assert drop["action"].startswith("more dropout") and min(drop["values"]) > 0.5
    l2 = next(r for r in heavy["remedies"] if r["key"] == "regularization.l2")
    assert min(l2["values"]) > 0.01
    capped = diagnose_run(fake_run(tmp_path, "capped", **over, config={"model.dropout": 0.85}))
    assert "model.dropout.rate" not in keys(capped)


def test_underfitting_remedies_respect_the_config(tmp_path):
    flat = dict(train=curve(1.0, 0.9, 100, bend=50, end=0.9), val=curve(1.0, 0.92, 100, bend=50, end=0.92))
    reg = diagnose_run(fake_run(tmp_path, "reg", **flat, config={"regularization.l2": 0.1}))
    assert reg["label"] == "underfitting" and keys(reg)[0] == "regularization.l2"
    assert reg["remedies"][0]["values"] == [0.01, 0.0]
    biased = diagnose_run(fake_run(tmp_path, "biased", **flat, config={"regularization.l2": 0.1,
                                                                       "regularization.penalize_bias": True}))
    assert keys(biased)[:2] == ["regularization.penalize_bias", "regularization.l2"]  # notes §2.2 first
    assert biased["remedies"][0]["values"] == [False]
    free = diagnose_run(fake_run(tmp_path, "free", **flat))
    assert not any(k.startswith("regularization") or k.startswith("model.dropout") for k in keys(free))
    assert keys(free)[0] == "model.hidden" and free["remedies"][0]["values"] == [[32, 32], [64, 64]]
    linear = diagnose_run(fake_run(tmp_path, "linear", **flat, config={"model.hidden": []}))
    assert keys(linear)[0] == "data.poly_degree"  # a linear model needs features first (notes §1.1)
    assert "train.epochs" not in keys(free)  # the curve is flat: more epochs would not help
    falling = diagnose_run(fake_run(tmp_path, "falling", curve(1.0, 0.7, 100), curve(1.0, 0.95, 100, bend=20, end=0.95)))
    assert falling["label"] == "underfitting" and keys(falling)[0] == "train.epochs"


def test_not_converged_and_diverged_remedies(tmp_path, runs):
    slow = diagnose_run(fake_run(tmp_path, "sgd", curve(0.95, 0.40, 100), curve(0.96, 0.45, 100),
                                 config={"optimizer": {"name": "sgd", "lr": 0.01}}))
    assert keys(slow)[:2] == ["train.epochs", "optimizer.lr"]
    assert slow["remedies"][1]["values"] == [0.03, 0.1]
    opt = next(r for r in slow["remedies"] if r["key"] == "optimizer")
    assert opt["values"][0]["momentum"] == 0.9
    d = diagnose_run(runs["diverged"])
    assert keys(d) == ["optimizer.lr", "optimizer.clip_norm", "model.norm"]
    assert d["remedies"][0]["values"] == [0.0033, 0.001]
    clipped = diagnose_run(fake_run(tmp_path, "clipped", curve(0.9, 0.5, 10), curve(0.9, 0.5, 10),
                                    config={"optimizer.clip_norm": 1.0, "model.norm": "batchnorm"},
                                    status="diverged", train_loss=None, val_loss=None))
    assert "model.norm" not in keys(clipped)
    assert next(r for r in clipped["remedies"] if r["key"] == "optimizer.clip_norm")["values"][0] < 1.0


def test_follow_up_spec_loads_with_the_sweep_module(tmp_path, runs):
    d = diagnose_run(runs["overfit"])
    spec = follow_up_spec(runs["overfit"], d)
    assert list(spec["grid"]) == keys(d)[:3]
    current = {r["key"]: r.get("current", get_dotted(runs["overfit"].config, r["key"])) for r in d["remedies"]}
    assert all(v[0] == current[k] for k, v in spec["grid"].items())  # the run's own value first
    path = tmp_path / "follow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    plan = load_spec(path)
    assert plan.swept == list(spec["grid"]) and len(plan.points) == math.prod(len(v) for v in spec["grid"].values())


# ---- real tiny runs ----------------------------------------------------------------------------------

def train(out: Path, raw: dict) -> Run:
    exp = config_from_dict(raw)
    return Run.load(write_run(out, run_id(exp), execute(exp), dump_yaml(resolved_dict(exp))))


@pytest.mark.fitted
def test_real_runs_linear_on_circles_underfits_big_net_on_few_points_overfits(tmp_path):
    linear = train(tmp_path, {"name": "linear", "data": {"name": "circles", "n_samples": 300, "noise": 0.1},
                              "model": {"hidden": []}, "optimizer": {"name": "adam", "lr": 0.05},
                              "train": {"epochs": 60, "batch_size": 32}})
    d = diagnose_run(linear)
    assert d["label"] == "underfitting", d["reason"]
    assert d["evidence"]["baseline"] == "class-prior predictor"
    assert d["evidence"]["baseline_loss"] == pytest.approx(math.log(2), abs=1e-3)  # balanced classes
    assert d["evidence"]["train_vs_baseline"] > 0.9
    assert keys(d)[0] == "data.poly_degree"

    big = train(tmp_path, {"name": "big", "data": {"name": "moons", "n_samples": 240, "noise": 0.4,
                                                   "train_size": 40, "val_size": 100, "test_size": 100},
                           "model": {"hidden": [128, 128]}, "optimizer": {"name": "adam", "lr": 0.01},
                           "train": {"epochs": 300, "batch_size": "full"}})
    d = diagnose_run(big)
    assert d["label"] == "overfitting", d["reason"]
    assert d["evidence"]["val_rise"] > 0.5 and d["evidence"]["rel_gap"] > 0.5


# ---- the command -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sweep_results(tmp_path_factory):
    """A small real sweep (hidden [1] / [16] / [64, 64] on 20 noisy sine points), trained in-process.
    At 600 epochs the [16] net has not converged: trained to 2400 its val loss falls 0.219 → 0.166."""
    out = tmp_path_factory.mktemp("diag")
    spec = out / "cap.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "cap", "base": {"data": {"name": "sine", "n_samples": 520, "noise": 0.3, "train_size": 20,
                                         "val_size": 250, "test_size": 250},
                                "optimizer": {"name": "adam", "lr": 0.01},
                                "train": {"epochs": 600, "batch_size": "full"}},
        "grid": {"model.hidden": [[1], [16], [64, 64]]}}))
    run_sweep(load_spec(spec), out, jobs=1, quiet=True, echo=lambda *a: None)
    return out


def invoke(*args):
    return CliRunner().invoke(main, ["diagnose", *map(str, args)])


@pytest.mark.fitted
def test_cli_text_json_and_files(sweep_results, tmp_path, monkeypatch):
    import shutil

    out = tmp_path / "results"
    shutil.copytree(sweep_results, out)
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append(Path(b).name), real_replace(a, b))[1])

    res = invoke("cap", "--results", out)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "sweep cap: 3 runs diagnosed" and lines[1].split() == ["point", "label", "why,", "→", "first",
                                                                              "remedy"]
    assert [next(w for w in line.split() if w in LABELS) for line in lines[2:]
            if line[:1] not in (" ", "") and not line.startswith("verdict")] == ["underfitting", "not_converged", "overfitting"]
    assert max(map(len, lines)) <= 80 and "evidence:" not in res.stdout
    verdict = res.stdout[res.stdout.index("verdict: "):]
    assert "best point model.hidden=[16]" in verdict and "underfitting at [1]" in verdict
    assert "overfitting at [64, 64]" in verdict
    res = invoke("cap", "--results", out, "-v", "--no-save")
    assert "evidence:" in res.stdout and "1. " in res.stdout and "sweep cap: best point" in res.stdout
    # written atomically: a temporary file renamed over summary.json / summary.csv, none left over
    assert replaced.count("summary.json") == 3 and replaced.count("summary.csv") == 1
    assert replaced.count("diagnosis.json") == 1  # the sweep's verdict
    recorded = json.loads((out / "sweeps" / "cap" / "diagnosis.json").read_text())
    assert recorded["best"]["value"] == "[16]" and [p["label"] for p in recorded["points"]] == \
        ["underfitting", "not_converged", "overfitting"]
    assert not list(out.rglob(".*.tmp"))
    res = invoke("cap", "--results", out)  # again: the same labels, so no summary.json is rewritten
    assert res.exit_code == 0 and replaced.count("summary.json") == 3, res.output
    rows = list(csv.DictReader(io.StringIO((out / "sweeps" / "cap" / "summary.csv").read_text())))
    assert [r["diagnosis"] for r in rows] == ["underfitting", "not_converged", "overfitting"]
    before = list(csv.DictReader(io.StringIO((sweep_results / "sweeps" / "cap" / "summary.csv").read_text())))
    assert [{k: v for k, v in r.items() if k != "diagnosis"} for r in rows] == before  # nothing else changed
    manifest = json.loads((out / "sweeps" / "cap" / "manifest.json").read_text())
    for point, row in zip(manifest["points"], rows):
        summary = json.loads((out / "runs" / point["run_id"] / "summary.json").read_text())
        assert summary["diagnosis"]["label"] == row["diagnosis"]
        assert summary["val_loss"] is not None  # the rest of the summary is kept

    res = invoke("cap", "--results", out, "--json", "--no-save")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [d["diagnosis"]["label"] for d in data] == ["underfitting", "not_converged", "overfitting"]
    for d in data:
        assert set(d) == {"run_id", "name", "folder", "point", "diagnosis", "sweep"}
        assert d["sweep"]["name"] == "cap" and d["sweep"]["verdict"]["best"]["value"] == "[16]"
        assert isinstance(d["diagnosis"]["evidence"], dict)
        assert all(isinstance(v, (int, float, str, bool, type(None))) for v in d["diagnosis"]["evidence"].values())
        assert all(set(r) >= {"key", "action", "why"} for r in d["diagnosis"]["remedies"])
    assert data[2]["point"] == {"model.hidden": [64, 64]}

    # a single run id finds its sweep, and with it the best val loss to compare with
    rid = manifest["points"][0]["run_id"]
    res = invoke(rid, "--results", out, "--json", "--no-save")
    assert json.loads(res.stdout)[0]["diagnosis"]["evidence"]["n_peers"] == 3


@pytest.mark.fitted
def test_a_run_of_a_sweep_is_recorded_in_the_sweep_csv_too(sweep_results, tmp_path):
    import shutil

    out = tmp_path / "results"
    shutil.copytree(sweep_results, out)
    rid = json.loads((out / "sweeps" / "cap" / "manifest.json").read_text())["points"][2]["run_id"]
    res = invoke(out / "runs" / rid, "--results", out)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO((out / "sweeps" / "cap" / "summary.csv").read_text())))
    assert [r["diagnosis"] for r in rows] == ["", "", "overfitting"]


@pytest.mark.fitted
def test_cli_emit(sweep_results, tmp_path):
    spec = tmp_path / "follow.yaml"
    res = invoke("cap", "--results", sweep_results, "--no-save", "--emit", spec)
    assert res.exit_code == 0, res.output
    assert "written to" in res.stderr
    plan = load_spec(spec)
    data = yaml.safe_load(spec.read_text())
    # the best point ([16], not converged) is followed up, not the overfitting one
    best = json.loads((sweep_results / "sweeps" / "cap" / "manifest.json").read_text())["points"][1]["run_id"]
    assert "best run" in res.stderr and best in res.stderr
    assert data["grid"]["train.epochs"] == [600, 1200, 2400] and "optimizer.lr" in data["grid"]
    assert plan.swept == list(data["grid"])
    base = data["base"] if isinstance(data["base"], str) else data["base"]["extends"]
    assert Path(base).name == "config.yaml" and Path(base).exists() and best in base


@pytest.mark.fitted
def test_cli_bad_targets_and_damaged_runs(sweep_results, tmp_path):
    import shutil

    res = invoke("no-such-run", "--results", sweep_results)
    assert res.exit_code == 2 and "not a run folder" in res.stderr
    res = invoke("cap", "--results", sweep_results, "--threshold", "nope=1")
    assert res.exit_code == 2 and "unknown name 'nope'" in res.stderr

    out = tmp_path / "results"
    shutil.copytree(sweep_results, out)
    manifest = json.loads((out / "sweeps" / "cap" / "manifest.json").read_text())
    broken = out / "runs" / manifest["points"][1]["run_id"]
    (broken / "metrics.csv").write_text("epoch,train_loss\n1,0.5,0.3\n")
    res = invoke("cap", "--results", out, "--json")
    assert res.exit_code == 0, res.output
    assert "warning: skipping" in res.stderr and broken.name in res.stderr
    assert len(json.loads(res.stdout)) == 2
    rows = list(csv.DictReader(io.StringIO((out / "sweeps" / "cap" / "summary.csv").read_text())))
    assert [r["diagnosis"] for r in rows] == ["underfitting", "", "overfitting"]
    res = invoke(broken, "--results", out)
    assert res.exit_code == 2 and "nothing to diagnose" in res.stderr


@pytest.mark.fitted
def test_the_report_of_a_diagnosed_sweep_states_its_verdict(sweep_results, tmp_path):
    import shutil

    from dlexp.html_report import report

    out = tmp_path / "results"
    shutil.copytree(sweep_results, out)
    # the static page shows the recorded verdict (the interactive one, like the validation figure,
    # shows the default diagnosis until one is recorded)
    page = report(["cap"], out=tmp_path / "before.html", results=out, interactive=False).read_text()
    assert "best point" not in page  # not diagnosed yet: no verdict to show
    assert invoke("cap", "--results", out).exit_code == 0
    page = report(["cap"], out=tmp_path / "after.html", results=out, interactive=False).read_text()
    assert "best point model.hidden=[16]" in page and "overfitting at [64, 64]" in page
    assert 'class="badge overfitting"' in page


def _val_test_rows(exp):
    from dlexp.data.datasets import load_dataset

    ds = load_dataset(exp.data)  # not standardized: these are the rows themselves
    return ds.X_val.tobytes() + ds.y_val.tobytes() + ds.X_test.tobytes() + ds.y_test.tobytes()


def test_a_more_data_follow_up_keeps_the_val_and_test_rows(tmp_path):
    over = dict(train=curve(0.9, 0.05, 100), val=curve(0.9, 0.30, 100, bend=30, end=0.60))
    # 40 of 200 rows train, 40 + 40 val and test: 80 rows are free to grow into
    spare = fake_run(tmp_path, "spare", **over, config={"data.train_size": 40, "data.standardize": False}, n_train=40)
    d = diagnose_run(spare)
    more = next(r for r in d["remedies"] if r["key"] == "data.train_size")
    assert more["values"] == [80, 120] and "base" not in more and "same val and test rows" in more["action"]
    spec = tmp_path / "spare.yaml"
    spec.write_text(yaml.safe_dump(follow_up_spec(spare, d), sort_keys=False))
    plan = load_spec(spec)
    original = _val_test_rows(config_from_dict(yaml.safe_load((spare.folder / "config.yaml").read_text())))
    sizes = {p.values.get("data.train_size") for p in plan.points}
    assert sizes == {40, 80, 120}
    assert {_val_test_rows(p.exp) for p in plan.points} == {original}  # the run's own val and test rows

    # every row in a split: drawn anew, and then every point of the follow-up shares one set of rows
    full = fake_run(tmp_path, "full", **over, config={"data.standardize": False})
    d = diagnose_run(full)
    spec = tmp_path / "full.yaml"
    write_follow_up(spec, full, d)
    assert "draws new rows" in spec.read_text()  # the header says why the original is not comparable
    plan = load_spec(spec)
    assert {p.values.get("data.train_size") for p in plan.points} >= {120, 240, 480}
    assert len({_val_test_rows(p.exp) for p in plan.points}) == 1
    assert {p.exp.data.n_samples for p in plan.points} == {560}


def test_a_good_fit_at_the_best_point_is_followed_up_by_refining_around_it(tmp_path):
    from dlexp.analysis.diagnose import refine_spec
    from dlexp.analysis.verdict import verdict

    widths, vals = [2, 8, 32, 128], [0.6, 0.3, 0.2, 0.35]
    runs = [dataclasses.replace(fake_run(tmp_path, f"w{w}", curve(0.9, v - 0.05, 50, bend=20, end=v - 0.05),
                                         curve(0.9, v, 50, bend=20, end=v), config={"model.hidden": [w]}),
                                point={"model.hidden": [w]}) for w, v in zip(widths, vals)]
    labels = {r.run_id: {"label": lab} for r, lab in zip(runs, ["underfitting", "good_fit", "good_fit", "overfitting"])}
    v = verdict(runs, ["model.hidden"], labels)
    assert v.best.shown == "[32]"
    spec = refine_spec(v.best.runs[0], v)
    assert spec["grid"] == {"model.hidden": [[32], [16], [64]]}  # geometric half-way to [8] and to [128]
    path = tmp_path / "refine.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert load_spec(path).swept == ["model.hidden"]
    # numbers: arithmetic half-way when close, geometric when spread; ints stay ints
    from dlexp.analysis.diagnose import _between
    assert _between(0.1, 0.2) == 0.15 and _between(1e-4, 1e-2) == 0.001 and _between(10, 20) == 15
    assert _between(1, 2) is None and _between("relu", "tanh") is None
