"""`dlexp plot`: which figure fits a target, which swept value goes on the x axis, where it is saved.

Defaults: a run → training curves; a sweep over `data.train_size` → learning curve; a sweep over
a numeric key → validation curve; any other sweep, or several targets → comparison. A kind that
does not fit the target is a UsageError (exit 2) that says what would fit. The drawing itself is
in curves.py, sweeps.py and model.py; every figure function returns a matplotlib
Figure, and `save_figure` writes it.
"""

from __future__ import annotations

import dataclasses
import io
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem, ResultError, StorageError, UsageError
from ..results.reader import Run, Sweep, resolve, warn
from ..results.store import atomic_write_bytes, file_name
from . import curves
from . import model as model_figures
from . import sweeps as sweep_figures
from .. import dotted
from ..labels import point_labels
from .style import METRIC_NAMES

KINDS = ("curves", "compare", "validation", "learning", "boundary", "weights", "activations")
METRICS = ("loss", "acc", "r2")
FORMATS = ("png", "svg", "pdf")
DPI = 150
MAX_PANELS = {"boundary": 12, "activations": 6}  # runs per figure that stay readable
SEED_KEYS = ("seed", "seeds", "repeats", "data.seed")  # swept for error bars, never an x axis
REG_KEYS = ("regularization.l1", "regularization.l2", "optimizer.weight_decay")
# +1: a larger value adds capacity (the underfitting side is on the left); −1: it removes capacity.
CAPACITY = {"model.hidden": 1, "data.poly_degree": 1, "train.epochs": 1, "regularization.l1": -1,
            "regularization.l2": -1, "model.dropout": -1, "model.dropout.rate": -1, "optimizer.weight_decay": -1}
AXIS_NAMES = {"regularization.l1": "L1 strength λ", "regularization.l2": "L2 strength λ",
              "model.dropout": "dropout rate", "model.dropout.rate": "dropout rate",
              "optimizer.lr": "learning rate", "optimizer.weight_decay": "weight decay",
              "train.epochs": "epochs", "train.batch_size": "batch size",
              "data.poly_degree": "polynomial degree", "data.noise": "data noise",
              "data.label_noise": "label noise (fraction of train labels)", "data.n_samples": "samples"}


@dataclass
class Target:
    """What the plot command was pointed at: one run, one sweep, or several of either."""

    name: str  # the run's or sweep's name; "" for several targets
    folder: Path  # default output folder
    runs: list[Run]
    swept: list[str]
    is_sweep: bool = False
    slug: str = ""  # several targets: what default file names carry

    def title(self, text: str) -> str:
        return f"{self.name}: {text}" if self.name else text[:1].upper() + text[1:]


# ---------------------------------------------------------------------------------------------
# Targets

def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "plot"


def differing_keys(runs: list[Run]) -> list[str]:
    """Dotted config keys whose values differ between the runs (the name aside)."""
    flat = []
    for run in runs:
        try:
            flat.append(dotted.flatten(run.config))
        except ResultError as exc:
            warn(f"{run.run_id}: {exc}")
    keys = sorted({k for f in flat for k in f} - {"name"})
    diff = [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]
    if "optimizer.name" in diff:  # each optimizer fills its own defaults: those differ as a matter of course
        diff = [k for k in diff if not k.startswith("optimizer.") or k in ("optimizer.name", "optimizer.lr")]
    return diff


def load_target(targets, results: Path = Path("results")) -> Target:
    """Resolve run folders, run ids, sweep folders or sweep names; damaged ones are skipped with a
    warning when there are others to plot."""
    targets = [str(t) for t in targets]
    if not targets:
        raise UsageError("name at least one run or sweep to plot (a folder, a run id or a sweep name)")
    found = []
    for t in targets:
        try:
            found.append(resolve(t, results))
        except ResultError as exc:
            if len(targets) == 1:
                raise
            warn(f"skipping {t}: {exc}")
    if len(found) == 1:
        f = found[0]
        if isinstance(f, Sweep):
            if not f.runs:
                raise UsageError(f"sweep {f.name}: no finished run to plot yet ({f.folder})")
            return Target(f.name, f.folder, f.runs, f.swept, True)
        return Target(f.name, f.folder, [f], [])
    if not found:
        raise UsageError("nothing to plot: every target was skipped")
    runs = [r for f in found for r in (f.runs if isinstance(f, Sweep) else [f])]
    names = [f.name if isinstance(f, Sweep) else f.run_id for f in found]
    swept = differing_keys(runs)
    # label the runs by what differs between them when their names do not tell them apart, or are
    # sweep points' names ("study-x/norm=none, lr=0.5": the sweep's name is in every one)
    if len({r.label for r in runs}) < len(runs) or all("/" in r.name and not r.point for r in runs):
        runs = [dataclasses.replace(r, point={k: dotted.get(r.config, k) for k in swept[:3]}) for r in runs]
    slug = "+".join(_slug(n) for n in names[:3]) + (f"+{len(names) - 3}-more" if len(names) > 3 else "")
    return Target("", Path(results) / "plots", runs, swept, slug=slug)


