"""The shared look of every figure, and the helpers the figure modules draw with.

Figures read result files only (through dlexp.results.reader), never the trainer, and draw with
matplotlib's object API — `Figure`, never pyplot — so nothing needs a display or a GUI backend,
no global figure list grows while a report renders dozens of figures, and saving uses the Agg
(png), svg or pdf canvas by file type. choose.py picks the figure for a target and saves it;
curves.py draws training curves and comparisons, sweeps.py validation and learning curves,
model.py the model's inside (weights, activations, decision regions).

One look everywhere: train is blue and dashed, validation orange and solid; the best epoch is
green, early stopping and divergence red; points are shaded with their diagnosis label. The
figures go on slides: legends sit below the panels (never over data or the title), runs are
named by what differs between them (`run_labels`), and a diverged run never sets a scale.
"""

from __future__ import annotations

import functools
import math
import re

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath
from matplotlib.ticker import NullLocator

from .. import dotted
from ..errors import ResultError, UsageError
from ..labels import number, point_labels
from ..results.reader import Run, warn

TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"
SPLIT_COLOR = {"train": TRAIN_COLOR, "val": VAL_COLOR}
SPLIT_STYLE = {"train": "--", "val": "-"}
SPLIT_LABEL = {"train": "train", "val": "validation"}
BEST_COLOR, STOP_COLOR, PENALTY_COLOR = "#2ca02c", "#d62728", "#7f7f7f"
# The shade and the one-line hint of each diagnosis label (validation curves shade their points
# with the label `dlexp diagnose` gives them)
LABEL_SHADE = {"underfitting": "#6baed6", "overfitting": "#fb6a4a", "overconfident": "#9e9ac8",
               "good_fit": "#74c476", "not_converged": "#bdbdbd", "diverged": "#525252"}
LABEL_HINT = {"underfitting": "train and val both poor", "overfitting": "train good, val worse",
              "overconfident": "val loss up, accuracy not down", "good_fit": "",
              "not_converged": "still improving", "diverged": "training blew up"}
# Runs and classes (Dark2's hues, darkened where a bold title in them would be hard to read on white:
# every one has a contrast of at least 3.3 : 1). None is the train blue, the val orange, or the grey
# of the legend keys that stand for "train" and "validation" in every run's colour.
PALETTE = ("#1b9e77", "#7570b3", "#e7298a", "#4d9221", "#a6761d", "#8e0152", "#01665e", "#b15928")
KEY_COLOR = "0.35"  # legend keys that stand for a style (dashed = train), not for a run
METRIC_NAMES = {"loss": "loss", "acc": "accuracy", "r2": "R²"}

STYLE = {
    "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11,
    "xtick.labelsize": 10, "ytick.labelsize": 10, "legend.fontsize": 10, "legend.framealpha": 0.9,
    "figure.titlesize": 14, "figure.titleweight": "bold", "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "lines.linewidth": 1.8,
}


