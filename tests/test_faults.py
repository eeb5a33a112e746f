"""Faults of the output side: names that are not plain text, writes the machine refuses, CSV cells a
spreadsheet would run, and Ctrl-C while a pool starts. Each ends in one message and an exit code
(2 bad input · 1 the machine · 130 interrupted), never a traceback, and loses nothing written."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

import dlexp.results.locks as locks
import dlexp.results.store as store
from dlexp.analysis.tables import csv_table
from dlexp.results.store import check_run, file_name, read_csv

from helpers import clean_exit, invoke

TINY = {"name": "tiny", "data": {"name": "moons", "n_samples": 120, "noise": 0.25}, "model": {"hidden": [8]},
        "optimizer": {"name": "adam", "lr": 0.02}, "train": {"epochs": 3, "batch_size": 16}}


def write_config(folder: Path, name: str = "tiny", **changes) -> Path:
    cfg = folder / "exp.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "name": name, **changes}))
    return cfg


def write_spec(folder: Path, name: str, grid: dict) -> Path:
    spec = folder / f"{name[:40]}.yaml"
    spec.write_text(yaml.safe_dump({"name": name, "base": {k: v for k, v in TINY.items() if k != "name"},
                                    "grid": grid}))
    return spec


def tree(root: Path) -> dict:
    """Every file under root with its bytes: what a refused write must leave as it was."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_tidy(out: Path) -> None:
    """No staging folder, moved-aside run, temporary file or lock left; every run folder complete."""
    runs = out / "runs"
    assert not [p for p in out.rglob(".*") if p.name != ".locks"], list(out.rglob(".*"))
    assert not list((runs / ".locks").glob("*"))
    for folder in runs.iterdir():
        if not folder.name.startswith("."):
            assert check_run(folder) is None, folder


# ---------------------------------------------------------------------------------------------
# 1. Names are labels: never mathtext, and file names made of them stay short enough

MATH_NAME = r"price $\undefinedcmd{x}$"


def test_a_name_with_dollars_is_printed_as_typed_in_every_figure_and_the_report(tmp_path):
    out = tmp_path / "out"
    first = Path(invoke("run", write_config(tmp_path, MATH_NAME), "--results", out, "-q").stdout.strip())
    second = Path(invoke("run", write_config(tmp_path, "$a$ and $b$", seed=1), "--results", out, "-q").stdout.strip())
    r = invoke("plot", first, "--results", out)  # curves: the name in the title
    clean_exit(r, 0)
    r = invoke("plot", first, second, "--results", out)  # compare: the names in the legend
    clean_exit(r, 0)
    for kind in ("boundary", "weights"):  # names as panel titles
        clean_exit(invoke("plot", first, second, "--kind", kind, "--results", out), 0)
    r = invoke("report", first, second, "--results", out)
    clean_exit(r, 0)

    import matplotlib

    from dlexp.figures.choose import figure_bytes, load_target, make_figure

    def svg_text(targets, kind) -> str:
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # text kept as text: what a reader sees
            return figure_bytes(make_figure(load_target(targets, out), kind), "svg").decode()

    assert f"{MATH_NAME}: training curves" in svg_text([first], "curves")  # the title
    legend = svg_text([first, second], "compare")
    assert MATH_NAME in legend and "$a$ and $b$" in legend


def test_file_name_is_cut_to_255_bytes_with_a_hash_that_keeps_names_apart():
    assert file_name("curves", ".png") == "curves.png"
    long_a, long_b = "é" * 200 + "a", "é" * 200 + "b"  # 401 bytes each, differing in the tail only
    a, b = file_name(long_a, ".png"), file_name(long_b, ".png")
    assert len(a.encode()) <= 255 and len(b.encode()) <= 255 and a != b
    assert a.endswith(".png") and a.startswith("é" * 100)
    assert len(file_name("x" * 300, limit=200).encode()) == 200


def test_several_targets_with_long_names_get_a_plot_and_a_report_file_that_fits(tmp_path):
    out = tmp_path / "out"
    names = ["s" * 200, "t" * 200]  # the longest sweep names allowed
    for i, name in enumerate(names):
        clean_exit(invoke("sweep", write_spec(tmp_path, name, {"seed": [2 * i, 2 * i + 1]}), "--results", out,
                          "-j", "1", "-q"), 0)
    for command in ("plot", "report"):
        r = invoke(command, *names, "--results", out)
        clean_exit(r, 0)
        written = Path(r.stdout.strip())
        assert written.parent == out / "plots" and written.is_file() and len(written.name.encode()) <= 255
    assert not list((out / "plots").glob(".*"))  # the temporary files fitted too, and are gone


