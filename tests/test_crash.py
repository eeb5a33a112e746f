"""Crash safety: a sweep killed midway (SIGKILL) or interrupted (Ctrl-C) resumes cleanly.

Every kill and interrupt happens at an exact point of the work of the process under test: a small
wrapper script runs `dlexp` in a fresh interpreter with one dlexp function patched, so that the
process kills or interrupts itself from inside (after its K-th published run, at epoch K, before
its K-th folder rename). No test waits for a moment by sleeping or assumes how fast a run is.
"""

from __future__ import annotations

import csv
import io
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dlexp.cli import main
from dlexp.results.live import read_live
from dlexp.results.locks import is_held, lock_path
from dlexp.results.store import check_run

BASE = {"name": "crash", "data": {"name": "moons", "n_samples": 200, "noise": 0.25},
        "model": {"hidden": [16]}, "optimizer": {"name": "adam", "lr": 0.01},
        "train": {"epochs": 10, "batch_size": 16}}
N = 8
# The bound on waits for processes that end by themselves: reached only when the behaviour under
# test is broken (a hung sweep, workers outliving their driver), being far beyond what these few
# small runs need on a slow or busy machine. Nothing waits for it to pass.
HUNG = 180

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# Runs `dlexp sweep …` in this interpreter; the driver (which alone publishes runs) acts right after
# it published its AFTER-th run, still inside the block that publishes it:
#   kill   — SIGKILLs itself (the driver only: its pool workers must notice and quit);
#   sigint — sends SIGINT to its whole process group, as a terminal's Ctrl-C does.
# SIGINT_MODE sets the driver's SIGINT disposition first, whatever it inherited (pytest started
# under nohup or as a background job of a script hands down an ignored SIGINT):
#   default — Python's Ctrl-C handler, as in a terminal; ignore — SIG_IGN, as a background job.
AFTER_PUBLISH = """
import os, signal, sys
import dlexp.sweeps.sweep as sweep

AFTER, ACTION, SIGINT_MODE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
signal.signal(signal.SIGINT, {"default": signal.default_int_handler, "ignore": signal.SIG_IGN}[SIGINT_MODE])
publish = sweep._publish
published = 0

def _publish(*args, **kwargs):
    global published
    status = publish(*args, **kwargs)
    published += 1
    if published == AFTER:
        if ACTION == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            os.killpg(os.getpgrp(), signal.SIGINT)
    return status

sweep._publish = _publish
from dlexp.cli import main
sys.argv = ["dlexp", *sys.argv[4:]]
main()
"""


@pytest.fixture
def spec(tmp_path) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({"name": "crash", "base": "base.yaml",
                                                        "grid": {"seed": list(range(N))}}))
    return tmp_path / "spec.yaml"


def hooked_sweep(spec: Path, out: Path, after: int, action: str, sigint: str = "default"):
    """Run the sweep under AFTER_PUBLISH to its end: (returncode, stderr).

    In its own session (a process group the test can signal and watch). Its workers, the pool's
    forkserver and resource tracker all hold its stdout and stderr, so their end of file means
    every process of the sweep has exited: `communicate` waits for that, no polling.
    """
    proc = subprocess.Popen([sys.executable, "-c", AFTER_PUBLISH, str(after), action, sigint,
                             "sweep", str(spec), "--results", str(out), "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        try:
            _, err = proc.communicate(timeout=HUNG)
        except subprocess.TimeoutExpired:
            pytest.fail("the sweep or one of its processes is still running (hung, or workers outlived it)")
        assert group_gone(proc.pid), "processes of the sweep outlived it"
    finally:  # whatever failed, leave nothing running
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return proc.returncode, err


def in_group(pid: int, pgid: int) -> bool:
    """Is `pid` a process of group `pgid` that has not exited (a zombie has), according to /proc?"""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone
        return False
    state, _ppid, pgrp = text[text.rfind(")") + 2:].split()[:3]
    return int(pgrp) == pgid and state not in ("Z", "X")


def group_gone(pgid: int) -> bool:
    """Wait until no process of group `pgid` is left; False if one still runs after HUNG seconds.

    Called once the group's pipes reached end of file, so its processes are exiting already. On
    Linux each is waited for through a pidfd, which wakes when it exits: no polling.
    """
    deadline = time.monotonic() + HUNG
    if not hasattr(os, "pidfd_open") or not Path("/proc/self/stat").exists():
        while time.monotonic() < deadline:  # other POSIX systems: poll
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False
    members = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and in_group(int(p.name), pgid)]
    for pid in members:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:  # once the pidfd is open, `pid` is that process: the check cannot meet a reused pid
            if in_group(pid, pgid) and not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                return False
        finally:
            os.close(fd)
    return not any(p.name.isdigit() and in_group(int(p.name), pgid) for p in Path("/proc").iterdir())


def finished(out: Path) -> dict:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")
            if not p.parent.name.startswith(".")}  # a staging folder is not a run


