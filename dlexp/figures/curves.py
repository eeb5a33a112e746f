"""Training curves of one run, and several runs compared epoch by epoch.

Both take Run objects (result files only) and return a matplotlib Figure in the shared look of
style.py: train dashed, validation solid, the best epoch and an early stop marked.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..errors import ResultError, UsageError
from ..labels import number
from ..results.reader import Run
from .style import (BEST_COLOR, KEY_COLOR, METRIC_NAMES, PENALTY_COLOR, STOP_COLOR, SPLIT_COLOR, SPLIT_LABEL,
                    SPLIT_STYLE, auto_yscale, band_line, column, fig_title, finish_panel, fit_ylim, legend_below,
                    new_figure, num, panel_fontsize, plain, point_colors, run_labels, styled, usable, ylabel)


def _mark_epochs(axes, s: dict, epochs, val_loss) -> None:
    """Best epoch (green), early stop (red dash-dot), divergence (red) in every panel."""
    best = num(s.get("best_epoch"))
    mean = "mean " if s.get("n_members") else ""
    for ax in axes:
        if math.isfinite(best):
            restored = ", weights restored" if s.get("restored_best") else ""
            ax.axvline(best, color=BEST_COLOR, ls=":", lw=1.6, label=f"{mean}best epoch {number(best)}{restored}")
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
    parts = [f"{name.upper()} λ={number(reg[name])}" for name in ("l1", "l2") if reg.get(name)]
    return "penalty " + (", ".join(parts) if parts else "term")


@styled
def curves_figure(run: Run, ax=None, metric: str = "loss") -> Figure:
    """Train vs val loss and metric per epoch; best epoch, early stop; penalty panel if any.
    With `ax`, the `metric` panel alone, drawn into that Axes."""
    epochs = column(run, "epoch")
    if epochs is None:
        raise UsageError(f"{run.folder}: no training history to plot (status {run.status})")
    s, task = run.summary, run.summary.get("task")
    penalty = column(run, "penalty")
    has_penalty = penalty is not None and bool(np.any(penalty > 0)) and ax is None
    panels = ["loss", run.metric] + (["penalty"] if has_penalty else []) if ax is None else [metric]
    fig, axes = new_figure(len(panels), ax=ax)
    axes = list(axes[0])
    for panel, what in zip(axes, panels[:2]):
        ys = []
        for split in ("train", "val"):
            y = column(run, f"{split}_{what}")
            if y is not None:
                band_line(panel, epochs, y, column(run, f"{split}_{what}_std"), SPLIT_COLOR[split],
                          SPLIT_STYLE[split], SPLIT_LABEL[split], marker="o" if len(y) < 3 else None)
                ys.append(y)
        panel.set(xlabel="epoch", ylabel=ylabel(what, task, runs=[run]), title=METRIC_NAMES.get(what, what))
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        if what == "loss":
            auto_yscale(panel, ys)
    if has_penalty:
        band_line(axes[2], epochs, penalty, column(run, "penalty_std"), PENALTY_COLOR, "-", "penalty (not in train loss)")
        axes[2].set(xlabel="epoch", ylabel="penalty", title=_penalty_title(run))
        axes[2].xaxis.set_major_locator(MaxNLocator(integer=True))
    _mark_epochs(axes, s, epochs, column(run, "val_loss") if panels[0] == "loss" else None)
    if np.nanmax(epochs) - np.nanmin(epochs) < 2:  # a run of one or two epochs: whole epochs around it
        for panel in axes:
            panel.set_xlim(np.nanmin(epochs) - 1, np.nanmax(epochs) + 1)
    n = s.get("n_members")
    over = f" (mean ± std of {n} {'CV folds' if s.get('kind') == 'cv' else 'seeds'})" if n else ""
    # the panels share the styles: one legend under them
    finish_panel(fig, ax, f"{run.label}: training curves{over}" if ax is None
                 else f"{run.label}: {METRIC_NAMES.get(metric, metric)}{over}")
    return fig


def _best_and_stop(run: Run, epochs, y) -> tuple[tuple | None, tuple | None]:
    """(epoch, y) of the run's best epoch and of its early stop on the curve `y`, or None."""
    ok = np.isfinite(y)
    if run.status != "completed" or not ok.any():
        return None, None
    s = run.summary
    best = num(s.get("best_epoch"))
    # repeats and folds record no one stop epoch: their members stopped after epochs_run on average
    stop = num(s.get("stopped_epoch") or (s.get("epochs_run") if s.get("n_members") else None)) \
        if s.get("stopped_early") else math.nan
    at = [(e, float(np.interp(e, epochs[ok], y[ok]))) if math.isfinite(e) else None for e in (best, stop)]
    return at[0], at[1]


