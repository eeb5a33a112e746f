"""Start-up of the CLI and of the Python API, against another checkout measured in the same run.

    git worktree add /tmp/dlexp-before v0.3.0          # or any commit to compare with
    python benchmarks/bench_startup.py --against /tmp/dlexp-before
    python benchmarks/bench_startup.py                 # this checkout alone, against `python -c pass`

Each figure is the median wall time of --reps fresh interpreters running one of:

  help       the CLI's `dlexp --help` (click's entry point, as the `dlexp` script runs it)
  import     `import dlexp` (what a notebook's first cell pays)
  api        `import dlexp; dlexp.run` (the API loaded: numpy, the config layer, the trainer)

The checkouts are interleaved (this, other, this, …) so that the machine's noise falls on
both; each is put first on sys.path with PYTHONPATH. BLAS is pinned to one thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = {
    "help": "import sys; sys.argv = ['dlexp', '--help']\nfrom dlexp.cli import main\ntry:\n    main()\n"
            "except SystemExit:\n    pass",
    "import": "import dlexp",
    "api": "import dlexp; dlexp.run",
}


def once(tree: Path | None, code: str) -> float:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", type=Path, help="another dlexp checkout (its root folder)")
    ap.add_argument("--reps", type=int, default=21)
    args = ap.parse_args()
    trees = {"this": ROOT}
    if args.against:
        trees["other"] = args.against.resolve()
    bare = []
    times = {(name, what): [] for name in trees for what in CODE}
    for _ in range(args.reps):
        bare.append(once(None, "pass"))
        for what, code in CODE.items():
            for name, tree in trees.items():
                if what == "api" and name == "other" and "_API" not in (tree / "dlexp" / "__init__.py").read_text():
                    continue  # a checkout before the Python API
                times[(name, what)].append(once(tree, code))
    base = statistics.median(bare)
    print(f"python -c pass: {base * 1000:.0f} ms (median of {args.reps})")
    print(f"{'':8} " + "  ".join(f"{name:>22}" for name in trees) + ("   this / other" if args.against else ""))
    for what in CODE:
        cells, medians = [], {}
        for name in trees:
            xs = times[(name, what)]
            if xs:
                medians[name] = statistics.median(xs)
                cells.append(f"{medians[name] * 1000:8.0f} ms ({medians[name] / base:4.2f}× pass)")
            else:
                cells.append(f"{'—':>22}")
        ratio = f"   {medians['this'] / medians['other']:.3f}" if len(medians) == 2 else ""
        print(f"{what:8} " + "  ".join(f"{c:>22}" for c in cells) + ratio)


if __name__ == "__main__":
    main()
