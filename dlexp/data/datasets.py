"""Datasets for under/overfitting studies: synthetic, scikit-learn's bundled sets, or CSV files.

`load_dataset(cfg)` turns the `data:` section of a config into train/val/test arrays,
split so that learning curves compare like with like:

* test is carved first, then val, from the whole data; train is the first `train_size` rows of a
  seeded ordering of what remains. Val and test are therefore the same rows whatever `train_size`
  is, and a smaller train set is a prefix (so a subset) of a larger one. For classification each
  ordering is stratified: every prefix holds each class in proportion, within one row.
* a dataset with a published test split (mnist1d) keeps it whole, and val and train are carved
  as above from its training rows, sizes being fractions of those (as with a CSV test_path file).
* sizes are int counts or float fractions of the whole dataset; train_size None is "the rest".
* then, fitted on the training split only: label noise (training labels only), polynomial
  features, and standardization of the features and, for regression, of the targets (losses are
  then in units of the training target's std). The fitted feature transform comes with the
  Dataset (`transform`), so new points can be mapped exactly as the splits were.

Random streams: generation uses `default_rng(seed)` / `random_state=seed`, the splits
`default_rng([seed, 1])` and label noise `default_rng([seed, 2])`, so no two share draws.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from . import mnist1d_data
from .columns import ENCODER_MODULES, IMPUTERS, ColumnPlan, Encoder, finish_report, ignored_columns, prepare
from .csvfile import CLASSIFICATION, REGRESSION, csv_target, read_csv, target_task
from .npzfile import read_npz
from ..errors import DataError, Problem, did_you_mean



@dataclass(frozen=True, eq=False, repr=False)
class FittedTransform:
    """Raw features (M, d) → the features the model sees (M, D), fitted on the training split.

    First, for a CSV file with categorical or missing cells, the columns' encoder (columns.py:
    imputation, one-hot indicators) turns raw rows into d numbers; then polynomial expansion of
    `degree` (none at 1; the degree-1 terms come first, so the first d columns are the inputs),
    then, when standardizing, (X − mean) / std with the mean and std of the expanded training
    split (a constant column keeps std 1). The same transform makes train, val and test, and
    readers apply it to new points, such as a decision boundary's grid.
    """

    n_in: int                       # d: numeric inputs (after the encoder, if any)
    n_out: int                      # D: features after the expansion
    degree: int = 1
    mean: np.ndarray | None = None  # (D,); None: not standardized
    std: np.ndarray | None = None   # (D,)
    encoder: Encoder | None = None  # raw CSV rows → d numbers; None: the raw features are numbers

    @classmethod
    def fit(cls, X_train: np.ndarray, degree: int, standardize: bool,
            columns: ColumnPlan | None = None) -> "FittedTransform":
        """Fitted on X_train (N, d), N >= 1."""
        encoder = columns.fit(X_train) if columns is not None else None
        X_train = encoder(X_train) if encoder is not None else X_train
        expanded = _polynomial_features(degree).fit_transform(X_train) if degree > 1 else X_train
        mean, std = _mean_std(expanded) if standardize else (None, None)
        return cls(X_train.shape[1], expanded.shape[1], degree, mean, std, encoder)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:  # an empty split (scikit-learn refuses 0 rows)
            return np.empty((0, self.n_out))
        return self._numeric(self.encoder(X) if self.encoder is not None else X)

    def _numeric(self, X: np.ndarray) -> np.ndarray:
        """Expansion and standardization of numeric inputs X (M, d)."""
        if self.degree > 1:
            X = _polynomial_features(self.degree).fit_transform(X)  # stateless given degree and width
        return X if self.mean is None else (X - self.mean) / self.std

    def feature_names(self, raw: list[str]) -> list[str]:
        """Names of the D output columns, from the raw names: x0, x1, x0^2, x0 x1, … (the
        encoder's names, such as island=Biscoe, for an encoded CSV file)."""
        names = self.encoder.names if self.encoder is not None else list(raw)
        if self.degree == 1:
            return names
        poly = _polynomial_features(self.degree).fit(np.zeros((1, self.n_in)))
        return [str(f) for f in poly.get_feature_names_out(names)]

    @property
    def categorical(self) -> bool:
        """Some inputs are one-hot indicators of a category (no plane of inputs to draw)."""
        return self.encoder is not None and bool(self.encoder.categories)

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """The (standardized) numeric inputs (M, d) inside transformed features X (M, D)."""
        return X[:, :self.n_in]

    def from_inputs(self, P: np.ndarray) -> np.ndarray:
        """Transformed features (M, D) of (standardized) numeric inputs P (M, d): inverts `inputs`."""
        raw = P if self.mean is None else P * self.std[:self.n_in] + self.mean[:self.n_in]
        return self._numeric(raw)

    def __repr__(self) -> str:
        encoded = f"{len(self.encoder.plan.names)} columns encoded → " if self.encoder is not None else ""
        return (f"FittedTransform({encoded}{self.n_in} → {self.n_out} features, degree {self.degree}, "
                f"{'standardized' if self.mean is not None else 'not standardized'})")


@dataclass(repr=False)
class Dataset:
    """Split arrays. X: float64 (N, D); y: int64 (N,) class indices, or float64 (N, K) targets."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str  # "classification" | "regression"
    n_classes: int | None
    feature_names: list[str]
    class_names: list[str] | None
    name: str = ""
    transform: FittedTransform | None = None  # raw features → X; None on an untransformed Dataset
    columns: ColumnPlan | None = None  # a CSV file's encoding and imputation, fitted in _finish
    preprocessing: dict = field(default_factory=dict)  # what was done to a CSV file (columns.py)
    inputs: list[str] | None = None  # the raw feature columns `transform` takes (feature_names before it)
    target_mean: np.ndarray | None = None  # (K,) regression targets standardized: y = (raw − mean) / std
    target_std: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.n_classes if self.task == CLASSIFICATION else self.y_train.shape[1]

    def __repr__(self) -> str:
        kind = "classes" if self.task == CLASSIFICATION else "outputs"
        return (f"Dataset({self.name}: {self.task}, {self.n_features} features, "
                f"{self.n_outputs} {kind}; train {len(self.X_train)}, val {len(self.X_val)}, "
                f"test {len(self.X_test)})")


# --- synthetic data: (cfg) -> (X (N, D), y (N,)) -------------------------------------------------

def _skd():
    """sklearn.datasets, imported on first use: scikit-learn and the scipy it loads cost ~0.5 s,
    which `dlexp --help`, the CSV and NumPy-made datasets never need."""
    from sklearn import datasets

    return datasets


def _two_arcs(outer: np.ndarray, inner: np.ndarray, cfg):
    """Stack two arcs as classes 0 and 1, shuffle, add Gaussian noise.

    The draws are exactly scikit-learn's (make_moons/make_circles with random_state=seed: one
    RandomState shuffles, then adds noise), so the data is the same without importing
    scikit-learn, which alone costs more than a second of start-up. tests/test_data.py checks
    the equality.
    """
    X = np.concatenate([outer, inner])
    y = np.concatenate([np.zeros(len(outer), dtype=np.intp), np.ones(len(inner), dtype=np.intp)])
    rs = np.random.RandomState(cfg.seed)
    order = np.arange(len(X))
    rs.shuffle(order)
    X, y = X[order], y[order]
    X += rs.normal(scale=cfg.noise, size=X.shape)
    return X, y


def _moons(cfg):
    n_out = cfg.n_samples // 2
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, cfg.n_samples - n_out)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = np.column_stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5])
    return _two_arcs(outer, inner, cfg)


def _circles(cfg, factor=0.5):
    n_out = cfg.n_samples // 2
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, cfg.n_samples - n_out, endpoint=False)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = np.column_stack([np.cos(t_in), np.sin(t_in)]) * factor
    return _two_arcs(outer, inner, cfg)


def _blobs(cfg):
    """`n_classes` (3) Gaussian blobs in `n_features` (2) dimensions, cluster_std = 1 + 5·noise."""
    return _skd().make_blobs(cfg.n_samples, centers=cfg.n_classes or 3,
                             n_features=cfg.n_features or 2, cluster_std=1.0 + 5.0 * cfg.noise,
                             random_state=cfg.seed)


def _spirals(cfg):
    """`n_classes` (2) arms r = 2t, θ = 2π(t + k/C), t ~ U(0, 1) (a turn), N(0, noise²) jitter."""
    rng, n, C = np.random.default_rng(cfg.seed), cfg.n_samples, cfg.n_classes or 2
    y = np.arange(n) % C
    t = rng.uniform(0.0, 1.0, n)
    theta = 2.0 * np.pi * (t + y / C)
    X = 2.0 * t[:, None] * np.column_stack([np.cos(theta), np.sin(theta)])
    return X + cfg.noise * rng.standard_normal((n, 2)), y


def _xor(cfg):
    """x ~ U(-1, 1)², label sign(x1)·sign(x2) > 0, then N(0, noise²) jitter on x."""
    rng = np.random.default_rng(cfg.seed)
    X = rng.uniform(-1.0, 1.0, (cfg.n_samples, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X + cfg.noise * rng.standard_normal(X.shape), y


def _classification(cfg):
    """make_classification; `noise` is unused: class_sep and flip_y set the difficulty."""
    return _skd().make_classification(
        cfg.n_samples, n_features=cfg.n_features or 20, n_informative=cfg.n_informative or 2,
        n_redundant=2 if cfg.n_redundant is None else cfg.n_redundant,
        n_classes=cfg.n_classes or 2, class_sep=cfg.class_sep, flip_y=cfg.flip_y,
        random_state=cfg.seed)


def _regression(cfg):
    """make_regression (10 features, all informative), y = signal + noise·std(signal)·N(0, 1)."""
    d = cfg.n_features or 10
    X, signal = _skd().make_regression(cfg.n_samples, n_features=d,
                                       n_informative=cfg.n_informative or d, random_state=cfg.seed)
    eps = np.random.default_rng(cfg.seed).standard_normal(cfg.n_samples)
    return X, signal + cfg.noise * signal.std() * eps  # noise relative to the signal's scale


def _sine(cfg):
    """x ~ U(0, 1), y = sin(2πx) + noise·N(0, 1)."""
    rng = np.random.default_rng(cfg.seed)
    x = rng.uniform(0.0, 1.0, cfg.n_samples)
    return x[:, None], np.sin(2 * np.pi * x) + cfg.noise * rng.standard_normal(cfg.n_samples)


def _polynomial(cfg):
    """x ~ U(-1.5, 1.5), y = x³ - x + noise·N(0, 1)."""
    rng = np.random.default_rng(cfg.seed)
    x = rng.uniform(-1.5, 1.5, cfg.n_samples)
    return x[:, None], x**3 - x + cfg.noise * rng.standard_normal(cfg.n_samples)


def _named(make):
    """A generator's (X, y) with feature names x0, x1, … and no class names."""
    def named(cfg):
        X, y = make(cfg)
        return X, y, [f"x{j}" for j in range(X.shape[1])], None
    return named


