"""Run ids are content hashes of resolved configs: if one moves, every finished result of that
config is silently retrained. tests/golden/run_ids.json holds the ids of every example config
and every point of every example sweep as dlexp 0.1.0 computed them (before the package was
split into sub-packages), and those of examples added since (configs/data/mnist1d.yaml) as the
version that added them did; a change that moves one must be deliberate and land with a new file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlexp.config.load import load_config, run_id
from dlexp.sweeps.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "golden" / "run_ids.json").read_text())


@pytest.mark.parametrize("path", sorted(GOLDEN["configs"]))
def test_example_config_keeps_its_run_id(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert run_id(load_config(ROOT / path)) == GOLDEN["configs"][path]


@pytest.mark.parametrize("path", sorted(GOLDEN["sweeps"]))
def test_example_sweep_points_keep_their_run_ids(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert [p.rid for p in load_spec(ROOT / path).points] == GOLDEN["sweeps"][path]


def test_every_example_is_covered():
    import yaml

    examples = set()
    for p in (ROOT / "configs").rglob("*.yaml"):
        data = yaml.safe_load(p.read_text())
        if isinstance(data, dict) and ("model" in data or "data" in data or "grid" in data or "random" in data):
            examples.add(str(p.relative_to(ROOT)))
    assert examples <= set(GOLDEN["configs"]) | set(GOLDEN["sweeps"]), examples - set(GOLDEN["configs"]) - set(GOLDEN["sweeps"])