def test_a_follow_up_of_a_run_with_a_long_name_gets_a_sweep_name_that_loads(tmp_path):
    out = tmp_path / "out"
    run = invoke("run", write_config(tmp_path, "n" * 300), "--results", out, "-q").stdout.strip()
    spec = tmp_path / "next.yaml"
    r = invoke("diagnose", run, "--results", out, "--emit", spec)
    clean_exit(r, 0)
    name = yaml.safe_load(spec.read_text())["name"]
    assert name.startswith("n" * 100) and len(name.encode()) <= 200
    clean_exit(invoke("sweep", spec, "--dry-run", "--results", out), 0)


# ---------------------------------------------------------------------------------------------
# 2. Writes the machine refuses: read-only results folder, full disk

class FailingOs:
    """`os` for dlexp.results.store (or .locks) whose `names` raise OSError(code) at an exact step
    of a write: the n-th call for which `when(*args)` holds fails if `at(n)`; with `then_all`, every
    call of `names` after the first failure fails too (a disk that is full from then on)."""

    def __init__(self, code: int, names: tuple, when=lambda *args: True, at=lambda n: True,
                 then_all: bool = False):
        self.code, self.names, self.when, self.at, self.then_all = code, names, when, at, then_all
        self.matched, self.failed = 0, False

    def __getattr__(self, name):
        real = getattr(os, name)
        if name not in self.names:
            return real

        def call(*args, **kwargs):
            fail = self.failed and self.then_all
            if not fail and self.when(*args):
                self.matched += 1
                fail = self.at(self.matched)
            if fail:
                self.failed = True
                raise OSError(self.code, os.strerror(self.code))
            return real(*args, **kwargs)

        return call


def is_dir(path, *_) -> bool:
    return os.path.isdir(path)


def test_a_full_disk_when_a_run_is_published_is_one_message_and_exit_1(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(store, "os", FailingOs(errno.ENOSPC, ("replace",), when=is_dir, at=lambda n: n == 1))
    r = invoke("run", write_config(tmp_path), "--results", out, "-q")
    clean_exit(r, 1)
    assert r.stderr.startswith(f"error: cannot write {out / 'runs'}/") and \
        r.stderr.rstrip().endswith(": No space left on device"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not [p for p in (out / "runs").iterdir() if p.name != ".locks"]  # nothing half-written
    assert_tidy(out)


def test_a_refused_force_keeps_the_run_it_would_have_replaced(tmp_path, monkeypatch):
    out = tmp_path / "out"
    cfg = write_config(tmp_path)
    run = Path(invoke("run", cfg, "--results", out, "-q").stdout.strip())
    before = tree(run)
    # the old run is moved aside (rename 1), the new one refused (rename 2)
    monkeypatch.setattr(store, "os", FailingOs(errno.ENOSPC, ("replace",), when=is_dir, at=lambda n: n == 2))
    r = invoke("run", cfg, "--results", out, "-q", "--force")
    clean_exit(r, 1)
    assert "No space left on device" in r.stderr
    assert tree(run) == before
    assert_tidy(out)


def test_a_read_only_results_folder_is_named_before_anything_trains(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "runs" / ".locks").mkdir(parents=True)
    monkeypatch.setattr(locks, "os", FailingOs(errno.EROFS, ("open",)))
    r = invoke("run", write_config(tmp_path), "--results", out, "-q")
    clean_exit(r, 1)
    assert r.stderr.startswith(f"error: cannot write {out / 'runs' / '.locks'}/") and \
        "Read-only file system" in r.stderr, r.stderr


def sweep_rows(out: Path, name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "sweeps" / name / "summary.csv").read_text())))


def assert_consistent(out: Path, name: str) -> None:
    """manifest.json and summary.csv tell the same story, and every run they call done is complete."""
    manifest = json.loads((out / "sweeps" / name / "manifest.json").read_text())
    rows = sweep_rows(out, name)
    assert [(p["run_id"], p["status"]) for p in manifest["points"]] == [(r["run_id"], r["status"]) for r in rows]
    for p in manifest["points"]:
        if p["status"] == "completed":
            assert check_run(out / "runs" / p["run_id"]) is None


