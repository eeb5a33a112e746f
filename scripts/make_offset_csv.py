"""Write configs/data/offset.csv: a regression target with a large mean, for the bias-penalty study.

    python scripts/make_offset_csv.py

y = 50 + 3·x1 − 2·x2 + ε with x1, x2, x3 ~ N(0, 1) (x3 is noise) and ε ~ N(0, 1), 400 rows,
seed 0. The features are already on unit scale and the study keeps `standardize: false`, so the
model must put the offset of 50 into its biases: exactly what penalizing the biases hinders.
"""

from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "configs" / "data" / "offset.csv"


def main() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3))
    y = 50.0 + 3.0 * X[:, 0] - 2.0 * X[:, 1] + rng.standard_normal(400)
    lines = ["x1,x2,x3,y"] + [f"{a:.4f},{b:.4f},{c:.4f},{t:.4f}" for (a, b, c), t in zip(X, y)]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(y)} rows)")


if __name__ == "__main__":
    main()
