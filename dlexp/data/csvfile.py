"""CSV data files: parsed with every malformed row located by file and line.

`read_csv` reads one file, with a header row or without one (columns x0, x1, …), with a given
or sniffed delimiter, into its cells as text; columns.py decides which columns are numbers,
categories or missing. `csv_target` decides and checks the task from the target cells of all
files at once. Only the first MAX_PROBLEMS problems of a file are listed; the rest are counted.
Every step is linear in the number of cells, so a file 100,000 columns wide loads.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, Problem, did_you_mean
from .files import read_bytes

CLASSIFICATION, REGRESSION = "classification", "regression"
MAX_AUTO_CLASSES = 20  # task auto: an integer CSV target with at most this many values is a label
MAX_PROBLEMS = 10  # bad cells reported per file; the rest are counted


@dataclass
class Table:
    """One parsed CSV file: every cell as a stripped string, in the file's own column order."""

    path: Path
    header: list  # column names: the header row's, or x0, x1, … for a file without one
    cells: np.ndarray  # (N, W) str: the data rows
    lines: np.ndarray  # (N,) each row's line number in the file
    target_column: str = ""  # the target's name in `header`
    delimiter: str = ","  # the one given, or the one sniffed from the file

    def column(self, name: str) -> np.ndarray:
        """The cells (N,) of column `name`."""
        return self.cells[:, self.header.index(name)]

    def subset(self, keep: np.ndarray) -> "Table":
        """The rows where `keep` (N,) is true."""
        return Table(self.path, self.header, self.cells[keep], self.lines[keep], self.target_column,
                     self.delimiter)


def read_csv(key: str, path: Path, target: str | int, main: Table | None = None, *, header: bool = True,
             check_header: bool = True, delimiter: str | None = None, ignored=()) -> Table:
    """Parse a CSV file; val/test files (`main` given) need main's columns but those `ignored`.

    header=False: every row is data and the columns are named x0, x1, …; `target` may then be a
    column index (negative from the end). With a header, one that reads as data is refused
    (check_header=False trusts it). delimiter None: sniffed from the file's start (`SNIFFED`).
    Cells stay text: which columns are numbers, categories or missing is decided by columns.py.
    """
    where = dict(key=key, file=str(path))
    rows, delimiter = _rows(key, path, delimiter)
    if not rows:
        need = "a header row and data rows are needed" if header else "data rows are needed"
        raise DataError(Problem(f"the file is empty; {need}", **where))
    if header:
        (names, header_line), rows = rows[0], rows[1:]
    else:
        names, header_line = [f"x{j}" for j in range(len(rows[0][0]))], rows[0][1]
    width = "the header has" if header else f"line {header_line} has"
    problems = [Problem(f"{len(row)} values, but {width} {len(names)} columns", line=line, **where)
                for row, line in rows if len(row) != len(names)]
    if problems:
        more = [Problem(f"... and {len(problems) - MAX_PROBLEMS} more row(s) of the wrong length in this file",
                        **where)]
        raise DataError(problems[:MAX_PROBLEMS] + (more if len(problems) > MAX_PROBLEMS else []))
    if header and check_header and _looks_like_data(names, rows):
        shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
        raise DataError(Problem(
            f"the first row ({shown}) looks like data, not column names: each of its cells over a "
            f"column of numbers is a number. A file without a header row needs data.header: false "
            f"(columns x0 … x{len(names) - 1}; data.target may then be a column index); if this row "
            f"is the header, say data.header: true",
            key="data.header", file=str(path), line=header_line))
    if main is not None and not header and len(names) != len(main.header):
        raise DataError(Problem(f"{len(names)} columns, but {main.path.name} has {len(main.header)}",
                                line=header_line, **where))
    if main is not None:
        mine, theirs = set(names) - set(ignored), set(main.header) - set(ignored)
        if mine != theirs:
            missing = [c for c in main.header if c in theirs - mine]
            extra = [c for c in names if c in mine - theirs]
            raise DataError(Problem(f"its columns differ from {main.path.name}: missing {missing}, "
                                    f"extra {extra}", line=header_line, **where))
    target = _target_column(target, names, header, path, header_line)
    dupes = sorted(c for c, n in Counter(names).items() if n > 1)
    if dupes or len(names) < 2:
        why = f"duplicate column names {dupes}" if dupes else "no feature column besides the target"
        raise DataError(Problem(why, line=header_line, **where))
    if not rows:
        raise DataError(Problem("the file has a header but no data rows", **where))
    lines = np.array([line for _, line in rows], dtype=np.int64)
    cells = np.array([row for row, _ in rows], dtype=str).reshape(len(rows), len(names))
    return Table(path, names, cells, lines, target, delimiter)


