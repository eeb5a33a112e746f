"""train.track_gradients: each Dense layer's weight-gradient norm in metrics.csv, as the loss's own
backward gives it (the reference: one full-batch step taken by hand on the run's initial model)."""

from __future__ import annotations

import json

import numpy as np

from dlexp.config.load import config_from_dict, run_id
from dlexp.data.datasets import load_dataset
from dlexp.figures.choose import load_target, make_figure
from dlexp.training.train import _build, fit
from helpers import invoke

RAW = {"name": "g", "data": {"name": "moons", "n_samples": 80}, "model": {"hidden": [8, 8]},
       "optimizer": {"name": "sgd", "lr": 0.1}, "train": {"epochs": 2, "batch_size": "full", "dtype": "float64",
                                                          "track_gradients": True}}


def test_the_first_epochs_norms_are_those_of_the_initial_models_gradient():
    exp = config_from_dict(RAW)
    ds = load_dataset(exp.data)
    row = fit(exp, ds, seed=3).metrics[0]
    s = _build(exp, ds, 3)  # the same initial model, loss and data
    X, y = s.splits["train"]
    s.train_loss.forward(s.model.forward(X, training=True), y)
    s.model.backward(s.train_loss.backward())
    expected = [np.linalg.norm(g) for g in s.dense_grads]
    got = [row[f"grad_norm_{i}"] for i in range(len(expected))]
    assert len(expected) == 3 and "grad_norm_3" not in row
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_without_the_key_no_columns_and_the_run_id_of_before():
    off = {**RAW, "train": {k: v for k, v in RAW["train"].items() if k != "track_gradients"}}
    exp = config_from_dict(off)
    assert not any(k.startswith("grad_norm_") for k in fit(exp, load_dataset(exp.data), seed=0).metrics[0])
    explicit = config_from_dict({**off, "train": {**off["train"], "track_gradients": False}})
    assert run_id(exp) == run_id(explicit)  # the default leaves existing run ids as they were


def test_the_gradients_figure_needs_the_columns(tmp_path):
    cfg = tmp_path / "g.yaml"
    cfg.write_text(json.dumps(RAW))
    r = invoke("run", cfg, "--results", tmp_path / "r", "-q")
    assert r.exit_code == 0, r.output
    folder = r.stdout.strip()
    fig = make_figure(load_target([folder], tmp_path / "r"), "gradients")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and [len(line.get_xdata()) for line in ax.get_lines()] == [3, 3]
    plain = tmp_path / "p.yaml"
    plain.write_text(json.dumps({**RAW, "train": {**RAW["train"], "track_gradients": False}}))
    folder = invoke("run", plain, "--results", tmp_path / "r", "-q").stdout.strip()
    res = invoke("plot", folder, "--kind", "gradients", "--results", tmp_path / "r")
    assert res.exit_code == 2 and "train.track_gradients: true" in res.stderr
