"""CSV files as they come: chosen columns, categorical and missing cells, delimiters.

The references are pandas (reading the file) and scikit-learn pipelines written here, fitted
on the same training rows; the real-world table is the Palmer penguins data (configs/data).
"""

from __future__ import annotations

import json
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlexp.config.load import config_from_dict
from dlexp.config.schema import DataConfig
from dlexp.data.columns import MAX_AUTO_CATEGORIES, NA_VALUES
from dlexp.data.datasets import _raw, load_dataset, make_cv_folds
from dlexp.errors import ConfigError, DataError
from helpers import invoke

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "data"
PENGUINS = CONFIGS / "penguins.csv"
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]


def data(path, **keys) -> DataConfig:
    return DataConfig(name="csv", path=str(path), **keys)


def load(path, **keys):
    return load_dataset(data(path, **keys))


def error(path, match, **keys) -> str:
    with pytest.raises(DataError) as info:
        load(path, **keys)
    assert re.search(match, str(info.value)), str(info.value)
    return str(info.value)


def write(tmp_path, text, name="d.csv") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path / name


def fruit_table(n=60, colours=("red", "green", "yellow")) -> str:
    """A numeric column, a text column of `colours` and a class that depends on both."""
    lines = ["weight,colour,fruit"]
    for i in range(n):
        colour = colours[i % len(colours)]
        lines.append(f"{100 + i},{colour},{'apple' if colour != 'yellow' else 'banana'}")
    return "\n".join(lines) + "\n"


# --- the reference: pandas reads the file, scikit-learn encodes it ------------------------------

def reference_pipeline(numeric, categorical, strategy):
    """Impute (when asked), one-hot encode, then standardize every column: dlexp's preprocessing,
    written from scikit-learn's documentation."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    numbers = SimpleImputer(strategy=strategy) if strategy else "passthrough"
    categories = make_pipeline(SimpleImputer(strategy="most_frequent"), onehot) if strategy else onehot
    encode = ColumnTransformer([("n", numbers, numeric), ("c", categories, categorical)])
    return make_pipeline(encode, StandardScaler())


def frame(X, columns) -> "pd.DataFrame":
    """dlexp's raw rows (object array: numbers, strings, NaN) as a DataFrame pandas would read."""
    df = pd.DataFrame(X, columns=columns)
    for c in columns:
        if c in NUMERIC:
            df[c] = df[c].astype(float)
    return df


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent"])
def test_penguins_preprocessing_equals_pandas_and_scikit_learn(strategy):
    cfg = data(PENGUINS, target="species", missing=strategy)
    raw, ds = _raw(cfg, Path()), load_dataset(cfg)
    columns = [*NUMERIC[:4], "island", "sex", "year"]
    assert raw.feature_names == ["island", *NUMERIC[:4], "sex", "year"]
    # the raw rows are the file's rows as pandas reads them (its default NA markers are a superset)
    read = pd.read_csv(PENGUINS, keep_default_na=False, na_values=list(NA_VALUES))
    ours = pd.concat([frame(X, raw.feature_names) for X in (raw.X_train, raw.X_val, raw.X_test)])
    theirs = read.drop(columns="species")[raw.feature_names].astype({c: float for c in NUMERIC})
    key = lambda df: sorted(map(repr, df.astype(str).itertuples(index=False)))  # noqa: E731
    assert key(ours) == key(theirs) and len(ours) == 344
    # the same encoding and standardization, fitted by scikit-learn on the same training rows
    ref = reference_pipeline(NUMERIC[:4] + ["year"], ["island", "sex"], strategy)
    ref.fit(frame(raw.X_train, raw.feature_names))
    for split in ("train", "val", "test"):
        expected = ref.transform(frame(getattr(raw, f"X_{split}"), raw.feature_names))
        np.testing.assert_allclose(getattr(ds, f"X_{split}"), expected, rtol=0, atol=1e-12)
    assert ds.feature_names == [*NUMERIC, "island=Biscoe", "island=Dream", "island=Torgersen",
                                "sex=female", "sex=male"]
    assert sorted(columns) == sorted(raw.feature_names)


def test_penguins_report_says_what_was_done():
    ds = load(PENGUINS, target="species", missing="mean")
    r = ds.preprocessing
    assert r["categorical"] == ["island", "sex"] and r["categories"]["island"] == ["Biscoe", "Dream", "Torgersen"]
    assert r["missing_cells"] == {c: 2 for c in NUMERIC[:4]} | {"sex": 11}
    assert r["imputed"] == {"numeric": "mean", "categorical": "most_frequent"}
    assert r["rows_dropped"] == 0 and r["files"] == {"penguins.csv": {"rows": 344, "dropped": 0}}
    assert r["n_features"] == ds.n_features == 10
    dropped = load(PENGUINS, target="species", missing="drop_rows").preprocessing
    assert dropped["rows_dropped"] == 11 and dropped["imputed"] is None  # the 11 rows without sex


