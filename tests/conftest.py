"""Shared fixtures. `plot_*`: small finished runs and sweeps for the plot and report tests."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the tests that need it skip or fail on their own
    pass
else:
    # No property test fails for being slow: a per-example deadline (200 ms by default) or the
    # too_slow health check turns a busy machine into a failure; the code's speed is not under test.
    settings.register_profile("dlexp", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("dlexp")

# A tiny, quick experiment: moons, one hidden layer of 8, a few epochs.
PLOT_BASE = {
    "name": "tiny",
    "seed": 0,
    "data": {"name": "moons", "n_samples": 120, "noise": 0.25},
    "model": {"hidden": [8]},
    "optimizer": {"name": "adam", "lr": 0.02},
    "train": {"epochs": 6, "batch_size": 16},
}


def plot_train(out: Path, changes: dict | None = None) -> Path:
    """Train PLOT_BASE with dotted-key `changes` and publish the run folder under `out`."""
    from dlexp.config.load import config_from_dict, resolved_dict, run_id
    from dlexp.config.yamlfile import dump_yaml, set_dotted
    from dlexp.training.experiment import execute
    from dlexp.results.store import write_run

    raw = copy.deepcopy(PLOT_BASE)
    for key, value in (changes or {}).items():
        set_dotted(raw, key, value)
    exp = config_from_dict(raw)
    return write_run(out, run_id(exp), execute(exp), dump_yaml(resolved_dict(exp)))


def plot_sweep(out: Path, name: str, grid: dict, fixed: dict | None = None) -> Path:
    """Train every grid point and write <out>/sweeps/<name>/manifest.json as dlexp/sweep.py does."""
    points = []
    keys = list(grid)
    for values in itertools.product(*grid.values()):
        point = dict(zip(keys, values))
        folder = plot_train(out, {**(fixed or {}), **point})
        points.append({"point": point, "run_id": folder.name, "status": "completed"})
    folder = Path(out) / "sweeps" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"name": name, "swept": keys, "points": points}))
    return folder


@pytest.fixture(scope="session")
def plot_results(tmp_path_factory):
    """A results folder with the runs and sweeps every figure kind needs (about 3 s to build)."""
    out = tmp_path_factory.mktemp("plot-results")
    r = SimpleNamespace(out=out)
    r.single = plot_train(out, {"name": "l2-early", "regularization.l2": 0.01, "train.epochs": 30,
                                "train.early_stopping": {"patience": 2, "min_delta": 0.02}})
    r.repeats = plot_train(out, {"name": "repeats", "repeats": 2})
    r.cv = plot_train(out, {"name": "cv", "eval.cv": 3})
    r.poly = plot_train(out, {"name": "poly", "data.poly_degree": 3})
    r.dropout = plot_train(out, {"name": "dropout", "model.dropout": {"rate": 0.3, "mode": "classic"}})
    r.bn = plot_train(out, {"name": "bn", "model.hidden": [8, 8], "model.norm": "batchnorm",
                            "train.track_activations": True})
    r.nobn = plot_train(out, {"name": "no-bn", "model.hidden": [8, 8], "train.track_activations": True})
    r.regression = plot_train(out, {"name": "sine", "data.name": "sine"})
    r.iris = plot_train(out, {"name": "iris", "data.name": "iris"})
    r.width = plot_sweep(out, "width", {"model.hidden": [[2], [8], [32]]}, {"repeats": 2})
    r.l1 = plot_sweep(out, "l1", {"regularization.l1": [0.0, 0.001, 0.1]}, {"regularization.l1_mode": "proximal"})
    r.train_size = plot_sweep(out, "train-size", {"data.train_size": [20, 40, 70]})
    r.optimizers = plot_sweep(out, "optimizers", {"optimizer.name": ["sgd", "adam"]})
    r.lr = plot_sweep(out, "lr", {"optimizer.lr": [0.01, 0.1, 1000.0]},
                      {"optimizer.name": "sgd", "train.divergence_threshold": 5.0})
    r.two_keys = plot_sweep(out, "two-keys", {"model.hidden": [[4], [16]], "regularization.l2": [0.0, 0.01]})
    # a sweep with one missing and one damaged run beside a good one
    damaged = plot_train(out, {"name": "damaged", "seed": 7})
    (damaged / "metrics.csv").write_text("epoch,train_loss\n1,0.5,0.3\n")
    r.broken = plot_sweep(out, "broken", {"seed": [1]})
    manifest = json.loads((r.broken / "manifest.json").read_text())
    manifest["points"] += [{"point": {"seed": 7}, "run_id": damaged.name, "status": "completed"},
                           {"point": {"seed": 8}, "run_id": "000000000000", "status": "completed"}]
    (r.broken / "manifest.json").write_text(json.dumps(manifest))
    r.damaged = damaged
    return r
