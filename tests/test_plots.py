"""`dlexp plot`: every figure kind drawn from small real runs, checked on the Figure it returns."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle, StepPatch

from dlexp.figures import curves as figures
from dlexp.cli import main
from dlexp.errors import UsageError
from dlexp.figures.curves import compare_figure
from dlexp.figures.style import PALETTE, STOP_COLOR, TRAIN_COLOR, VAL_COLOR, auto_xscale, fig_title
from dlexp.analysis.inference import decision_plane, predict_from_state
from dlexp.figures.model import ZERO_COLOR, activations_figure
from dlexp.labels import point_labels
from dlexp.analysis.axis import ARCHITECTURES
from dlexp.figures.choose import (Target, default_kind, load_target, make_figure, numeric_axis, output_path, plot,
                         save_figure)
from dlexp.results.reader import Run
from dlexp.analysis.verdict import Point, Verdict, interpolation_peak
from dlexp.figures.sweeps import sweep_figure


def target(results, *names):
    return load_target([str(n) for n in names], results.out)


def labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def fig_labels(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def visible(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def line_data(ax, label):
    (line,) = [l for l in ax.get_lines() if l.get_label() == label]
    return line


def texts(ax):
    return [t for t in ax.texts if t.get_text()]


# ---- layout: what a slide needs (nothing over the title, legends off the data) ---------------------

def drawn(fig):
    """Lay the figure out (constrained layout runs at draw time) and return its renderer."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def overlap(a, b, slack=1.0) -> bool:
    """Do two display-space boxes overlap by more than `slack` pixels?"""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > slack and min(a.y1, b.y1) - max(a.y0, b.y0) > slack


def line_points(ax, per_segment=20):
    """Display coordinates of every drawn line of `ax`, segments sampled densely."""
    out = []
    for line in ax.get_lines():
        if not line.get_visible() or line.get_transform() is not ax.transData:
            continue
        xy = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float))
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy) > 1:
            t = np.linspace(0, 1, per_segment)[:, None, None]
            xy = (xy[:-1] * (1 - t) + xy[1:] * t).reshape(-1, 2)
        out.append(xy)
    return np.concatenate(out) if out else np.empty((0, 2))


def inside(points, box):
    return int(np.sum((points[:, 0] > box.x0) & (points[:, 0] < box.x1) & (points[:, 1] > box.y0) & (points[:, 1] < box.y1)))


def check_layout(fig):
    """The suptitle clear of every legend, panel and panel title; legends clear of panels and data;
    panel titles clear of each other; tick labels of one axis clear of each other."""
    r = drawn(fig)
    title = fig._suptitle.get_window_extent(r)
    page = fig.bbox
    assert page.x0 - 1 <= title.x0 and title.x1 <= page.x1 + 1 and title.y1 <= page.y1 + 1, "the title runs off"
    axes = visible(fig)
    legends = list(fig.legends) + [ax.get_legend() for ax in axes if ax.get_legend()]
    for legend in legends:
        box = legend.get_window_extent(r)
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and box.y0 >= page.y0 - 1, "a legend runs off"
        assert not overlap(box, title), "a legend covers the title"
        for ax in axes:
            assert inside(line_points(ax), box) == 0, f"a legend covers data of {ax.get_title()!r}"
            if legend in fig.legends:
                assert not overlap(box, ax.get_tightbbox(r)), f"the legend covers panel {ax.get_title()!r}"
    titles = [ax.title.get_window_extent(r) for ax in axes if ax.get_title()]
    for ax in axes:
        assert not overlap(ax.get_window_extent(r), title), "a panel runs into the title"
    for i, a in enumerate(titles):
        assert not overlap(a, title), "a panel title runs into the figure title"
        assert not any(overlap(a, b) for b in titles[i + 1:]), "two panel titles overlap"
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            boxes = [t.get_window_extent(r) for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            boxes = [b for b in boxes if b.width > 0]
            assert not any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), \
                f"tick labels overlap in {ax.get_title()!r}"
    return r


# ---- curves -------------------------------------------------------------------------------------

def test_curves_of_a_run_mark_best_epoch_early_stop_and_penalty(plot_results):
    t = target(plot_results, plot_results.single)
    assert default_kind(t) == "curves"
    fig = make_figure(t)
    run = t.runs[0]
    s = run.summary
    assert s["stopped_early"] and s["best_epoch"] < s["epochs_run"]
    assert isinstance(fig, Figure) and len(fig.axes) == 3  # loss, accuracy, penalty (l2 > 0)
    loss, acc, pen = fig.axes
    assert fig._suptitle.get_text() == "l2-early: training curves"
    assert [ax.get_xlabel() for ax in fig.axes] == ["epoch"] * 3
    assert loss.get_ylabel() == "cross-entropy loss" and acc.get_ylabel() == "accuracy"
    assert pen.get_title() == "penalty L2 λ=0.01"
    # one legend under the panels (they share its styles), none over the curves
    assert fig_labels(fig) == ["train", "validation", f"best epoch {s['best_epoch']}, weights restored",
                               f"early stop, epoch {s['stopped_epoch']}", "penalty (not in train loss)"]
    assert all(ax.get_legend() is None for ax in fig.axes)
    train, val = line_data(loss, "train"), line_data(loss, "validation")
    assert (train.get_color(), train.get_linestyle()) == (TRAIN_COLOR, "--")
    assert (val.get_color(), val.get_linestyle()) == (VAL_COLOR, "-")
    assert list(val.get_ydata()) == pytest.approx(run.column("val_loss"))
    assert list(line_data(pen, "penalty (not in train loss)").get_ydata()) == pytest.approx(run.column("penalty"))


def test_a_long_run_name_wraps_its_title_inside_the_figure(plot_results):
    run = Run.load(plot_results.nobn)  # two panels: a figure 10.4 inches wide
    name = "study-early-stopping/early_stopping={rule: consecutive_increase, patience: 5, restore_best: true}"
    fig = figures.curves_figure(dataclasses.replace(run, summary={**run.summary, "name": name}))
    assert "\n" in fig._suptitle.get_text()
    assert fig._suptitle.get_text().replace("\n", " ") == f"{name}: training curves"
    check_layout(fig)


def test_curves_of_a_run_without_penalty_have_two_panels(plot_results):
    fig = make_figure(target(plot_results, plot_results.nobn))
    assert len(fig.axes) == 2 and "penalty" not in " ".join(ax.get_title() for ax in fig.axes)


@pytest.mark.parametrize("name, what", [("repeats", "2 seeds"), ("cv", "3 CV folds")])
def test_curves_of_repeats_and_folds_draw_mean_and_std_band(plot_results, name, what):
    fig = make_figure(target(plot_results, getattr(plot_results, name)))
    assert fig._suptitle.get_text().endswith(f"(mean ± std of {what})")
    loss = fig.axes[0]
    assert len(loss.collections) == 2  # a ±std band under the train and the val line
    assert any(label.startswith("mean best epoch") for label in fig_labels(fig))


# ---- compare ------------------------------------------------------------------------------------

def test_compare_shows_runs_per_epoch_and_per_second_on_request(plot_results):
    t = target(plot_results, "optimizers")
    assert default_kind(t) == "compare"
    (per_epoch,) = make_figure(t).axes  # the time panel is mostly timer noise: only on request
    assert per_epoch.get_xlabel() == "epoch"
    fig = make_figure(t, per_second=True)
    per_epoch, per_second = fig.axes
    # The times are measured, so whether one run took ten times longer (a log axis, tested with
    # scripted times below) depends on the machine: only the label must agree with the scale.
    seconds = "training time (s, cumulative, log scale)" if per_second.get_xscale() == "log" else \
        "training time (s, cumulative)"
    assert per_epoch.get_xlabel() == "epoch" and per_second.get_xlabel() == seconds
    assert fig._suptitle.get_text() == "optimizers: train and validation loss"
    assert fig_labels(fig) == ["optimizer=sgd", "optimizer=adam", "train", "validation", "best epoch"]
    sgd = t.runs[0]
    val_line = [l for l in per_second.get_lines() if l.get_linestyle() == "-" and len(l.get_xdata()) > 1][0]
    assert list(val_line.get_xdata()) == pytest.approx(np.cumsum(sgd.column("epoch_time")))
    assert list(val_line.get_ydata()) == pytest.approx(sgd.column("val_loss"))


