"""Remedies of the notes (§1, and §2–§4 where they apply), ranked for one diagnosed run.

`remedies(label, evidence, config, thresholds)` returns what to try next for an underfitting,
overfitting, overconfident, not-converged or diverged run, each as {key, action, why, values}: `key` is the
config key a follow-up sweep varies over `values`, `why` cites the notes. The table REMEDIES
ranks them: one row per remedy and label, with its base rank, the conditions under which it is
offered or moved, and the reason for its place. A remedy is adapted to the run's own config
(never "add L2" when L2 is on: "stronger L2").
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from .. import dotted
from ..data.datasets import DATASETS
from ..labels import figure, pct

# the sections of docs/notes.md a remedy cites, by number
NOTES = {"1.1": "notes §1.1 (underfitting)", "1.2": "notes §1.2 (overfitting)", "2.1": "notes §2.1 (dropout)",
         "2.2": "notes §2.2 (regularization)", "3": "notes §3 (gradient descent)",
         "4.2": "notes §4.2 (batch normalization)"}


def finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _rate(cfg) -> float:
    r = dotted.get(cfg, "model.dropout.rate", dotted.get(cfg, "model.dropout", 0.0))
    return max(r) if isinstance(r, list) and r else float(r or 0.0)


def _nice(x: float) -> float:
    return float(f"{x:.2g}")


def _hidden(h: list, factor: float) -> list:
    return [max(1, int(round(w * factor))) for w in h]


@dataclass(frozen=True)
class Remedy:
    """One row of REMEDIES: a remedy for one label, where it ranks, and when it is offered."""

    label: str
    key: str                                    # the config key a follow-up sweep varies
    rank: float                                 # base priority: higher comes first
    suggest: Callable[[_Run], dict | None]      # action, why, values (and base) for this run;
                                                #   None: there is nothing to offer
    offered: Callable[[_Run], bool] = lambda r: True              # when it applies at all
    rank_if: tuple[Callable[[_Run], bool], float] | None = None   # (condition, rank) that moves it
    reason: str = ""                            # why it ranks where it does

    def rank_for(self, r: _Run) -> float:
        return self.rank_if[1] if self.rank_if is not None and self.rank_if[0](r) else self.rank


@dataclass(frozen=True)
class _Run:
    """The diagnosed run as the table reads it: its config, evidence and thresholds, and the
    config values the remedies adapt to."""

    cfg: dict
    ev: dict
    th: dict
    hidden: list
    rate: float                                 # the largest dropout rate
    l1: float
    l2: float
    lr: float | None
    epochs: int
    deg: int                                    # data.poly_degree

    @classmethod
    def of(cls, cfg: dict, ev: dict, th: dict) -> "_Run":
        g = functools.partial(dotted.get, cfg)
        return cls(cfg, ev, th, list(g("model.hidden", [])), _rate(cfg), float(g("regularization.l1", 0) or 0),
                   float(g("regularization.l2", 0) or 0), g("optimizer.lr"), int(g("train.epochs", 200)),
                   int(g("data.poly_degree", 1)))

    def get(self, key: str, default=None):
        return dotted.get(self.cfg, key, default)

    @property
    def val_rose(self) -> bool:
        return finite(self.ev.get("val_rise")) and self.ev["val_rise"] >= self.th["overfit_rise"]


def _offer(action: str, why: str, values: list, base: dict | None = None) -> dict:
    return {"action": action, "why": why, "values": values, **({"base": base} if base else {})}


def _more_epochs(r: _Run) -> dict:
    return _offer(f"more epochs: {r.epochs} → {2 * r.epochs} or {4 * r.epochs}",
                  f"at the pace of its last {r.ev['window']} epochs the train loss would fall "
                  f"{pct(r.ev['train_projected_fall'])} more in as many epochs again",
                  [2 * r.epochs, 4 * r.epochs])


# ---- underfitting: take the brakes off, then add capacity, features, time ----------------------

def _unpenalize_bias(r):
    return _offer("stop penalizing the biases", f"{NOTES['2.2']}: penalize the weights only; biases need little "
                  "data to fit, and a penalty on them causes underfitting", [False])


def _weaker_l2(r):
    return _offer(f"weaker L2: {r.l2:g} → {_nice(r.l2 / 10):g} or 0",
                  f"{NOTES['1.1']}, lower the regularization: the L2 penalty {r.l2:g} holds the weights back",
                  [_nice(r.l2 / 10), 0.0])


def _weaker_l1(r):
    return _offer(f"weaker L1: {r.l1:g} → {_nice(r.l1 / 10):g} or 0",
                  f"{NOTES['1.1']}, lower the regularization: the L1 penalty {r.l1:g} zeroes useful weights",
                  [_nice(r.l1 / 10), 0.0])


def _less_dropout(r):
    return _offer(f"less dropout: {r.rate:g} → {r.rate / 2:g} or 0",
                  f"{NOTES['1.1']}: dropout {r.rate:g} is regularization too", [r.rate / 2, 0.0])


def _more_capacity(r):
    bigger = [_hidden(r.hidden, 2), _hidden(r.hidden, 4)] if r.hidden else [[16], [64]]
    return _offer(f"more capacity: {r.hidden} → {bigger[0]} or {bigger[1]}",
                  f"{NOTES['1.1']}, a more complex model: it does not fit its own training data "
                  f"({r.ev.get('reason')})", bigger)


def _more_features(r):
    degs = sorted({min(12, r.deg + 2), min(12, r.deg + 4)})
    return _offer(f"add features: poly_degree {r.deg} → {degs}",
                  f"{NOTES['1.1']}, new features: " + ("features with a stronger link to the label" if r.hidden
                                                  else "a linear model needs nonlinear features"), degs)


# ---- overfitting: more data, stop earlier, regularize, shrink ----------------------------------

def _early_stopping(r):
    since = (f"rose {pct(r.ev['val_rise'])} after its minimum at epoch {r.ev.get('min_val_epoch')}" if r.val_rose
             else "stops improving while train loss keeps falling")
    return _offer("early stopping (patience 20, restore the best weights)",
                  f"{NOTES['1.2']}, early stopping: val loss {since}", [{"patience": 20, "restore_best": True}])


def _stronger(name: str, current: float, start: list, why: str) -> dict:
    """Add penalty `name` at the values `start`, or raise the one on (`current`) 3× or 10×."""
    vals = start if current == 0 else [_nice(3 * current), _nice(10 * current)]
    return _offer((f"add {name}" if current == 0 else f"stronger {name} than {current:g}") + f": {vals}", why, vals)


def _stronger_l2(r):
    return _stronger("L2", r.l2, [1e-3, 1e-2],
                     f"{NOTES['2.2']}: smaller weights, a simpler function; gap {figure(r.ev.get('gap'))}")


def _more_dropout(r):
    vals = [0.2, 0.5] if r.rate == 0 else sorted({round(min(r.rate + 0.1, 0.85), 2), round(min(r.rate + 0.2, 0.9), 2)})
    return _offer(("add dropout" if r.rate == 0 else f"more dropout than {r.rate:g}") + f": {vals}",
                  f"{NOTES['2.1']}: averages many thinned networks, like bagging", vals)


def _less_capacity(r):
    h = r.hidden
    smaller = [h[:-1], _hidden(h, 0.5)] if len(h) > 1 else [_hidden(h, 0.5), _hidden(h, 0.25)] if max(h) > 1 else [[]]
    return _offer(f"less capacity: {h} → {smaller[0]} or {smaller[-1]}",
                  f"{NOTES['1.2']}, a less complex model: {r.ev.get('n_params')} parameters for {r.ev.get('n_train')} "
                  "training rows", smaller)


def _stronger_l1(r):
    return _stronger("L1", r.l1, [1e-4, 1e-3],
                     f"{NOTES['2.2']}: L1 drives weights to exactly zero (l1_mode: proximal)")


def _big(r) -> bool:
    n_params, n_train = r.ev.get("n_params"), r.ev.get("n_train")
    return bool(n_params and n_train and n_params > 10 * n_train)


# ---- overconfident: select on the metric, keep the logits small --------------------------------

def _monitor_metric(r):
    es = r.get("train.early_stopping")
    metric = "val_acc"
    kept = r.ev.get("min_val_epoch")
    why = f"{NOTES['1.2']}, early stopping, on the figure that matters: " + (
        f"val accuracy still rose after the val loss's minimum at epoch {kept}" if kept
        else "val accuracy still rose when val loss turned up")
    if isinstance(es, dict) and es.get("monitor", "val_loss") != metric:
        return _offer(f"early stopping on {metric} instead of {es.get('monitor', 'val_loss')}", why,
                      [{**es, "monitor": metric}])
    if es:
        return None
    return _offer(f"early stopping on {metric} (patience 20, restore the best weights)", why,
                  [{"monitor": metric, "patience": 20, "restore_best": True}])


def _calmer_l2(r):
    return _stronger("L2", r.l2, [1e-3, 1e-2], f"{NOTES['2.2']}: the confidence grows with the weights; smaller "
                                                "weights keep the probabilities honest")


# ---- not converged: more time, bigger or better steps -------------------------------------------

def _higher_lr(r):
    lr = r.lr
    return _offer(f"higher learning rate: {lr:g} → {_nice(3 * lr):g} or {_nice(10 * lr):g}",
                  f"{NOTES['3']}: each step is too small to arrive in {r.epochs} epochs", [_nice(3 * lr), _nice(10 * lr)])


# ---- diverged: smaller or bounded steps, normalized layers --------------------------------------

def _lower_lr(r):
    lr = r.lr
    return _offer(f"lower learning rate: {lr:g} → {_nice(lr / 3):g} or {_nice(lr / 10):g}",
                  f"{NOTES['3']}: steps overshoot the minimum and grow", [_nice(lr / 3), _nice(lr / 10)])


def _clip(r):
    clip = r.get("optimizer.clip_norm")
    vals = [1.0, 5.0] if clip is None else [_nice(clip / 3), _nice(clip / 10)]
    return _offer(("clip the gradient norm" if clip is None else f"clip harder than {clip:g}") + f": {vals}",
                  "bounds each step, whatever the gradient's size", vals)


def _normalize(r):
    norm = "layernorm" if r.get("train.batch_size") in (1, 2) else "batchnorm"
    return _offer(f"normalize the layers: {norm}",
                  f"{NOTES['4.2']}: tolerates higher learning rates, avoids exploding activations", [norm])


def _linear(r) -> bool:
    return not r.hidden


def _still_falling(r, fraction: float) -> bool:
    """At its last window's pace the train loss would fall more than `fraction` of converge_drop
    in as many epochs again (not a flat curve)."""
    fall = r.ev.get("train_projected_fall")
    return finite(fall) and fall > r.th["converge_drop"] * fraction


def _penalized_bias(r) -> bool:
    return bool(r.get("regularization.penalize_bias")) and (r.l1 > 0 or r.l2 > 0)


def _few_inputs(r) -> bool:
    return r.deg < 12 and (r.ev.get("n_inputs") is None or r.ev["n_inputs"] <= 20)


# Every remedy, per label, in the order that breaks ties. `remedies()` offers the rows of a
# label whose `offered` holds for the run and sorts them by rank (`rank_if` moves one row).
REMEDIES = (
    Remedy("underfitting", "regularization.penalize_bias", 3.3, _unpenalize_bias, offered=_penalized_bias,
           reason="the notes name a penalty on the biases as a cause of underfitting: undo it first"),
    Remedy("underfitting", "regularization.l2", 3.2, _weaker_l2, offered=lambda r: r.l2 > 0,
           reason="a penalty that holds the weights back is the cheapest brake to ease"),
    Remedy("underfitting", "regularization.l1", 3.1, _weaker_l1, offered=lambda r: r.l1 > 0,
           reason="as L2, but it holds back fewer weights"),
    Remedy("underfitting", "model.dropout.rate", 3.0, _less_dropout, offered=lambda r: r.rate > 0,
           reason="dropout is regularization too: ease it before growing the model"),
    Remedy("underfitting", "model.hidden", 2.6, _more_capacity, rank_if=(_linear, 2.4),
           reason="with the brakes off, more capacity; a linear model wants features first"),
    Remedy("underfitting", "data.poly_degree", 2.0, _more_features, offered=_few_inputs, rank_if=(_linear, 2.8),
           reason="features: the first remedy of a linear model, after capacity for a network"),
    Remedy("underfitting", "train.epochs", 1.0, _more_epochs,
           offered=lambda r: not r.ev.get("stopped_early") and _still_falling(r, 1 / 4),
           rank_if=(lambda r: _still_falling(r, 1 / 2), 2.7),
           reason="more time: high while the train loss still falls fast, else a last resort"),

    Remedy("overfitting", "data.train_size", 2.9, lambda r: _more_data(r.cfg, r.ev),
           reason="more data, the notes' first remedy, whenever rows can be had"),
    Remedy("overfitting", "train.early_stopping", 1.6, _early_stopping,
           offered=lambda r: not r.get("train.early_stopping"), rank_if=(lambda r: r.val_rose, 3.0),
           reason="first when the val loss visibly rose, else after the regularizers"),
    Remedy("overfitting", "regularization.l2", 2.5, _stronger_l2,
           reason="the standard regularizer, available to every model"),
    Remedy("overfitting", "model.dropout.rate", 1.8, _more_dropout, offered=lambda r: bool(r.hidden) and r.rate < 0.8,
           rank_if=(lambda r: r.rate == 0, 2.3), reason="adding dropout ranks above raising a rate already set"),
    Remedy("overfitting", "model.hidden", 2.0, _less_capacity, offered=lambda r: bool(r.hidden), rank_if=(_big, 2.7),
           reason="less capacity: high when the parameters outnumber the training rows tenfold"),
    Remedy("overfitting", "regularization.l1", 1.2, _stronger_l1,
           reason="L1 regularizes too, but what it is for is sparse weights"),

    Remedy("overconfident", "train.early_stopping", 2.4, _monitor_metric,
           rank_if=(lambda r: bool(r.get("train.early_stopping")), 3.0),
           reason="select on the metric the loss disagrees with: first when a loss monitor already cut the run short"),
    Remedy("overconfident", "regularization.l2", 2.6, _calmer_l2,
           reason="the usual cure of over-confidence: smaller weights, smaller logits"),
    Remedy("overconfident", "model.dropout.rate", 1.8, _more_dropout, offered=lambda r: bool(r.hidden) and r.rate < 0.8,
           reason="regularizes as well, less directly than L2"),

    Remedy("not_converged", "train.epochs", 3.0, _more_epochs, reason="the loss is still falling: give it the time"),
    Remedy("not_converged", "optimizer.lr", 2.5, _higher_lr, offered=lambda r: finite(r.lr),
           reason="bigger steps arrive sooner"),
    Remedy("not_converged", "optimizer", 2.3, lambda r: _better_optimizer(r.cfg),
           reason="a faster method, where there is one"),

    Remedy("diverged", "optimizer.lr", 3.0, _lower_lr, offered=lambda r: finite(r.lr),
           reason="steps that overshoot are the usual cause"),
    Remedy("diverged", "optimizer.clip_norm", 1.5, _clip, rank_if=(lambda r: r.get("optimizer.clip_norm") is None, 2.5),
           reason="clipping bounds every step: high unless it is on already"),
    Remedy("diverged", "model.norm", 2.0, _normalize,
           offered=lambda r: bool(r.hidden) and r.get("model.norm", "none") == "none",
           reason="normalized layers tolerate larger steps"),
)


def remedies(label: str, ev: dict, cfg: dict, th: dict) -> list[dict]:
    """Ranked remedies for `label`, adapted to the run's own config (never 'add X' when X is on)."""
    r = _Run.of(cfg, ev, th)
    offers = []
    for remedy in REMEDIES:
        if remedy.label == label and remedy.offered(r):
            offer = remedy.suggest(r)
            if offer is not None:
                offers.append((remedy.rank_for(r), {"key": remedy.key, **offer}))
    return [offer for _, offer in sorted(offers, key=lambda t: -t[0])]


