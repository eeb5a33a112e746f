"""CSV data files: parsed with every bad cell located by file, line and column.

`read_csv` reads one file with a header row into a float feature matrix and the raw target
cells; `csv_target` decides and checks the task from the target cells of all files at once.
Only the first MAX_PROBLEMS problems of a file are listed; the rest are counted.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, Problem, did_you_mean

CLASSIFICATION, REGRESSION = "classification", "regression"
MAX_AUTO_CLASSES = 20  # task auto: an integer CSV target with at most this many values is a label
MAX_PROBLEMS = 10  # bad cells reported per file; the rest are counted


@dataclass
class Table:
    """One parsed CSV file: features X (N, D) in the train file's column order, target cells."""

    path: Path
    header: list
    X: np.ndarray
    target: np.ndarray  # stripped strings
    lines: np.ndarray  # each row's line number in the file


def read_csv(key: str, path: Path, target: str, main: Table | None = None) -> Table:
    """Parse a CSV file with a header row; val/test files (`main` given) need main's columns."""
    if not path.is_file():
        raise DataError(Problem(f"no such file: {path}", key=key))
    where = dict(key=key, file=str(path))
    try:
        raw = path.read_bytes()
    except OSError as e:  # unreadable: permissions, I/O error
        raise DataError(Problem(f"cannot read it: {e.strerror or e}", **where)) from None
    bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0  # a UTF-8 byte-order mark (Excel writes one)
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as e:  # binary junk: say where the first bad byte is
        at = bom + e.start
        raise DataError(Problem(f"cannot read it as a UTF-8 CSV file: byte {raw[at]:#04x} at offset {at} "
                                "is not UTF-8 text", line=raw[:at].count(b"\n") + 1, **where)) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, end = [], 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if end > start and any("\n" in c or "\r" in c for c in row):
                raise DataError(Problem(f"a quoted cell runs from line {start} to line {end}: an unbalanced "
                                        "quote (\")?", line=start, **where))
            if any(c.strip() for c in row):  # blank lines are skipped
                rows.append(([c.strip() for c in row], end))
    except csv.Error as e:
        raise DataError(Problem(f"cannot read it as a CSV file: {e}", line=reader.line_num, **where)) from None
    if not rows:
        raise DataError(Problem("the file is empty; a header row and data rows are needed",
                                **where))
    (header, header_line), rows = rows[0], rows[1:]
    if main is not None and sorted(header) != sorted(main.header):
        missing = [c for c in main.header if c not in header]
        extra = [c for c in header if c not in main.header]
        raise DataError(Problem(f"its columns differ from {main.path.name}: missing {missing}, "
                                f"extra {extra}", line=header_line, **where))
    if target not in header:
        raise DataError(Problem(f"no target column '{target}'{did_you_mean(target, header)}; "
                                f"the columns are: {', '.join(header)}", key="data.target",
                                file=str(path), line=header_line))
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes or len(header) < 2:
        why = f"duplicate column names {dupes}" if dupes else "no feature column besides the target"
        raise DataError(Problem(why, line=header_line, **where))
    problems = [(line, f"{len(row)} values, but the header has {len(header)} columns")
                for row, line in rows if len(row) != len(header)]
    rows = [(row, line) for row, line in rows if len(row) == len(header)]
    if not rows and not problems:
        raise DataError(Problem("the file has a header but no data rows", **where))
    lines = np.array([line for _, line in rows], dtype=np.int64)
    cells = list(zip(*(row for row, _ in rows))) or [()] * len(header)  # column by column
    columns = [h for h in (main.header if main else header) if h != target]  # train file's order
    X, bad = np.empty((len(rows), len(columns))), np.zeros((len(rows), len(header)), dtype=bool)
    for k, name in enumerate(columns):
        j = header.index(name)
        X[:, k], bad[:, j] = numbers(cells[j])
    t = header.index(target)
    bad[:, t] = np.array(cells[t]) == ""
    n_bad = len(problems) + int(bad.sum())
    if n_bad:
        problems += [(int(lines[i]), f"column '{header[j]}': " + (
            f"'{cells[j][i]}' is not a number" if cells[j][i] else "empty cell"))
            for i, j in np.argwhere(bad)[:MAX_PROBLEMS]]  # row by row
        shown = [Problem(message, line=line, **where) for line, message in sorted(problems)]
        more = [Problem(f"... and {n_bad - MAX_PROBLEMS} more problem(s) in this file", **where)]
        raise DataError(shown[:MAX_PROBLEMS] + (more if n_bad > MAX_PROBLEMS else []))
    return Table(path, header, X, np.array(cells[t], dtype=str), lines)


def numbers(cells):
    """(float64 values, mask of the cells that are not finite numbers) of a sequence of strings."""
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:  # find the culprits one by one
        values = np.array([_float(c) for c in cells], dtype=np.float64)
    return values, ~np.isfinite(values)


def _float(cell):
    try:
        return float(cell)
    except ValueError:
        return np.nan


def csv_target(target: str, task: str, tables: list[Table]):
    """(task, targets) from the target cells of all files together, checked against the task.

    `task` is classification, regression or auto (decided here); `targets` holds every table's
    target in order: the cells as strings if any is text, else their float values.
    """
    cells = np.concatenate([t.target for t in tables])
    values, text = numbers(cells)
    whole = ~text & (values == np.round(values))
    if task == "auto":  # text, or a few distinct integers, is a class label
        few = whole.all() and len(np.unique(values)) <= MAX_AUTO_CLASSES
        task = CLASSIFICATION if text.any() or few else REGRESSION
    owner = np.repeat(np.arange(len(tables)), [len(t.lines) for t in tables])
    lines = np.concatenate([t.lines for t in tables])

    def at(i):  # where target cell i is
        return dict(file=str(tables[owner[i]].path), line=int(lines[i]))

    if task == REGRESSION and text.any():
        raise DataError([Problem(f"column '{target}': '{cells[i]}' is not a number, and a "
                                 "regression target must be", key="data.target", **at(i))
                         for i in np.flatnonzero(text)[:MAX_PROBLEMS]])
    if task == CLASSIFICATION and not text.any() and not whole.all():
        i = int(np.flatnonzero(~whole)[0])
        raise DataError(Problem(f"column '{target}': {cells[i]} is not a whole number: a "
                                "regression target for a classification loss (use task: "
                                "regression or auto)", key="data.task", **at(i)))
    return task, (cells if text.any() else values)
