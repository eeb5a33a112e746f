"""Write the CSV files of the diagnosis corpus into data/ (deterministic: fixed seeds, fixed format).

    python tests/diagnosis_corpus/make_data.py

* blobs4.csv — 3 classes, 4 features: Gaussian blobs (std 1) centred 8 apart on the axes, 300 rows.
  Perfectly separable with a wide margin; target column `label` (0, 1, 2).
* friedman.csv — Friedman #1 regression, 5 features ~ U(0, 1):
  y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + N(0, 0.5^2), 800 rows; target column `y`.
  Nonlinear (a linear model leaves ~25 % of the variance), smooth, and with a known noise floor
  (noise variance 0.25, about 1 % of the target's variance of ~24).
* friedman_small_train.csv / friedman_val.csv / friedman_test.csv — the same function as separate
  split files (seed 1): 40 training rows, 400 validation rows, 400 test rows (val_path/test_path
  style: the files are the splits).

Only numpy is used, so the files do not depend on a scikit-learn version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"


def write_csv(path: Path, columns: list[str], rows: np.ndarray, int_last: bool = False) -> None:
    lines = [",".join(columns)]
    for row in rows:
        cells = [f"{v:.6g}" for v in row[:-1]]
        cells.append(str(int(row[-1])) if int_last else f"{row[-1]:.6g}")
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def blobs(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[8.0, 0.0, 0.0, 0.0], [0.0, 8.0, 0.0, 0.0], [0.0, 0.0, 8.0, 0.0]])
    y = np.arange(n) % 3
    X = centres[y] + rng.standard_normal((n, 4))
    order = rng.permutation(n)
    return np.column_stack([X[order], y[order]])


def friedman(n: int, seed: int, noise: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, (n, 5))
    y = (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3] + 5 * X[:, 4]
         + noise * rng.standard_normal(n))
    return np.column_stack([X, y])


def main() -> None:
    DATA.mkdir(exist_ok=True)
    write_csv(DATA / "blobs4.csv", ["x0", "x1", "x2", "x3", "label"], blobs(), int_last=True)
    cols = ["x0", "x1", "x2", "x3", "x4", "y"]
    write_csv(DATA / "friedman.csv", cols, friedman(800, seed=0))
    rows = friedman(840, seed=1)
    write_csv(DATA / "friedman_small_train.csv", cols, rows[:40])
    write_csv(DATA / "friedman_val.csv", cols, rows[40:440])
    write_csv(DATA / "friedman_test.csv", cols, rows[440:])
    for p in sorted(DATA.glob("*.csv")):
        print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
