"""`dlexp plot --kind averaging`: dropout's weight scaling against the averages it stands for (notes §2.1).

Two panels over one x axis, the number of networks averaged (log scale): test loss (cross-entropy
of the averaged probabilities) and test accuracy. A run with dropout draws the Monte-Carlo average
of T thinned networks (mean ± std over its seeds) and its weight-scaling prediction as a flat
line; every run with repeats draws its explicit ensemble of the first M trained members. The
numbers come from analysis/averaging.py, which reads model.npz files only.
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from ..analysis import averaging
from ..errors import UsageError
from ..results.reader import Run
from .style import PALETTE, band_line, fig_title, legend_below, new_figure, plain, run_labels, styled

PANELS = (("loss", "test loss (cross-entropy)"), ("acc", "test accuracy"))


def _mean_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and sample std over axis 0 (seeds); no std for one seed."""
    return values.mean(axis=0), (values.std(axis=0, ddof=1) if len(values) > 1 else None)


@styled
def averaging_figure(runs: list[Run], title: str | None = None, masks=averaging.MASKS):
    """Weight scaling vs the MC average of thinned networks vs explicit ensembles, for `runs`."""
    if not any(averaging.has_dropout(r) for r in runs) and not any(len(r.members()) > 1 for r in runs):
        raise UsageError("averaging needs a run with dropout or with repeats (seeds: [..]); none of the targets has either")
    fig, axes = new_figure(2, width=5.4, height=4.2)
    names = run_labels(runs)
    handles = []
    for i, (run, name) in enumerate(zip(runs, names)):
        color = PALETTE[i % len(PALETTE)]
        if averaging.has_dropout(run):
            curves = averaging.mc_curves(run, masks)
            scaled = np.array(averaging.weight_scaling(run))  # (seeds, 2): loss, acc
            for j, (what, _) in enumerate(PANELS):
                ax = axes[0, j]
                y, s = _mean_std(np.array([getattr(c, what) for c in curves]))
                band_line(ax, np.array(curves[0].n), y, s, color, "-", "", marker="o")
                ws, ws_s = _mean_std(scaled[:, j])
                ax.axhline(ws, color=color, ls=":", lw=2)
                if ws_s is not None:
                    ax.axhspan(ws - ws_s, ws + ws_s, color=color, alpha=0.08, lw=0)
            handles += [Line2D([], [], color=color, marker="o", label=plain(f"{name}: average of T thinned networks (MC)")),
                        Line2D([], [], color=color, ls=":", lw=2, label=plain(f"{name}: weight scaling (eval mode)"))]
        if len(run.members()) > 1:
            ens = averaging.ensemble_curve(run)
            for j, (what, _) in enumerate(PANELS):
                axes[0, j].plot(ens.n, getattr(ens, what), "--", color=color, marker="s", markersize=5)
            handles.append(Line2D([], [], color=color, ls="--", marker="s",
                                  label=plain(f"{name}: ensemble of M trained networks")))
    for j, (_, label) in enumerate(PANELS):
        ax = axes[0, j]
        ax.set_xscale("log", base=2)
        ax.set(xlabel="networks averaged (T masks, or M members)", ylabel=label)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    legend_below(fig, handles, max_cols=2)
    fig_title(fig, title or "dropout: weight scaling vs averaging thinned networks vs an ensemble")
    return fig