@pytest.mark.parametrize("from_then_on", [False, True], ids=["one-write-refused", "disk-full-from-then-on"])
def test_a_sweep_that_runs_out_of_disk_stops_keeps_its_runs_and_resumes(tmp_path, monkeypatch, from_then_on):
    out = tmp_path / "out"
    spec = write_spec(tmp_path, "full", {"seed": [0, 1, 2, 3]})
    # the third run folder is refused; with a full disk, every file after it too
    monkeypatch.setattr(store, "os", FailingOs(errno.ENOSPC, ("replace",), when=is_dir, at=lambda n: n == 3,
                                               then_all=from_then_on))
    r = invoke("sweep", spec, "--results", out, "-j", "1", "-q")
    clean_exit(r, 1)
    lines = r.stderr.strip().splitlines()
    assert lines[-2].startswith(f"error: cannot write {out / 'runs'}/") and \
        lines[-2].endswith(": No space left on device"), r.stderr
    assert lines[-1] == "error: sweep full stopped; the runs it finished are kept: run the same command again to resume"
    assert_consistent(out, "full")
    assert_tidy(out)
    done = sorted(p.name for p in (out / "runs").iterdir() if not p.name.startswith("."))
    assert len(done) == 2
    monkeypatch.undo()
    r = invoke("sweep", spec, "--results", out, "-j", "1", "-q")
    clean_exit(r, 0)
    assert "2 of 4 runs already done; training 2" in r.stderr
    assert [row["status"] for row in sweep_rows(out, "full")] == ["completed"] * 4
    assert_consistent(out, "full")