def _bundled(loader: str):
    """One of sklearn.datasets' bundled loaders, with its feature and class names."""
    def load(cfg):
        bunch = getattr(_skd(), loader)()
        classes = [str(c) for c in bunch.target_names] if "target_names" in bunch else None
        return bunch.data, bunch.target, [str(f) for f in bunch.feature_names], classes
    return load


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: how it is made, and the facts the config schema and the memory estimate need
    before it is made.

    make(cfg) -> (X (N, D), y (N,), feature names, class names or None); None for csv (files).
    features: input columns; with `n_features` true, data.n_features overrides it.
    classes: classes of a classification dataset (data.n_classes overrides it); None for regression.
    rows: fixed row count (bundled sets); None: data.n_samples rows are generated.
    size(cfg) -> (rows, features), when the dataset's own keys set them (mnist1d: data.mnist1d).
    n_test(cfg) -> how many of make's rows, at the end, are a published test split, used whole:
        val and train are then carved from the rows before them. None: test is carved like val.
    size_key: the config key that sets the row count, which the memory check names.
    modules: the modules that make imports on first use (~1.5 s each for scikit-learn and
        mnist1d), which a sweep's pool preloads once in its forkserver.
    """

    make: Callable | None
    task: str
    features: int = 0
    classes: int | None = None
    rows: int | None = None
    n_features: bool = False
    size: Callable | None = None
    n_test: Callable | None = None
    size_key: str = "data.n_samples"
    modules: tuple[str, ...] = ()

    @property
    def generated(self) -> bool:
        """Made from data.n_samples and data.seed: more rows can always be drawn."""
        return self.make is not None and self.rows is None and self.size is None

    def shape(self, cfg) -> tuple[int, int, int]:
        """(rows, input features before expansion, outputs) of `cfg`'s data, without making it."""
        if self.size is not None:
            rows, features = self.size(cfg)
        else:
            rows = self.rows if self.rows is not None else cfg.n_samples
            features = (self.n_features and cfg.n_features) or self.features
        outputs = (cfg.n_classes or self.classes) if self.task == CLASSIFICATION else 1
        return int(rows), int(features), int(outputs)


