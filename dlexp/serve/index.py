"""An index of a results folder that keeps itself up to date at the cost of a few stat calls.

A finished run's summary.json is read once and kept with its file's stamp (mtime, size, inode):
`refresh()` re-reads only what changed (a new run, a run trained again, a summary that `dlexp
diagnose` rewrote) and drops what went. Runs still training come from their live files
(results/live.py); a live file whose run's lock nobody holds is an interrupted run. Sweeps come
from their manifest.json, read again only when it changes.

The index reads summary.json alone, not model.npz: a run is listed by what its summary says
(a summary that does not parse lists the run as damaged); `dlexp ls` still checks every file.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .. import labels
from ..results.live import live_rid, read_live
from ..results.locks import is_held, lock_path
from ..results.summary import SPLIT_FIGURES, diagnosis_label
from .paths import inside

# The figures of summary.json a row of the runs table carries (their `_std` beside them).
ROW_FIGURES = ("epochs_run", "best_epoch", "stopped_early", *SPLIT_FIGURES, "gap", "n_params", "wall_time")


def _stamp(path: Path):
    """What changes when a file is replaced or rewritten, or None when it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read_object(path: Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_row(rid: str, summary: dict | None) -> dict:
    """A run as the runs table shows it: id, name, status, kind, metric, figures, diagnosis."""
    if summary is None:
        return {"run_id": rid, "name": "", "status": "damaged", "kind": "", "metric": "acc", "diagnosis": None}
    row = {"run_id": rid, "name": str(summary.get("name", "")), "status": str(summary.get("status", "?")),
           "kind": str(summary.get("kind", "single")), "metric": str(summary.get("metric", "acc")),
           "diagnosis": diagnosis_label(summary.get("diagnosis")), "error": summary.get("error")}
    for key in ROW_FIGURES:
        v = summary.get(key)
        row[key] = v if isinstance(v, (int, float)) else None
        std = summary.get(f"{key}_std")
        if isinstance(std, (int, float)) and not isinstance(std, bool):  # repeats and CV folds
            row[f"{key}_std"] = std
    return row


def live_row(rid: str, progress: dict, training: bool) -> dict:
    """A run that is training (or was, until killed) from its live file."""
    head, rows = progress["header"], progress["rows"]
    last = rows[-1] if rows else {}
    metric = "r2" if "val_r2" in last else "acc"
    members = head.get("members") or 1
    return {"run_id": rid, "name": str(head.get("name", "")), "status": "training" if training else "interrupted",
            "kind": "single" if members == 1 else "members", "metric": metric, "diagnosis": None,
            "epochs_run": last.get("epoch"), "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss"),
            f"train_{metric}": last.get(f"train_{metric}"), f"val_{metric}": last.get(f"val_{metric}"),
            "planned_epochs": head.get("epochs"), "member": last.get("member"), "members": members}


@dataclass
class _Cached:
    stamp: object
    value: object = None


