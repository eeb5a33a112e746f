"""dlexp.data.datasets: splits (sizes, stratification, nesting), transforms, datasets, CSV, errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlexp.data.datasets import DATASETS, FILE_DATASETS, _order, load_dataset, make_cv_folds
from dlexp.errors import DataError
from dlexp.config.schema import DataConfig
from helpers import fed_fifo, invoke

HERE = Path(__file__).parent
FIXTURES = HERE / "data"


def cfg(validate=True, **overrides):
    """A `data:` section as the config layer hands it over; validate=False builds one the config
    would refuse, to reach data.py's own guards."""
    return DataConfig(**overrides) if validate else DataConfig.model_construct(**overrides)


def load(base_dir=HERE, validate=True, **overrides):
    return load_dataset(cfg(validate, **overrides), base_dir)


def fruit(**overrides):
    return load(FIXTURES, **{"name": "csv", "path": "fruit.csv", "target": "fruit", **overrides})


def rows(X):
    return {tuple(r) for r in X}


def data_error(match, **overrides):
    """Load expecting a DataError whose message matches `match`; return the message."""
    with pytest.raises(DataError) as info:
        load(**overrides)
    assert re.search(match, str(info.value)), str(info.value)
    return str(info.value)


# --- splits ---------------------------------------------------------------------------------------

def test_int_sizes_are_counts():
    ds = load(train_size=100, val_size=50, test_size=30)
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (100, 50, 30)
    assert len(ds.y_train) == 100 and ds.X_train.shape == (100, 2)


def test_fraction_sizes_are_of_the_whole_dataset():
    ds = load(train_size=0.3, val_size=0.2, test_size=0.1)
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (120, 80, 40)


def test_fractions_that_round_past_the_total_take_the_row_from_train():
    ds = load(name="wine")  # 178 rows: 0.6/0.2/0.2 round to 107 + 36 + 36 = 179
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (106, 36, 36)


def test_train_size_none_takes_every_row_left():
    ds = load(validate=False, train_size=None, val_size=50, test_size=0.25)
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (250, 50, 100)


def test_a_zero_size_split_is_empty_with_the_right_shape():
    ds = load(name="sine", val_size=0, test_size=0)
    assert ds.X_val.shape == (0, 1) and ds.y_val.shape == (0, 1) and ds.X_test.shape == (0, 1)


@pytest.mark.parametrize("train_size", [0.6, 37, 101])
def test_every_split_is_stratified_within_one_row(train_size):
    ds = load(name="breast_cancer", train_size=train_size)  # 212 malignant / 357 benign
    share = np.array([212, 357]) / 569
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert np.all(np.abs(np.bincount(y, minlength=2) - share * len(y)) <= 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=300), st.integers(0, 2**32 - 1))
def test_every_prefix_of_a_stratified_order_is_within_one_row(labels, seed):
    y = np.array(labels)
    order = _order(np.random.default_rng(seed), y, np.arange(len(y)), True)
    assert sorted(order) == list(range(len(y)))
    onehot = np.eye(7)[y[order]]  # (N, C)
    prefix_counts = np.cumsum(onehot, axis=0)  # (N, C): class counts of every prefix
    expected = np.arange(1, len(y) + 1)[:, None] * np.bincount(y, minlength=7) / len(y)
    assert np.all(np.abs(prefix_counts - expected) < 1)


def test_imbalanced_multiclass_csv_splits_are_stratified(tmp_path):
    labels = ["a"] * 130 + ["b"] * 50 + ["c"] * 15 + ["d"] * 5  # 65% 25% 7.5% 2.5%
    write(tmp_path, "d.csv", "x,y\n" + "".join(f"{i},{c}\n" for i, c in enumerate(labels)))
    for train_size in (80, 101, 0.6):  # a class of 5 rows needs >= 80 to put 2 in train
        ds = load(tmp_path, name="csv", path="d.csv", target="y", train_size=train_size)
        share = np.array([130, 50, 15, 5]) / 200
        for y in (ds.y_train, ds.y_val, ds.y_test):
            assert np.all(np.abs(np.bincount(y, minlength=4) - share * len(y)) < 1)


def test_standardization_is_fitted_on_train_only():
    ds, raw = load(), load(standardize=False)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1, atol=1e-12)
    assert np.all(np.abs(ds.X_val.mean(axis=0)) > 1e-6)  # val is scaled with train's statistics
    mean, std = raw.X_train.mean(axis=0), raw.X_train.std(axis=0)
    np.testing.assert_allclose(ds.X_val, (raw.X_val - mean) / std)
    np.testing.assert_allclose(ds.X_test, (raw.X_test - mean) / std)