def _more_data(cfg, ev):
    """The offer of more training rows (a base patch with it if needed), or None if none can be had.

    The follow-up must compare on the same val and test rows. Rows the split left unused (a
    train_size below the rest) grow the training set alone: val and test are carved before
    train and stay the rows they were. Synthetic data with no row left can only be drawn again
    with more rows, which draws val and test anew: then the follow-up's base fixes their sizes
    and its first point repeats the run's own training size, so that its points compare on one
    set of rows, and the note says why the original run is not among them.
    """
    n_train, n_val, n_test = ev.get("n_train"), ev.get("n_val") or 0, ev.get("n_test") or 0
    if not n_train:
        return None

    name, n = dotted.get(cfg, "data.name"), dotted.get(cfg, "data.n_samples")
    spec = DATASETS.get(name)
    total = (int(n) if spec.generated and n else spec.rows) if spec is not None else None
    why = f"{NOTES['1.2']}, more training data: only {n_train} training rows"
    free = (total - n_train - n_val - n_test) if total else 0
    if free > 0 and (free >= n_train or not spec.generated):
        vals = sorted({min(2 * n_train, n_train + free), min(4 * n_train, n_train + free)})
        return _offer(f"more training data: {n_train} → {' or '.join(map(str, vals))} rows (same val and "
                      "test rows)", why, vals)
    if spec is None or not spec.generated or not n:
        return None
    need = n_val + n_test + 4 * n_train
    return {**_offer(f"more training data: {n_train} → {2 * n_train} or {4 * n_train} rows, on {need} rows "
                     f"drawn anew (the run used all its {n})", why, [2 * n_train, 4 * n_train],
                     {"data": {"n_samples": need, "val_size": n_val, "test_size": n_test}}),
            "current": n_train,
            "note": f"data.n_samples {n} → {need} draws new rows, val and test included (a generator cannot add "
                    f"rows to its first draw): compare within this sweep, whose first point repeats the run's "
                    f"{n_train} training rows on them"}


def _better_optimizer(cfg):
    opt = dict(dotted.get(cfg, "optimizer") or {})
    keep = {k: opt[k] for k in ("schedule", "clip_norm") if k in opt}
    name = opt.get("name")
    if name == "sgd" and not opt.get("momentum"):
        return _offer("SGD with momentum 0.9", f"{NOTES['3']}, momentum: it keeps the direction of past steps",
                      [{**opt, "momentum": 0.9}])
    if name in ("sgd", "adagrad", "adadelta"):
        return _offer(f"Adam instead of {name}", f"{NOTES['3']}, adaptive learning rates: per-parameter step sizes",
                      [{"name": "adam", "lr": 1e-3, **keep}])
    return None
