"""Figures of finished runs and sweeps: every function takes Run objects and returns a Figure.

They read result files only (through dlexp.results), never the trainer, and draw with
matplotlib's object API — `Figure`, never pyplot — so nothing needs a display or a GUI backend,
no global figure list grows while a report renders dozens of figures, and saving uses the Agg
(png), svg or pdf canvas by file type. `plots.py` chooses the figure for a target and saves it;
`model_figures.py` draws the model's inside (weights, activations, decision regions).

One look everywhere: train is blue and dashed, validation orange and solid; the best epoch is
green, early stopping and divergence red; underfitting and overfitting sides are shaded. The
figures go on slides: legends sit below the panels (never over data or the title), runs are
named by what differs between them (`run_labels`), and a diverged run never sets a scale.
"""

from __future__ import annotations

import functools
import math
import statistics

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullLocator

from .errors import ResultError, UsageError
from .results import Run, warn

TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"
SPLIT_COLOR = {"train": TRAIN_COLOR, "val": VAL_COLOR}
SPLIT_STYLE = {"train": "--", "val": "-"}
SPLIT_LABEL = {"train": "train", "val": "validation"}
BEST_COLOR, STOP_COLOR, PENALTY_COLOR = "#2ca02c", "#d62728", "#7f7f7f"
SIDE_SHADE = {"underfitting": "#6baed6", "overfitting": "#fb6a4a"}
SIDE_HINT = {"underfitting": "train and val both poor", "overfitting": "train good, val worse"}
# Runs and classes (Dark2): none is the train blue or the val orange.
PALETTE = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666", "#d95f02")
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


