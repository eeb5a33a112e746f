"""The package's shape: stages import only downward, and a new component is one registry entry.

The import contracts live in pyproject.toml ([tool.importlinter]); import-linter checks them
against the real import graph (lazy imports inside functions count too).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint(root: Path) -> subprocess.CompletedProcess:
    """import-linter over the package in `root`, with the contracts of its pyproject.toml."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(root / 'pyproject.toml')!r}, no_cache=True, no_logo=True))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)})


def test_import_contracts_hold():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "5 kept, 0 broken" in r.stdout, r.stdout


def test_the_contracts_catch_an_upward_import(tmp_path):
    """The contracts are not vacuous: a copy of the package whose reader imports the trainer breaks them."""
    shutil.copytree(ROOT / "dlexp", tmp_path / "dlexp")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    reader = tmp_path / "dlexp" / "results" / "reader.py"
    reader.write_text(reader.read_text() + "\nfrom ..training import train  # noqa: E402\n")
    r = lint(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "dlexp.results.reader -> dlexp.training.train" in r.stdout, r.stdout


# A dataset, an activation and an optimizer added the way a contributor adds one: one entry in
# each registry, before anything reads them. The run must then validate, estimate its memory,
# train, and be read by table, diagnose and plot like any other.
PLUGIN = """
import sys

import numpy as np

from dlexp.data import datasets
from dlexp.nn import activations, optim
from dlexp.nn.layers import Layer


def rings(cfg):
    rng = np.random.default_rng(cfg.seed)
    y = np.arange(cfg.n_samples) % 2
    r = 1.0 + y + cfg.noise * rng.standard_normal(cfg.n_samples)
    t = rng.uniform(0, 2 * np.pi, cfg.n_samples)
    X = np.column_stack([r * np.cos(t), r * np.sin(t)])
    return X, y, ["x", "y"], ["inner", "outer"]


class Softsign(Layer):
    kind = "softsign"

    def forward(self, x, training=True):
        self._d = 1.0 + np.abs(x)
        return x / self._d

    def backward(self, dout):
        return dout / (self._d * self._d)


class SignSGD(optim.Optimizer):
    def __init__(self, *, lr: float = 1e-2, momentum: float = 0.0):
        super().__init__(lr)
        self.momentum = momentum

    def _update(self, p, g, state, lr, wd):
        p -= lr * np.sign(g)


datasets.DATASETS["rings"] = datasets.DatasetSpec(rings, datasets.CLASSIFICATION, features=2, classes=2)
activations.ACTIVATIONS["softsign"] = Softsign
optim.OPTIMIZERS["signsgd"] = SignSGD

from dlexp.cli import main

sys.argv = ["dlexp", *sys.argv[1:]]
main()
"""


def _dlexp(tmp_path, *args):
    return subprocess.run([sys.executable, "-c", PLUGIN, *map(str, args)], capture_output=True, text=True,
                          cwd=tmp_path)


def test_a_new_dataset_activation_and_optimizer_are_one_registry_entry_each(tmp_path):
    config = tmp_path / "plugin.yaml"
    config.write_text(textwrap.dedent("""
        name: plugin
        data: {name: rings, n_samples: 200, noise: 0.1}
        model: {hidden: [16], activation: softsign}
        optimizer: {name: signsgd, lr: 0.01}
        train: {epochs: 60, batch_size: 32}
    """))
    schema = _dlexp(tmp_path, "schema")
    assert schema.returncode == 0, schema.stderr
    props = json.loads(schema.stdout)["$defs"]
    assert "rings" in props["DataConfig"]["properties"]["name"]["enum"]
    assert "softsign" in props["ModelConfig"]["properties"]["activation"]["enum"]
    assert "signsgd" in props["OptimizerConfig"]["properties"]["name"]["enum"]

    run = _dlexp(tmp_path, "run", config, "--json", "-q")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["status"] == "completed" and summary["memory_estimate_mb"] > 0
    assert summary["val_acc"] > 0.85, summary  # two separated rings, chance 0.5: it must actually learn
    resolved = (tmp_path / "results" / "runs" / summary["run_id"] / "config.yaml").read_text()
    assert "momentum: 0.0" in resolved  # the new optimizer's defaults are filled like torch's

    for args in (["table", summary["run_id"], "--format", "json"], ["diagnose", summary["run_id"]],
                 ["plot", summary["run_id"]]):
        r = _dlexp(tmp_path, *args)
        assert r.returncode == 0, (args, r.stderr)
    assert (tmp_path / "results" / "runs" / summary["run_id"] / "curves.png").is_file()

    wrong = _dlexp(tmp_path, "run", config, "--set", "model.activation=softsine")
    assert wrong.returncode == 2 and "did you mean 'softsign'" in wrong.stderr, wrong.stderr


@pytest.mark.parametrize("module", ["dlexp.nn", "dlexp.data", "dlexp.config", "dlexp.training", "dlexp.results",
                                    "dlexp.sweeps", "dlexp.analysis", "dlexp.figures"])
def test_every_stage_says_what_it_holds(module):
    import importlib

    doc = importlib.import_module(module).__doc__
    assert doc and len(doc.strip()) > 40, module