def test_a_missing_target_drops_its_row_under_every_choice_but_error():
    ds = load(PENGUINS, target="sex", missing="median")
    assert ds.class_names == ["female", "male"]
    assert len(ds.X_train) + len(ds.X_val) + len(ds.X_test) == 333
    assert ds.preprocessing["rows_dropped"] == 11
    error(PENGUINS, r"penguins\.csv:5: data\.path: column 'sex' \(the target\): 11 missing cells \('NA'\) "
                    r"on lines 5, 10, 11, 12, 13, … \(11 in all\)", target="sex")


def test_penguins_without_keys_gives_one_problem_per_column_and_the_fix():
    msg = error(PENGUINS, r"column 'bill_length_mm': 2 missing cells \('NA'\) on lines 5, 273", target="species")
    lines = msg.splitlines()
    assert len(lines) == 6 and "column 'sex': 11 missing cells" in lines[4]
    assert lines[-1].startswith("data.missing: missing cells need data.missing: drop_rows")
    assert "island" not in msg  # detected as categorical: no problem


def test_categories_are_fitted_on_the_training_split_and_unknown_ones_encode_as_zeros(tmp_path):
    train = write(tmp_path, fruit_table(), "train.csv")
    val = write(tmp_path, "weight,colour,fruit\n130,purple,apple\n131,red,apple\n", "val.csv")
    ds = load(train, target="fruit", val_path=str(val))
    assert ds.feature_names == ["weight", "colour=green", "colour=red", "colour=yellow"]
    t = ds.transform
    onehot_val = ds.X_val[:, 1:] * t.std[1:] + t.mean[1:]  # undo the standardization
    np.testing.assert_allclose(onehot_val, [[0, 0, 0], [0, 1, 0]], atol=1e-12)
    assert ds.preprocessing["unseen"] == {"val": 1}


def test_cv_folds_fit_the_encoder_and_the_imputer_on_each_fold(tmp_path):
    text = fruit_table(40).replace("\n110,", "\nNA,").replace("\n121,", "\n,")
    path = write(tmp_path, text)
    cfg = data(path, target="fruit", missing="mean", train_size=None, val_size=0, test_size=0)
    folds = make_cv_folds(cfg, k=4)
    means = set()
    for ds in folds:
        encoder = ds.transform.encoder
        weights = encoder.transformer.named_transformers_["numbers"].statistics_
        means.add(round(float(weights[0]), 9))
        assert encoder.categories == {"colour": ["green", "red", "yellow"]}
    assert len(means) > 1  # each fold's own training mean


def test_data_features_and_drop_choose_the_columns():
    ds = load(PENGUINS, target="species", missing="drop_rows", features=["island", "body_mass_g"])
    assert ds.feature_names == ["body_mass_g", "island=Biscoe", "island=Dream", "island=Torgersen"]
    assert ds.preprocessing["rows_dropped"] == 2  # only the rows missing body_mass_g
    ds = load(PENGUINS, target="species", missing="drop_rows", drop=["sex", "year", "island"])
    assert ds.feature_names == NUMERIC[:4] and ds.columns is None  # numbers only: no encoder
    assert ds.preprocessing["rows_dropped"] == 2


def test_column_names_in_the_keys_are_checked_with_the_closest_name():
    error(PENGUINS, r"data\.drop: no column 'sexx' in penguins\.csv \(did you mean 'sex'\?\); the columns are: "
                    r"species, island", target="species", drop=["sexx"])
    error(PENGUINS, r"data\.features: no column 'Island' in penguins\.csv \(did you mean 'island'\?\)",
          target="species", features=["Island"])
    error(PENGUINS, r"data\.features: 'species' is the target", target="species", features=["species"])
    error(PENGUINS, r"data\.drop: 'species' is the target \(data\.target\): it cannot be dropped",
          target="species", drop=["species"])
    error(PENGUINS, r"data\.categorical: no column 'colour'", target="species", categorical=["colour"])
    with pytest.raises(ValueError, match="data.features and data.drop both name"):
        data(PENGUINS, target="species", features=["sex"], drop=["sex"])


def test_a_text_column_without_auto_detection_names_the_keys(tmp_path):
    error(PENGUINS, r"penguins\.csv:2: data\.path: column 'island': 344 text values such as 'Biscoe', 'Dream', "
                    r"'Torgersen': list it in data\.categorical, or add it to data\.drop",
          target="species", categorical=[], missing="drop_rows", drop=["sex"])


