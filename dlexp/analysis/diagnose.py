"""Fit diagnosis: label a finished run and rank the remedies of the notes (§1) for it.

Reads result files only (summary.json, metrics.csv, config.yaml), never the trainer; remedies.py
ranks what to try next. Every loss is weighed against the baseline B, the loss of a model that
ignores its input, so that a relative change between two tiny losses (1e-5 against 3e-5 on
separable data) is never taken for a finding. The label is the first rule that holds, in this
order; the later ones that hold too are listed in `also`:

    diverged       status "diverged", a non-finite loss, train loss ≥ diverge_ratio × B and no
                   lower than after the first epoch, or a loss that spiked to ≥ spike_ratio × B
                   in some epoch and ended no fit (train loss ≥ underfit_baseline × B)
    not_converged  no early stop, and at the pace of the last `window` of the epochs (≥ min_window
                   epochs) as many epochs again would take both train and val loss ≥ converge_drop
                   lower, the val loss by ≥ converge_floor × B, and that fall is measurable (the
                   window's slope ≥ converge_t standard errors: a noisy flat curve is not falling)
    overconfident  (classification) the val loss rose as for overfitting while the val accuracy
                   still rose by ≥ metric_gain of its room (1 − the baseline's accuracy) from the
                   loss's minimum to the end; or early stopping on val_loss kept an epoch whose
                   val accuracy the epoch it stopped at beat by as much
    underfitting   train loss above what a flexible reference (gradient-boosted trees fitted on the
                   same training rows) reaches on the validation rows, by ≥ underfit_reference × B
                   (classification: its val accuracy above the run's train accuracy by as much of
                   the room); train loss ≥ underfit_baseline × B, unless a reference does no
                   better than the run (a noisy target leaves even the best model near B); in a
                   sweep also train loss ≥ underfit_peer × the best val loss of the comparable
                   runs and above it by ≥ gap_floor × B
    overfitting    val loss ended ≥ overfit_rise above its minimum, and ≥ gap_floor × B, while
                   train loss ended below its value at that epoch (weights not restored); or the
                   relative gap (val − train) / val ≥ overfit_gap with val − train ≥ gap_floor × B.
                   Classification: only when the accuracy confirms it, train − val accuracy ≥
                   metric_gap of the room or val accuracy fell by metric_gain of it; a loss that
                   rises on predictions as right as ever is no worse model
    good_fit       none of the above

The baseline is the loss of a model that ignores its input: for classification the constant
predictor of the training-label frequencies (cross-entropy H(p), accuracy max p, from the run's
data rebuilt from its config; uniform over the classes if the data cannot be rebuilt), for
regression the mean predictor (loss train_loss / (1 − train R²), 1.0 on standardized targets;
R² = 0). Runs of a sweep are comparable ("peers") when their data sections agree except for
train_size and poly_degree. Every threshold is in DEFAULT_THRESHOLDS (thresholds.py) and can be overridden.
"""

from __future__ import annotations

import copy
import csv
import functools
import importlib
import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np

from .. import dotted
from ..config.yamlfile import deep_merge, dump_yaml
from ..errors import ResultError, UsageError, did_you_mean
from ..labels import count, figure, pct
from ..nn.model import dense_arrays
from ..results.store import (SWEEP_NAME_BYTES, atomic_write_text, csv_safe, csv_text, file_name, read_json,
                             write_json)
from .axis import swept_value
from .inference import rebuilt_dataset
from .thresholds import DEFAULT_THRESHOLDS
from .remedies import finite, remedies

LABELS = ("diverged", "not_converged", "overconfident", "underfitting", "overfitting", "good_fit")
RULES = 2  # the version of the rules a recorded diagnosis was made by: figures trust only their own
PEER_FREE_KEYS = ("train_size", "poly_degree")  # data keys that peers may differ in


def thresholds_from(items=(), base: dict | None = None) -> dict:
    """DEFAULT_THRESHOLDS updated by 'name=value' strings (or a mapping); unknown names are errors."""
    out = dict(DEFAULT_THRESHOLDS if base is None else base)
    pairs = items.items() if isinstance(items, dict) else [str(i).partition("=")[::2] for i in items]
    for name, value in pairs:
        name = name.strip()
        if name not in DEFAULT_THRESHOLDS:
            raise UsageError(f"--threshold: unknown name {name!r}{did_you_mean(name, DEFAULT_THRESHOLDS)}; "
                             f"valid: {', '.join(DEFAULT_THRESHOLDS)}")
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"--threshold {name}: expected a number, found {value!r}") from None
        if not math.isfinite(out[name]) or out[name] < 0:
            raise UsageError(f"--threshold {name}: expected a finite number ≥ 0, found {value!r}")
    return out


# ---------------------------------------------------------------------------------------------
# Evidence

def _line(values: list) -> tuple[float, float, float] | None:
    """(slope per epoch, its standard error, |mean|) of the least-squares line through `values`."""
    ys = [float(v) for v in values if finite(v)]
    k = len(ys)
    if k < 3:
        return None
    xm, ym = (k - 1) / 2, sum(ys) / k
    sxx = sum((i - xm) ** 2 for i in range(k))
    slope = sum((i - xm) * (y - ym) for i, y in enumerate(ys)) / sxx
    resid = sum((y - ym - slope * (i - xm)) ** 2 for i, y in enumerate(ys))
    return slope, math.sqrt(resid / (k - 2) / sxx), abs(ym)


