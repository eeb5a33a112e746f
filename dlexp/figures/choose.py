"""`dlexp plot`: which figure fits a target, which swept value goes on the x axis, where it is saved.

Defaults: a run → training curves; a sweep over `data.train_size` → learning curve; a random
search over continuous keys → a scatter of the final val figure against each; a sweep over
a numeric key → validation curve; any other sweep, or several targets → comparison. A kind that
does not fit the target is a UsageError (exit 2) that says what would fit. The drawing itself is
in curves.py, sweeps.py and model.py; every figure function returns a matplotlib
Figure, and `save_figure` writes it.
"""

from __future__ import annotations

import dataclasses
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import Problem, ResultError, StorageError, UsageError
from ..results.reader import Run, Sweep, resolve, warn
from ..results.store import atomic_write_bytes, file_name, load_result_yaml
from . import averaging as averaging_figures
from . import curves
from . import model as model_figures
from . import sweeps as sweep_figures
from ..analysis.subset import describe, select
from .. import dotted
from ..labels import plural, point_labels
from . import KINDS  # the registry of kinds, which the CLI lists without loading matplotlib
from .style import METRIC_NAMES, architecture
from ..analysis.verdict import verdict
from ..analysis.axis import ARCHITECTURES, REG_KEYS, SEED_KEYS, architectures, numeric_axis, swept_value, x_key as _x_key

METRIC_KINDS = ("compare", "validation", "learning", "scatter", "seeds")  # the kinds --metric changes
METRICS = ("loss", "acc", "r2")
FORMATS = ("png", "svg", "pdf")
DPI = 150
MAX_PANELS = {"boundary": 12, "activations": 6}  # runs per figure that stay readable
CONTINUOUS = ("uniform", "loguniform", "int")  # random dists whose samples share no grid


@dataclass
class Target:
    """What the plot command was pointed at: one run, one sweep, or several of either."""

    name: str  # the run's or sweep's name; "" for several targets
    folder: Path  # default output folder
    runs: list[Run]
    swept: list[str]
    is_sweep: bool = False
    slug: str = ""  # several targets: what default file names carry
    sampling: dict[str, str] = field(default_factory=dict)  # random key → its dist (sweep.yaml)
    subset: str = ""  # --where, as the title names it

    def title(self, text: str) -> str:
        name = f"{self.name} ({self.subset})" if self.subset and self.name else self.name or self.subset
        return f"{name}: {text}" if name else text[:1].upper() + text[1:]


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


def _sampling(folder: Path) -> dict[str, str]:
    """{key: dist} of a random search, from the sweep.yaml the sweep wrote beside its manifest
    ({} for a grid, or a sweep.yaml that cannot be read: the figure is then chosen by the values)."""
    try:
        spec = load_result_yaml((folder / "sweep.yaml").read_text(encoding="utf-8")) or {}
        params = (spec.get("random") or {}).get("params") or {}
        return {str(k): str(d.get("dist")) for k, d in params.items() if isinstance(d, dict)}
    except (OSError, UnicodeError, yaml.YAMLError, AttributeError):
        return {}


def load_target(targets, results: Path = Path("results"), where=()) -> Target:
    """Resolve run folders, run ids, sweep folders or sweep names; damaged ones are skipped with a
    warning when there are others to plot. `where` ([(key, value)], subset.parse_where) keeps the
    runs that hold each value; the keys left with one value are no longer swept."""
    target = _load_target(targets, results)
    if not where:
        return target
    runs = select(target.runs, where)
    swept = [k for k in target.swept if len({repr(swept_value(r, k)) for r in runs}) > 1]
    return dataclasses.replace(target, runs=runs, swept=swept, subset=describe(where),
                               sampling={k: d for k, d in target.sampling.items() if k in swept})


def _load_target(targets, results: Path) -> Target:
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
            return Target(f.name, f.folder, f.runs, f.swept, True, sampling=_sampling(f.folder))
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


def x_key(target: Target) -> str | None:
    """The numeric swept key of the target's x axis (analysis.axis.x_key)."""
    return _x_key(target.swept, target.runs)


def _groups(target: Target, exclude: str) -> list[str]:
    """A legend label per run from the swept keys other than the x axis (and seeds)."""
    keys = [k for k in target.swept if k != exclude and k not in SEED_KEYS]
    return point_labels([{k: swept_value(r, k) for k in keys} for r in target.runs])