# ---------------------------------------------------------------------------------------------
# The x axis of a sweep

def swept_value(run: Run, key: str):
    return run.point[key] if key in run.point else dotted.get(run.config, key)


def _hidden_axis(values) -> tuple[list[float], str] | None:
    """Width when every list is one repeated width, depth when only the length varies, else total."""
    if not all(isinstance(v, list) for v in values):
        return None
    if len({len(v) for v in values}) == 1 and all(len(set(v)) <= 1 for v in values):
        return [float(v[0]) if v else 0.0 for v in values], "hidden width (units per layer)"
    if len({w for v in values for w in v}) <= 1:
        return [float(len(v)) for v in values], "depth (hidden layers)"
    return [float(sum(v)) for v in values], "hidden units (total)"


def _rate(v):
    if isinstance(v, dict):
        v = v.get("rate")
    if isinstance(v, list):
        return statistics.fmean(v) if v else 0.0
    return v


def numeric_axis(key: str, runs: list[Run]) -> tuple[list[float], str] | None:
    """(x per run, axis label) when `key` has a number for every run, else None."""
    values = [swept_value(r, key) for r in runs]
    if key == "model.hidden":
        return _hidden_axis(values)
    if key in ("model.dropout", "model.dropout.rate"):
        values = [_rate(v) for v in values]
    if key == "train.batch_size":  # "full" = the whole training set
        values = [r.summary.get("n_train") if v == "full" else v for r, v in zip(runs, values)]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    name = AXIS_NAMES.get(key)
    return [float(v) for v in values], (f"{name} ({key})" if name else key)


def x_key(target: Target) -> str | None:
    """The numeric swept key with the most distinct values (seeds and train_size aside)."""
    best, most = None, 1
    for key in target.swept:
        if key in SEED_KEYS or key == "data.train_size":
            continue
        axis = numeric_axis(key, target.runs)
        if axis and len(set(axis[0])) > most:
            best, most = key, len(set(axis[0]))
    return best


def _groups(target: Target, exclude: str) -> list[str]:
    """A legend label per run from the swept keys other than the x axis (and seeds)."""
    keys = [k for k in target.swept if k != exclude and k not in SEED_KEYS]
    return point_labels([{k: swept_value(r, k) for k in keys} for r in target.runs])


def default_kind(target: Target) -> str:
    if not target.is_sweep:
        return "curves" if len(target.runs) == 1 else "compare"
    if "data.train_size" in target.swept:
        return "learning"
    return "validation" if x_key(target) else "compare"


# ---------------------------------------------------------------------------------------------
# Figures and files

def _check_metric(metric: str, runs: list[Run]) -> None:
    if metric != "loss" and all(r.metric != metric for r in runs):
        raise UsageError(f"--metric {metric} does not fit: these runs report {runs[0].metric} "
                         f"(valid: loss, {runs[0].metric})")