SKLEARN = ("sklearn.datasets",)  # drawn or loaded by scikit-learn

DATASETS: dict[str, DatasetSpec] = {
    "moons": DatasetSpec(_named(_moons), CLASSIFICATION, features=2, classes=2),
    "circles": DatasetSpec(_named(_circles), CLASSIFICATION, features=2, classes=2),
    "blobs": DatasetSpec(_named(_blobs), CLASSIFICATION, features=2, classes=3, n_features=True, modules=SKLEARN),
    "spirals": DatasetSpec(_named(_spirals), CLASSIFICATION, features=2, classes=2),
    "xor": DatasetSpec(_named(_xor), CLASSIFICATION, features=2, classes=2),
    "classification": DatasetSpec(_named(_classification), CLASSIFICATION, features=20, classes=2,
                                  n_features=True, modules=SKLEARN),
    "regression": DatasetSpec(_named(_regression), REGRESSION, features=10, n_features=True, modules=SKLEARN),
    "sine": DatasetSpec(_named(_sine), REGRESSION, features=1),
    "polynomial": DatasetSpec(_named(_polynomial), REGRESSION, features=1),
    "iris": DatasetSpec(_bundled("load_iris"), CLASSIFICATION, features=4, classes=3, rows=150, modules=SKLEARN),
    "wine": DatasetSpec(_bundled("load_wine"), CLASSIFICATION, features=13, classes=3, rows=178, modules=SKLEARN),
    "breast_cancer": DatasetSpec(_bundled("load_breast_cancer"), CLASSIFICATION, features=30, classes=2,
                                 rows=569, modules=SKLEARN),
    "digits": DatasetSpec(_bundled("load_digits"), CLASSIFICATION, features=64, classes=10, rows=1797,
                          modules=SKLEARN),
    "diabetes": DatasetSpec(_bundled("load_diabetes"), REGRESSION, features=10, rows=442, modules=SKLEARN),
    # generated by the mnist1d package; its test split is the package's (mnist1d_data.py)
    "mnist1d": DatasetSpec(mnist1d_data.make, CLASSIFICATION, features=mnist1d_data.FEATURES,
                           classes=mnist1d_data.CLASSES, size=mnist1d_data.size, n_test=mnist1d_data.n_test,
                           size_key="data.mnist1d.num_samples", modules=("mnist1d.data",)),
    # a CSV file's task and shape come from the file (csvfile.py); see _raw_csv
    "csv": DatasetSpec(None, "", classes=2),
    # a NumPy file's arrays, as the Python API writes in-memory data (npzfile.py); see _raw_npz
    "npz": DatasetSpec(None, "", classes=2),
}
FILE_DATASETS = ("csv", "npz")  # read from data.path: no generator keys