def random_keys(target: Target) -> list[str]:
    """The swept keys a random search drew from a continuous distribution (a number per run)."""
    return [k for k in target.swept if target.sampling.get(k) in CONTINUOUS and numeric_axis(k, target.runs)]


def default_kind(target: Target) -> str:
    if not target.is_sweep:
        return "curves" if len(target.runs) == 1 else "compare"
    if "data.train_size" in target.swept:
        return "learning"
    if random_keys(target):
        return "scatter"
    return "validation" if x_key(target) else "compare"


def _architectures(runs: list[Run]) -> dict[float, str] | None:
    """The tick labels ("32×2") of an architecture axis (analysis.axis: a position per hidden-layer
    list); None when width or depth alone is the axis."""
    hidden = [swept_value(r, "model.hidden") for r in runs]
    if numeric_axis("model.hidden", runs)[1] != ARCHITECTURES:
        return None
    return {float(i): architecture(list(h)) for i, h in enumerate(architectures(hidden))}


# ---------------------------------------------------------------------------------------------
# Figures and files

def _check_metric(metric: str, runs: list[Run]) -> None:
    if metric != "loss" and all(r.metric != metric for r in runs):
        raise UsageError(f"--metric {metric} does not fit: these runs report {runs[0].metric} "
                         f"(valid: loss, {runs[0].metric})")


def _varies(target: Target) -> str:
    """What the target varies, in words: "study-l2 varies regularization.l2", "quickstart varies
    nothing", "the targets vary model.hidden"."""
    who = target.name or "the targets"
    verb = plural(1 if target.name else 2, "varies", "vary")
    return f"{who} {verb} {', '.join(target.swept) or 'nothing'}"


ONE_PANEL = ("curves", "compare", "validation", "learning", "seeds")  # kinds that draw into a given Axes


def make_figure(target: Target, kind: str | None = None, metric: str | None = None, per_second: bool = False,
                ax=None):
    """The matplotlib Figure of `kind` (default: the one that fits the target) for `target`;
    `per_second` adds compare's panel against training time. With `ax` (the Python API), the
    figure's one panel is drawn into that Axes (curves: the `metric` panel) and its figure is
    returned."""
    kind = kind or default_kind(target)
    if ax is not None and kind not in ONE_PANEL:
        raise UsageError(f"{kind} draws a figure of its own panels; ax= fits {', '.join(ONE_PANEL)} (without ax, "
                         "plot() returns the first panel, and .figure the whole figure)")
    if ax is not None and per_second:
        raise UsageError("per_second adds a second panel, which does not fit into one Axes")
    metric = metric or "loss"
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    if per_second and kind != "compare":
        raise UsageError(f"--per-second adds a panel to compare figures; this figure is {kind}: add --kind compare")
    runs, name = target.runs, target.name
    _check_metric(metric, runs)
    what = METRIC_NAMES[metric]
    if kind == "curves":
        if len(runs) != 1:
            raise UsageError(f"curves draws one run; {name or 'the targets'} "
                             f"{plural(1 if name else 2, 'holds', 'hold')} {len(runs)}: use --kind compare, or name one run")
        return curves.curves_figure(runs[0], ax=ax, metric=metric)
    if kind == "compare":
        return curves.compare_figure(runs, metric, title=target.title(f"train and validation {what}"),
                                     per_second=per_second, ax=ax)
    if kind == "validation":
        key = x_key(target)
        if key is None:
            raise UsageError(f"a validation curve needs a sweep over a numeric key (width, depth, l2, dropout, …); "
                             f"{_varies(target)}: use --kind compare")
        xs, label = numeric_axis(key, runs)
        v, categories = verdict(runs, target.swept, key=key), None
        if key == "model.hidden":  # [32, 32] is not 64 units in one layer: each architecture its own tick
            categories = _architectures(runs)
        return sweep_figures.sweep_figure(runs, xs, label, metric, groups=_groups(target, key), verdict=v,
                                          categories=categories, ax=ax,
                                          title=target.title(f"validation curve (final {what} vs {label.split(' (')[0]})"))
    if kind == "scatter":
        keys = random_keys(target) or [k for k in target.swept if k not in SEED_KEYS and numeric_axis(k, runs)]
        if not keys:
            raise UsageError(f"a scatter needs a sweep over numeric keys; {_varies(target)}: use --kind compare")
        axes_of = []
        for k in keys:
            xs, label = numeric_axis(k, runs)
            dist = target.sampling.get(k)
            axes_of.append((xs, label + (" — sampled log-uniformly" if dist == "loguniform" else ""),
                            None if dist not in CONTINUOUS else dist == "loguniform"))
        others = [k for k in target.swept if k not in keys and k not in SEED_KEYS]
        groups = point_labels([{k: swept_value(r, k) for k in others} for r in runs]) if others else None
        return sweep_figures.scatter_figure(runs, axes_of, metric, groups=groups,
                                            title=target.title(f"final validation {what} vs each swept key"))
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
                                    groups=groups, learning=True, ax=ax,
                                    title=target.title(f"learning curve (final {what} vs training-set size)"))
    if kind == "seeds":
        return sweep_figures.seeds_figure(runs, metric, ax=ax, title=target.title(f"final {what} of each seed"))
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
    if kind == "inputs":
        return model_figures.inputs_figure(runs, title=target.title("first-layer weights per input"))
    if kind == "gradients":
        return model_figures.gradients_figure(runs, title=target.title("gradient norms per layer"))
    if kind == "averaging":
        dropout = any(averaging_figures.averaging.has_dropout(r) for r in runs)
        return averaging_figures.averaging_figure(runs, title=target.title(
            "dropout's weight scaling vs averaging thinned networks vs an ensemble" if dropout else
            "the average of M trained networks (an ensemble) on the test split"))
    return model_figures.activations_figure(runs, title=target.title("internal covariate shift: pre-activations "
                                                                "on a fixed probe batch"))


