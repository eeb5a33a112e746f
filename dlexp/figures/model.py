"""Figures of a trained model's inside: Dense weight histograms, pre-activation statistics
(internal covariate shift) and decision regions. Same look and rules as the other figures (style.py): Run objects
in, a matplotlib Figure out, result files only (model.npz, activations.csv, config.yaml).
"""

from __future__ import annotations

import math
import textwrap

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter
from ..errors import ResultError, UsageError
from .style import (PALETTE, STOP_COLOR, auto_xscale, band_line, fig_title, fit_ylim, legend_below,
                      new_figure, num, plain, run_colors, run_labels, styled)
from ..results.reader import Run, warn
from .sweeps import series_by_x, stat
from .. import dotted
from ..analysis.inference import decision_plane
from ..nn.model import dense_arrays
from ..labels import number

MAX_RUNS = 6  # weight histograms: runs that stay legible in one figure
MAX_WIDTH = 13.3  # inches: 2,000 px at choose.DPI; wider small multiples wrap into rows of runs
NEAR_ZERO = 1e-3  # |w| below this counts as near zero, as summary.json's weights.near_zero_fraction
NEAR_TEXT = number(NEAR_ZERO, sci=True)  # "1e-3"
COLUMN_CHARS = 24  # characters of a bold 11 pt title a 2.5-inch column holds
ZERO_COLOR = "black"  # the exact zeros: a bar of their own at 0, in no run's color


def _dense(state: dict) -> list[np.ndarray]:
    """The W (in, out) of every Dense layer, in forward order."""
    return [W for W, _ in dense_arrays(state)]


def _share(p: float) -> str:
    """A share as a whole percent, "<1 %" rather than a misleading "0 %"."""
    return "0 %" if p == 0 else "<1 %" if p < 0.005 else ">99 %" if 0.995 <= p < 1 else f"{p:.0%}".replace("%", " %")


def _layer_name(i: int, n_layers: int) -> str:
    return "output layer" if i == n_layers - 1 else f"layer {i + 1}"


