"""CSV columns: chosen, typed and checked on the files; imputed and encoded, fitted on train.

`prepare(cfg, tables, target)` decides once per load, from the files' cells:

* the feature columns: data.features (only these, in this order) or every column, less
  data.drop and the target;
* the categorical ones: data.categorical auto takes a column whose cells are mostly text and
  hold at most MAX_AUTO_CATEGORIES distinct values (more looks like an identifier or a free
  text, which one-hot encoding would blow up); a list takes exactly those; [] none;
* what missing cells (data.na_values) become: data.missing error refuses them, drop_rows drops
  their rows (in every file), mean/median/most_frequent imputes numeric columns, fitted on the
  training split (categorical columns take their most frequent category under all three). A
  row whose target is missing is dropped under every choice but error.

Every problem is one message per column and file: what is wrong, how often, its first lines,
and the keys that would fix it.

`ColumnPlan.fit(X_train)` builds scikit-learn's ColumnTransformer (SimpleImputer, OneHotEncoder)
on the training rows only; unknown categories in val/test encode as all-zero indicators, and
are counted in the report. A table of complete numeric columns needs no plan: it loads as
before, without importing scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, Problem, did_you_mean
from .csvfile import MAX_PROBLEMS, Table

MAX_AUTO_CATEGORIES = 20  # data.categorical auto: distinct text values a column may hold
SHOWN_LINES = 5  # line numbers listed per column problem
IMPUTERS = ("mean", "median", "most_frequent")  # data.missing choices that impute (SimpleImputer)
MISSING = ("error", "drop_rows", *IMPUTERS)  # data.missing
ENCODER_MODULES = ("sklearn.compose", "sklearn.impute", "sklearn.pipeline", "sklearn.preprocessing")  # ColumnPlan.fit
NA_VALUES = ("", "NA", "N/A", "n/a", "NaN", "nan", "?", "null", "NULL")  # data.na_values' default


@dataclass(frozen=True)
class ColumnPlan:
    """How the feature columns become numbers: raw X (N, d) object → (N, D) float64.

    Numeric columns come first (in `names` order), then each categorical column's indicators.
    """

    names: tuple[str, ...]  # the d feature columns
    categorical: tuple[int, ...]  # their positions in `names`
    impute: str | None  # strategy for numeric columns (categorical: most_frequent); None: none missing

    @property
    def numeric(self) -> list[int]:
        return [j for j in range(len(self.names)) if j not in self.categorical]

    def fit(self, X_train: np.ndarray) -> "Encoder":
        from sklearn.compose import ColumnTransformer  # on first use: ~0.5 s of imports
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder

        def imputer(strategy):  # keep_empty_features: a column missing in every training row stays
            return SimpleImputer(strategy=strategy, keep_empty_features=True)

        parts = []
        if self.numeric:
            parts.append(("numbers", imputer(self.impute) if self.impute else "passthrough", self.numeric))
        if self.categorical:
            onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
            steps = [imputer("most_frequent"), onehot] if self.impute else [onehot]
            parts.append(("categories", make_pipeline(*steps), list(self.categorical)))
        ct = ColumnTransformer(parts, sparse_threshold=0.0).fit(X_train)
        categories = {}
        if self.categorical:
            found = ct.named_transformers_["categories"][-1].categories_
            categories = {self.names[j]: [str(c) for c in cats] for j, cats in zip(self.categorical, found)}
        names = [self.names[j] for j in self.numeric]
        names += [f"{column}={c}" for column, cats in categories.items() for c in cats]
        return Encoder(ct, self, categories, names)


@dataclass(frozen=True, eq=False)
class Encoder:
    """A fitted ColumnPlan: raw rows (M, d) → float64 (M, D), the D names, the categories seen."""

    transformer: object  # sklearn.compose.ColumnTransformer, fitted
    plan: ColumnPlan
    categories: dict  # {column: [categories of the training split]}
    names: list[str]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.transformer.transform(X), dtype=np.float64)

    def unseen(self, X: np.ndarray) -> int:
        """Cells of X (M, d) whose category the training split did not hold (encoded as zeros)."""
        n = 0
        for j, column in zip(self.plan.categorical, self.categories):
            cells = X[:, j]
            present = np.array([isinstance(c, str) for c in cells], dtype=bool)
            n += int((present & ~np.isin(cells.astype(str), self.categories[column])).sum())
        return n


@dataclass
class Prepared:
    """The files' feature matrices and what was done to get them."""

    tables: dict  # {role: Table}, the rows kept
    X: dict  # {role: (N, d) float64 without a plan, else object (numbers, strings, NaN missing)}
    names: list[str]  # the d feature columns
    plan: ColumnPlan | None
    report: dict = field(default_factory=dict)


