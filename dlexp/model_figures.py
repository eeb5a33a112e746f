"""Figures of a trained model's inside: Dense weight histograms, pre-activation statistics
(internal covariate shift) and decision regions. Same look and rules as figures.py: Run objects
in, a matplotlib Figure out, result files only (model.npz, activations.csv, config.yaml).
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from .config import get_dotted
from .errors import ResultError, UsageError
from .figures import PALETTE, auto_xscale, band_line, new_figure, num, run_colors, series_by_x, stat, styled
from .results import Run, warn

MAX_OVERLAID = 6  # weight histograms drawn over each other in one panel
NEAR_ZERO = 1e-3  # |w| below this counts as near zero, as summary.json's weights.near_zero_fraction


def _dense(state: dict) -> list[np.ndarray]:
    out, i = [], 0
    while f"dense{i}.W" in state:
        out.append(state[f"dense{i}.W"])
        i += 1
    return out


@styled
def weights_figure(runs: list[Run], reg_key: str | None = None, title: str | None = None) -> Figure:
    """Histograms of each Dense layer's weights (runs overlaid, log counts; the output layers share
    the last panel); with a sweep over a penalty strength `reg_key`, near-zero share vs λ."""
    models = []
    for run in runs:
        try:
            Ws = _dense(run.model())
        except ResultError as exc:
            warn(f"skipping {run.run_id}: {exc}")
            continue
        if Ws:
            models.append((run, Ws))
    if not models:
        raise UsageError("no run with readable weights (model.npz)")
    n_layers = max(len(Ws) for _, Ws in models)
    if len(models) > MAX_OVERLAID:
        warn(f"weights: histograms of {MAX_OVERLAID} of the {len(models)} runs, evenly spread")
    near = reg_key is not None and len(models) >= 2
    n_panels = n_layers + near
    fig, axes = new_figure(min(n_panels, 4), math.ceil(n_panels / 4), width=4.4, height=3.8)
    axes = list(axes.ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    # at most MAX_OVERLAID histograms per panel, evenly spread over the runs (all feed the λ panel)
    shown = [models[i] for i in sorted({round(k) for k in np.linspace(0, len(models) - 1, min(len(models), MAX_OVERLAID))})]
    colors = run_colors(len(shown))
    for i, ax in enumerate(axes[:n_layers]):
        # panel i: hidden layer i of every run deep enough; the last panel: every run's output layer
        last = i == n_layers - 1
        layer = [(run, Ws[-1] if last else Ws[i], c) for (run, Ws), c in zip(shown, colors) if last or i < len(Ws) - 1]
        if not layer:
            ax.set_visible(False)
            continue
        m = max(float(np.abs(W).max()) for _, W, _ in layer) or 1.0
        edges = np.linspace(-m, m, 62)  # 61 bins: the middle one is centred on 0
        for run, W, c in layer:
            counts, _ = np.histogram(W, edges)
            ax.stairs(counts, edges, color=c, lw=1.6, label=f"{run.label} ({np.mean(np.abs(W) < NEAR_ZERO):.0%} ≈ 0)")
        ax.set_yscale("symlog", linthresh=1, linscale=0.4)
        ax.set_ylim(bottom=0)
        shapes = sorted({"×".join(str(d) for d in W.shape) for _, W, _ in layer})
        shape = shapes[0] if len(shapes) == 1 else "various shapes"
        ax.set(xlabel="weight value", ylabel="count (log scale)",
               title=f"Dense {'output layer' if last else f'layer {i + 1}'} ({shape})")
        ax.legend(loc="upper right", fontsize=8)
    if near:
        ax = axes[n_layers]
        xs = [num(r.point[reg_key] if reg_key in r.point else get_dotted(r.config, reg_key)) for r, _ in models]
        series, _ = series_by_x([r for r, _ in models], xs, [""] * len(models))
        gx, at = series.get("", ([], {}))
        for key, style, label in (("near_zero_fraction", "-", f"near zero (|w| < {NEAR_ZERO:g})"),
                                  ("zero_fraction", "--", "exactly zero")):
            stats = np.array([stat(at[x], key, section="weights") for x in gx]).reshape(-1, 2)
            if key == "zero_fraction" and not np.nan_to_num(stats[:, 0]).any():
                continue
            band_line(ax, np.array(gx, float), stats[:, 0], stats[:, 1], PALETTE[1], style, label, marker="o")
        auto_xscale(ax, gx)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(xlabel=f"λ ({reg_key})", ylabel="share of Dense weights", title="sparsity vs penalty strength")
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title or "Dense weights per layer")
    return fig


def _activation_rows(run: Run) -> list[dict]:
    try:
        rows = run.activations
        if not rows and run.summary.get("members"):
            rows = run.members()[0].activations  # repeats / CV: the first member's
    except ResultError as exc:
        warn(f"skipping {run.run_id}: {exc}")
        return []
    return rows


@styled
def activations_figure(runs: list[Run], title: str | None = None) -> Figure:
    """Mean and std of each hidden layer's pre-activation per epoch, one column per run."""
    found = [(run, rows) for run in runs if (rows := _activation_rows(run))]
    if not found:
        raise UsageError("no run has activations.csv: train with `train.track_activations: true`")
    for run in runs:
        if all(run is not r for r, _ in found):
            warn(f"skipping {run.run_id} ({run.label}): no activations.csv")
    fig, axes = new_figure(len(found), nrows=2, width=4.6, height=3.1, sharex="col", sharey="row")
    for j, (run, rows) in enumerate(found):
        layers = sorted({int(r["layer"]) for r in rows})
        colors = [matplotlib.colormaps["viridis"](t) for t in np.linspace(0.0, 0.85, max(len(layers), 1))]
        for layer, c in zip(layers, colors):
            pts = sorted((r["epoch"], r["mean"], r["std"]) for r in rows if int(r["layer"]) == layer)
            e, mean, std = (np.array([num(p[k]) for p in pts]) for k in range(3))
            axes[0][j].plot(e, mean, color=c, marker="." if len(e) < 30 else None, label=f"hidden layer {layer + 1}")
            axes[1][j].plot(e, std, color=c, marker="." if len(e) < 30 else None, label=f"hidden layer {layer + 1}")
        try:
            norm = (run.config.get("model") or {}).get("norm", "?")
        except ResultError:
            norm = "?"
        axes[0][j].set_title(f"{run.label}\nnorm: {norm}")
        axes[1][j].set_xlabel("epoch (0 = at initialization)")
        axes[1][j].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[0][j].legend(loc="best", fontsize=8)
    axes[0][0].set_ylabel("mean of pre-activation")
    axes[1][0].set_ylabel("std of pre-activation")
    fig.suptitle(title or "Internal covariate shift: hidden pre-activations on a fixed probe batch")
    return fig


