"""NumPy data files (`data.name: npz`): arrays saved with numpy.savez, read without pickles.

The file holds `X` (N, d) and `y` (N,): split like any dataset. With `X_val`/`y_val` (and
`X_test`/`y_test`) beside them the arrays are the splits, as CSV val/test files are. An optional
`feature_names` (d,) names the columns (x0, x1, … otherwise). y holds numbers or strings; the
task follows from it as a CSV target's does (csvfile.target_task). The Python API's in-memory
data (`dlexp.run(config, data=(X, y))`) is written as such a file, named by its digest.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError, Problem
from .files import NotRegularFile, open_regular

SPLIT_KEYS = {"train": ("X", "y"), "val": ("X_val", "y_val"), "test": ("X_test", "y_test")}
KNOWN = {k for pair in SPLIT_KEYS.values() for k in pair} | {"feature_names"}


def read_npz(key: str, path: Path) -> tuple[dict, list[str]]:
    """({split: (X float64 (N, d), y (N,))} of the splits the file holds, feature names)."""
    where = dict(key=key, file=str(path))
    try:
        with open_regular(path) as f, np.load(f, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except FileNotFoundError:
        raise DataError(Problem(f"no such file: {path}", key=key)) from None
    except NotRegularFile as e:
        raise DataError(Problem(str(e), key=key)) from None
    except ValueError as e:  # object arrays need pickles, which are never loaded
        raise DataError(Problem(f"cannot read it without pickles ({e}); save numbers or strings only",
                                **where)) from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(Problem(f"cannot read it as a NumPy .npz file: {e}", **where)) from None
    unknown = sorted(set(arrays) - KNOWN)
    if unknown or "X" not in arrays or "y" not in arrays:
        raise DataError(Problem(f"an npz data file holds X and y (and X_val, y_val, X_test, y_test, "
                                f"feature_names); this one holds {sorted(arrays)}", **where))
    splits = {}
    for split, (xk, yk) in SPLIT_KEYS.items():
        if (xk in arrays) != (yk in arrays):
            raise DataError(Problem(f"{xk} and {yk} come together; the file holds only "
                                    f"{xk if xk in arrays else yk}", **where))
        if xk in arrays:
            splits[split] = _pair(arrays[xk], arrays[yk], xk, yk, where)
    width = {X.shape[1] for X, _ in splits.values()}
    if len(width) > 1:
        raise DataError(Problem(f"the splits have different numbers of columns: "
                                f"{ {s: X.shape[1] for s, (X, _) in splits.items()} }", **where))
    d = width.pop()
    names = [str(n) for n in arrays["feature_names"]] if "feature_names" in arrays else [f"x{j}" for j in range(d)]
    if len(names) != d or len(set(names)) != d:
        raise DataError(Problem(f"feature_names holds {len(names)} names ({len(set(names))} distinct) for {d} "
                                "columns", **where))
    return splits, names


def _pair(X: np.ndarray, y: np.ndarray, xk: str, yk: str, where: dict):
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise DataError(Problem(f"{xk} must be a 2-D array of numbers, found {X.ndim}-D of {X.dtype}", **where))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(X):
        raise DataError(Problem(f"{yk} must hold one target per row of {xk} ({len(X)}), found shape "
                                f"{y.shape}", **where))
    if len(X) == 0 and xk == "X":
        raise DataError(Problem(f"{xk} has no rows", **where))
    X = X.astype(np.float64)
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        i, j = bad[0]
        raise DataError(Problem(f"{xk}[{i}, {j}] is {X[i, j]}: the features must be finite numbers "
                                f"({len(bad)} cells are not)", **where))
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise DataError(Problem(f"{yk}[{int(np.flatnonzero(~np.isfinite(y))[0])}] is not a finite number", **where))
    if y.dtype.kind not in "biufUS":
        raise DataError(Problem(f"{yk} must hold numbers or strings, found {y.dtype}", **where))
    return X, (y.astype(str) if y.dtype.kind == "S" else y)


def npz_shape(path) -> tuple[int, int]:
    """(rows of all splits, columns) from the arrays' headers, without reading their data;
    (0, 0) when the file cannot be read (its loader says why)."""
    rows, cols = 0, 0
    try:
        with open_regular(path) as f, zipfile.ZipFile(f) as zf:
            for name in zf.namelist():
                if name[:-4] in ("X", "X_val", "X_test"):
                    with zf.open(name) as member:
                        fmt = np.lib.format
                        header = fmt.read_array_header_1_0 if fmt.read_magic(member) == (1, 0) \
                            else fmt.read_array_header_2_0
                        shape = header(member)[0]
                    rows += shape[0] if shape else 0
                    cols = shape[1] if len(shape) > 1 else 1
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return 0, 0
    return rows, cols
