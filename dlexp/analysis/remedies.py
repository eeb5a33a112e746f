"""Remedies of the notes (§1, and §2–§4 where they apply), ranked for one diagnosed run.

`remedies(label, evidence, config, thresholds)` returns what to try next for an underfitting,
overfitting, not-converged or diverged run, each as {key, action, why, values}: `key` is the
config key a follow-up sweep varies over `values`, `why` cites the notes. Scores order them;
a remedy is adapted to the run's own config (never "add L2" when L2 is on: "stronger L2").
"""

from __future__ import annotations

import functools
import math

from .. import dotted
from ..labels import figure, pct

NOTES = {"1.1": "notes §1.1 降低欠拟合的风险", "1.2": "notes §1.2 降低过拟合风险", "2.1": "notes §2.1 Dropout",
         "2.2": "notes §2.2 正则化", "3": "notes §3 梯度下降方法", "4.2": "notes §4.2 Batch Normalization"}


def finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _rate(cfg) -> float:
    r = dotted.get(cfg, "model.dropout.rate", dotted.get(cfg, "model.dropout", 0.0))
    return max(r) if isinstance(r, list) and r else float(r or 0.0)


def _nice(x: float) -> float:
    return float(f"{x:.2g}")


def _hidden(h: list, factor: float) -> list:
    return [max(1, int(round(w * factor))) for w in h]


def remedies(label: str, ev: dict, cfg: dict, th: dict) -> list[dict]:
    """Ranked remedies for `label`, adapted to the run's own config (never 'add X' when X is on)."""
    g = functools.partial(dotted.get, cfg)
    hidden, rate = list(g("model.hidden", [])), _rate(cfg)
    l1, l2 = float(g("regularization.l1", 0) or 0), float(g("regularization.l2", 0) or 0)
    lr = g("optimizer.lr")
    es, epochs = g("train.early_stopping"), int(g("train.epochs", 200))
    n_train = ev.get("n_train")
    out = []

    def add(score, key, action, why, values, base=None):
        out.append((score, {"key": key, "action": action, "why": why, "values": values, **({"base": base} if base else {})}))

    if label == "underfitting":
        if g("regularization.penalize_bias") and (l1 > 0 or l2 > 0):
            add(3.3, "regularization.penalize_bias", "stop penalizing the biases",
                f"{NOTES['2.2']} (只对权重做惩罚，不包含偏置): biases need little data to fit, and a penalty on "
                "them causes underfitting", [False])
        if l2 > 0:
            add(3.2, "regularization.l2", f"weaker L2: {l2:g} → {_nice(l2 / 10):g} or 0",
                f"{NOTES['1.1']} (减少正则化系数): the L2 penalty {l2:g} holds the weights back", [_nice(l2 / 10), 0.0])
        if l1 > 0:
            add(3.1, "regularization.l1", f"weaker L1: {l1:g} → {_nice(l1 / 10):g} or 0",
                f"{NOTES['1.1']} (减少正则化系数): the L1 penalty {l1:g} zeroes useful weights", [_nice(l1 / 10), 0.0])
        if rate > 0:
            add(3.0, "model.dropout.rate", f"less dropout: {rate:g} → {rate / 2:g} or 0",
                f"{NOTES['1.1']}: dropout {rate:g} is regularization too", [rate / 2, 0.0])
        bigger = [_hidden(hidden, 2), _hidden(hidden, 4)] if hidden else [[16], [64]]
        add(2.6 if hidden else 2.4, "model.hidden", f"more capacity: {hidden} → {bigger[0]} or {bigger[1]}",
            f"{NOTES['1.1']} (增加模型复杂度): the model does not fit its own training data ({ev.get('reason')})",
            bigger)
        deg, n_in = int(g("data.poly_degree", 1)), ev.get("n_inputs")
        if deg < 12 and (n_in is None or n_in <= 20):
            degs = sorted({min(12, deg + 2), min(12, deg + 4)})
            add(2.8 if not hidden else 2.0, "data.poly_degree", f"add features: poly_degree {deg} → {degs}",
                f"{NOTES['1.1']} (添加新特征): " + ("a linear model needs nonlinear features" if not hidden else
                                                   "features with a stronger link to the label"), degs)
        tt = ev.get("train_trend")
        if not ev.get("stopped_early") and finite(tt) and tt < -th["converge_drop"] / 4:  # not on a flat curve
            add(2.7 if tt < -th["converge_drop"] / 2 else 1.0, "train.epochs",
                f"more epochs: {epochs} → {2 * epochs} or {4 * epochs}",
                f"train loss still fell {pct(-tt)} over the last {ev['window']} epochs", [2 * epochs, 4 * epochs])
    elif label == "overfitting":
        big = ev.get("n_params") and n_train and ev["n_params"] > 10 * n_train
        more = _more_data(cfg, ev)
        if more:
            add(2.9, *more)
        if not es:
            rose = finite(ev.get("val_rise")) and ev["val_rise"] >= th["overfit_rise"]
            add(3.0 if rose else 1.6, "train.early_stopping", "early stopping (patience 20, restore the best weights)",
                f"{NOTES['1.2']} (Early stopping): val loss " + (f"rose {pct(ev['val_rise'])} after its minimum at "
                                                                f"epoch {ev.get('min_val_epoch')}" if rose else
                                                                "stops improving while train loss keeps falling"),
                [{"patience": 20, "restore_best": True}])
        l2_vals = [1e-3, 1e-2] if l2 == 0 else [_nice(3 * l2), _nice(10 * l2)]
        add(2.5, "regularization.l2", ("add L2" if l2 == 0 else f"stronger L2 than {l2:g}") + f": {l2_vals}",
            f"{NOTES['2.2']}: smaller weights, a simpler function; gap {figure(ev.get('gap'))}", l2_vals)
        if hidden and rate < 0.8:
            vals = [0.2, 0.5] if rate == 0 else sorted({round(min(rate + 0.1, 0.85), 2), round(min(rate + 0.2, 0.9), 2)})
            add(2.3 if rate == 0 else 1.8, "model.dropout.rate",
                ("add dropout" if rate == 0 else f"more dropout than {rate:g}") + f": {vals}",
                f"{NOTES['2.1']}: averages many thinned networks, like bagging", vals)
        if hidden:
            smaller = [hidden[:-1], _hidden(hidden, 0.5)] if len(hidden) > 1 else \
                [_hidden(hidden, 0.5), _hidden(hidden, 0.25)] if max(hidden) > 1 else [[]]
            add(2.7 if big else 2.0, "model.hidden", f"less capacity: {hidden} → {smaller[0]} or {smaller[-1]}",
                f"{NOTES['1.2']} (降低模型复杂度): {ev.get('n_params')} parameters for {n_train} training rows",
                smaller)
        l1_vals = [1e-4, 1e-3] if l1 == 0 else [_nice(3 * l1), _nice(10 * l1)]
        add(1.2, "regularization.l1", ("add L1" if l1 == 0 else f"stronger L1 than {l1:g}") + f": {l1_vals}",
            f"{NOTES['2.2']}: L1 drives weights to exactly zero (l1_mode: proximal)", l1_vals)
    elif label == "not_converged":
        add(3.0, "train.epochs", f"more epochs: {epochs} → {2 * epochs} or {4 * epochs}",
            f"train loss still fell {pct(-ev['train_trend'])} over the last {ev['window']} epochs",
            [2 * epochs, 4 * epochs])
        if finite(lr):
            add(2.5, "optimizer.lr", f"higher learning rate: {lr:g} → {_nice(3 * lr):g} or {_nice(10 * lr):g}",
                f"{NOTES['3']}: each step is too small to arrive in {epochs} epochs", [_nice(3 * lr), _nice(10 * lr)])
        better = _better_optimizer(cfg)
        if better:
            add(2.3, "optimizer", *better)
    elif label == "diverged":
        if finite(lr):
            add(3.0, "optimizer.lr", f"lower learning rate: {lr:g} → {_nice(lr / 3):g} or {_nice(lr / 10):g}",
                f"{NOTES['3']}: steps overshoot the minimum and grow", [_nice(lr / 3), _nice(lr / 10)])
        clip = g("optimizer.clip_norm")
        vals = [1.0, 5.0] if clip is None else [_nice(clip / 3), _nice(clip / 10)]
        add(2.5 if clip is None else 1.5, "optimizer.clip_norm",
            ("clip the gradient norm" if clip is None else f"clip harder than {clip:g}") + f": {vals}",
            "bounds each step, whatever the gradient's size", vals)
        if hidden and g("model.norm", "none") == "none":
            norm = "layernorm" if g("train.batch_size") in (1, 2) else "batchnorm"
            add(2.0, "model.norm", f"normalize the layers: {norm}",
                f"{NOTES['4.2']}: 可以采用更高的学习率, avoids exploding activations", [norm])
    return [r for _, r in sorted(out, key=lambda t: -t[0])]


