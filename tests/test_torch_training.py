"""Whole training runs agree with the equivalent torch program, to rtol 1e-9 in float64.

Each case is a config in tests/data/training/<case>.yaml: full-batch float64 training from a
given model.npz (`model.init_from`) on a small CSV dataset, through dlexp's real pipeline
(load_config → execute, and `dlexp run`). Its final parameters and buffers (dense{i}.W/b,
batchnorm{i}.*, layernorm{i}.*) and its per-epoch metrics (lr, train/val loss and metric,
penalty) are compared with what torch computes from the same data arrays and initial weights:
torch.optim with weight decay on Linear weights only, L1/L2 penalties in the loss, clip_grad_norm_,
soft-thresholding for proximal L1, torch.optim.lr_scheduler per epoch. scripts/
make_golden_training.py is that torch program; how each config maps onto torch is written there.

Two layers, as in test_torch_layers.py:
  * golden: tests/golden/training.npz holds torch's answers; these tests never import torch;
  * live: against torch itself where installed (skipped otherwise), including a check that the
    golden file is what the script produces today.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from dlexp.config.load import load_config
from dlexp.data.datasets import load_dataset
from dlexp.training.experiment import execute
from dlexp.nn.model import load_npz
from dlexp.nn.optim import OPTIMIZERS
from dlexp.results.store import read_csv, read_json

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "training"
GOLDEN = ROOT / "tests" / "golden" / "training.npz"
SCRIPT = ROOT / "scripts" / "make_golden_training.py"
RTOL, ATOL = 1e-9, 1e-12
COLUMNS = ("lr", "train_loss", "val_loss", "train_metric", "val_metric", "penalty")


def load_golden():
    """({case: {field: array}}, {dataset: {field: array}}) with fields such as "final/dense0.W"."""
    cases: dict[str, dict] = {}
    datasets: dict[str, dict] = {}
    with np.load(GOLDEN, allow_pickle=False) as archive:
        for key in archive.files:
            head, field = key.split("/", 1)
            if head == "meta":
                continue
            if head == "datasets":
                name, field = field.split("/", 1)
                datasets.setdefault(name, {})[field] = archive[key]
            else:
                cases.setdefault(head, {})[field] = archive[key]
    return cases, datasets


GOLDEN_CASES, GOLDEN_DATASETS = load_golden()
CASE_NAMES = sorted(GOLDEN_CASES)


def raw_config(name: str) -> dict:
    return yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))


def group(fields: dict, prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in fields.items() if k.startswith(prefix)}


def dlexp_run(name: str):
    """(final state, {column: per-epoch array}) of the case through load_config + execute."""
    out = execute(load_config(DATA / f"{name}.yaml"))
    assert out.summary["status"] == "completed", out.summary
    return out.state, metric_columns(out.metrics, out.summary["metric"])


def metric_columns(rows: list[dict], metric: str) -> dict[str, np.ndarray]:
    names = {"train_metric": f"train_{metric}", "val_metric": f"val_{metric}"}
    return {c: np.array([float(r[names.get(c, c)]) for r in rows]) for c in COLUMNS}


def check(name: str, state: dict, metrics: dict, expected: dict) -> None:
    """Every parameter, buffer and per-epoch figure against torch's."""
    final = group(expected, "final/")
    assert sorted(state) == sorted(final), name
    for key, want in final.items():
        got = state[key]
        assert got.shape == want.shape and got.dtype == np.float64, (name, key, got.shape)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{name}: {key}")
    for column, want in group(expected, "metrics/").items():
        got = metrics[column]
        assert got.shape == want.shape, (name, column, got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name}: metrics.csv column {column} (per epoch)")


# ---- golden: no torch needed -------------------------------------------------------------------