def heavy_modules(cfg, cv: int | None = None) -> list[str]:
    """The modules beyond numpy that loading `cfg` (with `cv` folds) will import.

    A sweep's process pool preloads them once in its forkserver when some run needs them, and
    skips them (~1.5 s of imports for scikit-learn) when none does.
    """
    # a CSV file's columns are typed when it is read: those keys say beforehand that they will be encoded
    encoded = cfg.name == "csv" and (cfg.missing in IMPUTERS or bool(cfg.categorical and cfg.categorical != "auto"))
    return (list(DATASETS[cfg.name].modules)
            + (list(ENCODER_MODULES) if encoded else [])
            + (["sklearn.model_selection"] if cv else [])
            + (["sklearn.preprocessing"] if cfg.poly_degree > 1 else []))


# --- public API ----------------------------------------------------------------------------------

def load_dataset(cfg, base_dir: Path = Path()) -> Dataset:
    """The train/val/test Dataset that the `data:` config section `cfg` describes.

    File paths in `cfg` are relative to `base_dir`; a validated config's are absolute already.
    """
    return _finish(cfg, _raw(cfg, Path(base_dir)))


def make_cv_folds(cfg, base_dir: Path = Path(), *, k: int) -> list[Dataset]:
    """k folds over train+val (train_size applied): fold i trains on the rest, validates on part i.

    Stratified for classification, shuffled with `cfg.seed`; the test split is the same in every
    fold, and each fold is transformed (label noise, poly, standardization) like a normal split.
    """
    raw = _raw(cfg, Path(base_dir))
    X, y = np.concatenate([raw.X_train, raw.X_val]), np.concatenate([raw.y_train, raw.y_val])
    if not 2 <= k <= len(X):
        raise DataError(Problem(f"{k} folds need 2 <= k <= {len(X)} (the train+val rows)",
                                key="eval.cv"))
    stratify = raw.task == CLASSIFICATION
    if stratify:
        # a fold holds out at most ceil(n_c / k) rows of class c, and 2 must stay to train on
        need = k if k > 2 else 4
        counts = np.bincount(y, minlength=raw.n_classes)
        for c in np.flatnonzero(counts < need):
            raise DataError(Problem(f"{k} stratified folds need at least {need} rows of every "
                                    f"class in train+val, but class '{raw.class_names[c]}' has "
                                    f"{counts[c]}", key="eval.cv"))
    from sklearn.model_selection import KFold, StratifiedKFold  # on first use, as _skd()

    splitter = (StratifiedKFold if stratify else KFold)(k, shuffle=True, random_state=cfg.seed)
    return [_finish(cfg, replace(raw, X_train=X[tr], y_train=y[tr], X_val=X[va], y_val=y[va]))
            for tr, va in splitter.split(X, y)]


