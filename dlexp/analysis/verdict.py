"""A sweep's verdict: the label at each swept value, where the best point is, which side under-
and overfits, and any interpolation peak (double descent).

One source for `dlexp diagnose SWEEP` and for the validation-curve figure: the figure shades each
point with the label this module gives it, and names the peak this module finds, so the figure
never says what the diagnosis does not. Labels are the ones `dlexp diagnose` recorded in the runs'
summary.json when they were made by the current rules, else diagnosed here with the defaults.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import Problem, ResultError, StorageError, UsageError
from ..labels import figure, plural, value
from ..results.reader import Run, Sweep, resolve_all, warn
from ..results.store import json_text, write_json
from .axis import CAPACITY, SEED_KEYS, numeric_axis, swept_value, x_key
from .diagnose import (RULES, diagnose_run, follow_up_spec, peer_groups, record, record_sweep_csv, refine_spec,
                       thresholds_from)
from .remedies import finite

PEAK_NOISE = 0.2  # a rise (fall) of the val curve smaller than this share of its range is noise


def interpolation_peak(val, metric: str = "loss", log: bool = False) -> int | None:
    """Index of a clear interior peak of a validation curve sorted by x, or None.

    A peak is an interior point worse than the best point on each side of it by more than
    PEAK_NOISE of the curve's range: a curve with two valleys (double descent), not a U whose
    one rising side is noisy. log: judge the values on a log scale (losses: ratios count)."""
    val = np.asarray(val, float)
    idx = np.flatnonzero(np.isfinite(val) & ((val > 0) if log else True))
    if len(idx) < 3:
        return None
    v = np.log10(val[idx]) if log else val[idx]
    bad = v if metric == "loss" else -v  # higher is worse
    tol = PEAK_NOISE * float(bad.max() - bad.min())
    if tol <= 0:
        return None
    depth = [min(bad[p] - bad[:p].min(), bad[p] - bad[p + 1:].min()) for p in range(1, len(bad) - 1)]
    p = int(np.argmax(depth)) + 1
    return int(idx[p]) if depth[p - 1] > tol else None


def labels_of(runs: list[Run], peers: list[Run] | None = None) -> dict[str, dict]:
    """run_id → diagnosis of each diagnosable run: the recorded one when the current rules made
    it (the thresholds it was made with included), else a fresh one with the default thresholds."""
    groups = peer_groups(runs if peers is None else peers)
    out = {}
    for run in runs:
        if run.status == "failed":
            continue
        d = run.summary.get("diagnosis")
        if isinstance(d, dict) and d.get("rules") == RULES and d.get("label"):
            out[run.run_id] = d
            continue
        try:
            out[run.run_id] = diagnose_run(run, groups)
        except ResultError as exc:
            warn(f"{run.run_id}: not diagnosed ({exc})")
    return out


@dataclass
class Point:
    """One swept value: its runs (repeats, seeds), their mean val loss and the label they share."""

    x: float
    shown: str                                   # the swept value as the sweep wrote it
    runs: list[Run]
    val_loss: float
    label: str | None                            # the majority label; None when the runs disagree evenly


@dataclass
class Verdict:
    """What a sweep says as a whole; `points` are sorted by x (empty without a numeric axis)."""

    key: str | None
    points: list[Point]
    best: Point | None
    direction: int                               # +1: larger x adds capacity, −1: removes it, 0: unknown
    peak: Point | None = None

    def side(self, side: str) -> list[Point]:
        """The points left (smaller x) or right of the best one."""
        return [p for p in self.points if (p.x < self.best.x if side == "left" else p.x > self.best.x)]

    @property
    def sides(self) -> dict[str, list[str]]:
        """"left"/"right" → the labels seen on that side of the best point."""
        return {side: sorted({p.label for p in self.side(side) if p.label}) for side in ("left", "right")} \
            if self.best is not None and self.points else {}

    @property
    def peak_name(self) -> str:
        return "interpolation peak" if self.direction > 0 else "validation peak"

    def text(self) -> str:
        """The verdict in a sentence or three."""
        if self.best is None:
            return "no completed run to judge"
        name = f"{self.key}={self.best.shown}" if self.key else self.best.shown
        parts = [f"best point {name} (val loss {figure(self.best.val_loss)}, {self.best.label or 'mixed'})"]
        for side, word in (("left", "smaller"), ("right", "larger")):
            shown = self.side(side)
            found = Counter(p.label for p in shown if p.label and p.label != "good_fit")
            if found:
                what = " and ".join(f"{lab} at {', '.join(p.shown for p in shown if p.label == lab)}"
                                 for lab, _ in found.most_common())
                parts.append(f"{word} values: {what}")
        if self.peak is not None:
            parts.append(f"{self.peak_name} at {self.key}={self.peak.shown} (val loss {figure(self.peak.val_loss)}): "
                         "the val loss falls again past it (double descent), so the sides of the best point are "
                         "not simply under- and overfitting")
        return "; ".join(parts)


def _majority(labels: list[str]) -> str | None:
    if not labels:
        return None
    (top, n), *rest = Counter(labels).most_common()
    return None if rest and rest[0][1] == n else top


def verdict(runs: list[Run], swept: list[str], diagnoses: dict[str, dict] | None = None,
            key: str | None = None) -> Verdict:
    """The Verdict of a sweep's runs along `key` (default: the numeric swept key of the x axis).

    With other non-seed keys swept as well the points are not a curve: only the best run is named."""
    diagnoses = labels_of(runs) if diagnoses is None else diagnoses
    done = [r for r in runs if r.status == "completed" and r.run_id in diagnoses
            and finite(r.summary.get("val_loss"))]
    key = key if key is not None else x_key(swept, runs)
    others = [k for k in swept if k != key and k not in SEED_KEYS]
    axis = numeric_axis(key, done) if key and not others and done else None
    if axis is None:
        best = min(done, key=lambda r: r.summary["val_loss"]) if done else None
        point = None if best is None else Point(0.0, best.label, [best], best.summary["val_loss"],
                                                 diagnoses[best.run_id]["label"])
        return Verdict(None, [], point, 0)
    by_x: dict[float, list[Run]] = {}
    for run, x in zip(done, axis[0]):
        by_x.setdefault(x, []).append(run)
    points = []
    for x in sorted(by_x):
        at = by_x[x]
        labels = [diagnoses[r.run_id]["label"] for r in at]
        points.append(Point(x, value(swept_value(at[0], key)), at,
                            statistics.fmean(r.summary["val_loss"] for r in at), _majority(labels)))
    best = min(points, key=lambda p: p.val_loss)
    losses = [p.val_loss for p in points]
    p = interpolation_peak(losses, "loss", log=all(v > 0 for v in losses))
    return Verdict(key, points, best, CAPACITY.get(key, 0), points[p] if p is not None else None)


def verdict_dict(v: Verdict) -> dict:
    """The verdict as JSON: best point, labels per point, peak."""
    return {"key": v.key, "text": v.text(),
            "best": None if v.best is None else {"value": v.best.shown, "val_loss": v.best.val_loss,
                                                 "label": v.best.label},
            "points": [{"value": p.shown, "x": p.x, "val_loss": p.val_loss, "label": p.label,
                        "runs": [r.run_id for r in p.runs]} for p in v.points],
            "peak": None if v.peak is None else {"value": v.peak.shown, "val_loss": v.peak.val_loss,
                                                 "name": v.peak_name},
            "sides": v.sides}


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


def diagnose_targets(targets, out: Path = Path("results"), thresholds=(), *, save: bool = True) -> list[tuple]:
    """(sweep or None, [(run, diagnosis)], verdict or None) per target; with `save`, the labels are
    recorded in summary.json, the sweep's summary.csv and its diagnosis.json (the verdict)."""
    th = thresholds_from(thresholds)
    groups = []
    for f in resolve_all(targets, out):
        runs = f.runs if isinstance(f, Sweep) else [f]
        sweep = f if isinstance(f, Sweep) else sweep_of(f, out)  # its runs are the peers
        peers = peer_groups(sweep.runs if sweep else [])
        found = []
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
            found.append((run, d))
        v = None
        if isinstance(f, Sweep) and found:
            v = verdict([r for r, _ in found], f.swept, {r.run_id: d for r, d in found})
        if save and sweep is not None:
            _saving(record_sweep_csv, sweep.folder, {r.run_id: d["label"] for r, d in found})
            if v is not None:
                _saving(write_json, sweep.folder / "diagnosis.json", {"rules": RULES, **verdict_dict(v)})
        if found:
            groups.append((f if isinstance(f, Sweep) else None, found, v))
    if not groups:
        raise UsageError("nothing to diagnose: " + ", ".join(map(str, targets))
                         + f" {plural(len(targets), 'holds', 'hold')} no finished run")
    return groups