def test_manifest_and_summary_csv_are_replaced_together_or_not_at_all(tmp_path, monkeypatch):
    """The disk fills up while summary.csv is written: manifest.json is not updated without it."""
    out = tmp_path / "out"
    spec = write_spec(tmp_path, "pair", {"seed": [0, 1]})

    def summary_csv_temp(fd) -> bool:
        return ".summary.csv." in os.readlink(f"/proc/self/fd/{fd}")

    # the first summary.csv (every point pending) is written; the next one finds the disk full
    monkeypatch.setattr(store, "os", FailingOs(errno.ENOSPC, ("fsync",), when=summary_csv_temp, at=lambda n: n >= 2))
    r = invoke("sweep", spec, "--results", out, "-j", "1", "-q")
    clean_exit(r, 1)
    assert "summary.csv: No space left on device" in r.stderr
    assert_consistent(out, "pair")
    assert [row["status"] for row in sweep_rows(out, "pair")] == ["pending"] * 2  # both as first written
    assert_tidy(out)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A results folder with a two-point sweep, for the readers that write."""
    folder = tmp_path_factory.mktemp("finished")
    out = folder / "out"
    clean_exit(invoke("sweep", write_spec(folder, "done", {"seed": [0, 1]}), "--results", out, "-j", "1", "-q"), 0)
    return out


@pytest.mark.parametrize("command, hint", [
    (["plot", "done"], "--out FILE writes the figure elsewhere"),
    (["report", "done"], "--out FILE writes the report elsewhere"),
    (["diagnose", "done"], "--no-save diagnoses without recording the labels"),
])
def test_readers_that_cannot_write_say_where_why_and_what_to_do(finished, monkeypatch, command, hint):
    before = tree(finished)
    monkeypatch.setattr(store, "os", FailingOs(errno.EROFS, ("replace",)))
    r = invoke(*command, "--results", finished)
    clean_exit(r, 1)
    lines = r.stderr.strip().splitlines()
    assert lines[-2].startswith(f"error: cannot write {finished / 'sweeps' if command[0] != 'diagnose' else finished}")
    assert lines[-2].endswith(": Read-only file system") and lines[-1] == f"error: {hint}", r.stderr
    assert tree(finished) == before


def test_a_bug_is_not_taken_for_a_refused_write(tmp_path, monkeypatch):
    """Only OSErrors of writes become messages: any other exception keeps its traceback."""
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(store, "npz_bytes", broken)
    r = invoke("run", write_config(tmp_path), "--results", tmp_path / "out", "-q")
    assert isinstance(r.exception, ZeroDivisionError)


# A real file system: a small tmpfs, filled up, then remounted read-only (needs root and mount).

@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if sys.platform != "linux" or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mnt)],
                                                 capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def remount(mnt: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mnt)], check=True)


def test_a_real_full_disk_then_a_read_only_one(tmpfs, tmp_path):
    out = tmpfs / "out"
    spec = write_spec(tmp_path, "real", {"seed": list(range(40))})  # more than 160 KB of runs
    r = invoke("sweep", spec, "--results", out, "-j", "1", "-q")
    clean_exit(r, 1)
    assert "No space left on device" in r.stderr and "run the same command again to resume" in r.stderr
    assert_consistent(out, "real")
    assert_tidy(out)

    remount(tmpfs, "ro")
    before = tree(out)
    run = next(p for p in (out / "runs").iterdir() if not p.name.startswith("."))
    for args in (["run", write_config(tmp_path, seed=99), "--results", out, "-q"],
                 ["sweep", spec, "--results", out, "-j", "1", "-q"],
                 ["plot", run, "--results", out], ["report", run, "--results", out],
                 ["diagnose", run, "--results", out]):
        r = invoke(*args)
        clean_exit(r, 1)
        assert r.stderr.startswith(f"error: cannot write {out}") and "Read-only file system" in r.stderr, r.stderr
    assert tree(out) == before

    remount(tmpfs, "rw,size=16m")
    r = invoke("sweep", spec, "--results", out, "-j", "1", "-q")
    clean_exit(r, 0)
    assert "runs already done" in r.stderr
    assert [row["status"] for row in sweep_rows(out, "real")] == ["completed"] * 40


# ---------------------------------------------------------------------------------------------
# 3. Names reach the terminal as text, never as escape sequences or markup

HOSTILE = "\x1b[2J\x1b]0;pwned\x07[bold]x[/bold]"
SHOWN = r"\x1b[2J\x1b]0;pwned\x07[bold]x[/bold]"


def assert_inert(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, repr(text)


def test_control_characters_and_markup_in_names_print_as_text(tmp_path):
    out = tmp_path / "out"
    r = invoke("run", write_config(tmp_path, HOSTILE), "--results", out, "-q")
    clean_exit(r, 0)
    assert_inert(r.stderr)
    assert r.stderr.startswith(f"{SHOWN}: completed")
    for args in (["ls"], ["table", r.stdout.strip()], ["table", r.stdout.strip(), "--format", "markdown"],
                 ["diagnose", r.stdout.strip(), "--no-save"]):
        shown = invoke(*args, "--results", out)
        clean_exit(shown, 0)
        assert_inert(shown.output)
        assert SHOWN in shown.stdout, shown.stdout
    r = invoke("table", r.stdout.strip(), "--results", out, "--format", "json")
    assert json.loads(r.stdout)[0]["name"] == HOSTILE  # data stays exact


def test_the_progress_bar_shows_a_name_as_typed(tmp_path):
    from rich.text import Text

    from dlexp.config.load import load_config
    from dlexp.sweeps.run import _Progress

    progress = _Progress(load_config(write_config(tmp_path, HOSTILE)))
    progress.member("seed-0", 0, 2)
    [task] = progress.bar.tasks
    assert Text.from_markup(task.description).plain == f"{SHOWN} [seed-0] 1/2"


# ---------------------------------------------------------------------------------------------
# 4. CSV cells a spreadsheet would run as formulas

def test_text_cells_that_look_like_formulas_get_a_quote_numbers_do_not_and_both_read_back(tmp_path):
    texts = ["=1+1", "+cmd", "-x", "@SUM(A1)", "\tx", "\rx", "'=already quoted", "-0.5", "relu", "it's"]
    rows = [{"name": t, "gap": -0.5, "n": -3} for t in texts]
    text = csv_table(rows, ["name", "gap", "n"])
    cells = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert [c[0] for c in cells] == ["'=1+1", "'+cmd", "'-x", "'@SUM(A1)", "'\tx", "'\rx", "''=already quoted",
                                     "'-0.5", "relu", "it's"]
    assert all(c[1:] == ["-0.5", "-3"] for c in cells)  # numbers stay numbers
    (tmp_path / "t.csv").write_bytes(text.encode())
    assert read_csv(tmp_path / "t.csv") == rows


def test_summary_csv_and_table_csv_guard_names_and_keep_them_through_diagnose(tmp_path):
    name = '=HYPERLINK("http://x","y")'
    out = tmp_path / "out"
    clean_exit(invoke("sweep", write_spec(tmp_path, "inj", {"name": [name], "seed": [0, 1]}), "--results", out,
                      "-j", "1", "-q"), 0)
    path = out / "sweeps" / "inj" / "summary.csv"

    def raw() -> list[dict]:
        return list(csv.DictReader(io.StringIO(path.read_text())))

    assert [row["name"] for row in raw()] == ["'" + name] * 2
    assert raw()[0]["gap"].startswith("-") and float(raw()[0]["gap"]) < 0  # a negative number, as a number
    r = invoke("table", "inj", "--results", out, "--format", "csv")
    assert [row["name"] for row in csv.DictReader(io.StringIO(r.stdout))] == ["'" + name] * 2
    clean_exit(invoke("diagnose", "inj", "--results", out), 0)
    assert [row["name"] for row in raw()] == ["'" + name] * 2  # rewritten, not quoted twice
    assert all(row["diagnosis"] for row in raw())
    assert [row["name"] for row in read_csv(path)] == [name] * 2


# ---------------------------------------------------------------------------------------------
# 5. Ctrl-C while the pool's processes start

# Runs `dlexp ARGS…` in this interpreter with a hook that sends SIGINT at an exact moment of a
# pool's start: to the whole process group (what a terminal's Ctrl-C does) while the forkserver
# imports its preload modules; in the parent just after it started a worker process, before the
# pool has recorded it; or to a worker alone as it starts, before its initializer has run.
SIGINT_AT_START = """
import signal, sys
# Ctrl-C as an interactive shell delivers it, even when pytest itself started with SIGINT ignored
# (under nohup, or as a background job of a script): the child would inherit the ignored signal.
signal.signal(signal.SIGINT, signal.default_int_handler)
import dlexp.sweeps.executors as executors