@styled
def compare_figure(runs: list[Run], metric: str = "loss", title: str | None = None,
                   per_second: bool = False, ax=None) -> Figure:
    """Several runs: val (solid) and train (dashed) per epoch; with `per_second`, a second panel
    against cumulative training time (on small nets mostly timer noise, so only on request).

    Each run's best epoch is a star in its colour edged in black (a star in the line's own colour
    vanishes into it), an early stop a black bar across the val line where training ended.
    Diverged runs keep their color but not the y scale: they leave through the top, marked ✕.
    """
    runs = usable(runs, "compare")
    given = ax  # a caller's Axes (the Python API), or None: a figure of our own
    fig, axes = new_figure(2 if per_second else 1, width=5.2 if per_second else 8.0, height=3.9 if per_second else 4.4,
                           ax=given)
    ax_e, ax_t = axes[0][0], (axes[0][1] if per_second else None)
    colors = point_colors(runs)
    names = run_labels(runs)
    ys, ys_ok, diverged, totals = [], [], [], []
    marks = {"best": False, "stop": False}
    for run, color in zip(runs, colors):
        epochs = column(run, "epoch")
        times = column(run, "epoch_time")
        seconds = np.nancumsum(times) if times is not None else epochs * np.nan
        panels = [(ax_e, epochs)] + ([(ax_t, seconds)] if per_second else [])
        for split in ("train", "val"):
            y = column(run, f"{split}_{metric}")
            if y is None:
                continue
            ys.append(y)
            if run.status == "completed":
                ys_ok.append(y)
            lw = 2.0 if split == "val" else 1.3
            for ax, x in panels:
                ax.plot(x, y, SPLIT_STYLE[split], color=color, lw=lw, marker="." if len(y) < 3 else None)
            if split != "val":
                continue
            best, stop = _best_and_stop(run, epochs, y)
            for ax, x in panels:
                on = (lambda e: e) if x is epochs else (lambda e: float(np.interp(e, epochs, seconds)))
                if stop is not None:
                    ax.plot(on(stop[0]), stop[1], "|", ms=16, mew=2.6, color="black", zorder=6, gid="early-stop")
                if best is not None:
                    ax.plot(on(best[0]), best[1], "*", ms=15, color=color, mec="black", mew=1.1, zorder=7,
                            gid="best-epoch")
            marks["best"] |= best is not None
            marks["stop"] |= stop is not None
        if run.status == "diverged":
            diverged.append((color, epochs[-1], seconds[-1]))
        timed = seconds[np.isfinite(seconds)]
        totals.append((timed.min(), timed.max()) if len(timed) else (math.nan, math.nan))  # first epoch, all
    task = runs[0].summary.get("task")
    name = METRIC_NAMES.get(metric, metric)
    ax_e.set(xlabel="epoch", ylabel=ylabel(metric, task, runs=runs), title=f"{name} per epoch" if per_second else "")
    ax_e.xaxis.set_major_locator(MaxNLocator(integer=True))
    if per_second:
        ax_t.set(xlabel="training time (s, cumulative)", ylabel=ylabel(metric, task, runs=runs),
                 title=f"{name} per second of training")
        ax_t.xaxis.set_major_locator(MaxNLocator(nbins=5))
        first, last = (np.array([t[k] for t in totals], float) for k in (0, 1))
        if np.isfinite(last).all() and (first > 0).all() and last.max() / last.min() >= 8:
            # one run takes ten times longer than another: on a linear axis the fast ones are a smudge at 0
            ax_t.set_xscale("log")
            ax_t.set_xlabel("training time (s, cumulative, log scale)")
    for ax, i in ((ax_e, 1), (ax_t, 2)):
        if ax is None:
            continue
        if metric == "loss":
            auto_yscale(ax, ys_ok or ys)
        if diverged and ys_ok:
            fit_ylim(ax, ys_ok)
            for color, *x in diverged:
                ax.plot(x[i - 1], 0.97, "X", ms=10, color=color, transform=ax.get_xaxis_transform(), clip_on=False)
    handles = [Line2D([], [], color=c, lw=2.2, label=label) for label, c in zip(names, colors)]
    handles += [Line2D([], [], color=KEY_COLOR, ls="--", label="train"), Line2D([], [], color=KEY_COLOR, label="validation")]
    if marks["best"]:
        handles.append(Line2D([], [], color="white", marker="*", ls="", ms=13, mec="black", mew=1.1, label="best epoch"))
    if marks["stop"]:
        handles.append(Line2D([], [], color="black", marker="|", ls="", ms=13, mew=2.4, label="early stop"))
    if diverged:
        handles.append(Line2D([], [], color=KEY_COLOR, marker="X", ls="", ms=9, label="diverged (off the scale)"))
    title = title or f"Comparison: train and validation {name}"
    if given is None:
        legend_below(fig, handles)
        fig_title(fig, title)
    else:  # a caller's Axes: the legend and title inside it
        given.legend(handles=handles, labels=[plain(h.get_label()) for h in handles], fontsize=panel_fontsize(given),
                     framealpha=0.8)
        given.set_title(plain(title), fontsize="medium")
    return fig