def diagnose(targets, out: Path = Path("results"), thresholds=(), *, save: bool = True) -> list[tuple]:
    """(run, diagnosis) for every run named by `targets`; with `save`, record them in the files."""
    return [rd for _, found, _ in diagnose_targets(targets, out, thresholds, save=save) for rd in found]


def pick_for_emit(results: list[tuple]) -> tuple | None:
    """The run to follow up: the best point (lowest val loss) of the diagnosed runs."""
    cands = [(r, d) for r, d in results if finite(r.summary.get("val_loss"))]
    return min(cands, key=lambda rd: rd[0].summary["val_loss"]) if cands else None


@dataclass
class NextStudy:
    """The follow-up of a diagnosis: a sweep spec over the best run's top remedies, or, for a
    best run with nothing to remedy, over its swept key refined around it."""

    run: Run
    diagnosis: dict
    spec: dict
    what: str  # "its top remedies (overfitting)", "model.hidden refined around it (good_fit)"
    refined: bool


def next_study(found: list[tuple], v: "Verdict | None") -> "NextStudy | str":
    """The NextStudy of the diagnosed runs `found` (with their sweep's verdict `v`), or why there
    is none (a sentence)."""
    chosen = pick_for_emit(found)
    if chosen is None:
        return "no diagnosed run has a val loss"
    run, d = chosen
    if d["remedies"]:
        spec = follow_up_spec(run, d)
        if spec["grid"]:
            return NextStudy(run, d, spec, f"its top remedies ({d['label']})", False)
        return f"the best run {run.run_id} is a {d['label']} whose remedies name no values to sweep"
    spec = refine_spec(run, v) if v is not None else None
    if spec is None:
        return (f"the best run {run.run_id} is a {d['label']} with nothing to remedy, and no swept value to refine "
                "around it")
    return NextStudy(run, d, spec, f"{next(iter(spec['grid']))} refined around it ({d['label']})", True)


def json_report(groups: list[tuple]) -> str:
    """Every diagnosed run as a JSON list; the runs of a sweep carry its name and verdict."""
    out = []
    for sweep, found, v in groups:
        extra = {"sweep": {"name": sweep.name, "verdict": verdict_dict(v)}} if sweep is not None and v else {}
        out += [{"run_id": r.run_id, "name": r.name, "folder": str(r.folder), "point": r.point, "diagnosis": d,
                 **extra} for r, d in found]
    return json_text(out).rstrip("\n")
