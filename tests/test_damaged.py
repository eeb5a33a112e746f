"""Damaged results: a truncated, garbled, empty or missing result file.

Such a run is not done (`dlexp run` trains it again, `dlexp sweep` reruns it on resume), `dlexp ls`
flags it, and `dlexp table`, `plot`, `diagnose` and `report` skip it with a warning on stderr —
exit 0 while something else is left to show, exit 2 with a clear message when nothing is, never
a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import clean_exit, invoke
from dlexp.results.store import check_run, is_done, run_status

BASE = {"name": "dmg", "data": {"name": "moons", "n_samples": 60, "noise": 0.2}, "model": {"hidden": [4]},
        "optimizer": {"name": "adam", "lr": 0.05}, "train": {"epochs": 3, "batch_size": 16}}
FILES = ("summary.json", "metrics.csv", "model.npz", "config.yaml")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A sweep of three finished runs (seeds 0, 1, 2) and a repeated run, never modified."""
    root = tmp_path_factory.mktemp("damaged")
    (root / "base.yaml").write_text(yaml.safe_dump(BASE))
    (root / "spec.yaml").write_text(yaml.safe_dump({"name": "sw", "base": "base.yaml", "grid": {"seed": [0, 1, 2]}}))
    (root / "repeats.yaml").write_text(yaml.safe_dump({**BASE, "name": "rep", "repeats": 2}))
    r = invoke("sweep", root / "spec.yaml", "--results", root / "results", "-j", "1", "-q")
    assert r.exit_code == 0, r.output
    r = invoke("run", root / "repeats.yaml", "--results", root / "results", "-q")
    assert r.exit_code == 0, r.output
    manifest = json.loads((root / "results" / "sweeps" / "sw" / "manifest.json").read_text())
    rids = [p["run_id"] for p in manifest["points"]]
    return root, rids, Path(r.stdout.strip()).name


@pytest.fixture
def lab(pristine, tmp_path):
    """A fresh copy of the pristine results: (folder, the sweep's run ids, the repeated run's id)."""
    root, rids, rep = pristine
    shutil.copytree(root, tmp_path / "lab")
    return tmp_path / "lab", rids, rep


def _half(p: Path):
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _random(p: Path):
    p.write_bytes(np.random.default_rng(0).bytes(max(64, p.stat().st_size)))


def _object_array(p: Path):
    """A model.npz holding an object array: loading it would mean unpickling."""
    arrays = dict(np.load(p, allow_pickle=False))
    arrays["dense0.W"] = np.array([{"a": 1}, None], dtype=object)
    np.savez(p, **arrays)


def _wrong_shapes(p: Path):
    arrays = dict(np.load(p, allow_pickle=False))
    arrays["dense0.W"] = np.zeros(7)
    np.savez(p, **arrays)


def _json_patch(**changes):
    def patch(p: Path):
        p.write_text(json.dumps({**json.loads(p.read_text()), **changes}))
    return patch


DAMAGES = {
    "half": _half,
    "random": _random,
    "empty": lambda p: p.write_bytes(b""),
    "delete": lambda p: p.unlink(),
}
GARBLED = [  # parseable files with the wrong content: as damaged as a truncated one
    ("summary.json", "members-not-a-list", _json_patch(members=5)),
    ("summary.json", "loss-is-text", _json_patch(val_loss="low", metric=3)),
    ("summary.json", "unknown-status", _json_patch(status="running")),
    ("summary.json", "a-list", lambda p: p.write_text("[1, 2]")),
    ("metrics.csv", "other-columns", lambda p: p.write_text("a,b\n1,2\n")),
    ("metrics.csv", "header-only", lambda p: p.write_text(p.read_text().splitlines()[0] + "\n")),
    ("metrics.csv", "text-cells", lambda p: p.write_text(p.read_text().replace("0.", "x.", 3))),
    ("metrics.csv", "ragged", lambda p: p.write_text(p.read_text() + "1,2\n")),
    ("model.npz", "object-array", _object_array),
    ("model.npz", "wrong-shapes", _wrong_shapes),
    ("config.yaml", "a-list", lambda p: p.write_text("- 1\n- 2\n")),
    ("config.yaml", "python-tag", lambda p: p.write_text("data: !!python/object/apply:os.getcwd []\n")),
]
CASES = [(f, mode, fn) for f in FILES for mode, fn in DAMAGES.items()] + GARBLED


def damage(folder: Path, name: str, fn) -> None:
    fn(folder / name)


