"""Crash safety: a sweep killed midway (SIGKILL) or interrupted (Ctrl-C) resumes cleanly."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dlexp.cli import main
from dlexp.results.store import check_run

# Slow enough (a few tenths of a second a run) to be caught midway.
BASE = {"name": "slow", "data": {"name": "moons", "n_samples": 400, "noise": 0.25},
        "model": {"hidden": [32, 32]}, "optimizer": {"name": "adam", "lr": 0.01},
        "train": {"epochs": 20, "batch_size": 16}}
N = 8

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def spec(tmp_path) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({"name": "crash", "base": "base.yaml",
                                                        "grid": {"seed": list(range(N))}}))
    return tmp_path / "spec.yaml"


def start(spec: Path, out: Path) -> subprocess.Popen:
    # Its own session, so the test can tell when the sweep and all its workers are gone.
    return subprocess.Popen([sys.executable, "-m", "dlexp.cli", "sweep", str(spec), "--results", str(out), "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def finished(out: Path) -> dict:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")
            if not p.parent.name.startswith(".")}  # a staging folder is not a run


def wait_for(out: Path, n: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while len(finished(out)) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep made no progress"
        time.sleep(0.02)


def group_gone(pgid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def rows(out: Path) -> list[dict]:
    text = (out / "sweeps" / "crash" / "summary.csv").read_text()
    return [{k: v for k, v in r.items() if k not in ("wall_time", "wall_time_std")}
            for r in csv.DictReader(io.StringIO(text))]


def assert_clean(out: Path) -> None:
    """Every visible run folder is complete; no staging folder, no lock left behind."""
    runs = out / "runs"
    assert not list(runs.glob(".stage-*")) and not list(runs.glob(".old-*"))
    assert not list((runs / ".locks").glob("*"))
    for folder in runs.iterdir():
        if not folder.name.startswith("."):
            assert check_run(folder) is None, folder


def test_sigkill_midway_then_resume(spec, tmp_path):
    out = tmp_path / "killed"
    proc = start(spec, out)
    try:
        wait_for(out, 2, proc)
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers must notice and quit
        proc.wait()
        done = finished(out)
        assert 2 <= len(done) < N
        assert group_gone(proc.pid), "worker processes outlived the killed sweep"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    r = CliRunner().invoke(main, ["sweep", str(spec), "--results", str(out), "-j", "2"])
    assert r.exit_code == 0, r.output
    assert f"{len(done)} of {N} runs already done; training {N - len(done)}" in r.output
    after = finished(out)
    assert len(after) == N and all(after[rid] == t for rid, t in done.items())  # not recomputed
    assert_clean(out)
    reference = tmp_path / "reference"
    assert CliRunner().invoke(main, ["sweep", str(spec), "--results", str(reference), "-j", "1"]).exit_code == 0
    assert rows(out) == rows(reference)
    assert all(r["status"] == "completed" for r in rows(out))


def test_ctrl_c_stops_cleanly_with_130_and_resumes(spec, tmp_path):
    out = tmp_path / "interrupted"
    proc = start(spec, out)
    try:
        wait_for(out, 1, proc)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
        _, err = proc.communicate(timeout=60)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert group_gone(proc.pid)
    assert_clean(out)
    manifest = json.loads((out / "sweeps" / "crash" / "manifest.json").read_text())
    statuses = [p["status"] for p in manifest["points"]]
    assert "pending" in statuses and "completed" in statuses
    done = finished(out)
    r = CliRunner().invoke(main, ["sweep", str(spec), "--results", str(out), "-j", "1"])
    assert r.exit_code == 0 and f"{len(done)} of {N} runs already done" in r.output
    assert all(finished(out)[rid] == t for rid, t in done.items())


def test_two_sweeps_on_one_results_folder_train_each_run_once(tmp_path):
    """Two real `dlexp sweep` processes racing on the same --out: every run is trained by exactly
    one of them, both finish with the same complete summary, and nothing is left locked."""
    spec = tmp_path / "race.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "race",
        "base": {"data": {"name": "moons", "n_samples": 300}, "model": {"hidden": [32]},
                 "train": {"epochs": 40, "batch_size": 8}},
        "grid": {"seed": list(range(6))},
    }))
    out = tmp_path / "shared"
    cmd = [sys.executable, "-m", "dlexp.cli", "sweep", str(spec), "--results", str(out), "-j", "1", "-q", "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    reports = [json.loads(stdout) for stdout, _ in results]
    assert sum(r["trained"] for r in reports) == 6  # no run trained twice, none skipped
    assert all(r["counts"] == {"completed": 6} for r in reports)
    assert len(finished(out)) == 6
    assert_clean(out)


# ---- a single `dlexp run` killed ------------------------------------------------------------------

RUN = {"name": "one", "data": {"name": "moons", "n_samples": 400, "noise": 0.25}, "model": {"hidden": [32, 32]},
       "optimizer": {"name": "adam", "lr": 0.01}, "train": {"epochs": 300, "batch_size": 16}}

# Runs `dlexp run` in this interpreter, SIGKILLing itself just before its K-th rename of a folder
# (publishing a run renames the staging folder into place; with a previous run there, that one is
# first moved aside): a kill at an exact point between the steps of a write.
KILL_AT_RENAME = """
import os, signal, sys
import dlexp.results.store as store