def prepare(cfg, tables: dict[str, Table], target: str, keys: dict[str, str]) -> Prepared:
    """The feature columns of `tables` ({role: Table}, train first) typed, checked and filtered;
    `keys` ({role: config key}) names each file's key in messages."""
    main = tables["train"]
    names = feature_columns(cfg, main, target)
    na_values = list(cfg.na_values)
    parsed = {role: _parse(t, names, target, na_values) for role, t in tables.items()}
    categorical, problems = _kinds(cfg, names, parsed["train"], main, keys["train"])
    for role in list(tables)[1:]:  # val/test files: text in a column the train file holds numbers in
        problems += _kind_problems(names, categorical, parsed[role], tables[role], keys[role])
    missing = {role: p.na for role, p in parsed.items()}  # (N, d) bool per file
    absent = [q for role in tables for q in _missing_problems(
        names, target, missing[role], parsed[role].target_na, tables[role], keys[role])] if cfg.missing == "error" else []
    if problems or absent:
        raise DataError(_bounded(problems + absent) + ([MISSING_FIX] if absent else []))
    # the rows each file loses: those without a target, and with drop_rows those with a missing cell
    drops = {role: p.target_na | (p.na.any(axis=1) if cfg.missing == "drop_rows" else False)
             for role, p in parsed.items()}
    kept, X, report = {}, {}, _report(cfg, names, categorical, tables, missing, drops)
    for role, t in tables.items():
        keep = ~drops[role]
        if not keep.any():
            raise DataError(Problem(f"every row has a missing cell ({cfg.missing}): no row is left; "
                                    "data.drop the emptiest columns or impute (data.missing: mean, median or "
                                    "most_frequent)", key=keys[role], file=str(t.path)))
        kept[role] = t.subset(keep)
        X[role] = parsed[role].matrix(categorical, missing[role])[keep]
    impute = cfg.missing if cfg.missing in IMPUTERS and any(m[~parsed[r].target_na].any()
                                                            for r, m in missing.items()) else None
    plan = ColumnPlan(tuple(names), tuple(categorical), impute) if categorical or impute else None
    return Prepared(kept, X, names, plan, report if report["changed"] else {})


def feature_columns(cfg, main: Table, target: str) -> list[str]:
    """The feature columns that data.features and data.drop leave, checked against the file."""
    # no file in these problems: the config loader places them at the key's line in the YAML
    header = main.header
    for key, listed in (("data.features", cfg.features or []), ("data.drop", cfg.drop),
                        ("data.categorical", cfg.categorical if isinstance(cfg.categorical, list) else [])):
        for name in listed:
            if name not in header:
                raise DataError(Problem(f"no column '{name}' in {main.path.name}{did_you_mean(name, header)}; the columns are: "
                                        f"{_shown(header)}", key=key))
            if name == target and key != "data.drop":
                raise DataError(Problem(f"'{name}' is the target (data.target), not a feature", key=key))
    if target in cfg.drop:
        raise DataError(Problem(f"'{target}' is the target (data.target): it cannot be dropped", key="data.drop"))
    chosen = cfg.features if cfg.features else [h for h in header if h != target]
    names = [h for h in chosen if h not in set(cfg.drop)]
    if not names:
        raise DataError(Problem("no feature column is left once data.drop and data.features apply",
                                key="data.drop" if cfg.drop else "data.features"))
    return names


def ignored_columns(cfg, main: Table, target: str) -> set[str]:
    """Columns of the train file that are not used: a val/test file need not have them."""
    used = set(feature_columns(cfg, main, target)) | {target}
    return set(main.header) - used


