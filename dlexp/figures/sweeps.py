"""Validation and learning curves: a sweep's final train and val figures vs one swept value.

Same look and rules as the other figures (style.py's helpers). Bands are the spread over repeats
(or over the runs at one x); a log x-axis is chosen for log-spaced values. A validation curve
shades each point with the label `dlexp diagnose` gives it and names the interpolation peak the
sweep's diagnosis finds (analysis.verdict): the figure says what the diagnosis says, no more.
A learning curve marks the train–val gap at its ends.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..errors import UsageError
from .style import (BEST_COLOR, KEY_COLOR, LABEL_HINT, LABEL_SHADE, METRIC_NAMES, SPLIT_COLOR, SPLIT_LABEL, SPLIT_STYLE,
                      STOP_COLOR, auto_xscale, auto_yscale, band_line, fig_title, finish_panel, legend_below, new_figure,
                      num, run_colors, run_labels, styled, ylabel)
from ..analysis.verdict import Verdict
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


def _headroom(ax, share: float = 0.78, log_share: float = 0.86) -> None:
    """Raise the top y limit so that the data fill the lower `share` of the axes: the labels at
    the top sit above the curves, never on them. A log axis spanning decades needs less of its
    height for the same labels, and a linear share would run it a decade or two past the data
    (to 10² for losses below 5)."""
    lo, hi = ax.get_ylim()
    if ax.get_yscale() == "log" and lo > 0:
        ax.set_ylim(lo, 10 ** (math.log10(lo) + (math.log10(hi) - math.log10(lo)) / log_share))
    else:
        ax.set_ylim(lo, lo + (hi - lo) / share)


def _annotate_peak(ax, x: float, y: float, name: str) -> None:
    ax.annotate(name, xy=(x, y), xytext=(0, 22), textcoords="offset points", ha="center", va="bottom",
                fontsize=10, color="0.25", fontweight="bold", zorder=7,
                arrowprops={"arrowstyle": "->", "color": "0.35", "lw": 1.2},
                bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "none", "alpha": 0.8})


def _spans(ax, xs: list[float]) -> list[tuple[float, float]]:
    """(left, right) of the stretch of x axis each point owns: from half-way to its left
    neighbour to half-way to its right one (in the axis' own scale), the ends out to the limits."""
    lo, hi = ax.get_xlim()
    log = ax.get_xscale() == "log"
    mid = [math.sqrt(a * b) if log and a > 0 and b > 0 else (a + b) / 2 for a, b in zip(xs, xs[1:])]
    return list(zip([lo] + mid, mid + [hi]))


def _shade_labels(ax, points) -> list[str]:
    """Shade each point's stretch with its diagnosis label and name each stretch wide enough to
    hold the name; returns the labels shaded (for the legend). Points whose runs disagree stay
    unshaded. Each shade is gid'ed "diagnosis:<label>" so that a test can read what it says."""
    ax.set_xlim(ax.get_xlim())  # freeze the limits: the spans and labels are placed against them
    runs: list[tuple[str, float, float]] = []  # merged (label, left, right)
    for p, (a, b) in zip(points, _spans(ax, [p.x for p in points])):
        if p.label is None:
            continue
        if runs and runs[-1][0] == p.label and runs[-1][2] == a:
            runs[-1] = (p.label, runs[-1][1], b)
        else:
            runs.append((p.label, a, b))
    for i, (label, a, b) in enumerate(runs):
        ax.axvspan(a, b, color=LABEL_SHADE[label], alpha=0.12, lw=0, gid=f"diagnosis:{label}", zorder=0)
        fa, fb = _frac(ax, a), _frac(ax, b)
        # the name, and its hint where there is room; a stretch too narrow for the name is left to
        # the legend; the first and last names are anchored to the inner edges of the axes
        if fb - fa < 0.14:
            continue
        hint = LABEL_HINT.get(label, "") if fb - fa >= 0.3 else ""
        text = label.replace("_", " ") + (f"\n{hint}" if hint else "")
        x, ha = ((fa + 0.01, "left") if i == 0 and len(runs) > 1 else
                 (fb - 0.01, "right") if i == len(runs) - 1 and len(runs) > 1 else ((fa + fb) / 2, "center"))
        ax.text(x, 0.98, text, transform=ax.transAxes, ha=ha, va="top",
                fontsize=9.5, color="0.25", fontweight="bold", linespacing=1.3, zorder=7,
                bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "none", "alpha": 0.75})
    return list(dict.fromkeys(label for label, _, _ in runs))


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
                 verdict: Verdict | None = None, learning: bool = False, title: str | None = None,
                 categories: dict[float, str] | None = None, ax=None) -> Figure:
    """Final train and val `metric` vs x (one line pair per group): a validation or learning curve.

    verdict: the sweep's diagnosis along x; with one group its labels shade the points and its
    interpolation peak, if any, is named. categories: a tick label per x when the xs are only
    positions (architectures: "32×2" is neither 64 units nor 2 layers alone).
    """
    groups = groups or [""] * len(runs)
    series, bad = series_by_x(runs, xs, groups)
    if not series:
        raise UsageError("no completed run to plot")
    given = ax  # a caller's Axes (the Python API), or None: a figure of our own
    fig, axes = new_figure(1, width=7.4, height=4.6, ax=given)
    ax = axes[0][0]
    single = len(series) == 1
    colors = run_colors(len(series))
    best_of = np.nanargmin if metric == "loss" else np.nanargmax
    gaps, curve = [], None
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
            shown = categories[x[i]] if categories else number(x[i])
            ax.plot(x[i], val[i], "*", ms=17, color=BEST_COLOR if single else color, zorder=6, mec="white",
                    label=f"best: {shown} ({METRIC_NAMES.get(metric, metric)} {val[i]:.3g})" if single else None)
            curve = (x, val)
        if single and learning:
            gaps = [(x[j], stats["train"][j, 0], val[j]) for j in ({0, len(x) - 1} if len(x) > 1 else {0})]
    if categories:
        ax.set_xticks(sorted(categories), [categories[x] for x in sorted(categories)])
        ax.set_xlim(min(categories) - 0.5, max(categories) + 0.5)
    else:
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
    if single and not learning and verdict is not None and verdict.points and curve is not None:
        # the shading and the peak come from the sweep's diagnosis (analysis.verdict), nothing else
        _headroom(ax)
        shaded = _shade_labels(ax, verdict.points)
        for label in shaded:
            ax.add_patch(Rectangle((0, 0), 0, 0, color=LABEL_SHADE[label], alpha=0.35, lw=0,
                                   label=f"{label.replace('_', ' ')} (dlexp diagnose)"))
        if verdict.peak is not None:
            x, val = curve
            i = int(np.argmin(np.abs(x - verdict.peak.x)))
            _annotate_peak(ax, x[i], val[i], verdict.peak_name + (" (of the val loss)" if metric != "loss" else ""))
    if not single and any(len(gx) > 1 for gx, _ in series.values()):  # the keys only where lines are drawn
        ax.plot([], [], "--", color=KEY_COLOR, label="train (dashed)")
        ax.plot([], [], "-", color=KEY_COLOR, label="validation (solid)")
    ax.set(xlabel=xlabel, ylabel=ylabel(metric, task, final=True, runs=runs))
    kind = "learning curve" if learning else "validation curve"
    what = METRIC_NAMES.get(metric, metric)
    finish_panel(fig, given, title or f"{kind.capitalize()}: final {what} vs {xlabel.split(' (')[0]}", max_cols=4)
    return fig