def new_figure(ncols: int, nrows: int = 1, width: float = 5.2, height: float = 3.9, **kw):
    # at least 7.5 inches wide: room for the title and a legend beside a single panel
    fig = Figure(figsize=(max(width * ncols, 7.5), height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def run_labels(runs: list[Run]) -> list[str]:
    """Legend labels of runs drawn in one figure: their sweep points without what all of them
    share (plots.point_labels), else their names."""
    from .plots import point_labels

    labels = [r.label for r in runs]
    with_point = [i for i, r in enumerate(runs) if r.point]
    if with_point:
        lookups = [functools.partial(_config_value, runs[i]) for i in with_point]
        for i, text in zip(with_point, point_labels([runs[i].point for i in with_point], lookups)):
            labels[i] = text
    return labels


def _config_value(run: Run, key: str):
    try:
        node = run.config
    except ResultError:
        return None
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def fig_title(fig, text: str):
    """The figure's title, on as many lines as the figure's width needs (a long run name would
    otherwise run off both edges), the lines about as long as each other; the words' widths are
    measured in the title's font."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    font = FontProperties(size=matplotlib.rcParams["figure.titlesize"], weight=matplotlib.rcParams["figure.titleweight"])
    words = text.split(" ")

    def wrap(room: float) -> list[str]:
        lines: list[str] = []
        for word in words:
            trial = f"{lines[-1]} {word}" if lines else word
            if lines and TextToPath().get_text_width_height_descent(trial, font, ismath=False)[0] <= room:
                lines[-1] = trial
            else:
                lines.append(word)
        return lines

    room = fig.get_figwidth() * 72 - 16  # points, a little margin on each side
    lines = wrap(room)
    if len(lines) > 1:  # as narrow as the same number of lines allows: no lone word on the last line
        lo, hi = 0.0, room
        for _ in range(16):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if len(wrap(mid)) > len(lines) else (lo, mid)
        lines = wrap(hi)
    return fig.suptitle("\n".join(lines))


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
    return fig.legend(handles=unique, loc="outside lower center", ncols=ncols)


def run_colors(n: int) -> list:
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    return [matplotlib.colormaps["viridis"](t) for t in np.linspace(0.0, 0.9, n)]


def fmt_num(v) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e6 else f"{v:.3g}"


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


def ylabel(metric: str, task: str | None, final: bool = False) -> str:
    if metric == "loss":
        text = "cross-entropy loss" if task != "regression" else "MSE (standardized target)"
    else:
        text = METRIC_NAMES.get(metric, metric)
    return f"final {text}" if final else text


def band_line(ax, x, y, std, color, style, label, marker=None):
    """A line with a ±std band when std is given (repeats, CV folds)."""
    (line,) = ax.plot(x, y, style, color=color, label=label, marker=marker, markersize=5)
    if std is not None and np.any(np.isfinite(std) & (std > 0)):
        ax.fill_between(x, y - std, y + std, color=color, alpha=0.18, lw=0)
    return line


def auto_xscale(ax, xs) -> None:
    """Log axis for log-spaced positive values (max/min ≥ 100, or a geometric series); a zero
    among them sits on a short linear stretch (symlog). Few values → a tick at each one."""
    u = np.unique(np.asarray(xs, float))
    u = u[np.isfinite(u)]
    if len(u) < 2:
        return
    pos = u[u > 0]
    steps = pos[1:] / pos[:-1] if len(pos) > 1 else np.array([])
    geometric = len(pos) >= 3 and steps.min() >= 1.5 and steps.max() / steps.min() < 1.35
    # batch sizes, widths: 2, 4, 8, 32 are doublings even where one is skipped
    doublings = len(pos) >= 3 and pos.max() / pos.min() >= 8 and all(
        float(v).is_integer() and int(v) & (int(v) - 1) == 0 for v in pos)
    if u.min() >= 0 and len(pos) >= 2 and (pos.max() / pos.min() >= 100 or geometric or doublings):
        base = 2 if (geometric and abs(np.median(steps) - 2) < 0.3) or (doublings and pos.max() / pos.min() < 100) else 10
        if u.min() == 0:
            ax.set_xscale("symlog", linthresh=pos.min(), linscale=0.6, base=base)
        else:
            ax.set_xscale("log", base=base)
        ax.xaxis.set_minor_locator(NullLocator())
        if len(u) <= 12:
            ax.set_xticks(u, [fmt_num(v) for v in u])
    elif len(u) <= 8:
        ax.set_xticks(u, [fmt_num(v) for v in u])


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

def _mark_epochs(axes, s: dict, epochs, val_loss) -> None:
    """Best epoch (green), early stop (red dash-dot), divergence (red) in every panel."""
    best = num(s.get("best_epoch"))
    mean = "mean " if s.get("n_members") else ""
    for ax in axes:
        if math.isfinite(best):
            restored = ", weights restored" if s.get("restored_best") else ""
            ax.axvline(best, color=BEST_COLOR, ls=":", lw=1.6, label=f"{mean}best epoch {fmt_num(best)}{restored}")
        if s.get("stopped_early") and s.get("stopped_epoch"):
            ax.axvline(s["stopped_epoch"], color=STOP_COLOR, ls="-.", lw=1.4,
                       label=f"early stop, epoch {s['stopped_epoch']}")
        if s.get("diverged_epoch"):
            ax.axvline(s["diverged_epoch"], color=STOP_COLOR, lw=1.4, label=f"diverged, epoch {s['diverged_epoch']}")
    ok = np.isfinite(val_loss) if val_loss is not None else np.array([False])
    if math.isfinite(best) and ok.any():
        axes[0].plot(best, np.interp(best, epochs[ok], val_loss[ok]), "*", ms=14, color=BEST_COLOR, zorder=5)


def _penalty_title(run: Run) -> str:
    try:
        reg = run.config.get("regularization") or {}
    except ResultError:
        reg = {}
    parts = [f"{name.upper()} λ={fmt_num(reg[name])}" for name in ("l1", "l2") if reg.get(name)]
    return "penalty " + (", ".join(parts) if parts else "term")


@styled
def curves_figure(run: Run) -> Figure:
    """Train vs val loss and metric per epoch; best epoch, early stop; penalty panel if any."""
    epochs = column(run, "epoch")
    if epochs is None:
        raise UsageError(f"{run.folder}: no training history to plot (status {run.status})")
    s, task = run.summary, run.summary.get("task")
    penalty = column(run, "penalty")
    has_penalty = penalty is not None and bool(np.any(penalty > 0))
    panels = ["loss", run.metric] + (["penalty"] if has_penalty else [])
    fig, axes = new_figure(len(panels))
    axes = list(axes[0])
    for ax, what in zip(axes, panels[:2]):
        ys = []
        for split in ("train", "val"):
            y = column(run, f"{split}_{what}")
            if y is not None:
                band_line(ax, epochs, y, column(run, f"{split}_{what}_std"), SPLIT_COLOR[split], SPLIT_STYLE[split],
                          SPLIT_LABEL[split], marker="o" if len(y) < 3 else None)
                ys.append(y)
        ax.set(xlabel="epoch", ylabel=ylabel(what, task), title=METRIC_NAMES.get(what, what))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if what == "loss":
            auto_yscale(ax, ys)
    if has_penalty:
        band_line(axes[2], epochs, penalty, column(run, "penalty_std"), PENALTY_COLOR, "-", "penalty (not in train loss)")
        axes[2].set(xlabel="epoch", ylabel="penalty", title=_penalty_title(run))
        axes[2].xaxis.set_major_locator(MaxNLocator(integer=True))
    _mark_epochs(axes, s, epochs, column(run, "val_loss"))
    if np.nanmax(epochs) - np.nanmin(epochs) < 2:  # a run of one or two epochs: whole epochs around it
        for ax in axes:
            ax.set_xlim(np.nanmin(epochs) - 1, np.nanmax(epochs) + 1)
    legend_below(fig)  # the panels share the styles: one legend under them
    n = s.get("n_members")
    over = f" (mean ± std of {n} {'CV folds' if s.get('kind') == 'cv' else 'seeds'})" if n else ""
    fig_title(fig, f"{run.label}: training curves{over}")
    return fig


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


@styled
def compare_figure(runs: list[Run], metric: str = "loss", title: str | None = None) -> Figure:
    """Several runs: val (solid) and train (dashed) per epoch and per second of training.

    Diverged runs keep their color but not the y scale: they leave through the top, marked ✕.
    """
    runs = usable(runs, "compare")
    fig, axes = new_figure(2)
    ax_e, ax_t = axes[0]
    colors = run_colors(len(runs))
    names = run_labels(runs)
    ys, ys_ok, diverged, totals = [], [], [], []
    for run, color in zip(runs, colors):
        epochs = column(run, "epoch")
        times = column(run, "epoch_time")
        seconds = np.nancumsum(times) if times is not None else epochs * np.nan
        for split in ("train", "val"):
            y = column(run, f"{split}_{metric}")
            if y is None:
                continue
            ys.append(y)
            if run.status == "completed":
                ys_ok.append(y)
            lw = 2.0 if split == "val" else 1.3
            ax_e.plot(epochs, y, SPLIT_STYLE[split], color=color, lw=lw, marker="." if len(y) < 3 else None)
            ax_t.plot(seconds, y, SPLIT_STYLE[split], color=color, lw=lw, marker="." if len(y) < 3 else None)
            best = num(run.summary.get("best_epoch"))
            ok = np.isfinite(y)
            if split == "val" and run.status == "completed" and math.isfinite(best) and ok.any():
                yb = np.interp(best, epochs[ok], y[ok])
                ax_e.plot(best, yb, "*", ms=11, color=color, zorder=5)
                ax_t.plot(np.interp(best, epochs, seconds), yb, "*", ms=11, color=color, zorder=5)
        if run.status == "diverged":
            diverged.append((color, epochs[-1], seconds[-1]))
        timed = seconds[np.isfinite(seconds)]
        totals.append((timed.min(), timed.max()) if len(timed) else (math.nan, math.nan))  # first epoch, all
    task = runs[0].summary.get("task")
    name = METRIC_NAMES.get(metric, metric)
    ax_e.set(xlabel="epoch", ylabel=ylabel(metric, task), title=f"{name} per epoch")
    ax_e.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_t.set(xlabel="training time (s, cumulative)", ylabel=ylabel(metric, task), title=f"{name} per second of training")
    ax_t.xaxis.set_major_locator(MaxNLocator(nbins=5))
    first, last = (np.array([t[k] for t in totals], float) for k in (0, 1))
    if np.isfinite(last).all() and (first > 0).all() and last.max() / last.min() >= 8:
        # one run takes ten times longer than another: on a linear axis the fast ones are a smudge at 0
        ax_t.set_xscale("log")
        ax_t.set_xlabel("training time (s, cumulative, log scale)")
    for ax, i in ((ax_e, 1), (ax_t, 2)):
        if metric == "loss":
            auto_yscale(ax, ys_ok or ys)
        if diverged and ys_ok:
            fit_ylim(ax, ys_ok)
            for color, *x in diverged:
                ax.plot(x[i - 1], 0.97, "X", ms=10, color=color, transform=ax.get_xaxis_transform(), clip_on=False)
    handles = [Line2D([], [], color=c, lw=2.2, label=label) for label, c in zip(names, colors)]
    handles += [Line2D([], [], color="0.35", ls="--", label="train"), Line2D([], [], color="0.35", label="validation"),
                Line2D([], [], color="0.35", marker="*", ls="", ms=10, label="best epoch")]
    if diverged:
        handles.append(Line2D([], [], color="0.35", marker="X", ls="", ms=9, label="diverged (off the scale)"))
    legend_below(fig, handles)
    fig_title(fig, title or f"Comparison: train and validation {name}")
    return fig


# ---------------------------------------------------------------------------------------------
# Validation and learning curves: final figures vs one swept value

def stat(runs: list[Run], key: str, section: str | None = None) -> tuple[float, float]:
    """Mean and std of summary[key] (or summary[section][key]) at one x: over the runs there, or
    the run's own <key>_std when it is alone (repeats, CV folds)."""
    found = [(r.summary if section is None else r.summary.get(section) or {}) for r in runs]
    vals = [v for v in (num(d.get(key)) for d in found) if math.isfinite(v)]
    if not vals:
        return math.nan, math.nan
    if len(runs) == 1:
        return vals[0], num(found[0].get(f"{key}_std"))
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else math.nan)


def series_by_x(runs, xs, groups):
    """{group label: (sorted xs, {x: [runs]})}; diverged and failed runs apart: [(x, run)]."""
    out, bad = {}, []
    for run, x, g in zip(runs, xs, groups):
        if run.status != "completed":
            bad.append((x, run))
            continue
        out.setdefault(g, {}).setdefault(x, []).append(run)
    return {g: (sorted(d), d) for g, d in out.items()}, bad


def _frac(ax, x) -> float:
    """Data x → axes fraction (limits and scale must be final)."""
    return ax.transAxes.inverted().transform(ax.transData.transform((x, 0)))[0]


U_NOISE = 0.2  # a rise (fall) of the val curve smaller than this share of its range is noise


def val_shape(val, metric: str = "loss", log: bool = False) -> tuple[bool, int | None]:
    """(U-shaped, index of a clear interior peak or None) of a validation curve sorted by x.

    U-shaped: falls to its best point, then rises (for accuracy: the mirror image); one side may
    be missing (a monotone curve), and rises or falls under U_NOISE of the curve's range are noise.
    A clear peak: an interior point that is worse than both ends by more than that (double descent).
    log: judge the values on a log scale (a log y axis)."""
    val = np.asarray(val, float)
    idx = np.flatnonzero(np.isfinite(val) & ((val > 0) if log else True))
    if len(idx) < 3:
        return True, None
    v = np.log10(val[idx]) if log else val[idx]
    bad = v if metric == "loss" else -v  # higher is worse
    span = bad.max() - bad.min()
    if span <= 0:
        return True, None
    tol = U_NOISE * span
    i = int(np.argmin(bad))
    rise_before = max(float(bad[k] - bad[:k + 1].min()) for k in range(i + 1))
    fall_after = max(float(bad[i:k + 1].max() - bad[k]) for k in range(i, len(bad)))
    if rise_before <= tol and fall_after <= tol:
        return True, None
    p = int(np.argmax(bad))
    peak = idx[p] if 0 < p < len(bad) - 1 and bad[p] - max(bad[0], bad[-1]) > tol else None
    return False, peak


def _headroom(ax, share: float = 0.78) -> None:
    """Raise the top y limit so that the data fill the lower `share` of the axes: the labels at
    the top sit above the curves, never on them."""
    lo, hi = ax.get_ylim()
    if ax.get_yscale() == "log" and lo > 0:
        ax.set_ylim(lo, 10 ** (math.log10(lo) + (math.log10(hi) - math.log10(lo)) / share))
    else:
        ax.set_ylim(lo, lo + (hi - lo) / share)


def _annotate_peak(ax, x: float, y: float, name: str) -> None:
    ax.annotate(name, xy=(x, y), xytext=(0, 22), textcoords="offset points", ha="center", va="bottom",
                fontsize=10, color="0.25", fontweight="bold", zorder=7,
                arrowprops={"arrowstyle": "->", "color": "0.35", "lw": 1.2},
                bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "none", "alpha": 0.8})


