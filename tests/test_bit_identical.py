"""The same resolved config and seeds give the same bytes: summary.json, metrics.csv (timing
columns aside), model.npz and activations.csv of a few small runs, pinned as sha256 digests.

The digests were taken from the trainer as it was before it was split into stages; a change to
the training loop, the data pipeline or the network builder that moves a single bit of a
result breaks this test. Recompute them (print `digests(folder)`) only for a deliberate change
of the numbers, and say so.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
import yaml

from helpers import clean_exit, invoke

SMALL = {"data": {"name": "moons", "n_samples": 120, "noise": 0.25},
         "model": {"hidden": [8]}, "optimizer": {"name": "adam", "lr": 0.02},
         "train": {"epochs": 8, "batch_size": 16}}

CONFIGS = {
    "plain": SMALL,
    "dropout-batchnorm-early-stopping": {
        "data": {"name": "moons", "n_samples": 150, "noise": 0.3, "poly_degree": 2, "label_noise": 0.1},
        "model": {"hidden": [16, 8], "norm": "batchnorm", "dropout": 0.3},
        "optimizer": {"name": "adam", "lr": 0.05},
        "train": {"epochs": 60, "batch_size": 17, "track_activations": True,
                  "early_stopping": {"patience": 3, "min_delta": 0.01, "restore_best": True}}},
    "l1-proximal-schedule": {
        "data": {"name": "sine", "n_samples": 80, "noise": 0.2},
        "model": {"hidden": [12], "activation": "tanh"},
        "regularization": {"l1": 0.003, "l1_mode": "proximal", "l2": 0.001, "penalize_bias": True},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "clip_norm": 1.0,
                      "schedule": {"name": "step", "step_size": 3, "gamma": 0.5}},
        "train": {"epochs": 10, "batch_size": 8, "dtype": "float64"}},
    "repeats": {**SMALL, "seeds": [3, 4], "repeat_data": True,
                "model": {"hidden": [8], "dropout": {"rate": 0.2, "mode": "classic"}, "norm": "layernorm"},
                "optimizer": {"name": "adamw", "lr": 0.01, "schedule": {"name": "plateau", "patience": 1}}},
    "diverged": {**SMALL, "optimizer": {"name": "sgd", "lr": 1000.0},
                 "train": {"epochs": 8, "batch_size": 16, "divergence_threshold": 5.0}},
}

TIMING = ("wall_time", "epoch_time", "eval_time")
# not results of training: the package version, and the memory estimate made from the config
NOT_TRAINED = ("dlexp_version", "memory_estimate_mb")


def _timing(key: str) -> bool:
    return key.removesuffix("_std") in TIMING


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _summary_bytes(path: Path) -> bytes:
    summary = {k: v for k, v in json.loads(path.read_text()).items() if not _timing(k) and k not in NOT_TRAINED}
    return json.dumps(summary, sort_keys=True).encode()  # floats as repr: every bit counts


def _metrics_bytes(path: Path) -> bytes:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    keep = [i for i, name in enumerate(rows[0]) if not _timing(name)]
    return "\n".join(",".join(row[i] for i in keep) for row in rows).encode()


def digests(folder: Path) -> dict[str, str]:
    """{path inside the run folder: digest} of every deterministic result file."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.name == "summary.json":
            out[rel] = _sha(_summary_bytes(path))
        elif path.name == "metrics.csv":
            out[rel] = _sha(_metrics_bytes(path))
        elif path.name in ("model.npz", "activations.csv"):
            out[rel] = _sha(path.read_bytes())
    return out


PINNED = {
    "plain": {
        "metrics.csv": "9ca3718909884ccc",
        "model.npz": "ceb7ff8f60060a27",
        "summary.json": "fc2762f49718ac15",
    },
    "dropout-batchnorm-early-stopping": {
        "activations.csv": "1e215e2708c5fbb0",
        "metrics.csv": "6b8ad71c931bd971",
        "model.npz": "d95e510a89a967b5",
        "summary.json": "bc0fb1d5873b6206",
    },
    "l1-proximal-schedule": {
        "metrics.csv": "15cd4ecd03a6eb75",
        "model.npz": "f3f6d891f061310c",
        "summary.json": "05a4bbf35694b709",
    },
    "repeats": {
        "members/seed3-data0/metrics.csv": "552d3aec16d8ff2e",
        "members/seed3-data0/model.npz": "4827724c2228ed02",
        "members/seed3-data0/summary.json": "fc594438c691ab4c",
        "members/seed4-data1/metrics.csv": "56e809d9ac5d7da4",
        "members/seed4-data1/model.npz": "73ad08f3520c61d8",
        "members/seed4-data1/summary.json": "92db0d79116a2eff",
        "metrics.csv": "24b67c271d0b1021",
        "summary.json": "76f3cd01a5a8ddb2",
    },
    "diverged": {
        "metrics.csv": "05871078665e2557",
        "model.npz": "2da2a066613bdd64",
        "summary.json": "30084199e1060e72",
    },
}


def run(tmp_path: Path, name: str) -> Path:
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump({"name": name, "seed": 0, **CONFIGS[name]}))
    r = invoke("run", config, "--out", tmp_path / "results", "-q")
    clean_exit(r, 0)
    return Path(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_results_are_bit_identical_to_the_pinned_ones(tmp_path, name):
    assert digests(run(tmp_path, name)) == PINNED[name]
