"""runs/.checked.json (results/checks.py): a sound run is checked once, a changed one again,
and the cache never hides damage or fails a reader."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

import dlexp.results.checks as checks_module
from dlexp.results.checks import FILE, MARGIN, Checks
from helpers import invoke


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("checks") / "results"
    cfg = out.parent / "c.yaml"
    cfg.write_text(json.dumps({"name": "c", "data": {"name": "xor", "n_samples": 40}, "model": {"hidden": [4]},
                               "train": {"epochs": 3, "batch_size": 8}}))
    r = invoke("run", cfg, "--results", out, "-q")
    assert r.exit_code == 0, r.output
    return Path(r.stdout.strip())


def age(folder: Path, seconds: float = 10 * MARGIN) -> None:
    """Every file of `folder` made older than the margin (as a run published a while ago)."""
    then = time.time() - seconds
    for root, _, files in os.walk(folder):
        for name in files:
            os.utime(os.path.join(root, name), (then, then))


def counting(monkeypatch) -> list:
    calls = []
    real = checks_module.check_run
    monkeypatch.setattr(checks_module, "check_run", lambda folder: calls.append(folder) or real(folder))
    return calls


def test_a_settled_run_is_checked_once(trained, monkeypatch, tmp_path):
    run = tmp_path / "runs" / trained.name
    shutil.copytree(trained, run)
    age(run)
    calls = counting(monkeypatch)
    first = Checks(run.parent)
    assert first.problem(run) is None
    first.save()
    assert (run.parent / FILE).exists() and len(calls) == 1
    again = Checks(run.parent)
    assert again.problem(run) is None and len(calls) == 1  # from the cache


def test_a_changed_file_is_checked_again_and_damage_is_found(trained, monkeypatch, tmp_path):
    run = tmp_path / "runs" / trained.name
    shutil.copytree(trained, run)
    age(run)
    c = Checks(run.parent)
    assert c.problem(run) is None
    c.save()
    metrics = run / "metrics.csv"
    metrics.write_text(metrics.read_text()[:-30])  # cut short
    age(run)
    calls = counting(monkeypatch)
    problem = Checks(run.parent).problem(run)
    assert len(calls) == 1 and problem and "metrics.csv" in problem


def test_files_younger_than_the_margin_are_not_remembered(trained, monkeypatch, tmp_path):
    run = tmp_path / "runs" / trained.name
    shutil.copytree(trained, run, copy_function=shutil.copy)  # new mtimes: just written
    calls = counting(monkeypatch)
    c = Checks(run.parent)
    c.problem(run)
    c.save()
    Checks(run.parent).problem(run)
    assert len(calls) == 2 and not (run.parent / FILE).exists()


def test_a_damaged_or_unwritable_cache_is_no_error(trained, monkeypatch, tmp_path):
    run = tmp_path / "runs" / trained.name
    shutil.copytree(trained, run)
    age(run)
    (run.parent / FILE).write_text("{not json")
    c = Checks(run.parent)
    assert c.problem(run) is None
    monkeypatch.setattr(checks_module, "atomic_write_text", lambda *a: (_ for _ in ()).throw(OSError(30, "read-only")))
    c.save()  # the write refused: nothing raised, the next reader checks again
    assert (run.parent / FILE).read_text() == "{not json"


def test_ls_and_table_use_it(trained, monkeypatch):
    out = trained.parent.parent
    age(trained)
    for command in (["ls", "--results", out], ["table", trained]):
        r = invoke(*command)
        assert r.exit_code == 0, r.output
    calls = counting(monkeypatch)
    assert invoke("ls", "--results", out).exit_code == 0 and calls == []