@dataclass
class ResultsIndex:
    """Runs and sweeps of `results`, refreshed incrementally (thread-safe: one refresh at a time)."""

    results: Path
    _runs: dict = field(default_factory=dict)  # run_id -> _Cached(summary.json's stamp, row)
    _live: dict = field(default_factory=dict)  # run_id -> _Cached(live file's stamp, progress)
    _sweeps: dict = field(default_factory=dict)  # name -> _Cached(manifest's stamp, manifest)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    reads: int = 0  # summaries read so far (the tests check that a finished run is read once)

    def __repr__(self) -> str:
        return f"ResultsIndex({str(self.results)!r}, {len(self._runs)} runs, {len(self._sweeps)} sweeps)"

    def refresh(self) -> None:
        with self._lock:
            self._refresh_runs()
            self._refresh_sweeps()

    def _entries(self, folder: Path) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as it:
                return list(it)
        except OSError:
            return []

    def _refresh_runs(self) -> None:
        runs = Path(self.results) / "runs"
        seen, live = set(), set()
        for entry in self._entries(runs):
            rid = live_rid(entry.name)
            if rid is not None:
                live.add(rid)
                self._update_live(rid, Path(entry.path))
            elif not entry.name.startswith(".") and entry.is_dir() and inside(self.results, entry.path):
                seen.add(entry.name)
                self._update_run(entry.name, Path(entry.path) / "summary.json")
        for gone in set(self._runs) - seen:
            del self._runs[gone]
        for gone in set(self._live) - live:
            del self._live[gone]

    def _update_run(self, rid: str, path: Path) -> None:
        stamp = _stamp(path)
        cached = self._runs.get(rid)
        if cached is not None and cached.stamp == stamp:
            return
        if stamp is None:  # a folder without summary.json: not (yet) a run
            self._runs.pop(rid, None)
            return
        self.reads += 1
        self._runs[rid] = _Cached(stamp, run_row(rid, _read_object(path)))

    def _update_live(self, rid: str, path: Path) -> None:
        stamp = _stamp(path)
        cached = self._live.get(rid)
        if cached is None or cached.stamp != stamp:
            self._live[rid] = cached = _Cached(stamp, read_live(path))

    def _refresh_sweeps(self) -> None:
        sweeps = Path(self.results) / "sweeps"
        seen = set()
        for entry in self._entries(sweeps):
            if entry.name.startswith(".") or not entry.is_dir() or not inside(self.results, entry.path):
                continue
            seen.add(entry.name)
            path = Path(entry.path) / "manifest.json"
            stamp = _stamp(path)
            cached = self._sweeps.get(entry.name)
            if cached is None or cached.stamp != stamp:
                self._sweeps[entry.name] = _Cached(stamp, _read_object(path) or {})
        for gone in set(self._sweeps) - seen:
            del self._sweeps[gone]

    # -----------------------------------------------------------------------------------------
    # What the pages read

    def run_rows(self) -> list[dict]:
        """Every run (finished, training, interrupted), each with the sweeps it belongs to and its
        point in each (the swept values as people read them)."""
        with self._lock:
            rows = {rid: dict(c.value) for rid, c in self._runs.items()}
            for rid, c in self._live.items():
                if rid not in rows and c.value is not None:
                    rows[rid] = live_row(rid, c.value, is_held(lock_path(self.results, rid)))
            for name, c in sorted(self._sweeps.items()):
                for p in c.value.get("points", []) if isinstance(c.value.get("points"), list) else []:
                    if not isinstance(p, dict) or p.get("run_id") not in rows:
                        continue
                    point = p.get("point") if isinstance(p.get("point"), dict) else {}
                    rows[p["run_id"]].setdefault("sweeps", []).append(
                        {"sweep": name, "point": {str(k): labels.value(v) for k, v in point.items()}})
        return list(rows.values())

    def sweep_rows(self) -> list[dict]:
        with self._lock:
            status = {rid: c.value["status"] for rid, c in self._runs.items()}
            out = []
            for name, c in sorted(self._sweeps.items()):
                points = c.value.get("points") if isinstance(c.value.get("points"), list) else []
                rids = list(dict.fromkeys(p.get("run_id") for p in points if isinstance(p, dict)))
                states = [status.get(r, "pending") for r in rids]
                out.append({"name": name, "swept": [str(k) for k in c.value.get("swept", []) or []],
                            "points": len(points), "runs": len(rids),
                            "done": sum(s in ("completed", "diverged") for s in states),
                            "failed": states.count("failed"),
                            "training": sum(r in self._live and r not in self._runs for r in rids)})
        return out

    def manifest(self, name: str) -> dict | None:
        with self._lock:
            c = self._sweeps.get(name)
            return None if c is None else c.value

    def live(self, rid: str) -> dict | None:
        """The live file's progress of a run that has not been published, or None."""
        with self._lock:
            if rid in self._runs:
                return None
            c = self._live.get(rid)
            return None if c is None else c.value