KILL_AT = int(sys.argv[1])

class Os:
    renames = 0
    def __getattr__(self, name):
        return getattr(os, name)
    def replace(self, src, dst):
        if os.path.isdir(src):
            Os.renames += 1
            if Os.renames == KILL_AT:
                os.kill(os.getpid(), signal.SIGKILL)
        return os.replace(src, dst)

store.os = Os()
from dlexp.cli import main
sys.argv = ["dlexp", *sys.argv[2:]]
main()
"""


def run_cli(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)])


def only_complete_runs(out: Path) -> list[str]:
    assert_clean(out)
    return sorted(p.name for p in (out / "runs").iterdir() if not p.name.startswith("."))


def test_run_sigkilled_while_training_leaves_no_run_and_trains_again(tmp_path):
    config, out = tmp_path / "one.yaml", tmp_path / "results"
    config.write_text(yaml.safe_dump(RUN))
    proc = subprocess.Popen([sys.executable, "-m", "dlexp.cli", "run", str(config), "--results", str(out), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list((out / "runs" / ".locks").glob("*.lock")):  # training has begun
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    assert not [p for p in (out / "runs").iterdir() if not p.name.startswith(".")]  # nothing visible
    r = run_cli(config, "--results", out, "-q")
    assert r.exit_code == 0 and "reusing" not in r.output, r.output
    assert len(only_complete_runs(out)) == 1


@pytest.mark.parametrize("force", [False, True])
def test_run_sigkilled_while_publishing_loses_nothing(tmp_path, force):
    """Killed just before the rename that publishes it (no run yet), or — with --force over a
    finished run — just after that run was moved aside: the next `dlexp run` finds the finished
    run in place (restored), or trains afresh, and leaves no staging folder or lock behind."""
    config, out = tmp_path / "one.yaml", tmp_path / "results"
    config.write_text(yaml.safe_dump({**RUN, "train": {"epochs": 5, "batch_size": 16}}))
    before = None
    if force:
        assert run_cli(config, "--results", out, "-q").exit_code == 0
        [rid] = only_complete_runs(out)
        before = (out / "runs" / rid / "summary.json").read_bytes()
    kill_at = 2 if force else 1  # --force: rename 1 moves the old run aside, rename 2 publishes
    args = ["run", str(config), "--results", str(out), "-q"] + (["--force"] if force else [])
    proc = subprocess.run([sys.executable, "-c", KILL_AT_RENAME, str(kill_at), *args], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    runs = out / "runs"
    assert list(runs.glob(".stage-*"))  # the killed process left its (complete) staging folder
    if force:
        assert list(runs.glob(".old-*")) and not (runs / rid).exists()  # the finished run is moved aside
    r = run_cli(config, "--results", out, "-q")
    assert r.exit_code == 0, r.output
    [rid2] = only_complete_runs(out)
    if force:
        assert rid2 == rid and "reusing" in r.output  # restored, not retrained
        assert (runs / rid / "summary.json").read_bytes() == before
    else:
        assert "reusing" not in r.output