def styled(fn):
    """Draw inside the dlexp rc style (fonts and lines are fixed when artists are created)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def new_figure(ncols: int, nrows: int = 1, width: float = 5.2, height: float = 3.9, ax=None, **kw):
    """(Figure, axes (nrows, ncols)); with `ax` (one panel drawn into a caller's Axes, as the
    Python API does), that Axes' figure and the Axes alone."""
    if ax is not None:
        return ax.figure, np.array([[ax]], dtype=object)
    # at least 7.5 inches wide: room for the title and a legend beside a single panel
    fig = Figure(figsize=(max(width * ncols, 7.5), height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def finish_panel(fig, ax, title: str, max_cols: int = 6) -> None:
    """The legend and the title: the figure's (legend_below, fig_title), or within `ax` when the
    panel was drawn into a caller's Axes, whose figure is theirs to lay out."""
    if ax is None:
        legend_below(fig, max_cols=max_cols)
        fig_title(fig, title)
        return
    handles, names = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, [plain(n) for n in names], fontsize=panel_fontsize(ax), framealpha=0.8)
    ax.set_title(plain(title), fontsize="medium")


def panel_fontsize(ax) -> str:
    """A legend's font size for a caller's Axes: smaller in a narrow panel (a grid of them)."""
    inches = ax.get_position().width * ax.figure.get_figwidth()
    return "x-small" if inches < 4.5 else "small"


def run_labels(runs: list[Run]) -> list[str]:
    """Legend labels of runs drawn in one figure: their sweep points without what all of them
    share (labels.point_labels), else their names."""
    labels = [r.label for r in runs]
    with_point = [i for i, r in enumerate(runs) if r.point]
    if with_point:
        lookups = [functools.partial(_config_value, runs[i]) for i in with_point]
        for i, text in zip(with_point, point_labels([runs[i].point for i in with_point], lookups)):
            labels[i] = text
    return labels


def _config_value(run: Run, key: str):
    try:
        return dotted.get(run.config, key)
    except ResultError:
        return None


def plain(text: str) -> str:
    """`text` as matplotlib must print it: names and values are labels, never mathtext, so their
    `$` are escaped (`price $\\alpha$` prints as typed; an unknown `$\\cmd$` cannot break the figure).
    Every title, legend entry and axis label made from a result's name or values goes through here."""
    return str(text).replace("$", r"\$")


def _phrases(text: str) -> list[str]:
    """`text` cut where a line may break without splitting a phrase: after "name:" and before a
    bracket ("study-x: learning curve (final loss vs …)" → three phrases)."""
    return [p for p in re.split(r"(?<=:) | (?=\()", text) if p]


def fig_title(fig, text: str):
    """The figure's title, on as many lines as the figure's width needs (a long run name would
    otherwise run off both edges), the lines about as long as each other; lines break between
    phrases where they can ("learning curve" is never cut in two), between words where a phrase
    is wider than the figure. The words' widths are measured in the title's font."""

    font = FontProperties(size=matplotlib.rcParams["figure.titlesize"], weight=matplotlib.rcParams["figure.titleweight"])

    def width(line: str) -> float:
        return TextToPath().get_text_width_height_descent(line, font, ismath=False)[0]

    def wrap(units: list[str], room: float) -> list[str]:
        lines: list[str] = []
        for unit in units:
            trial = f"{lines[-1]} {unit}" if lines else unit
            if lines and width(trial) <= room:
                lines[-1] = trial
            else:
                lines.append(unit)
        return lines

    room = fig.get_figwidth() * 72 - 16  # points, a little margin on each side
    # a phrase wider than the figure is cut into its words; the others stay whole
    units = [u for p in _phrases(text) for u in (p.split(" ") if width(p) > room else [p])]
    lines = wrap(units, room)
    if len(lines) > 1:  # as narrow as the same number of lines allows: no lone word on the last line
        lo, hi = 0.0, room
        for _ in range(16):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if len(wrap(units, mid)) > len(lines) else (lo, mid)
        lines = wrap(units, hi)
    return fig.suptitle(plain("\n".join(lines)))


def legend_below(fig, handles=None, max_cols: int = 6):
    """A figure legend under the panels (constrained layout makes room): as many columns as the
    figure's width holds, so it never covers data or the title."""
    if handles is None:
        handles = []
        for ax in fig.axes:
            handles += [h for h in ax.get_legend_handles_labels()[0]]
    seen, unique = set(), []
    for h in handles:
        label = h.get_label()
        if label and not label.startswith("_") and label not in seen:
            seen.add(label)
            unique.append(h)
    if not unique:
        return None
    size = matplotlib.rcParams["legend.fontsize"]
    size = size if isinstance(size, (int, float)) else 10
    longest = max(len(h.get_label()) for h in unique)
    fits = int(fig.get_figwidth() * 72 / ((longest + 6) * 0.55 * size))
    ncols = max(1, min(len(unique), max_cols, fits))
    return fig.legend(handles=unique, labels=[plain(h.get_label()) for h in unique], loc="outside lower center",
                      ncols=ncols)


# Two swept keys: one family per value of the first, light → dark along the second (sequential maps;
# the first three follow PALETTE's first three hues).
FAMILIES = ("Greens", "Purples", "RdPu", "Oranges", "Blues", "Greys")


def point_colors(runs: list[Run]) -> list:
    """A colour per run; runs of a sweep over exactly two keys get one colour family per value of
    the first key (spec order), shaded by the second, so a legend of 2 × 3 points reads as 2 groups."""
    points = [r.point or {} for r in runs]
    keys = [k for k in (points[0] if points else {}) if len({repr(p.get(k)) for p in points}) > 1]
    if len(runs) < 4 or len(keys) != 2 or any(set(p) != set(points[0]) for p in points):
        return run_colors(len(runs))
    outer = list(dict.fromkeys(repr(p[keys[0]]) for p in points))
    inner = list(dict.fromkeys(repr(p[keys[1]]) for p in points))
    if len(outer) > len(FAMILIES) or len(inner) > 5:
        return run_colors(len(runs))
    shades = np.linspace(0.5, 0.95, len(inner)) if len(inner) > 1 else [0.8]
    return [matplotlib.colormaps[FAMILIES[outer.index(repr(p[keys[0]]))]](shades[inner.index(repr(p[keys[1]]))])
            for p in points]


def run_colors(n: int) -> list:
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    # viridis beyond 0.78 is a yellow-green that vanishes on white
    return [matplotlib.colormaps["viridis"](t) for t in np.linspace(0.0, 0.78, n)]


def num(v) -> float:
    """float(v), NaN for None or text."""
    try:
        return math.nan if v is None else float(v)
    except (TypeError, ValueError):
        return math.nan


def column(run: Run, name: str) -> np.ndarray | None:
    """A metrics.csv column as floats (None → NaN), or None if absent or empty."""
    values = run.column(name)
    if not any(v is not None for v in values):
        return None
    return np.array([num(v) for v in values])


def ylabel(metric: str, task: str | None, final: bool = False, runs: list[Run] = ()) -> str:
    """The y label of `metric`; a regression loss says whether `runs` standardized their target."""
    if metric == "loss":
        raw = any(_config_value(r, "data.standardize") is False for r in runs)
        text = "cross-entropy loss" if task != "regression" else \
            f"MSE ({'target in its own units' if raw else 'standardized target'})"
    else:
        text = METRIC_NAMES.get(metric, metric)
    return f"final {text}" if final else text


def band_line(ax, x, y, std, color, style, label, marker=None):
    """A line with a ±std band when std is given (repeats, CV folds)."""
    (line,) = ax.plot(x, y, style, color=color, label=label, marker=marker, markersize=5)
    if std is not None and np.any(np.isfinite(std) & (std > 0)):
        ax.fill_between(x, y - std, y + std, color=color, alpha=0.18, lw=0)
    return line


def log_scale(xs) -> tuple[str, int] | None:
    """("log" or "symlog", base) for log-spaced values (max/min ≥ 100, or a geometric series;
    symlog when a zero is among them), else None. The dashboard's axes read it too."""
    u = np.unique(np.asarray(xs, float))
    u = u[np.isfinite(u)]
    if len(u) < 2:
        return None
    pos = u[u > 0]
    steps = pos[1:] / pos[:-1] if len(pos) > 1 else np.array([])
    geometric = len(pos) >= 3 and steps.min() >= 1.5 and steps.max() / steps.min() < 1.35
    # batch sizes, widths: 2, 4, 8, 32 are doublings even where one is skipped
    doublings = len(pos) >= 3 and pos.max() / pos.min() >= 8 and all(
        float(v).is_integer() and int(v) & (int(v) - 1) == 0 for v in pos)
    if u.min() >= 0 and len(pos) >= 2 and (pos.max() / pos.min() >= 100 or geometric or doublings):
        base = 2 if (geometric and abs(np.median(steps) - 2) < 0.3) or (doublings and pos.max() / pos.min() < 100) else 10
        return ("symlog" if u.min() == 0 else "log"), base
    return None


def auto_xscale(ax, xs) -> None:
    """Log axis for log-spaced positive values (log_scale); a zero among them sits on a short
    linear stretch (symlog). Few values → a tick at each one."""
    u = np.unique(np.asarray(xs, float))
    u = u[np.isfinite(u)]
    if len(u) < 2:
        return
    pos = u[u > 0]
    scale = log_scale(u)
    if scale is not None:
        kind, base = scale
        if kind == "symlog":
            ax.set_xscale("symlog", linthresh=pos.min(), linscale=0.6, base=base)
        else:
            ax.set_xscale("log", base=base)
        ax.xaxis.set_minor_locator(NullLocator())
        if len(u) <= 12 and _round(u):
            ax.set_xticks(u, [number(v) for v in u])
    elif len(u) <= 8 and _round(u):
        ax.set_xticks(u, [number(v) for v in u])


def _round(values) -> bool:
    """Values a person wrote (0.01, 32, 0.3), not drawn at random (0.00834200716): only those get a
    tick each, whose labels would otherwise run into each other."""
    return all(float(v).is_integer() or float(f"{v:.2g}") == v for v in values)


def auto_yscale(ax, arrays) -> None:
    """Log y when a positive quantity (a loss) spans more than two decades."""
    vals = np.concatenate([np.ravel(a) for a in arrays if a is not None] or [np.array([])])
    vals = vals[np.isfinite(vals)]
    if len(vals) and vals.min() > 0 and vals.max() / vals.min() > 100:
        ax.set_yscale("log")


def has_history(run: Run) -> bool:
    try:
        return bool(run.metrics)
    except ResultError as exc:
        warn(f"skipping {run.run_id}: {exc}")
        return False


def usable(runs: list[Run], what: str) -> list[Run]:
    """The runs with a training history; the others are skipped with a warning."""
    out = []
    for run in runs:
        if has_history(run):
            out.append(run)
        elif run.status == "failed":
            warn(f"skipping {run.run_id} ({run.label}): the run failed")
    if not out:
        raise UsageError(f"no run with a training history to plot ({what})")
    return out


# ---------------------------------------------------------------------------------------------
# Training curves of one run, and several runs compared

def fit_ylim(ax, arrays) -> None:
    """Y limits that fit `arrays` (5 % margin, in log space on a log axis)."""
    vals = np.concatenate([np.ravel(a) for a in arrays])
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return
    lo, hi = vals.min(), vals.max()
    if ax.get_yscale() == "log" and lo > 0:
        pad = (hi / lo) ** 0.05
        ax.set_ylim(lo / pad, hi * pad)
    else:
        pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 0.05
        ax.set_ylim(lo - pad, hi + pad)


def architecture(hidden: list[int]) -> str:
    """Hidden layers as a tick reads them: [16] → "16", [32, 32] → "32×2", [64, 32] → "64-32"."""
    if not hidden:
        return "none"
    if len(set(hidden)) == 1:
        return str(hidden[0]) if len(hidden) == 1 else f"{hidden[0]}×{len(hidden)}"
    return "-".join(str(w) for w in hidden)