def test_a_two_key_sweep_is_coloured_in_one_family_per_value_of_the_first_key():
    """2 × 3 points: the plain runs in greens, the BatchNorm runs in purples, each light → dark
    along shift_noise; a one-key sweep (or mismatched points) keeps the run palette."""
    from types import SimpleNamespace

    from matplotlib.colors import rgb_to_hsv
    from dlexp.figures.style import point_colors

    runs = [SimpleNamespace(point={"model.norm": n, "model.shift_noise": a})
            for n in ("none", "batchnorm") for a in (0.0, 0.25, 0.5)]
    hsv = [rgb_to_hsv(to_rgb(c)) for c in point_colors(runs)]
    hues = [h for h, _, _ in hsv]
    assert max(hues[:3]) - min(hues[:3]) < 0.1 and max(hues[3:]) - min(hues[3:]) < 0.1  # one hue each (±18°)
    assert min(abs(a - b) for a in hues[:3] for b in hues[3:]) > 0.2  # two hues apart
    assert 0.2 < hues[0] < 0.45 and 0.6 < hues[3] < 0.85  # green, purple
    for group in (hsv[:3], hsv[3:]):
        values = [v for _, _, v in group]
        assert values[0] > values[1] > values[2]  # light → dark
    one_key = [SimpleNamespace(point={"model.norm": n}) for n in ("none", "batchnorm", "layernorm", "x")]
    assert point_colors(one_key) == list(PALETTE[:4])


def test_several_targets_default_to_compare_labelled_by_name(plot_results):
    t = target(plot_results, plot_results.bn, plot_results.nobn)
    assert default_kind(t) == "compare" and t.name == ""
    fig = make_figure(t)
    assert fig_labels(fig)[:2] == ["bn", "no-bn"]
    assert fig._suptitle.get_text() == "Train and validation loss"


def test_seeds_draws_each_members_final_figure_beside_its_points_mean(plot_results):
    t = target(plot_results, "width")  # 3 points × 2 repeats
    fig = make_figure(t, "seeds")
    (ax,) = visible(fig)
    dots = [l for l in ax.get_lines() if l.get_marker() == "o"]
    bars = [l for l in ax.get_lines() if l.get_marker() in ("None", None, "") and len(l.get_xdata()) == 2]
    assert len(dots) == len(bars) == 6  # per point: train and val
    for i, run in enumerate(t.runs):
        members = run.members()
        assert len(members) == 2
        for j, split in enumerate(("train", "val")):
            line, bar = dots[2 * i + j], bars[2 * i + j]
            want = sorted(m.summary[f"{split}_loss"] for m in members)
            assert sorted(line.get_ydata()) == pytest.approx(want)
            assert list(bar.get_ydata()) == pytest.approx([np.mean(want)] * 2)
            assert all(abs(x - i) < 0.25 for x in line.get_xdata()) and len(set(line.get_xdata())) == 2  # side by side
            assert to_hex(line.get_markeredgecolor()) == to_hex({"train": TRAIN_COLOR, "val": VAL_COLOR}[split])
    assert [x.get_text() for x in ax.get_xticklabels()] == ["hidden=[2]", "hidden=[8]", "hidden=[32]"]
    assert fig_labels(fig) == ["train, one dot per seed", "validation, one dot per seed", "mean over seeds"]
    assert ax.get_ylabel() == "final cross-entropy loss"
    assert make_figure(t, "seeds", "acc").axes[0].get_ylabel() == "final accuracy"
    (one,) = make_figure(target(plot_results, plot_results.single), "seeds").axes  # no members: itself
    assert [len(l.get_ydata()) for l in one.get_lines() if l.get_marker() == "o"] == [1, 1]


def test_compare_by_accuracy(plot_results):
    fig = make_figure(target(plot_results, "optimizers"), "compare", "acc")
    assert fig.axes[0].get_ylabel() == "accuracy"


def test_compare_legend_of_long_nested_labels_sits_under_the_panels(plot_results):
    """The early-stopping study's points: flattened, the shared restore_best left out, and a legend
    that never reaches the title or the panels, however long its labels."""
    runs = target(plot_results, "optimizers").runs
    points = [{"train.early_stopping": {"rule": "consecutive_increase", "patience": 5, "restore_best": True}},
              {"train.early_stopping": {"patience": 20, "restore_best": True}}]
    runs = [dataclasses.replace(r, point=p) for r, p in zip(runs, points)]
    fig = compare_figure(runs, title="study-early-stopping: train and validation loss")
    r = check_layout(fig)
    legend = fig.legends[0].get_window_extent(r)
    assert legend.y1 <= min(ax.get_tightbbox(r).y0 for ax in fig.axes) + 1  # below the panels
    assert legend.x0 >= 0 and legend.x1 <= fig.bbox.x1  # and inside the figure
    assert fig_labels(fig)[:2] == ["rule=consecutive_increase, patience=5", "patience=20"]


def timed_run(name, seconds_per_epoch, epochs=5):
    run = Run(Path(name), {"name": name, "status": "completed", "task": "classification", "best_epoch": epochs})
    run.__dict__["metrics"] = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "epoch_time": seconds_per_epoch}
                               for e in range(1, epochs + 1)]
    return run


def test_compare_puts_time_on_a_log_axis_when_one_run_takes_ten_times_longer():
    fig = compare_figure([timed_run("full batch", 0.001), timed_run("batch 1", 0.05)], per_second=True)
    per_epoch, per_second = fig.axes
    assert per_epoch.get_xscale() == "linear"
    assert per_second.get_xscale() == "log" and per_second.get_xlabel() == "training time (s, cumulative, log scale)"
    fig = compare_figure([timed_run("a", 0.01), timed_run("b", 0.02)], per_second=True)
    assert fig.axes[1].get_xscale() == "linear"
    check_layout(fig)


def gid_lines(ax, gid):
    return [l for l in ax.get_lines() if l.get_gid() == gid]


def test_compare_marks_best_epochs_and_early_stops_in_contrast_to_the_lines(plot_results):
    """A star in its line's own colour vanishes into the line: the stars are edged in black, the
    early stop a black bar on the val line at the epoch training ended; no run in the legend grey."""
    p = plot_results
    t = target(p, p.single, p.nobn)
    single, nobn = t.runs
    assert single.summary["stopped_early"] and not nobn.summary.get("stopped_early")
    fig = make_figure(t, "compare")
    (ax,) = fig.axes
    stars = gid_lines(ax, "best-epoch")
    assert len(stars) == 2
    solid = [l for l in ax.get_lines() if l.get_linestyle() == "-" and len(l.get_xdata()) > 1]
    for star, line, run in zip(stars, solid, t.runs):
        assert to_hex(star.get_markerfacecolor()) == to_hex(line.get_color())  # which run: its colour
        assert to_hex(star.get_markeredgecolor()) == "#000000" and star.get_markeredgewidth() >= 1
        assert star.get_xdata()[0] == run.summary["best_epoch"]
        assert star.get_zorder() > line.get_zorder()
    (stop,) = gid_lines(ax, "early-stop")
    assert stop.get_xdata()[0] == single.summary["stopped_epoch"] and to_hex(stop.get_color()) == "#000000"
    assert stop.get_ydata()[0] == pytest.approx(single.column("val_loss")[single.summary["stopped_epoch"] - 1])
    assert fig_labels(fig) == ["l2-early", "no-bn", "train", "validation", "best epoch", "early stop"]
    keys = {to_hex(h.get_color()) for h in fig.legends[0].legend_handles[2:4]}
    assert keys.isdisjoint(to_hex(c) for c in PALETTE) and len(PALETTE) == len(set(PALETTE))
    # no run in the train blue, the val orange or a grey, and every run colour readable as a title
    for c in PALETTE:
        r, g, b = to_rgb(c)
        assert max(r, g, b) - min(r, g, b) > 0.2, c  # not a grey
        assert c not in (TRAIN_COLOR, VAL_COLOR) and contrast(c) >= 3.3, c
    # the edge's contrast holds over the longest compare too: no early stop, no bar, no legend key
    fig = make_figure(target(p, "optimizers"), "compare")
    assert not gid_lines(fig.axes[0], "early-stop") and "early stop" not in fig_labels(fig)