# --- every source becomes an untransformed ("raw") Dataset ---------------------------------------

def _raw(cfg, base_dir: Path) -> Dataset:
    if cfg.name == "csv":
        return _raw_csv(cfg, base_dir)
    if cfg.name == "npz":
        return _raw_npz(cfg, base_dir)
    if cfg.name not in DATASETS:
        raise DataError(Problem(f"unknown dataset '{cfg.name}'{did_you_mean(cfg.name, DATASETS)}; "
                                f"valid: {', '.join(DATASETS)}", key="data.name"))
    spec = DATASETS[cfg.name]
    try:
        X, y, features, classes = spec.make(cfg)
    except ValueError as e:  # sklearn's check of incompatible generator settings
        raise DataError(Problem(f"{cfg.name}: {e}", key="data")) from None
    natural = spec.task
    task = natural if cfg.task == "auto" else cfg.task
    if task == CLASSIFICATION and natural == REGRESSION and np.any(y != np.round(y)):
        raise DataError(Problem(f"{cfg.name} has non-integer targets: a regression target for a "
                                "classification loss (use task: regression or auto)",
                                key="data.task"))
    y, classes = _encode(y, task, classes if natural == CLASSIFICATION else None)
    if spec.n_test is None:
        idx = _split(cfg, y, classes, len(X), cfg.name)
    else:  # a published test split, the last rows: val and train are carved from the rows before it
        n = len(X) - spec.n_test(cfg)
        *idx, _ = _split(cfg, y[:n], classes, n, f"{cfg.name}'s training set", from_files=("test",))
        idx.append(np.arange(n, len(X)))
    return _dataset([(X[i], y[i]) for i in idx], task, features, classes, cfg.name)


def _dataset(splits, task, features, classes, name) -> Dataset:
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = splits
    return Dataset(X_tr, y_tr, X_va, y_va, X_te, y_te, task, len(classes) if classes else None,
                   list(features), classes, name)