@dataclass
class _Parsed:
    """One file's feature cells (N, d), read once."""

    cells: np.ndarray  # str
    values: np.ndarray  # float64, NaN where the cell is missing or text
    na: np.ndarray  # bool: a missing marker
    text: np.ndarray  # bool: neither missing nor a finite number
    target_na: np.ndarray  # (N,) bool

    def matrix(self, categorical, missing) -> np.ndarray:
        """float64 (N, d) when every column is a number column, else an object array with the
        categorical columns' strings; missing cells are NaN either way."""
        if not categorical:
            return self.values
        X = self.values.astype(object)
        for j in categorical:
            X[:, j] = np.where(missing[:, j], np.nan, self.cells[:, j].astype(object))
        return X


def _parse(t: Table, names: list[str], target: str, na_values: list[str]) -> _Parsed:
    index = {h: j for j, h in enumerate(t.header)}  # not list.index per column: quadratic
    cells = t.cells[:, [index[h] for h in names]]
    na = np.isin(cells, na_values)
    values = _numbers(np.where(na, "nan", cells))
    text = ~na & ~np.isfinite(values)
    return _Parsed(cells, values, na, text, np.isin(t.cells[:, index[target]], na_values))


def _numbers(cells: np.ndarray) -> np.ndarray:
    """float64 of str cells (N, d); NaN where a cell is no number."""
    try:  # all numbers: one conversion of the whole block (one per cell costs ~10x more)
        return np.array(cells, dtype=np.float64).reshape(cells.shape)
    except ValueError:  # find the text cells one by one
        flat = [_float(c) for c in cells.ravel().tolist()]
        return np.array(flat, dtype=np.float64).reshape(cells.shape)


