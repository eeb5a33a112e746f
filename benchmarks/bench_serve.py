"""dlexp serve, table, ls, diagnose and report on a results folder of 1,000 finished runs.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_serve.py [--runs 1000] [--repeats 5]

The folder is made quickly: one real run is trained, then copied 1,000 times with its run id
rewritten in summary.json, and a sweep's manifest lists them all. Timed (median of the repeats,
and the ratio to the goal): the server's first page (index + /api/index over HTTP, a fresh
server each time, so every summary is read), a refresh that finds nothing new, `dlexp table`
of the sweep, `dlexp ls`, `dlexp diagnose` of the sweep (every run diagnosed against its 999
peers; from the second repeat on the labels are recorded already) and `dlexp report` of it, each
a fresh process; diagnose and report also as a ratio to table, which reads the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS pinned: the numbers do not depend on the cores free

GOALS = {"first page": 2.0, "table": 1.0, "ls": 1.0, "diagnose": 20.0, "report": 20.0}


def make_folder(root: Path, n: int) -> Path:
    from dlexp.config.load import config_from_dict, resolved_dict, run_id
    from dlexp.config.yamlfile import dump_yaml
    from dlexp.results.store import write_run
    from dlexp.training.experiment import execute

    exp = config_from_dict({"name": "bench", "data": {"name": "moons", "n_samples": 200},
                            "model": {"hidden": [16]}, "train": {"epochs": 50}})
    out = root / "results"
    seed = write_run(out, run_id(exp), execute(exp), dump_yaml(resolved_dict(exp)))
    summary = json.loads((seed / "summary.json").read_text())
    points = []
    for i in range(n):
        rid = f"{i:012x}"
        folder = out / "runs" / rid
        shutil.copytree(seed, folder)
        (folder / "summary.json").write_text(json.dumps({**summary, "run_id": rid, "name": f"bench-{i}"}))
        points.append({"point": {"seed": i}, "run_id": rid, "status": "completed"})
    shutil.rmtree(seed)
    sweep = out / "sweeps" / "bench"
    sweep.mkdir(parents=True)
    (sweep / "manifest.json").write_text(json.dumps({"name": "bench", "swept": ["seed"], "points": points}))
    return out


def first_page(out: Path) -> float:
    from dlexp.serve.server import make_server

    srv = make_server(out, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    for path in ("", "static/app.js", "api/index"):
        urllib.request.urlopen(srv.url + path).read()
    took = time.perf_counter() - t0
    srv.shutdown()
    srv.server_close()
    return took


def refresh(out: Path) -> float:
    from dlexp.serve.index import ResultsIndex

    index = ResultsIndex(out)
    index.refresh()
    t0 = time.perf_counter()
    index.refresh()
    index.run_rows()
    return time.perf_counter() - t0


def command(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dlexp.cli", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = make_folder(Path(tmp), args.runs)
        print(f"{args.runs} runs made in {time.perf_counter() - t0:.1f} s")
        timings = {"first page": lambda: first_page(out), "refresh, nothing new": lambda: refresh(out),
                   "table": lambda: command("table", "bench", "--results", str(out), "--format", "csv"),
                   "ls": lambda: command("ls", "--results", str(out), "--json"),
                   "diagnose": lambda: command("diagnose", "bench", "--results", str(out)),
                   "report": lambda: command("report", "bench", "--results", str(out), "--out", f"{tmp}/report.html")}
        medians = {}
        for name, fn in timings.items():
            times = [fn() for _ in range(args.repeats)]
            med = medians[name] = statistics.median(times)
            goal = GOALS.get(name)
            ratio = f" · {med / goal:.2f} of the {goal:g} s goal" if goal else ""
            peer = f" · {med / medians['table']:.0f}× table" if name in ("diagnose", "report") else ""
            print(f"{name:22} median {med:.3f} s (min {min(times):.3f}, max {max(times):.3f}){ratio}{peer}")


if __name__ == "__main__":
    main()