def _encode(y, task, classes=None):
    """y as int64 class indices (with class names), or as float64 (N, 1) regression targets."""
    if task == REGRESSION:
        return np.asarray(y, np.float64).reshape(len(y), 1), None
    values, y = np.unique(y, return_inverse=True)
    if classes is None:
        classes = [v if isinstance(v, str) else str(int(v)) for v in values.tolist()]
    if len(values) < 2:
        raise DataError(Problem(f"every target is '{classes[0]}': classification needs 2 classes "
                                "or more", key="data.target"))
    return y.astype(np.int64), classes


# --- splits --------------------------------------------------------------------------------------

def _counts(cfg, n, source, from_files=()):
    """(train, val, test) row counts of an n-row source; a split read from its own file counts 0.

    Fractions are of n, and fractions summing to 1 leave no row out: train takes what rounding
    leaves, as it does when train_size is None.
    """
    asked = {"train": cfg.train_size, "val": cfg.val_size, "test": cfg.test_size}
    asked.update({role: 0 for role in from_files})
    counts = {role: _rows(size, n, role) for role, size in asked.items()}
    shown = [role for role in asked if role not in from_files and asked[role] is not None]
    if all(isinstance(asked[r], float) for r in shown):
        fraction = sum(asked[r] for r in shown)
        if fraction > 1 + 1e-9:
            terms = " + ".join(f"{asked[r]:g} {r}" for r in shown)
            raise DataError(Problem(f"{terms} = {fraction:g} of the data; fractions must sum to "
                                    "at most 1", key="data.train_size"))
        if fraction > 1 - 1e-9:
            counts["train"] = None
    total = sum(counts[r] for r in shown if counts[r] is not None)
    if total > n:
        terms = " + ".join(f"{counts[r]} {r}" for r in shown)
        terms += f" = {total} rows" if len(shown) > 1 else " rows"
        raise DataError(Problem(f"{terms}, but {source} has {n}", key="data.train_size"))
    if counts["train"] is None:
        counts["train"] = n - counts["val"] - counts["test"]
    if counts["train"] < 1:
        raise DataError(Problem(f"the training split would be empty ({source} has {n} rows)",
                                key="data.train_size"))
    return counts["train"], counts["val"], counts["test"]


