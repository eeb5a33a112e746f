"""`dlexp plot`: every figure kind drawn from small real runs, checked on the Figure it returns."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from dlexp import figures
from dlexp.cli import main
from dlexp.errors import UsageError
from dlexp.figures import TRAIN_COLOR, VAL_COLOR, auto_xscale
from dlexp.inference import decision_plane, predict_from_state
from dlexp.plots import default_kind, load_target, make_figure, numeric_axis, output_path, plot, save_figure
from dlexp.results import Run


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
    assert labels(loss) == ["train", "validation", f"best epoch {s['best_epoch']}, weights restored",
                            f"early stop, epoch {s['stopped_epoch']}"]
    train, val = line_data(loss, "train"), line_data(loss, "validation")
    assert (train.get_color(), train.get_linestyle()) == (TRAIN_COLOR, "--")
    assert (val.get_color(), val.get_linestyle()) == (VAL_COLOR, "-")
    assert list(val.get_ydata()) == pytest.approx(run.column("val_loss"))
    assert list(line_data(pen, "penalty (not in train loss)").get_ydata()) == pytest.approx(run.column("penalty"))


def test_curves_of_a_run_without_penalty_have_two_panels(plot_results):
    fig = make_figure(target(plot_results, plot_results.nobn))
    assert len(fig.axes) == 2 and "penalty" not in " ".join(ax.get_title() for ax in fig.axes)


@pytest.mark.parametrize("name, what", [("repeats", "2 seeds"), ("cv", "3 CV folds")])
def test_curves_of_repeats_and_folds_draw_mean_and_std_band(plot_results, name, what):
    fig = make_figure(target(plot_results, getattr(plot_results, name)))
    assert fig._suptitle.get_text().endswith(f"(mean ± std of {what})")
    loss = fig.axes[0]
    assert len(loss.collections) == 2  # a ±std band under the train and the val line
    assert any(label.startswith("mean best epoch") for label in labels(loss))


# ---- compare ------------------------------------------------------------------------------------

def test_compare_shows_runs_per_epoch_and_per_second(plot_results):
    t = target(plot_results, "optimizers")
    assert default_kind(t) == "compare"
    fig = make_figure(t)
    per_epoch, per_second = fig.axes
    assert per_epoch.get_xlabel() == "epoch" and per_second.get_xlabel() == "training time (s, cumulative)"
    assert fig._suptitle.get_text() == "optimizers: train and validation loss"
    assert fig_labels(fig) == ["name=sgd", "name=adam", "train", "validation", "best epoch"]
    sgd = t.runs[0]
    val_line = [l for l in per_second.get_lines() if l.get_linestyle() == "-" and len(l.get_xdata()) > 1][0]
    assert list(val_line.get_xdata()) == pytest.approx(np.cumsum(sgd.column("epoch_time")))
    assert list(val_line.get_ydata()) == pytest.approx(sgd.column("val_loss"))


def test_several_targets_default_to_compare_labelled_by_name(plot_results):
    t = target(plot_results, plot_results.bn, plot_results.nobn)
    assert default_kind(t) == "compare" and t.name == ""
    fig = make_figure(t)
    assert fig_labels(fig)[:2] == ["bn", "no-bn"]
    assert fig._suptitle.get_text() == "Train and validation loss"


def test_compare_by_accuracy(plot_results):
    fig = make_figure(target(plot_results, "optimizers"), "compare", "acc")
    assert fig.axes[0].get_ylabel() == "accuracy"


# ---- validation and learning curves --------------------------------------------------------------

def _side_texts(ax):
    """{'underfitting'|'overfitting': axes-fraction x} of the side annotations."""
    return {t.get_text().split("\n")[0].strip("←→ "): t.get_position()[0] for t in texts(ax)}


def test_validation_curve_over_width_names_the_sides_of_the_best_point(plot_results):
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
    sides = _side_texts(ax)
    assert sides, "the sides of the best point are annotated"
    best_frac = figures._frac(ax, best_x)
    assert all(x < best_frac for s, x in sides.items() if s == "underfitting")
    assert all(x > best_frac for s, x in sides.items() if s == "overfitting")
    assert fig._suptitle.get_text() == "width: validation curve (final loss vs hidden width)"
    assert {"train", "validation"} <= set(fig_labels(fig))


def test_validation_curve_over_a_penalty_uses_symlog_and_flips_the_sides(plot_results):
    fig = make_figure(target(plot_results, "l1"))
    (ax,) = fig.axes
    assert ax.get_xscale() == "symlog"  # 0, 0.001, 0.1
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["0", "0.001", "0.1"]
    assert ax.get_xlabel() == "L1 strength λ (regularization.l1)"
    (star,) = [l for l in ax.get_lines() if l.get_label().startswith("best: ")]
    best_frac = figures._frac(ax, star.get_xdata()[0])
    sides = _side_texts(ax)
    # more L1 removes capacity: underfitting lies to the right of the best point
    assert all(x > best_frac for s, x in sides.items() if s == "underfitting")
    assert all(x < best_frac for s, x in sides.items() if s == "overfitting")


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
             ([8, 16, 32, 64], "log"), ([1, 5, 10], "linear"), ([-1e-3, 1.0], "linear")]
    for xs, scale in cases:
        ax = Figure().add_subplot()
        auto_xscale(ax, xs)
        assert ax.get_xscale() == scale, xs


def test_numeric_axis_reads_widths_depths_rates_and_full_batches():
    def runs(key, values, n_train=50):
        return [Run(Path("x"), {"n_train": n_train}, {key: v}) for v in values]

    assert numeric_axis("model.hidden", runs("model.hidden", [[8], [32]])) == ([8.0, 32.0], "hidden width (units per layer)")
    assert numeric_axis("model.hidden", runs("model.hidden", [[8, 8], [16, 16]]))[0] == [8.0, 16.0]
    assert numeric_axis("model.hidden", runs("model.hidden", [[8], [8, 8, 8]])) == ([1.0, 3.0], "depth (hidden layers)")
    assert numeric_axis("model.hidden", runs("model.hidden", [[8, 4], [16, 2]])) == ([12.0, 18.0], "hidden units (total)")
    assert numeric_axis("model.dropout", runs("model.dropout", [0.0, {"rate": 0.5, "mode": "classic"}]))[0] == [0.0, 0.5]
    assert numeric_axis("train.batch_size", runs("train.batch_size", [8, "full"]))[0] == [8.0, 50.0]
    assert numeric_axis("optimizer.name", runs("optimizer.name", ["sgd", "adam"])) is None


# ---- inside the model ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["single", "dropout", "poly", "cv", "bn", "iris"])
def test_predict_from_state_reproduces_the_runs_own_validation_accuracy(plot_results, name):
    """Eval mode exactly as the trainer: BatchNorm running stats, classic dropout ×(1−rate), CV fold."""
    run = Run.load(getattr(plot_results, name))
    member = (run.members() or [run])[0]
    from dlexp.config import DataConfig
    from dlexp.data import load_dataset, make_cv_folds

    cfg = DataConfig(**member.config["data"])
    fold = member.summary.get("fold")
    ds = make_cv_folds(cfg, Path.cwd(), member.config["eval"]["cv"])[fold] if fold is not None else load_dataset(cfg, Path.cwd())
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


def test_weights_histograms_and_sparsity_vs_lambda(plot_results):
    t = target(plot_results, "l1")
    fig = make_figure(t, "weights")
    assert len(fig.axes) == 3  # two Dense layers + near-zero fraction vs λ
    first, last, near = fig.axes
    assert first.get_title() == "Dense layer 1 (2×8)" and last.get_title() == "Dense output layer (8×2)"
    assert first.get_xlabel() == "weight value" and first.get_ylabel() == "count (log scale)"
    assert first.get_yscale() == "symlog"
    assert [label.split(" (")[0] for label in labels(first)] == ["l1=0", "l1=0.001", "l1=0.1"]
    line = line_data(near, "near zero (|w| < 0.001)")
    by_l1 = {r.point["regularization.l1"]: r.summary["weights"]["near_zero_fraction"] for r in t.runs}
    assert list(line.get_ydata()) == pytest.approx([by_l1[x] for x in line.get_xdata()])
    assert near.get_xlabel() == "λ (regularization.l1)" and near.get_xscale() == "symlog"


def test_weights_of_runs_of_different_depth_share_the_output_panel(plot_results):
    fig = make_figure(target(plot_results, plot_results.nobn, plot_results.single), "weights")
    assert [ax.get_title() for ax in fig.axes] == ["Dense layer 1 (2×8)", "Dense layer 2 (8×8)",
                                                   "Dense output layer (8×2)"]
    assert [len(ax.patches) for ax in fig.axes] == [2, 1, 2]  # one step histogram per run
    assert fig._suptitle.get_text() == "Dense weights per layer"


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
    assert labels(top[0]) == ["hidden layer 1", "hidden layer 2"]
    assert fig.axes[2].get_ylabel() == "std of pre-activation"
    with pytest.raises(UsageError, match="track_activations"):
        make_figure(target(p, p.single), "activations")


def test_damaged_runs_are_skipped_with_a_warning(plot_results, capsys):
    t = target(plot_results, "broken")
    err = capsys.readouterr().err
    assert "skipping" in err and "damaged" in err and "missing" in err
    assert len(t.runs) == 1
    assert len(make_figure(t).axes) == 2


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