def contrast(color) -> float:
    """WCAG contrast ratio of `color` on white."""
    lum = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(color)]
    return 1.05 / (0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2] + 0.05)


def test_point_labels_flatten_nested_values_and_drop_what_all_runs_share():
    assert Run(Path("x"), {}, {"regularization": {"l1": 0.01, "l1_mode": "proximal"}}).label == "l1=0.01, l1_mode=proximal"
    assert Run(Path("x"), {"name": "plain"}).label == "plain"
    sparsity = [{"regularization": {"l1": 0.0, "l2": 0.0}}, {"regularization": {"l1": 1e-3, "l1_mode": "proximal"}},
                {"regularization": {"l1": 1e-2, "l1_mode": "proximal"}},
                {"regularization": {"l1": 1e-2, "l1_mode": "subgradient"}},
                {"regularization": {"l2": 1e-3}}, {"regularization": {"l2": 1e-2}}]
    assert point_labels(sparsity) == ["l1=0, l2=0", "l1=1e-3, l1_mode=proximal", "l1=1e-2, l1_mode=proximal",
                                      "l1=1e-2, l1_mode=subgradient", "l2=1e-3", "l2=1e-2"]
    # name and lr are the same everywhere: left out; the plain point is named from its config
    momentum = [{"optimizer": {"name": "sgd", "lr": 0.01, **extra}} for extra in
                ({}, {"momentum": 0.5}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True})]
    config = {"optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.0, "nesterov": False}}
    from dlexp.dotted import get as get_dotted

    lookup = [lambda key: get_dotted(config, key)] * 4
    assert point_labels(momentum, lookup) == ["momentum=0", "momentum=0.5", "momentum=0.9", "momentum=0.9, nesterov"]
    assert point_labels([{"train.early_stopping": None}, {"train.early_stopping": {"patience": 20}}]) == \
        ["no early_stopping", "patience=20"]
    assert point_labels([{"optimizer.name": "sgd"}, {"optimizer.name": "adam"}]) == ["optimizer=sgd", "optimizer=adam"]
    # one key's numbers alike: all in powers of ten once one is below 0.01
    assert point_labels([{"optimizer.lr": 1e-3}, {"optimizer.lr": 0.1}, {"optimizer.lr": 2.0}]) == \
        ["lr=1e-3", "lr=1e-1", "lr=2"]
    assert point_labels([{"optimizer.lr": 0.05}, {"optimizer.lr": 0.5}]) == ["lr=0.05", "lr=0.5"]
    assert point_labels([{"model.hidden": [8, 8], "seed": 1}, {"model.hidden": [8, 8], "seed": 2}]) == \
        ["seed=1", "seed=2"]


def test_several_sweep_runs_are_labelled_by_what_differs(plot_results, tmp_path):
    """Run folders of one sweep drawn side by side, named "two-keys/hidden=[4], l2=…" as a sweep
    names its runs: labelled by the key that differs, not by names that all repeat the sweep's."""
    import json
    import shutil

    folders = []
    for run in target(plot_results, "two-keys").runs[:2]:
        folder = tmp_path / "runs" / run.folder.name
        shutil.copytree(run.folder, folder)
        summary = json.loads((folder / "summary.json").read_text())
        summary["name"] = f"two-keys/{run.label}"
        (folder / "summary.json").write_text(json.dumps(summary))
        folders.append(folder)
    t = load_target([str(f) for f in folders], tmp_path)
    assert [r.label for r in t.runs] == ["l2=0", "l2=0.01"]
    fig = make_figure(t, "compare")
    assert fig_labels(fig)[:2] == ["l2=0", "l2=0.01"]


# ---- validation and learning curves --------------------------------------------------------------

def shading(ax) -> list[tuple[str, float, float]]:
    """(label, left, right) in data x of each stretch the figure shades with a diagnosis label."""
    out = []
    for patch in ax.patches:
        gid = patch.get_gid() or ""
        if gid.startswith("diagnosis:"):
            x0, x1 = patch.get_x(), patch.get_x() + patch.get_width()  # axvspan: a Rectangle in data x
            out.append((gid.split(":", 1)[1], float(min(x0, x1)), float(max(x0, x1))))
    return sorted(out, key=lambda t: t[1])


def diagnosed_labels(results, name) -> dict:
    """run_id → label, from `dlexp diagnose NAME --json --no-save` (the command, not the figure code)."""
    res = CliRunner().invoke(main, ["diagnose", name, "--json", "--no-save", "--results", str(results.out)])
    assert res.exit_code == 0, res.output
    return {e["run_id"]: e["diagnosis"]["label"] for e in json.loads(res.stdout)}


def assert_shading_agrees(ax, runs, xs, labels):
    """Every x is shaded with the label its runs share in `labels` (unshaded when they disagree)."""
    spans = shading(ax)
    by_x = {}
    for run, x in zip(runs, xs):
        if run.run_id in labels:
            by_x.setdefault(x, []).append(labels[run.run_id])
    assert by_x
    for x, labs in by_x.items():
        counts = sorted(((labs.count(lab), lab) for lab in set(labs)), reverse=True)
        shared = counts[0][1] if len(counts) == 1 or counts[0][0] > counts[1][0] else None
        at = [lab for lab, a, b in spans if a < x < b]  # stretches meet half-way between points
        assert at == ([shared] if shared else []), (x, labs, spans)


def test_validation_curve_over_width_shades_what_diagnose_says(plot_results):
    t = target(plot_results, "width")
    assert default_kind(t) == "validation"
    fig = make_figure(t)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "hidden width (units per layer)"
    assert ax.get_ylabel() == "final cross-entropy loss"
    assert ax.get_xscale() == "log"  # 2, 8, 32: a geometric series
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["2", "8", "32"]
    val = line_data(ax, "validation")
    assert list(val.get_xdata()) == [2, 8, 32]
    by_width = {r.point["model.hidden"][0]: r.summary for r in t.runs}
    assert list(val.get_ydata()) == pytest.approx([by_width[w]["val_loss"] for w in (2, 8, 32)])
    assert len(ax.collections) >= 2  # ±std bands: each point is 2 seeds
    best_x = min((s["val_loss"], w) for w, s in by_width.items())[1]
    (star,) = [l for l in ax.get_lines() if l.get_label().startswith("best: ")]
    assert star.get_xdata()[0] == best_x
    xs = [float(r.point["model.hidden"][0]) for r in t.runs]
    assert_shading_agrees(ax, t.runs, xs, diagnosed_labels(plot_results, "width"))
    assert fig._suptitle.get_text() == "width: validation curve (final loss vs hidden width)"
    assert {"train", "validation"} <= set(fig_labels(fig))
    r = check_layout(fig)
    for text in texts(ax):  # the label names sit above the curves, not on them
        assert inside(line_points(ax), text.get_window_extent(r)) == 0, text.get_text()


def test_validation_curve_over_a_penalty_uses_symlog_and_shades_what_diagnose_says(plot_results):
    t = target(plot_results, "l1")
    fig = make_figure(t)
    (ax,) = fig.axes
    assert ax.get_xscale() == "symlog"  # 0, 0.001, 0.1
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["0", "0.001", "0.1"]
    assert ax.get_xlabel() == "L1 strength λ (regularization.l1)"
    xs = [float(r.point["regularization.l1"]) for r in t.runs]
    assert_shading_agrees(ax, t.runs, xs, diagnosed_labels(plot_results, "l1"))


def fake_runs(train, val, metric="acc"):
    """Runs that exist only as summaries: enough for a validation curve."""
    return [Run(Path(f"fake{i}"), {"status": "completed", "task": "classification", "metric": metric,
                                   "train_loss": t, "val_loss": v}) for i, (t, v) in enumerate(zip(train, val))]


WIDTHS = [2, 4, 6, 8, 12, 16, 24, 32, 64, 128, 512]
# the double-descent study: val loss up to a peak at width 8 (where train loss reaches ~0), then down
DD_TRAIN = [1.5, 0.87, 0.47, 0.18, 0.03, 0.011, 0.004, 0.0029, 0.0014, 0.0008, 0.00036]
DD_VAL = [2.0, 2.4, 2.4, 3.4, 3.35, 3.1, 2.4, 2.2, 1.9, 1.7, 1.61]
# the capacity study: U-shaped, with some noise on both sides
U_WIDTHS = [1, 2, 4, 8, 16, 64, 128, 384]
U_TRAIN = [0.56, 0.46, 0.21, 0.2, 0.2, 0.11, 0.07, 0.02]
U_VAL = [0.54, 0.44, 0.23, 0.245, 0.219, 0.5, 0.46, 0.556]


def test_interpolation_peak():
    assert interpolation_peak(U_VAL) is None  # a U, noisy on its rising side
    assert interpolation_peak([4.5, 1.8, 0.83, 0.47, 0.36, 0.351, 0.47, 0.69], log=True) is None  # L2 study
    assert interpolation_peak([4.5, 3.5, 3.2, 2.8, 2.2, 1.37], log=True) is None  # monotone
    assert interpolation_peak(DD_VAL, log=True) == 3
    # the peak need not rise above the ends: an underfitting left end is worse than the peak
    assert interpolation_peak([3.0, 1.4, 1.3, 2.0, 1.2, 0.9], log=True) == 3
    assert interpolation_peak([1.0, 0.5, 1.0, 0.5, 1.0]) == 2  # two valleys, the peak between
    assert interpolation_peak([0.6, 0.9, 0.7], "acc") is None  # accuracy: an upside-down U
    assert interpolation_peak([0.9, 0.6, 0.95], "acc") == 1
    assert interpolation_peak([1.0, 1.0, 1.0]) is None and interpolation_peak([1.0, 2.0]) is None


def verdict_of(runs, xs, labels, peak=None, direction=1):
    points = [Point(float(x), str(x), [r], r.summary["val_loss"], lab) for r, x, lab in zip(runs, xs, labels)]
    best = min(points, key=lambda p: p.val_loss)
    return Verdict("model.hidden", points, best, direction, None if peak is None else points[peak])


def test_validation_curve_names_the_peak_the_verdict_finds():
    runs = fake_runs(DD_TRAIN, DD_VAL)
    labels = ["underfitting"] * 3 + ["overfitting"] * 8
    fig = sweep_figure(runs, WIDTHS, "hidden width (units per layer)", verdict=verdict_of(runs, WIDTHS, labels, peak=3))
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    peak = next(t for t in texts(ax) if t.get_text() == "interpolation peak")
    assert tuple(peak.xy) == (8, 3.4)
    assert [lab for lab, _, _ in shading(ax)] == ["underfitting", "overfitting"]
    (star,) = [l for l in ax.get_lines() if l.get_label().startswith("best: ")]
    assert star.get_xdata()[0] == 512
    r = check_layout(fig)
    assert inside(line_points(ax), peak.get_window_extent(r)) == 0
    assert ax.get_window_extent(r).contains(*peak.get_window_extent(r).p1)  # inside the panel
    # no verdict, no peak: nothing but the figure's own data is drawn
    bare = sweep_figure(runs, WIDTHS, "hidden width (units per layer)")
    assert not shading(bare.axes[0]) and not [t for t in texts(bare.axes[0]) if "peak" in t.get_text()]


def test_validation_curve_shades_each_point_with_its_label_and_leaves_disputed_ones_bare():
    runs = fake_runs(U_TRAIN, U_VAL)
    labels = ["underfitting", "underfitting", "good_fit", "good_fit", "good_fit", "overfitting", None, "overfitting"]
    v = verdict_of(runs, U_WIDTHS, labels)
    fig = sweep_figure(runs, U_WIDTHS, "hidden width (units per layer)", verdict=v)
    (ax,) = fig.axes
    spans = shading(ax)
    assert [lab for lab, _, _ in spans] == ["underfitting", "good_fit", "overfitting", "overfitting"]
    for x, lab in zip(U_WIDTHS, labels):  # each point sits in the stretch of its own label
        assert [s for s, a, b in spans if a < x < b] == ([lab] if lab else []), x
    names = {t.get_text().split("\n")[0] for t in texts(ax)}
    assert {"underfitting", "good fit"} <= names
    r = check_layout(fig)
    for text in texts(ax):
        assert inside(line_points(ax), text.get_window_extent(r)) == 0, text.get_text()


def test_validation_curve_with_a_second_swept_key_draws_one_pair_per_value(plot_results):
    fig = make_figure(target(plot_results, "two-keys"))
    assert fig.axes[0].get_xlabel() == "hidden width (units per layer)"
    assert fig_labels(fig) == ["l2=0", "l2=0.01", "train (dashed)", "validation (solid)"]


def test_learning_curve_over_train_size(plot_results):
    t = target(plot_results, "train-size")
    assert default_kind(t) == "learning"
    fig = make_figure(t, metric="acc")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "training examples (n_train)" and ax.get_ylabel() == "final accuracy"
    assert list(line_data(ax, "train").get_xdata()) == [20, 40, 70]
    assert [t.get_text()[:4] for t in texts(ax)] == ["gap ", "gap "]
    assert fig._suptitle.get_text() == "train-size: learning curve (final accuracy vs training-set size)"
    r = check_layout(fig)
    panel = ax.get_window_extent(r)
    for text in texts(ax):  # the last point's gap label too: inside the panel
        box = text.get_window_extent(r)
        assert panel.x0 <= box.x0 and box.x1 <= panel.x1, text.get_text()


def test_diverged_runs_do_not_set_the_scale(plot_results):
    t = target(plot_results, "lr")
    assert [r.status for r in t.runs] == ["completed", "completed", "diverged"]
    (ax,) = make_figure(t).axes
    assert list(line_data(ax, "validation").get_xdata()) == [0.01, 0.1]
    assert line_data(ax, "diverged").get_xdata()[0] == 1000.0
    assert ax.get_xscale() == "log"
    fig = make_figure(t, "compare")
    assert fig_labels(fig)[-1] == "diverged (off the scale)"
    done = [v for r in t.runs[:2] for c in ("train_loss", "val_loss") for v in r.column(c)]
    assert fig.axes[0].get_ylim()[1] < 1.1 * max(done)


def test_auto_xscale():
    cases = [([0.1, 0.2, 0.3], "linear"), ([1e-4, 1e-3, 1e-2], "log"), ([0.0, 1e-4, 1e-2], "symlog"),
             ([8, 16, 32, 64], "log"), ([1, 5, 10], "linear"), ([-1e-3, 1.0], "linear"),
             ([2, 4, 8, 32], "log"), ([2, 3, 4], "linear")]
    for xs, scale in cases:
        ax = Figure().add_subplot()
        auto_xscale(ax, xs)
        assert ax.get_xscale() == scale, xs
    ax = Figure().add_subplot()
    auto_xscale(ax, [2, 4, 8, 32])  # batch sizes: doublings with a gap, evenly spaced on a log2 axis
    assert ax.xaxis.get_transform().base == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "4", "8", "32"]