@styled
def weights_figure(runs: list[Run], reg_key: str | None = None, title: str | None = None) -> Figure:
    """Small multiples of the Dense weights: one column per run (its color, titled with its label),
    one row per layer (the output layers share the last row) with the x axis shared along a row.
    Nonzero weights are a histogram (log counts); the exact zeros a black bar of their own at 0,
    and each panel says "x % exactly 0 · y % |w|<1e-3". With a sweep over a penalty strength
    `reg_key`, a panel on the right draws the near-zero share vs λ (over every run)."""
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
    if len(models) > MAX_RUNS:
        warn(f"weights: histograms of {MAX_RUNS} of the {len(models)} runs, evenly spread")
    near = reg_key is not None and len(models) >= 2
    # at most MAX_RUNS columns, evenly spread over the runs (all feed the λ panel)
    shown = [models[i] for i in sorted({round(k) for k in np.linspace(0, len(models) - 1, min(len(models), MAX_RUNS))})]
    names = run_labels([r for r, _ in shown])
    colors = run_colors(len(shown))
    n_rows, n_cols = max(len(Ws) for _, Ws in shown), len(shown)
    # runs per row of the figure: as many 2.5-inch columns as MAX_WIDTH holds beside the λ panel,
    # the runs spread evenly over the rows (6 runs: 3 + 3, not 5 + 1)
    fits = max(1, int((MAX_WIDTH - 0.6 - (3.9 if near else 0)) // 2.5))
    blocks = math.ceil(n_cols / fits)
    per_row = math.ceil(n_cols / blocks)
    width = max(2.5 * per_row + (3.9 if near else 0) + 0.6, 7.5)
    fig = Figure(figsize=(width, 2.35 * n_rows * blocks + 1.3), layout="constrained")
    gs = fig.add_gridspec(n_rows * blocks, per_row + near, width_ratios=[1] * per_row + ([1.45] if near else []))
    grid = np.empty((n_rows, n_cols), dtype=object)  # [layer, run], wherever the run's block puts it
    for b in range(blocks):
        for i in range(n_rows):
            for j in range(b * per_row, min(n_cols, (b + 1) * per_row)):
                grid[i, j] = fig.add_subplot(gs[b * n_rows + i, j % per_row], sharex=grid[i, 0] if j else None,
                                             sharey=grid[i, 0] if j else None)
    for i in range(n_rows):
        # row i: hidden layer i of every run deep enough; the last row: every run's output layer
        last = i == n_rows - 1
        cells = [(j, Ws[-1] if last else Ws[i]) for j, (run, Ws) in enumerate(shown) if last or i < len(Ws) - 1]
        if not cells:
            for ax in grid[i]:
                ax.set_visible(False)
            continue
        m = max(float(np.abs(W).max()) for _, W in cells) or 1.0
        edges = np.linspace(-m, m, 42)  # 41 bins: the middle one is centred on 0
        top = 1
        for j, W in cells:
            ax = grid[i, j]
            w = np.ravel(W)
            zeros = int(np.sum(w == 0))
            counts, _ = np.histogram(w[w != 0], edges)
            ax.stairs(counts, edges, color=colors[j], fill=True, alpha=0.75, lw=0)
            ax.stairs(counts, edges, color=colors[j], lw=1.1)
            if zeros:
                ax.bar(0.0, zeros, width=(edges[1] - edges[0]) * 1.2, color=ZERO_COLOR, zorder=4)
            top = max(top, int(counts.max()), zeros)
            shares = f"{_share(zeros / w.size)} exactly 0\n{_share(np.mean(np.abs(w) < NEAR_ZERO))} |w|<{NEAR_TEXT}"
            ax.text(0.5, 0.97, shares,
                    transform=ax.transAxes, ha="center", va="top", fontsize=10, color="0.15", zorder=6,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85})
        shapes = sorted({"×".join(str(d) for d in W.shape) for _, W in cells})
        # the first run of each block with this layer carries the row's y axis
        firsts = {min(j for j, _ in cells if j // per_row == b) for b in {j // per_row for j, _ in cells}}
        row = grid[i, cells[0][0]]
        row.set_yscale("symlog", linthresh=1, linscale=0.4)
        row.set_ylim(0, top * 40)  # a decade and a half above the tallest bar: room for the text
        row.yaxis.set_major_locator(matplotlib.ticker.SymmetricalLogLocator(linthresh=1, base=10))
        for j in firsts:
            grid[i, j].set_ylabel(f"{_layer_name(i, n_rows)}\n({shapes[0] if len(shapes) == 1 else 'various shapes'})"
                                  "\ncount")
        for j in range(n_cols):
            ax = grid[i, j]
            if j not in firsts:
                ax.tick_params(labelleft=False)
            if not any(j == c for c, _ in cells):
                ax.set_visible(False)  # this run has no such layer
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, symmetric=True))
            if last:
                ax.set_xlabel("weight value")
    for j, name in enumerate(names):  # a long label on two lines: never into the next column's title
        top_cell = next(ax for ax in grid[:, j] if ax.get_visible())
        top_cell.set_title(plain(textwrap.fill(name, COLUMN_CHARS, break_long_words=False)), color=colors[j],
                           fontsize=11, fontweight="bold")
    handles = [Patch(color="0.55", alpha=0.75, label="weights ≠ 0 (one color per run)"),
               Patch(color=ZERO_COLOR, label="weights exactly 0")]
    if near:
        ax = fig.add_subplot(gs[:, per_row])
        xs = [num(r.point[reg_key] if reg_key in r.point else dotted.get(r.config, reg_key)) for r, _ in models]
        series, _ = series_by_x([r for r, _ in models], xs, [""] * len(models))
        gx, at = series.get("", ([], {}))
        for key, style, label in (("near_zero_fraction", "-", f"share |w| < {NEAR_TEXT} (right)"),
                                  ("zero_fraction", "--", "share exactly 0 (right)")):
            stats = np.array([stat(at[x], key, section="weights") for x in gx]).reshape(-1, 2)
            if key == "zero_fraction" and not np.nan_to_num(stats[:, 0]).any():
                continue
            handles.append(band_line(ax, np.array(gx, float), stats[:, 0], stats[:, 1], PALETTE[1], style, label,
                                     marker="o"))
        auto_xscale(ax, gx)
        if len(ax.get_xticks()) > 5:  # a narrow panel: slanted λ labels do not run into each other
            ax.tick_params(axis="x", labelrotation=45)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(xlabel=f"λ ({reg_key})", ylabel="share of Dense weights", title="sparsity vs penalty strength")
    legend_below(fig, handles, max_cols=4)
    fig_title(fig, title or "Dense weights per layer")
    return fig


def _activation_rows(run: Run) -> tuple[list[dict], Run]:
    """The run's activations.csv rows and the run they come from (repeats / CV: the first member)."""
    try:
        rows = run.activations
        if not rows and run.summary.get("members"):
            member = run.members()[0]
            return member.activations, member
    except ResultError as exc:
        warn(f"skipping {run.run_id}: {exc}")
        return [], run
    return rows, run


def _finite(a: np.ndarray, limit: float = 1e12) -> np.ndarray:
    """NaN for non-finite and absurd (a diverging net's 1e29) values."""
    a = np.array(a, float)
    a[~np.isfinite(a) | (np.abs(a) > limit)] = np.nan
    return a


def _activation_axes(n: int):
    """(fig, axes[2, n], runs per row): a mean panel over a std panel for each of n runs, as many runs side by
    side as MAX_WIDTH holds legibly (four), more wrapped into rows of runs spread evenly (5: 3 + 2).
    Every panel shares the epoch axis; the mean panels share a y axis, and so do the std panels."""
    blocks = math.ceil(n / 4)
    per_row = math.ceil(n / blocks)
    col = 4.6 if per_row <= 2 else min(4.2, MAX_WIDTH / per_row)
    fig = Figure(figsize=(max(col * per_row, 7.5), 3.1 * 2 * blocks), layout="constrained")
    gs = fig.add_gridspec(2 * blocks, per_row)
    axes = np.empty((2, n), dtype=object)
    for b in range(blocks):
        for row in (0, 1):
            for j in range(b * per_row, min(n, (b + 1) * per_row)):
                axes[row][j] = fig.add_subplot(gs[2 * b + row, j % per_row], sharex=axes[0][0],
                                               sharey=axes[row][0] if j else None)
    return fig, axes, per_row


@styled
def activations_figure(runs: list[Run], title: str | None = None) -> Figure:
    """Mean and std of each hidden layer's pre-activation per epoch, one column per run.

    A diverged run's curves stop before its diverged epoch, marked in its panels; the y limits
    come from the runs that did not diverge, so a blown-up value never flattens the others."""
    found = [(run, rows, source) for run in runs for rows, source in [_activation_rows(run)] if rows]
    if not found:
        raise UsageError("no run has activations.csv: train with `train.track_activations: true`")
    for run in runs:
        if all(run is not r for r, _, _ in found):
            warn(f"skipping {run.run_id} ({run.label}): no activations.csv")
    fig, axes, per_row = _activation_axes(len(found))
    names = run_labels([r for r, _, _ in found])
    n_layers = max(len({int(r["layer"]) for r in rows}) for _, rows, _ in found)
    colors = [matplotlib.colormaps["viridis"](t) for t in np.linspace(0.0, 0.85, max(n_layers, 1))]
    kept = {0: [], 1: []}  # the values that set each row's y limits
    last_epoch = max(num(r["epoch"]) for _, rows, _ in found for r in rows)
    for j, (run, rows, source) in enumerate(found):
        layers = sorted({int(r["layer"]) for r in rows})
        diverged = num(source.summary.get("diverged_epoch") or run.summary.get("diverged_epoch"))
        diverged = diverged if source.status == "diverged" or run.status == "diverged" else math.nan
        for layer in layers:
            pts = sorted((num(r["epoch"]), r["mean"], r["std"]) for r in rows if int(r["layer"]) == layer)
            e = np.array([p[0] for p in pts])
            mean, std = _finite([num(p[1]) for p in pts]), _finite([num(p[2]) for p in pts])
            if math.isfinite(diverged):  # cut at the diverged epoch
                keep = e < diverged
                e, mean, std = e[keep], mean[keep], std[keep]
            for row, values in ((0, mean), (1, std)):
                axes[row][j].plot(e, values, color=colors[layer % len(colors)], marker="." if len(e) < 30 else None,
                                  label=f"hidden layer {layer + 1}")
                if not math.isfinite(diverged):
                    kept[row].append(values)
        if math.isfinite(diverged):
            for row in (0, 1):
                ax = axes[row][j]
                ax.axvline(diverged, color=STOP_COLOR, lw=1.4, label="diverged")
                ax.plot(diverged, 0.97, "X", color=STOP_COLOR, ms=11, transform=ax.get_xaxis_transform(), zorder=6,
                        clip_on=False)
            right = diverged <= 0.6 * last_epoch  # the text on the side of the line with room
            axes[0][j].annotate(f"diverged at epoch {number(diverged)}", xy=(diverged, 0.5),
                                xycoords=axes[0][j].get_xaxis_transform(), xytext=(8 if right else -8, 0),
                                textcoords="offset points", ha="left" if right else "right", va="center",
                                color=STOP_COLOR, fontsize=11, fontweight="bold", zorder=7,
                                bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": STOP_COLOR, "alpha": 0.9})
        try:
            norm = (run.config.get("model") or {}).get("norm", "?")
        except ResultError:
            norm = "?"
        axes[0][j].set_title(plain(names[j] if "norm=" in names[j] else f"{names[j]}\nnorm: {norm}"))
        axes[1][j].set_xlabel("epoch (0 = at initialization)")
        if j % per_row:
            for row in (0, 1):
                axes[row][j].tick_params(labelleft=False)
        axes[1][j].xaxis.set_major_locator(MaxNLocator(integer=True))
    for row in (0, 1):
        values = kept[row] or [np.array([])]
        if not np.isfinite(np.concatenate(values)).any():  # every run diverged: their kept part
            values = [l.get_ydata() for ax in axes[row] for l in ax.get_lines() if l.get_label().startswith("hidden")]
        fit_ylim(axes[row][0], values)
    for j in range(0, len(found), per_row):  # the first panel of each row of runs
        axes[0][j].set_ylabel("mean of pre-activation")
        axes[1][j].set_ylabel("std of pre-activation")
    handles = [Line2D([], [], color=c, label=f"hidden layer {i + 1}") for i, c in enumerate(colors[:n_layers])]
    if any(l.get_color() == STOP_COLOR for ax in axes.ravel() for l in ax.get_lines()):
        handles.append(Line2D([], [], color=STOP_COLOR, marker="X", label="diverged (values beyond)"))
    legend_below(fig, handles)
    fig_title(fig, title or "Internal covariate shift: hidden pre-activations on a fixed probe batch")
    return fig


def _drawn_member(run: Run, plane) -> str:
    """Which model a boundary panel draws: "seed 0", or "fold 1 of 3, seed 0" for CV; the member
    of repeats or folds that the run's model comes from says so ("seed 0, first of 3")."""
    s = plane.summary
    seed = s.get("seed", _config_seed(run))
    text = f"seed {seed}"
    if s.get("fold") is not None:
        text = f"fold {int(s['fold']) + 1}, {text}"
    n = run.summary.get("n_members")
    return f"model of {text} (first of {n})" if n else f"model of {text}"


def _config_seed(run: Run):
    try:
        return run.config.get("seed", "?")
    except ResultError:
        return "?"


@styled
def boundary_figure(runs: list[Run], title: str | None = None, resolution: int = 200) -> Figure:
    """Predicted class regions of 2-D classification runs, training (●, edged, on top) and validation
    (△, smaller and paler: they outnumber the training points) points. A run of repeats or CV folds
    draws the model its first member saved, and its panel says which seed or fold that is."""
    planes = []
    for run in runs:
        try:
            planes.append((run, decision_plane(run)))
        except ResultError as exc:
            warn(f"skipping {run.run_id}: {exc}")
    if not planes:
        raise UsageError("no run with readable weights to draw a decision boundary")
    nrows = math.ceil(len(planes) / 3)  # at most 3 × 4.3 inches wide: within MAX_WIDTH
    ncols = math.ceil(len(planes) / nrows)  # spread evenly: 4 runs are 2 + 2, not 3 + 1
    fig, axes = new_figure(ncols, nrows, width=4.3, height=4.1)
    flat = list(axes.ravel())
    n_classes = 2
    for ax, (run, p), name in zip(flat, planes, run_labels([r for r, _ in planes])):
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
        ax.scatter(*p.X_val.T, facecolors="none", edgecolors=colors[p.y_val % len(PALETTE)], marker="^", s=20,
                   linewidths=0.8, alpha=0.6, zorder=3, gid="validation")
        ax.scatter(*p.X_train.T, c=colors[p.y_train % len(PALETTE)], s=46, edgecolors="black", linewidths=0.8,
                   zorder=4, gid="training")
        unit = " (standardized)" if p.standardized else ""
        m = p.summary.get("metric", "acc")
        ax.set(xlabel=plain(f"{p.feature_names[0]}{unit}"), ylabel=plain(f"{p.feature_names[1]}{unit}"),
               xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]),
               title=plain(f"{name}\ntrain {m} {num(p.summary.get('train_' + m)):.2f} · "
                           f"val {m} {num(p.summary.get('val_' + m)):.2f}\n{_drawn_member(run, p)}"))
        ax.grid(False)
    for ax in flat[len(planes):]:
        ax.set_visible(False)
    names = planes[0][1].class_names
    handles = [Patch(color=PALETTE[c % len(PALETTE)], alpha=0.5, label=f"class {names[c] if c < len(names) else c}")
               for c in range(n_classes)]
    handles += [Line2D([], [], marker="o", ls="", color="0.4", mec="black", ms=7, label="training points"),
                Line2D([], [], marker="^", ls="", mfc="none", color="0.4", alpha=0.6, label="validation points"),
                Line2D([], [], color="k", lw=1.3, label="decision boundary")]
    legend_below(fig, handles)
    fig_title(fig, title or "Decision boundaries")
    return fig


