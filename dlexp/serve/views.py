"""What each page of the dashboard shows, as JSON-able data: the runs table, a run, a sweep.

The server sends these to the page's script (static/app.js), and `dlexp report` embeds the same
payloads in its file, so the live pages and the offline report draw the same views. Every
caption is written here from the data it describes. Values are sent as data, never as markup:
the script puts them into the page as text.
"""

from __future__ import annotations

import math
from pathlib import Path

from .. import labels
from ..analysis.axis import SEED_KEYS, numeric_axis, swept_value, x_key
from ..analysis.verdict import labels_of, verdict
from ..errors import ResultError
from ..figures.style import log_scale
from ..results.reader import Run
from ..results.store import read_csv
from .index import ResultsIndex, _read_object
from .paths import results_file

# The order of the fit labels wherever they are listed or coloured (diagnose.py's labels).
FIT_LABELS = ("underfitting", "good_fit", "overfitting", "overconfident", "not_converged", "diverged")
# The figures of `dlexp plot` a run page shows (drawn on request; those that do not fit say why)
RUN_FIGURES = ("curves", "boundary", "weights", "activations")


def _columns(rows: list[dict]) -> dict[str, list]:
    """Epoch rows as {column: [value per epoch]} (the shape the charts read)."""
    cols: dict[str, list] = {}
    for row in rows:
        for k in row:
            cols.setdefault(k, [])
    for row in rows:
        for k, v in cols.items():
            v.append(_finite(row.get(k)))
    return cols


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def index_payload(index: ResultsIndex) -> dict:
    index.refresh()
    return {"results": str(index.results), "runs": index.run_rows(), "sweeps": index.sweep_rows(),
            "labels": list(FIT_LABELS)}


# ---------------------------------------------------------------------------------------------
# A run

def run_payload(index: ResultsIndex, rid: str) -> dict | None:
    """A run's summary, config, curves (one series; one per member while it trains), diagnosis
    and captions; None when there is no such run."""
    root = Path(index.results)
    summary_path = results_file(root, "runs", rid, "summary.json")
    summary = _read_object(summary_path) if summary_path is not None and summary_path.exists() else None
    if summary is not None:
        status = str(summary.get("status", "?"))
        metrics = results_file(root, "runs", rid, "metrics.csv")
        try:
            series = [{"label": "", "columns": _columns(read_csv(metrics))}] if metrics and metrics.exists() else []
        except ResultError as exc:
            series, summary = [], {**summary, "problem": str(exc)}
    else:
        progress = index.live(rid) if summary_path is not None else None
        if progress is None:
            return None
        row = next((r for r in index.run_rows() if r["run_id"] == rid), {})
        status = row.get("status", "training")
        by_member: dict[str, list] = {}
        for r in progress["rows"]:
            by_member.setdefault(str(r.get("member", "")), []).append({k: v for k, v in r.items() if k != "member"})
        series = [{"label": label if len(by_member) > 1 else "", "columns": _columns(rows)}
                  for label, rows in by_member.items()]
        summary = {"run_id": rid, "name": progress["header"].get("name", ""), "status": status,
                   "planned_epochs": progress["header"].get("epochs"), "started": progress["header"].get("started")}
    config = results_file(root, "runs", rid, "config.yaml")
    try:
        config_text = config.read_text(encoding="utf-8") if config is not None and config.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        config_text = f"# config.yaml unreadable: {exc}"
    return {"run_id": rid, "name": str(summary.get("name", "")), "status": status, "summary": summary,
            "metric": str(summary.get("metric", "acc")), "series": series, "config": config_text,
            "diagnosis": summary.get("diagnosis") if isinstance(summary.get("diagnosis"), dict) else None,
            "figures": [k for k in RUN_FIGURES if k != "activations" or "track_activations: true" in config_text],
            "caption": curves_caption(summary, status, series)}