@styled
def boundary_figure(runs: list[Run], title: str | None = None, resolution: int = 200) -> Figure:
    """Predicted class regions of 2-D classification runs, training (●) and validation (△) points."""
    from .inference import decision_plane

    planes = []
    for run in runs:
        try:
            planes.append((run, decision_plane(run)))
        except ResultError as exc:
            warn(f"skipping {run.run_id}: {exc}")
    if not planes:
        raise UsageError("no run with readable weights to draw a decision boundary")
    ncols = min(len(planes), 4)
    nrows = math.ceil(len(planes) / ncols)
    fig, axes = new_figure(ncols, nrows, width=4.3, height=4.1)
    flat = list(axes.ravel())
    n_classes = 2
    for ax, (run, p) in zip(flat, planes):
        pts = np.vstack([p.X_train, p.X_val])
        lo, hi = pts.min(axis=0) - 0.5, pts.max(axis=0) + 0.5
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
        probs = p.predict_proba(np.c_[gx.ravel(), gy.ravel()])
        n_classes = max(n_classes, probs.shape[1])
        k = probs.shape[1]
        cls = probs.argmax(axis=1).reshape(gx.shape)
        ax.contourf(gx, gy, cls, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(PALETTE[:k]), alpha=0.28)
        field, levels = (probs[:, 1].reshape(gx.shape), [0.5]) if k == 2 else (cls, np.arange(k - 1) + 0.5)
        if field.min() < levels[0] < field.max() or (k > 2 and cls.min() != cls.max()):
            ax.contour(gx, gy, field, levels=levels, colors="k", linewidths=1.3)
        colors = np.array(PALETTE)
        ax.scatter(*p.X_train.T, c=colors[p.y_train % len(PALETTE)], s=18, edgecolors="white", linewidths=0.4)
        ax.scatter(*p.X_val.T, facecolors="none", edgecolors=colors[p.y_val % len(PALETTE)], marker="^", s=26,
                   linewidths=1.1)
        unit = " (standardized)" if p.standardized else ""
        m = p.summary.get("metric", "acc")
        ax.set(xlabel=f"{p.feature_names[0]}{unit}", ylabel=f"{p.feature_names[1]}{unit}", xlim=(lo[0], hi[0]),
               ylim=(lo[1], hi[1]), title=f"{run.label}\ntrain {m} {num(p.summary.get('train_' + m)):.2f} · "
                                          f"val {m} {num(p.summary.get('val_' + m)):.2f}")
        ax.grid(False)
    for ax in flat[len(planes):]:
        ax.set_visible(False)
    names = planes[0][1].class_names
    handles = [Patch(color=PALETTE[c % len(PALETTE)], alpha=0.5, label=f"class {names[c] if c < len(names) else c}")
               for c in range(n_classes)]
    handles += [Line2D([], [], marker="o", ls="", color="0.4", label="training points"),
                Line2D([], [], marker="^", ls="", mfc="none", color="0.4", label="validation points"),
                Line2D([], [], color="k", lw=1.3, label="decision boundary")]
    fig.legend(handles=handles, loc="outside right upper")
    fig.suptitle(title or "Decision boundaries")
    return fig