def test_listed_categorical_columns_are_encoded_even_when_they_hold_numbers():
    ds = load(PENGUINS, target="species", missing="drop_rows", categorical=["island", "year", "sex"])
    assert [n for n in ds.feature_names if n.startswith("year=")] == ["year=2007", "year=2008", "year=2009"]


def test_a_column_of_many_distinct_texts_is_refused_unless_listed(tmp_path):
    rows = "".join(f"id{i},{i % 3},{i % 2}\n" for i in range(60))
    path = write(tmp_path, "name,x,y\n" + rows)
    msg = error(path, rf"d\.csv:2: data\.path: column 'name': 60 distinct text values such as 'id0', 'id1', "
                      rf"'id10', …, more than the {MAX_AUTO_CATEGORIES} that data.categorical: auto one-hot "
                      rf"encodes", target="y")
    assert "add it to data.drop, or list it in data.categorical" in msg
    listed = load(path, target="y", categorical=["name"])
    assert listed.n_features == 1 + len(listed.X_train)  # x, and one indicator per training row's name
    assert load(path, target="y", drop=["name"]).n_features == 1


def test_a_number_column_with_a_few_text_cells_is_a_problem_not_a_category(tmp_path):
    path = write(tmp_path, "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)).replace("\n7,", "\n7o,")
                 .replace("\n9,", "\n9 .,"))
    msg = error(path, r"column 'x': 2 cells are not numbers \('7o', '9 \.' on lines 9, 11\), while 18 of its cells "
                      r"are: correct them, add them to data\.na_values", target="y")
    assert "list 'x' in data.categorical" in msg


def test_custom_na_markers(tmp_path):
    path = write(tmp_path, "x,z,y\n" + "".join(f"{'-999' if i == 3 else i},{i * 2},{i % 2}\n" for i in range(20)))
    ds = load(path, target="y", na_values=["-999"], missing="median")
    assert ds.preprocessing["missing_cells"] == {"x": 1}
    assert load(path, target="y").preprocessing == {}  # -999 is a number by default: nothing done


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_the_delimiter_is_sniffed_or_given(tmp_path, sep):
    text = fruit_table(30).replace(",", sep)
    path = write(tmp_path, text)
    sniffed = load(path, target="fruit")
    assert sniffed.feature_names == ["weight", "colour=green", "colour=red", "colour=yellow"]
    assert np.array_equal(load(path, target="fruit", delimiter=sep).X_train, sniffed.X_train)
    # the wrong delimiter given: one column, named after the whole header
    error(path, r"no target column 'fruit'", target="fruit", delimiter=",")


def test_a_bad_delimiter_is_a_config_error():
    with pytest.raises(ValueError, match="expected one character"):
        data(PENGUINS, target="species", delimiter=";;")


def test_a_header_less_file_with_a_text_column(tmp_path):
    path = write(tmp_path, "".join(f"{i},{'ab'[i % 2]},{i % 2}\n" for i in range(20)))
    ds = load(path, target=-1, header=False)
    assert ds.feature_names == ["x0", "x1=a", "x1=b"]


def test_a_val_file_need_not_hold_the_dropped_columns(tmp_path):
    train = write(tmp_path, "id,x,y\n" + "".join(f"r{i},{i},{i % 2}\n" for i in range(30)), "t.csv")
    val = write(tmp_path, "x,y\n1,0\n2,1\n", "v.csv")
    ds = load(train, target="y", val_path=str(val), drop=["id"])
    assert len(ds.X_val) == 2 and ds.feature_names == ["x"]


def test_csv_only_keys_with_another_dataset_are_refused():
    with pytest.raises(ConfigError, match=r"data\.missing: only used with data\.name: csv"):
        config_from_dict({"data": {"name": "moons", "missing": "mean"}})


def test_numeric_csv_runs_keep_their_ids_and_load_without_scikit_learn(tmp_path):
    from dlexp.config.load import run_id

    path = write(tmp_path, "a,b,y\n" + "".join(f"{i},{i * i % 7},{i % 2}\n" for i in range(40)))
    exp = config_from_dict({"data": {"name": "csv", "path": str(path), "target": "y"}})
    explicit = config_from_dict({"data": {"name": "csv", "path": str(path), "target": "y", "missing": "error",
                                          "categorical": "auto", "drop": [], "na_values": list(NA_VALUES)}})
    assert run_id(exp) == run_id(explicit)
    assert load_dataset(exp.data).columns is None and load_dataset(exp.data).transform.encoder is None


