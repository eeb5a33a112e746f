"""Reduced versions of the studies in configs/studies/: each claim of the notes must show.

Every test builds its configs from the study's spec (its inline base, a few of its grid values,
fewer epochs or samples where the effect survives that) and trains them with
dlexp.training.experiment.execute under the spec's seeds. A claim is asserted beyond the spread over
seeds: `clearly_below(a, b)` needs mean(a) + std(a) + std(b) < mean(b) (`all_below`, for a figure
with a heavy tail, needs every seed of a below every seed of b). So a regression in a
layer, a penalty or an optimizer breaks a study, not only a unit test.

The settings were chosen where the effect is large, and checked on several data seeds:
DLEXP_STUDY_DATA_SEED=1 pytest tests/test_studies.py runs the same claims on other data.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
from pathlib import Path

import numpy as np  # loaded before threadpool_limits, so its BLAS pool is the one limited
import pytest
import yaml

from dlexp.config.load import config_from_dict, resolved_dict, run_id
from dlexp.config.yamlfile import dump_yaml, set_dotted


STUDIES = Path(__file__).resolve().parent.parent / "configs" / "studies"
DATA_SEED = int(os.environ.get("DLEXP_STUDY_DATA_SEED", "0"))
_CACHE: dict = {}


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """Small matrices: one BLAS thread is ~10× faster than a pool fighting over 2 cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def spec(name: str) -> dict:
    return yaml.safe_load((STUDIES / f"{name}.yaml").read_text(encoding="utf-8"))


def study(name: str, points: dict, changes: dict | None = None, seeds=None) -> dict:
    """{value: [member summaries + metrics]} for each value of the one swept key in `points`.

    The values must be among the spec's grid values; `changes` (dotted keys) shrink the base.
    """
    s = spec(name)
    (key, values), = points.items()
    assert key in s["grid"], f"{name}: {key} is not swept by the study"
    for v in values:
        assert v in s["grid"][key], f"{name}: {v!r} is not a grid value of {key}"
    out = {}
    for v in values:
        raw = copy.deepcopy(s["base"])
        for k, x in {**(changes or {}), "data.seed": DATA_SEED}.items():
            set_dotted(raw, k, x)
        set_dotted(raw, key, copy.deepcopy(v))
        raw["seeds"] = list(seeds or s["seeds"])
        out[_key(v)] = train(raw)
    return out


def _key(v):
    return yaml.safe_dump(v, default_flow_style=True).strip() if isinstance(v, (list, dict)) else v


def train(raw: dict) -> list:
    """Member runs of `raw` (with seeds), as objects with .summary and .metrics; cached by run id."""
    from dlexp.training.experiment import execute

    exp = config_from_dict(raw)
    rid = run_id(exp)
    if rid not in _CACHE:
        output = execute(exp)
        _CACHE[rid] = (exp, output)
    output = _CACHE[rid][1]
    return [m for _, m in output.members] if output.members else [output]


def fig(members, key: str) -> list[float]:
    node = [m.summary for m in members]
    for part in key.split("."):
        node = [n[part] for n in node]
    return node


def clearly_below(a: list[float], b: list[float]) -> bool:
    """mean(a) is below mean(b) by more than the two spreads (sample std over seeds) together."""
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    sa, sb = statistics.stdev(a), statistics.stdev(b)
    return ma + sa + sb < mb


def all_below(a: list[float], b: list[float]) -> bool:
    """Every value of a below every value of b: for figures with a heavy tail (a run near divergence)."""
    return max(a) < min(b)


def show(what: str, a: list[float], b: list[float]) -> str:
    f = lambda x: f"{statistics.fmean(x):.4g}±{statistics.stdev(x):.2g}"  # noqa: E731
    return f"{what}: {f(a)} vs {f(b)}"


def test_every_study_spec_loads():
    from dlexp.sweeps.spec import load_spec

    names = sorted(p.stem for p in STUDIES.glob("*.yaml"))
    assert len(names) >= 9
    for name in names:
        plan = load_spec(STUDIES / f"{name}.yaml")
        assert plan.name == f"study-{name}" and len(plan.points) >= 2


# ---- (a) model size: underfitting → overfitting ----------------------------------------------------

CAPACITY_FAST = {"train.epochs": 1000}


def test_capacity_gives_a_u_shaped_validation_curve(tmp_path):
    r = study("capacity", {"model.hidden": [[1], [16], [64, 64]]}, CAPACITY_FAST)
    small, mid, big = r["[1]"], r["[16]"], r["[64, 64]"]
    val, train_ = (lambda m: fig(m, "val_loss")), (lambda m: fig(m, "train_loss"))
    assert clearly_below(val(mid), val(small)), show("val loss [16] vs [1]", val(mid), val(small))
    assert clearly_below(val(mid), val(big)), show("val loss [16] vs [64, 64]", val(mid), val(big))
    assert clearly_below(train_(mid), train_(small)) and clearly_below(train_(big), train_(small))


