"""dlexp from Python: train, sweep, load and diagnose; results as pandas DataFrames.

    import dlexp
    run = dlexp.run("configs/quickstart.yaml", **{"model.hidden": [64]})
    run.metrics                      # DataFrame: one row per epoch
    run.plot("curves")               # a matplotlib Axes
    run.model.predict(X_new)         # through the run's own fitted preprocessing
    sweep = dlexp.sweep("configs/studies/l2.yaml", jobs=2)
    sweep.table()                    # DataFrame: one row per run, swept keys as columns
    dlexp.diagnose(sweep).verdict

A thin layer over the library the CLI uses: the same validation, the same messages, the same
result folders (a run trained here is the run `dlexp run` would train, and the other way round).
Bad input raises a typed exception (ConfigError, DataError, UsageError, ResultError: all
DlexpError) instead of exiting; a run that fails while training raises TrainingFailed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import sys
from pathlib import Path

from . import labels
from .analysis import inference
from .analysis.diagnose import DEFAULT_THRESHOLDS, format_text
from .analysis.verdict import diagnose_targets, verdict_dict
from .config.load import config_from_python, load_config
from .errors import DataError, DlexpError, Problem, UsageError, did_you_mean
from .results import reader
from .results.store import atomic_write_bytes, npz_bytes
from .results.summary import columns_of, summary_row

DATA_FOLDER = "data"  # <results>/data/<digest>.npz|.csv: in-memory data written once, by content


class TrainingFailed(DlexpError):
    """A run that raised while training (a bug or a numerical failure); its folder keeps the
    traceback, as `dlexp run` does (exit code 1)."""

    exit_code = 1

    def __init__(self, run: "Run"):
        self.run = run
        super().__init__(Problem(f"{run.summary.get('error', 'training failed')} (see {run.folder}/traceback.txt)",
                                 file=str(run.folder)))


# ---------------------------------------------------------------------------------------------
# Entry points

def run(config, *, data=None, results="results", force: bool = False, set: dict | None = None,
        quiet: bool = False, **overrides) -> "Run":
    """Train the experiment `config` (or reuse its finished run) and return its Run.

    config: a config file's path, a mapping, or YAML text. Overrides are dotted keys, as keyword
    arguments (`**{"model.hidden": [64]}`, `seed=1`) or in `set`. data: in-memory data instead of
    the config's, as (X, y), {"train": (X, y), "val": (X, y), "test": (X, y)}, or
    (DataFrame, "target column"); it is written once under <results>/data/, named by the digest
    of its content, so the same data gives the same run id and a repeated call reuses the run.
    quiet: no summary line (and, in a terminal, no progress bar; a notebook shows none).
    """
    from .sweeps.run import run_loaded

    results = Path(results)
    items = {**(set or {}), **overrides}
    if data is not None:
        items.update(data_overrides(data, results))
    exp = _experiment(config, items)
    echo = (lambda *_: None) if quiet else _echo
    result = run_loaded(exp, results, force=force, quiet=not _bar(quiet), echo=echo)
    found = Run(reader.Run.load(result.folder))
    if found.status == "failed":
        raise TrainingFailed(found)
    return found


def sweep(spec, *, grid: dict | None = None, name: str | None = None, data=None, jobs: int | None = None,
          executor: str = "local", address: str | None = None, results="results", retry_failed: bool = False,
          quiet: bool = False, set: dict | None = None, **overrides) -> "Sweep":
    """Train every point of a sweep not yet done and return its Sweep (resumable, as the CLI's).

    spec: a spec file's path, a mapping or YAML text (base:, grid: and/or random:); or a config
    (path or mapping) with grid={"dotted.key": [values, …]}. jobs: runs at once (default: the
    CPUs; 1 = in this process); executor: "local" or "dask" (address: the scheduler's).
    data: in-memory data for every point, as `run` takes it. Runs that fail are in the Sweep
    (status "failed"); nothing is raised for them.
    """
    from .sweeps.spec import load_spec, spec_from_python
    from .sweeps.sweep import run_sweep

    items = {**(set or {}), **overrides}
    if data is not None:
        items.update(data_overrides(data, Path(results)))
    if grid is not None:
        spec = {"name": name or _default_name(spec, "-sweep"), "base": _base_of(spec), "grid": dict(grid)}
    if isinstance(spec, (str, Path)) and _is_file(spec):
        plan = load_spec(spec, name=name, overrides=items, origin="override")
    else:
        if isinstance(spec, (str, Path)) and not _looks_like_yaml(spec):
            raise UsageError(f"{spec}: no such spec file (and not YAML text of a spec)")
        plan = spec_from_python(str(spec) if isinstance(spec, Path) else spec, name=name, overrides=items)
    echo = (lambda *_: None) if quiet else _echo
    result = run_sweep(plan, Path(results), jobs=jobs, executor=executor, address=address,
                       retry_failed=retry_failed, quiet=not _bar(quiet), echo=echo)
    return Sweep(reader.Sweep.load(result.folder))


def load(target, *, results="results") -> "Run | Sweep":
    """A finished run or a sweep: a run folder, a sweep folder, a run id (or a unique start of
    one) or a sweep name under `results`."""
    found = reader.resolve(str(target), Path(results))
    return Sweep(found) if isinstance(found, reader.Sweep) else Run(found)


def diagnose(target, *, results="results", thresholds: dict | None = None, save: bool = True) -> "Diagnosis":
    """The diagnosis of a run or a sweep (a Run, a Sweep, or what `load` takes): why it under-
    or overfits and what to try, as `dlexp diagnose` gives it. thresholds: {name: value}
    overrides of DEFAULT_THRESHOLDS. With `save` the labels are recorded in the result files, as
    the CLI records them."""
    folder = target.folder if isinstance(target, (Run, Sweep)) else target
    for k in thresholds or {}:
        if k not in DEFAULT_THRESHOLDS:
            raise UsageError(f"thresholds: unknown name {k!r}{did_you_mean(k, DEFAULT_THRESHOLDS)}; valid: "
                             f"{', '.join(DEFAULT_THRESHOLDS)}")
    items = [f"{k}={v}" for k, v in (thresholds or {}).items()]  # values no number: diagnose_targets says so
    groups = diagnose_targets([str(folder)], Path(results), items, save=save)
    if not groups:
        raise UsageError(f"{folder}: nothing to diagnose")
    _, found, v = groups[0]
    return Diagnosis([(Run(r), d) for r, d in found], v)


def table(*targets, where: dict | None = None, results="results"):
    """One row per run of the targets (runs, sweeps; as `dlexp table` takes them) as a DataFrame:
    [name,] swept keys, run_id, status, the final figures. where: {dotted key: value}."""
    import pandas as pd

    from .analysis.tables import collect_rows

    rows, lead = collect_rows([_target(t) for t in targets], Path(results), list((where or {}).items()))
    return pd.DataFrame(rows, columns=columns_of(rows, lead) if rows else lead)


def ls(*, results="results") -> dict:
    """The results folder as `dlexp ls` lists it: {"runs": DataFrame, "sweeps": DataFrame}."""
    import pandas as pd

    from .analysis.tables import list_results

    listing = list_results(Path(results))
    return {kind: pd.DataFrame(rows) for kind, rows in listing.items()}


def plot(*targets, kind: str | None = None, ax=None, metric: str = "loss", where: dict | None = None,
         per_second: bool = False, results="results"):
    """A figure of several runs or sweeps (compare by default), as `dlexp plot A B` draws it;
    the Axes drawn, as Run.plot returns it."""
    return _plot([_target(t) for t in targets], kind, ax, metric, where, per_second, results=Path(results))


def report(*targets, out=None, where: dict | None = None, results="results") -> Path:
    """Write `dlexp report`'s self-contained HTML page for the targets; the file written."""
    from .html_report import report as write_report

    return write_report([_target(t) for t in targets], out=Path(out) if out else None, results=Path(results),
                        where=list((where or {}).items()))


def schema() -> dict:
    """The config's JSON Schema, as `dlexp schema` prints it (for editors' YAML completion)."""
    from .config.schema import config_schema

    return config_schema()


def _target(t) -> str:
    """A target as the readers take it: a Run's or Sweep's folder, else the id, name or path."""
    return str(t.folder) if isinstance(t, (Run, Sweep)) else str(t)


# ---------------------------------------------------------------------------------------------
# Results

class Run:
    """A finished run: its files read as Python objects (results/reader.py underneath)."""

    def __init__(self, found: reader.Run):
        self._run = found

    @property
    def folder(self) -> Path:
        return self._run.folder

    @property
    def id(self) -> str:
        return self._run.run_id

    @property
    def name(self) -> str:
        return self._run.name

    @property
    def status(self) -> str:
        return self._run.status

    @property
    def summary(self) -> dict:
        """summary.json: the final figures, status, sizes, timings (README, Results)."""
        return self._run.summary

    @property
    def config(self) -> dict:
        """The resolved config (config.yaml), every default filled in."""
        return self._run.config

    @property
    def point(self) -> dict:
        """The swept values, when the run was loaded through its sweep."""
        return dict(self._run.point)

    @property
    def metrics(self):
        """metrics.csv as a DataFrame indexed by epoch (train/val loss and metric, penalty, …;
        for repeats and CV the mean over members with a `<column>_std` beside each)."""
        import pandas as pd

        df = pd.DataFrame(self._run.metrics)
        return df.set_index("epoch") if "epoch" in df else df

    @property
    def members(self) -> list["Run"]:
        """The members of repeats / CV folds ([] for a single run)."""
        return [Run(m) for m in self._run.members()]

    @property
    def model(self) -> "Model":
        """The trained model behind the run's own fitted preprocessing: predict(X), predict_proba(X)."""
        return Model(inference.predictor(self._run))

    def plot(self, kind: str = "curves", ax=None, *, metric: str = "loss"):
        """Draw `kind` (curves, weights, activations, boundary) and return its matplotlib Axes
        (the first, of a figure of several panels; `.figure` is the whole figure). With `ax`,
        curves draws its `metric` panel into that Axes."""
        return _plot(self._run.folder, kind, ax, metric)

    def diagnose(self, **kw) -> "Diagnosis":
        return diagnose(self, results=self.folder.parent.parent, **kw)

    def __repr__(self) -> str:
        return f"Run({self.id} {self.name}: {self.status}{_figures(self.summary)})"

    def _repr_html_(self) -> str:
        return _html_card(f"run {self.id}: {self.name}", [self._row()], _figure_png(self, "curves"))

    def _row(self) -> dict:
        return summary_row(self.summary, self.point, self.id, name=self.name)


class Sweep:
    """A sweep: its runs and its summary table (results/reader.py underneath)."""

    def __init__(self, found: reader.Sweep):
        self._sweep = found

    @property
    def folder(self) -> Path:
        return self._sweep.folder

    @property
    def name(self) -> str:
        return self._sweep.name

    @property
    def swept(self) -> list[str]:
        """The dotted keys the sweep varies, in spec order."""
        return self._sweep.swept

    @property
    def runs(self) -> list[Run]:
        """The finished runs, each with its swept values in `point`."""
        return [Run(r) for r in self._sweep.runs]

    def table(self):
        """One row per finished run as a DataFrame: the swept keys (dotted) as columns, then
        run_id, status and the final figures (with `_std` columns for repeats and CV)."""
        import pandas as pd

        rows = [summary_row(r.summary, {k: r.point.get(k) for k in self.swept}, r.run_id)
                for r in self._sweep.runs]
        return pd.DataFrame(rows, columns=columns_of(rows, self.swept) if rows else self.swept)

    def plot(self, kind: str | None = None, ax=None, *, metric: str = "loss", where: dict | None = None,
             per_second: bool = False):
        """Draw `kind` (default: the learning or validation curve, a random search's scatter,
        else a comparison) and return its matplotlib Axes; with `ax`, draw into that Axes.
        where: {dotted key: value}, the runs to draw (as `dlexp plot --where`)."""
        return _plot(self.folder, kind, ax, metric, where, per_second)

    def diagnose(self, **kw) -> "Diagnosis":
        return diagnose(self, results=self.folder.parent.parent, **kw)

    def __repr__(self) -> str:
        return f"Sweep({self.name}: {labels.count(len(self._sweep.runs), 'finished run')} over {', '.join(self.swept)})"

    def _repr_html_(self) -> str:
        rows = [Run(r)._row() for r in self._sweep.runs]
        return _html_card(f"sweep {self.name} ({', '.join(self.swept)})", rows, _figure_png(self, None))


class Model:
    """A run's model for new inputs: rows of its raw feature columns (`inputs`), or a DataFrame
    with those columns. For repeats and CV, the first member's model."""

    def __init__(self, predictor: inference.Predictor):
        self._p = predictor

    @property
    def inputs(self) -> list[str]:
        """The raw feature columns, in order (a CSV file's columns, x0, x1, … otherwise)."""
        return self._p.inputs

    @property
    def classes(self) -> list[str] | None:
        """The class names, in the order of predict_proba's columns; None for regression."""
        return self._p.classes

    def predict(self, X):
        """Class labels (M,), or regression targets in their own units (M,) or (M, K)."""
        return self._p.predict(X)

    def predict_proba(self, X):
        """Class probabilities (M, C), columns in `classes` order."""
        return self._p.probabilities(X)

    def __repr__(self) -> str:
        return f"Model({len(self.inputs)} inputs → {self.classes or 'regression'})"


class Diagnosis:
    """What `dlexp diagnose` says: a label, a reason and remedies per run, and for a sweep the
    verdict along its swept key."""

    def __init__(self, found: list[tuple[Run, dict]], verdict=None):
        self._found, self._verdict = found, verdict

    @property
    def runs(self) -> list[tuple[Run, dict]]:
        """(run, diagnosis dict: label, reason, short, evidence, remedies) per diagnosed run."""
        return list(self._found)

    @property
    def label(self) -> str | None:
        """The label of a single run; for a sweep, that of its best point."""
        if self._verdict is not None and self._verdict.best is not None:
            return self._verdict.best.label
        return self._found[0][1]["label"] if self._found else None

    @property
    def reason(self) -> str | None:
        return self._found[0][1].get("reason") if len(self._found) == 1 else None

    @property
    def remedies(self) -> list[dict]:
        return list(self._found[0][1].get("remedies") or []) if len(self._found) == 1 else []

    @property
    def verdict(self) -> dict | None:
        """A sweep's verdict (best point, what lies either side), as in <sweep>/diagnosis.json."""
        return verdict_dict(self._verdict) if self._verdict is not None else None

    def next_spec(self) -> dict:
        """The follow-up sweep spec `dlexp diagnose --emit` writes: over the best run's top
        remedies, or its swept key refined around it; run it with dlexp.sweep(spec)."""
        from .analysis.verdict import next_study

        study = next_study([(r._run, d) for r, d in self._found], self._verdict)
        if isinstance(study, str):
            raise UsageError(f"no follow-up: {study}")
        return study.spec

    def table(self):
        """One row per run: its swept values, run_id, label and short reason (a DataFrame)."""
        import pandas as pd

        return pd.DataFrame([{**r.point, "run_id": r.id, "name": r.name, "label": d["label"],
                              "reason": d.get("short")} for r, d in self._found])

    def text(self, verbose: bool = False) -> str:
        """`dlexp diagnose`'s text; verbose: `-v`'s (the full reason, the evidence, every remedy)."""
        text = "\n".join(format_text(r._run, d, verbose=verbose) for r, d in self._found)
        if self._verdict is not None:
            text += "\n" + self._verdict.text()
        return text

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"Diagnosis({self.label}: {labels.count(len(self._found), 'run')})"

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"


# ---------------------------------------------------------------------------------------------
# Configs and in-memory data

def _experiment(config, items: dict):
    """A validated Experiment from a path, a mapping or YAML text, with `items` overridden."""
    if isinstance(config, dict):
        return config_from_python(config, items)
    if isinstance(config, (str, Path)) and _is_file(config):
        return load_config(config, items or ())
    if isinstance(config, str) and _looks_like_yaml(config):
        return config_from_python(config, items)
    if isinstance(config, (str, Path)):
        raise UsageError(f"{config}: no such config file (and not YAML text of a config)")
    raise UsageError(f"config must be a file path, a mapping or YAML text, found {type(config).__name__}")


def _is_file(x) -> bool:
    try:
        return "\n" not in str(x) and Path(x).expanduser().is_file()
    except OSError:  # a name too long for the file system: YAML text
        return False


def _looks_like_yaml(text) -> bool:
    """YAML text of a mapping rather than a mistyped path: a line holding `key:`."""
    return isinstance(text, str) and any(":" in line for line in text.splitlines())


def _default_name(config, suffix: str) -> str:
    return (Path(config).stem if isinstance(config, (str, Path)) and _is_file(config) else "experiment") + suffix


def _base_of(config):
    """A sweep spec's base: a config file's absolute path, or the mapping / parsed YAML text."""
    if isinstance(config, (str, Path)) and _is_file(config):
        return str(Path(config).expanduser().resolve())
    if isinstance(config, str):
        from .config.yamlfile import parse_yaml

        return parse_yaml(config, "<config>")[0]
    return config


def data_overrides(data, results: Path) -> dict:
    """The data.* overrides that point a config at in-memory `data`, written once (atomically)
    as <results>/data/<digest>.npz (arrays) or .csv (DataFrames, whose text and missing cells
    go through the CSV columns' handling)."""
    splits = data if isinstance(data, dict) else {"train": data}
    unknown = [k for k in splits if k not in ("train", "val", "test")]
    if unknown or "train" not in splits:
        raise DataError(Problem(f"expected (X, y), (DataFrame, 'target') or {{'train': …, 'val': …, 'test': …}}; "
                                f"found keys {sorted(map(str, splits))}", key="data"))
    pairs = {split: _pair(split, value) for split, value in splits.items()}
    if any(_is_frame(X) for X, _ in pairs.values()):
        return _csv_overrides(pairs, results)
    return _npz_overrides(pairs, results)


def _pair(split: str, value):
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise DataError(Problem(f"{split}: expected a pair (X, y) or (DataFrame, 'target column'), found "
                                f"{type(value).__name__}", key="data"))
    X, y = value
    if _is_frame(X) and isinstance(y, str) and y not in list(X.columns):
        raise DataError(Problem(f"{split}: no column '{y}'{did_you_mean(y, [str(c) for c in X.columns])} in "
                                "the DataFrame", key="data"))
    return X, y


def _is_frame(X) -> bool:
    return hasattr(X, "columns") and hasattr(X, "to_csv")


def _npz_overrides(pairs: dict, results: Path) -> dict:
    import numpy as np

    arrays = {}
    for split, (X, y) in pairs.items():
        X, y = np.asarray(X), np.asarray(y)
        if X.dtype.kind not in "biuf":
            raise DataError(Problem(f"{split}: X must hold numbers (a DataFrame takes text columns), found "
                                    f"{X.dtype}", key="data"))
        if y.dtype.kind == "O":  # strings in an object array: saved as text, never as pickles
            y = y.astype(str)
        if len(X) != len(y):
            raise DataError(Problem(f"{split}: X has {len(X)} rows but y has {len(y)}", key="data"))
        xk, yk = ("X", "y") if split == "train" else (f"X_{split}", f"y_{split}")
        arrays[xk], arrays[yk] = X, y
    blob = npz_bytes(arrays)
    path = _store(results, blob, ".npz")
    return _dotted({"name": "npz", "path": str(path), **_split_keys(pairs)})


def _csv_overrides(pairs: dict, results: Path) -> dict:
    import pandas as pd

    files, target = {}, None
    for split, (X, y) in pairs.items():
        if isinstance(y, str):
            df, name = X, y
        else:
            name = getattr(y, "name", None) or "target"
            if not _is_frame(X):
                X = pd.DataFrame(X, columns=[f"x{j}" for j in range(len(X[0]))])
            if len(X) != len(y):
                raise DataError(Problem(f"{split}: X has {len(X)} rows but y has {len(y)}", key="data"))
            df = X.assign(**{name: list(y)})
        if target not in (None, name):
            raise DataError(Problem(f"{split}: the target column is '{name}', but it is '{target}' in train",
                                    key="data"))
        target = name
        files[split] = _store(results, df.to_csv(index=False, lineterminator="\n").encode(), ".csv")
    keys = {"name": "csv", "path": str(files["train"]), "target": target, **_split_keys(pairs)}
    keys.update({f"{split}_path": str(files[split]) for split in ("val", "test") if split in files})
    return _dotted(keys)


def _dotted(keys: dict) -> dict:
    """data.* overrides: the config's other data keys (split sizes, missing, …) still apply."""
    return {f"data.{k}": v for k, v in keys.items()}


def _split_keys(pairs: dict) -> dict:
    """With a val split given, the splits are the given ones: train is all of it."""
    return {"train_size": None} if "val" in pairs else {}


def _store(results: Path, blob: bytes, suffix: str) -> Path:
    """<results>/data/<sha256 prefix><suffix>, written once: the same data is the same file."""
    path = results / DATA_FOLDER / (hashlib.sha256(blob).hexdigest()[:16] + suffix)
    if not path.exists():
        atomic_write_bytes(path, blob)
    return path.resolve()


# ---------------------------------------------------------------------------------------------
# Figures and rich display

def _plot(targets, kind, ax, metric, where: dict | None = None, per_second: bool = False, show: bool = True,
          results: Path | None = None):
    """Draw through figures.choose.draw (`targets`: a folder, or a list of targets). A figure of
    its own is handed to pyplot (with `show`), so that a notebook shows it as it shows
    plt.subplots' figures."""
    from .figures.choose import draw

    if isinstance(targets, Path):  # a run's or sweep's folder: <results>/runs|sweeps/<name>
        targets, results = [str(targets)], targets.parent.parent
    drawn = draw(targets, kind, metric, ax=ax, results=results, where=list((where or {}).items()),
                 per_second=per_second)
    if ax is None and show:
        import matplotlib.pyplot as plt

        try:
            plt.figure(drawn.figure)  # pyplot adopts a Figure made without it (matplotlib >= 3.8)
        except (TypeError, ValueError, AttributeError):
            pass  # older matplotlib: drawn.figure is still the whole figure to show or save
    return drawn


def _figure_png(obj, kind) -> str:
    """The default figure of a run or sweep, small, as a base64 PNG (empty if it cannot be drawn)."""
    try:
        import matplotlib.pyplot as plt

        fig = _plot(obj.folder, kind, None, "loss", show=False).figure
        fig.set_dpi(60)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=60)
        plt.close(fig)
        return base64.b64encode(buf.getvalue()).decode()
    except DlexpError:
        return ""


CARD_COLUMNS = ("run_id", "status", "epochs_run", "best_epoch", "train_loss", "val_loss", "test_loss", "train_acc",
                "val_acc", "test_acc", "train_r2", "val_r2", "test_r2", "gap", "diagnosis")  # a card's figures


def _html_card(title: str, rows: list[dict], png: str) -> str:
    """A title, a small table of summary rows and the default figure; every value escaped."""
    figures = columns_of(rows, [])  # run_id, status and the figures: what is not the name or a swept key
    lead = [k for k in (rows[0] if rows else {}) if k not in CARD_COLUMNS and k not in figures]
    cols = lead + [c for c in CARD_COLUMNS if any(r.get(c) is not None for r in rows)]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in cols) + "</tr>"
                   for r in rows[:20])
    more = f"<p>… and {len(rows) - 20} more</p>" if len(rows) > 20 else ""
    img = f'<img src="data:image/png;base64,{png}" style="max-width:560px">' if png else ""
    return (f"<div><strong>{html.escape(title)}</strong><table><tr>{head}</tr>{body}</table>{more}{img}</div>")


def _cell(v) -> str:
    return labels.figure(v) if labels.is_number(v) else ("" if v is None else labels.value(v))


def _figures(s: dict) -> str:
    m = s.get("metric", "acc")
    shown = [f"{k} {labels.figure(s[k])}" for k in ("val_loss", f"val_{m}", f"test_{m}") if labels.is_number(s.get(k))]
    return (" · " + ", ".join(shown)) if shown else ""


def _bar(quiet: bool) -> bool:
    """A progress bar in a terminal only: a notebook shows the summary lines, not a live display."""
    return not quiet and sys.stderr.isatty()


def _echo(message: str) -> None:
    print(message, file=sys.stdout)


__all__ = ["run", "sweep", "load", "diagnose", "table", "ls", "plot", "report", "schema",
           "Run", "Sweep", "Model", "Diagnosis", "TrainingFailed", "DEFAULT_THRESHOLDS"]
