"""Fit diagnosis: label a finished run and rank the remedies of the notes (§1) for it.

Reads result files only (summary.json, metrics.csv, config.yaml), never the trainer; remedies.py
ranks what to try next. The label is the first rule that holds, in this order; the later ones
that hold too are listed in `also`:

    diverged       status "diverged", a non-finite loss, or train loss ≥ diverge_ratio × baseline
                   and no lower than after the first epoch
    not_converged  no early stop, and over the last `window` of the epochs (≥ min_window epochs)
                   the least-squares trend of both train and val loss is a fall ≥ converge_drop
    underfitting   train loss ≥ underfit_baseline × baseline, or (in a sweep) train loss ≥
                   underfit_peer × the best val loss of the comparable runs of the same sweep
    overfitting    val loss ended ≥ overfit_rise above its minimum while train loss ended below
                   its value at that epoch (weights not restored), or the relative gap
                   (val − train) / val ≥ overfit_gap
    good_fit       none of the above

The baseline is the loss of a model that ignores its input: for classification the constant
predictor of the training-label frequencies (cross-entropy H(p), accuracy max p, from the run's
data rebuilt from its config; uniform over the classes if the data cannot be rebuilt), for
regression the mean predictor (loss train_loss / (1 − train R²), 1.0 on standardized targets;
R² = 0). Runs of a sweep are comparable ("peers") when their data sections agree except for
train_size and poly_degree. Every threshold is in DEFAULT_THRESHOLDS and can be overridden.
"""

from __future__ import annotations

import copy
import csv
import functools
import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np

from .. import dotted
from ..config.schema import DataConfig
from ..config.yamlfile import deep_merge, dump_yaml
from ..data.datasets import load_dataset
from ..errors import Problem, ResultError, StorageError, UsageError, did_you_mean
from ..labels import figure, pct
from ..nn.model import dense_arrays
from ..results.reader import Sweep, resolve_all, warn
from ..results.store import (SWEEP_NAME_BYTES, atomic_write_text, csv_safe, csv_text, file_name, json_text, read_json,
                             write_json)
from .remedies import finite, remedies

LABELS = ("diverged", "not_converged", "underfitting", "overfitting", "good_fit")
DEFAULT_THRESHOLDS = {
    "diverge_ratio": 3.0,      # train loss ≥ 3 × baseline: the training blew up
    "window": 0.1,             # trend window, as a fraction of the epochs run …
    "min_window": 5,           # … but at least this many epochs
    "converge_drop": 0.02,     # train and val loss both still falling ≥ 2 % over the window
    "underfit_baseline": 0.5,  # train loss ≥ 50 % of the baseline's (regression: train R² ≤ 0.5)
    "underfit_peer": 1.3,      # train loss ≥ 1.3 × the best val loss in the same sweep
    "overfit_rise": 0.1,       # val loss ended ≥ 10 % above its minimum
    "overfit_gap": 0.35,       # (val − train) / val ≥ 0.35
}
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
    return out


# ---------------------------------------------------------------------------------------------
# Evidence

def trend(values: list) -> float | None:
    """Relative change over `values` along their least-squares line: slope·(k−1) / |mean|."""
    ys = [float(v) for v in values if finite(v)]
    k = len(ys)
    if k < 3:
        return None
    xm, ym = (k - 1) / 2, sum(ys) / k
    slope = sum((i - xm) * (y - ym) for i, y in enumerate(ys)) / sum((i - xm) ** 2 for i in range(k))
    return slope * (k - 1) / abs(ym) if ym else None


@functools.lru_cache(maxsize=32)
def _class_prior(data_json: str) -> tuple[float, ...]:
    """Training-label frequencies of the data section `data_json` (rebuilt from the config)."""


    ds = load_dataset(DataConfig.model_validate(json.loads(data_json)))  # file paths: absolute, resolved
    counts = np.bincount(ds.y_train, minlength=ds.n_classes)
    return tuple(float(c) for c in counts / counts.sum())