def _fig(v) -> str:
    return labels.figure(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else "n/a"


def curves_caption(s: dict, status: str, series: list) -> str:
    """What the curves of this run show: its length, best epoch, stop, and final gap."""
    name = str(s.get("name", "")) or str(s.get("run_id", ""))
    if status in ("training", "interrupted"):
        epochs = max((len(x["columns"].get("epoch", [])) for x in series), default=0)
        what = "is training" if status == "training" else "was interrupted (its process is gone; nothing was kept)"
        return (f"{name} {what}: {labels.count(epochs, 'epoch')} so far of at most {s.get('planned_epochs')}"
                f"{' per member' if len(series) > 1 else ''}. Train dashed, validation solid; the curves grow "
                "as epochs end.")
    if status == "failed":
        return f"{name} failed: {s.get('error', 'see traceback.txt')}."
    m = s.get("metric", "acc")
    parts = [f"{name}: {labels.count(s.get('epochs_run') or 0, 'epoch')}"]
    if s.get("best_epoch"):
        parts.append(f"best validation loss {_fig(s.get('val_loss'))} at epoch {s['best_epoch']} (dotted line; its "
                     f"weights are {'kept' if s.get('restored_best') else 'marked'})")
    if s.get("stopped_early"):
        parts.append(f"early stopping ended it at epoch {s.get('stopped_epoch') or s.get('epochs_run')} (red line)")
    if status == "diverged":
        parts.append(f"it diverged at epoch {s.get('diverged_epoch')}")
    parts.append(f"final train loss {_fig(s.get('train_loss'))} vs validation {_fig(s.get('val_loss'))} "
                 f"(gap {_fig(s.get('gap'))}), val {m} {_fig(s.get(f'val_{m}'))}")
    if s.get("n_members"):
        parts.append(f"mean of {s['n_members']} {'folds' if s.get('kind') == 'cv' else 'seeds'}, shaded ±1 std")
    return "; ".join(parts) + ". Train dashed, validation solid."


# ---------------------------------------------------------------------------------------------
# A sweep

def _sweep_runs(root: Path, manifest: dict) -> tuple[list[Run], list[dict]]:
    """The finished runs of a sweep (summary and point; config.yaml read only where needed) and
    the manifest's points as rows for the page."""
    runs, points = [], []
    for entry in manifest.get("points", []) if isinstance(manifest.get("points"), list) else []:
        if not isinstance(entry, dict):
            continue
        rid, point = str(entry.get("run_id", "")), entry.get("point") if isinstance(entry.get("point"), dict) else {}
        path = results_file(root, "runs", rid, "summary.json")
        summary = _read_object(path) if path is not None and path.exists() else None
        points.append({"run_id": rid, "point": {str(k): labels.value(v) for k, v in point.items()},
                       "status": str((summary or {}).get("status", entry.get("status", "pending")))})
        if summary is not None and summary.get("status") in ("completed", "diverged"):
            runs.append(Run(path.parent, summary, point))
    return runs, points


def sweep_payload(index: ResultsIndex, name: str, only: set | None = None) -> dict | None:
    """A sweep's points, curve, parallel coordinates and captions; `only`: the run ids of a
    subset (a report's --where), the other points left out."""
    manifest = index.manifest(name)
    if manifest is None:
        return None
    if only is not None:
        manifest = {**manifest, "points": [p for p in manifest.get("points", []) or []
                                           if isinstance(p, dict) and p.get("run_id") in only]}
    root = Path(index.results)
    swept = [str(k) for k in manifest.get("swept", []) or []]
    runs, points = _sweep_runs(root, manifest)
    try:
        diagnoses = labels_of(runs)
    except ResultError:
        diagnoses = {}
    label_of = {rid: str(d.get("label")) for rid, d in diagnoses.items()}
    metric = next((r.metric for r in runs), "acc")
    figures = {r.run_id: r.summary for r in runs}
    for p in points:
        s = figures.get(p["run_id"], {})
        p["diagnosis"] = label_of.get(p["run_id"])
        for k in ("train_loss", "val_loss", f"train_{metric}", f"val_{metric}", "gap"):
            p[k], p[f"{k}_std"] = _finite(s.get(k)), _finite(s.get(f"{k}_std"))
    out = {"name": name, "swept": swept, "metric": metric, "points": points, "labels": list(FIT_LABELS),
           "curve": _curve(runs, swept, label_of, metric), "parallel": _parallel(runs, swept, label_of, metric)}
    try:
        out["verdict"] = verdict(runs, swept, diagnoses).text() if runs else ""
    except ResultError:
        out["verdict"] = ""
    out["captions"] = sweep_captions(out)
    return out


def _curve(runs: list[Run], swept: list[str], label_of: dict, metric: str) -> dict | None:
    """The validation curve (or the learning curve over data.train_size): final train and val
    figure per run against the numeric swept key, each run's diagnosis for the shading."""
    learning = "data.train_size" in swept and len(swept) == 1
    key = "data.train_size" if learning else x_key(swept, runs)
    if key is None or not runs:
        return None
    if learning:
        xs, axis = [float(r.summary.get("n_train") or 0) for r in runs], "training examples (n_train)"
    else:
        try:
            found = numeric_axis(key, runs)
        except ResultError:
            found = None
        if found is None:
            return None
        xs, axis = found
    scale = log_scale(xs)
    # the other swept keys (seeds aside) make one line each, as the figure's groups do
    others = [k for k in swept if k != key and k not in SEED_KEYS]
    group = [labels.point({k: swept_value(r, k) for k in others}) if others else "" for r in runs]
    order = sorted(range(len(runs)), key=lambda i: (group[i], xs[i]))
    pick = lambda k: [_finite(runs[i].summary.get(k)) for i in order]  # noqa: E731 (a column in x order)
    return {"kind": "learning" if learning else "validation", "key": key, "axis": axis,
            "log": scale is not None, "even": scale is not None and scale[0] == "symlog", "x": [xs[i] for i in order],
            "shown": [labels.value(swept_value(runs[i], key)) if not learning else str(int(xs[i])) for i in order],
            "run_id": [runs[i].run_id for i in order], "label": [label_of.get(runs[i].run_id) for i in order],
            "group": [group[i] for i in order],
            **{k: pick(k) for k in ("train_loss", "val_loss", "train_loss_std", "val_loss_std",
                                    f"train_{metric}", f"val_{metric}", f"train_{metric}_std", f"val_{metric}_std")}}


def _parallel(runs: list[Run], swept: list[str], label_of: dict, metric: str) -> dict | None:
    """One axis per swept key (numbers as they are, log10 where log-spaced; other values as
    categories) and per final figure; one line per run, its diagnosis its colour."""
    if not runs:
        return None
    dims = []
    for key in swept:
        values = [swept_value(r, key) for r in runs]
        numeric = numeric_axis(key, runs) if key != "model.hidden" else None
        scale = log_scale(numeric[0]) if numeric is not None else None
        if numeric is not None and scale is None:
            dims.append({"label": key, "values": numeric[0]})
        elif scale is not None and scale[0] == "log":
            dims.append({"label": f"log10 {key}", "values": [math.log10(x) for x in numeric[0]]})
        else:  # text, lists, or log-spaced values with a zero among them: one tick per value, in order
            shown = [labels.value(v) for v in values]
            order = sorted(range(len(runs)), key=lambda i: numeric[0][i]) if numeric is not None else range(len(runs))
            cats = list(dict.fromkeys(shown[i] for i in order))
            dims.append({"label": key, "values": [cats.index(s) for s in shown],
                         "tickvals": list(range(len(cats))), "ticktext": cats})
    for k in ("train_loss", "val_loss", f"val_{metric}", "gap"):
        vals = [_finite(r.summary.get(k)) for r in runs]
        if any(v is not None for v in vals):
            dims.append({"label": k, "values": vals})
    present = [lab for lab in FIT_LABELS if lab in label_of.values()] + (
        ["not diagnosed"] if any(r.run_id not in label_of for r in runs) else [])
    return {"dimensions": dims, "run_id": [r.run_id for r in runs],
            "label": [label_of.get(r.run_id, "not diagnosed") for r in runs], "labels": present}


def sweep_captions(p: dict) -> dict:
    """A caption per view of the sweep page, from what that view draws."""
    out = {}
    n = len(p["points"])
    done = sum(pt["status"] in ("completed", "diverged") for pt in p["points"])
    c = p["curve"]
    if c is not None:
        what = "Learning curve" if c["kind"] == "learning" else "Validation curve"
        shades = ", ".join(f"{labels.count(c['label'].count(lab), 'run')} {lab.replace('_', ' ')}"
                           for lab in FIT_LABELS if lab in c["label"])
        lines = len(set(c["group"]))
        shading = (f"one line per value of the other swept keys ({lines} lines), each point's diagnosis in its hover"
                   if lines > 1 else f"each point shaded by its diagnosis{' (' + shades + ')' if shades else ''}")
        out["curve"] = (f"{what} of {p['name']}: final train (dashed) and validation (solid) loss of "
                        f"{labels.count(len(c['x']), 'run')} against {c['axis']}"
                        f"{' (log-spaced)' if c['log'] else ''}; {shading}. {p['verdict'][:1].upper() + p['verdict'][1:]}"
                        f"{'.' if p['verdict'] else ''}")
    par = p["parallel"]
    if par is not None:
        keys = ", ".join(p["swept"]) or "nothing"
        out["parallel"] = (f"Parallel coordinates of {p['name']}: one line per finished run ({done} of "
                           f"{labels.count(n, 'point')}) across the swept keys ({keys}) and the final figures, "
                           f"coloured by diagnosis ({', '.join(lab.replace('_', ' ') for lab in par['labels'])}). "
                           "Drag along an axis to keep only the runs in a range.")
    return out