def trend(values: list) -> float | None:
    """Relative change over `values` along their least-squares line: slope·(k−1) / |mean|."""
    line = _line(values)
    k = len([v for v in values if finite(v)])
    return line[0] * (k - 1) / line[2] if line and line[2] else None


def _data_json(run) -> str:
    """The run's data section as the key of the per-process caches of its rebuilt dataset."""
    return json.dumps(run.config.get("data", {}), sort_keys=True)


@functools.lru_cache(maxsize=32)
def _class_prior(data_json: str) -> tuple[float, ...]:
    """Training-label frequencies of the data section `data_json` (rebuilt from the config)."""
    ds = rebuilt_dataset(data_json)  # file paths: absolute, resolved
    counts = np.bincount(ds.y_train, minlength=ds.n_classes)
    return tuple(float(c) for c in counts / counts.sum())


@functools.lru_cache(maxsize=32)
def _zero_loss(data_json: str) -> float:
    """Regression: the loss of predicting 0 (the mean square of the training targets, in the run's
    units), about where an untrained network starts: a target far from 0 makes it many times the
    mean predictor's loss without any divergence."""
    return float(np.mean(np.square(rebuilt_dataset(data_json).y_train)))


def baseline(run) -> dict:
    """The input-blind predictor's train loss and metric, and what it is."""
    s = run.summary
    if s.get("task") == "regression":
        r2, loss = s.get("train_r2"), s.get("train_loss")
        out = {"baseline": "mean predictor", "baseline_loss": loss / (1 - r2) if finite(r2) and finite(loss) and r2 < 1
               else 1.0, "baseline_r2": 0.0}
        try:
            out["zero_loss"] = _zero_loss(_data_json(run))
        except Exception:  # noqa: BLE001  (data not rebuildable: spikes are measured against B alone)
            pass
        return out
    try:
        p = _class_prior(_data_json(run))
        what = "class-prior predictor"
    except Exception:  # data not rebuildable (moved CSV, old config): fall back to K from the weights
        try:
            k = int(dense_arrays(run.model())[-1][0].shape[1])  # outputs of the last Dense: one per class
        except (ResultError, IndexError):
            return {}
        p, what = (1.0 / k,) * k, f"uniform over {k} classes"
    return {"baseline": what, "baseline_loss": -sum(q * math.log(q) for q in p if q > 0), "baseline_acc": max(p)}


@functools.lru_cache(maxsize=32)
def _reference_fit(data_json: str) -> dict:
    """What a flexible model reaches on the same rows: gradient-boosted trees (scikit-learn's
    HistGradientBoosting, defaults but leaves of ≥ N/10 rows on small sets, seed 0) fitted on the
    run's training split as the network saw it, scored on its validation split — val accuracy for
    classification, val MSE (in the run's own units) for regression. {} when there is no single
    target to fit."""
    from threadpoolctl import threadpool_limits

    importlib.import_module("sklearn.ensemble")  # loads its OpenMP runtime, which the limit below holds

    ds = rebuilt_dataset(data_json)
    with threadpool_limits(1):  # one thread, as everywhere in dlexp: on 2 busy cores two crawl
        return _fit_reference(ds)