def baseline(run) -> dict:
    """The input-blind predictor's train loss and metric, and what it is."""
    s = run.summary
    if s.get("task") == "regression":
        r2, loss = s.get("train_r2"), s.get("train_loss")
        if finite(r2) and finite(loss) and r2 < 1:
            return {"baseline": "mean predictor", "baseline_loss": loss / (1 - r2), "baseline_r2": 0.0}
        return {"baseline": "mean predictor", "baseline_loss": 1.0, "baseline_r2": 0.0}
    try:
        p = _class_prior(json.dumps(run.config.get("data", {}), sort_keys=True))
        what = "class-prior predictor"
    except Exception:  # data not rebuildable (moved CSV, old config): fall back to K from the weights
        try:
            k = int(dense_arrays(run.model())[-1][0].shape[1])  # outputs of the last Dense: one per class
        except (ResultError, IndexError):
            return {}
        p, what = (1.0 / k,) * k, f"uniform over {k} classes"
    return {"baseline": what, "baseline_loss": -sum(q * math.log(q) for q in p if q > 0), "baseline_acc": max(p)}


def _comparable(run, other) -> bool:
    a, b = dict(run.config.get("data", {})), dict(other.config.get("data", {}))
    for k in PEER_FREE_KEYS:
        a.pop(k, None), b.pop(k, None)
    return a == b and run.summary.get("task") == other.summary.get("task")


def evidence(run, peers=None, th: dict = DEFAULT_THRESHOLDS) -> dict:
    """The numbers the rules look at (None where a figure is missing)."""
    s, m = run.summary, run.metric
    cfg = run.config
    ev = {"status": s.get("status"), "task": s.get("task")}
    ev.update(baseline(run))
    for key in ("train_loss", "val_loss", f"train_{m}", f"val_{m}"):
        ev[key] = s.get(key)
    tr, va, base = s.get("train_loss"), s.get("val_loss"), ev.get("baseline_loss")
    ev["train_vs_baseline"] = tr / base if finite(tr) and finite(base) and base > 0 else None
    first = run.metrics[0].get("train_loss") if run.metrics else None
    ev["train_vs_first_epoch"] = tr / first if finite(tr) and finite(first) and first > 0 else None
    ev["gap"] = va - tr if finite(tr) and finite(va) else None
    ev["rel_gap"] = ev["gap"] / va if ev["gap"] is not None and va > 0 else None
    vals = [r.get("val_loss") for r in run.metrics]
    valid = [(v, i + 1) for i, v in enumerate(vals) if finite(v)]
    if valid:
        vmin, emin = min(valid)
        ev.update(min_val_loss=vmin, min_val_epoch=emin, last_val_loss=valid[-1][0],
                  val_rise=(valid[-1][0] - vmin) / vmin if vmin > 0 else None)
        t_min, t_last = run.metrics[emin - 1].get("train_loss"), run.metrics[valid[-1][1] - 1].get("train_loss")
        ev["train_change_after_min"] = (t_last - t_min) / t_min if finite(t_min) and finite(t_last) and t_min else None
    ev["epochs_run"], ev["epochs"] = len(run.metrics), dotted.get(cfg, "train.epochs")
    es = dotted.get(cfg, "train.early_stopping")
    # repeats/CV summaries do not carry restored_best: early stopping restores when the run completed
    restored = s.get("restored_best", bool(es and es.get("restore_best")) and s.get("status") == "completed")
    ev["stopped_early"], ev["restored_best"] = bool(s.get("stopped_early")), bool(restored)
    k = min(len(run.metrics), max(int(th["min_window"]), round(th["window"] * len(run.metrics))))
    ev["window"] = k
    ev["train_trend"] = trend([r.get("train_loss") for r in run.metrics[-k:]]) if k else None
    ev["val_trend"] = trend(vals[-k:]) if k else None
    others = [p for p in (peers or []) if p.status == "completed" and finite(p.summary.get("val_loss"))
              and _comparable(run, p)]
    if len(others) > 1:
        best = min(others, key=lambda p: p.summary["val_loss"])
        ev.update(n_peers=len(others), best_peer_run=best.run_id, best_peer_val_loss=best.summary["val_loss"],
                  train_vs_best_peer=tr / best.summary["val_loss"] if finite(tr) and best.summary["val_loss"] > 0
                  else None)
    return ev


# ---------------------------------------------------------------------------------------------
# Rules

