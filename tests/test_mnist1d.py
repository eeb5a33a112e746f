"""data.name: mnist1d: the `mnist1d` package's make_dataset at its default arguments is the
published data; its test rows are dlexp's test split, whole, and val and train are carved from
its training rows; the generator's keys (data.mnist1d) take effect, are validated and leave
every other config's run id alone; nothing touches the network.

Generating the published 5,000 rows takes ~6 s, so it happens twice in this file: once through
dlexp (cached for the process) and once straight from the package, to compare with. Every other
test draws a few hundred rows.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import requests
import yaml
from mnist1d.data import get_dataset_args, make_dataset

from dlexp.config.load import config_from_dict, run_id
from dlexp.config.schema import DataConfig, Mnist1dConfig
from dlexp.data import mnist1d_data
from dlexp.data.datasets import DATASETS, load_dataset, make_cv_folds
from helpers import clean_exit, invoke


def load(**data):
    return load_dataset(DataConfig(name="mnist1d", **data))


def small(n=300, **generator):
    """A data section of n signals (n / 10 per digit), raw features unless standardize is given."""
    return {"mnist1d": {"num_samples": n, **generator}, "standardize": False}


def rows(X) -> list[bytes]:
    return [r.tobytes() for r in np.ascontiguousarray(X)]


@pytest.fixture(scope="module")
def published():
    """make_dataset's own output at get_dataset_args(): x, y (4000), x_test, y_test (1000)."""
    return make_dataset(get_dataset_args())


@pytest.fixture(scope="module")
def default():
    return load(standardize=False)


# --- the published data ----------------------------------------------------------------------------

def test_the_config_defaults_are_the_packages_defaults():
    package = get_dataset_args(as_dict=True)
    package.pop("url")  # nothing is downloaded
    assert Mnist1dConfig().model_dump(mode="json") == package


def test_default_split_sizes(default, published):
    assert (len(default.X_train), len(default.X_val), len(default.X_test)) == (3200, 800, 1000)
    assert (default.n_features, default.n_classes, default.class_names) == (40, 10, [str(c) for c in range(10)])
    # val is stratified: each digit as often as among the package's training rows, within one row
    share = np.bincount(published["y"], minlength=10) * 800 / 4000
    assert np.abs(np.bincount(default.y_val, minlength=10) - share).max() < 1


def test_the_test_rows_are_the_published_test_rows(default, published):
    np.testing.assert_array_equal(default.X_test, published["x_test"])
    np.testing.assert_array_equal(default.y_test, published["y_test"])
    standardized = load()  # the cached draw, standardized on the training split
    np.testing.assert_array_equal(standardized.X_test, standardized.transform(published["x_test"]))


def test_val_and_train_are_disjoint_and_make_up_the_packages_training_rows(default, published):
    where = {r: i for i, r in enumerate(rows(published["x"]))}
    assert len(where) == 4000  # every row distinct: rows can be told apart by their values
    train = [where[r] for r in rows(default.X_train)]
    val = [where[r] for r in rows(default.X_val)]
    assert not set(train) & set(val)
    assert sorted(train + val) == list(range(4000))
    np.testing.assert_array_equal(default.y_train, published["y"][train])
    np.testing.assert_array_equal(default.y_val, published["y"][val])


# --- splits ----------------------------------------------------------------------------------------

def test_sizes_are_counts_or_fractions_of_the_training_rows():
    ds = load(**small(300), val_size=0.1, train_size=100)  # 240 training rows, 60 test rows
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (100, 24, 60)
    ds = load(**small(300), val_size=40)
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (200, 40, 60)


def test_data_seed_reshuffles_val_and_train_but_keeps_the_test_rows():
    a, b = load(**small(300)), load(**small(300), seed=1)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert set(rows(a.X_val)) != set(rows(b.X_val))
    assert set(rows(a.X_val)) | set(rows(a.X_train)) == set(rows(b.X_val)) | set(rows(b.X_train))


def test_cv_folds_share_the_test_rows_and_cover_the_training_rows():
    folds = make_cv_folds(DataConfig(name="mnist1d", **small(300)), k=3)
    for fold in folds:
        np.testing.assert_array_equal(fold.X_test, folds[0].X_test)
    held = sorted(r for fold in folds for r in rows(fold.X_val))
    assert held == sorted(rows(folds[0].X_train) + rows(folds[0].X_val))  # each row validates once