def test_diagnosis_reads_the_capacity_study(tmp_path):
    """The study's runs written as result folders: the small model underfits, the big one overfits.

    On the study's own data (data seed 0): the labels depend on the data set drawn, e.g. on data
    seed 5 the 20 training points happen to be easy and the one-unit model shows a wide gap."""
    from dlexp.analysis.diagnose import diagnose_run
    from dlexp.results.reader import Run
    from dlexp.results.store import write_run

    runs = []
    for h in ([1], [16], [64, 64]):
        raw = copy.deepcopy(spec("capacity")["base"])
        for k, v in {**CAPACITY_FAST, "model.hidden": h, "seeds": spec("capacity")["seeds"]}.items():
            set_dotted(raw, k, v)
        exp = config_from_dict(raw)
        train(raw)
        runs.append(Run.load(write_run(tmp_path, run_id(exp), _CACHE[run_id(exp)][1], dump_yaml(resolved_dict(exp)))))
    labels = [diagnose_run(run, peers=runs)["label"] for run in runs]
    assert labels[0] == "underfitting" and labels[2] == "overfitting", labels
    assert labels[1] in ("good_fit", "overfitting"), labels  # the best of the sweep; on 20 points it may fit noise


# ---- (b) more data shrinks the gap ------------------------------------------------------------------

def test_more_training_data_shrinks_the_gap():
    r = study("learning-curve", {"data.train_size": [20, 80, 320]}, {"train.epochs": 400})
    gaps = [fig(r[n], "gap") for n in (20, 80, 320)]
    assert clearly_below(gaps[1], gaps[0]), show("gap 80 vs 20 rows", gaps[1], gaps[0])
    assert clearly_below(gaps[2], gaps[1]), show("gap 320 vs 80 rows", gaps[2], gaps[1])
    assert clearly_below(fig(r[320], "val_loss"), fig(r[20], "val_loss"))


# ---- (c, d) L2 and dropout shrink the gap ------------------------------------------------------------

MOONS_FAST = {"train.epochs": 300}


def test_l2_shrinks_the_gap():
    r = study("l2", {"regularization.l2": [0.0, 1.0e-2]}, MOONS_FAST)
    assert clearly_below(fig(r[0.01], "gap"), fig(r[0.0], "gap")), show("gap", fig(r[0.01], "gap"), fig(r[0.0], "gap"))
    assert clearly_below(fig(r[0.01], "weights.l2_norm"), fig(r[0.0], "weights.l2_norm"))
    assert clearly_below(fig(r[0.01], "val_loss"), fig(r[0.0], "val_loss"))


def test_dropout_shrinks_the_gap():
    r = study("dropout", {"model.dropout.rate": [0.0, 0.5]}, MOONS_FAST)
    assert clearly_below(fig(r[0.5], "gap"), fig(r[0.0], "gap")), show("gap", fig(r[0.5], "gap"), fig(r[0.0], "gap"))
    # in eval mode the dropped-out net fits its training points less tightly
    assert clearly_below(fig(r[0.0], "train_loss"), fig(r[0.5], "train_loss"))


# ---- (e) L1: sparse; L2: small and dense ----------------------------------------------------------

def test_l1_gives_sparse_weights_l2_small_dense_ones():
    none, prox, sub, l2 = ({"l1": 0.0, "l2": 0.0}, {"l1": 1.0e-2, "l1_mode": "proximal"},
                           {"l1": 1.0e-2, "l1_mode": "subgradient"}, {"l2": 1.0e-2})
    r = study("sparsity", {"regularization": [none, prox, sub, l2]}, {"train.epochs": 100})
    none, prox, sub, l2 = (r[_key(v)] for v in (none, prox, sub, l2))
    zero = lambda m: fig(m, "weights.zero_fraction")  # noqa: E731
    near = lambda m: fig(m, "weights.near_zero_fraction")  # noqa: E731
    norm = lambda m: fig(m, "weights.l2_norm")  # noqa: E731
    assert min(zero(prox)) > 0.2, zero(prox)              # exact zeros from soft-thresholding
    assert max(zero(sub)) == 0.0 and max(zero(l2)) == 0.0  # subgradient L1 and L2: none exactly 0
    assert clearly_below(near(l2), near(sub)), show("near-zero share, L2 vs subgradient L1", near(l2), near(sub))
    assert max(near(l2)) < 0.1                             # L2: dense …
    assert clearly_below(norm(l2), norm(none))             # … and small


