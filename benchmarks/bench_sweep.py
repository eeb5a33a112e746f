"""Sweep machinery benchmark: parallel speed-up and per-run overhead.

    python benchmarks/bench_sweep.py [--runs 8] [--epochs 500] [--trials 5]

1. Speed-up: `dlexp sweep` of N equal runs (a grid over `seed`) with --jobs 2 against --jobs 1,
   each as its own process into a fresh results folder, as a user would time it. Goal on a
   2-core machine: ratio <= 0.55. The peer that shows what the machine allows: two independent
   `dlexp sweep --jobs 1` processes started together, each on half of the runs (no pool, no
   shared driver); their wall time over --jobs 1's is the best ratio two cores give here.
2. Overhead: everything a sweep does besides training — validating and hashing the points,
   checking what is done, locks, writing run folders, manifest and summary.csv — per run:
   (wall time of load_spec + run_sweep with --jobs 1 − time inside experiment.execute) / N.
   Goal: < 0.2 s. Also the cost per run of a rerun that finds everything done.

The three sweeps are interleaved in each trial; the table gives the median of the per-trial
ratios (and their range), and the best time of each.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def spec_for(folder: Path, runs: int, epochs: int) -> tuple[Path, Path, Path]:
    """The sweep of `runs` seeds, and its two halves."""
    base = {"name": "bench", "data": {"name": "moons", "n_samples": 1000, "noise": 0.3},
            "model": {"hidden": [64, 64]}, "optimizer": {"name": "adam", "lr": 0.003},
            "train": {"epochs": epochs, "batch_size": 32}}
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    specs = []
    for name, seeds in (("bench", range(runs)), ("first", range(runs // 2)), ("second", range(runs // 2, runs))):
        spec = folder / f"{name}.yaml"
        spec.write_text(yaml.safe_dump({"name": name, "base": "base.yaml", "grid": {"seed": list(seeds)}}))
        specs.append(spec)
    return tuple(specs)


def _command(spec: Path, out: Path, jobs: int) -> list[str]:
    return [sys.executable, "-m", "dlexp.cli", "sweep", str(spec), "--results", str(out), "-j", str(jobs), "-q"]


def timed_cli(*commands: list[str]) -> float:
    """Wall time of running `commands` as processes started together, until the last ends."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in commands]
    for c, p in zip(commands, procs):
        err = p.communicate()[1]
        if p.returncode != 0:
            sys.exit(f"{' '.join(c[2:])} failed (exit {p.returncode}):\n{err}")
    return time.perf_counter() - t0


def overhead(spec: Path, out: Path) -> tuple[float, float, float]:
    """(total s, training s, rerun s) of an in-process sweep (--jobs 1)."""
    import dlexp.sweeps.executors as executors
    from dlexp.sweeps.sweep import run_sweep
    from dlexp.sweeps.spec import load_spec

    inside = []
    real = executors.run_task

    def counting(exp, *a, **kw):
        t0 = time.perf_counter()
        try:
            return real(exp, *a, **kw)
        finally:
            inside.append(time.perf_counter() - t0)

    executors.run_task = counting
    try:
        import dlexp.data.datasets  # noqa: F401  (imports are paid once per process, not per run)
        import dlexp.training.train  # noqa: F401

        t0 = time.perf_counter()
        run_sweep(load_spec(spec), out, jobs=1, quiet=True, echo=lambda s: None)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_sweep(load_spec(spec), out, jobs=1, quiet=True, echo=lambda s: None)
        rerun = time.perf_counter() - t0
    finally:
        executors.run_task = real
    return total, sum(inside), rerun


def _load() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args()
    n = args.runs
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec, first, second = spec_for(tmp, n, args.epochs)
        one, two, pair, per_run, rerun_per_run, train_per_run = [], [], [], [], [], []
        for t in range(args.trials):
            one.append(timed_cli(_command(spec, tmp / f"j1-{t}", 1)))
            two.append(timed_cli(_command(spec, tmp / f"j2-{t}", 2)))
            pair.append(timed_cli(_command(first, tmp / f"pa-{t}", 1), _command(second, tmp / f"pb-{t}", 1)))
            total, training, rerun = overhead(spec, tmp / f"ov-{t}")
            per_run.append((total - training) / n)
            train_per_run.append(training / n)
            rerun_per_run.append(rerun / n)
    ratio = [b / a for a, b in zip(one, two)]
    ceiling = [c / a for a, c in zip(one, pair)]

    def spread(xs):
        return f"median of {len(xs)}; range {min(xs):.2f}–{max(xs):.2f}"

    rows = [
        ("runs × training time each", f"{n} × {statistics.median(train_per_run):.2f} s", "median"),
        ("dlexp sweep --jobs 1", f"{min(one):.2f} s", f"best; trials: {', '.join(f'{x:.2f}' for x in one)}"),
        ("dlexp sweep --jobs 2", f"{min(two):.2f} s", f"best; trials: {', '.join(f'{x:.2f}' for x in two)}"),
        ("2 × --jobs 1 on halves, together", f"{min(pair):.2f} s",
         f"best; trials: {', '.join(f'{x:.2f}' for x in pair)}"),
        ("ratio jobs 2 / jobs 1", f"{statistics.median(ratio):.2f}", f"goal <= 0.55; {spread(ratio)}"),
        ("ratio two halves / jobs 1", f"{statistics.median(ceiling):.2f}", f"what 2 cores give here; {spread(ceiling)}"),
        ("overhead per run (not training)", f"{statistics.median(per_run) * 1000:.0f} ms",
         f"goal < 200 ms; median; best {min(per_run) * 1000:.0f} ms"),
        ("rerun, all done: per run", f"{statistics.median(rerun_per_run) * 1000:.1f} ms",
         "median; validate, hash, check, write"),
        ("load average before / after", f"{load_before} / {_load()}", "other processes skew every figure"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':{width}}  {'value':>14}  note")
    for name, value, note in rows:
        print(f"{name:{width}}  {value:>14}  {note}")


if __name__ == "__main__":
    main()