def _annotate_sides(ax, xs, best_x, direction: int) -> None:
    """Shade and name the underfitting and overfitting sides of the best point."""
    ax.set_xlim(ax.get_xlim())  # freeze the limits: the labels are placed in axes fractions
    lo, hi = ax.get_xlim()
    left, right = ("underfitting", "overfitting") if direction > 0 else ("overfitting", "underfitting")
    for side, a, b, has_points, name in ((left, lo, best_x, min(xs) < best_x, f"← {left}"),
                                         (right, best_x, hi, max(xs) > best_x, f"{right} →")):
        if not has_points:
            continue
        ax.axvspan(a, b, color=SIDE_SHADE[side], alpha=0.09, lw=0)
        text = f"{name}\n{SIDE_HINT[side]}"
        ax.text((_frac(ax, a) + _frac(ax, b)) / 2, 0.98, text, transform=ax.transAxes, ha="center", va="top",
                fontsize=10, color="0.25", fontweight="bold", linespacing=1.3, zorder=7,
                bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "none", "alpha": 0.75})


def _gap_marks(ax, x, train, val, metric: str) -> None:
    """A double arrow between train and val at x, labelled with the gap as summary.json defines it:
    val − train for the loss, train − val for accuracy / R² (so overfitting is a positive gap)."""
    if math.isfinite(train) and math.isfinite(val):
        gap = val - train if metric == "loss" else train - val
        ax.annotate("", xy=(x, val), xytext=(x, train), arrowprops={"arrowstyle": "<->", "color": "0.3", "lw": 1.2})
        ax.annotate(f"gap {gap:.2g}", xy=(x, (train + val) / 2), xytext=(7, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=10,
                    color="0.25", bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})