def test_golden_covers_every_fixture_and_feature():
    """One golden case per config in tests/data/training, and together they cover every
    optimizer, schedule, norm, penalty mode and task the issues name, each actually at work."""
    assert CASE_NAMES == sorted(p.stem for p in DATA.glob("*.yaml"))
    assert GOLDEN.stat().st_size < 200_000
    raws = {n: raw_config(n) for n in CASE_NAMES}
    assert {r["optimizer"]["name"] for r in raws.values()} == set(OPTIMIZERS)
    schedules = {r["optimizer"].get("schedule", {}).get("name", "constant") for r in raws.values()}
    assert {"step", "exponential", "cosine", "plateau"} <= schedules
    norms = {(r["model"].get("norm", "none"), r["model"].get("norm_momentum", 0.1))
             for r in raws.values()}
    assert {("batchnorm", 0.1), ("batchnorm", None), ("layernorm", 0.1), ("none", 0.1)} <= norms
    assert {r["model"].get("activation") for r in raws.values()} >= {
        "relu", "leaky_relu", "tanh", "sigmoid", "gelu"}
    regs = [r.get("regularization", {}) for r in raws.values()]
    assert any(g.get("l2") for g in regs)
    assert any(g.get("l1") and g.get("l1_mode", "subgradient") == "subgradient" for g in regs)
    assert any(g.get("l1") and g.get("l1_mode") == "proximal" for g in regs)
    assert any(r["optimizer"].get("nesterov") for r in raws.values())
    assert any(r["optimizer"].get("dampening") for r in raws.values())
    assert any(r["optimizer"].get("amsgrad") for r in raws.values())
    assert any(r["optimizer"].get("centered") and r["optimizer"].get("momentum")
               for r in raws.values())
    assert any(r["model"]["hidden"] == [] for r in raws.values())
    assert any(r["train"].get("shuffle") for r in raws.values())
    assert {Path(r["data"]["path"]).name for r in raws.values()} == {"classes.csv",
                                                                     "regression.csv"}
    for name, r in raws.items():
        t = r["train"]
        assert (t["batch_size"], t["dtype"]) == ("full", "float64"), name
        assert not r["model"].get("dropout"), name  # masks come from different RNGs
        assert r["model"]["init_from"] == f"{name}.npz", name
        expected = GOLDEN_CASES[name]
        lr = expected["metrics/lr"]
        if "clip_norm" in r["optimizer"]:  # clipping happened in some epochs, not all
            norms_ = expected["grad_norms"]
            assert (norms_ > r["optimizer"]["clip_norm"]).any(), name
            assert (norms_ < r["optimizer"]["clip_norm"]).any(), name
        if r["optimizer"].get("schedule", {}).get("name") == "plateau":
            assert len(set(lr.tolist())) >= 3, (name, lr)  # the plateau cut lr at least twice
        if r.get("regularization", {}).get("l1_mode") == "proximal" and not r["model"].get("norm"):
            zeros = sum(int(np.count_nonzero(v == 0)) for k, v in group(expected, "final/").items()
                        if k.endswith(".W"))
            assert zeros >= 5, (name, zeros)  # soft-thresholding gives exact zeros


@pytest.mark.parametrize("name", CASE_NAMES)
def test_fixtures_are_the_golden_inputs(name):
    """The config, initial model.npz and data arrays are those torch trained on: a failure here
    is a changed fixture or changed data preparation, not a numerical disagreement."""
    expected = GOLDEN_CASES[name]
    assert (DATA / f"{name}.yaml").read_text(encoding="utf-8") == str(expected["config_yaml"])
    init, want = load_npz(DATA / f"{name}.npz"), group(expected, "init/")
    assert sorted(init) == sorted(want)
    for key, value in want.items():
        np.testing.assert_array_equal(init[key], value, err_msg=f"{name}: init {key}")
    exp = load_config(DATA / f"{name}.yaml")
    ds = load_dataset(exp.data, Path.cwd())
    for field, value in GOLDEN_DATASETS[str(expected["dataset"])].items():
        np.testing.assert_allclose(getattr(ds, field), value, rtol=1e-13, atol=1e-15,
                                   err_msg=f"{name}: load_dataset {field}")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_golden(name):
    state, metrics = dlexp_run(name)
    check(name, state, metrics, GOLDEN_CASES[name])