@styled
def scatter_figure(runs: list[Run], axes_of: list[tuple[list[float], str, bool | None]], metric: str = "loss", *,
                   groups=None, title: str | None = None) -> Figure:
    """Final val `metric` of every run against each swept key, one panel per key: the figure of a
    random search, whose points share no grid (a line through them would join unrelated runs).

    axes_of: (x per run, axis label, log) per panel; log True/False as the key was sampled
    (log-uniform or uniform), None to choose from the values. groups: a label per run (the grid
    keys swept beside the random ones), one colour each. The best run is starred in every panel.
    """
    groups = groups or [""] * len(runs)
    done = [i for i, r in enumerate(runs) if r.status == "completed" and math.isfinite(num(r.summary.get(f"val_{metric}")))]
    if not done:
        raise UsageError("no completed run to plot")
    ncols = min(len(axes_of), 3)
    nrows = math.ceil(len(axes_of) / ncols)
    fig, grid = new_figure(ncols, nrows, width=4.6, height=3.8, sharey=True)
    panels = list(grid.ravel())
    names = list(dict.fromkeys(groups[i] for i in done))
    colors = dict(zip(names, run_colors(len(names)))) if len(names) > 1 else {names[0]: SPLIT_COLOR["val"]}
    val = np.array([num(r.summary.get(f"val_{metric}")) for r in runs])
    best = max(done, key=lambda i: val[i] * (-1 if metric == "loss" else 1))
    for ax, (xs, label, log) in zip(panels, axes_of):
        x = np.array(xs, float)
        for g in names:
            at = [i for i in done if groups[i] == g]
            ax.scatter(x[at], val[at], s=46, color=colors[g], edgecolors="white", linewidths=0.6, zorder=4,
                       label=g or SPLIT_LABEL["val"])
        ax.plot(x[best], val[best], "*", ms=17, color=BEST_COLOR, mec="black", mew=1.0, zorder=6,
                label=f"best run ({METRIC_NAMES.get(metric, metric)} {val[best]:.3g})")
        bad = [i for i, r in enumerate(runs) if i not in done]
        if bad:
            ax.plot(x[bad], [0.03] * len(bad), "X", color=STOP_COLOR, ms=9, ls="", transform=ax.get_xaxis_transform(),
                    clip_on=False, label=", ".join(sorted({runs[i].status for i in bad})))
        if log is None:
            auto_xscale(ax, x[np.isfinite(x)])
        elif log:
            ax.set_xscale("log")
        ax.set_xlabel(label)
    for ax in panels[len(axes_of):]:
        ax.set_visible(False)
    for row in grid:
        row[0].set_ylabel(ylabel(metric, runs[0].summary.get("task"), final=True, runs=runs).replace(
            "final ", "final validation "))
    if metric == "loss":
        auto_yscale(panels[0], [val[done]])
    legend_below(fig, max_cols=4)
    fig_title(fig, title or f"Random search: final validation {METRIC_NAMES.get(metric, metric)} vs each swept key")
    return fig


