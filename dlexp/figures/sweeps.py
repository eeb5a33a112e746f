"""Validation and learning curves: a sweep's final train and val figures vs one swept value.

Same look and rules as the other figures (style.py's helpers). Bands are the spread over repeats
(or over the runs at one x); a log x-axis is chosen for log-spaced values; when the val curve
is U-shaped (`val_shape`), the underfitting and overfitting sides of its best point are shaded
and named, and the train–val gap is marked.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
from matplotlib.figure import Figure

from ..errors import UsageError
from .style import (BEST_COLOR, METRIC_NAMES, SIDE_HINT, SIDE_SHADE, SPLIT_COLOR, SPLIT_LABEL, SPLIT_STYLE,
                      STOP_COLOR, auto_xscale, auto_yscale, band_line, fig_title, legend_below, new_figure,
                      num, run_colors, styled, ylabel)
from ..results.reader import Run
from ..labels import number

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
                    label=f"best: {number(x[i])} ({METRIC_NAMES.get(metric, metric)} {val[i]:.3g})" if single else None)
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
    ax.set(xlabel=xlabel, ylabel=ylabel(metric, task, final=True, runs=runs))
    legend_below(fig, max_cols=4)
    kind = "learning curve" if learning else "validation curve"
    what = METRIC_NAMES.get(metric, metric)
    fig_title(fig, title or f"{kind.capitalize()}: final {what} vs {xlabel.split(' (')[0]}")
    return fig