def _float(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return np.nan


def _kinds(cfg, names, p: _Parsed, t: Table, key: str) -> tuple[list[int], list[Problem]]:
    """(positions of the categorical columns, problems) decided on the train file `t`."""
    if isinstance(cfg.categorical, list):
        listed = set(cfg.categorical)
        categorical = [j for j, name in enumerate(names) if name in listed]
        return categorical, _kind_problems(names, categorical, p, t, key)
    categorical, problems = [], []
    n_text, n_numbers = p.text.sum(axis=0), (~p.na & ~p.text).sum(axis=0)
    for j in np.flatnonzero(n_text):
        if n_text[j] <= n_numbers[j]:  # a number column with a few bad cells
            problems.append(_text_in_numbers(names[j], p, j, t, key))
            continue
        present = p.cells[~p.na[:, j], j]
        distinct = np.unique(present)
        if len(distinct) > MAX_AUTO_CATEGORIES:
            problems.append(Problem(
                f"column '{names[j]}': {len(distinct)} distinct text values such as {_examples(distinct)}, "
                f"more than the {MAX_AUTO_CATEGORIES} that data.categorical: auto one-hot encodes (an "
                f"identifier or free text?): add it to data.drop, or list it in data.categorical to encode "
                f"it anyway", key=key, file=str(t.path), line=int(t.lines[np.argmax(p.text[:, j])])))
        else:
            categorical.append(int(j))
    return categorical, problems


def _kind_problems(names, categorical, p: _Parsed, t: Table, key: str) -> list[Problem]:
    """Text cells in the columns that are not categorical: one problem per column."""
    problems = []
    n_numbers = (~p.na & ~p.text).sum(axis=0)
    for j in np.flatnonzero(p.text.any(axis=0)):
        if j in categorical:
            continue
        if n_numbers[j] >= p.text[:, j].sum() and n_numbers[j] > 0:
            problems.append(_text_in_numbers(names[j], p, j, t, key))
        else:
            cells = p.cells[p.text[:, j], j]
            problems.append(Problem(
                f"column '{names[j]}': {len(cells)} text values such as {_examples(np.unique(cells))}: "
                f"list it in data.categorical, or add it to data.drop", key=key, file=str(t.path),
                line=int(t.lines[np.argmax(p.text[:, j])])))
    return problems


def _text_in_numbers(name, p: _Parsed, j, t: Table, key: str) -> Problem:
    """A number column with text cells: the cells, their lines, and three ways out."""
    rows = np.flatnonzero(p.text[:, j])
    numbers = int((~p.na[:, j] & ~p.text[:, j]).sum())
    finite = "finite " if np.isinf(p.values[rows, j]).any() else ""  # inf, 1e999
    if len(rows) == 1:
        what = f"'{p.cells[rows[0], j]}' is not a {finite}number"
    else:
        what = (f"{len(rows)} cells are not {finite}numbers ({_examples(np.unique(p.cells[rows, j]))} on lines "
                f"{_lines(t.lines[rows])})")
    return Problem(f"column '{name}': {what}, while {numbers} of its cells are: correct {_them(rows)}, add "
                   f"{_them(rows)} to data.na_values to read {_them(rows)} as missing, or list '{name}' in "
                   f"data.categorical", key=key, file=str(t.path), line=int(t.lines[rows[0]]))


def _missing_problems(names, target, missing, target_na, t: Table, key: str) -> list[Problem]:
    """data.missing: error, and missing cells: one problem per column (the target's first)."""
    problems = []
    columns = [(target, f"'{target}' (the target)", target_na)]
    columns += [(name, f"'{name}'", missing[:, j]) for j, name in enumerate(names)]
    for name, label, cells in columns:
        rows = np.flatnonzero(cells)
        if len(rows):
            found = t.column(name)[rows]
            markers = ", ".join(sorted({repr(str(c)) if c else "empty" for c in found}))
            problems.append(Problem(f"column {label}: {_count(len(rows), 'missing cell')} ({markers}) on "
                                    f"{'line' if len(rows) == 1 else 'lines'} {_lines(t.lines[rows])}",
                                    key=key, file=str(t.path), line=int(t.lines[rows[0]])))
    return problems


MISSING_FIX = Problem("missing cells need data.missing: drop_rows (drop their rows), or mean, median or "
                      "most_frequent (impute them, fitted on the training split); or add their columns to "
                      "data.drop. A row without its target is dropped under every choice but error",
                      key="data.missing")


def _report(cfg, names, categorical, tables, missing, drops) -> dict:
    """What prepare did, for summary.json (without the fitted categories: `finish_report` adds
    them): rows read and dropped per file (`drops`: {role: (N,) bool}), the columns encoded and the
    missing cells imputed."""
    files = {t.path.name: {"rows": len(t.lines), "dropped": int(drops[role].sum())} for role, t in tables.items()}
    dropped = sum(f["dropped"] for f in files.values())
    cells = {name: int(sum(m[:, j].sum() for m in missing.values())) for j, name in enumerate(names)}
    cells = {name: n for name, n in cells.items() if n}
    imputed = cfg.missing in IMPUTERS and bool(cells)
    return {"changed": bool(dropped or categorical or imputed),
            "files": files, "rows_dropped": dropped, "missing": cfg.missing,
            "missing_cells": cells, "imputed": ({"numeric": cfg.missing, "categorical": "most_frequent"}
                                                if imputed else None),
            "categorical": [names[j] for j in categorical]}


def finish_report(report: dict, encoder: Encoder | None, splits: dict) -> dict:
    """`report` with what the fitted encoder adds: each categorical column's training categories,
    the encoded width, and cells of categories unseen in training, per split."""
    if not report:
        return {}
    out = {k: v for k, v in report.items() if k != "changed"}
    if encoder is not None:
        out["categories"] = encoder.categories
        out["n_features"] = len(encoder.names)
        unseen = {role: encoder.unseen(X) for role, X in splits.items() if role != "train" and len(X)}
        out["unseen"] = {role: n for role, n in unseen.items() if n}
    return out


def in_words(report: dict) -> str:
    """The report in one phrase, for a run's summary line: "11 of 344 rows dropped (missing
    cells); one-hot: island (3), sex (2); missing cells imputed: 8 numbers (mean), 11 categories
    (most frequent)"."""
    parts = []
    if report.get("rows_dropped"):
        rows = sum(f["rows"] for f in report.get("files", {}).values())
        parts.append(f"{report['rows_dropped']} of {rows} rows dropped (missing cells)")
    if report.get("categories"):
        parts.append("one-hot: " + ", ".join(f"{c} ({len(v)})" for c, v in report["categories"].items()))
    if report.get("imputed"):
        cells, categorical = report.get("missing_cells", {}), set(report.get("categorical", []))
        numeric = sum(n for c, n in cells.items() if c not in categorical)
        category = sum(n for c, n in cells.items() if c in categorical)
        done = ([f"{_count(numeric, 'number')} ({report['imputed']['numeric']})"] if numeric else [])
        done += [f"{_count(category, 'category', 'categories')} (most frequent)"] if category else []
        parts.append("missing cells imputed: " + ", ".join(done))
    if report.get("unseen"):
        parts.append(", ".join(f"{_count(n, 'unseen category', 'unseen categories')} in {role}"
                               for role, n in report["unseen"].items()))
    return "; ".join(parts)


def _bounded(problems: list[Problem]) -> list[Problem]:
    """At most MAX_PROBLEMS problems, in file and line order, and a count of the rest."""
    problems = sorted(problems, key=lambda q: (q.file or "", q.line or 0))
    more = [Problem(f"... and {len(problems) - MAX_PROBLEMS} more column problem(s)", key=problems[0].key)]
    return problems[:MAX_PROBLEMS] + (more if len(problems) > MAX_PROBLEMS else [])


def _examples(values, n: int = 3) -> str:
    shown = ", ".join(f"'{v}'" for v in list(values)[:n])
    return shown + (", …" if len(values) > n else "")


def _lines(lines) -> str:
    shown = ", ".join(str(int(x)) for x in lines[:SHOWN_LINES])
    return shown + (f", … ({len(lines)} in all)" if len(lines) > SHOWN_LINES else "")


def _shown(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 20 else ", ".join(names[:20]) + f", … ({len(names)} in all)"


def _them(rows) -> str:
    return "it" if len(rows) == 1 else "them"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def as_rows(X, names: list[str], plan: ColumnPlan | None = None) -> np.ndarray:
    """New inputs as the raw rows a fitted transform takes (what the files' rows became): float64
    (M, d) without a plan, else an object array of numbers and category strings, NaN missing.

    X is array-like (M, d) in `names` order (one row (d,) is M = 1), or a table with named
    columns such as a pandas DataFrame, whose columns are picked by name (others are ignored).
    """
    if hasattr(X, "columns"):  # a DataFrame, read without importing pandas here
        absent = [n for n in names if n not in list(X.columns)]
        if absent:
            raise DataError(Problem(f"the table lacks the run's input columns {absent}"
                                    f"{did_you_mean(absent[0], [str(c) for c in X.columns])}; it needs "
                                    f"{_shown(list(names))}", key="X"))
        X = X[list(names)].to_numpy(dtype=object)
    else:
        X = np.asarray(X, dtype=object)
        if X.ndim == 1 and len(names) > 0 and len(X) == len(names):
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != len(names):
            raise DataError(Problem(f"expected rows of {len(names)} inputs ({_shown(list(names))}), found an array "
                                    f"of shape {X.shape}", key="X"))
    categorical = set(plan.categorical) if plan is not None else set()
    out = np.empty(X.shape, dtype=object)
    for j in range(X.shape[1]):
        for i, v in enumerate(X[:, j]):
            out[i, j] = _cell(v, j in categorical, names[j], i, plan is not None)
    return out if plan is not None else out.astype(np.float64)


def _cell(v, categorical: bool, name: str, i: int, missing_ok: bool):
    """One input cell as the transform takes it: a category's text, or a float (NaN: missing)."""
    missing = v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and v.strip() in NA_VALUES)
    if not missing and not isinstance(v, (str, bytes)):
        try:  # pandas.NA and numpy's NaN scalars
            missing = bool(v != v)
        except TypeError:
            missing = True  # pandas.NA compares to nothing
    if missing:
        if not missing_ok:
            raise DataError(Problem(f"row {i}, column '{name}': a missing value, and this run's inputs had none to "
                                    "impute", key="X"))
        return np.nan
    if categorical:
        return v.decode() if isinstance(v, bytes) else str(v).strip()
    try:
        value = float(v)
    except (TypeError, ValueError):
        raise DataError(Problem(f"row {i}, column '{name}': {v!r} is not a number", key="X")) from None
    if not np.isfinite(value):
        raise DataError(Problem(f"row {i}, column '{name}': {v!r} is not a finite number", key="X"))
    return value