def test_numeric_axis_reads_widths_depths_rates_and_full_batches():
    def runs(key, values, n_train=50):
        return [Run(Path("x"), {"n_train": n_train}, {key: v}) for v in values]

    assert numeric_axis("model.hidden", runs("model.hidden", [[8], [32]])) == ([8.0, 32.0], "hidden width (units per layer)")
    assert numeric_axis("model.hidden", runs("model.hidden", [[8, 8], [16, 16]]))[0] == [8.0, 16.0]
    assert numeric_axis("model.hidden", runs("model.hidden", [[8], [8, 8, 8]])) == ([1.0, 3.0], "depth (hidden layers)")
    # mixed widths and depths: a position per architecture, by total units then depth; [8] and
    # [4, 4] are two points, not one of 8 units
    assert numeric_axis("model.hidden", runs("model.hidden", [[8, 4], [16, 2]])) == ([0.0, 1.0], ARCHITECTURES)
    assert numeric_axis("model.hidden", runs("model.hidden", [[4, 4], [8], [2]]))[0] == [2.0, 1.0, 0.0]
    assert numeric_axis("model.dropout", runs("model.dropout", [0.0, {"rate": 0.5, "mode": "classic"}]))[0] == [0.0, 0.5]
    assert numeric_axis("train.batch_size", runs("train.batch_size", [8, "full"]))[0] == [8.0, 50.0]
    assert numeric_axis("optimizer.name", runs("optimizer.name", ["sgd", "adam"])) is None