def rules(ev: dict, th: dict) -> list[tuple[str, str]]:
    """Every (label, reason) whose rule holds, in priority order; good_fit when none does."""
    hits = []
    tr, base = ev.get("train_loss"), ev.get("baseline_loss")
    if ev.get("status") == "diverged" or not finite(tr):
        hits.append(("diverged", f"status {ev.get('status')}, train loss {figure(tr)}, val loss {figure(ev.get('val_loss'))}"))
    elif finite(ev.get("train_vs_baseline")) and ev["train_vs_baseline"] >= th["diverge_ratio"] \
            and not (finite(ev.get("train_vs_first_epoch")) and ev["train_vs_first_epoch"] < 1):
        # far above the baseline and no lower than after epoch 1: training made it worse
        # (a loss that fell to a level that bad is a model that cannot fit: underfitting)
        hits.append(("diverged", f"train loss {figure(tr)} is {ev['train_vs_baseline']:.3g}× the baseline's {figure(base)} "
                                 f"(≥ {th['diverge_ratio']:g}×) and no lower than after epoch 1"))
    tt, vt = ev.get("train_trend"), ev.get("val_trend")
    if not ev.get("stopped_early") and finite(tt) and finite(vt) and max(tt, vt) <= -th["converge_drop"]:
        hits.append(("not_converged", f"over the last {ev['window']} epochs train loss still fell {pct(-tt)} and "
                                      f"val loss {pct(-vt)} (≥ {pct(th['converge_drop'])})"))
    if finite(ev.get("train_vs_baseline")) and ev["train_vs_baseline"] >= th["underfit_baseline"]:
        hits.append(("underfitting", f"train loss {figure(tr)} is {pct(ev['train_vs_baseline'])} of the "
                                     f"{ev['baseline']}'s {figure(base)} (≥ {pct(th['underfit_baseline'])})"))
    elif finite(ev.get("train_vs_best_peer")) and ev["train_vs_best_peer"] >= th["underfit_peer"]:
        hits.append(("underfitting", f"train loss {figure(tr)} is {ev['train_vs_best_peer']:.3g}× the best val loss "
                                     f"{figure(ev['best_peer_val_loss'])} in the sweep (≥ {th['underfit_peer']:g}×)"))
    rise = ev.get("val_rise")
    # overfitting is val going up while train keeps going down (a penalty can push both up)
    fell = finite(ev.get("train_change_after_min")) and ev["train_change_after_min"] < 0
    if finite(rise) and rise >= th["overfit_rise"] and fell and not ev.get("restored_best"):
        hits.append(("overfitting", f"val loss rose {pct(rise)} after its minimum {figure(ev['min_val_loss'])} at "
                                    f"epoch {ev['min_val_epoch']} (≥ {pct(th['overfit_rise'])}) while train loss "
                                    f"fell {pct(-ev['train_change_after_min'])}"))
    elif finite(ev.get("rel_gap")) and ev["rel_gap"] >= th["overfit_gap"]:
        hits.append(("overfitting", f"val − train = {figure(ev['gap'])} is {pct(ev['rel_gap'])} of the val loss "
                                    f"(≥ {pct(th['overfit_gap'])})"))
    return hits or [("good_fit", "no rule fired: train loss well below the baseline, val close to train, "
                                 "and the curves have settled")]


# ---------------------------------------------------------------------------------------------
# The diagnosis of one run

def diagnose_run(run, peers=None, thresholds=None) -> dict:
    """{"label", "reason", "also", "evidence", "remedies": [{key, action, why, values}]}; writes nothing."""
    th = thresholds_from(thresholds or {})
    ev = evidence(run, peers, th)
    hits = rules(ev, th)
    label, reason = hits[0]
    ctx = dict(ev, reason=reason, n_train=run.summary.get("n_train"), n_val=run.summary.get("n_val"),
               n_test=run.summary.get("n_test"), n_params=run.summary.get("n_params"), n_inputs=_n_inputs(run))
    return {"label": label, "reason": reason, "also": [lab for lab, _ in hits[1:] if lab != label],
            "evidence": ev, "remedies": remedies(label, ctx, run.config, th)}


def _n_inputs(run) -> int | None:
    try:
        return int(dense_arrays(run.model())[0][0].shape[0])
    except (ResultError, IndexError):
        return None


def format_text(run, d: dict) -> str:
    """A block a person reads: label and reason, the evidence, the ranked remedies."""
    ev = d["evidence"]
    where = f" ({run.label})" if run.point and "/" not in run.name else ""  # sweep runs: name = sweep/point
    lines = [f"{run.run_id} {run.name}{where}: {d['label']}", f"  because {d['reason']}"]
    if d.get("also"):
        lines.append(f"  also: {', '.join(d['also'])}")
    shown = [(k, v) for k, v in ev.items() if v is not None and k not in ("status", "task")]
    lines += textwrap.wrap(" · ".join(f"{k} {figure(v) if isinstance(v, float) else v}" for k, v in shown), 100,
                           initial_indent="  evidence: ", subsequent_indent="    ", break_on_hyphens=False)
    for i, r in enumerate(d["remedies"], 1):
        lines.append(f"  {i}. {r['key']}: {r['action']}\n     why: {r['why']}")
    if not d["remedies"]:
        lines.append("  no remedy needed")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Files: summary.json, the sweep's summary.csv, a follow-up sweep spec

