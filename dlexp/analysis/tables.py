"""Summary tables of runs and sweeps, and the listing of a results folder.

One row per run, built from summary.json only (never the trainer): the swept values first, then
the run's figures. The same rows make a sweep's summary.csv and `dlexp table`'s output, in text
(rich, on a terminal), markdown, csv or json.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from .. import labels
from ..errors import UsageError, did_you_mean, printable
from ..results.locks import live_locks
from ..results.reader import Sweep, resolve_all
from ..results.checks import Checks
from ..results.store import csv_table, json_text, read_json
from ..results.summary import FIGURES, cell_text, columns_of, summary_row
from .subset import describe, select

FORMATS = ("text", "markdown", "csv", "json")
# What text and markdown show unless --columns says otherwise (csv and json show every column).
COMPACT = ("name", "run_id", "status", "epochs_run", "best_epoch", "train_loss", "val_loss", "test_loss",
           "train_acc", "val_acc", "test_acc", "train_r2", "val_r2", "test_r2", "gap", "diagnosis")


# ---------------------------------------------------------------------------------------------
# dlexp table

def collect_rows(targets, out: Path, where=()) -> tuple[list[dict], list[str]]:
    """Rows of every run named by `targets` (run folders or ids, sweep folders or names); with
    `where` ([(key, value)], subset.parse_where) only the runs that hold it."""

    rows, swept, named = [], [], len(targets) > 1
    found_all = resolve_all(targets, out)
    kept = {id(r) for r in select([r for f in found_all for r in (f.runs if isinstance(f, Sweep) else [f])],
                                  list(where))} if where else None
    for found in found_all:
        if isinstance(found, Sweep):
            swept += [k for k in found.swept if k not in swept]
            rows += [summary_row(r.summary, r.point, r.run_id, name=found.name if named else None)
                     for r in found.runs if kept is None or id(r) in kept]
        else:
            named = True
            if kept is None or id(found) in kept:
                rows.append(summary_row(found.summary, {}, found.run_id, name=found.name))
    if named:
        for r in rows:
            r.setdefault("name", "")
    return rows, (["name"] if named else []) + swept


def _by_header(name: str, columns: list[str]) -> str:
    """A column named as the text table heads it (l2 for regularization.l2), or as it is."""
    if name in columns:
        return name
    return next((c for c, h in _headers(columns).items() if h == name and h != c), name)


def _sort_key(value):
    if value is None:
        return (2, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, cell_text(value))


def sort_rows(rows: list[dict], column: str, valid: list[str]) -> list[dict]:
    """Sort by `column` (ascending; a leading '-' for descending); empty cells go last."""
    desc = column.startswith("-")
    name = _by_header(column.lstrip("-"), valid)
    if name not in valid:
        raise UsageError(f"--sort: no column {name!r}{did_you_mean(name, valid)}; columns: {', '.join(valid)}")
    present = [r for r in rows if r.get(name) is not None]
    missing = [r for r in rows if r.get(name) is None]
    return sorted(present, key=lambda r: _sort_key(r[name]), reverse=desc) + missing


def pick_columns(rows: list[dict], lead: list[str], fmt: str, wanted: str | None,
                 wide: bool = False) -> tuple[list[str], list[str]]:
    """(columns shown, every column available). Text and markdown show the COMPACT ones (text
    with `wide`: all of them), each `_std` column folded into its figure as "± std"."""
    available = columns_of(rows, lead)
    std_free = [c for c in available if not c.endswith("_std")]
    if wanted:
        chosen = [_by_header(c.strip(), available) for c in wanted.split(",") if c.strip()]
        for c in chosen:
            if c not in available:
                raise UsageError(f"--columns: no column {c!r}{did_you_mean(c, available)}; "
                                 f"columns: {', '.join(available)}")
        return chosen, available
    if fmt in ("csv", "json"):
        return available, available
    if wide and fmt == "text":
        return std_free, available
    return [c for c in std_free if c in lead or c in COMPACT], available


def _text_cell(row: dict, col: str, shown: list[str]) -> str:
    v = row.get(col)
    if isinstance(v, float):
        text = f"{v:.4g}"
        std = row.get(col + "_std")
        if std is not None and col + "_std" not in shown:
            text += f" ± {std:.2g}"
        return text
    return cell_text(v)


def render(rows: list[dict], columns: list[str], fmt: str, title: str = "") -> str:
    """Rows as markdown, csv or json text (text format: see print_text). Markdown, for people,
    escapes control characters (errors.printable); csv and json keep every value exact."""
    if fmt == "csv":
        return csv_table(rows, columns)
    if fmt == "json":
        return json_text([{c: r.get(c) for c in columns} for r in rows])
    if fmt == "markdown":
        def esc(s: str) -> str:
            return printable(s).replace("|", "\\|")

        def align(c: str) -> str:
            numeric = any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in rows)
            return "---:" if numeric else "---"

        lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join(align(c) for c in columns) + " |"]
        lines += ["| " + " | ".join(esc(_text_cell(r, c, columns)) for c in columns) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")


STATUS_STYLE = {"completed": "green", "diverged": "yellow", "failed": "red", "damaged": "bold red",
                "running": "cyan", "pending": "dim"}
# Which columns a text table keeps when the terminal is too narrow for all of them, most wanted
# first: what tells the runs apart (the lead columns: name, swept values, always kept), how they
# ended and how well they did; the others go first, right to left.
PRIORITY = ("status", "val_acc", "val_r2", "gap", "diagnosis", "run_id", "val_loss", "train_loss", "train_acc",
            "train_r2", "test_acc", "test_r2", "test_loss", "epochs_run", "best_epoch")
UNLIMITED = 0  # print_text's width for a table as wide as its cells, whatever the terminal
LEAD_FLOOR = 24  # a name column is cut to no less than this to make room for the priority columns
SHORT_ID = 8  # of a run id's 12 hex digits, as many as a text table shows (any unique prefix resolves)


def _with_spread(v: float, std: float) -> str:
    """A mean and its spread as an error bar is read: the spread to two significant digits when
    its first is 1 or 2, else to one; the mean to the same decimal place (at most four
    significant digits): 4.546 ± 1.61 → 4.5 ± 1.6, 0.8173 ± 0.0083 → 0.817 ± 0.008, 412.3 ±
    12.4 → 412 ± 12."""
    first = math.floor(math.log10(std))
    places = (1 if f"{std:.1e}"[0] in "12" else 0) - first  # decimal places of the spread's last digit
    if places > 6 or abs(v) >= 1e6:  # far below a unit (2.5e-08 ± 7e-08) or huge: scientific notation
        return f"{v:.3g} ± {std:.2g}"
    places = max(0, places)
    mean = f"{v:.{places}f}"
    if len(mean.replace("-", "").replace(".", "").lstrip("0")) > 4:  # the spread is tiny beside the mean
        mean = f"{v:.4g}"
    return f"{mean} ± {std:.{places}f}"


def _fitted_cell(row: dict, col: str) -> str:
    """A cell for people: a figure to four digits with its spread over seeds or folds, unless the
    spread is below the last digit shown (400 ± 0 over three seeds reads 400)."""
    v, std = row.get(col), row.get(col + "_std")
    if not isinstance(v, float) or std is None or not math.isfinite(v) or not math.isfinite(std):
        return _text_cell(row, col, [col + "_std"])
    text = f"{v:.4g}"
    if f"{v - std:.4g}" == text == f"{v + std:.4g}":
        return text
    return _with_spread(v, std)


def _headers(columns: list[str]) -> dict[str, str]:
    """Column headers: a swept key by its leaf (regularization.l2 → l2) unless two share a leaf."""
    short = {c: labels.short_key(c) if "." in c and c not in FIGURES else c for c in columns}
    names = list(short.values())
    return {c: s if names.count(s) == 1 else c for c, s in short.items()}


def fit_columns(widths: dict[str, int], width: int, priority=PRIORITY) -> dict[str, int]:
    """The columns (in their order) that fit `width` terminal cells, and the width of each: the
    columns not in `priority` (the lead) always, then the priority ones, most wanted first, while
    they fit at their full width. A lead column wider than LEAD_FLOOR counts as that wide while
    they are chosen, and gets back what room is left: a long name is cut ("…") rather than let
    it push the status out. A rich SIMPLE_HEAD table is 3 cells wider than its columns, each,
    plus 1."""
    lead = {c: min(w, LEAD_FLOOR) for c, w in widths.items() if c not in priority}
    kept = dict(lead)
    used = sum(w + 3 for w in lead.values()) + 1
    for c in (c for c in priority if c in widths):
        if used + widths[c] + 3 <= width:
            kept[c] = widths[c]
            used += widths[c] + 3
    for c in lead:  # the room left, to the cut lead columns, in order
        extra = min(widths[c] - kept[c], max(0, width - used))
        kept[c] += extra
        used += extra
    return {c: kept[c] for c in widths if c in kept}


def _left_out(dropped: list[str], width: int) -> str:
    """The caption under a table that kept some columns out: how many, and their names as far as
    `width` (the table's) allows."""
    text = f"{labels.count(len(dropped), 'more column')} with --wide: "
    for i, c in enumerate(dropped):
        rest = ", …" if i < len(dropped) - 1 else ""
        if len(text) + len(c) + len(rest) > width - 2 and i:
            return text + "…"
        text += c + (", " if rest else "")
    return text


def print_text(rows: list[dict], columns: list[str], title: str = "", file=None, width: int | None = None,
               priority=PRIORITY) -> None:
    """A rich table: coloured on a terminal; plain, unwrapped and without trailing blanks when piped.

    `width`: the terminal cells it may take (default: the terminal's, when `file` is one; else
    UNLIMITED). Within a limit, no cell or header wraps: run ids are cut to SHORT_ID digits, columns that
    hold nothing are left out, and then the columns that do not fit, by `priority` (the caption
    names them). Cells and title are shown as they are: no rich markup ([bold] prints as typed),
    no control characters (escaped as \\x1b)."""

    # rich here, not at the top, for start-up time: csv, json and markdown output never need it
    from rich.cells import cell_len
    from rich.console import Console

    file = file or sys.stdout
    terminal = file.isatty() if hasattr(file, "isatty") else False
    if width is None:
        width = Console(file=file).width if terminal else UNLIMITED
    cells = {c: [_fitted_cell(r, c) for r in rows] for c in columns}
    headers = _headers(columns)
    dropped, fitted = [], {}
    if width:
        if "run_id" in cells:
            cells["run_id"] = [_short_id(rid, cells["run_id"]) for rid in cells["run_id"]]
        filled = [c for c in columns if c not in priority or any(cells[c])]
        widths = {c: max([cell_len(printable(t)) for t in cells[c]] + [cell_len(printable(headers[c]))])
                  for c in filled}
        fitted = fit_columns(widths, width, priority)
        dropped = [c for c in columns if c not in fitted and c in widths]
        columns = list(fitted)
        width = min(width, sum(w + 3 for w in fitted.values()) + 1)
    shown_widths = {c: fitted[c] if width else max([cell_len(printable(t)) for t in cells[c]]
                                                    + [cell_len(printable(headers[c]))]) for c in columns}
    right = {c: any(labels.is_number(r.get(c)) for r in rows) for c in columns}
    color = terminal and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    styles = [{c: ANSI.get(STATUS_STYLE.get(cells[c][i], ""), "") if color and c == "status" else ""
               for c in columns} for i in range(len(rows))]
    caption = _left_out(dropped, width) if dropped else ""
    lines = _box_lines(printable(title), printable(caption), [printable(headers[c]) for c in columns],
                       [[printable(cells[c][i]) for c in columns] for i in range(len(rows))],
                       [shown_widths[c] for c in columns], [right[c] for c in columns],
                       [[styles[i][c] for c in columns] for i in range(len(rows))])
    if terminal:
        file.write("\n".join(lines) + "\n")
        return
    file.write("\n".join(line.rstrip() for line in lines).strip("\n") + "\n")


# ANSI colours of the status cells on a terminal (STATUS_STYLE's names); NO_COLOR or TERM=dumb: none
ANSI = {"green": "\x1b[32m", "yellow": "\x1b[33m", "red": "\x1b[31m", "bold red": "\x1b[1;31m",
        "cyan": "\x1b[36m", "dim": "\x1b[2m"}


def _box_lines(title: str, caption: str, headers: list[str], rows: list[list[str]], widths: list[int],
               right: list[bool], styles: list[list[str]]) -> list[str]:
    """The table as lines, laid out as rich's SIMPLE_HEAD box (a rule under the header, no other
    lines; two spaces at each edge, three between columns), drawn here: rich takes ~0.5 s for
    1,000 rows. A cell wider than its column is cut with "…"; a style is an ANSI prefix."""
    from rich.cells import cell_len, set_cell_size

    def cell(text: str, w: int, at_right: bool, style: str = "") -> str:
        if cell_len(text) > w:
            text = set_cell_size(text, max(0, w - 1)) + "…" if w else ""
        fill = " " * (w - cell_len(text))
        text = f"{style}{text}\x1b[0m" if style else text
        return fill + text if at_right else text + fill

    def line(texts, row_styles=None) -> str:
        row_styles = row_styles or [""] * len(texts)
        return "  " + "   ".join(cell(t, w, r, st) for t, w, r, st in zip(texts, widths, right, row_styles)) + "  "

    inner = sum(widths) + 3 * (len(widths) - 1) + 2
    out = [title] if title else []
    out += ["", line(headers), " " + "─" * inner + " "]
    out += [line(r, st) for r, st in zip(rows, styles)]
    out += [""] + ([caption] if caption else [])
    return out


def _short_id(rid: str, all_ids: list[str]) -> str:
    """A run id cut to SHORT_ID digits, longer where two ids of the table share that prefix."""
    n = SHORT_ID
    while n < len(rid) and any(o != rid and o[:n] == rid[:n] for o in all_ids):
        n += 2
    return rid[:n]


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(printable(text))


def show_table(targets, out: Path = Path("results"), fmt: str = "text", sort: str | None = None,
               columns: str | None = None, file=None, wide: bool = False, width: int | None = None,
               where=()) -> int:
    """`dlexp table`: print the runs of `targets`; returns how many rows were shown.

    Text fits `width` (default: the terminal's; see print_text) unless `wide` or `columns` asks
    for columns by name: then every one of them is shown, whatever the width."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    rows, lead = collect_rows(targets, out, where)
    if not rows:  # every target skipped (warned above) or not finished yet
        raise UsageError("nothing to show: " + ", ".join(map(str, targets))
                         + f" {labels.plural(len(targets), 'holds', 'hold')} no readable finished run")
    shown, available = pick_columns(rows, lead, fmt, columns, wide)
    if sort:
        rows = sort_rows(rows, sort, available)
    file = file or sys.stdout
    if fmt == "text":
        title = ", ".join(str(t) for t in targets) if len(targets) == 1 else ""
        title += f" ({describe(where)})" if where and title else ""
        print_text(rows, shown, title, file, UNLIMITED if wide or columns else width)
    else:
        file.write(render(rows, shown, fmt))
    return len(rows)


# ---------------------------------------------------------------------------------------------
# dlexp ls

def list_results(out: Path = Path("results")) -> dict:
    """{'runs': [...], 'sweeps': [...]} of a results folder; damaged entries are flagged, never fatal."""

    out = Path(out)
    locked = live_locks(out)
    runs, status_of = [], {}
    runs_dir = out / "runs"
    checks = Checks(runs_dir)
    folders = [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")] if runs_dir.is_dir() else []
    for folder in sorted(folders, key=lambda p: (_mtime(p), p.name)):
        row = {"run_id": folder.name, "name": "", "status": "damaged", "epochs": None, "metric": None,
               "val": None, "val_loss": None, "problem": None}
        try:
            problem = checks.problem(folder) if (folder / "summary.json").exists() else \
                "no summary.json (unfinished or damaged)"
            if problem:
                row["problem"] = problem
            else:
                s = read_json(folder / "summary.json")
                metric = s.get("metric", "acc")
                row.update(name=s.get("name", ""), status=s.get("status", "?"), epochs=s.get("epochs_run"),
                           metric=metric, val=s.get(f"val_{metric}"), val_loss=s.get("val_loss"),
                           problem=s.get("error"))
        except Exception as exc:  # anything unreadable is a damaged run, not a crash
            row["problem"] = f"{type(exc).__name__}: {exc}"
        if folder.name in locked:
            row["status"] = "running"
        status_of[folder.name] = row["status"]
        runs.append(row)
    for rid, info in locked.items():
        if rid not in status_of:
            runs.append({"run_id": rid, "name": "", "status": "running", "epochs": None, "metric": None,
                         "val": None, "val_loss": None, "problem": f"pid {info.get('pid')} on {info.get('host')}"})
            status_of[rid] = "running"
    checks.save()
    return {"runs": runs, "sweeps": _list_sweeps(out, status_of)}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile (a rerun swapping it in)
        return 0.0


def _list_sweeps(out: Path, status_of: dict) -> list[dict]:
    sweeps = []
    folder = out / "sweeps"
    for sweep in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if folder.is_dir() else []:
        row = {"name": sweep.name, "points": None, "runs": None, "done": None, "failed": None,
               "damaged": None, "swept": "", "problem": None}
        try:
            manifest = read_json(sweep / "manifest.json")
            rids = list(dict.fromkeys(p.get("run_id") for p in manifest.get("points", [])))
            states = [status_of.get(r, "pending") for r in rids]
            row.update(points=len(manifest.get("points", [])), runs=len(rids),
                       done=sum(s in ("completed", "diverged") for s in states),
                       failed=states.count("failed"), damaged=states.count("damaged"),
                       swept=", ".join(manifest.get("swept", [])))
        except Exception as exc:
            row["problem"] = str(exc)
        sweeps.append(row)
    return sweeps


# dlexp ls on a narrow terminal: the run id and name always (see PRIORITY), then these
LISTING_PRIORITY = ("status", "done", "val", "failed", "damaged", "note", "epochs", "swept", "points", "val_loss")


def show_listing(out: Path = Path("results"), as_json: bool = False, file=None, wide: bool = False,
                 width: int | None = None) -> None:
    """`dlexp ls`: runs (oldest first) and sweeps, as two tables or one JSON object; the tables
    fit `width` (see print_text) unless `wide`."""
    file = file or sys.stdout
    found = list_results(out)
    if as_json:
        file.write(json_text(found))
        return
    if not found["runs"] and not found["sweeps"]:
        print(f"no runs or sweeps in {printable(out)}", file=sys.stderr)
        return
    runs = [{"run_id": r["run_id"], "name": r["name"], "status": r["status"], "epochs": r["epochs"],
             "val": (f"{r['metric']} {r['val']:.4g}" if isinstance(r["val"], (int, float)) else ""),
             "val_loss": r["val_loss"], "note": r["problem"] or ""} for r in found["runs"]]
    if runs:
        print_text(runs, list(runs[0]), f"runs in {out}", file, UNLIMITED if wide else width,
                   LISTING_PRIORITY)
    sweeps = [{"name": s["name"], "done": "" if s["runs"] is None else f"{s['done']}/{s['runs']}",
               "failed": s["failed"] or "", "damaged": s["damaged"] or "", "points": s["points"],
               "swept": s["swept"], "note": s["problem"] or ""} for s in found["sweeps"]]
    if sweeps:
        print_text(sweeps, list(sweeps[0]), f"sweeps in {out}", file, UNLIMITED if wide else width,
                   LISTING_PRIORITY)
