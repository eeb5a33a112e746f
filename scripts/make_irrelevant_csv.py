"""Write configs/data/irrelevant.csv: 3 informative inputs and 9 irrelevant ones, for the L1 study.

    python scripts/make_irrelevant_csv.py

scikit-learn's make_classification with shuffle=False, n_redundant=0 and n_repeated=0 puts the
n_informative inputs first and fills the rest with N(0, 1) noise drawn independently of the
class; the columns are named for what they are (informative_1…3, noise_1…9), so a figure of
per-input weights shows at a glance whether L1 kept the right ones. 600 rows, two classes, seed 0.
"""

from pathlib import Path

from sklearn.datasets import make_classification

OUT = Path(__file__).resolve().parents[1] / "configs" / "data" / "irrelevant.csv"
INFORMATIVE, IRRELEVANT = 3, 9


def main() -> None:
    X, y = make_classification(600, n_features=INFORMATIVE + IRRELEVANT, n_informative=INFORMATIVE,
                               n_redundant=0, n_repeated=0, n_classes=2, class_sep=2.0, shuffle=False,
                               random_state=0)
    names = [f"informative_{i + 1}" for i in range(INFORMATIVE)] + [f"noise_{i + 1}" for i in range(IRRELEVANT)]
    lines = [",".join(names + ["label"])] + [",".join(f"{v:.4f}" for v in row) + f",{t}" for row, t in zip(X, y)]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(y)} rows)")


if __name__ == "__main__":
    main()