def draw(targets, kind: str | None = None, metric: str | None = None, *, ax=None, results: Path = Path("results"),
         where=(), per_second: bool = False):
    """Draw `kind` for the targets into `ax`, or into a Figure of its own; the Axes drawn (of a
    figure of several panels, the first)."""
    fig = make_figure(load_target(targets, results, where), kind, metric, per_second, ax=ax)
    return ax if ax is not None else fig.axes[0]


def figure_bytes(fig, fmt: str = "png") -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI)
    return buf.getvalue()


def save_figure(fig, path: Path, fmt: str = "png") -> Path:
    """Write the figure atomically (a reader never sees half a file)."""
    path = Path(path)
    atomic_write_bytes(path, figure_bytes(fig, fmt))
    return path


def file_stem(target: Target, kind: str, metric: str | None = None) -> str:
    """<kind>[-<metric>][-<subset>]: the loss figure keeps the plain <kind> name, an accuracy figure
    or a --where subset gets a name of its own instead of overwriting it."""
    parts = [kind]
    if metric not in (None, "loss") and kind in METRIC_KINDS:
        parts.append(metric)
    if target.subset:
        parts.append(_slug(target.subset))
    return "-".join(parts)


def output_path(target: Target, kind: str, out: Path | None, fmt: str | None,
                metric: str | None = None) -> tuple[Path, str]:
    """(file, format): --out if given (an existing folder: the default name inside it; else its
    suffix may give the format), else <target>/<file_stem>.<fmt>."""
    into = out is not None and Path(out).is_dir()
    suffix = out.suffix.lstrip(".").lower() if out is not None and not into else ""
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if out is not None and suffix and suffix not in FORMATS:
        raise UsageError(f"--out {out}: unknown file type .{suffix}; valid: {', '.join(FORMATS)}")
    if fmt and suffix and fmt != suffix:
        raise UsageError(f"--out {out} ends in .{suffix} but --format is {fmt}")
    fmt = fmt or suffix or "png"
    stem = file_stem(target, kind, metric)
    if out is None or into:
        # several targets: <results>/plots/<kind>-<names>.<fmt>, however long the names
        name = f"{stem}.{fmt}" if target.name else file_name(f"{stem}-{target.slug}", f".{fmt}")
        return (Path(out) if into else target.folder) / name, fmt
    return (out if suffix else out.with_name(f"{out.name}.{fmt}")), fmt


def plot(targets, kind: str | None = None, metric: str | None = None, out: Path | None = None,
         fmt: str | None = None, results: Path = Path("results"), where=(), per_second: bool = False) -> Path:
    """Draw `kind` for the targets (the runs that hold `where`) and save it; returns the file written."""
    target = load_target(targets, results, where)
    kind = kind or default_kind(target)
    path, fmt = output_path(target, kind, out, fmt, metric)
    fig = make_figure(target, kind, metric, per_second)
    try:
        save_figure(fig, path, fmt)
    except StorageError as exc:
        raise StorageError(exc.problems + [Problem("--out FILE writes the figure elsewhere")]) from exc
    return path