def input_norms(run: Run) -> np.ndarray:
    """‖W₁[i, :]‖₂ of each input i over the first Dense layer (in, out), one row per member: (members, in).
    An input whose norm is 0 is cut out of the network: nothing it holds reaches a hidden unit."""
    return np.array([np.linalg.norm(_dense(m.model())[0], axis=1) for m in (run.members() or [run])])


@styled
def inputs_figure(runs: list[Run], title: str | None = None) -> Figure:
    """One panel per run (a row of them, wrapping): a bar per input of its first-layer weight norm
    (mean over seeds, the seeds as dots), on a symlog axis so that exact zeros sit on the axis and
    small norms stay visible; each panel counts the inputs whose norm is exactly 0 in every seed.
    Inputs are named as the run's data names its features (rebuilt from config.yaml)."""
    from ..analysis.inference import member_dataset

    panels = []
    for run in runs:
        try:
            panels.append((run, input_norms(run), member_dataset(run)[1].feature_names))
        except ResultError as exc:
            warn(f"skipping {run.run_id}: {exc}")
    if not panels:
        raise UsageError("no run with readable weights (model.npz)")
    n_in = max(len(names) for _, _, names in panels)
    per_row = max(1, min(len(panels), int(MAX_WIDTH // max(2.6, 0.32 * n_in + 1.0))))
    rows = math.ceil(len(panels) / per_row)
    width = max(2.6, 0.32 * n_in + 1.0)
    fig = Figure(figsize=(max(width * per_row + 0.6, 7.5), 3.4 * rows + 1.2), layout="constrained")
    axes = fig.subplots(rows, per_row, squeeze=False, sharey=True)
    colors = run_colors(len(panels))
    top = max(float(norms.max()) for _, norms, _ in panels) or 1.0
    for k, ((run, norms, names), label) in enumerate(zip(panels, run_labels([r for r, _, _ in panels]))):
        ax = axes[k // per_row, k % per_row]
        x = np.arange(norms.shape[1])
        cut = np.all(norms == 0, axis=0)  # zero in every seed: the input is out of the network
        ax.bar(x, norms.mean(axis=0), color=colors[k], alpha=0.8, width=0.75)
        for row in norms:
            ax.plot(x, row, "o", color="black", markersize=2.5, zorder=4)
        ax.plot(x[cut], np.zeros(cut.sum()), "x", color=ZERO_COLOR, markersize=7, mew=2, zorder=5)
        ax.set_xticks(x, [plain(n) for n in names], rotation=60, ha="right", rotation_mode="anchor", fontsize=9)
        ax.set_yscale("symlog", linthresh=0.01, linscale=0.5)
        ax.set_ylim(0, top * 1.6)
        ax.set_title(plain(textwrap.fill(label, int(width * 10), break_long_words=False)), color=colors[k],
                     fontsize=11, fontweight="bold")
        ax.text(0.98, 0.97, f"{int(cut.sum())} of {len(x)} inputs exactly 0", transform=ax.transAxes, ha="right",
                va="top", fontsize=10, color="0.15",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85})
        if k % per_row == 0:
            ax.set_ylabel("‖first-layer weights‖₂ of the input")
    for k in range(len(panels), rows * per_row):
        axes[k // per_row, k % per_row].set_visible(False)
    handles = [Patch(color="0.55", alpha=0.8, label="mean over seeds"),
               Line2D([], [], ls="", marker="o", color="black", markersize=3, label="one seed"),
               Line2D([], [], ls="", marker="x", color=ZERO_COLOR, mew=2, label="exactly 0 in every seed: input cut out")]
    legend_below(fig, handles, max_cols=3)
    fig_title(fig, title or "first-layer weights per input")
    return fig


@styled
def gradients_figure(runs: list[Run], title: str | None = None) -> Figure:
    """Each Dense layer's weight-gradient norm (metrics.csv's grad_norm_i, with
    train.track_gradients), input layer on the left, one line per run, log scale: in the first
    epoch (dashed) and averaged over the run's epochs (solid). A norm that shrinks layer after layer
    towards the input is the vanishing gradient; one that grows, the exploding one."""
    found = []
    for run in runs:
        cols = sorted((c for c in (run.metrics[0] if run.metrics else {}) if c.startswith("grad_norm_")
                       and not c.endswith("_std")), key=lambda c: int(c.rsplit("_", 1)[1]))
        if cols:
            found.append((run, cols))
        else:
            warn(f"skipping {run.run_id} ({run.label}): no gradient norms in metrics.csv")
    if not found:
        raise UsageError("no run recorded gradient norms: train with `train.track_gradients: true`")
    fig, axes = new_figure(1, width=8.0, height=4.6)
    ax = axes[0][0]
    colors = run_colors(len(found))
    for (run, cols), color, label in zip(found, colors, run_labels([r for r, _ in found])):
        layers = np.arange(1, len(cols) + 1)
        per_epoch = np.array([[num(row.get(c)) for c in cols] for row in run.metrics])  # (epochs, layers)
        ax.plot(layers, per_epoch[0], "--", color=color, lw=1.3, marker=".")
        ax.plot(layers, np.nanmean(per_epoch, axis=0), "-", color=color, lw=2.2, marker="o", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("Dense layer (1 = the input's, last = the output's)")
    ax.set_ylabel("‖∂loss/∂W‖₂ (mean over an epoch's batches)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles = [Line2D([], [], color=c, lw=2.2, marker="o", label=plain(l))
               for c, l in zip(colors, run_labels([r for r, _ in found]))]
    handles += [Line2D([], [], color="0.4", lw=2.2, label="mean over the epochs"),
                Line2D([], [], color="0.4", lw=1.3, ls="--", label="first epoch")]
    legend_below(fig, handles)
    fig_title(fig, title or "Gradient norms per layer")
    return fig