def record(run, d: dict) -> None:
    """Put `d` into the run's summary.json (atomic rewrite of the file as it is on disk now)."""

    summary = read_json(run.folder / "summary.json")
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
        current = dotted.get(run.config, r["key"])
        values = [copy.deepcopy(current)]
        values += [v for i, v in enumerate(r["values"]) if v != current and v not in r["values"][:i]]
        grid[r["key"]] = values
        patch = deep_merge(patch, r.get("base") or {})
        if len(grid) == n_keys:
            break

    name = re.sub(r"[^\w.+=,@-]+", "-", re.sub(r"[\[\]\s]", "", run.name)).strip("-.")
    name = file_name(f"{name}-followup" if name else "followup", limit=SWEEP_NAME_BYTES)  # a long run name too
    path = str((run.folder / "config.yaml").resolve())
    return {"name": name, "base": {"extends": path, **patch} if patch else path, "grid": grid}


def write_follow_up(path: Path, run, d: dict) -> Path:
    """Write the follow-up spec of `run` to `path` (`dlexp diagnose --emit` then loads it as `dlexp sweep` will)."""

    spec = follow_up_spec(run, d)
    if not spec["grid"]:
        raise UsageError(f"{run.run_id} is {d['label']}: no remedy to sweep, nothing written to {path}")
    head = (f"# Follow-up of run {run.run_id} ({d['label']}: {d['reason']}).\n"
            f"# Written by `dlexp diagnose --emit`; run it with: dlexp sweep {path}\n")
    atomic_write_text(Path(path), head + dump_yaml(spec))
    return Path(path)


# ---------------------------------------------------------------------------------------------
# dlexp diagnose

def sweep_of(run, out: Path):
    """The first sweep (by name) under `out` that holds `run`, or None."""

    for manifest in sorted((Path(out) / "sweeps").glob("*/manifest.json")):
        try:
            ids = [p.get("run_id") for p in json.loads(manifest.read_text(encoding="utf-8")).get("points", [])]
        except (OSError, ValueError):
            continue
        if run.run_id in ids:
            return Sweep.load(manifest.parent)
    return None


def _saving(write, *args) -> None:
    """`write(*args)`; a results folder that refuses it is told how to diagnose without saving."""
    try:
        write(*args)
    except StorageError as exc:
        raise StorageError(exc.problems + [Problem("--no-save diagnoses without recording the labels")]) from exc


def diagnose(targets, out: Path = Path("results"), thresholds=(), *, save: bool = True) -> list[tuple]:
    """(run, diagnosis) for every run named by `targets`; with `save`, record them in the files."""

    th = thresholds_from(thresholds)
    results = []
    for f in resolve_all(targets, out):
        runs = f.runs if isinstance(f, Sweep) else [f]
        sweep = f if isinstance(f, Sweep) else sweep_of(f, out)  # its runs are the peers
        peers = sweep.runs if sweep else []
        labels = {}
        for run in runs:
            if run.status == "failed":
                warn(f"skipping {run.run_id}: the run failed ({run.summary.get('error', 'see traceback.txt')})")
                continue
            try:
                d = diagnose_run(run, peers, th)
            except ResultError as exc:
                warn(f"skipping {run.run_id}: {exc}")
                continue
            if save:
                _saving(record, run, d)
            labels[run.run_id] = d["label"]
            results.append((run, d))
        if save and sweep is not None:
            _saving(record_sweep_csv, sweep.folder, labels)
    if not results:
        raise UsageError("nothing to diagnose: " + ", ".join(map(str, targets)) + " hold no finished run")
    return results


def pick_for_emit(results: list[tuple]) -> tuple | None:
    """The run to follow up: lowest val loss among those with remedies."""
    cands = [(r, d) for r, d in results if d["remedies"]]
    return min(cands, key=lambda rd: rd[0].summary.get("val_loss") if finite(rd[0].summary.get("val_loss"))
               else math.inf) if cands else None


def json_report(results: list[tuple]) -> str:
    return json_text([{"run_id": r.run_id, "name": r.name, "folder": str(r.folder), "point": r.point,
                       "diagnosis": d} for r, d in results]).rstrip("\n")