# ---- inside the model ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["single", "dropout", "poly", "cv", "bn", "iris"])
def test_predict_from_state_reproduces_the_runs_own_validation_accuracy(plot_results, name):
    """Eval mode exactly as the trainer: BatchNorm running stats, classic dropout ×(1−rate), CV fold."""
    run = Run.load(getattr(plot_results, name))
    member = (run.members() or [run])[0]
    from dlexp.config.schema import DataConfig
    from dlexp.data.datasets import load_dataset, make_cv_folds

    cfg = DataConfig(**member.config["data"])
    fold = member.summary.get("fold")
    ds = make_cv_folds(cfg, k=member.config["eval"]["cv"])[fold] if fold is not None else load_dataset(cfg)
    out = predict_from_state(member.model(), member.config, ds.X_val)
    assert np.mean(out.argmax(axis=1) == ds.y_val) == member.summary["val_acc"]


@pytest.mark.parametrize("name", ["single", "poly", "cv"])
def test_decision_plane_classifies_its_points_like_the_run(plot_results, name):
    """The plane (standardized raw x0, x1) maps back through poly features and standardization."""
    plane = decision_plane(Run.load(getattr(plot_results, name)))
    assert plane.X_train.shape[1] == 2 and plane.standardized
    assert abs(plane.X_train.mean(axis=0)).max() < 1e-9
    acc = np.mean(plane.predict_proba(plane.X_val).argmax(axis=1) == plane.y_val)
    assert acc == plane.summary["val_acc"]


def test_decision_plane_of_data_with_a_constant_feature(tmp_path):
    """A feature that is constant in training is standardized as the run's data was (std 1),
    so the plane and its classifier are the run's own."""
    from conftest import plot_train

    rows = "".join(f"{(i * 7 % 60) / 59},0.1,{int(i * 7 % 60 >= 30)}\n" for i in range(60))
    (tmp_path / "flat.csv").write_text("a,b,y\n" + rows)
    folder = plot_train(tmp_path, {"name": "flat", "data": {"name": "csv", "path": str(tmp_path / "flat.csv"),
                                                            "target": "y"}})
    plane = decision_plane(Run.load(folder))
    assert plane.feature_names == ["a", "b"]
    assert abs(plane.X_train[:, 1]).max() < 1e-9  # the constant column stays (about) 0
    acc = np.mean(plane.predict_proba(plane.X_val).argmax(axis=1) == plane.y_val)
    assert acc == plane.summary["val_acc"]


def test_boundary_runs_side_by_side(plot_results):
    p = plot_results
    fig = make_figure(target(p, p.single, p.dropout, p.poly, p.cv), "boundary")
    axes = visible(fig)
    assert len(axes) == 4
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["l2-early", "dropout", "poly", "cv"]
    for ax in axes:
        assert "train acc" in ax.get_title() and ax.get_xlabel() == "x0 (standardized)"
        assert len(ax.collections) >= 3  # regions, training points, validation points
    assert fig_labels(fig) == ["class 0", "class 1", "training points", "validation points", "decision boundary"]
    assert fig._suptitle.get_text() == "Decision boundaries"


@pytest.mark.parametrize("name, message", [("regression", "need a classification task"),
                                           ("iris", "need 2-D data; iris has 4 features")])
def test_boundary_refuses_data_it_cannot_draw(plot_results, name, message):
    with pytest.raises(UsageError, match=message):
        make_figure(target(plot_results, getattr(plot_results, name)), "boundary")


def _share(p):
    return "0 %" if p == 0 else "<1 %" if p < 0.005 else ">99 %" if 0.995 <= p < 1 else f"{round(p * 100)} %"


def test_weights_small_multiples_one_column_per_run(plot_results):
    t = target(plot_results, "l1")
    fig = make_figure(t, "weights")
    assert len(fig.axes) == 2 * 3 + 1  # 2 Dense layers (rows) × 3 runs (columns) + near-zero share vs λ
    rows, near = [fig.axes[0:3], fig.axes[3:6]], fig.axes[6]
    # each column titled with its run's label, in its run's color; the floats of one key alike
    assert [ax.get_title() for ax in rows[0]] == ["l1=0", "l1=1e-3", "l1=1e-1"]
    assert [ax.get_title() for ax in rows[1]] == ["", "", ""]
    colors = [ax.title.get_color() for ax in rows[0]]
    assert len(set(colors)) == 3 and ZERO_COLOR not in colors
    assert [ax.get_ylabel() for ax in (rows[0][0], rows[1][0])] == ["layer 1\n(2×8)\ncount", "output layer\n(8×2)\ncount"]
    assert [ax.get_xlabel() for ax in rows[1]] == ["weight value"] * 3
    for row in rows:  # a row (one layer) shares its x axis and its counts
        assert all(row[0].get_shared_x_axes().joined(row[0], ax) for ax in row)
        assert all(row[0].get_shared_y_axes().joined(row[0], ax) for ax in row)
        assert row[0].get_yscale() == "symlog"
    # nonzero weights in the run's color; the exact zeros a black bar of their own; the shares in words
    zero_bars = 0
    for j, run in enumerate(t.runs):
        model = run.model()
        for i, W in enumerate([model["dense0.W"], model["dense1.W"]]):
            ax = rows[i][j]
            (text,) = texts(ax)
            assert text.get_text() == f"{_share(np.mean(W == 0))} exactly 0\n{_share(np.mean(np.abs(W) < 1e-3))} |w|<1e-3"
            hist = [p for p in ax.patches if isinstance(p, StepPatch)]
            assert hist and all(to_hex(p.get_facecolor() if p.get_fill() else p.get_edgecolor()) == to_hex(colors[j])
                                for p in hist)
            assert sum(hist[0].get_data().values) == np.sum(W != 0)
            bars = [p for p in ax.patches if isinstance(p, Rectangle)]
            if np.any(W == 0):
                (bar,) = bars
                assert bar.get_height() == np.sum(W == 0) and to_hex(bar.get_facecolor()) == to_hex(ZERO_COLOR)
                assert bar.get_x() < 0 < bar.get_x() + bar.get_width()
                zero_bars += 1
            else:
                assert not bars
    assert zero_bars, "proximal L1 at 0.1 zeroes weights: the test needs a zero bar to check"
    # the near-zero share vs λ stays, for a sweep over the L1 strength
    line = line_data(near, "share |w| < 1e-3 (right)")
    by_l1 = {r.point["regularization.l1"]: r.summary["weights"]["near_zero_fraction"] for r in t.runs}
    assert list(line.get_ydata()) == pytest.approx([by_l1[x] for x in line.get_xdata()])
    assert near.get_xlabel() == "λ (regularization.l1)" and near.get_xscale() == "symlog"
    assert fig_labels(fig)[:2] == ["weights ≠ 0 (one color per run)", "weights exactly 0"]
    r = check_layout(fig)
    for ax in fig.axes[:6]:  # the shares sit above the bars
        box = texts(ax)[0].get_window_extent(r)
        tops = [ax.transData.transform((0, p.get_data().values.max()))[1] for p in ax.patches if isinstance(p, StepPatch)]
        tops += [ax.transData.transform((0, p.get_height()))[1] for p in ax.patches if isinstance(p, Rectangle)]
        assert box.y0 > max(tops)