def _rows(size, n, role):
    """A split size as a row count: an int as is, a float as a fraction of n, None as None."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size >= 0:
        return int(size)
    if isinstance(size, float) and 0 <= size <= 1:
        return round(size * n)
    if size is None and role == "train":
        return None
    raise DataError(Problem(f"{size!r} is neither a row count (int >= 0) nor a fraction in "
                            "[0, 1]", key=f"data.{role}_size"))


def _order(rng, y, idx, stratify):
    """`idx` in a seeded random order; stratified, every prefix of length m holds floor(m·p_c) or
    ceil(m·p_c) rows of each class c.

    Class c's r-th row must land in slots (r/p_c, (r+1)/p_c] (1-based); earliest deadline first
    meets every window, as such an order always exists (Tijdeman's chairman assignment problem).
    """
    idx = idx[rng.permutation(len(idx))]
    if not stratify:
        return idx
    n, labels = len(idx), y[idx]
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]  # positions, random order
    taken = [0] * len(members)
    waiting = [(1, c) for c in range(len(members))]  # (first slot, class) of each next row
    ready, out = [], np.empty(n, dtype=np.int64)
    for slot in range(1, n + 1):
        while waiting and waiting[0][0] <= slot:
            c = heapq.heappop(waiting)[1]
            deadline = -(-(taken[c] + 1) * n // len(members[c]))  # ceil((r + 1) / p_c)
            heapq.heappush(ready, (deadline, members[c][taken[c]], c))  # ties: random position
        _, out[slot - 1], c = heapq.heappop(ready)
        taken[c] += 1
        if taken[c] < len(members[c]):
            heapq.heappush(waiting, (taken[c] * n // len(members[c]) + 1, c))
    return idx[out]


def _split(cfg, y, classes, n, source, from_files=()):
    """Index arrays (train, val, test): test first, then val, then a nested prefix as train.

    `classes` (names) means stratify, and the training split must hold 2 rows of every class;
    None means plain shuffling (regression).
    """
    n_train, n_val, n_test = _counts(cfg, n, source, from_files)
    stratify = classes is not None
    rng = np.random.default_rng([cfg.seed, 1])
    order = _order(rng, y, np.arange(n), stratify)
    test, rest = order[:n_test], _order(rng, y, order[n_test:], stratify)
    val, pool = rest[:n_val], _order(rng, y, rest[n_val:], stratify)
    counts = np.bincount(y[pool[:n_train]], minlength=len(classes)) if stratify else None
    if stratify and counts.min() < 2:
        c, labels = int(np.argmin(counts)), y[pool]
        second = [np.flatnonzero(labels == k)[1:2] for k in range(len(classes))]
        hint = (f"use train_size >= {max(int(s[0]) for s in second) + 1}"  # shortest such prefix
                if all(map(len, second)) else
                f"only {np.count_nonzero(labels == c)} remain outside val and test")
        raise DataError(Problem(
            f"{n_train} training rows hold {counts[c]} of class "
            f"'{classes[c]}', and stratified splits need at least 2 per class: {hint}",
            key="data.train_size"))
    return pool[:n_train], val, test


# --- transforms fitted on the training split -----------------------------------------------------

def _finish(cfg, raw: Dataset) -> Dataset:
    """Label noise, polynomial features and standardization, each fitted on train only; the
    features' part is the Dataset's `transform`."""
    y_train = _corrupt(cfg, raw) if cfg.label_noise else raw.y_train
    ys, mean, std = [y_train, raw.y_val, raw.y_test], None, None
    if cfg.standardize and raw.task == REGRESSION:
        mean, std = _mean_std(y_train)
        ys = [(y - mean) / std for y in ys]
    t = FittedTransform.fit(raw.X_train, cfg.poly_degree, cfg.standardize, raw.columns)
    report = finish_report(raw.preprocessing, t.encoder, {"val": raw.X_val, "test": raw.X_test})
    return replace(raw, X_train=t(raw.X_train), y_train=ys[0], X_val=t(raw.X_val), y_val=ys[1],
                   X_test=t(raw.X_test), y_test=ys[2], feature_names=t.feature_names(raw.feature_names),
                   transform=t, preprocessing=report, inputs=list(raw.feature_names), target_mean=mean,
                   target_std=std)


def _polynomial_features(degree: int):
    from sklearn.preprocessing import PolynomialFeatures  # on first use, as _skd()

    return PolynomialFeatures(degree, include_bias=False)


def _mean_std(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std of A (N, D); a constant column gets std 1 (it stays constant)."""
    mean, std = A.mean(axis=0), A.std(axis=0)
    std[std <= 1e-12 * np.maximum(1.0, np.abs(mean))] = 1.0
    return mean, std


LABEL_NOISE_MODES = ("other", "random")  # data.label_noise_mode: what a corrupted label becomes


def _corrupt(cfg, raw: Dataset):
    """round(label_noise · N) training labels, chosen at random, each moved to another class
    (mode other) or drawn anew from all C classes (mode random: a share 1/C of them keeps its
    label, so about label_noise · (1 − 1/C) of the labels change)."""
    if raw.task == REGRESSION:
        raise DataError(Problem(f"label noise needs class labels, but {raw.name} is a regression "
                                "dataset (add noise with data.noise)", key="data.label_noise"))
    y, C = raw.y_train.copy(), raw.n_classes
    rng = np.random.default_rng([cfg.seed, 2])
    flip = rng.choice(len(y), round(cfg.label_noise * len(y)), replace=False)
    if cfg.label_noise_mode == "random":
        y[flip] = rng.integers(0, C, len(flip))
    else:
        y[flip] = (y[flip] + rng.integers(1, C, len(flip))) % C  # a shift of 1..C-1: another class
    return y


# --- CSV files (parsed in csvfile.py) -------------------------------------------------------------

def _csv_paths(cfg, base_dir: Path) -> dict:
    """{split: (config key, path)} of the files named; relative to the config's folder."""
    named = {"train": ("data.path", cfg.path), "val": ("data.val_path", cfg.val_path),
             "test": ("data.test_path", cfg.test_path)}
    return {role: (key, base_dir / Path(value).expanduser())  # an absolute path stays as is
            for role, (key, value) in named.items() if value is not None}


def _raw_csv(cfg, base_dir: Path) -> Dataset:
    if not cfg.path or cfg.target in (None, ""):  # target 0 is a column index
        raise DataError(Problem("csv data needs `path` (the file) and `target` (the label column)",
                                key="data.path" if not cfg.path else "data.target"))
    files = _csv_paths(cfg, base_dir)
    # a header row given explicitly (header: true) is trusted even when it reads like data
    header = dict(header=cfg.header, check_header="header" not in cfg.model_fields_set,
                  delimiter=cfg.delimiter)
    main = read_csv(*files["train"], cfg.target, **header)
    target = main.target_column  # a name, also when cfg.target is an index
    ignored = ignored_columns(cfg, main, target)
    tables = {"train": main, **{role: read_csv(key, path, target, main, ignored=ignored, **header)
                                for role, (key, path) in files.items() if role != "train"}}
    prepared = prepare(cfg, tables, target, {role: key for role, (key, _) in files.items()})
    tables = prepared.tables  # without the rows dropped for missing cells
    task, targets = csv_target(target, cfg.task, list(tables.values()))
    y, classes = _encode(targets, task)
    splits = _given_splits(cfg, prepared.X, y, task, classes, main.path.name)
    ds = _dataset(splits, task, prepared.names, classes, main.path.name)
    return replace(ds, columns=prepared.plan, preprocessing=prepared.report)


def _given_splits(cfg, X: dict, y: np.ndarray, task: str, classes, source: str) -> list:
    """[(X, y)] of train, val and test from data given per role (X: {role: rows}, train first;
    y: every role's targets, in that order). A val or test role given (a file, an array) is that
    split whole (with a val one and no test one the test split is empty); train is cut from the
    train rows like any dataset's."""
    ys = dict(zip(X, np.split(y, np.cumsum([len(rows) for rows in X.values()])[:-1])))
    own = ("val", "test") if "val" in X else ("test",) if "test" in X else ()
    idx = _split(cfg, ys["train"], classes if task == CLASSIFICATION else None, len(X["train"]), source, own)
    parts = [(X["train"][i], ys["train"][i]) for i in idx]
    for slot, role in ((1, "val"), (2, "test")):
        if role in X:
            parts[slot] = (X[role], ys[role])
    return parts


# --- NumPy files (read in npzfile.py) -------------------------------------------------------------

def _raw_npz(cfg, base_dir: Path) -> Dataset:
    if not cfg.path:
        raise DataError(Problem("npz data needs `path` (a .npz file of X and y)", key="data.path"))
    path = base_dir / Path(cfg.path).expanduser()
    splits, names = read_npz("data.path", path)
    ys = np.concatenate([y for _, y in splits.values()])
    text = ys.dtype.kind == "U"
    values = np.full(len(ys), np.nan) if text else ys.astype(np.float64)
    task = target_task(cfg.task, values, np.full(len(ys), text))
    if task == REGRESSION and text:
        raise DataError(Problem(f"y holds text ('{ys[0]}'), and a regression target must be numbers",
                                key="data.task", file=str(path)))
    if task == CLASSIFICATION and not text and np.any(values != np.round(values)):
        raise DataError(Problem(f"y holds {values[values != np.round(values)][0]}, not a whole number: a "
                                "regression target for a classification loss (use task: regression or auto)",
                                key="data.task", file=str(path)))
    y, classes = _encode(ys, task)
    if "val" in splits and "train_size" not in cfg.model_fields_set:  # a resolved config always says
        raise DataError(Problem("the file holds its own validation split (X_val, y_val): say train_size: null to "
                                "train on all of X, or give the size of X's part to train on",
                                key="data.train_size", file=str(path)))
    # with X_val the arrays are the splits, as CSV files are
    parts = _given_splits(cfg, {role: X for role, (X, _) in splits.items()}, y, task, classes, path.name)
    return _dataset(parts, task, names, classes, path.name)