def test_run_summary_and_its_line_report_the_preprocessing(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(json.dumps({"name": "penguins", "data": {"name": "csv", "path": str(PENGUINS),
                                                            "target": "species", "missing": "drop_rows"},
                               "model": {"hidden": [8]}, "train": {"epochs": 3}}))
    r = invoke("run", cfg, "--results", tmp_path / "r")
    assert r.exit_code == 0, r.output
    assert ("data: 11 of 344 rows dropped (missing cells); one-hot: island (3), sex (2)" in r.stderr)
    summary = json.loads((Path(r.stdout.strip()) / "summary.json").read_text())
    assert summary["preprocessing"]["categories"]["sex"] == ["female", "male"]
    plot = invoke("plot", Path(r.stdout.strip()), "--kind", "boundary", "--out", tmp_path / "b.png")
    assert plot.exit_code == 2 and "categorical columns (island, sex)" in plot.output, plot.output


# --- the real table trains as well as scikit-learn's MLP on the same preprocessing --------------

def _accuracies(target: str, seeds=range(5)):
    """Test accuracy of dlexp and of MLPClassifier, each over `seeds`, on the same arrays."""
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    from dlexp.training.train import fit

    raw = {"name": "penguins", "data": {"name": "csv", "path": str(PENGUINS), "target": target,
                                        "missing": "mean"},
           "model": {"hidden": [16]}, "optimizer": {"name": "adam", "lr": 0.01},
           "train": {"epochs": 150, "batch_size": 32}}
    exp = config_from_dict(raw)
    ds = load_dataset(exp.data)
    ours, theirs = [], []
    with threadpool_limits(1):
        for seed in seeds:
            model = fit(exp, ds, seed).summary
            ours.append(model["test_acc"])
            mlp = MLPClassifier((16,), solver="adam", learning_rate_init=0.01, batch_size=32, max_iter=150,
                                alpha=0.0, tol=0.0, n_iter_no_change=10**6, random_state=seed)
            with warnings.catch_warnings():  # ConvergenceWarning at max_iter: the epochs are fixed on purpose
                warnings.simplefilter("ignore")
                mlp.fit(ds.X_train, ds.y_train)
            theirs.append(float((mlp.predict(ds.X_test) == ds.y_test).mean()))
    return np.array(ours), np.array(theirs), len(ds.X_test)


@pytest.mark.parametrize("target", ["species", "sex"])
def test_penguins_test_accuracy_matches_scikit_learns_mlp(target):
    ours, theirs, n_test = _accuracies(target)
    spread = 2 * np.sqrt(ours.var(ddof=1) + theirs.var(ddof=1)) + 1 / n_test  # plus one test row
    assert abs(ours.mean() - theirs.mean()) <= spread, (ours, theirs)
    assert ours.mean() > {"species": 0.95, "sex": 0.8}[target]  # and both learn the task


# --- any table, any keys: a Dataset of finite numbers, or one DataError ---------------------------

@st.composite
def tables(draw):
    """A CSV text of 6-40 rows: number, category and mixed columns with missing markers, and the
    data keys to read it with."""
    n = draw(st.integers(6, 40))
    kinds = draw(st.lists(st.sampled_from(["number", "category", "mixed", "identifier"]), min_size=1, max_size=4))
    markers = st.sampled_from(["", "NA", "?", "nan", "null"])
    columns = []
    for kind in kinds:
        cells = []
        for i in range(n):
            if draw(st.integers(0, 9)) == 0:
                cells.append(draw(markers))
            elif kind == "number" or (kind == "mixed" and i % 4):
                cells.append(str(draw(st.integers(-50, 50)) / 4))
            elif kind == "identifier":
                cells.append(f"id{i}")
            else:
                cells.append(draw(st.sampled_from(["red", "green", "blue"])))
        columns.append(cells)
    target = [draw(st.sampled_from(["a", "b", "c"])) if draw(st.integers(0, 14)) else "" for _ in range(n)]
    names = [f"c{j}" for j in range(len(columns))]
    text = ",".join(names + ["y"]) + "\n" + "".join(
        ",".join([col[i] for col in columns] + [target[i]]) + "\n" for i in range(n))
    keys = {"missing": draw(st.sampled_from(["error", "drop_rows", "mean", "median", "most_frequent"]))}
    if draw(st.booleans()):
        keys["categorical"] = draw(st.sampled_from(["auto", [], [names[0]]]))
    if len(names) > 1 and draw(st.booleans()):
        keys["drop"] = [names[-1]]
    return text, keys


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=tables())
def test_any_table_loads_as_finite_numbers_or_gives_a_located_data_error(case):
    text, keys = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        path.write_text(text)
        try:
            ds = load(path, target="y", train_size=None, val_size=0.25, test_size=0, **keys)
        except DataError as e:
            assert all(p.key for p in e.problems), str(e)  # every problem names its key
            return
        for X in (ds.X_train, ds.X_val):
            assert np.isfinite(X).all() and X.shape[1] == ds.n_features == len(ds.feature_names)
        if ds.preprocessing.get("n_features"):
            assert ds.preprocessing["n_features"] == ds.n_features