def pixels(fig):
    """(width, height) of the figure as saved (choose.DPI)."""
    from dlexp.figures.choose import DPI

    return fig.get_figwidth() * DPI, fig.get_figheight() * DPI


def test_weights_of_six_runs_wrap_into_rows_and_stay_legible(plot_results):
    """Six runs: two rows of three (a figure within 2,000 px, 11 pt titles legible on a slide) whose
    titles (long labels wrap) never run into each other."""
    runs = target(plot_results, "l1").runs
    points = [{"regularization": {"l1": 0.0, "l2": 0.0}}, {"regularization": {"l1": 1e-3, "l1_mode": "proximal"}},
              {"regularization": {"l1": 1e-2, "l1_mode": "proximal"}},
              {"regularization": {"l1": 1e-2, "l1_mode": "subgradient"}},
              {"regularization": {"l2": 1e-3}}, {"regularization": {"l2": 1e-2}}]
    runs = [dataclasses.replace(runs[i % 3], point=p) for i, p in enumerate(points)]
    t = Target("study-sparsity", plot_results.out, runs, ["regularization"], True)
    fig = make_figure(t, "weights")
    assert len(fig.axes) == 2 * 6  # no λ panel: the sweep is not over one strength
    assert pixels(fig)[0] <= 2000
    # block by block: (layer 1, output layer) of runs 1-3, then of runs 4-6
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes[0:3] + fig.axes[6:9]]
    assert titles == ["l1=0, l2=0", "l1=1e-3, l1_mode=proximal", "l1=1e-2, l1_mode=proximal",
                      "l1=1e-2, l1_mode=subgradient", "l2=1e-3", "l2=1e-2"]
    cells = [ax.get_subplotspec() for ax in fig.axes]
    assert [c.rowspan.start for c in cells] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert [c.colspan.start for c in cells[6:9]] == [0, 1, 2]
    # each row of runs has its own y labels; the layers share their x axis across the blocks
    assert fig.axes[6].get_ylabel().startswith("layer 1") and fig.axes[9].get_ylabel().startswith("output layer")
    assert fig.axes[0].get_shared_x_axes().joined(fig.axes[0], fig.axes[7])
    check_layout(fig)


def test_weights_of_runs_of_different_depth_share_the_output_row(plot_results):
    fig = make_figure(target(plot_results, plot_results.nobn, plot_results.single), "weights")
    assert len(fig.axes) == 3 * 2  # rows: layer 1, layer 2, output layer; columns: no-bn, l2-early
    shown = visible(fig)
    assert len(shown) == 5  # l2-early has no second hidden layer
    assert [ax.get_title() for ax in fig.axes[:2]] == ["no-bn", "l2-early"]
    assert [fig.axes[i].get_ylabel().split("\n")[0] for i in (0, 2, 4)] == ["layer 1", "layer 2", "output layer"]
    assert [len([p for p in ax.patches if isinstance(p, StepPatch)]) for ax in shown] == [2] * 5
    assert fig._suptitle.get_text() == "Dense weights per layer"
    check_layout(fig)


def test_activations_side_by_side_with_and_without_batchnorm(plot_results, capsys):
    p = plot_results
    fig = make_figure(target(p, p.bn, p.nobn, p.single), "activations")
    assert "skipping" in capsys.readouterr().err  # the run without activations.csv
    assert len(fig.axes) == 4  # (mean, std) × 2 runs
    top = fig.axes[:2]
    assert [ax.get_title() for ax in top] == ["bn\nnorm: batchnorm", "no-bn\nnorm: none"]
    for ax in fig.axes:
        assert len(ax.get_lines()) == 2  # two hidden layers
        assert ax.get_lines()[0].get_xdata()[0] == 0  # epoch 0 = at initialization
        assert ax.get_legend() is None
    assert fig_labels(fig) == ["hidden layer 1", "hidden layer 2"]  # one legend for every panel, below them
    assert fig.axes[2].get_ylabel() == "std of pre-activation"
    check_layout(fig)
    with pytest.raises(UsageError, match="track_activations"):
        make_figure(target(p, p.single), "activations")


def activation_run(name, rows, norm="none", **summary):
    run = Run(Path(name), {"name": name, "status": "completed", **summary})
    run.__dict__["activations"] = rows  # as read from activations.csv
    run.__dict__["config"] = {"model": {"norm": norm}}
    return run


def test_activations_of_a_diverged_run_are_cut_and_do_not_set_the_scale():
    steady = [{"epoch": e, "layer": l, "mean": 0.1 * l - 0.02 * e, "std": 1.0 + 0.05 * e} for e in range(6) for l in (0, 1)]
    blown = [{"epoch": 0, "layer": l, "mean": 0.0, "std": 1.3} for l in (0, 1)] + [
        {"epoch": 1, "layer": 0, "mean": -6.1e14, "std": 2.8e15}, {"epoch": 1, "layer": 1, "mean": -2.9e29, "std": math.inf},
        {"epoch": 2, "layer": 0, "mean": -math.inf, "std": math.nan}, {"epoch": 2, "layer": 1, "mean": math.nan, "std": math.nan}]
    runs = [activation_run("bn", steady, "batchnorm"),
            activation_run("plain", blown, status="diverged", diverged_epoch=1)]
    fig = activations_figure(runs)
    assert len(fig.axes) == 4
    for ax in fig.axes:
        lo, hi = ax.get_ylim()
        assert math.isfinite(lo) and math.isfinite(hi) and hi - lo < 10, (lo, hi)  # the steady run's scale
    mean_plain, std_plain = fig.axes[1], fig.axes[3]
    for ax in (mean_plain, std_plain):
        layers = [l for l in ax.get_lines() if l.get_label().startswith("hidden")]
        assert len(layers) == 2 and all(max(l.get_xdata()) < 1 for l in layers)  # cut before the diverged epoch
        (mark,) = [l for l in ax.get_lines() if l.get_label() == "diverged"]
        assert mark.get_color() == STOP_COLOR and list(mark.get_xdata()) == [1, 1]
    assert [t.get_text() for t in texts(mean_plain)] == ["diverged at epoch 1"]
    assert not texts(fig.axes[0])
    assert fig_labels(fig)[-1] == "diverged (values beyond)"
    check_layout(fig)