def _more_data(cfg, ev):
    """(key, action, why, values[, base patch]) for more training rows, or None if none can be had.

    Synthetic data can always make more rows: when the split leaves none free, the follow-up's
    base raises data.n_samples (an int val/test size keeps its rows; fractions grow with it).
    """
    n_train, n_val, n_test = ev.get("n_train"), ev.get("n_val") or 0, ev.get("n_test") or 0
    if not n_train:
        return None
    from ..data.datasets import DATASETS

    name, n, size = dotted.get(cfg, "data.name"), dotted.get(cfg, "data.n_samples"), dotted.get(cfg, "data.train_size")
    why = f"{NOTES['1.2']} (获得更多的训练数据): only {n_train} training rows"
    free = (int(n) - n_train - n_val - n_test) if name in DATASETS and DATASETS[name].generated and n else 0
    if free >= n_train:
        vals = sorted({2 * n_train, min(4 * n_train, n_train + free)})
        return "data.train_size", f"more training data: {n_train} → {' or '.join(map(str, vals))} rows", why, vals
    if name not in DATASETS or not DATASETS[name].generated or not n:
        return None
    if isinstance(size, int):
        vals, need = [2 * n_train, 4 * n_train], int(n) + 4 * n_train - free
        return ("data.train_size", f"more training data: {n_train} → {2 * n_train} or {4 * n_train} rows "
                f"(data.n_samples raised to {need} in the follow-up's base)", why, vals, {"data": {"n_samples": need}})
    return ("data.n_samples", f"generate more data: n_samples {n} → {2 * n} or {4 * n} (val and test grow too)",
            why, [2 * int(n), 4 * int(n)])


def _better_optimizer(cfg):
    opt = dict(dotted.get(cfg, "optimizer") or {})
    keep = {k: opt[k] for k in ("schedule", "clip_norm") if k in opt}
    name = opt.get("name")
    if name == "sgd" and not opt.get("momentum"):
        return ("SGD with momentum 0.9", f"{NOTES['3']} (动量梯度下降法): momentum keeps the direction of past steps",
                [{**opt, "momentum": 0.9}])
    if name in ("sgd", "adagrad", "adadelta"):
        return (f"Adam instead of {name}", f"{NOTES['3']} (自适应学习率): per-parameter step sizes",
                [{"name": "adam", "lr": 1e-3, **keep}])
    return None