# ---- (e2) penalizing the biases underfits ----------------------------------------------------------

def test_penalizing_the_biases_underfits():
    """At λ = 0.1 the weights-only penalty costs little; with the bias under it the offset of the
    target is no longer learnt: train and val loss both rise (underfitting). At λ = 0 the switch
    changes nothing."""
    base = spec("bias-penalty")["base"]
    assert 0.1 in spec("bias-penalty")["grid"]["regularization.l2"]
    out = {}
    for l2 in (0.0, 0.1):
        for flag in (False, True):
            raw = copy.deepcopy(base)
            raw["data"]["path"] = str(STUDIES / base["data"]["path"])
            raw["regularization"] = {"l2": l2, "penalize_bias": flag}
            raw["seeds"] = spec("bias-penalty")["seeds"]
            out[l2, flag] = train(raw)
    assert fig(out[0.0, False], "train_loss") == fig(out[0.0, True], "train_loss")
    weights_only, with_bias = out[0.1, False], out[0.1, True]
    for key in ("train_loss", "val_loss"):
        assert clearly_below(fig(weights_only, key), fig(with_bias, key)), \
            show(f"{key}, weights only vs biases too", fig(weights_only, key), fig(with_bias, key))
    assert min(fig(weights_only, "train_r2")) > 0.9 and max(fig(with_bias, "train_r2")) < 0.7


# ---- (f) early stopping picks the validation minimum ----------------------------------------------

def test_early_stopping_stops_at_the_validation_minimum():
    plain, patience, notes = None, {"patience": 20, "restore_best": True}, \
        {"rule": "consecutive_increase", "patience": 5, "restore_best": True}
    r = study("early-stopping", {"train.early_stopping": [plain, patience, notes]})
    full = r[None]
    for rule in (patience, notes):
        stopped = r[_key(rule)]
        assert clearly_below(fig(stopped, "val_loss"), fig(full, "val_loss")), \
            show("val loss with vs without early stopping", fig(stopped, "val_loss"), fig(full, "val_loss"))
        for es, m in zip(stopped, full):
            curve = [row["val_loss"] for row in m.metrics]
            seen = curve[:es.summary["epochs_run"]]
            # the same trajectory up to the stop, and the weights restored are those of its minimum
            assert [row["val_loss"] for row in es.metrics] == seen
            assert es.summary["best_epoch"] == 1 + curve.index(min(seen))
            assert es.summary["val_loss"] == pytest.approx(min(seen), rel=1e-6)
    for es, m in zip(r[_key(patience)], full):
        curve = [row["val_loss"] for row in m.metrics]
        assert es.summary["stopped_early"] and es.summary["epochs_run"] < len(curve) / 2
        # patience 20 may stop at an earlier, slightly higher dip (at most 6 % above the global
        # minimum in 18 runs on 6 data sets), never far from it
        assert es.summary["val_loss"] <= 1.1 * min(curve)


# ---- (g) gradient descent: batch vs mini-batch vs SGD, momentum, adaptive methods --------------------

def rises(m) -> float:
    """Sum of the epoch-to-epoch increases of the train loss, relative to its final value: 0 for a
    loss that only goes down, large for one that jumps about."""
    tl = [row["train_loss"] for row in m.metrics]
    return sum(max(0.0, b - a) for a, b in zip(tl, tl[1:])) / tl[-1]


def test_batch_gd_is_smooth_and_slow_sgd_fast_and_noisy():
    r = study("batch-size", {"train.batch_size": ["full", 32, 1]}, {"data.n_samples": 200, "train.epochs": 20})
    loss = {b: fig(r[b], "train_loss") for b in ("full", 32, 1)}
    assert clearly_below(loss[1], loss[32]) and clearly_below(loss[32], loss["full"]), loss
    for m in r["full"]:  # one step per epoch along the full gradient: the loss never goes up
        tl = [row["train_loss"] for row in m.metrics]
        assert all(b <= a * (1 + 1e-5) for a, b in zip(tl, tl[1:]))
    noise = {b: [rises(m) for m in r[b]] for b in (32, 1)}
    assert clearly_below(noise[32], noise[1]), show("rises of the train loss, batch 32 vs 1", noise[32], noise[1])
    # An epoch of batch-1 SGD (one step per row) costs more time than one full-batch step. Times
    # are measured, and a busy machine only adds to them: compare each run's fastest epoch, all of
    # one kind below all of the other.
    fastest = {b: [min(row["epoch_time"] for row in m.metrics) for m in r[b]] for b in ("full", 1)}
    assert all_below(fastest["full"], fastest[1]), fastest