def rows(out: Path) -> list[dict]:
    text = (out / "sweeps" / "crash" / "summary.csv").read_text()
    return [{k: v for k, v in r.items() if k not in ("wall_time", "wall_time_std")}
            for r in csv.DictReader(io.StringIO(text))]


def statuses(out: Path) -> list[str]:
    manifest = json.loads((out / "sweeps" / "crash" / "manifest.json").read_text())
    return [p["status"] for p in manifest["points"]]


def assert_clean(out: Path) -> None:
    """Every visible run folder is complete; no staging folder, no lock left behind."""
    runs = out / "runs"
    assert not list(runs.glob(".stage-*")) and not list(runs.glob(".old-*"))
    assert not list((runs / ".locks").glob("*"))
    for folder in runs.iterdir():
        if not folder.name.startswith("."):
            assert check_run(folder) is None, folder


def test_sigkill_midway_then_resume(spec, tmp_path):
    """The driver SIGKILLed right after publishing its 2nd run (that run's lock not yet released,
    the other worker mid-run): its workers quit, and a rerun trains exactly the other 6."""
    out = tmp_path / "killed"
    code, err = hooked_sweep(spec, out, after=2, action="kill")
    assert code == -signal.SIGKILL, err
    done = finished(out)
    assert len(done) == 2
    r = CliRunner().invoke(main, ["sweep", str(spec), "--results", str(out), "-j", "2"])
    assert r.exit_code == 0, r.output
    assert f"2 of {N} runs already done; training {N - 2}" in r.output
    after = finished(out)
    assert len(after) == N and all(after[rid] == t for rid, t in done.items())  # not recomputed
    assert_clean(out)
    reference = tmp_path / "reference"
    assert CliRunner().invoke(main, ["sweep", str(spec), "--results", str(reference), "-j", "1"]).exit_code == 0
    assert rows(out) == rows(reference)
    assert all(r["status"] == "completed" for r in rows(out))


def test_ctrl_c_stops_cleanly_with_130_and_resumes(spec, tmp_path):
    """Ctrl-C (SIGINT to the whole process group) while the driver publishes its 1st run: that run
    is published whole, the workers are stopped, nothing is left locked, and a rerun resumes."""
    out = tmp_path / "interrupted"
    code, err = hooked_sweep(spec, out, after=1, action="sigint")
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert_clean(out)
    assert sorted(statuses(out)) == ["completed"] + ["pending"] * (N - 1)
    done = finished(out)
    assert len(done) == 1
    r = CliRunner().invoke(main, ["sweep", str(spec), "--results", str(out), "-j", "1"])
    assert r.exit_code == 0 and f"1 of {N} runs already done" in r.output
    assert all(finished(out)[rid] == t for rid, t in done.items())