def test_an_impossible_split_is_a_located_data_error(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: m\ndata:\n  name: mnist1d\n  mnist1d: {num_samples: 100}\n  train_size: 500\n")
    r = invoke("run", path, "--results", tmp_path / "results", "-q")
    clean_exit(r, 2)
    assert f"{path}:5: data.train_size: 500 train + 16 val = 516 rows, but mnist1d's training set has 80" in r.output


# --- the generator's arguments ---------------------------------------------------------------------

def test_num_samples_and_train_split_set_the_row_counts():
    ds = load(**small(500))  # 400 training rows, 100 test rows
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (320, 80, 100)
    assert np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test])).tolist() == [50] * 10
    ds = load(**small(500, train_split=0.5))
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (200, 50, 250)


def test_final_seq_length_sets_the_features():
    ds = load(**small(300, final_seq_length=24))
    assert ds.n_features == 24 and ds.feature_names[-1] == "x23"
    assert DATASETS["mnist1d"].shape(DataConfig(name="mnist1d", **small(300, final_seq_length=24))) == (300, 24, 10)
    assert DATASETS["mnist1d"].shape(DataConfig(name="mnist1d")) == (5000, 40, 10)


def test_shuffle_seq_permutes_the_time_steps_the_same_way_in_every_signal():
    plain, shuffled = load(**small(300)), load(**small(300, shuffle_seq=True))
    assert not np.array_equal(plain.X_train, shuffled.X_train)
    # each shuffled column is one of the plain columns: one permutation of the time steps
    order = [next(j for j in range(40) if np.array_equal(shuffled.X_train[:, i], plain.X_train[:, j]))
             for i in range(40)]
    assert sorted(order) == list(range(40)) and order != list(range(40))
    np.testing.assert_array_equal(shuffled.X_test, plain.X_test[:, order])


@pytest.mark.parametrize("change", [{"iid_noise_scale": 0.2}, {"corr_noise_scale": 0.0}, {"shear_scale": 0.0},
                                    {"max_translation": 1}, {"padding": [10, 20]}, {"seed": 1}])
def test_every_generator_argument_changes_the_data(change):
    plain, changed = load(**small(300)), load(**small(300, **change))
    assert plain.X_train.shape == changed.X_train.shape
    assert not np.array_equal(plain.X_train, changed.X_train)


def test_a_draw_is_made_once_per_process_and_leaves_the_global_generators_alone():
    import random

    args = small(310, seed=3)  # not drawn by any other test
    random.seed(0), np.random.seed(0)
    expected = (random.random(), np.random.random_sample())
    random.seed(0), np.random.seed(0)
    misses = mnist1d_data._generate.cache_info().misses
    a = load(**args)  # make_dataset seeds both global generators with 42
    assert (random.random(), np.random.random_sample()) == expected
    assert mnist1d_data._generate.cache_info().misses == misses + 1
    b = load(**args, seed=5)  # another split of the same draw
    assert mnist1d_data._generate.cache_info().misses == misses + 1
    assert set(rows(a.X_test)) == set(rows(b.X_test))
    X, _, _ = mnist1d_data._generate(mnist1d_data._args(DataConfig(name="mnist1d", **args)))
    assert not X.flags.writeable  # the cached draw cannot be changed by a run


def test_nothing_touches_the_network(monkeypatch):
    calls = []

    def refuse(*args, **kwargs):  # recorded too: get_dataset's bare `except:` would swallow the error
        calls.append(args)
        raise AssertionError("network access")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(requests, "get", refuse)
    monkeypatch.setattr(requests.Session, "request", refuse)
    import mnist1d.data

    monkeypatch.setattr(mnist1d.data, "get_dataset", refuse)  # it downloads
    ds = load(**small(320, seed=11))  # not drawn by any other test: generated here
    assert len(ds.X_test) == 64 and not calls


# --- the config -------------------------------------------------------------------------------------

def write(tmp_path, text: str):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_an_unknown_generator_key_is_refused_with_the_closest_name(tmp_path):
    path = write(tmp_path, "name: m\ndata:\n  name: mnist1d\n  mnist1d:\n    shufle_seq: true\n")
    r = invoke("run", path, "--results", tmp_path / "results", "-q")
    clean_exit(r, 2)
    assert f"{path}:5: data.mnist1d.shufle_seq: unknown key (did you mean 'shuffle_seq'?)" in r.output


