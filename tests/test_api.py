"""dlexp from Python (dlexp/api.py): the same runs, checks and messages as the CLI, results as
DataFrames, predictions through a run's own preprocessing, figures into a caller's Axes, and the
example notebook docs/python.ipynb executed as a user would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import dlexp
from helpers import invoke

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"name": "tiny", "data": {"name": "moons", "n_samples": 120}, "model": {"hidden": [8]},
         "train": {"epochs": 6, "batch_size": 16}}


@pytest.fixture
def results(tmp_path):
    return tmp_path / "results"


def moons(n=150, seed=0):
    from sklearn.datasets import make_moons

    return make_moons(n, noise=0.25, random_state=seed)


# --- configs: a path, a mapping or YAML text; overrides; the same run as the CLI's ---------------

def test_a_config_file_a_mapping_and_yaml_text_give_the_run_the_cli_gives(tmp_path, results):
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps(QUICK))
    by_path = dlexp.run(path, results=results, quiet=True)
    by_dict = dlexp.run(QUICK, results=results, quiet=True)
    by_text = dlexp.run(path.read_text(), results=results, quiet=True)
    cli = invoke("run", path, "--results", results, "-q")
    assert cli.exit_code == 0, cli.output
    assert by_path.id == by_dict.id == by_text.id and Path(cli.stdout.strip()) == by_path.folder
    assert by_path.status == "completed" and by_path.summary["epochs_run"] == 6


def test_overrides_as_dotted_keywords_or_set(results):
    a = dlexp.run(QUICK, results=results, quiet=True, **{"model.hidden": [4]}, seed=3)
    b = dlexp.run(QUICK, results=results, quiet=True, set={"model.hidden": [4], "seed": 3})
    assert a.id == b.id and a.config["model"]["hidden"] == [4] and a.config["seed"] == 3


def test_bad_config_raises_a_config_error_with_the_closest_name(results):
    with pytest.raises(dlexp.ConfigError) as info:
        dlexp.run({**QUICK, "model": {"hiden": [8]}}, results=results)
    assert "<config>: model.hiden: unknown key (did you mean 'hidden'?)" in str(info.value)
    with pytest.raises(dlexp.ConfigError, match=r"override: train\.epochs"):
        dlexp.run(QUICK, results=results, **{"train.epochs": -1})
    with pytest.raises(dlexp.UsageError, match="no such config file"):
        dlexp.run("configs/nope.yaml", results=results)
    assert issubclass(dlexp.ConfigError, dlexp.DlexpError) and dlexp.ConfigError.exit_code == 2


def test_a_run_that_fails_while_training_raises_training_failed(results, monkeypatch):
    import dlexp.training.experiment

    def boom(*a, **k):
        raise FloatingPointError("a bug")

    monkeypatch.setattr(dlexp.training.experiment, "fit", boom)
    with pytest.raises(dlexp.TrainingFailed) as info:
        dlexp.run(QUICK, results=results, quiet=True)
    assert info.value.run.status == "failed" and (info.value.run.folder / "traceback.txt").exists()
    assert info.value.exit_code == 1 and "FloatingPointError: a bug" in str(info.value)


# --- in-memory data ------------------------------------------------------------------------------

def test_arrays_are_a_dataset_named_by_their_digest(results):
    X, y = moons()
    first = dlexp.run(QUICK, data=(X, y), results=results, quiet=True)
    again = dlexp.run(QUICK, data=(X.copy(), y.copy()), results=results, quiet=True)
    assert again.id == first.id and again.summary == first.summary  # reused, not retrained
    other = dlexp.run(QUICK, data=(X + 1e-9, y), results=results, quiet=True)
    assert other.id != first.id
    data = first.config["data"]
    assert data["name"] == "npz" and Path(data["path"]).parent == (results / "data").resolve()
    assert first.summary["n_train"] + first.summary["n_val"] + first.summary["n_test"] == 150


def test_given_splits_are_the_splits_and_predictions_reproduce_the_test_figures(results):
    X, y = moons(300)
    splits = {"train": (X[:200], y[:200]), "val": (X[200:250], y[200:250]), "test": (X[250:], y[250:])}
    run = dlexp.run(QUICK, data=splits, results=results, quiet=True, **{"train.epochs": 30})
    s = run.summary
    assert (s["n_train"], s["n_val"], s["n_test"]) == (200, 50, 50)
    model = run.model
    assert model.inputs == ["x0", "x1"] and model.classes == ["0", "1"]
    predicted = model.predict(X[250:])
    assert predicted.dtype.kind == "i" and (predicted == y[250:]).mean() == pytest.approx(s["test_acc"])
    p = model.predict_proba(X[250:])
    assert p.shape == (50, 2) and np.allclose(p.sum(axis=1), 1)
    log_loss = -np.mean(np.log(p[np.arange(50), y[250:]]))
    assert log_loss == pytest.approx(s["test_loss"], rel=1e-5)  # float32 network, float64 here


def test_regression_predictions_are_in_the_targets_units(results):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (240, 3))
    y = 50 + 20 * X[:, 0] - 10 * X[:, 1] ** 2 + rng.normal(0, 1, 240)
    cfg = {**QUICK, "model": {"hidden": [16]}, "train": {"epochs": 40, "batch_size": 16}}
    run = dlexp.run(cfg, data={"train": (X[:160], y[:160]), "val": (X[160:200], y[160:200]),
                               "test": (X[200:], y[200:])}, results=results, quiet=True)
    pred = run.model.predict(X[200:])
    assert pred.shape == (40,) and abs(pred.mean() - 50) < 10  # units of y, not standardized ones
    # the run's test loss is the MSE of standardized targets: the same error, scaled by the train std
    mse = np.mean((pred - y[200:]) ** 2) / y[:160].std() ** 2
    assert mse == pytest.approx(run.summary["test_loss"], rel=1e-4)


def test_a_dataframe_with_text_and_missing_cells_goes_through_the_csv_columns(results):
    df = pd.read_csv(ROOT / "configs" / "data" / "penguins.csv")
    cfg = {**QUICK, "train": {"epochs": 20, "batch_size": 32}, "data": {"missing": "mean"}}
    run = dlexp.run(cfg, data=(df, "species"), results=results, quiet=True)
    assert run.summary["preprocessing"]["categorical"] == ["island", "sex"]
    assert run.model.inputs == [c for c in df.columns if c != "species"]
    rows = df.drop(columns="species").sample(40, random_state=1)
    predicted = run.model.predict(rows)  # columns by name, any order, NaN cells imputed
    assert set(predicted) <= set(df.species) and predicted.dtype.kind == "U"
    assert (predicted == df.species.loc[rows.index].to_numpy()).mean() > 0.8
    again = dlexp.run(cfg, data=(df.copy(), "species"), results=results, quiet=True)
    assert again.id == run.id


def test_bad_data_and_bad_inputs_raise_data_errors(results):
    X, y = moons()
    with pytest.raises(dlexp.DataError, match="X has 150 rows but y has 149"):
        dlexp.run(QUICK, data=(X, y[:-1]), results=results)
    with pytest.raises(dlexp.DataError, match=r"no column 'specie' \(did you mean 'species'\?\)"):
        dlexp.run(QUICK, data=(pd.DataFrame({"a": [1, 2], "species": ["x", "y"]}), "specie"), results=results)
    with pytest.raises(dlexp.DataError, match="expected \\(X, y\\)"):
        dlexp.run(QUICK, data={"training": (X, y)}, results=results)
    model = dlexp.run(QUICK, data=(X, y), results=results, quiet=True).model
    with pytest.raises(dlexp.DataError, match=r"expected rows of 2 inputs \(x0, x1\), found an array of shape"):
        model.predict(np.zeros((3, 5)))
    with pytest.raises(dlexp.DataError, match="row 1, column 'x1': 'a' is not a number"):
        model.predict([[0.0, 1.0], [0.0, "a"]])
    with pytest.raises(dlexp.DataError, match=r"lacks the run's input columns \['x1'\] \(did you mean 'x_1'\?\)"):
        model.predict(pd.DataFrame({"x0": [0.0], "x_1": [1.0]}))


# --- results as DataFrames, loading, diagnosis ---------------------------------------------------

def test_metrics_and_a_sweeps_table_are_dataframes(results):
    run = dlexp.run(QUICK, results=results, quiet=True)
    m = run.metrics
    assert list(m.index) == list(range(1, 7)) and m.index.name == "epoch"
    assert {"train_loss", "val_loss", "train_acc", "val_acc"} <= set(m.columns)
    sweep = dlexp.sweep(QUICK, grid={"model.hidden": [[2], [8]], "regularization.l2": [0.0, 0.01]},
                        name="grid", results=results, jobs=1, quiet=True)
    t = sweep.table()
    assert list(t.columns[:4]) == ["model.hidden", "regularization.l2", "run_id", "status"]
    assert len(t) == 4 and sorted(map(str, t["model.hidden"])) == ["[2]", "[2]", "[8]", "[8]"]
    assert (t["status"] == "completed").all() and t["val_loss"].dtype.kind == "f"
    assert sweep.swept == ["model.hidden", "regularization.l2"] and len(sweep.runs) == 4


def test_sweep_specs_as_files_mappings_and_text_and_overrides(tmp_path, results):
    spec = {"name": "widths", "base": QUICK, "grid": {"model.hidden": [[2], [4]]}}
    a = dlexp.sweep(spec, results=results, jobs=1, quiet=True)
    path = tmp_path / "widths.yaml"
    path.write_text(json.dumps(spec))
    b = dlexp.sweep(path, results=results, jobs=1, quiet=True)
    assert [r.id for r in a.runs] == [r.id for r in b.runs]
    c = dlexp.sweep(json.dumps(spec), results=results, jobs=1, quiet=True, seed=5)
    assert {r.config["seed"] for r in c.runs} == {5}
    with pytest.raises(dlexp.ConfigError, match="needs a name"):
        dlexp.sweep({"base": QUICK, "grid": {"model.hidden": [[2]]}}, results=results)
    with pytest.raises(dlexp.ConfigError, match=r"<spec>: grid\.model\.hiden"):
        dlexp.sweep({"name": "x", "base": QUICK, "grid": {"model.hiden": [[2]]}}, results=results)


def test_load_finds_runs_and_sweeps_as_the_cli_does(results):
    run = dlexp.run(QUICK, results=results, quiet=True)
    assert dlexp.load(run.id, results=results).folder == run.folder
    assert dlexp.load(run.folder).id == run.id
    dlexp.sweep(QUICK, grid={"model.hidden": [[2], [4]]}, name="w", results=results, jobs=1, quiet=True)
    assert isinstance(dlexp.load("w", results=results), dlexp.Sweep)
    with pytest.raises(dlexp.UsageError, match="did you mean 'w'"):
        dlexp.load("ww", results=results)


def test_diagnose_gives_what_the_cli_gives(results):
    sweep = dlexp.sweep(QUICK, grid={"model.hidden": [[1], [16]]}, name="d", results=results, jobs=1, quiet=True)
    d = dlexp.diagnose(sweep)
    cli = invoke("diagnose", "d", "--results", results, "--json")
    assert cli.exit_code == 0, cli.output
    by_cli = {e["run_id"]: e["diagnosis"]["label"] for e in json.loads(cli.stdout)}
    assert {r.id: diag["label"] for r, diag in d.runs} == by_cli
    assert d.verdict["key"] == "model.hidden" and d.label == d.verdict["best"]["label"]
    assert list(d.table()["label"]) == [by_cli[r.id] for r, _ in d.runs]
    one = dlexp.diagnose(sweep.runs[0])
    assert one.label == by_cli[sweep.runs[0].id] and one.reason and isinstance(one.remedies, list)
    assert one.label in str(one) and len(one.text(verbose=True)) > len(str(one))
    assert dlexp.schema()["properties"]["data"] and "model" in dlexp.schema()["properties"]
    with pytest.raises(dlexp.UsageError, match=r"thresholds: unknown name 'overfit_rsie' \(did you mean 'overfit_rise'"):
        dlexp.diagnose(sweep, thresholds={"overfit_rsie": 0.2})


def test_every_cli_reader_has_a_python_twin(results):
    """table, ls, plot of several targets, report and diagnose --emit, as the README's studies use them."""
    a = dlexp.run(QUICK, results=results, quiet=True)
    b = dlexp.run(QUICK, results=results, quiet=True, **{"model.hidden": [2]})
    sweep = dlexp.sweep(QUICK, grid={"model.hidden": [[1], [16]]}, name="twin", results=results, jobs=1, quiet=True)
    t = dlexp.table(a, b.id, "twin", results=results)
    assert list(t.columns[:3]) == ["name", "model.hidden", "run_id"] and len(t) == 4
    listing = dlexp.ls(results=results)
    assert set(listing["runs"]["run_id"]) >= {a.id, b.id} and list(listing["sweeps"]["name"]) == ["twin"]
    _, ax = plt.subplots()
    assert dlexp.plot(a, b, ax=ax, results=results) is ax and len(ax.get_lines()) >= 4  # compare: 2 runs × 2 splits
    assert ax.get_legend() is not None and ax.figure._suptitle is None  # inside the Axes, not over the figure
    page = dlexp.report("twin", results=results)
    assert page == sweep.folder / "report.html" and "<html" in page.read_text()
    spec = dlexp.diagnose(sweep).next_spec()
    follow = dlexp.sweep(spec, results=results, jobs=1, quiet=True)
    cli = invoke("diagnose", "twin", "--results", results, "--emit", results / "next.yaml")
    assert cli.exit_code == 0, cli.output
    import yaml

    assert yaml.safe_load((results / "next.yaml").read_text()) == spec and follow.swept == list(spec["grid"])
    plt.close("all")