moment = sys.argv[1]
if moment == "forkserver":
    executors.PRELOAD.append("sigint_on_import")
elif moment == "worker":
    import sigint_then_init
    executors._worker_init = sigint_then_init.init
else:
    import multiprocessing.process, signal
    start = multiprocessing.process.BaseProcess.start

    def start_then_sigint(self):
        start(self)
        if not hasattr(start_then_sigint, "sent"):
            start_then_sigint.sent = True
            # wherever a SIGINT lands (in any thread, e.g. a progress bar's), Python runs its
            # handler in the main thread at the next instruction: here, exactly then
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)

    multiprocessing.process.BaseProcess.start = start_then_sigint
from dlexp.cli import main
sys.argv = ["dlexp", *sys.argv[2:]]
main()
"""
HOOKS = {
    "sigint_on_import.py": "import os, signal\nos.killpg(0, signal.SIGINT)\n",
    "sigint_then_init.py": """
        import os, signal
        from dlexp.sweeps.executors import _worker_init

        def init(*args):
            os.kill(os.getpid(), signal.SIGINT)
            _worker_init(*args)
        """,
}


def sweep_with_sigint_at(moment: str, tmp_path: Path) -> tuple[int, str, Path, Path]:
    """(exit code, stderr, spec, out) of a three-point `dlexp sweep -j 2` with the hook at `moment`."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for name, text in HOOKS.items():
        (hooks / name).write_text(textwrap.dedent(text))
    spec = write_spec(tmp_path, "start", {"seed": [0, 1, 2]})
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), *sys.path])}  # the workers import the hooks
    # its own session: the SIGINT to "the process group" must not reach pytest
    proc = subprocess.Popen([sys.executable, "-c", SIGINT_AT_START, moment, "sweep", str(spec), "--results", str(out),
                             "-j", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the forkserver or a worker, should one outlive it
        except ProcessLookupError:
            pass
    return proc.returncode, err, spec, out


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")


@posix_only
@pytest.mark.parametrize("moment", ["forkserver", "parent"])
def test_ctrl_c_as_the_pool_starts_exits_130_without_a_traceback(tmp_path, moment):
    code, err, spec, out = sweep_with_sigint_at(moment, tmp_path)
    assert code == 130, err
    assert "Traceback" not in err and "Exception" not in err, err
    # what was kept: nothing yet, and how to go on
    assert err.rstrip().endswith("interrupted: sweep start: 0 of 3 runs done; run the same command again to resume")
    assert_tidy(out)
    r = invoke("sweep", spec, "--results", out, "-j", "1", "-q")
    clean_exit(r, 0)
    assert [row["status"] for row in sweep_rows(out, "start")] == ["completed"] * 3


@posix_only
def test_a_worker_never_sees_sigint_not_even_as_it_starts(tmp_path):
    """Ctrl-C is the parent's to handle: a SIGINT that reaches a starting worker changes nothing."""
    code, err, _, out = sweep_with_sigint_at("worker", tmp_path)
    assert code == 0, err
    assert "Traceback" not in err and "Exception" not in err, err
    assert [row["status"] for row in sweep_rows(out, "start")] == ["completed"] * 3