@pytest.mark.parametrize("name,mode,fn", CASES, ids=[f"{f}-{m}" for f, m, _ in CASES])
def test_damaged_run_is_not_done_and_ls_flags_it(lab, name, mode, fn):
    out, rids, _ = lab
    run = out / "results" / "runs" / rids[0]
    damage(run, name, fn)
    assert not is_done(run)
    assert run_status(run) == ("missing" if (name, mode) == ("summary.json", "delete") else "damaged")
    if run_status(run) == "damaged":
        assert name in check_run(run)
    assert all(is_done(out / "results" / "runs" / rid) for rid in rids[1:])
    r = invoke("ls", "--results", out / "results", "--json")
    clean_exit(r, 0)
    rows = {row["run_id"]: row for row in json.loads(r.stdout)["runs"]}
    assert rows[rids[0]]["status"] == "damaged" and rows[rids[0]]["problem"]
    assert [rows[rid]["status"] for rid in rids[1:]] == ["completed", "completed"]
    sweep = json.loads(r.stdout)["sweeps"][0]
    assert sweep["damaged"] == 1 and sweep["done"] == 2
    r = invoke("ls", "--results", out / "results")  # the table for people shows it too
    clean_exit(r, 0)
    assert "damaged" in r.stdout


@pytest.mark.parametrize("name,mode,fn", CASES, ids=[f"{f}-{m}" for f, m, _ in CASES])
def test_table_and_diagnose_skip_a_damaged_run_with_a_warning(lab, name, mode, fn):
    out, rids, _ = lab
    damage(out / "results" / "runs" / rids[0], name, fn)
    r = invoke("table", "sw", "--results", out / "results", "--format", "json")
    clean_exit(r, 0)
    assert [row["run_id"] for row in json.loads(r.stdout)] == rids[1:]
    assert f"warning: skipping {rids[0]}" in r.stderr
    r = invoke("diagnose", "sw", "--results", out / "results", "--no-save", "--json")
    clean_exit(r, 0)
    assert [d["run_id"] for d in json.loads(r.stdout)] == rids[1:]
    assert f"warning: skipping {rids[0]}" in r.stderr
    # nothing left: the damaged run alone
    target = out / "results" / "runs" / rids[0]
    for args in (("table", target, "--results", out / "results"), ("diagnose", target, "--no-save"),
                 ("plot", target, "--out", out / "alone.png"), ("report", target, "--out", out / "alone.html")):
        r = invoke(*args)
        clean_exit(r, 2)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert lines and all(line.startswith(("error: ", "warning: ")) for line in lines), r.stderr
        assert any(line.startswith("error: ") for line in lines)


PLOT_CASES = [("summary.json", "random"), ("metrics.csv", "half"), ("model.npz", "empty"), ("config.yaml", "delete"),
              ("model.npz", "object-array"), ("metrics.csv", "other-columns")]


@pytest.mark.parametrize("name,mode", PLOT_CASES)
def test_plot_and_report_skip_a_damaged_run_with_a_warning(lab, name, mode):
    out, rids, _ = lab
    fn = DAMAGES.get(mode) or next(f for n, m, f in GARBLED if (n, m) == (name, mode))
    damage(out / "results" / "runs" / rids[0], name, fn)
    for kind in ("compare", "weights"):
        r = invoke("plot", "sw", "--kind", kind, "--results", out / "results", "--out", out / f"{kind}.png")
        clean_exit(r, 0)
        assert (out / f"{kind}.png").stat().st_size > 0
        assert f"warning: skipping {rids[0]}" in r.stderr
    r = invoke("report", "sw", "--results", out / "results", "--out", out / "report.html", "--static")
    clean_exit(r, 0)
    assert f"warning: skipping {rids[0]}" in r.stderr
    html = (out / "report.html").read_text()
    assert "1 point skipped" in html and rids[1] in html


@pytest.mark.parametrize("name", FILES)
def test_run_trains_a_damaged_run_again(lab, name):
    out, rids, _ = lab
    run = out / "results" / "runs" / rids[0]
    config = out / "again.yaml"
    shutil.copy(run / "config.yaml", config)  # the resolved config: the same run id
    damage(run, name, DAMAGES["half"])
    r = invoke("run", config, "--results", out / "results", "-q")
    clean_exit(r, 0)
    assert Path(r.stdout.strip()) == run and "reusing" not in r.stderr
    assert check_run(run) is None
    r = invoke("run", config, "--results", out / "results", "-q")
    assert "reusing completed run" in r.stderr


