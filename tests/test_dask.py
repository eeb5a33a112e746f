"""`dlexp sweep --executor dask`: the same sweep on a Dask cluster gives the same results."""

from __future__ import annotations

import csv
import io
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dlexp.cli import main

BASE = {"name": "tiny", "data": {"name": "moons", "n_samples": 120, "noise": 0.25},
        "model": {"hidden": [8]}, "optimizer": {"name": "adam", "lr": 0.02},
        "train": {"epochs": 3, "batch_size": 16}}
SPEC = {"name": "det", "base": "base.yaml", "grid": {"model.hidden": [[4], [8, 8]]},
        "random": {"samples": 2, "seed": 0, "params": {"optimizer.lr": {"dist": "loguniform", "low": 0.001,
                                                                       "high": 0.1}}}}


def spec_file(folder: Path) -> Path:
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    (folder / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    return folder / "spec.yaml"


def sweep(*args):
    return CliRunner().invoke(main, ["sweep", *map(str, args)])


def rows(out: Path) -> list[dict]:
    text = (out / "sweeps" / "det" / "summary.csv").read_text()
    return [{k: v for k, v in r.items() if k not in ("wall_time", "wall_time_std")}
            for r in csv.DictReader(io.StringIO(text))]


def test_without_dask_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    r = sweep(spec_file(tmp_path), "--executor", "dask", "--address", "tcp://127.0.0.1:1", "--results", tmp_path / "r")
    assert r.exit_code == 2
    assert "pip install -e '.[dask]'" in r.output


def test_dask_needs_an_address(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    r = sweep(spec_file(tmp_path), "--executor", "dask", "--results", tmp_path / "r")
    assert r.exit_code == 2 and "--address tcp://HOST:PORT" in r.output


def test_same_summary_with_jobs_1_jobs_2_and_dask(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = spec_file(tmp_path)
    assert sweep(spec, "--results", tmp_path / "one", "-j", "1").exit_code == 0
    assert sweep(spec, "--results", tmp_path / "two", "-j", "2").exit_code == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:
        r = sweep(spec, "--results", tmp_path / "dask", "--executor", "dask", "--address", cluster.scheduler_address)
        assert r.exit_code == 0, r.output
        # the driver wrote everything; a rerun finds it done
        r = sweep(spec, "--results", tmp_path / "dask", "--address", cluster.scheduler_address)
        assert "4 of 4 runs already done; training 0" in r.output
    assert len(rows(tmp_path / "one")) == 4
    assert rows(tmp_path / "one") == rows(tmp_path / "two") == rows(tmp_path / "dask")
    models = sorted((tmp_path / "one" / "runs").glob("*/model.npz"))
    assert all(m.read_bytes() == (tmp_path / "dask" / "runs" / m.parent.name / "model.npz").read_bytes()
               for m in models)


def test_dask_workers_tell_the_driver_the_epochs_they_train(tmp_path):
    """Sweep progress in epochs on a cluster too: a worker puts (run id, epochs) on a Dask queue
    that the driver reads; the first report goes out at the first epoch."""
    distributed = pytest.importorskip("distributed")
    import threading

    from dlexp.config.load import config_from_dict
    from dlexp.sweeps.executors import DaskExecutor, Task

    exp = config_from_dict({"name": "t", "data": {"name": "xor", "n_samples": 60}, "model": {"hidden": [4]},
                            "train": {"epochs": 30, "batch_size": 8}})
    told, heard = [], threading.Event()

    def on_epochs(rid, n):
        told.append((rid, n))
        heard.set()

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:
        ex = DaskExecutor(cluster.scheduler_address, on_epochs=on_epochs)
        try:
            ex.submit(Task("r1", exp, "t"))
            (done,) = ex.wait(timeout=120)
            assert done[1].error is None and done[1].extra["epochs"] == 30
            assert heard.wait(timeout=60), "no epoch report reached the driver"
        finally:
            ex.shutdown()
    assert told[0] == ("r1", 1) and all(rid == "r1" and 1 <= n <= 30 for rid, n in told)
    assert [n for _, n in told] == sorted(n for _, n in told)  # in order


def _dask_cli(name: str) -> list[str]:
    script = Path(sys.executable).with_name("dask")
    found = str(script) if script.exists() else shutil.which("dask")
    if not found:
        pytest.skip("no `dask` command")
    return [found, name]


# Preloaded by `dask scheduler`: runs once it listens, and tells the test where (the scheduler
# file it can also write is written in place, so it may be read half-written).
READY = """
def dask_setup(scheduler):
    print("READY", scheduler.address, flush=True)
"""


def test_on_real_scheduler_and_worker_processes(tmp_path):
    pytest.importorskip("distributed")
    (tmp_path / "ready.py").write_text(READY)
    env = dict(os.environ)
    procs = [subprocess.Popen(_dask_cli("scheduler") + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                                        "--preload", str(tmp_path / "ready.py")],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)]
    try:
        # Blocks until the scheduler is up, or has died (end of file); the bound is for a hung one.
        assert select.select([procs[0].stdout], [], [], 300)[0], "the scheduler neither started nor died"
        line = procs[0].stdout.readline()
        assert line.startswith("READY "), f"the scheduler did not start (exit code {procs[0].poll()})"
        address = line.split()[1]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(subprocess.Popen(_dask_cli("worker") + [address, "--nthreads", "1", "--no-nanny",
                                                             "--no-dashboard", "--host", "127.0.0.1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        spec = spec_file(tmp_path)
        # the address from the environment, as a cluster job script would set it; the sweep waits
        # for the worker to join (the bound is for a hung sweep)
        result = subprocess.run([sys.executable, "-m", "dlexp.cli", "sweep", str(spec), "--executor", "dask",
                                 "--results", str(tmp_path / "r")], capture_output=True, text=True, timeout=300,
                                env={**env, "DASK_SCHEDULER_ADDRESS": address})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(tmp_path / "r" / "sweeps" / "det")
        assert [r["status"] for r in rows(tmp_path / "r")] == ["completed"] * 4
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        procs[0].stdout.close()