# --- figures and rich display ---------------------------------------------------------------------

def test_plot_draws_into_a_given_axes_and_returns_it(results):
    run = dlexp.run(QUICK, results=results, quiet=True)
    fig, (left, right) = plt.subplots(1, 2)
    assert run.plot(ax=left) is left and run.plot(ax=right, metric="acc") is right
    assert left.get_ylabel() == "cross-entropy loss" and right.get_ylabel() == "accuracy"
    assert {line.get_label() for line in left.get_lines()} >= {"train", "validation"}
    assert left.get_legend() is not None and "tiny" in left.get_title()
    own = run.plot()  # a figure of its own (both panels), handed to pyplot
    assert own.figure is not fig and len(own.figure.axes) == 2 and own.figure.number in plt.get_fignums()
    sweep = dlexp.sweep(QUICK, grid={"model.hidden": [[2], [8]]}, name="p", results=results, jobs=1, quiet=True)
    _, ax = plt.subplots()
    assert sweep.plot(ax=ax) is ax and ax.get_xlabel().startswith("hidden width")
    with pytest.raises(dlexp.UsageError, match="weights draws a figure of its own panels"):
        run.plot("weights", ax=ax)
    plt.close("all")


def test_html_display_escapes_names_and_shows_the_figure(results):
    run = dlexp.run({**QUICK, "name": "<script>alert(1)</script>"}, results=results, quiet=True)
    html = run._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img src=\"data:image/png;base64," in html and "val_loss" in html
    sweep = dlexp.sweep(QUICK, grid={"model.hidden": [[2], [8]]}, name="h", results=results, jobs=1, quiet=True)
    assert sweep._repr_html_().count("<tr>") == 3 and "model.hidden" in sweep._repr_html_()
    assert repr(run).startswith(f"Run({run.id} ") and "Sweep(h: 2 finished runs" in repr(sweep)