def _fit_reference(ds) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if len(ds.y_train) < 2 or len(ds.y_val) < 1:
        return {}
    leaf = min(20, max(2, len(ds.y_train) // 10))  # the default 20 rows a leaf would fit nothing on 30 rows
    if ds.task == "classification":
        if len(np.unique(ds.y_train)) < 2:
            return {}
        model = HistGradientBoostingClassifier(random_state=0, min_samples_leaf=leaf).fit(ds.X_train, ds.y_train)
        return {"reference_val_acc": float(np.mean(model.predict(ds.X_val) == ds.y_val))}
    y_train, y_val = np.asarray(ds.y_train), np.asarray(ds.y_val)
    if y_train.ndim > 1 and y_train.shape[1] != 1:
        return {}
    model = HistGradientBoostingRegressor(random_state=0, min_samples_leaf=leaf).fit(ds.X_train, y_train.ravel())
    return {"reference_val_loss": float(np.mean((model.predict(ds.X_val) - y_val.ravel()) ** 2))}


def reference(run) -> dict:
    """The reference fit of the run's data (see _reference_fit), and what it is; {} when the data
    cannot be rebuilt (a moved CSV file, an old config)."""
    try:
        found = _reference_fit(_data_json(run))
    except Exception:  # noqa: BLE001  (a data section that no longer builds: no reference, no rule)
        return {}
    return {"reference": "gradient-boosted trees", **found} if found else {}


def _peer_key(run) -> str:
    """The run's data section (less PEER_FREE_KEYS) and task as one string: runs with equal keys are peers."""
    data = {k: v for k, v in (run.config.get("data") or {}).items() if k not in PEER_FREE_KEYS}
    return json.dumps([data, run.summary.get("task")], sort_keys=True, default=str)


def peer_groups(runs) -> dict[str, list]:
    """The completed runs with a finite val loss, grouped by _peer_key: built once per sweep, so
    diagnosing N runs is N lookups, not N² comparisons (half a minute on 1,000 runs)."""
    groups: dict[str, list] = {}
    for p in runs or []:
        if p.status == "completed" and finite(p.summary.get("val_loss")):
            groups.setdefault(_peer_key(p), []).append(p)
    return groups


def peers_of(run, peers) -> list:
    """The completed runs among `peers` (runs, or their peer_groups) that `run` is compared with:
    same data and task."""
    groups = peers if isinstance(peers, dict) else peer_groups(peers)
    return list(groups.get(_peer_key(run), []))


def _share(x, base) -> float | None:
    return x / base if finite(x) and finite(base) and base > 0 else None


def _column(rows: list[dict], key: str) -> list:
    return [r.get(key) for r in rows]


def evidence(run, peers=None, th: dict = DEFAULT_THRESHOLDS) -> dict:
    """The numbers the rules look at (None where a figure is missing); `…_vs_baseline` are shares
    of the baseline's loss B, the scale every absolute floor is measured on."""
    s, m = run.summary, run.metric
    ev = {"status": s.get("status"), "task": s.get("task")}
    ev.update(baseline(run))
    for key in ("train_loss", "val_loss", f"train_{m}", f"val_{m}"):
        ev[key] = s.get(key)
    ev["n_val"] = s.get("n_val")
    tr, va, base = s.get("train_loss"), s.get("val_loss"), ev.get("baseline_loss")
    ev["train_vs_baseline"] = _share(tr, base)
    ev["gap"] = va - tr if finite(tr) and finite(va) else None
    ev["rel_gap"] = ev["gap"] / va if ev["gap"] is not None and va > 0 else None
    ev["gap_vs_baseline"] = _share(ev["gap"], base)
    _curve_evidence(ev, run)
    _metric_evidence(ev, run)
    _stopping_evidence(ev, run)
    _pace_evidence(ev, run, th)
    _reference_evidence(ev, run)
    _peer_evidence(ev, run, peers)
    return ev


def _curve_evidence(ev: dict, run) -> None:
    """The shape of the loss curves: the first and the worst epoch, the val minimum and the rise after it."""
    rows, tr, base = run.metrics, ev.get("train_loss"), ev.get("baseline_loss")
    first = rows[0].get("train_loss") if rows else None
    ev["train_vs_first_epoch"] = tr / first if finite(tr) and finite(first) and first > 0 else None
    # the worst epoch: a spike of orders of magnitude is a divergence even if the loss came down;
    # measured against where an untrained network starts (B, or the zero predictor's loss)
    spikes = [(v, i + 1) for i, r in enumerate(rows) for v in (r.get("train_loss"), r.get("val_loss")) if finite(v)]
    scale = max(base, ev["zero_loss"]) if finite(base) and finite(ev.get("zero_loss")) else base
    if spikes and finite(scale) and scale > 0:
        worst, epoch = max(spikes)
        ev.update(max_loss=worst, max_loss_epoch=epoch, max_vs_baseline=worst / scale)
    valid = [(v, i + 1) for i, v in enumerate(_column(rows, "val_loss")) if finite(v)]
    if valid:
        (vmin, emin), (last, elast) = min(valid), valid[-1]
        ev.update(min_val_loss=vmin, min_val_epoch=emin, last_val_loss=last, last_val_epoch=elast,
                  val_rise=(last - vmin) / vmin if vmin > 0 else None, rise_vs_baseline=_share(last - vmin, base))
        t_min, t_last = rows[emin - 1].get("train_loss"), rows[elast - 1].get("train_loss")
        ev["train_change_after_min"] = (t_last - t_min) / t_min if finite(t_min) and finite(t_last) and t_min else None


def _metric_evidence(ev: dict, run) -> None:
    """Classification: the accuracy at the val loss's minimum and at the end,
    the accuracy's room above the baseline (1 − its accuracy) and the train − val accuracy gap in it."""
    if ev.get("task") != "classification":
        return
    m, s = run.metric, run.summary
    if "min_val_epoch" in ev:
        accs = _column(run.metrics, f"val_{m}")
        at_min, at_end = accs[ev["min_val_epoch"] - 1], accs[ev["last_val_epoch"] - 1]
        ev.update(val_metric_at_min=at_min if finite(at_min) else None,
                  val_metric_at_end=at_end if finite(at_end) else None)
    if finite(ev.get("baseline_acc")):
        room = ev["metric_room"] = 1.0 - ev["baseline_acc"]
        ta, vacc = s.get(f"train_{m}"), s.get(f"val_{m}")
        ev["metric_gap_vs_room"] = (ta - vacc) / room if finite(ta) and finite(vacc) and room > 0 else None


def _stopping_evidence(ev: dict, run) -> None:
    s, cfg = run.summary, run.config
    ev["epochs_run"], ev["epochs"] = len(run.metrics), dotted.get(cfg, "train.epochs")
    es = dotted.get(cfg, "train.early_stopping")
    ev["monitor"] = es.get("monitor", "val_loss") if isinstance(es, dict) else None
    # repeats/CV summaries do not carry restored_best: early stopping restores when the run completed
    restored = s.get("restored_best", bool(es and es.get("restore_best")) and s.get("status") == "completed")
    ev["stopped_early"], ev["restored_best"] = bool(s.get("stopped_early")), bool(restored)


def _pace_evidence(ev: dict, run, th: dict) -> None:
    """The trends over the last `window` epochs, and that pace carried on for as many epochs again:
    what more time would buy."""
    rows = run.metrics
    n = len(rows)
    k = ev["window"] = min(n, max(int(th["min_window"]), round(th["window"] * n)))
    for split in ("train", "val"):
        column = _column(rows, f"{split}_loss")
        ev[f"{split}_trend"] = trend(column[-k:]) if k else None
        line = _line(column[-k:]) if k else None
        last = column[-1] if column and finite(column[-1]) else None
        if line is None or last is None:
            continue
        fall = min(-line[0] * n, last)  # a loss cannot fall below 0
        ev[f"{split}_projected_fall"] = fall / line[2] if line[2] else None
        if split == "val":
            ev["val_projected_fall_vs_baseline"] = _share(fall, ev.get("baseline_loss"))
        # the fall measured against the noise around the line, in standard errors: a noisy flat
        # curve's slope is as often down as up, and that is no sign of progress
        ev[f"{split}_fall_t"] = -line[0] / line[1] if line[1] > 0 else (math.inf if line[0] < 0 else 0.0)


def _reference_evidence(ev: dict, run) -> None:
    """What the reference fit reaches on the same rows, and how far the run's train figure is from it."""
    ev.update(reference(run))
    tr, base, room = ev.get("train_loss"), ev.get("baseline_loss"), ev.get("metric_room")
    # how far the run is from the reference: its train figure against the reference's val figure,
    # and its own val figure too (a run that generalizes as well as the reference is no underfit,
    # whatever a noisy eval-mode train figure says)
    va = ev.get("val_loss")
    if finite(ev.get("reference_val_loss")) and finite(tr) and finite(va):
        ref = ev["reference_val_loss"]
        ev["train_above_reference_vs_baseline"] = _share(min(tr, va) - ref, base)
    ta, vacc = ev.get(f"train_{run.metric}"), ev.get(f"val_{run.metric}")
    if finite(ev.get("reference_val_acc")) and finite(room) and room > 0 and finite(ta) and finite(vacc):
        ev["reference_acc_gain_vs_room"] = (ev["reference_val_acc"] - max(ta, vacc)) / room


def _peer_evidence(ev: dict, run, peers) -> None:
    """The best val loss among the comparable runs of the sweep, and the run's train loss against it."""
    others = peers_of(run, peers)
    if len(others) > 1:
        # the run's better loss, train or val: a run whose val loss is near the best is no underfit
        # because its eval-mode train loss is the higher one (an easy val split, BatchNorm statistics)
        fit = min(ev.get("train_loss"), ev.get("val_loss")) if finite(ev.get("train_loss")) \
            and finite(ev.get("val_loss")) else None
        best = min(others, key=lambda p: p.summary["val_loss"])
        bv = best.summary["val_loss"]
        ev.update(n_peers=len(others), best_peer_run=best.run_id, best_peer_val_loss=bv,
                  fit_vs_best_peer=fit / bv if fit is not None and bv > 0 else None,
                  above_best_peer_vs_baseline=_share(fit - bv, ev.get("baseline_loss")) if fit is not None else None)


# ---------------------------------------------------------------------------------------------
# Rules

def _at_least(ev: dict, key: str, limit: float) -> bool:
    return finite(ev.get(key)) and ev[key] >= limit


def _hit(label: str, reason: str, short: str) -> dict:
    return {"label": label, "reason": reason, "short": short}


def _val_rose(ev: dict, th: dict) -> bool:
    """The val loss ended clearly above its minimum while the train loss kept falling: the shape
    of overfitting (a penalty that pushes both up is not it; restored best weights undo it)."""
    fell = finite(ev.get("train_change_after_min")) and ev["train_change_after_min"] < 0
    return (_at_least(ev, "val_rise", th["overfit_rise"]) and _at_least(ev, "rise_vs_baseline", th["gap_floor"])
            and fell and not ev.get("restored_best"))


def _diverged(ev: dict, th: dict) -> dict | None:
    tr, base = ev.get("train_loss"), ev.get("baseline_loss")
    if ev.get("status") == "diverged" or not finite(tr):
        return _hit("diverged", f"status {ev.get('status')}, train loss {figure(tr)}, val loss "
                                f"{figure(ev.get('val_loss'))}", "the loss is not finite")
    if _at_least(ev, "train_vs_baseline", th["diverge_ratio"]) \
            and not (finite(ev.get("train_vs_first_epoch")) and ev["train_vs_first_epoch"] < 1):
        # far above the baseline and no lower than after epoch 1: training made it worse
        # (a loss that fell to a level that bad is a model that cannot fit: underfitting)
        return _hit("diverged", f"train loss {figure(tr)} is {ev['train_vs_baseline']:.3g}× the baseline's "
                                f"{figure(base)} (≥ {th['diverge_ratio']:g}×) and no lower than after epoch 1",
                    f"train loss {ev['train_vs_baseline']:.2g}× the baseline, no progress")
    if _at_least(ev, "max_vs_baseline", th["spike_ratio"]) and _at_least(ev, "train_vs_baseline",
                                                                         th["underfit_baseline"]):
        return _hit("diverged", f"the loss spiked to {figure(ev['max_loss'])} at epoch {ev['max_loss_epoch']}, "
                                f"{ev['max_vs_baseline']:.2g}× the baseline's {figure(base)} (≥ "
                                f"{th['spike_ratio']:g}×), and ended at {pct(ev['train_vs_baseline'])} of it: "
                                "the steps overshot", f"loss spiked to {figure(ev['max_loss'])} at epoch "
                                                      f"{ev['max_loss_epoch']}")
    return None


def _not_converged(ev: dict, th: dict) -> dict | None:
    tp, vp, vb = ev.get("train_projected_fall"), ev.get("val_projected_fall"), ev.get("val_projected_fall_vs_baseline")
    if not ev.get("stopped_early") and finite(tp) and finite(vp) and min(tp, vp) >= th["converge_drop"] \
            and _at_least(ev, "val_projected_fall_vs_baseline", th["converge_floor"]) \
            and _at_least(ev, "val_fall_t", th["converge_t"]):
        return _hit("not_converged", f"at the pace of its last {ev['window']} epochs, as many epochs again would take "
                                     f"the train loss {pct(tp)} and the val loss {pct(vp)} lower (≥ "
                                     f"{pct(th['converge_drop'])}), {pct(vb)} of the baseline's loss (≥ "
                                     f"{pct(th['converge_floor'])})", f"val loss still falling (−{pct(vp)} "
                                                                      "at this pace)")
    return None


def _underfitting(ev: dict, th: dict) -> dict | None:
    tr, base = ev.get("train_loss"), ev.get("baseline_loss")
    # a flexible reference on the same rows says what the data allow: a train loss well above its
    # val loss is underfitting; one the reference cannot beat is as good as the data allow, even
    # near the baseline (a noisy target); without a reference the baseline rule judges alone
    ta = ev.get("train_acc")
    if _at_least(ev, "train_above_reference_vs_baseline", th["underfit_reference"]):
        return _hit("underfitting", f"train loss {figure(tr)} is above the val loss {figure(ev['reference_val_loss'])} "
                                    f"of {ev['reference']} on the same rows by "
                                    f"{pct(ev['train_above_reference_vs_baseline'])} of the baseline's loss (≥ "
                                    f"{pct(th['underfit_reference'])})", f"train loss {tr:.3g}, a reference "
                                                                         f"{ev['reference_val_loss']:.3g}")
    if _at_least(ev, "reference_acc_gain_vs_room", th["underfit_reference"]):
        return _hit("underfitting", f"train accuracy {figure(ta)} is below the val accuracy "
                                    f"{figure(ev['reference_val_acc'])} of {ev['reference']} on the same rows by "
                                    f"{pct(ev['reference_acc_gain_vs_room'])} of the room above the baseline (≥ "
                                    f"{pct(th['underfit_reference'])})", f"train acc {ta:.3g}, a reference "
                                                                         f"{ev['reference_val_acc']:.3g}")
    unbeaten = (finite(ev.get("reference_val_loss")) and finite(tr) and ev["reference_val_loss"] >= tr) \
        or (finite(ev.get("reference_val_acc")) and finite(ta) and ev["reference_val_acc"] <= ta)
    if _at_least(ev, "train_vs_baseline", th["underfit_baseline"]) and not unbeaten:
        return _hit("underfitting", f"train loss {figure(tr)} is {pct(ev['train_vs_baseline'])} of the "
                                    f"{ev['baseline']}'s {figure(base)} (≥ {pct(th['underfit_baseline'])})",
                    f"train loss {pct(ev['train_vs_baseline'])} of the baseline's")
    if _at_least(ev, "fit_vs_best_peer", th["underfit_peer"]) \
            and _at_least(ev, "above_best_peer_vs_baseline", th["gap_floor"]):
        return _hit("underfitting", f"train loss {figure(tr)} and val loss {figure(ev.get('val_loss'))} are ≥ "
                                    f"{ev['fit_vs_best_peer']:.3g}× the best val loss "
                                    f"{figure(ev['best_peer_val_loss'])} in the sweep (≥ {th['underfit_peer']:g}×)",
                    f"losses ≥ {ev['fit_vs_best_peer']:.2g}× the sweep's best val")
    return None


def _metric_moves(ev: dict, th: dict) -> tuple[float | None, float | None]:
    """(gain, gap) of a classification run as shares of the accuracy's room (1 − the baseline's):
    how much val accuracy rose after the val loss's minimum, and train − val accuracy at the end.
    A gain of fewer than two validation rows is counted as none: one row is noise."""
    at_min, at_end, room = ev.get("val_metric_at_min"), ev.get("val_metric_at_end"), ev.get("metric_room")
    gain = (at_end - at_min) / room if finite(at_min) and finite(at_end) and finite(room) and room > 0 else None
    n_val = ev.get("n_val")
    if gain is not None and finite(n_val) and n_val > 0 and abs(at_end - at_min) < 2 / n_val:
        gain = 0.0
    return gain, ev.get("metric_gap_vs_room")


def _overconfident(ev: dict, th: dict) -> dict | None:
    if ev.get("task") != "classification":
        return None
    at_min, at_end = ev.get("val_metric_at_min"), ev.get("val_metric_at_end")
    gain, _ = _metric_moves(ev, th)
    if _val_rose(ev, th) and finite(gain) and gain >= th["metric_gain"]:
        return _hit("overconfident", f"val loss rose {pct(ev['val_rise'])} after its minimum {figure(ev['min_val_loss'])} "
                                     f"at epoch {ev['min_val_epoch']} while val accuracy still rose {figure(at_min)} → "
                                     f"{figure(at_end)} (≥ {pct(th['metric_gain'])} of its room): the predictions grow "
                                     "over-confident, not worse", f"val loss +{pct(ev['val_rise'])} since epoch "
                                                                  f"{ev['min_val_epoch']}, val acc {figure(at_min)} → "
                                                                  f"{figure(at_end)}")
    # the epoch early stopping ended at against the one it kept (one comparison: the best of the
    # later epochs would be the best of many noisy draws)
    if ev.get("restored_best") and ev.get("monitor") == "val_loss" and finite(gain) and gain >= th["metric_gain"]:
        return _hit("overconfident", f"early stopping on val_loss kept epoch {ev['min_val_epoch']} (val accuracy "
                                     f"{figure(at_min)}), but at epoch {ev['last_val_epoch']} val accuracy was "
                                     f"{figure(at_end)}: the loss rose from over-confidence while the predictions "
                                     "still improved", f"kept epoch {ev['min_val_epoch']} (val acc {figure(at_min)}); "
                                                       f"epoch {ev['last_val_epoch']} had {figure(at_end)}")
    return None


def _overfitting(ev: dict, th: dict) -> dict | None:
    # classification: the accuracy must confirm what the loss says (train − val accuracy ≥ metric_gap
    # of the room, or val accuracy fell after the loss's minimum), else a rising loss on predictions
    # as right as ever is confidence, not a worse model
    gain, gap = _metric_moves(ev, th)
    confirmed = ev.get("task") != "classification" or not finite(gap) or gap >= th["metric_gap"] \
        or (finite(gain) and gain <= -th["metric_gain"])
    if _val_rose(ev, th) and confirmed:
        return _hit("overfitting", f"val loss rose {pct(ev['val_rise'])} after its minimum {figure(ev['min_val_loss'])} "
                                   f"at epoch {ev['min_val_epoch']} (≥ {pct(th['overfit_rise'])}) while train loss "
                                   f"fell {pct(-ev['train_change_after_min'])}",
                    f"val loss +{pct(ev['val_rise'])} since epoch {ev['min_val_epoch']}")
    if _at_least(ev, "rel_gap", th["overfit_gap"]) and _at_least(ev, "gap_vs_baseline", th["gap_floor"]) \
            and confirmed:
        return _hit("overfitting", f"val − train = {figure(ev['gap'])} is {pct(ev['rel_gap'])} of the val loss "
                                   f"(≥ {pct(th['overfit_gap'])}) and {pct(ev['gap_vs_baseline'])} of the baseline's",
                    f"val − train loss {figure(ev['gap'])}, {pct(ev['rel_gap'])} of val")
    return None


# overconfident before underfitting: a loss monitor that kept an early epoch leaves a train loss
# high enough to look like underfitting, and more capacity is not what that run needs
RULE_ORDER = (_diverged, _not_converged, _overconfident, _underfitting, _overfitting)


def rules(ev: dict, th: dict) -> list[dict]:
    """Every {label, reason, short} whose rule holds, in priority order; good_fit when none does."""
    hits = [h for rule in RULE_ORDER if (h := rule(ev, th)) is not None]
    if hits:
        return hits
    tvb, gvb = ev.get("train_vs_baseline"), ev.get("gap_vs_baseline")
    facts = [f"train loss {pct(tvb)} of the baseline's" if finite(tvb) else None,
             f"val − train {pct(gvb)} of it" if finite(gvb) else None]
    said = ", ".join(f for f in facts if f)
    short = f"train {pct(tvb)} of baseline, gap {pct(gvb)}" if finite(tvb) and finite(gvb) else "no rule fired"
    return [_hit("good_fit", f"no rule fired: {said or 'train loss well below the baseline'}, val close to train, "
                             "and the curves have settled", short)]


# ---------------------------------------------------------------------------------------------
# The diagnosis of one run

def diagnose_run(run, peers=None, thresholds=None) -> dict:
    """{"label", "reason", "short", "also", "evidence", "remedies": [{key, action, why, values}],
    "rules", "thresholds"}; writes nothing. `thresholds` (overrides only) are kept with it."""
    th = thresholds_from(thresholds or {})
    ev = evidence(run, peers, th)
    hits = rules(ev, th)
    top = hits[0]
    ctx = dict(ev, reason=top["reason"], n_train=run.summary.get("n_train"), n_val=run.summary.get("n_val"),
               n_test=run.summary.get("n_test"), n_params=run.summary.get("n_params"), n_inputs=_n_inputs(run))
    changed = {k: v for k, v in th.items() if v != DEFAULT_THRESHOLDS[k]}
    return {"label": top["label"], "reason": top["reason"], "short": top["short"],
            "also": list(dict.fromkeys(h["label"] for h in hits[1:] if h["label"] != top["label"])),
            "evidence": ev, "remedies": remedies(top["label"], ctx, run.config, th), "rules": RULES,
            **({"thresholds": changed} if changed else {})}


def _n_inputs(run) -> int | None:
    try:
        return int(dense_arrays(run.model())[0][0].shape[0])
    except (ResultError, IndexError):
        return None


def _where(run) -> str:
    return f" ({run.label})" if run.point and "/" not in run.name else ""  # sweep runs: name = sweep/point


def format_text(run, d: dict, verbose: bool = False, width: int = 80) -> str:
    """The diagnosis for a person. Compact: the label, its one reason and the first remedy.
    Verbose: the full reason, every number the rules read, and every remedy with its why."""
    if not verbose:
        first = d["remedies"][0]["action"] if d["remedies"] else "nothing to change"
        also = f" (also {', '.join(d['also'])})" if d.get("also") else ""
        head = f"{run.run_id} {run.name}{_where(run)}: {d['label']}{also}"
        return "\n".join([head] + _wrap(f"{d.get('short', d['reason'])}; try: {first}", width,
                                        initial_indent="  ", subsequent_indent="    "))
    ev = d["evidence"]
    lines = [f"{run.run_id} {run.name}{_where(run)}: {d['label']}"]
    lines += _wrap(f"because {d['reason']}", width, initial_indent="  ", subsequent_indent="    ")
    if d.get("also"):
        lines.append(f"  also: {', '.join(d['also'])}")
    shown = [(k, v) for k, v in ev.items() if v is not None and k not in ("status", "task")]
    lines += _wrap(" · ".join(f"{k} {figure(v) if isinstance(v, float) else v}" for k, v in shown), width,
                   initial_indent="  evidence: ", subsequent_indent="    ")
    for i, r in enumerate(d["remedies"], 1):
        lines += _wrap(f"{i}. {r['key']}: {r['action']}", width, initial_indent="  ", subsequent_indent="     ")
        lines += _wrap(f"why: {r['why']}", width, initial_indent="     ", subsequent_indent="     ")
    if not d["remedies"]:
        lines.append("  no remedy needed")
    return "\n".join(lines)


def _wrap(text: str, width: int, **kw) -> list[str]:
    """textwrap.wrap that never breaks inside a bracketed value ("[64, 64]" stays on one line)."""
    kept = re.sub(r"\[[^\]]*\]", lambda m: m.group(0).replace(" ", "\u00a0"), text)
    return [line.replace("\u00a0", " ") for line in textwrap.wrap(kept, width, break_on_hyphens=False, **kw)]


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def format_sweep(sweep, found: list[tuple], verdict_text: str, verbose: bool = False, width: int = 80) -> str:
    """A sweep's diagnosis: per run its point and label, the reason and (→) the first remedy
    wrapped beside them, then the sweep's verdict."""
    if verbose:
        body = "\n\n".join(format_text(r, d, True, width) for r, d in found)
        return f"{body}\n\n" + "\n".join(_wrap(f"sweep {sweep.name}: {verdict_text}", width, subsequent_indent="  "))
    rows = [(r.label if r.point else r.run_id, d["label"], d.get("short", d["reason"]),
             d["remedies"][0]["action"] if d["remedies"] else "nothing to change") for r, d in found]
    w_point = min(max(len("point"), *(len(p) for p, *_ in rows)), max(12, width // 3))
    w_label = max(len("label"), *(len(lab) for _, lab, *_ in rows))
    indent = " " * (w_point + w_label + 4)
    lines = [f"sweep {sweep.name}: {count(len(found), 'run')} diagnosed",
             f"{'point':<{w_point}}  {'label':<{w_label}}  why, → first remedy"]
    for p, lab, why, fix in rows:
        text = _wrap(why, width - len(indent)) + _wrap(f"→ {fix}", width - len(indent), subsequent_indent="  ")
        lines.append(f"{_cell(p, w_point):<{w_point}}  {lab:<{w_label}}  {text[0]}")
        lines += [indent + t for t in text[1:]]
    lines += _wrap(f"verdict: {verdict_text}", width, subsequent_indent="  ")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Files: summary.json, the sweep's summary.csv, a follow-up sweep spec

def record(run, d: dict) -> None:
    """Put `d` into the run's summary.json (atomic rewrite of the file as it is on disk now)."""

    summary = read_json(run.folder / "summary.json")
    if summary.get("diagnosis") == json.loads(json.dumps(d)):  # recorded already: leave the file (and
        run.summary = summary                                   # the checks cache's entry for it) alone
        return
    summary["diagnosis"] = d
    write_json(run.folder / "summary.json", summary)
    run.summary = summary


def record_sweep_csv(folder: Path, labels: dict[str, str]) -> bool:
    """Set the `diagnosis` column of <sweep>/summary.csv for the run ids in `labels` (atomic).
    The other cells are copied as they are written (text cells keep their formula guard)."""

    path = Path(folder) / "summary.csv"
    if not path.exists():
        return False
    with open(path, encoding="utf-8", newline="") as f:  # newline="": a CR inside a quoted cell stays
        rows = list(csv.DictReader(f))
    columns = list(rows[0].keys()) if rows else []
    if "diagnosis" not in columns:
        columns.append("diagnosis")
    for row in rows:
        if row.get("run_id") in labels:
            row["diagnosis"] = csv_safe(labels[row["run_id"]])
    atomic_write_text(path, csv_text(rows, columns))
    return True


def follow_up_spec(run, d: dict, n_keys: int = 3) -> dict:
    """A sweep spec over the top remedies' keys: the current value, then the suggested ones.

    `base` is the run's resolved config.yaml; a remedy that needs a changed base (more synthetic
    rows) makes it an inline mapping that `extends:` that file.
    """

    grid, patch = {}, {}
    for r in d["remedies"]:
        if not r.get("values") or r["key"] in grid:
            continue
        current = copy.deepcopy(r["current"] if "current" in r else dotted.get(run.config, r["key"]))
        values = [current] + [v for i, v in enumerate(r["values"]) if v != current and v not in r["values"][:i]]
        grid[r["key"]] = values
        patch = deep_merge(patch, r.get("base") or {})
        if len(grid) == n_keys:
            break
    return _spec(run, grid, patch)


def _spec(run, grid: dict, patch: dict | None = None) -> dict:
    name = re.sub(r"[^\w.+=,@-]+", "-", re.sub(r"[\[\]\s]", "", run.name)).strip("-.")
    name = file_name(f"{name}-followup" if name else "followup", limit=SWEEP_NAME_BYTES)  # a long run name too
    path = str((run.folder / "config.yaml").resolve())
    return {"name": name, "base": {"extends": path, **patch} if patch else path, "grid": grid}


def _between(a, b):
    """A value half-way from a to b on the scale the sweep spaced them: geometric for spread-out
    positive numbers, else arithmetic; ints stay ints; hidden lists of one width keep their depth."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and a and len(set(a)) == len(set(b)) == 1:
        w = _between(a[0], b[0])
        return None if w is None else [w] * len(a)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)) or a == b:
        return None
    lo, hi = sorted((float(a), float(b)))
    mid = math.sqrt(lo * hi) if lo > 0 and hi / lo >= 4 else (lo + hi) / 2
    if isinstance(a, int) and isinstance(b, int):
        mid = round(mid)
        return None if mid in (a, b) else mid
    return float(f"{mid:.2g}")


def refine_spec(best_run, v) -> dict | None:
    """A follow-up that refines the swept key between the best point and its neighbours, for a
    best point with nothing to remedy (good_fit); None when there is nothing between them."""
    if v.key is None or v.best is None:
        return None
    i = v.points.index(v.best)
    current = swept_value(best_run, v.key)
    values = [current]
    for j in (i - 1, i + 1):
        if 0 <= j < len(v.points):
            mid = _between(current, swept_value(v.points[j].runs[0], v.key))
            if mid is not None and mid not in values:
                values.append(mid)
    return _spec(best_run, {v.key: values}) if len(values) > 1 else None


def write_spec(path: Path, spec: dict, head: str) -> Path:
    atomic_write_text(Path(path), head + dump_yaml(spec))
    return Path(path)


def write_refine(path: Path, run, d: dict, spec: dict, sweep_name: str) -> Path:
    """Write `spec`, refine_spec's follow-up of the best run of sweep `sweep_name`, to `path`."""
    key = next(iter(spec["grid"]))
    head = (f"# Follow-up of run {run.run_id}, the best point of sweep {sweep_name} and a {d['label']}: "
            f"{key} refined around it.\n# Written by `dlexp diagnose --emit`; run it with: dlexp sweep {path}\n")
    return write_spec(path, spec, head)


def write_follow_up(path: Path, run, d: dict) -> Path:
    """Write the follow-up spec of `run` to `path` (`dlexp diagnose --emit` then loads it as `dlexp sweep` will)."""

    spec = follow_up_spec(run, d)
    if not spec["grid"]:
        raise UsageError(f"{run.run_id} is {d['label']}: no remedy to sweep, nothing written to {path}")
    return write_spec_of(path, run, d, spec)


def write_spec_of(path: Path, run, d: dict, spec: dict) -> Path:
    """Write `spec`, follow_up_spec's sweep over the remedies of `run`, to `path` with its notes."""
    notes = [f"# {r['note']}\n" for r in d["remedies"] if r.get("note") and r["key"] in spec["grid"]]
    head = (f"# Follow-up of run {run.run_id} ({d['label']}: {d['reason']}).\n" + "".join(notes)
            + f"# Written by `dlexp diagnose --emit`; run it with: dlexp sweep {path}\n")
    return write_spec(path, spec, head)