def test_momentum_speeds_up_sgd():
    plain, heavy = {"name": "sgd", "lr": 0.01}, {"name": "sgd", "lr": 0.01, "momentum": 0.9}
    nesterov = {"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True}
    r = study("momentum", {"optimizer": [plain, heavy, nesterov]}, {"train.epochs": 20})
    for v in (heavy, nesterov):
        assert clearly_below(fig(r[_key(v)], "train_loss"), fig(r[_key(plain)], "train_loss")), \
            show(f"train loss {v} vs plain SGD", fig(r[_key(v)], "train_loss"), fig(r[_key(plain)], "train_loss"))


def test_adaptive_methods_beat_plain_sgd_at_default_learning_rates():
    names = ["sgd", "adagrad", "adadelta", "rmsprop", "adam"]
    r = study("optimizers", {"optimizer.name": names}, {"train.epochs": 20})
    for name in names[1:]:
        assert clearly_below(fig(r[name], "train_loss"), fig(r["sgd"], "train_loss")), \
            show(f"train loss {name} vs sgd", fig(r[name], "train_loss"), fig(r["sgd"], "train_loss"))


# ---- (h) BatchNorm: larger learning rates, steadier layer statistics; LayerNorm at small batches ------

def stat_drift(m) -> float:
    """Per layer: std over epochs of the probe batch's pre-activation std, relative to its mean; mean
    over layers. Epoch 0 (before training) is left out: BatchNorm's running averages start at 0 / 1."""
    layers: dict = {}
    for row in m.activations:
        if row["epoch"] > 0 and math.isfinite(row["std"]):
            layers.setdefault(row["layer"], []).append(row["std"])
    if m.summary["status"] == "diverged" or not layers:
        return math.inf
    return statistics.fmean(statistics.pstdev(v) / statistics.fmean(v) for v in layers.values())


def test_batchnorm_tolerates_a_large_learning_rate_and_steadies_layer_statistics():
    runs = {}
    for norm in ("none", "batchnorm"):
        for lr in (0.5, 2.0):
            raw = copy.deepcopy(spec("batchnorm-lr")["base"])
            for k, v in {"model.norm": norm, "optimizer.lr": lr, "data.seed": DATA_SEED,
                         "seeds": spec("batchnorm-lr")["seeds"]}.items():
                set_dotted(raw, k, v)
            assert norm in spec("batchnorm-lr")["grid"]["model.norm"] and lr in spec("batchnorm-lr")["grid"]["optimizer.lr"]
            runs[norm, lr] = train(raw)
    assert all(m.summary["status"] == "diverged" for m in runs["none", 2.0])
    bn_acc = fig(runs["batchnorm", 2.0], "val_acc")
    assert all(m.summary["status"] == "completed" for m in runs["batchnorm", 2.0])
    assert min(bn_acc) > 0.55 and statistics.median(bn_acc) > 0.9, bn_acc  # it learns (chance: 0.5)
    bn, plain = [stat_drift(m) for m in runs["batchnorm", 0.5]], [stat_drift(m) for m in runs["none", 0.5]]
    # a plain run at lr 0.5 is sometimes near divergence (a huge drift): compare seed by seed
    assert all_below(bn, plain), show("drift of layer std, BN vs none at lr 0.5", bn, plain)


def test_batchnorm_needs_batches_layernorm_does_not():
    runs = {}
    for norm in ("batchnorm", "layernorm"):
        r = study("norm-batch-size", {"train.batch_size": [2, 32]}, {"model.norm": norm})
        for b in (2, 32):
            runs[norm, b] = fig(r[b], "val_loss")
    assert clearly_below(runs["layernorm", 2], runs["batchnorm", 2]), \
        show("val loss at batch 2, LN vs BN", runs["layernorm", 2], runs["batchnorm", 2])
    assert clearly_below(runs["batchnorm", 32], runs["batchnorm", 2]), \
        show("BN val loss at batch 32 vs 2", runs["batchnorm", 32], runs["batchnorm", 2])


# ---- (i) beyond the notes: double descent ----------------------------------------------------------

def test_double_descent_with_label_noise():
    r = study("double-descent", {"model.hidden": [[2], [12], [64]]})
    small, peak, wide = r["[2]"], r["[12]"], r["[64]"]
    val = lambda m: fig(m, "val_loss")  # noqa: E731
    assert clearly_below(val(small), val(peak)), show("val loss [2] vs [12]", val(small), val(peak))
    assert clearly_below(val(wide), val(peak)), show("val loss [64] vs [12]", val(wide), val(peak))
    assert clearly_below(fig(peak, "val_acc"), fig(wide, "val_acc"))
    # the peak is where the network (nearly) fits every noisy training label
    assert max(fig(peak, "train_loss")) < 0.05 * min(fig(small, "train_loss"))


# ---- (j)-(l) published results, reproduced on MNIST-1D -----------------------------------------------

def first_epoch(member, column: str, level: float) -> int:
    """The first epoch whose `column` reaches `level` (a member run's metrics); a large number if none."""
    return next((row["epoch"] for row in member.metrics if row[column] >= level), 10**9)


def test_mnist1d_table_a_linear_model_near_32_percent_an_mlp_far_above():
    r = study("mnist1d-table", {"model.hidden": [[], [100, 100]]}, {"train.epochs": 30}, seeds=[0, 1, 2])
    linear, mlp = fig(r["[]"], "test_acc"), fig(r["[100, 100]"], "test_acc")
    assert 0.27 < statistics.fmean(linear) < 0.37, linear  # published: 32 %
    assert clearly_below(linear, mlp), show("test acc linear vs MLP", linear, mlp)
    assert statistics.fmean(mlp) > 0.55, mlp  # published (with a residual connection): 68 %


DOUBLE_DESCENT_FAST = {"data.mnist1d.num_samples": 2000, "data.val_size": 100}  # 900 training rows


def test_mnist1d_double_descent_peaks_where_the_noisy_labels_are_first_fitted():
    r = study("mnist1d-double-descent", {"model.hidden": [[6, 6], [22, 22], [100, 100]]}, DOUBLE_DESCENT_FAST)
    small, peak, wide = r["[6, 6]"], r["[22, 22]"], r["[100, 100]"]
    loss = lambda m: fig(m, "test_loss")  # noqa: E731
    assert clearly_below(loss(small), loss(peak)), show("test loss [6, 6] vs [22, 22]", loss(small), loss(peak))
    assert clearly_below(loss(wide), loss(peak)), show("test loss [100, 100] vs [22, 22]", loss(wide), loss(peak))
    assert clearly_below(fig(peak, "test_acc"), fig(wide, "test_acc"))  # the second descent, in accuracy too
    # the peak is where the network first fits every training label, the 15 % noisy ones included
    assert min(fig(peak, "train_acc")) > 0.99 and max(fig(small, "train_acc")) < 0.6


def test_mnist1d_random_labels_are_memorised_but_later_and_without_generalizing():
    r = study("mnist1d-random-labels", {"data.label_noise": [0.0, 1.0]},
              {"data.mnist1d.num_samples": 2000, "train.epochs": 40})
    true, random = r[0.0], r[1.0]
    assert min(fig(random, "train_acc")) > 0.97  # every random label fitted, or nearly
    assert max(fig(random, "val_acc")) < 0.16 < min(fig(true, "val_acc"))  # chance is 10 %
    fit_true = [first_epoch(m, "train_acc", 0.95) for m in true]
    fit_random = [first_epoch(m, "train_acc", 0.95) for m in random]
    assert clearly_below(fit_true, fit_random), show("epochs to fit 95 %: true vs random labels", fit_true, fit_random)


# ---- (c2) ensembles, (d2) dropout as averaging, (h3) init scale, (e3) L1 selects features ----------
# (the notes' last claims)

def _raw(name: str, changes: dict) -> dict:
    """The study's inline base with dotted `changes` and the data seed of this test session."""
    raw = copy.deepcopy(spec(name)["base"])
    for k, v in {**changes, "data.seed": DATA_SEED}.items():
        set_dotted(raw, k, copy.deepcopy(v))
    return raw


def test_an_ensemble_beats_its_average_member():
    """Three ensembles of 8 overfitting networks: the averaged prediction's val loss lies below the
    members' beyond both spreads (the members' over all 24 seeds, the ensembles' over the three)."""
    s = spec("ensemble")
    members, ensembles = [], []
    for seed in s["grid"]["seed"]:
        raw = _raw("ensemble", {"seed": seed, "train.epochs": 300})
        train(raw)
        ensembles.append(_CACHE[run_id(config_from_dict(raw))][1].summary)
        members += train(raw)
    for split in ("val", "test"):
        ens, single = [e[f"ensemble_{split}_loss"] for e in ensembles], fig(members, f"{split}_loss")
        assert clearly_below(ens, single), show(f"{split} loss, ensemble vs member", ens, single)


def test_dropout_weight_scaling_picks_the_classes_the_average_of_thinned_networks_picks(tmp_path):
    """Weight scaling (eval mode) and the Monte-Carlo average of 256 thinned networks agree on the
    class of ≥ 95 % of the test rows; the MC average is less confident (lower loss) than weight
    scaling, and averaging more masks lowers its loss."""
    from dlexp.analysis.averaging import mc_curves, weight_scaling
    from dlexp.results.reader import Run
    from dlexp.results.store import write_run

    assert 0.5 in spec("dropout-averaging")["grid"]["model.dropout.rate"]
    raw = _raw("dropout-averaging", {"model.dropout.rate": 0.5})
    raw["seeds"] = spec("dropout-averaging")["seeds"][:3]
    exp = config_from_dict(raw)
    train(raw)
    run = Run.load(write_run(tmp_path, run_id(exp), _CACHE[run_id(exp)][1], dump_yaml(resolved_dict(exp))))
    curves, scaled = mc_curves(run, masks=(1, 256)), weight_scaling(run)
    assert min(c.agree[-1] for c in curves) >= 0.95, [c.agree for c in curves]
    mc_loss, ws_loss = [c.loss[-1] for c in curves], [ws[0] for ws in scaled]
    assert clearly_below(mc_loss, ws_loss), show("test loss, MC average vs weight scaling", mc_loss, ws_loss)
    assert clearly_below(mc_loss, [c.loss[0] for c in curves])  # 256 masks vs one thinned network


def test_batchnorm_makes_the_init_scale_matter_less():
    """Gain 0.1: the plain net stays at chance (loss ln 2), the BatchNorm net trains; gain 10: the
    plain net diverges, the BatchNorm net trains; BatchNorm's val accuracy at 0.1 and 10 is within
    the spread of its accuracy at the standard scale."""
    grid = spec("init-scale")["grid"]
    runs = {}
    for norm in ("none", "batchnorm"):
        for gain in (0.1, 1.0, 10.0):
            assert norm in grid["model.norm"] and gain in grid["model.init_gain"]
            raw = _raw("init-scale", {"model.norm": norm, "model.init_gain": gain})
            raw["seeds"] = spec("init-scale")["seeds"]
            runs[norm, gain] = train(raw)
    assert min(fig(runs["none", 0.1], "train_loss")) > 0.69  # ln 2 = 0.693: the constant predictor
    assert all(m.summary["status"] == "diverged" for m in runs["none", 10.0])
    bn_small, plain_small = fig(runs["batchnorm", 0.1], "train_loss"), fig(runs["none", 0.1], "train_loss")
    assert clearly_below(bn_small, plain_small), show("train loss at gain 0.1, BN vs none", bn_small, plain_small)
    for gain in (0.1, 10.0):
        assert all(m.summary["status"] == "completed" for m in runs["batchnorm", gain])
        acc, ref = fig(runs["batchnorm", gain], "val_acc"), fig(runs["batchnorm", 1.0], "val_acc")
        assert min(acc) > 0.9 and not clearly_below(acc, ref), show(f"BN val acc, gain {gain} vs 1", acc, ref)


def test_proximal_l1_cuts_the_irrelevant_inputs_out():
    """irrelevant.csv: 3 informative inputs, then 9 of noise. Without a penalty every input keeps
    a first-layer norm of the same order; under proximal L1 every informative input's norm stays
    ≥ 20× every noise input's, at least 4 noise inputs are exactly 0 in every seed, no informative one."""
    import numpy as np

    base = spec("feature-selection")["base"]
    none, prox = {"l1": 0.0, "l2": 0.0}, {"l1": 3.0e-2, "l1_mode": "proximal"}
    norms = {}
    for name, reg in (("none", none), ("prox", prox)):
        assert reg in spec("feature-selection")["grid"]["regularization"]
        raw = _raw("feature-selection", {"regularization": reg})
        raw["data"]["path"] = str(STUDIES / base["data"]["path"])
        raw["seeds"] = spec("feature-selection")["seeds"]
        norms[name] = np.array([np.linalg.norm(m.state["dense0.W"], axis=1) for m in train(raw)])  # (seeds, 12)
    informative, noise = slice(0, 3), slice(3, 12)
    ratio = {k: v[:, noise].max(axis=1) / v[:, informative].min(axis=1) for k, v in norms.items()}
    assert ratio["none"].min() > 0.4 and ratio["prox"].max() < 0.05, ratio
    assert (norms["prox"][:, noise] == 0).all(axis=0).sum() >= 4 and (norms["prox"][:, informative] > 0).all()


# ---- (a2) adding features, (e4) L1 shrinks the gap, (c3) cross-validation's folds averaged ---------

def test_adding_features_cures_an_underfitting_linear_model():
    r = study("add-features", {"data.poly_degree": [1, 3]})
    line, cubic = r[1], r[3]
    for split in ("train", "val"):  # a line through a cubic is poor on both splits; the cubic features fit
        assert clearly_below(fig(cubic, f"{split}_loss"), fig(line, f"{split}_loss"))
    assert min(fig(line, "train_loss")) > 0.5 > 0.15 > max(fig(cubic, "val_loss"))


def test_l1_shrinks_the_gap_and_prunes_into_underfitting_past_its_best():
    r = study("l1-gap", {"regularization.l1": [0.0, 1.0, 3.0]})
    none, best, most = r[0.0], r[1.0], r[3.0]
    assert clearly_below(fig(best, "gap"), fig(none, "gap")), show("gap λ=1 vs 0", fig(best, "gap"), fig(none, "gap"))
    assert clearly_below(fig(best, "val_loss"), fig(none, "val_loss"))
    # every weight pruned: the network predicts the class prior (ln 2 for two classes)
    assert min(fig(most, "val_loss")) > 0.69 and max(fig(most, "val_acc")) < 0.55


def test_cross_validations_folds_averaged_overfit_less_than_one_fold():
    raw = _raw("cv-ensemble", {"regularization.l2": 0.0})
    raw["seeds"] = spec("cv-ensemble")["seeds"]
    folds = train(raw)  # 3 seeds × 5 folds
    ensemble = _CACHE[run_id(config_from_dict(raw))][1].summary
    single = fig(folds, "test_loss")
    assert len(single) == 15 and ensemble["ensemble_test_loss"] < min(single)  # below every fold's own
    assert ensemble["ensemble_test_acc"] >= statistics.fmean(fig(folds, "test_acc"))


# ---- (e5) among correlated inputs L1 keeps one, L2 shares ------------------------------------------

def signal_share(member) -> float:
    """The largest first-layer weight norm among the five copies of the signal, over their sum:
    1 when one copy carries all of it, 0.2 when the five share it equally."""
    W = member.state["dense0.W"]  # (inputs, outputs); the signal and its copies are inputs 0-4
    norms = np.linalg.norm(W, axis=1)[:5]
    return float(norms.max() / norms.sum())


def test_l1_keeps_one_of_correlated_inputs_l2_shares_the_weight():
    s = spec("correlated-features")
    l1, l2 = [], []
    for reg, shares in ((s["grid"]["regularization"][1], l1), (s["grid"]["regularization"][2], l2)):
        raw = _raw("correlated-features", {"regularization": reg})
        raw["data"]["path"] = str(STUDIES / s["base"]["data"]["path"])  # the spec's path is relative to it
        raw["seeds"] = s["seeds"]
        shares += [signal_share(m) for m in train(raw)]
    assert clearly_below(l2, l1), show("share of the strongest copy, L2 vs L1", l2, l1)
    # L1: the strongest copy carries more than the other four together; L2: each about a fifth
    assert min(l1) > 0.5 and max(l2) < 0.35


# ---- (h4) BatchNorm regularizes --------------------------------------------------------------------

def test_batchnorm_regularizes_an_overfitting_network_layernorm_less():
    r = study("batchnorm-regularizes", {"model.norm": ["none", "batchnorm", "layernorm"]})
    none, bn, ln = (fig(r[k], "gap") for k in ("none", "batchnorm", "layernorm"))
    assert clearly_below(bn, none), show("gap BatchNorm vs none", bn, none)
    assert clearly_below(bn, ln), show("gap BatchNorm vs LayerNorm", bn, ln)  # the batch noise, not normalizing
    assert clearly_below(fig(r["batchnorm"], "val_loss"), fig(r["none"], "val_loss"))


# ---- (h5) BatchNorm keeps the gradients from vanishing --------------------------------------------

def first_to_last(member) -> float:
    """The input layer's weight-gradient norm over the output layer's, in the first epoch."""
    row = member.metrics[0]
    norms = [row[k] for k in sorted((k for k in row if k.startswith("grad_norm_")), key=lambda k: int(k[10:]))]
    return norms[0] / norms[-1]


def test_batchnorm_keeps_a_deep_sigmoid_networks_gradients_from_vanishing():
    r = study("vanishing-gradients", {"model.norm": ["none", "batchnorm"]})
    plain, bn = r["none"], r["batchnorm"]
    assert max(first_to_last(m) for m in plain) < 1e-3  # the input layer gets < 1/1000 of the output's
    assert min(first_to_last(m) for m in bn) > 0.3  # every layer of the same order
    # the plain network stays near chance (ln 2 = 0.693); the BatchNorm one learns
    assert min(fig(plain, "train_loss")) > 0.69 and max(fig(plain, "val_acc")) < 0.6
    assert clearly_below(fig(bn, "train_loss"), fig(plain, "train_loss")), show(
        "train loss BatchNorm vs none", fig(bn, "train_loss"), fig(plain, "train_loss"))


# ---- (h6) internal covariate shift: is the drift what slows learning? -------------------------------

def injected_drift(a: float) -> float:
    """How much model.shift_noise = a moves a unit's spread from step to step: the relative std of
    its scale e^u over 2,000 draws, read back from the layer itself (rows 0 and 1 give v and e^u + v)."""
    from dlexp.nn.layers import ShiftNoise

    layer, probe = ShiftNoise(a, np.random.default_rng(0)), np.stack([np.zeros(64), np.ones(64)])
    scales = np.array([np.subtract(*layer.forward(probe, True)[::-1]) for _ in range(2000)])
    return float(scales.std() / scales.mean())


def test_batchnorm_keeps_its_lead_with_a_drift_larger_than_the_plain_networks():
    bn = study("covariate-shift", {"model.shift_noise": [0.0, 0.5]}, {"model.norm": "batchnorm"})
    plain = study("covariate-shift", {"model.shift_noise": [0.0]}, {"model.norm": "none"})[0.0]
    early = lambda ms: [next(r["train_loss"] for r in m.metrics if r["epoch"] == 5) for m in ms]  # noqa: E731
    # the drift put back is several times the plain network's own (probe: its layers' spread over epochs)
    assert 3 * max(stat_drift(m) for m in plain) < injected_drift(0.5)
    assert clearly_below(early(bn[0.5]), early(plain)), show("loss after 5 epochs, BN + drift vs plain", early(bn[0.5]), early(plain))
    # the drift costs BatchNorm less than half of its lead over the plain network
    cost = statistics.fmean(early(bn[0.5])) - statistics.fmean(early(bn[0.0]))
    lead = statistics.fmean(early(plain)) - statistics.fmean(early(bn[0.0]))
    assert cost < lead / 2, (cost, lead)


# ---- (g5) momentum smooths the descent at an equal effective step ------------------------------------

def test_momentum_smooths_the_loss_curve_at_an_equal_effective_step():
    pairs = {step: ({"name": "sgd", "lr": step}, {"name": "sgd", "lr": step / 10, "momentum": 0.9})
             for step in (0.1, 0.3, 1.0)}  # plain SGD at lr η/(1 − γ) beside heavy ball at lr η, γ = 0.9
    r = study("momentum-smooth", {"optimizer": [o for pair in pairs.values() for o in pair]})
    for step, (plain, heavy) in pairs.items():
        p, h = r[_key(plain)], r[_key(heavy)]
        noise = [rises(m) for m in h], [rises(m) for m in p]
        # plain SGD's rises have a heavy tail at step 0.1 (one seed's curve jumps, another's barely)
        assert all_below(*noise), show(f"rises of the train loss at step {step}, heavy ball vs plain", *noise)
        if step < 0.3:
            continue
        # where plain SGD's step nears its stability limit, beyond the spread; and not by going slower
        assert clearly_below(*noise), show(f"rises of the train loss at step {step}, heavy ball vs plain", *noise)
        assert statistics.fmean(fig(h, "train_loss")) < statistics.fmean(fig(p, "train_loss"))


# ---- (g4) batch GD and SGD in local minima ---------------------------------------------------------

def final_grad_norm(member) -> float:
    """The largest Dense layer weight-gradient norm in the last epoch (batch GD: the full gradient)."""
    row = member.metrics[-1]
    return max(v for k, v in row.items() if k.startswith("grad_norm_"))


def test_batch_gd_gets_stuck_in_a_poor_minimum_and_sgd_does_not_escape_it():
    """Ten initialisations, 1200 updates each at the same lr. Batch GD ends in one of two minima:
    several seeds at a stationary point of loss ≈ 0.2 (gradient ≈ 0), at least two near 0. SGD
    does not escape more often: batches of 8 reach the good minimum in no more seeds than batch GD,
    single examples in none (their lowest train loss of the whole run stays above every good
    batch-GD seed's), so the notes' "SGD less so" does not show."""
    gd, minibatch, single = spec("local-minima")["grid"]["train"][:3]  # equal updates; the 4th: batch GD 10× longer
    r = study("local-minima", {"train": [gd, minibatch, single]})
    gd, minibatch, single = r[_key(gd)], r[_key(minibatch)], r[_key(single)]
    stuck = [m for m in gd if m.summary["train_loss"] > 0.15]
    assert len(stuck) >= 3 and max(final_grad_norm(m) for m in stuck) < 0.03, \
        [(m.summary["train_loss"], final_grad_norm(m)) for m in gd]
    good = [m.summary["train_loss"] for m in gd if m.summary["train_loss"] < 0.1]
    assert len(good) >= 2, fig(gd, "train_loss")
    assert sum(x < 0.1 for x in fig(minibatch, "train_loss")) <= len(good), fig(minibatch, "train_loss")
    lowest = [min(row["train_loss"] for row in m.metrics) for m in single]  # over every epoch of the run
    assert all_below(good, lowest), show("batch GD's good minima vs single-example SGD's lowest loss", good, lowest)
