"""Security: YAML through safe_load only, no pickles in result files, config paths relative to the
config file, and no run or sweep name that writes outside --out."""

from __future__ import annotations

import ast
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import clean_exit, invoke
from dlexp.results.store import check_run, is_done

PACKAGE = Path(__file__).resolve().parents[1] / "dlexp"
TINY = {"name": "tiny", "data": {"name": "moons", "n_samples": 60}, "model": {"hidden": [4]},
        "optimizer": {"lr": 0.05}, "train": {"epochs": 2}}


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ---------------------------------------------------------------------------------------------
# YAML: safe_load only

def python_tag(marker: Path) -> str:
    """YAML that, loaded unsafely, creates `marker` (builtins.open in write mode)."""
    return f"!!python/object/apply:builtins.open [{json.dumps(str(marker))}, w]"


def test_python_tag_in_a_config_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(TINY) + f"seed: {python_tag(marker)}\n")
    r = invoke("run", cfg, "--results", tmp_path / "out")
    clean_exit(r, 2)
    assert r.stderr.startswith(f"error: {cfg}:") and "python/object" in r.stderr and "refused" in r.stderr
    assert not marker.exists()


def test_python_tag_in_an_extended_base_a_sweep_spec_and_set_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY) + f"seed: {python_tag(marker)}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\n")
    clean_exit(invoke("run", tmp_path / "child.yaml", "--results", tmp_path / "out"), 2)
    (tmp_path / "spec.yaml").write_text(f"name: s\nbase: child.yaml\ngrid: {{seed: [{python_tag(marker)}]}}\n")
    clean_exit(invoke("sweep", tmp_path / "spec.yaml", "--results", tmp_path / "out"), 2)
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(TINY))
    r = invoke("run", tmp_path / "ok.yaml", "--results", tmp_path / "out", "--set", f"seed={python_tag(marker)}")
    clean_exit(r, 2)
    assert r.stderr.startswith("error: --set: seed: cannot parse value")
    assert not marker.exists() and not (tmp_path / "out" / "runs").exists()


def test_python_tag_in_a_result_config_makes_the_run_damaged(tmp_path):
    marker = tmp_path / "pwned"
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    r = invoke("run", cfg, "--results", tmp_path / "out", "-q")
    run = Path(r.stdout.strip())
    (run / "config.yaml").write_text(f"seed: {python_tag(marker)}\n" + (run / "config.yaml").read_text())
    assert not is_done(run) and "config.yaml" in check_run(run)
    for args in (("table", run), ("diagnose", run, "--no-save"), ("plot", run, "--out", tmp_path / "p.png"),
                 ("report", run, "--out", tmp_path / "r.html")):
        clean_exit(invoke(*args), 2)
    clean_exit(invoke("ls", "--results", tmp_path / "out"), 0)
    assert not marker.exists()


def _calls(tree_: ast.AST):
    for node in ast.walk(tree_):
        if isinstance(node, ast.Call):
            func = node.func
            name = (f"{func.value.id}.{func.attr}" if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    else getattr(func, "id", None) or getattr(func, "attr", None))
            yield name, node


def test_no_unsafe_loader_in_the_package():
    """Every np.load passes allow_pickle=False; YAML is read with safe loaders only; no pickle module."""
    np_loads = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        module = ast.parse(source)
        for node in ast.walk(module):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                assert not {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"} & set(names), path
        for name, call in _calls(module):
            keywords = {k.arg: k.value for k in call.keywords}
            if name in ("np.load", "numpy.load"):
                np_loads += 1
                value = keywords.get("allow_pickle")
                assert isinstance(value, ast.Constant) and value.value is False, f"{path.name}:{call.lineno}"
            if name in ("yaml.load", "yaml.load_all"):
                loader = keywords.get("Loader")
                assert loader is not None and "Safe" in ast.unparse(loader), f"{path.name}:{call.lineno}"
            assert name not in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all", "yaml.full_load_all",
                                "pickle.load", "pickle.loads"), f"{path.name}:{call.lineno}"
            if name in ("yaml.compose", "yaml.compose_all"):
                assert "Safe" in ast.unparse(keywords.get("Loader", ast.Constant(""))), f"{path.name}:{call.lineno}"
    assert np_loads >= 2  # store.read_npz and model.load_npz at least: the scan does see them