@pytest.mark.parametrize("name,mode", [("summary.json", "half"), ("metrics.csv", "random"), ("model.npz", "half"),
                                       ("config.yaml", "empty"), ("model.npz", "delete"), ("summary.json", "delete")])
def test_sweep_resume_trains_a_damaged_run_again(lab, name, mode):
    out, rids, _ = lab
    results = out / "results"
    before = {rid: (results / "runs" / rid / "summary.json").stat().st_mtime_ns for rid in rids[1:]}
    damage(results / "runs" / rids[0], name, DAMAGES[mode])
    r = invoke("sweep", out / "spec.yaml", "--results", results, "-j", "1", "-q")
    clean_exit(r, 0)
    assert "2 of 3 runs already done; training 1" in r.stderr, r.stderr
    assert all(check_run(results / "runs" / rid) is None for rid in rids)
    assert {rid: (results / "runs" / rid / "summary.json").stat().st_mtime_ns for rid in rids[1:]} == before
    rows = json.loads(invoke("table", "sw", "--results", results, "--format", "json").stdout)
    assert [row["run_id"] for row in rows] == rids and {row["status"] for row in rows} == {"completed"}


@pytest.mark.parametrize("member_file", ["model.npz", "metrics.csv", "summary.json"])
def test_a_damaged_member_makes_its_run_damaged(lab, member_file):
    out, _, rep = lab
    run = out / "results" / "runs" / rep
    members = json.loads((run / "summary.json").read_text())["members"]
    damage(run / "members" / members[1], member_file, DAMAGES["half"])
    assert not is_done(run) and member_file in check_run(run)
    r = invoke("table", rep, "--results", out / "results")
    clean_exit(r, 2)
    assert f"warning: skipping {rep}" in r.stderr
    r = invoke("run", out / "repeats.yaml", "--results", out / "results", "-q")
    clean_exit(r, 0)
    assert "reusing" not in r.stderr and check_run(run) is None


def test_member_labels_cannot_point_outside_the_run(lab):
    out, rids, rep = lab
    run = out / "results" / "runs" / rep
    victim = out / "results" / "runs" / rids[0]
    _json_patch(members=[os.path.relpath(victim, run / "members")])(run / "summary.json")
    assert not is_done(run) and "members" in check_run(run)


@pytest.mark.parametrize("mode", ["half", "random", "empty", "delete", "points-not-a-list"])
def test_damaged_manifest(lab, mode):
    out, rids, _ = lab
    manifest = out / "results" / "sweeps" / "sw" / "manifest.json"
    if mode == "points-not-a-list":
        _json_patch(points=7)(manifest)
    else:
        DAMAGES[mode](manifest)
    r = invoke("ls", "--results", out / "results", "--json")
    clean_exit(r, 0)
    sweeps = json.loads(r.stdout)["sweeps"]
    assert sweeps[0]["name"] == "sw" and sweeps[0]["problem"]
    for args in (("table", "sw", "--results", out / "results"),
                 ("plot", "sw", "--results", out / "results", "--out", out / "x.png"),
                 ("diagnose", "sw", "--results", out / "results", "--no-save"),
                 ("report", "sw", "--results", out / "results", "--out", out / "x.html")):
        r = invoke(*args)
        clean_exit(r, 2)
        assert all(line.startswith(("error: ", "warning: ")) for line in r.stderr.splitlines() if line.strip())
    r = invoke("sweep", out / "spec.yaml", "--results", out / "results", "-j", "1", "-q")  # resume rewrites it
    clean_exit(r, 0)
    assert "3 of 3 runs already done" in r.stderr
    assert json.loads(manifest.read_text())["points"][0]["run_id"] == rids[0]


def test_the_damage_check_knows_every_key_of_a_resolved_config():
    """store.CONFIG_KEYS (what a complete config.yaml holds) follows config.resolved_dict."""
    from dlexp.config.load import config_from_dict, resolved_dict
    from dlexp.results.store import CONFIG_KEYS

    assert tuple(resolved_dict(config_from_dict({"name": "any"}))) == CONFIG_KEYS


@pytest.mark.parametrize("keep", [0.3, 0.5, 0.7, 0.9, 0.97])
def test_a_config_cut_anywhere_is_damaged(lab, keep):
    out, rids, _ = lab
    path = out / "results" / "runs" / rids[0] / "config.yaml"
    text = path.read_bytes()
    path.write_bytes(text[:int(len(text) * keep)])
    assert "config.yaml: damaged" in (check_run(path.parent) or "")
    path.write_bytes(text)
    assert check_run(path.parent) is None
