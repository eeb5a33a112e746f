"""Reading finished results: runs and sweeps, as the result contract lays them out.

Every reader (tables, plots, diagnosis, report) goes through here and never through the trainer,
so it works on any finished run folder, old or new. A damaged run is skipped with a warning on
stderr instead of crashing the reader.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from .. import labels
from ..errors import ResultError, UsageError, closest, printable
from .checks import Checks
from .store import check_run, load_result_yaml, read_csv, read_json, read_npz


def warn(message: str) -> None:
    print(f"warning: {printable(message, newlines=True)}", file=sys.stderr)


@dataclass
class Run:
    """One run folder (or one member folder of a repeated / cross-validated run)."""

    folder: Path
    summary: dict
    point: dict = field(default_factory=dict)  # swept values when the run belongs to a sweep

    @classmethod
    def load(cls, folder: Path, point: dict | None = None, checks=None) -> "Run":
        """Raise ResultError if the folder is missing, unfinished or damaged; `checks` (a
        checks.Checks of its results folder) remembers the verdict for the next reader."""
        folder = Path(folder)
        problem = checks.problem(folder) if checks is not None else check_run(folder)
        if problem:
            raise ResultError(problem)
        return cls(folder, read_json(folder / "summary.json"), dict(point or {}))

    @property
    def run_id(self) -> str:
        return self.summary.get("run_id", self.folder.name)

    @property
    def name(self) -> str:
        return self.summary.get("name", self.run_id)

    @property
    def status(self) -> str:
        return self.summary.get("status", "unknown")

    @property
    def metric(self) -> str:
        return self.summary.get("metric", "acc")

    @property
    def label(self) -> str:
        """A legend label: the swept values if any, else the run's name. Nested values are flattened
        into their own short keys: {"regularization": {"l1": 0.01, "l1_mode": "proximal"}} reads
        "l1=0.01, l1_mode=proximal" (labels.point_labels, which figures also use to leave out
        what every run of a figure shares)."""
        if self.point:
            return labels.point_labels([self.point])[0]
        return self.name

    @cached_property
    def config(self) -> dict:
        try:
            return load_result_yaml((self.folder / "config.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ResultError(f"{self.folder / 'config.yaml'}: damaged ({exc})") from None

    @cached_property
    def metrics(self) -> list[dict]:
        return read_csv(self.folder / "metrics.csv") if (self.folder / "metrics.csv").exists() else []

    @cached_property
    def activations(self) -> list[dict]:
        path = self.folder / "activations.csv"
        return read_csv(path) if path.exists() else []

    def model(self) -> dict:
        """The weights (model.npz); for repeats/CV those of the first member."""
        if (self.folder / "model.npz").exists():
            return read_npz(self.folder / "model.npz")
        labels = self.summary.get("members") or []
        if not labels:
            raise ResultError(f"{self.folder}: no model.npz")
        return self._member(labels[0]).model()  # the first member alone

    def members(self) -> list["Run"]:
        """Member runs of repeats / CV folds ([] for a single run)."""
        return [self._member(label) for label in self.summary.get("members") or []]

    def _member(self, label: str) -> "Run":
        return Run.load(self.folder / "members" / label, self.point)

    def column(self, name: str) -> list:
        return [row.get(name) for row in self.metrics]


@dataclass
class Sweep:
    """A sweep folder: its spec, manifest (point → run_id) and the runs that finished."""

    folder: Path
    manifest: dict
    runs: list[Run]

    @property
    def name(self) -> str:
        return self.manifest.get("name", self.folder.name)

    @property
    def swept(self) -> list[str]:
        """The dotted keys the sweep varies, in spec order."""
        return list(self.manifest.get("swept", []))

    @classmethod
    def load(cls, folder: Path) -> "Sweep":
        folder = Path(folder)
        manifest = read_json(folder / "manifest.json")
        points, swept = manifest.get("points", []), manifest.get("swept", [])
        if not (isinstance(points, list) and all(isinstance(e, dict) and isinstance(e.get("point", {}), dict)
                                                 for e in points) and isinstance(swept, list)):
            raise ResultError(f"{folder / 'manifest.json'}: damaged (points and swept are not lists of entries)")
        out = folder.parent.parent  # <out>/sweeps/<name> → <out>
        runs, checks = [], Checks(out / "runs")
        for entry in manifest.get("points", []):
            rid = entry.get("run_id")
            if not isinstance(rid, str) or rid in ("", ".", "..") or "/" in rid or "\\" in rid:
                warn(f"skipping {rid!r} ({labels.point(entry.get('point') or {})}): not a run id")  # never a path out of <out>/runs
                continue
            run_folder = out / "runs" / rid
            if entry.get("status") == "pending" and not (run_folder / "summary.json").exists():
                continue  # not trained yet (an interrupted sweep): nothing to show, nothing wrong
            try:
                runs.append(Run.load(run_folder, entry.get("point", {}), checks))
            except ResultError as exc:
                warn(f"skipping {rid} ({labels.point(entry.get('point') or {})}): {exc}")
        checks.save()
        return cls(folder, manifest, runs)


def resolve(target: str | Path, out: Path = Path("results")) -> "Run | Sweep":
    """A run folder, a sweep folder, a run id or a sweep name → Run or Sweep."""
    target = Path(target)
    candidates = [target, Path(out) / "runs" / str(target), Path(out) / "sweeps" / str(target)]
    for path in candidates:
        if (path / "manifest.json").exists():
            return Sweep.load(path)
        if (path / "summary.json").exists():
            return Run.load(path)
    run = _run_by_prefix(str(target), Path(out))
    if run is not None:
        return Run.load(run)
    if target.is_dir() and (target / "runs").is_dir():
        raise UsageError(f"{target} is a results folder; name a run or sweep inside it (dlexp ls --out {target})")
    raise UsageError(f"{target}: not a run folder, sweep folder, run id or sweep name (looked in {out})"
                     + _closest_target(target, Path(out)))


def _run_by_prefix(target: str, out: Path) -> Path | None:
    """The run folder whose id starts with `target` (the short ids a text table shows), if one
    does; several is an error that lists them."""
    if len(target) < 4 or not all(ch in "0123456789abcdef" for ch in target):
        return None
    runs = out / "runs"
    found = sorted(p for p in runs.glob(target + "*") if p.is_dir()) if runs.is_dir() else []
    if len(found) > 1:
        raise UsageError(f"{target}: the start of {len(found)} run ids ({', '.join(p.name for p in found[:5])}"
                         f"{', …' if len(found) > 5 else ''}); give more of it")
    return found[0] if found else None


def _closest_target(target: Path, out: Path) -> str:
    """' (did you mean …?)' among the sweeps and runs beside the target, or in `out`."""
    for folder in dict.fromkeys([target.parent, out / "sweeps", out / "runs"]):
        names = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
        # a close spelling, or the one name that contains it (`l2` for the sweep `study-l2`)
        containing = [n for n in names if target.name in n]
        match = closest(target.name, names) or (containing[0] if len(containing) == 1 else None)
        if match:
            return f" (did you mean '{folder / match if folder == target.parent else match}'?)"
    return ""


def resolve_all(targets, out: Path = Path("results")) -> list["Run | Sweep"]:
    """Each target resolved (see `resolve`); a damaged one is skipped with a warning."""
    found = []
    for t in targets:
        try:
            found.append(resolve(t, out))
        except ResultError as exc:
            warn(f"skipping {t}: {exc}")
    return found


def load_runs(targets, out: Path = Path("results")) -> list[Run]:
    """Every run named by `targets` (runs, sweeps), damaged ones skipped with a warning."""
    return [run for found in resolve_all(targets, out) for run in (found.runs if isinstance(found, Sweep) else [found])]