@pytest.mark.parametrize("name", ["rmsprop_centered_momentum_proximal_l1",
                                  "regression_mse_cosine_batchnorm"])
def test_cli_run_lands_on_torchs_weights(name, tmp_path):
    """`dlexp run <case>.yaml` (paths relative to the config, model.npz as init_from, CSV data)
    writes the model.npz and metrics.csv that torch's program computes."""
    from click.testing import CliRunner

    from dlexp.cli import main

    result = CliRunner().invoke(main, ["run", str(DATA / f"{name}.yaml"), "--results",
                                       str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip().splitlines()[-1])
    assert folder.parent.parent == tmp_path
    summary = read_json(folder / "summary.json")
    assert summary["status"] == "completed" and summary["epochs_run"] == len(
        GOLDEN_CASES[name]["metrics/lr"])
    rows = read_csv(folder / "metrics.csv")
    check(name, load_npz(folder / "model.npz"), metric_columns(rows, summary["metric"]),
          GOLDEN_CASES[name])


NO_TORCH = """
import importlib.util, pathlib, sys, tempfile
import pytest

class NoTorch:  # `import torch` fails as if torch were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError("torch is hidden", name=name)

sys.meta_path.insert(0, NoTorch())
try:
    pytest.importorskip("torch")  # what the live tests' fixture does first
except pytest.skip.Exception:
    pass
else:
    sys.exit("torch is still importable")
spec = importlib.util.spec_from_file_location("golden_training", sys.argv[1])
t = importlib.util.module_from_spec(spec)
spec.loader.exec_module(t)
t.test_golden_covers_every_fixture_and_feature()
for name in t.CASE_NAMES:
    t.test_fixtures_are_the_golden_inputs(name)
    t.test_golden(name)
with tempfile.TemporaryDirectory() as tmp:
    t.test_cli_run_lands_on_torchs_weights(t.CASE_NAMES[0], pathlib.Path(tmp))
assert not [m for m in sys.modules if m.split(".")[0] == "torch"]
print("golden tests passed without torch")
"""


def test_golden_runs_without_torch():
    """Every golden test passes in a fresh Python where `import torch` fails (and the live tests'
    importorskip skips). Plain calls, not pytest.main, to keep it quick; a meta-path finder, not
    sys.modules['torch'] = None, which trips scipy's array-API probe that sklearn imports."""
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, str(Path(__file__))], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "golden tests passed without torch" in proc.stdout


# ---- live: against torch itself ----------------------------------------------------------------


@pytest.fixture(scope="module")
def script():
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("make_golden_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny float64 problems: threads only add overhead
    yield module
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def live_cases(script):
    return script.make_cases()


def test_live_cases_are_the_fixtures(script):
    assert sorted(script.CASES) == CASE_NAMES


@pytest.mark.parametrize("name", CASE_NAMES)
def test_live(name, live_cases):
    state, metrics = dlexp_run(name)
    check(name, state, metrics, live_cases[name])


def test_golden_file_is_current(live_cases, script):
    """Regenerating the golden file today gives the committed numbers (same fixtures, same torch
    answers); if this fails, torch, the fixtures or the script changed: rerun the script and
    review the diff."""
    for name, fields in live_cases.items():
        golden = GOLDEN_CASES[name]
        assert sorted(fields) == sorted(golden), name
        for field, value in fields.items():
            if value.dtype.kind in "USb":
                np.testing.assert_array_equal(golden[field], value, err_msg=f"{name}/{field}")
            else:
                np.testing.assert_allclose(golden[field], value, rtol=RTOL, atol=ATOL,
                                           err_msg=f"{name}/{field}")
    for key, fields in script.make_datasets().items():
        for field, value in fields.items():
            np.testing.assert_array_equal(GOLDEN_DATASETS[key][field], value, err_msg=key)