@pytest.mark.parametrize("kind, names", [
    ("curves", ["single"]), ("curves", ["cv"]), ("compare", ["optimizers"]), ("compare", ["lr"]),
    ("validation", ["width"]), ("validation", ["l1"]), ("validation", ["two-keys"]), ("learning", ["train-size"]),
    ("boundary", ["single", "dropout", "poly", "cv"]), ("weights", ["l1"]), ("weights", ["width"]),
    ("activations", ["bn", "nobn"]),
])
def test_every_kind_keeps_legends_and_labels_off_the_title_and_the_data(plot_results, kind, names):
    fig = make_figure(target(plot_results, *[getattr(plot_results, n, n) for n in names]), kind)
    assert fig.get_layout_engine() is not None  # constrained layout makes room for titles and legends
    check_layout(fig)


def test_damaged_runs_are_skipped_with_a_warning(plot_results, capsys):
    t = target(plot_results, "broken")
    err = capsys.readouterr().err
    assert "skipping" in err and "damaged" in err and "missing" in err
    assert len(t.runs) == 1
    assert len(make_figure(t).axes) == 1  # compare: the per-epoch panel


def test_a_kind_that_does_not_fit_is_a_usage_error(plot_results):
    with pytest.raises(UsageError, match="numeric key"):
        make_figure(target(plot_results, "optimizers"), "validation")
    with pytest.raises(UsageError, match="curves draws one run"):
        make_figure(target(plot_results, "width"), "curves")
    with pytest.raises(UsageError, match="different training-set sizes"):
        make_figure(target(plot_results, "width"), "learning")
    with pytest.raises(UsageError, match="--metric r2 does not fit"):
        make_figure(target(plot_results, "width"), "validation", "r2")


# ---- files and the command line -----------------------------------------------------------------

def test_save_figure_writes_png_svg_pdf(plot_results, tmp_path):
    fig = make_figure(target(plot_results, plot_results.regression))
    assert fig.axes[1].get_ylabel() == "R²"
    heads = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}
    for fmt, head in heads.items():
        path = save_figure(fig, tmp_path / f"f.{fmt}", fmt)
        assert path.read_bytes().startswith(head)


def test_plot_writes_next_to_the_target_by_default(plot_results):
    path = plot(["width"], results=plot_results.out, fmt="svg")
    assert path == plot_results.width / "validation.svg" and path.read_bytes().startswith(b"<?xml")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_plot(plot_results, tmp_path):
    res = invoke("plot", plot_results.single, "--results", plot_results.out)
    assert res.exit_code == 0, res.output
    assert Path(res.stdout.strip()) == plot_results.single / "curves.png"
    out = tmp_path / "cmp.pdf"
    res = invoke("plot", "optimizers", plot_results.nobn, "--results", plot_results.out, "--out", out)
    assert res.exit_code == 0 and res.stdout.strip() == str(out) and out.read_bytes().startswith(b"%PDF")


def test_default_file_of_several_targets_goes_to_results_plots(plot_results):
    t = target(plot_results, plot_results.bn, plot_results.nobn)
    path, fmt = output_path(t, "activations", None, None)
    assert path == plot_results.out / "plots" / f"activations-{plot_results.bn.name}+{plot_results.nobn.name}.png"
    assert output_path(t, "compare", Path("a/b"), "pdf") == (Path("a/b.pdf"), "pdf")
    assert output_path(t, "compare", Path("a/b.svg"), None) == (Path("a/b.svg"), "svg")


@pytest.mark.parametrize("args, message", [
    (["{regression}", "--kind", "boundary"], "classification task"),
    (["{single}", "--kind", "activations"], "track_activations"),
    (["optimizers", "--kind", "validation"], "numeric key"),
    (["no-such-run"], "not a run folder"),
    (["{single}", "--out", "x.jpg"], "unknown file type .jpg"),
    (["{single}", "--out", "x.svg", "--format", "png"], "ends in .svg but --format is png"),
])
def test_cli_plot_errors_exit_2(plot_results, args, message):
    args = [a.format(**{k: str(v) for k, v in vars(plot_results).items()}) for a in args]
    res = invoke("plot", *args, "--results", plot_results.out)
    assert res.exit_code == 2 and message in res.stderr and "Traceback" not in res.output


# ---- issue 19: figures for slides ------------------------------------------------------------------

@pytest.fixture(scope="module")
def random_sweep(plot_results):
    """A random search as `dlexp sweep` records one: a grid key beside two sampled ones, the
    distributions in sweep.yaml (log-uniform lr, uniform dropout)."""
    from conftest import plot_train

    samples = [(0.0012, 0.05), (0.0347, 0.41), (0.0081, 0.22)]
    points = []
    for hidden in ([4], [8]):
        for lr, rate in samples:
            point = {"model.hidden": hidden, "optimizer.lr": lr, "model.dropout": rate}
            folder = plot_train(plot_results.out, point)
            points.append({"point": point, "run_id": folder.name, "status": "completed"})
    folder = plot_results.out / "sweeps" / "random"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"name": "random", "swept": list(points[0]["point"]),
                                                      "points": points}))
    (folder / "sweep.yaml").write_text("name: random\ngrid:\n  model.hidden: [[4], [8]]\nrandom:\n  samples: 3\n"
                                       "  params:\n    optimizer.lr: {dist: loguniform, low: 1.0e-3, high: 0.1}\n"
                                       "    model.dropout: {dist: uniform, low: 0.0, high: 0.5}\n")
    return folder


def test_a_random_search_defaults_to_a_scatter_per_sampled_key(plot_results, random_sweep):
    t = target(plot_results, "random")
    assert t.sampling == {"optimizer.lr": "loguniform", "model.dropout": "uniform"}
    assert default_kind(t) == "scatter"
    fig = make_figure(t)
    lr, dropout = fig.axes
    assert lr.get_xscale() == "log" and dropout.get_xscale() == "linear"  # as each key was sampled
    assert lr.get_xlabel() == "learning rate (optimizer.lr) — sampled log-uniformly"
    assert dropout.get_xlabel() == "dropout rate (model.dropout)"
    assert lr.get_ylabel() == "final validation cross-entropy loss"
    # one colour per grid value, a point per run; no 6-entry legend, no line key for lines not drawn
    assert fig_labels(fig)[:2] == ["hidden=[4]", "hidden=[8]"] and len(fig_labels(fig)) == 3
    assert fig_labels(fig)[2].startswith("best run (loss ")
    assert not [l for l in fig_labels(fig) if "dashed" in l or "solid" in l]
    points = [c for c in lr.collections if c.get_offsets().shape[0]]
    assert sum(len(c.get_offsets()) for c in points) == 6
    assert len({to_hex(c.get_facecolor()[0]) for c in points}) == 2
    best = min(t.runs, key=lambda r: r.summary["val_loss"])
    (star,) = [l for l in lr.get_lines() if l.get_label().startswith("best run")]
    assert star.get_xdata()[0] == best.point["optimizer.lr"] and star.get_ydata()[0] == best.summary["val_loss"]
    check_layout(fig)
    # a validation curve of the same runs: ticks where matplotlib puts them, not at 0.0347 and 0.0081
    fig = make_figure(t, "validation")
    ticks = [tick.get_text() for tick in fig.axes[0].get_xticklabels()]
    assert "0.0347" not in ticks and "0.0081" not in ticks
    assert "train (dashed)" not in fig_labels(fig)  # every group is one point: no dashed line drawn


