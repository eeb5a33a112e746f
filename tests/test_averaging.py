"""Figures of averaged networks and of input weights: dlexp plot --kind averaging and --kind inputs."""

import numpy as np
import pytest

from dlexp.analysis import averaging
from dlexp.errors import UsageError
from dlexp.figures.averaging import averaging_figure
from dlexp.figures.model import input_norms, inputs_figure
from dlexp.results.reader import Run
from helpers import invoke


def run_folder(tmp_path, text: str, name: str) -> Run:
    p = tmp_path / f"{name}.yaml"
    p.write_text(text)
    r = invoke("run", p, "--results", tmp_path / "res", "-q")
    assert r.exit_code == 0, r.output
    return Run.load(r.stdout.strip())


@pytest.fixture(scope="module")
def dropout_run(tmp_path_factory):
    return run_folder(tmp_path_factory.mktemp("avg"), "data: {name: moons, n_samples: 200, noise: 0.3}\n"
                      "model: {hidden: [32], dropout: 0.5}\noptimizer: {lr: 0.01}\ntrain: {epochs: 20}\n"
                      "seeds: [0, 1]\n", "drop")


def test_thinned_networks_of_a_model_without_dropout_are_the_model(dropout_run, tmp_path):
    plain = run_folder(tmp_path, "data: {name: moons, n_samples: 100}\nmodel: {hidden: [8]}\ntrain: {epochs: 2}\n", "p")
    models, ds = averaging._members(plain)
    out = averaging.thinned_outputs(models[0], ds.X_test, np.random.default_rng(0))
    np.testing.assert_array_equal(out, models[0].predict(ds.X_test))
    with pytest.raises(UsageError, match="no dropout"):
        averaging.mc_curves(plain)


def test_mc_curves_are_reproducible_and_their_masks_vary(dropout_run):
    a, b = averaging.mc_curves(dropout_run, masks=(1, 2, 64)), averaging.mc_curves(dropout_run, masks=(1, 2, 64))
    assert [c.loss for c in a] == [c.loss for c in b]                # the masks come from seeded streams
    models, ds = averaging._members(dropout_run)
    rng = np.random.default_rng(0)
    one, two = (averaging.thinned_outputs(models[0], ds.X_test, rng) for _ in range(2))
    assert not np.array_equal(one, two)                               # each call another thinned network
    assert all(0 <= x <= 1 for c in a for x in c.agree) and len(a) == 2


def test_ensemble_curve_of_one_member_is_weight_scaling(dropout_run):
    ens, scaled = averaging.ensemble_curve(dropout_run), averaging.weight_scaling(dropout_run)
    assert ens.n == [1, 2]
    assert ens.loss[0] == pytest.approx(scaled[0][0], rel=1e-6) and ens.acc[0] == scaled[0][1]
    # the run's own summary.json scored the same average of its two members
    assert ens.loss[1] == pytest.approx(dropout_run.summary["ensemble_test_loss"], rel=1e-5)
    assert ens.acc[1] == pytest.approx(dropout_run.summary["ensemble_test_acc"])


def test_averaging_figure_draws_what_the_reader_measures(dropout_run):
    fig = averaging_figure([dropout_run], masks=(1, 4, 16))
    loss_ax, acc_ax = fig.axes[:2]
    curves = averaging.mc_curves(dropout_run, masks=(1, 4, 16))
    mc = next(line for line in loss_ax.lines if line.get_marker() == "o")
    np.testing.assert_allclose(mc.get_ydata(), np.mean([c.loss for c in curves], axis=0))
    flat = [line for line in acc_ax.lines if line.get_linestyle() == ":"]
    assert flat and flat[0].get_ydata()[0] == pytest.approx(np.mean([a for _, a in averaging.weight_scaling(dropout_run)]))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("weight scaling" in s for s in labels) and any("thinned" in s for s in labels)
    assert any("ensemble of M" in s for s in labels)
    assert loss_ax.get_xscale() == "log"


def test_averaging_refuses_a_run_with_nothing_to_average(tmp_path):
    run = run_folder(tmp_path, "data: {name: moons, n_samples: 100}\nmodel: {hidden: [8]}\ntrain: {epochs: 2}\n", "s")
    with pytest.raises(UsageError, match="dropout or with repeats"):
        averaging_figure([run])
    r = invoke("plot", run.folder, "--kind", "averaging", "--out", tmp_path / "a.png")
    assert r.exit_code == 2 and "dropout or with repeats" in r.output and "Traceback" not in r.output


def test_inputs_figure_draws_each_inputs_first_layer_norm(tmp_path):
    csv = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    csv.write_text("signal,noise_a,noise_b,y\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{int(a > 0)}\n" for a, b, c in X))
    run = run_folder(tmp_path, f"data: {{name: csv, path: {csv}, target: y}}\nmodel: {{hidden: [4]}}\n"
                     "optimizer: {name: sgd, lr: 0.5}\ntrain: {epochs: 200, batch_size: full}\n"
                     "regularization: {l1: 0.05, l1_mode: proximal}\nseeds: [0, 1]\n", "l1")
    norms = input_norms(run)
    assert norms.shape == (2, 3) and (norms[:, 0] > 0).all()
    fig = inputs_figure([run])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["signal", "noise_a", "noise_b"]
    np.testing.assert_allclose([b.get_height() for b in ax.patches], norms.mean(axis=0))
    cut = int(np.all(norms == 0, axis=0).sum())
    assert any(t.get_text() == f"{cut} of 3 inputs exactly 0" for t in ax.texts)
    r = invoke("plot", run.folder, "--kind", "inputs", "--out", tmp_path / "i.png")
    assert r.exit_code == 0 and (tmp_path / "i.png").stat().st_size > 0