@styled
def sweep_figure(runs: list[Run], xs: list[float], xlabel: str, metric: str = "loss", *, groups=None,
                 direction: int = 0, learning: bool = False, title: str | None = None) -> Figure:
    """Final train and val `metric` vs x (one line pair per group): a validation or learning curve.

    direction: +1 when x adds capacity (width, depth, epochs), −1 when it removes capacity
    (L1/L2, dropout), 0 unknown; with one group the sides of the best point are named.
    """
    groups = groups or [""] * len(runs)
    series, bad = series_by_x(runs, xs, groups)
    if not series:
        raise UsageError("no completed run to plot")
    fig, axes = new_figure(1, width=7.4, height=4.6)
    ax = axes[0][0]
    single = len(series) == 1
    colors = run_colors(len(series))
    best_of = np.nanargmin if metric == "loss" else np.nanargmax
    best_point, gaps, curve = None, [], None
    for (g, (gx, at)), color in zip(series.items(), colors):
        x = np.array(gx, float)
        stats = {split: np.array([stat(at[v], f"{split}_{metric}") for v in gx]) for split in ("train", "val")}
        for split in ("train", "val"):
            c = SPLIT_COLOR[split] if single else color
            label = SPLIT_LABEL[split] if single else (f"{g}" if split == "val" else None)
            band_line(ax, x, stats[split][:, 0], stats[split][:, 1], c, SPLIT_STYLE[split], label, marker="o")
        val = stats["val"][:, 0]
        if np.isfinite(val).any() and not learning:
            i = int(best_of(val))
            ax.plot(x[i], val[i], "*", ms=17, color=BEST_COLOR if single else color, zorder=6, mec="white",
                    label=f"best: {fmt_num(x[i])} ({METRIC_NAMES.get(metric, metric)} {val[i]:.3g})" if single else None)
            best_point = x[i]
            curve = (x, val)
        if single and learning:
            gaps = [(x[j], stats["train"][j, 0], val[j]) for j in ({0, len(x) - 1} if len(x) > 1 else {0})]
    auto_xscale(ax, [x for _, (gx, _) in series.items() for x in gx] + [x for x, _ in bad])
    if gaps:  # room right of the last point for its gap label, off the curves
        lo, hi = ax.get_xlim()
        if ax.get_xscale() == "log" and lo > 0:
            ax.set_xlim(lo, 10 ** (math.log10(hi) + 0.14 * (math.log10(hi) - math.log10(lo))))
        elif ax.get_xscale() == "linear":
            ax.set_xlim(lo, hi + 0.14 * (hi - lo))
    for x, tr, va in gaps:
        _gap_marks(ax, x, tr, va, metric)
    if bad:
        what = ", ".join(sorted({r.status for _, r in bad}))
        ax.plot([x for x, _ in bad], [0.03] * len(bad), "X", color=STOP_COLOR, ms=9, ls="",
                transform=ax.get_xaxis_transform(), clip_on=False, label=what)
    task = runs[0].summary.get("task")
    if metric == "loss":
        done = [r for r in runs if r.status == "completed"]
        auto_yscale(ax, [np.array([num(r.summary.get(f"{s}_loss")) for r in done]) for s in ("train", "val")])
    if single and best_point is not None and not learning:
        # name the sides only for a U-shaped val curve: with two minima (double descent) the sides
        # of the lowest one are not "under" and "over" fitting; a clear peak between them is named
        x, val = curve
        u_shaped, peak = val_shape(val, metric, log=ax.get_yscale() == "log")
        if u_shaped and direction:
            _headroom(ax)
            _annotate_sides(ax, next(iter(series.values()))[0], best_point, direction)
        elif peak is not None:
            _headroom(ax)
            _annotate_peak(ax, x[peak], val[peak], "interpolation peak" if direction > 0 else "validation peak")
    if not single:
        ax.plot([], [], "--", color="0.35", label="train (dashed)")
        ax.plot([], [], "-", color="0.35", label="validation (solid)")
    ax.set(xlabel=xlabel, ylabel=ylabel(metric, task, final=True))
    legend_below(fig, max_cols=4)
    kind = "learning curve" if learning else "validation curve"
    what = METRIC_NAMES.get(metric, metric)
    fig_title(fig, title or f"{kind.capitalize()}: final {what} vs {xlabel.split(' (')[0]}")
    return fig
