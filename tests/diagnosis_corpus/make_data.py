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
* gauss3.csv — 3 classes, 5 features: Gaussian classes (identity covariance) whose means lie on a
  triangle 2 apart in the first two features, 1200 rows; target column `label`. The classes
  overlap (Bayes error ~0.25), and with equal covariances a linear boundary is the Bayes rule.
* prices.csv — a linear target on raw, unstandardized scales: x0..x3 ~ U(0, 1),
  y = 20 + 8 x0 - 5 x1 + 12 x2 + 3 x3 + N(0, 2^2), 500 rows; target column `y` (mean ~29,
  variance ~27, of which the noise is 4).
* hypercube_{train,val,test}.csv — 3 classes, 12 features, as separate split files of 300 / 700 /
  700 rows: each class is two Gaussian clusters with their own random covariances, centred on
  vertices of a hypercube in the first 10 features (make_classification's recipe, in numpy);
  the last 2 features are noise. Written with 4 significant digits to keep each file < 100 KB.

Only numpy is used, so the files do not depend on a scikit-learn version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"


def write_csv(path: Path, columns: list[str], rows: np.ndarray, int_last: bool = False, digits: int = 6) -> None:
    lines = [",".join(columns)]
    for row in rows:
        cells = [f"{v:.{digits}g}" for v in row[:-1]]
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


def gauss3(n: int = 1200, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(3) / 3
    centres = np.zeros((3, 5))
    centres[:, 0], centres[:, 1] = np.cos(angles), np.sin(angles)
    centres *= 2 / np.sqrt(3)  # a triangle of side 2
    y = np.arange(n) % 3
    X = centres[y] + rng.standard_normal((n, 5))
    order = rng.permutation(n)
    return np.column_stack([X[order], y[order]])


def prices(n: int = 500, seed: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, (n, 4))
    y = 20 + 8 * X[:, 0] - 5 * X[:, 1] + 12 * X[:, 2] + 3 * X[:, 3] + 2.0 * rng.standard_normal(n)
    return np.column_stack([X, y])


def hypercube(n: int, seed: int, classes: int = 3, informative: int = 10, noise_features: int = 2,
              sep: float = 1.0) -> np.ndarray:
    """make_classification's recipe in numpy: 2 Gaussian clusters per class, centred on distinct
    vertices of a hypercube of side 2 sep in the informative features, each cluster with its own
    random covariance (z @ A_k, A_k ~ U(-1, 1)); then noise features. The vertices and the A_k come
    from a fixed generator, so every split file draws from the same distribution."""
    fixed = np.random.default_rng(100)
    vertices = fixed.choice(2 ** informative, 2 * classes, replace=False)
    centres = sep * (2.0 * ((vertices[:, None] >> np.arange(informative)) & 1) - 1.0)
    shapes = fixed.uniform(-1.0, 1.0, (2 * classes, informative, informative))
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 2 * classes, n)
    z = rng.standard_normal((n, informative))
    X = centres[cluster] + np.einsum("ni,nij->nj", z, shapes[cluster])
    X = np.column_stack([X, rng.standard_normal((n, noise_features))])
    return np.column_stack([X, cluster % classes])


def main() -> None:
    DATA.mkdir(exist_ok=True)
    write_csv(DATA / "blobs4.csv", ["x0", "x1", "x2", "x3", "label"], blobs(), int_last=True)
    cols = ["x0", "x1", "x2", "x3", "x4", "y"]
    write_csv(DATA / "friedman.csv", cols, friedman(800, seed=0))
    rows = friedman(840, seed=1)
    write_csv(DATA / "friedman_small_train.csv", cols, rows[:40])
    write_csv(DATA / "friedman_val.csv", cols, rows[40:440])
    write_csv(DATA / "friedman_test.csv", cols, rows[440:])
    write_csv(DATA / "gauss3.csv", ["x0", "x1", "x2", "x3", "x4", "label"], gauss3(), int_last=True)
    write_csv(DATA / "prices.csv", ["x0", "x1", "x2", "x3", "y"], prices())
    cols = [f"x{j}" for j in range(12)] + ["label"]
    for name, n, seed in (("train", 300, 10), ("val", 700, 11), ("test", 700, 12)):
        write_csv(DATA / f"hypercube_{name}.csv", cols, hypercube(n, seed), int_last=True, digits=4)
    for p in sorted(DATA.glob("*.csv")):
        print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