def test_a_sweep_started_with_sigint_ignored_is_not_stopped_by_it(spec, tmp_path):
    """A sweep launched with SIGINT ignored (a background job of a script, where Ctrl-C reaches the
    whole foreground group) ignores it even while it publishes a run, when dlexp catches SIGINT to
    hold it back: the sweep goes on to the end."""
    out = tmp_path / "background"
    code, err = hooked_sweep(spec, out, after=1, action="sigint", sigint="ignore")
    assert code == 0, err
    assert "interrupted" not in err
    assert len(finished(out)) == N and statuses(out) == ["completed"] * N
    assert_clean(out)


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
    results = [p.communicate(timeout=HUNG) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    reports = [json.loads(stdout) for stdout, _ in results]
    assert sum(r["trained"] for r in reports) == 6  # no run trained twice, none skipped
    assert all(r["counts"] == {"completed": 6} for r in reports)
    assert len(finished(out)) == 6
    assert_clean(out)


# ---- a single `dlexp run` killed ------------------------------------------------------------------

RUN = {"name": "one", "data": {"name": "moons", "n_samples": 400, "noise": 0.25}, "model": {"hidden": [32, 32]},
       "optimizer": {"name": "adam", "lr": 0.01}, "train": {"epochs": 10, "batch_size": 16}}

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

# Runs `dlexp run` in this interpreter, SIGKILLing itself at the end of training epoch EPOCH (from
# the per-epoch callback that experiment.execute passes down to train.fit, given one even with -q),
# after printing what the run's lock file said at that moment: a kill in the middle of training.
KILL_AT_EPOCH = """
import json, os, signal, sys
import dlexp.training.experiment as experiment
from dlexp.config.load import run_id
from dlexp.results.locks import lock_path, read_holder

EPOCH, OUT = int(sys.argv[1]), sys.argv[2]
execute = experiment.execute

def hooked_execute(exp, on_epoch=None, on_member=None):
    def hook(row):
        if on_epoch is not None:
            on_epoch(row)
        if row["epoch"] == EPOCH:
            seen = {"pid": os.getpid(), "epoch": row["epoch"], "lock": read_holder(lock_path(OUT, run_id(exp)))}
            print("KILLED " + json.dumps(seen), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    return execute(exp, on_epoch=hook, on_member=on_member)

experiment.execute = hooked_execute
from dlexp.cli import main
sys.argv = ["dlexp", *sys.argv[3:]]
main()
"""


def run_cli(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)])


def only_complete_runs(out: Path) -> list[str]:
    assert_clean(out)
    return sorted(p.name for p in (out / "runs").iterdir() if not p.name.startswith("."))


def test_run_sigkilled_while_training_leaves_no_run_and_trains_again(tmp_path):
    """Killed at epoch 3 of 10, holding the run's lock: no run folder and no staging folder is
    left, only its (stale) lock and its live file with the 3 epochs that ended (an interrupted
    run to `dlexp serve`); the next `dlexp run` takes the lock over, trains afresh and removes it."""
    config, out = tmp_path / "one.yaml", tmp_path / "results"
    config.write_text(yaml.safe_dump(RUN))
    proc = subprocess.run([sys.executable, "-c", KILL_AT_EPOCH, "3", str(out),
                           "run", str(config), "--results", str(out), "-q"], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    [line] = [l for l in proc.stdout.splitlines() if l.startswith("KILLED ")]
    seen = json.loads(line[len("KILLED "):])
    assert seen["epoch"] == 3 and seen["lock"] and seen["lock"]["pid"] == seen["pid"], seen  # held its lock
    runs = out / "runs"
    [live] = runs.glob(".live-*.jsonl")
    assert sorted(p.name for p in runs.iterdir()) == sorted([".locks", live.name])  # nothing visible, nothing staged
    assert len(list((runs / ".locks").glob("*.lock"))) == 1  # but its lock, now stale
    progress = read_live(live)
    assert [row["epoch"] for row in progress["rows"]] == [1, 2, 3], progress
    assert not is_held(lock_path(out, progress["header"]["run_id"]))  # nobody trains it: interrupted
    r = run_cli(config, "--results", out, "-q")
    assert r.exit_code == 0 and "reusing" not in r.output, r.output
    assert len(only_complete_runs(out)) == 1
    assert not list(runs.glob(".live-*"))


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