class _Plant:
    """Unpickling this creates a file: proof that something unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def pickled_npz(path: Path, marker: Path, base: dict | None = None) -> None:
    arrays = dict(base or {})
    arrays["dense0.W"] = np.array([_Plant(marker)], dtype=object)
    np.savez(path, **arrays)  # np.save pickles object arrays: exactly what dlexp must refuse to load
    with np.load(path, allow_pickle=False) as z:  # sanity: it is the pickled kind of file
        with pytest.raises(ValueError):
            z["dense0.W"]


def test_a_pickled_model_npz_is_damaged_and_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    run = Path(invoke("run", cfg, "--results", out, "-q").stdout.strip())
    with np.load(run / "model.npz", allow_pickle=False) as z:
        base = dict(z)
    pickled_npz(run / "model.npz", marker, base)
    assert not is_done(run) and "model.npz" in check_run(run)
    listing = json.loads(invoke("ls", "--results", out, "--json").stdout)
    assert listing["runs"][0]["status"] == "damaged"
    for args in (("plot", run, "--kind", "weights", "--out", tmp_path / "w.png"), ("diagnose", run, "--no-save"),
                 ("report", run, "--out", tmp_path / "r.html"), ("table", run)):
        clean_exit(invoke(*args), 2)
    r = invoke("run", cfg, "--results", out, "-q")  # trained again, not reused
    clean_exit(r, 0)
    assert "reusing" not in r.stderr and check_run(run) is None
    assert not marker.exists()
    # the same file given as a warm start is refused
    pickled_npz(tmp_path / "warm.npz", marker, base)
    r = invoke("run", cfg, "--results", out, "--set", f"model.init_from={tmp_path / 'warm.npz'}")
    clean_exit(r, 2)
    assert "warm.npz" in r.stderr and not marker.exists()


def test_result_npz_files_hold_no_pickles(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "model": {"hidden": [4, 4], "norm": "batchnorm"}}))
    run = Path(invoke("run", cfg, "--results", tmp_path / "out", "-q").stdout.strip())
    with zipfile.ZipFile(run / "model.npz") as zf:
        for name in zf.namelist():
            assert name.endswith(".npy"), name
            with zf.open(name) as f:  # an object dtype is the only way a pickle gets into a .npy
                assert not np.lib.format.read_array(f, allow_pickle=False).dtype.hasobject, name


# ---------------------------------------------------------------------------------------------
# Paths in configs are relative to the config file, wherever dlexp is run from

def test_paths_resolve_relative_to_the_config_file(tmp_path, monkeypatch):
    lab = tmp_path / "lab"
    (lab / "data").mkdir(parents=True)
    rows = "".join(f"{(i % 7) / 3},{(i * 5 % 11) / 4},{i % 2}\n" for i in range(40))
    (lab / "data" / "points.csv").write_text("a,b,y\n" + rows)
    (lab / "base.yaml").write_text(yaml.safe_dump({**TINY, "data": {"name": "csv", "path": "data/points.csv",
                                                                   "target": "y"}}))
    (lab / "exp.yaml").write_text("extends: base.yaml\nname: rel\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither the config's folder nor the data's
    r = invoke("run", lab / "exp.yaml", "--results", tmp_path / "out", "-q")
    clean_exit(r, 0)
    run = Path(r.stdout.strip())
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["path"] == str(lab / "data" / "points.csv")
    # a warm start named relative to a config in another folder
    (lab / "nested").mkdir()
    shutil.copy(run / "model.npz", lab / "nested" / "start.npz")
    (lab / "nested" / "warm.yaml").write_text("extends: ../base.yaml\nmodel: {init_from: start.npz}\n")
    clean_exit(invoke("run", lab / "nested" / "warm.yaml", "--results", tmp_path / "out", "-q"), 0)
    # a sweep spec in a third folder: its base's paths stay relative to the base
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "spec.yaml").write_text("name: rel\nbase: ../lab/exp.yaml\ngrid: {seed: [0, 1]}\n")
    r = invoke("sweep", tmp_path / "specs" / "spec.yaml", "--results", tmp_path / "out", "-j", "1", "-q")
    clean_exit(r, 0)
    assert not list(elsewhere.iterdir())  # nothing written in the working folder


def test_readers_rebuild_csv_data_from_any_working_folder(tmp_path, monkeypatch):
    """The resolved config names its data file by absolute path, so the readers that rebuild
    the data (the diagnosis's class prior, the decision boundary) work from any folder."""
    lab = tmp_path / "lab"
    lab.mkdir()
    rows = "".join(f"{(i % 7) / 3},{(i * 5 % 11) / 4},{int(i % 4 == 0)}\n" for i in range(40))
    (lab / "points.csv").write_text("a,b,y\n" + rows)
    (lab / "exp.yaml").write_text(yaml.safe_dump({**TINY, "data": {"name": "csv", "path": "points.csv",
                                                                  "target": "y"}}))
    for folder in ("trained", "read"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path / "trained")
    r = invoke("run", lab / "exp.yaml", "--out", tmp_path / "out", "-q")
    clean_exit(r, 0)
    run = Path(r.stdout.strip())
    monkeypatch.chdir(tmp_path / "read")
    r = invoke("diagnose", run, "--json")
    clean_exit(r, 0)
    (entry,) = json.loads(r.stdout)
    evidence = entry["diagnosis"]["evidence"]
    assert evidence["baseline"] == "class-prior predictor" and evidence["baseline_acc"] == 0.75
    r = invoke("plot", run, "--kind", "boundary", "--out", tmp_path / "boundary.png")
    clean_exit(r, 0)
    assert (tmp_path / "boundary.png").stat().st_size > 0
    assert not list((tmp_path / "read").iterdir())


# ---------------------------------------------------------------------------------------------
# Names cannot write outside --out

BAD_NAMES = ["../../evil", "/abs/evil", "a/b", "..", ".", "x" * 300, "a\\b", "-evil", "a\nb", "\x00x"]


@pytest.mark.parametrize("name", ["../../evil", "/abs/evil", "a/b", "..", "x" * 300])
def test_run_names_never_become_paths(tmp_path, name):
    work = tmp_path / "work"
    work.mkdir()
    cfg = work / "exp.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "name": name}))
    before = tree(tmp_path)
    r = invoke("run", cfg, "--results", work / "out", "-q")
    clean_exit(r, 0)
    run = Path(r.stdout.strip())
    assert run.parent == work / "out" / "runs" and len(run.name) == 12 and int(run.name, 16) >= 0
    assert {p for p in tree(tmp_path) - before if not p.startswith("work/out/")} == {"work/out"}
    assert json.loads((run / "summary.json").read_text())["name"] == name


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("where", ["spec", "--name"])
def test_sweep_names_cannot_escape_out(tmp_path, name, where):
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    (work / "base.yaml").write_text(yaml.safe_dump(TINY))
    spec = {"name": name if where == "spec" else "fine", "base": "base.yaml", "grid": {"seed": [0]}}
    (work / "spec.yaml").write_text(yaml.safe_dump(spec))
    before = tree(tmp_path)
    extra = ["--name", name] if where == "--name" else []
    r = invoke("sweep", work / "spec.yaml", "--results", work / "out", "-j", "1", "-q", *extra)
    clean_exit(r, 2)
    assert r.stderr.startswith("error: ") and "name: " in r.stderr and "cannot name a folder" in r.stderr
    assert tree(tmp_path) == before  # nothing trained, nothing written anywhere


def test_a_manifest_cannot_send_readers_outside_out(tmp_path):
    """A sweep manifest whose run_id is a path: skipped, so `diagnose` never writes through it."""
    work = tmp_path / "work"
    work.mkdir()
    cfg = work / "exp.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    victim = Path(invoke("run", cfg, "--results", tmp_path / "elsewhere", "-q").stdout.strip())
    good = Path(invoke("run", cfg, "--results", work / "out", "-q", "--set", "seed=1").stdout.strip())
    sweep = work / "out" / "sweeps" / "sw"
    sweep.mkdir(parents=True)
    escape = os.path.relpath(victim, work / "out" / "runs")
    (sweep / "manifest.json").write_text(json.dumps({"name": "sw", "swept": ["seed"], "points": [
        {"point": {"seed": 0}, "run_id": escape, "status": "completed"},
        {"point": {"seed": 1}, "run_id": good.name, "status": "completed"}]}))
    before = (victim / "summary.json").read_bytes()
    r = invoke("diagnose", "sw", "--results", work / "out")
    clean_exit(r, 0)
    assert "not a run id" in r.stderr
    assert (victim / "summary.json").read_bytes() == before
    assert "diagnosis" in json.loads((good / "summary.json").read_text())


def test_default_plot_and_report_files_stay_in_the_results_folder(tmp_path):
    """File names made from run ids (as summary.json says them) are sanitized."""
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "w" / "out"
    runs = [Path(invoke("run", cfg, "--results", out, "-q", "--set", f"seed={s}").stdout.strip()) for s in (0, 1)]
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        summary["run_id"] = "../../../../evil"
        (run / "summary.json").write_text(json.dumps(summary))
    before = tree(tmp_path)
    r = invoke("plot", *runs, "--results", out)
    clean_exit(r, 0)
    assert Path(r.stdout.strip()).resolve().is_relative_to(out.resolve())
    r = invoke("report", *runs, "--results", out)
    clean_exit(r, 0)
    assert Path(r.stdout.strip()).resolve().is_relative_to(out.resolve())
    assert all(p.startswith("w/out/") for p in tree(tmp_path) - before)