@pytest.mark.parametrize("generator,message", [
    ("num_samples: 1005", "data.mnist1d.num_samples: expected a multiple of 10"),
    ("num_samples: 0", "data.mnist1d.num_samples: input should be greater than or equal to 10"),
    ("padding: [40, 30]", "data.mnist1d.padding: expected 0 <= low <= high, found [40, 30]"),
    ("padding: [1, 2, 3]", "data.mnist1d.padding: expected two counts [low, high]"),
    ("train_split: 1.0", "data.mnist1d.train_split: input should be less than 1"),
    ("max_translation: 0", "data.mnist1d.max_translation: input should be greater than or equal to 1"),
])
def test_a_bad_generator_value_is_refused_at_its_line(tmp_path, generator, message):
    path = write(tmp_path, f"name: m\ndata:\n  name: mnist1d\n  mnist1d:\n    {generator}\n")
    r = invoke("run", path, "--results", tmp_path / "results", "-q")
    clean_exit(r, 2)
    assert f"{path}:5: {message}" in r.output


@pytest.mark.parametrize("key,value,message", [
    ("test_size", 0.3, "mnist1d's test split is the package's own test rows (x_test), used whole"),
    ("n_samples", 1000, "not used by mnist1d: its row count is data.mnist1d.num_samples"),
    ("noise", 0.5, "not used by mnist1d: its noise is data.mnist1d.iid_noise_scale and corr_noise_scale"),
    ("n_classes", 3, "not used by mnist1d (its generator's keys are under data.mnist1d)"),
])
def test_keys_that_mnist1d_would_ignore_are_refused_at_their_line(tmp_path, key, value, message):
    path = write(tmp_path, f"name: m\ndata:\n  name: mnist1d\n  {key}: {value}\n")
    r = invoke("run", path, "--results", tmp_path / "results", "-q")
    clean_exit(r, 2)
    assert f"{path}:4: data.{key}: {message}" in r.output
    config_from_dict({"name": "m", "data": {"name": "mnist1d", "test_size": 0.2}})  # the default: accepted


def test_generator_keys_on_another_dataset_are_refused(tmp_path):
    path = write(tmp_path, "name: m\ndata:\n  name: moons\n  mnist1d: {num_samples: 100}\n")
    r = invoke("run", path, "--results", tmp_path / "results", "-q")
    clean_exit(r, 2)
    assert f"{path}:4: data.mnist1d: only used with data.name: mnist1d (data.name is moons)" in r.output


def test_the_resolved_config_shows_the_generator_and_hashes_it():
    def rid(data):
        return run_id(config_from_dict({"name": "m", "data": {"name": "mnist1d", **data}}))

    exp = config_from_dict({"name": "m", "data": {"name": "mnist1d"}})
    assert exp.data.mnist1d == Mnist1dConfig() and exp.data.train_size is None  # train: every row left
    defaults = Mnist1dConfig().model_dump(mode="json")
    assert rid({}) == rid({"mnist1d": {}}) == rid({"mnist1d": defaults}) == rid({"mnist1d": None})
    assert rid({"mnist1d": {"shuffle_seq": True}}) != rid({})
    # every other dataset's run id stays as it was: data.mnist1d is null there and left out of the hash
    assert run_id(config_from_dict({"name": "any"})) == "9519da3f9d43"


def test_dlexp_schema_lists_the_generator_keys():
    r = invoke("schema")
    clean_exit(r, 0)
    schema = json.loads(r.stdout)
    assert "mnist1d" in schema["$defs"]["DataConfig"]["properties"]["name"]["enum"]
    assert set(schema["$defs"]["Mnist1dConfig"]["properties"]) == set(Mnist1dConfig.model_fields) >= {
        "num_samples", "iid_noise_scale", "corr_noise_scale", "shear_scale", "max_translation", "shuffle_seq",
        "final_seq_length", "train_split", "seed"}


# --- end to end ------------------------------------------------------------------------------------

def test_dlexp_run_learns_mnist1d(tmp_path):
    config = {"name": "m1d", "data": {"name": "mnist1d", "mnist1d": {"num_samples": 500}},
              "model": {"hidden": [32]}, "optimizer": {"name": "adam", "lr": 0.003},
              "train": {"epochs": 30, "batch_size": 32}}
    path = write(tmp_path, yaml.safe_dump(config))
    r = invoke("run", path, "--results", tmp_path / "results", "--json", "-q")
    clean_exit(r, 0)
    summary = json.loads(r.stdout)
    assert summary["status"] == "completed"
    assert summary["train_acc"] > 0.6 and summary["test_acc"] > 0.2  # chance: 0.1
    folder = tmp_path / "results" / "runs" / summary["run_id"]
    resolved = yaml.safe_load((folder / "config.yaml").read_text())
    assert resolved["data"]["mnist1d"]["num_samples"] == 500 and resolved["data"]["train_size"] is None
    assert run_id(config_from_dict(resolved)) == summary["run_id"]  # the resolved config reruns the same run
