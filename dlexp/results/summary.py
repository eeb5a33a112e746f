"""The keys of summary.json, and the table row each summary makes.

One list of the figures a run reports (per split, per task), read by the store's check of a
summary, by the averaging over repeats and folds, by a sweep's summary.csv and by `dlexp table`.
"""

from __future__ import annotations

import json

from .. import dotted

SPLITS = ("train", "val", "test")
METRICS = ("acc", "r2")  # classification accuracy, regression R²
# the loss and both metrics of every split, at the weights in model.npz
SPLIT_FIGURES = tuple(f"{split}_{what}" for what in ("loss", *METRICS) for split in SPLITS)
# repeats and CV: the members' averaged predictions scored as one model (training/ensemble.py), on
# the splits every member predicted (val and test; CV folds: test only)
ENSEMBLE_FIGURES = tuple(f"ensemble_{split}_{what}" for what in ("loss", *METRICS) for split in ("val", "test"))
# figures averaged over the members of repeats and CV, each with a `<key>_std` partner
AVERAGED = (*SPLIT_FIGURES, "gap", "metric_gap", "penalty", "best_epoch", "epochs_run", "epoch_time")
# figures that readers do arithmetic on: a number or null, nothing else
NUMBERS = ("epochs_run", "best_epoch", *SPLIT_FIGURES, "gap", "metric_gap", "penalty", "n_params",
           "n_train", "n_val", "n_test", "wall_time", "epoch_time", *ENSEMBLE_FIGURES)
# the columns of a table row, in order; a `<name>_std` column follows each one that has it
FIGURES = ("epochs_run", "best_epoch", "stopped_early", *SPLIT_FIGURES, "gap", "metric_gap",
           "n_params", "wall_time", "weights.near_zero_fraction", *ENSEMBLE_FIGURES)


def diagnosis_label(d) -> str | None:
    """The one-word verdict of a summary's `diagnosis` (a string, or a mapping with a label)."""
    if d is None or isinstance(d, str):
        return d
    if isinstance(d, dict):
        for key in ("label", "verdict", "diagnosis", "kind"):
            if isinstance(d.get(key), str):
                return d[key]
    return json.dumps(d)


def summary_row(summary: dict | None, point: dict | None = None, run_id: str = "", status: str | None = None,
                name: str | None = None) -> dict:
    """One table row: [name,] swept values, run_id, status, figures (+ _std), [error], [diagnosis]."""
    s = summary or {}
    row: dict = {} if name is None else {"name": name}
    row.update(point or {})
    row["run_id"] = run_id or s.get("run_id", "")
    row["status"] = status or s.get("status", "pending")
    for key in FIGURES:
        row[key] = dotted.get(s, key)
        std = dotted.get(s, key + "_std")
        if std is not None:
            row[key + "_std"] = std
    if s.get("n_members") is not None:
        row["n_members"] = s["n_members"]
    if s.get("error"):
        row["error"] = s["error"]
    if "diagnosis" in s:
        row["diagnosis"] = diagnosis_label(s["diagnosis"])
    return row


def columns_of(rows: list[dict], lead: list[str]) -> list[str]:
    """`lead` columns, then run_id and status, then every figure some row has, in FIGURES order."""
    cols = list(lead) + ["run_id", "status"]
    for key in FIGURES + ("n_members",):
        if any(r.get(key) is not None for r in rows):
            cols.append(key)
        if any(r.get(key + "_std") is not None for r in rows):
            cols.append(key + "_std")
    cols += [c for c in ("error", "diagnosis") if any(c in r for r in rows)]
    return cols


def cell_text(v) -> str:
    """A cell as CSV text: lists and mappings as JSON ([8, 8]), floats in full, booleans as true/false."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    if isinstance(v, float):
        return repr(v)
    return str(v)