# --- the package stays cheap to import; the notebook runs ---------------------------------------

def test_import_dlexp_loads_nothing_heavy_until_the_api_is_used():
    from test_startup import loaded_after

    assert loaded_after("import dlexp") == set()
    assert loaded_after("import dlexp; dlexp.ConfigError") == set()
    assert "numpy" in loaded_after("import dlexp; dlexp.run")
    assert "pandas" not in loaded_after("import dlexp; dlexp.run")  # only when a DataFrame is made


def test_the_example_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    (tmp_path / "docs").mkdir()
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    shutil.copy(ROOT / "docs" / "python.ipynb", tmp_path / "docs")
    nb = nbformat.read(tmp_path / "docs" / "python.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path / "docs")}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    cards = [o for o in outputs if "data:image/png" in o.get("data", {}).get("text/html", "")]
    assert len(figures) == 2 and len(cards) == 1  # sweep.plot(), the two axes, and the run's card
    assert sum("dataframe" in o.get("data", {}).get("text/html", "") for o in outputs) == 3


def test_no_submodule_shadows_an_api_name():
    """Importing a submodule binds it on the package: one named like an API function (report.py
    and dlexp.report) would replace that function for everyone after the first import."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(dlexp.__path__):
        importlib.import_module(f"dlexp.{info.name}")
    from dlexp import api

    assert set(dlexp._API) == set(api.__all__)
    for name in ("run", "sweep", "load", "diagnose", "table", "ls", "plot", "report", "schema"):
        assert callable(getattr(dlexp, name)) and getattr(dlexp, name).__module__ == "dlexp.api", name