def test_mixed_widths_and_depths_are_labelled_by_architecture(plot_results, tmp_path):
    """[32, 32] is not 64 units in one layer: each architecture its own tick, ordered by size."""
    runs = fake_runs([0.5, 0.3, 0.2, 0.1], [0.5, 0.35, 0.3, 0.45], metric="loss")
    hidden = [[2], [8], [6, 6], [8, 8, 8]]
    for run, h in zip(runs, hidden):
        run.point["model.hidden"] = h
        run.summary["run_id"] = run.folder.name
    t = Target("cap", tmp_path, runs, ["model.hidden"], True)
    import dlexp.figures.choose as choose

    labels = {r.run_id: {"label": lab} for r, lab in zip(runs, ["underfitting", "good_fit", "good_fit", "overfitting"])}
    original = choose.verdict
    choose.verdict = lambda runs, swept, key=None: original(runs, swept, labels, key=key)
    try:
        fig = make_figure(t, "validation")
    finally:
        choose.verdict = original
    (ax,) = fig.axes
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["2", "8", "6×2", "8×3"]
    assert ax.get_xlabel() == "hidden layers (units × layers)" and ax.get_xscale() == "linear"
    assert list(line_data(ax, "validation").get_xdata()) == [0, 1, 2, 3]
    (star,) = [l for l in ax.get_lines() if l.get_label().startswith("best: ")]
    assert star.get_label().startswith("best: 6×2 (loss 0.3")
    assert [lab for lab, _, _ in shading(ax)] == ["underfitting", "good_fit", "overfitting"]
    assert shading(ax)[1][1:] == (0.5, 2.5)  # good fit: [8] and [6, 6], half-way to their neighbours
    check_layout(fig)


def test_titles_break_between_phrases():
    fig = Figure(figsize=(5, 4))  # 12 pt outside the dlexp style: 400 points of title
    title = fig_title(fig, "study-learning-curve: learning curve (final loss vs training-set size)").get_text()
    assert title.split("\n") == ["study-learning-curve: learning curve", "(final loss vs training-set size)"]
    # a phrase wider than the figure still wraps, between its words
    long = "x" * 10 + " " + " ".join(["word"] * 40)
    assert all(line for line in fig_title(fig, long).get_text().split("\n"))


def test_a_log_loss_axis_keeps_to_its_data():
    """Losses from 4e-4 to 3.4 with the diagnosis names above them: the axis ends below 10² (the
    names need less than a decade), and its ticks say so."""
    runs = fake_runs(DD_TRAIN, DD_VAL)
    labels = ["underfitting"] * 3 + ["overfitting"] * 8
    fig = sweep_figure(runs, WIDTHS, "hidden width (units per layer)", verdict=verdict_of(runs, WIDTHS, labels, peak=3))
    (ax,) = fig.axes
    lo, hi = ax.get_ylim()
    assert ax.get_yscale() == "log" and max(DD_VAL) < hi < 10 * max(DD_VAL) and lo < min(DD_TRAIN)
    check_layout(fig)


def test_boundary_draws_training_points_on_top_and_names_the_seed(plot_results):
    p = plot_results
    fig = make_figure(target(p, p.single, p.repeats, p.cv, p.poly), "boundary")
    axes = visible(fig)
    assert pixels(fig)[0] <= 2000 and [ax.get_subplotspec().rowspan.start for ax in axes] == [0, 0, 1, 1]
    for ax in axes:
        (train,) = [c for c in ax.collections if c.get_gid() == "training"]
        (val,) = [c for c in ax.collections if c.get_gid() == "validation"]
        assert train.get_zorder() > val.get_zorder()
        assert train.get_sizes()[0] > 1.5 * val.get_sizes()[0]
        assert {to_hex(c) for c in train.get_edgecolor()} == {"#000000"} and train.get_linewidths()[0] >= 0.6
    titles = [ax.get_title().split("\n")[-1] for ax in axes]
    assert titles == ["model of seed 0", "model of seed 0 (first of 2)", "model of fold 1, seed 0 (first of 3)",
                      "model of seed 0"]


def test_activations_of_many_runs_wrap_into_rows(plot_results):
    p = plot_results
    runs = [dataclasses.replace(Run.load(p.bn if i % 2 else p.nobn), summary={
        **Run.load(p.bn if i % 2 else p.nobn).summary, "name": f"run {i}"}) for i in range(6)]
    fig = activations_figure(runs)
    assert len(fig.axes) == 12 and pixels(fig)[0] <= 2000
    rows = [ax.get_subplotspec().rowspan.start for ax in fig.axes]
    assert rows == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]  # (mean, std) of runs 1-3, then of runs 4-6
    assert [fig.axes[i].get_ylabel() for i in (0, 3, 6, 9)] == ["mean of pre-activation", "std of pre-activation"] * 2
    assert fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[8])  # the mean panels share y
    check_layout(fig)


def test_another_metric_gets_its_own_file_and_an_existing_folder_is_written_into(plot_results, tmp_path):
    t = target(plot_results, "width")
    assert output_path(t, "validation", None, None) == (plot_results.width / "validation.png", "png")
    assert output_path(t, "validation", None, None, "acc") == (plot_results.width / "validation-acc.png", "png")
    assert output_path(t, "curves", None, None, "acc")[0].name == "curves.png"  # curves draw every metric
    assert output_path(t, "seeds", None, None, "acc")[0].name == "seeds-acc.png"
    path = plot(["width"], metric="acc", results=plot_results.out, out=tmp_path)
    assert path == tmp_path / "validation-acc.png" and path.read_bytes().startswith(b"\x89PNG")
    res = invoke("plot", "width", "--results", plot_results.out, "--out", tmp_path, "--format", "svg")
    assert res.exit_code == 0 and Path(res.stdout.strip()) == tmp_path / "validation.svg"


def test_where_plots_a_subset_of_a_sweep(plot_results, tmp_path):
    t = load_target(["two-keys"], plot_results.out, where=[("regularization.l2", 0.01)])
    assert [r.point["regularization.l2"] for r in t.runs] == [0.01, 0.01]
    assert t.swept == ["model.hidden"] and t.subset == "regularization.l2=0.01"
    fig = make_figure(t)
    assert fig._suptitle.get_text().replace("\n", " ").startswith("two-keys (regularization.l2=0.01): validation curve")
    assert fig_labels(fig)[:2] == ["train", "validation"]  # one pair: the other key no longer varies
    res = invoke("plot", "two-keys", "--results", plot_results.out, "--where", "model.hidden=[16]",
                 "--where", "regularization.l2=0")
    assert res.exit_code == 0, res.output
    assert Path(res.stdout.strip()) == plot_results.two_keys / "compare-model.hidden_16_regularization.l2_0.png"
    res = invoke("report", "two-keys", "--results", plot_results.out, "--where", "model.hidden=[4]",
                 "--out", tmp_path / "r.html")
    assert res.exit_code == 0 and "hidden=[16]" not in (tmp_path / "r.html").read_text()
    res = invoke("table", "two-keys", "--results", plot_results.out, "--where", "regularization.l2=0.01",
                 "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 2 and {r["regularization.l2"] for r in rows} == {0.01}


@pytest.mark.parametrize("where, message", [
    ("regularisation.l2=0", "--where regularisation.l2: no run has this key (did you mean 'regularization.l2'?)"),
    ("model.hidden=[5]", "--where model.hidden=[5]: no run has this value; model.hidden is [16], [4]"),
    ("model.hidden", "expected KEY=VALUE"),
    ("model.hidden=[4", "the value is not YAML"),
])
def test_where_refuses_what_no_run_has_with_exit_2(plot_results, where, message):
    for command in ("plot", "report", "table"):
        res = invoke(command, "two-keys", "--results", plot_results.out, "--where", where)
        assert res.exit_code == 2 and message in res.stderr and "Traceback" not in res.output, res.output


def test_per_second_fits_compare_only(plot_results):
    res = invoke("plot", "width", "--results", plot_results.out, "--per-second")
    assert res.exit_code == 2 and "--per-second adds a panel to compare figures" in res.stderr