def test_regression_targets_are_standardized_with_train_statistics():
    ds, raw = load(name="sine"), load(name="sine", standardize=False)
    assert ds.y_train.shape == (240, 1) and ds.y_train.dtype == np.float64
    np.testing.assert_allclose([ds.y_train.mean(), ds.y_train.std()], [0, 1], atol=1e-12)
    mean, std = raw.y_train.mean(), raw.y_train.std()
    np.testing.assert_allclose(ds.y_val, (raw.y_val - mean) / std)


def test_val_and_test_do_not_depend_on_train_size_and_train_sets_are_nested():
    sizes = [10, 40, 0.2, 0.6]
    runs = [load(train_size=s, standardize=False) for s in sizes]
    for ds in runs[1:]:
        np.testing.assert_array_equal(ds.X_val, runs[0].X_val)
        np.testing.assert_array_equal(ds.y_test, runs[0].y_test)
        np.testing.assert_array_equal(ds.X_test, runs[0].X_test)
    for small, large in zip(runs, runs[1:]):
        assert rows(small.X_train) < rows(large.X_train)
        np.testing.assert_array_equal(small.X_train, large.X_train[: len(small.X_train)])


def test_same_seed_same_arrays_other_seed_other_arrays():
    a, b, c = load(), load(), load(seed=1)
    for name in ("X_train", "y_train", "X_val", "X_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.X_train, c.X_train)
    d = load(name="iris", seed=1)  # bundled data: same rows, another split
    assert rows(d.X_test) != rows(load(name="iris").X_test)


# --- datasets -------------------------------------------------------------------------------------

SHAPES = {  # name: (task, n_features, n_outputs, rows)
    "moons": ("classification", 2, 2, 400), "circles": ("classification", 2, 2, 400),
    "blobs": ("classification", 2, 3, 400), "spirals": ("classification", 2, 2, 400),
    "xor": ("classification", 2, 2, 400), "classification": ("classification", 20, 2, 400),
    "regression": ("regression", 10, 1, 400), "sine": ("regression", 1, 1, 400),
    "polynomial": ("regression", 1, 1, 400), "iris": ("classification", 4, 3, 150),
    "wine": ("classification", 13, 3, 178), "breast_cancer": ("classification", 30, 2, 569),
    "digits": ("classification", 64, 10, 1797), "diabetes": ("regression", 10, 1, 442),
    "mnist1d": ("classification", 40, 10, 5000),
}


def test_the_shape_table_covers_every_builtin_dataset():
    assert set(SHAPES) == set(DATASETS) - set(FILE_DATASETS)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_dataset_loads_with_its_task_and_shape(name):
    task, d, outputs, n = SHAPES[name]
    ds = load(name=name)
    assert (ds.task, ds.n_features, ds.n_outputs) == (task, d, outputs)
    assert len(ds.X_train) + len(ds.X_val) + len(ds.X_test) == n
    assert ds.X_train.dtype == np.float64 and len(ds.feature_names) == d
    if task == "classification":
        assert ds.y_train.dtype == np.int64 and ds.y_train.ndim == 1
        assert ds.n_classes == len(ds.class_names) == outputs
        assert set(np.unique(ds.y_train)) == set(range(outputs))
    else:
        assert ds.y_train.dtype == np.float64 and ds.y_train.shape == (len(ds.X_train), 1)
        assert ds.n_classes is None and ds.class_names is None
    assert name in repr(ds)


def test_generator_options_are_used():
    ds = load(name="classification", n_features=6, n_informative=3, n_redundant=1, n_classes=3)
    assert (ds.n_features, ds.n_classes) == (6, 3)
    assert load(name="spirals", n_classes=4).n_classes == 4
    assert load(name="blobs", n_classes=5, n_features=3).n_outputs == 5
    assert len(load(name="moons", n_samples=100).X_train) == 60


def test_impossible_generator_options_are_a_data_error():
    data_error(r"data: classification: .*n_classes", name="classification", n_classes=5)


def test_noise_controls_the_sine_residual():
    clean = load(name="sine", noise=0.0, standardize=False)
    np.testing.assert_allclose(clean.y_train[:, 0], np.sin(2 * np.pi * clean.X_train[:, 0]))
    noisy = load(name="sine", noise=0.3, standardize=False)
    residual = noisy.y_train[:, 0] - np.sin(2 * np.pi * noisy.X_train[:, 0])
    assert 0.25 < residual.std() < 0.35


def test_polynomial_degree_expands_the_features():
    ds = load(name="sine", poly_degree=3, standardize=False)
    assert ds.feature_names == ["x0", "x0^2", "x0^3"]
    np.testing.assert_allclose(ds.X_val[:, 2], ds.X_val[:, 0] ** 3)
    assert load(name="moons", poly_degree=2).n_features == 5  # x0 x1 x0² x0x1 x1²
    std = load(name="moons", poly_degree=3).X_train.std(axis=0)
    np.testing.assert_allclose(std, 1, atol=1e-12)  # standardized after the expansion


@pytest.mark.parametrize("degree,standardize", [(1, True), (3, True), (2, False)])
def test_the_fitted_transform_makes_every_split_and_new_points(degree, standardize):
    """ds.transform is what made X_train, X_val and X_test from the raw features, bit for bit
    (an empty split included), and what readers apply to new points."""
    raw = load(name="moons", poly_degree=1, standardize=False, test_size=0)
    ds = load(name="moons", poly_degree=degree, standardize=standardize, test_size=0)
    t = ds.transform
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(t(getattr(raw, f"X_{split}")), getattr(ds, f"X_{split}"))
    assert ds.X_test.shape == (0, ds.n_features) and (t.n_in, t.n_out) == (2, ds.n_features)
    assert t.feature_names(raw.feature_names) == ds.feature_names
    np.testing.assert_array_equal(t.inputs(ds.X_val), ds.X_val[:, :2])  # the degree-1 terms come first
    np.testing.assert_allclose(t.from_inputs(t.inputs(ds.X_val)), ds.X_val, rtol=1e-12, atol=1e-12)


def test_label_noise_changes_exactly_that_fraction_of_train_labels_only():
    clean, noisy = load(name="iris"), load(name="iris", label_noise=0.2)
    changed = clean.y_train != noisy.y_train
    assert changed.sum() == round(0.2 * len(clean.y_train))  # every chosen label moves class
    np.testing.assert_array_equal(clean.X_train, noisy.X_train)
    np.testing.assert_array_equal(clean.y_val, noisy.y_val)
    np.testing.assert_array_equal(clean.y_test, noisy.y_test)
    again = load(name="iris", label_noise=0.2)
    np.testing.assert_array_equal(noisy.y_train, again.y_train)


def test_random_label_noise_draws_labels_anew_and_may_keep_them():
    """UDL notebook 8.3's noise and Zhang et al.'s random labels: the corrupted labels are drawn
    from all classes, so about 1/C of them keep their class; mode other moves every one."""
    clean = load(name="digits")
    n = round(0.5 * len(clean.y_train))
    drawn = load(name="digits", label_noise=0.5, label_noise_mode="random")
    moved = load(name="digits", label_noise=0.5)
    assert np.count_nonzero(moved.y_train != clean.y_train) == n
    changed = np.count_nonzero(drawn.y_train != clean.y_train)
    assert 0.8 * n < changed < n and abs(changed - 0.9 * n) < 4 * np.sqrt(n * 0.09)  # binomial, p = 9/10
    assert np.array_equal(drawn.y_val, clean.y_val) and np.array_equal(drawn.y_test, clean.y_test)
    every = load(name="digits", label_noise=1.0, label_noise_mode="random")
    assert abs(np.mean(every.y_train == clean.y_train) - 0.1) < 0.05  # chance agreement with the truth
    from dlexp.config.load import config_from_dict
    from dlexp.errors import ConfigError

    with pytest.raises(ConfigError, match=r"data\.label_noise_mode: 'randm' is not valid; valid: other, random "
                                          r"\(did you mean 'random'\?\)"):
        config_from_dict({"data": {"name": "digits", "label_noise_mode": "randm"}})


def test_label_noise_on_regression_data_is_a_data_error():
    data_error(r"data\.label_noise: .*regression", name="sine", label_noise=0.1)


def test_task_override():
    ds = load(name="moons", task="regression")
    assert ds.task == "regression" and ds.y_train.shape == (240, 1)
    data_error(r"data\.task: .*a regression target for a classification loss",
               name="sine", task="classification")


# --- cross-validation -----------------------------------------------------------------------------

def test_cv_folds_partition_the_pool_stratified_with_a_fixed_test_split():
    plain = load(name="iris", train_size=80, standardize=False)
    pool = np.concatenate([plain.X_train, plain.X_val])
    folds = make_cv_folds(cfg(name="iris", train_size=80, standardize=False), HERE, k=5)
    assert len(folds) == 5
    held_out = [rows(f.X_val) for f in folds]
    assert sum(len(h) for h in held_out) == len(pool) == 110
    assert set().union(*held_out) == rows(pool)
    for i, fold in enumerate(folds):
        assert len(fold.X_train) + len(fold.X_val) == 110
        assert rows(fold.X_train) == rows(pool) - held_out[i]
        assert all(held_out[i].isdisjoint(h) for j, h in enumerate(held_out) if j != i)
        np.testing.assert_array_equal(fold.X_test, plain.X_test)
        share = np.bincount(np.concatenate([plain.y_train, plain.y_val]), minlength=3) / 110
        assert np.all(np.abs(np.bincount(fold.y_val, minlength=3) - share * 22) <= 1)


def test_cv_folds_are_transformed_like_a_normal_split():
    folds = make_cv_folds(cfg(name="diabetes", poly_degree=2), HERE, k=3)
    for fold in folds:
        assert fold.n_features == 65  # 10 + 10 squares + 45 products
        np.testing.assert_allclose(fold.X_train.mean(axis=0), 0, atol=1e-10)
        np.testing.assert_allclose(fold.y_train.mean(), 0, atol=1e-10)
    noisy = make_cv_folds(cfg(name="moons", label_noise=0.1), HERE, k=4)
    clean = make_cv_folds(cfg(name="moons"), HERE, k=4)
    for a, b in zip(noisy, clean):
        assert (a.y_train != b.y_train).sum() == round(0.1 * len(b.y_train))
        np.testing.assert_array_equal(a.y_val, b.y_val)


def test_cv_needs_enough_rows_per_class():
    small = cfg(name="moons", train_size=6, val_size=2, test_size=0.5)  # 4 rows per class
    with pytest.raises(DataError, match=r"eval\.cv: 5 stratified folds need at least 5 rows of "
                       r"every class in train\+val, but class '\d' has 4"):
        make_cv_folds(small, HERE, k=5)
    for k in (2, 3, 4):  # every fold keeps 2 training rows of each class
        assert all(np.bincount(f.y_train).min() >= 2 for f in make_cv_folds(small, HERE, k=k))
    tiny = cfg(name="moons", train_size=4, val_size=2, test_size=0.5)  # 3 rows per class
    with pytest.raises(DataError, match=r"eval\.cv: 2 stratified folds need at least 4"):
        make_cv_folds(tiny, HERE, k=2)
    with pytest.raises(DataError, match=r"eval\.cv: 1 folds"):
        make_cv_folds(cfg(), HERE, k=1)


# --- CSV ------------------------------------------------------------------------------------------

def test_csv_with_string_labels():
    ds = fruit()
    assert ds.task == "classification" and ds.class_names == ["apple", "banana", "cherry"]
    assert ds.feature_names == ["weight", "diameter", "sweetness"] and ds.n_outputs == 3
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (36, 12, 12)
    raw = fruit(standardize=False)
    apples = raw.X_train[raw.y_train == 0]
    assert np.all(apples[:, 0] > 100)  # apple weights, in the train file's column order


def test_csv_val_and_test_files_are_the_splits():
    ds = fruit(val_path="fruit_val.csv", test_path="fruit_test.csv", train_size=60,
               standardize=False)
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (60, 15, 12)
    assert rows(ds.X_val) == rows(np.loadtxt(FIXTURES / "fruit_val.csv", delimiter=",",
                                            skiprows=1, usecols=(1, 2, 3)))
    sub = fruit(val_path="fruit_val.csv", test_path="fruit_test.csv", train_size=21)
    assert len(sub.X_train) == 21 and np.all(np.bincount(sub.y_train) == 7)


def test_csv_val_file_without_test_file_leaves_test_empty():
    ds = fruit(val_path="fruit_val.csv", train_size=0.5)  # a fraction of the train file
    assert ds.X_test.shape == (0, 3) and ds.y_test.shape == (0,)
    assert (len(ds.X_train), len(ds.X_val)) == (30, 15)
    assert len(fruit(val_path="fruit_val.csv", validate=False, train_size=None).X_train) == 60


def test_csv_test_file_alone_splits_val_from_the_main_file():
    ds = fruit(test_path="fruit_test.csv", train_size=30, val_size=15)
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (30, 15, 12)


def test_csv_files_as_splits_train_on_the_whole_train_file():
    # train_size not given: every row of fruit.csv (60), not the default 60 % of it
    ds = fruit(val_path="fruit_val.csv", test_path="fruit_test.csv")
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (60, 15, 12)
    assert len(fruit(val_path="fruit_val.csv").X_train) == 60
    # a test file alone: val is carved from fruit.csv (0.2 of 60) and train is every row left
    ds = fruit(test_path="fruit_test.csv")
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (48, 12, 12)
    # given, train_size still cuts the train file
    assert len(fruit(val_path="fruit_val.csv", train_size=0.6).X_train) == 36
    assert len(fruit(val_path="fruit_val.csv", train_size=21).X_train) == 21


def test_csv_absolute_paths(tmp_path):
    ds = load_dataset(cfg(name="csv", path=str(FIXTURES / "fruit.csv"), target="fruit"), tmp_path)
    assert len(ds.X_train) == 36


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def csv_error(tmp_path, text, match, **overrides):
    write(tmp_path, "d.csv", text)
    return data_error(match, base_dir=tmp_path, **{"name": "csv", "path": "d.csv", "target": "y",
                                                    **overrides})


def numbers_csv(n=40, target=lambda i: i % 2):
    return "a,b,y\n" + "".join(f"{i},{i * i % 7},{target(i)}\n" for i in range(n))


def test_csv_task_auto_from_the_target(tmp_path):
    for target, task, outputs in [(lambda i: i % 3, "classification", 3),
                                  (lambda i: i * 0.5, "regression", 1),
                                  (lambda i: i, "regression", 1)]:  # 40 distinct integers
        write(tmp_path, "d.csv", numbers_csv(target=target))
        ds = load(tmp_path, name="csv", path="d.csv", target="y")
        assert (ds.task, ds.n_outputs) == (task, outputs)
    write(tmp_path, "d.csv", numbers_csv(target=lambda i: 10 * (i % 2)))
    assert load(tmp_path, name="csv", path="d.csv", target="y").class_names == ["0", "10"]


def test_csv_byte_order_mark_blank_lines_quotes_and_spaces(tmp_path):
    rows = "".join(f'{i}, {i % 5} ,"{"big, red" if i % 2 else "small"}"\n\n' for i in range(30))
    (tmp_path / "d.csv").write_bytes(("\ufeffa, b ,y\n\n" + rows).encode("utf-8"))
    ds = load(tmp_path, name="csv", path="d.csv", target="y")
    assert ds.feature_names == ["a", "b"] and ds.class_names == ["big, red", "small"]


def test_csv_constant_feature_is_centred_not_scaled(tmp_path):
    write(tmp_path, "d.csv", "a,c,y\n" + "".join(f"{i},0.1,{i % 2}\n" for i in range(40)))
    ds = load(tmp_path, name="csv", path="d.csv", target="y")
    np.testing.assert_allclose(ds.X_train[:, 1], 0, atol=1e-12)
    np.testing.assert_allclose(ds.X_val[:, 1], 0, atol=1e-12)


def test_csv_float_target_for_classification_is_a_data_error(tmp_path):
    msg = csv_error(tmp_path, numbers_csv(target=lambda i: i / 4), r"a regression target for a "
                    "classification loss", task="classification")
    assert "d.csv:3: data.task: column 'y': 0.25" in msg


def test_csv_text_target_for_regression_is_a_data_error(tmp_path):
    csv_error(tmp_path, "a,y\n1,x\n2,0.5\n",
              r"d\.csv:2: data\.target: column 'y': 'x' is not a number", task="regression")


def test_csv_header_row_that_reads_as_data_is_refused(tmp_path):
    # a file without a header row whose target names a first-row value would lose that row
    text = "".join(f"{i * 0.5},{i % 7},{i % 2}\n" for i in range(1, 41))
    msg = csv_error(tmp_path, text, r"^\S*d\.csv:1: data\.header: the first row \(0\.5, 1, 1\) looks "
                    r"like data, not column names", target="1")
    assert "data.header: false" in msg and "data.header: true" in msg
    text = "".join(f"{i}.5,{i % 3},{'setosa' if i % 2 else 'virginica'}\n" for i in range(40))
    csv_error(tmp_path, text, r"d\.csv:1: data\.header: the first row \(0\.5, 0, virginica\)",
              target="virginica")
    write(tmp_path, "v.csv", "1.5,2,1\n3,4,0\n")  # a val file too
    csv_error(tmp_path, numbers_csv(), r"v\.csv:1: data\.header: .*looks like data", val_path="v.csv")


def test_csv_header_rows_that_are_kept(tmp_path):
    rows = "".join(f"{i},{i % 7},{i % 2}\n" for i in range(40))
    for head in ("a,2020,y\n", "0,1,2\n"):  # a name over numbers; pandas' names of unnamed columns
        write(tmp_path, "d.csv", head + rows)
        ds = load(tmp_path, name="csv", path="d.csv", target=head.split(",")[2].strip())
        assert len(ds.X_train) + len(ds.X_val) + len(ds.X_test) == 40
    # year columns over numbers and a text target read as data, unless header: true is given
    write(tmp_path, "d.csv", "2019,2020,fruit\n" + "".join(f"{i},{i % 7},{'ab'[i % 2]}\n" for i in range(40)))
    with pytest.raises(DataError, match=r"d\.csv:1: data\.header: .*looks like data"):
        load(tmp_path, name="csv", path="d.csv", target="fruit")
    ds = load(tmp_path, name="csv", path="d.csv", target="fruit", header=True)
    assert ds.feature_names == ["2019", "2020"] and ds.class_names == ["a", "b"]


def test_csv_without_a_header_row(tmp_path):
    write(tmp_path, "d.csv", "".join(f"{i},{i * i % 7},{i % 2}\n" for i in range(40)))
    for target in (2, -1, "x2"):
        ds = load(tmp_path, name="csv", path="d.csv", target=target, header=False, standardize=False)
        assert ds.feature_names == ["x0", "x1"] and ds.class_names == ["0", "1"]
        splits = np.concatenate([ds.X_train, ds.X_val, ds.X_test])
        assert sorted(splits[:, 0]) == list(range(40))  # every row, the first one included
    ds = load(tmp_path, name="csv", path="d.csv", target=0, header=False, task="regression")
    assert ds.feature_names == ["x1", "x2"]
    write(tmp_path, "v.csv", "1,2,0\n3,4,1\n")
    ds = load(tmp_path, name="csv", path="d.csv", target=-1, header=False, val_path="v.csv")
    assert (len(ds.X_train), len(ds.X_val)) == (40, 2)


def test_csv_without_a_header_row_errors(tmp_path):
    text = "".join(f"{i},{i * i % 7},{i % 2}\n" for i in range(40))
    csv_error(tmp_path, text, r"d\.csv:1: data\.target: column index 3 is out of range: the file has 3 "
              r"columns \(0 to 2, or -3 to -1 from the end\)", target=3, header=False)
    csv_error(tmp_path, text, r"column index -4 is out of range", target=-4, header=False)
    csv_error(tmp_path, text, r"d\.csv:1: data\.target: no target column 'y' \(no header row: the columns "
              r"are x0 … x2, or give an index\)", header=False)
    csv_error(tmp_path, "a,y\n1,0\n2,1\n", r"d\.csv:1: data\.target: 1 is a column index, which needs "
              r"data\.header: false", target=1)
    write(tmp_path, "v.csv", "1,2\n")
    csv_error(tmp_path, text, r"v\.csv:1: data\.val_path: 2 columns, but d\.csv has 3", header=False,
              target=2, val_path="v.csv")
    csv_error(tmp_path, "1,2,0\n1,2\n", r"d\.csv:2: data\.path: 2 values, but line 1 has 3 columns",
              header=False, target=2)


def test_data_paths_that_are_no_regular_files_are_refused(tmp_path):
    """A directory, /dev/zero or a FIFO: each is named for what it is, none is read (a FIFO would
    block the reader, /dev/zero never end)."""
    from dlexp.training.resources import _csv_shape

    (tmp_path / "folder.csv").mkdir()
    csv = dict(base_dir=tmp_path, name="csv", target="y")
    data_error(r"^data\.path: \S*folder\.csv is a directory, not a regular file$", path="folder.csv", **csv)
    data_error(r"^data\.path: /dev/zero is a character device, not a regular file$", path="/dev/zero", **csv)
    write(tmp_path, "d.csv", numbers_csv())
    with fed_fifo(tmp_path / "pipe.csv"):
        data_error(r"^data\.val_path: \S*pipe\.csv is a FIFO \(named pipe\), not a regular file$",
                   path="d.csv", val_path="pipe.csv", **csv)
    # the run id's digest of the data files: test_config.py::test_the_run_id_never_reads_a_fifo
    with fed_fifo(tmp_path / "pipe3.csv"):
        assert _csv_shape(tmp_path / "pipe3.csv") == (0, 0)  # the loader reports it


def test_a_fifo_as_data_path_is_refused_at_its_config_line(tmp_path):
    write(tmp_path, "exp.yaml", "name: f\ndata:\n  name: csv\n  path: pipe.csv\n  target: y\n")
    with fed_fifo(tmp_path / "pipe.csv"):
        r = invoke("run", tmp_path / "exp.yaml", "--results", tmp_path / "results", "-q")
    assert r.exit_code == 2
    assert re.search(r"exp\.yaml:4: data\.path: \S*pipe\.csv is a FIFO \(named pipe\), not a regular "
                     r"file", r.output), r.output


def test_csv_100000_columns_wide_loads(tmp_path):
    """Every step of the reader is linear in the cells (looking columns up by list.index, and
    counting duplicates with list.count, made 100,000 columns take minutes)."""
    n = 100_000
    text = ",".join(f"f{j}" for j in range(n)) + ",y\n"
    text += "".join(",".join(str((i + j) % 10) for j in range(n)) + f",{i % 2}\n" for i in range(10))
    write(tmp_path, "wide.csv", text)
    ds = load(tmp_path, name="csv", path="wide.csv", target="y", standardize=False, train_size=6,
              val_size=2, test_size=2)
    assert ds.X_train.shape == (6, n) and ds.feature_names[-1] == f"f{n - 1}"
    X = np.concatenate([ds.X_train, ds.X_val, ds.X_test])
    np.testing.assert_array_equal(np.sort(X[:, 3]), np.sort((np.arange(10) + 3) % 10))
    # a missing target lists a few columns and counts the rest, not 100,000 names
    msg = data_error(r"no target column 'label'; the columns are: f0, f1, .*, f19, … \(100001 in all\)$",
                     base_dir=tmp_path, name="csv", path="wide.csv", target="label")
    assert len(msg) < 1000


def test_csv_missing_file_names_the_resolved_path(tmp_path):
    msg = data_error(r"data\.path: no such file: .*nope\.csv", base_dir=tmp_path, name="csv",
                     path="sub/nope.csv", target="y")
    assert str(tmp_path / "sub" / "nope.csv") in msg


def test_csv_empty_file(tmp_path):
    csv_error(tmp_path, "", r"d\.csv: data\.path: the file is empty")
    csv_error(tmp_path, "\n  \n", r"d\.csv: data\.path: the file is empty")
    csv_error(tmp_path, "a,y\n", r"d\.csv: data\.path: .*header but no data rows")


def test_csv_missing_target_lists_the_columns_and_the_closest(tmp_path):
    msg = csv_error(tmp_path, "a,label\n1,0\n", r"d\.csv:1: data\.target: no target column 'lable'",
                    target="lable")
    assert "did you mean 'label'" in msg and "a, label" in msg


def test_csv_bad_cells_give_file_line_column_and_value(tmp_path):
    text = "a,b,y\n1,2,0\n1,oops,1\n3,,0\n4,nan,1\n"
    msg = csv_error(tmp_path, text, r"d\.csv:3: data\.path: column 'b': 'oops' is not a number, while 1 of its "
                                    r"cells are: correct it, add it to data\.na_values")
    # missing cells (an empty one, 'nan'), one problem for the column, and the keys that fix them
    assert "d.csv:4: data.path: column 'b': 2 missing cells ('nan', empty) on lines 4, 5" in msg
    assert "data.missing: missing cells need data.missing: drop_rows" in msg


def test_csv_empty_target_cell(tmp_path):
    csv_error(tmp_path, "a,y\n1,0\n2,\n", r"d\.csv:3: data\.path: column 'y' \(the target\): 1 missing cell "
                                          r"\(empty\) on line 3")


def test_csv_rows_of_unequal_length(tmp_path):
    msg = csv_error(tmp_path, "a,b,y\n1,2,0\n1,2\n1,2,3,4\n",
                    r"d\.csv:3: data\.path: 2 values, but the header has 3 columns")
    assert "d.csv:4:" in msg


def test_csv_problems_are_one_per_column_ten_at_most_and_the_rest_counted(tmp_path):
    # 12 columns of numbers, each with a text cell on its own line
    width = 12
    rows = [[str(i + j) for j in range(width)] + [str(i % 2)] for i in range(8)]
    for j in range(width):
        rows[j % 8][j] = f"bad{j}"
    text = ",".join([f"c{j}" for j in range(width)] + ["y"]) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    with pytest.raises(DataError) as info:
        write(tmp_path, "d.csv", text)
        load(tmp_path, name="csv", path="d.csv", target="y")
    problems = info.value.problems
    assert len(problems) == 11 and "2 more column problem(s)" in problems[-1].message
    assert [p.line for p in problems[:10]] == sorted(p.line for p in problems[:10])
    assert len({p.message.split("'")[1] for p in problems[:10]}) == 10  # ten columns, one problem each


def test_csv_many_bad_cells_of_one_column_are_one_problem(tmp_path):
    text = "a,b,y\n" + "".join(f"{i},{'?' if i % 3 else i},0\n" for i in range(30))
    msg = csv_error(tmp_path, text, r"d\.csv:3: data\.path: column 'b': 20 missing cells \('\?'\) on lines "
                                    r"3, 4, 6, 7, 9, … \(20 in all\)")
    assert msg.count("column 'b'") == 1


def test_csv_val_file_with_other_columns(tmp_path):
    write(tmp_path, "v.csv", "a,c,y\n1,2,0\n")
    csv_error(tmp_path, numbers_csv(), r"v\.csv:1: data\.val_path: its columns differ from d\.csv: "
              r"missing \['b'\], extra \['c'\]", val_path="v.csv")


def test_csv_val_file_bad_cell_names_that_file(tmp_path):
    write(tmp_path, "v.csv", "a,b,y\n1,2,0\n1,zz,1\n")
    csv_error(tmp_path, numbers_csv(), r"v\.csv:3: data\.val_path: column 'b': 'zz'",
              val_path="v.csv")


def test_csv_single_class_target(tmp_path):
    csv_error(tmp_path, "a,y\n1,x\n2,x\n", r"data\.target: every target is 'x'")


def test_csv_without_path_or_target(tmp_path):
    data_error(r"data\.target: csv data needs", name="csv", path="x.csv")
    data_error(r"data\.path: csv data needs", name="csv", target="y")


# --- split errors ---------------------------------------------------------------------------------

def test_counts_larger_than_the_data():
    data_error(r"^data\.train_size: 300 train \+ 80 val \+ 80 test = 460 rows, but moons has 400$",
               train_size=300, val_size=80, test_size=80)
    data_error(r"data\.train_size: 300 train \+ 80 val \+ 80 test = 460 rows",
               train_size=300)  # fractions are resolved to rows in the message


def test_fractions_summing_above_one():
    data_error(r"data\.train_size: 0\.7 train \+ 0\.2 val \+ 0\.2 test = 1\.1 of the data",
               train_size=0.7)


def test_train_file_smaller_than_train_size():
    data_error(r"data\.train_size: 100 train rows, but fruit\.csv has 60", base_dir=FIXTURES,
               name="csv", path="fruit.csv", target="fruit", val_path="fruit_val.csv",
               train_size=100)


def test_bad_size_values():
    data_error(r"data\.val_size: 1\.5 is neither", validate=False, val_size=1.5)
    data_error(r"data\.test_size: -3 is neither", validate=False, test_size=-3)
    data_error(r"data\.train_size: the training split would be empty", validate=False,
               train_size=0)


def test_too_few_training_rows_per_class_for_stratification():
    data_error(r"data\.train_size: 5 training rows hold 1 of class '\w+'.* at least 2 per class: "
               r"use train_size >= 6", name="iris", train_size=5)


def test_a_class_too_rare_to_stratify(tmp_path):
    text = "a,y\n" + "".join(f"{i},{'rare' if i == 0 else i % 2}\n" for i in range(30))
    csv_error(tmp_path, text, r"class 'rare'.* at least 2 per class: only \d remain",
              train_size=0.5)


def test_unknown_dataset_name():
    data_error(r"data\.name: unknown dataset 'moon' \(did you mean 'moons'\?\)", validate=False,
               name="moon")


@pytest.mark.parametrize("name", ["moons", "circles"])
@pytest.mark.parametrize("n,noise,seed", [(400, 0.3, 0), (101, 0.0, 7), (7, 1.5, 123)])
def test_numpy_moons_and_circles_equal_scikit_learns(name, n, noise, seed):
    """dlexp draws moons/circles itself (no scikit-learn import at start-up), bit for bit alike."""
    from types import SimpleNamespace

    from sklearn import datasets

    from dlexp.data import datasets as data

    cfg = SimpleNamespace(n_samples=n, noise=noise, seed=seed)
    X, y = data._moons(cfg) if name == "moons" else data._circles(cfg)
    if name == "moons":
        Xs, ys = datasets.make_moons(n, noise=noise, random_state=seed)
    else:
        Xs, ys = datasets.make_circles(n, noise=noise, factor=0.5, random_state=seed)
    np.testing.assert_array_equal(X, Xs)
    np.testing.assert_array_equal(y, ys)