SNIFFED = ",;\t|"  # the delimiters data.delimiter: null chooses from
SNIFF_BYTES = 1 << 16  # the start of the file the delimiter is sniffed from


def _delimiter(key: str, path: Path, text: str) -> str:
    """The delimiter of `text`: the one of SNIFFED that splits its first lines into equal widths
    (csv.Sniffer), a comma when none does or the file has one column."""
    sample = text[:SNIFF_BYTES]
    if len(text) > SNIFF_BYTES:  # whole lines only: a cut one would spoil the widths
        sample = sample[:sample.rfind("\n") + 1] or sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=SNIFFED).delimiter
    except csv.Error:  # no consistent choice: the common case
        return ","


def _rows(key: str, path: Path, delimiter: str | None) -> tuple[list, str]:
    """(the non-blank rows of the file as ([stripped cells], line number of the row's end),
    the delimiter used)."""
    where = dict(key=key, file=str(path))
    raw = read_bytes(key, path)
    bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0  # a UTF-8 byte-order mark (Excel writes one)
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as e:  # binary junk: say where the first bad byte is
        at = bom + e.start
        raise DataError(Problem(f"cannot read it as a UTF-8 CSV file: byte {raw[at]:#04x} at offset {at} "
                                "is not UTF-8 text", line=raw[:at].count(b"\n") + 1, **where)) from None
    if delimiter is None:
        delimiter = _delimiter(key, path, text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
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
    return rows, delimiter


def _looks_like_data(names: list, rows: list) -> bool:
    """Whether a header row reads as a data row: every one of its cells over a column of numbers
    is a number itself (a header-less file whose target happens to name a first-row value)."""
    if names == [str(j) for j in range(len(names))]:
        return False  # 0, 1, 2, …: the names pandas writes for unnamed columns

    def numeric(j):  # column j holds only numbers (vacuously so without data rows)
        return _all_numbers([row[j] for row, _ in rows])

    # a name over a column of numbers marks a real header; in most files column 0 shows it
    if any(numeric(j) for j, name in enumerate(names) if not _number(name)):
        return False
    return any(numeric(j) for j, name in enumerate(names) if _number(name))


def _number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _all_numbers(cells) -> bool:
    try:
        return bool(np.isfinite(np.array(cells, dtype=np.float64)).all())
    except ValueError:
        return False


def _target_column(target: str | int, names: list, header: bool, path: Path, line: int) -> str:
    """The name of the target column: `target` itself, or the name at index `target`."""
    where = dict(key="data.target", file=str(path), line=line)
    if isinstance(target, int) and not isinstance(target, bool):
        if header:
            raise DataError(Problem(f"{target} is a column index, which needs data.header: false; with a "
                                    "header row give the column's name", **where))
        if not -len(names) <= target < len(names):
            raise DataError(Problem(f"column index {target} is out of range: the file has {len(names)} "
                                    f"columns (0 to {len(names) - 1}, or -{len(names)} to -1 from the end)",
                                    **where))
        return names[target]
    if target not in names:
        hint = "" if header else f" (no header row: the columns are x0 … x{len(names) - 1}, or give an index)"
        columns = ", ".join(names) if len(names) <= 20 else ", ".join(names[:20]) + f", … ({len(names)} in all)"
        raise DataError(Problem(f"no target column '{target}'{did_you_mean(target, names)}{hint}; "
                                f"the columns are: {columns}", **where))
    return target


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


def target_task(task: str, values: np.ndarray, text: np.ndarray) -> str:
    """`task`, or for auto the task of targets `values` (float; NaN where `text` is set): text,
    or a few distinct whole numbers (at most MAX_AUTO_CLASSES), is a class label."""
    if task != "auto":
        return task
    whole = ~text & (values == np.round(values))
    few = whole.all() and len(np.unique(values)) <= MAX_AUTO_CLASSES
    return CLASSIFICATION if text.any() or few else REGRESSION


def csv_target(target: str, task: str, tables: list[Table]):
    """(task, targets) from the target cells of all files together, checked against the task.

    `task` is classification, regression or auto (decided here); `targets` holds every table's
    target in order: the cells as strings if any is text, else their float values.
    """
    cells = np.concatenate([t.column(target) for t in tables])
    values, text = numbers(cells)
    whole = ~text & (values == np.round(values))
    task = target_task(task, values, text)
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
