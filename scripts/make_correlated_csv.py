"""Write configs/data/correlated.csv: one signal input repeated four times, for the L1-vs-L2 study.

    python scripts/make_correlated_csv.py

`signal` and `other` are independent N(0, 1) inputs that both set the class (logistic, 2·signal +
other); `copy_1` … `copy_4` are signal plus N(0, 0.05²) noise, so five inputs carry almost the same
information. 600 rows, seed 0. The columns are named for what they are, so a figure of per-input
weights shows at a glance how L1 and L2 share the weight among the copies.
"""

from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "configs" / "data" / "correlated.csv"
COPIES = 4


def main() -> None:
    rng = np.random.default_rng(0)
    signal, other = rng.standard_normal(600), rng.standard_normal(600)
    copies = [signal + 0.05 * rng.standard_normal(600) for _ in range(COPIES)]
    label = (rng.random(600) < 1 / (1 + np.exp(-(2 * signal + other)))).astype(int)
    names = ["signal", *[f"copy_{i + 1}" for i in range(COPIES)], "other", "label"]
    columns = [signal, *copies, other]
    lines = [",".join(names)] + [",".join(f"{c[i]:.4f}" for c in columns) + f",{label[i]}" for i in range(600)]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(label)} rows)")


if __name__ == "__main__":
    main()