@styled
def seeds_figure(runs: list[Run], metric: str = "loss", *, title: str | None = None, ax=None) -> Figure:
    """Each seed's (member's) final train and val `metric`, a dot each, beside its point's mean (a
    bar): where mean ± std hides that seeds split between outcomes (two minima, a diverged seed),
    this shows how many went which way. A run without members is one dot per split."""
    given = ax
    fig, axes = new_figure(1, width=max(6.0, 1.5 * len(runs) + 2.0), height=4.6, ax=given)
    ax = axes[0][0]
    finals, off_scale, labelled = [], 0, set()
    for i, run in enumerate(runs):
        members = run.members() or [run]
        for split, dx in (("train", -0.14), ("val", 0.14)):
            v = np.array([num(m.summary.get(f"{split}_{metric}")) for m in members])
            ok = v[np.isfinite(v)]
            off_scale += len(v) - len(ok)
            if not len(ok):
                continue
            finals.append(ok)
            face = "white" if split == "train" else SPLIT_COLOR[split]
            # seeds side by side in the order of their values, so that equal finals stay countable
            spread = np.empty(len(ok))
            spread[np.argsort(ok, kind="stable")] = np.linspace(-0.07, 0.07, len(ok)) if len(ok) > 1 else 0.0
            ax.plot(i + dx + spread, ok, "o", ms=7, mfc=face, mec=SPLIT_COLOR[split], mew=1.6, alpha=0.85,
                    label=None if split in labelled else f"{SPLIT_LABEL[split]}, one dot per seed", zorder=3)
            labelled.add(split)
            ax.plot([i + dx - 0.11, i + dx + 0.11], [ok.mean()] * 2, color=SPLIT_COLOR[split], lw=2.6, zorder=4)
    if not finals:
        raise UsageError("no run with a finite final figure to plot")
    names = [label.replace(", ", "\n") for label in run_labels(runs)]  # one swept key a line
    ax.set_xticks(range(len(runs)), names)
    ax.set_xlim(-0.6, len(runs) - 0.4)
    ax.grid(axis="x", visible=False)
    auto_yscale(ax, finals)
    ax.set_ylabel(ylabel(metric, runs[0].summary.get("task"), final=True, runs=runs))
    ax.plot([], [], color=KEY_COLOR, lw=2.6, label="mean over seeds")
    if off_scale:
        ax.plot([], [], "x", color=KEY_COLOR, label=f"{off_scale} without a finite final figure (diverged, failed)")
    finish_panel(fig, given, title or f"final {METRIC_NAMES[metric]} of each seed", max_cols=4)
    return fig