def make_figure(target: Target, kind: str | None = None, metric: str | None = None):
    """The matplotlib Figure of `kind` (default: the one that fits the target) for `target`."""
    kind = kind or default_kind(target)
    metric = metric or "loss"
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    runs, name = target.runs, target.name
    _check_metric(metric, runs)
    what = METRIC_NAMES[metric]
    if kind == "curves":
        if len(runs) != 1:
            raise UsageError(f"curves draws one run; {name or 'the targets'} hold {len(runs)}: use --kind compare, "
                             "or name one run")
        return curves.curves_figure(runs[0])
    if kind == "compare":
        return curves.compare_figure(runs, metric, title=target.title(f"train and validation {what}"))
    if kind == "validation":
        key = x_key(target)
        if key is None:
            swept = ", ".join(target.swept) or "nothing"
            raise UsageError(f"a validation curve needs a sweep over a numeric key (width, depth, l2, dropout, …); "
                             f"{name or 'the targets'} vary {swept}: use --kind compare")
        xs, label = numeric_axis(key, runs)
        return sweep_figures.sweep_figure(runs, xs, label, metric, groups=_groups(target, key),
                                    direction=CAPACITY.get(key, 0),
                                    title=target.title(f"validation curve (final {what} vs {label.split(' (')[0]})"))
    if kind == "learning":
        xs = [r.summary.get("n_train") for r in runs]
        if len({x for x in xs if x is not None}) < 2:
            sizes = sorted({x for x in xs if x is not None})
            raise UsageError(f"a learning curve needs runs with different training-set sizes (a sweep over "
                             f"data.train_size); every run of {name or 'the targets'} has n_train "
                             f"{' or '.join(map(str, sizes)) or 'unknown'}")
        keep = [i for i, x in enumerate(xs) if x is not None]
        runs = [runs[i] for i in keep]
        groups = [g for i, g in enumerate(_groups(target, "data.train_size")) if i in keep]
        return sweep_figures.sweep_figure(runs, [float(xs[i]) for i in keep], "training examples (n_train)", metric,
                                    groups=groups, learning=True,
                                    title=target.title(f"learning curve (final {what} vs training-set size)"))
    if kind in MAX_PANELS and len(runs) > MAX_PANELS[kind]:
        warn(f"{name or 'targets'}: {kind} draws the first {MAX_PANELS[kind]} of {len(runs)} runs")
        runs = runs[:MAX_PANELS[kind]]
    if kind == "boundary":
        return model_figures.boundary_figure(runs, title=target.title("decision boundaries"))
    if kind == "weights":
        # near-zero share vs λ: for a sweep over a penalty, or runs that differ in nothing else
        pure = target.is_sweep or all(k in REG_KEYS or k in SEED_KEYS for k in target.swept)
        reg = next((k for k in target.swept if pure and k in REG_KEYS and numeric_axis(k, runs)), None)
        return model_figures.weights_figure(runs, reg, title=target.title("Dense weights per layer"))
    return model_figures.activations_figure(runs, title=target.title("internal covariate shift: pre-activations "
                                                                "on a fixed probe batch"))


def figure_bytes(fig, fmt: str = "png") -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI)
    return buf.getvalue()


def save_figure(fig, path: Path, fmt: str = "png") -> Path:
    """Write the figure atomically (a reader never sees half a file)."""
    path = Path(path)
    atomic_write_bytes(path, figure_bytes(fig, fmt))
    return path


def output_path(target: Target, kind: str, out: Path | None, fmt: str | None) -> tuple[Path, str]:
    """(file, format): --out if given (its suffix may give the format), else <target>/<kind>.<fmt>."""
    suffix = out.suffix.lstrip(".").lower() if out is not None else ""
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if out is not None and suffix and suffix not in FORMATS:
        raise UsageError(f"--out {out}: unknown file type .{suffix}; valid: {', '.join(FORMATS)}")
    if fmt and suffix and fmt != suffix:
        raise UsageError(f"--out {out} ends in .{suffix} but --format is {fmt}")
    fmt = fmt or suffix or "png"
    if out is None:
        # several targets: <results>/plots/<kind>-<names>.<fmt>, however long the names
        return target.folder / (f"{kind}.{fmt}" if target.name else file_name(f"{kind}-{target.slug}", f".{fmt}")), fmt
    return (out if suffix else out.with_name(f"{out.name}.{fmt}")), fmt


def plot(targets, kind: str | None = None, metric: str | None = None, out: Path | None = None,
         fmt: str | None = None, results: Path = Path("results")) -> Path:
    """Draw `kind` for the targets and save it; returns the file written."""
    target = load_target(targets, results)
    kind = kind or default_kind(target)
    path, fmt = output_path(target, kind, out, fmt)
    fig = make_figure(target, kind, metric)
    try:
        save_figure(fig, path, fmt)
    except StorageError as exc:
        raise StorageError(exc.problems + [Problem("--out FILE writes the figure elsewhere")]) from exc
    return path
