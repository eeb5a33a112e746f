"""Result files: writing them atomically, reading them back safely.

Layout (the result contract in the README):

    <out>/runs/<run_id>/config.yaml, metrics.csv, model.npz, summary.json [, activations.csv]
                        members/<label>/…   (repeats and CV folds: one single-run folder each)
    <out>/sweeps/<name>/sweep.yaml, manifest.json, summary.csv

A run folder is assembled in a hidden staging folder beside its final place and renamed into
place in one step, with summary.json written last; a crash leaves either the old folder, the new
one, or a staging folder that is ignored and cleaned up — never a half-written run.

numpy and PyYAML are imported inside the functions that need them, for start-up time: `dlexp ls`
and `dlexp table` read JSON and CSV only.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import shutil
import signal
import tempfile
import threading
import zipfile
from pathlib import Path

from ..errors import ResultError, StorageError
from .live import remove_live
from .summary import METRICS, NUMBERS, cell_text

DONE_STATUSES = ("completed", "diverged")
_UMASK = os.umask(0)
os.umask(_UMASK)
# A fixed timestamp inside model.npz makes the same weights give byte-identical files.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# ---------------------------------------------------------------------------------------------
# Atomic writes

MAX_NAME_BYTES = 255  # a file name's limit on every common file system
SWEEP_NAME_BYTES = 200  # a sweep's name is its folder's: room left for the files dlexp names after it


def cannot_write(path: Path, exc: OSError) -> StorageError:
    return StorageError(f"cannot write {path}: {exc.strerror or exc}")


@contextlib.contextmanager
def writing(path: Path):
    """An OSError of the writes inside (read-only, disk full, no permission) becomes one StorageError
    that names `path` and the reason; only writes go inside, so a bug elsewhere keeps its traceback."""
    try:
        yield
    except OSError as exc:
        raise cannot_write(path, exc) from exc


def file_name(stem: str, suffix: str = "", limit: int = MAX_NAME_BYTES) -> str:
    """`stem + suffix`, cut to `limit` bytes with a hash of the whole stem in place of the tail:
    names made from run and sweep names stay valid and distinct however long those are."""
    name = stem + suffix
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(stem.encode()).hexdigest()[:10]
    room = limit - len(f"-{digest}{suffix}".encode())
    return stem.encode()[:room].decode("utf-8", "ignore") + f"-{digest}{suffix}"


def atomic_write_files(files: dict) -> None:
    """Write every `{path: bytes}` so readers see all the old files or all the new ones: each is
    written and synced to a temporary file first, then all are renamed into place — a full disk
    fails before any of them is replaced (a crash between the renames can still split them)."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            with writing(path):
                path.parent.mkdir(parents=True, exist_ok=True)
                # the temporary name stays within the limit however long the file's own name is
                fd, tmp = tempfile.mkstemp(prefix=f".{file_name(path.name, limit=MAX_NAME_BYTES - 14)}.",
                                           suffix=".tmp", dir=path.parent)
                staged.append((tmp, path))
                os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are meant to be shared
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
        while staged:  # a file renamed into place leaves the list: `finally` removes the others
            tmp, path = staged[0]
            with writing(path):
                os.replace(tmp, path)
            staged.pop(0)
    finally:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never a part."""
    atomic_write_files({Path(path): data})


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _json_safe(o):
    """NaN and inf are not JSON: they become null."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_safe(v) for v in o]
    return o


def json_text(obj) -> str:
    return json.dumps(_json_safe(obj), indent=2, default=_json_default, allow_nan=False) + "\n"


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json_text(obj))


# A text cell that starts with one of these is a formula to a spreadsheet (=HYPERLINK(…), +1+cmd,
# @SUM, and tab or CR before them): written with a leading ' as OWASP advises, read back without it.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _formula_like(text: str) -> bool:
    # past any leading quotes, so that a text that really starts with ' round-trips too
    return text.lstrip("'").startswith(FORMULA_START)


def csv_safe(text: str) -> str:
    """A text cell as written to CSV: "'=1+1" for "=1+1"; numbers are never passed here."""
    return "'" + text if _formula_like(text) else text


def csv_unsafe(cell: str) -> str:
    """The text `csv_safe` was given."""
    return cell[1:] if cell.startswith("'") and _formula_like(cell[1:]) else cell


def csv_text(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows as CSV; floats in repr form so they read back to the same bits. Cells are written as
    given: a str holding text (not a number) goes through `csv_safe` first (csv_table does)."""
    if columns is None:
        columns = []
        for r in rows:
            columns.extend(k for k in r if k not in columns)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    # csv quotes a cell only for the characters of its line terminator: a row with a lone CR in
    # some cell is quoted whole, or a reader would take the CR for the end of the row
    quoted = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writerow(columns)
    for r in rows:
        cells = ["" if r.get(c) is None else (repr(r[c]) if isinstance(r[c], float) else r[c]) for c in columns]
        (quoted if any(isinstance(c, str) and "\r" in c for c in cells) else w).writerow(cells)
    return buf.getvalue()


def csv_table(rows: list[dict], columns: list[str]) -> str:
    """Table rows (summary.summary_row) as CSV (a sweep's summary.csv, `table --format csv`): text
    cells guarded against spreadsheet formulas (csv_safe); numbers, even negative ones, written
    as numbers (summary.cell_text)."""
    def cell(v) -> str:
        return csv_safe(v) if isinstance(v, str) else cell_text(v)

    return csv_text([{c: cell(r.get(c)) for c in columns} for r in rows], columns)


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    atomic_write_text(path, csv_text(rows, columns))


def npz_bytes(arrays: dict) -> bytes:
    """An .npz archive (uncompressed, no pickles) with fixed timestamps: same arrays, same bytes."""
    import numpy as np

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in arrays:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arrays[name]), allow_pickle=False)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Run folders

def runs_dir(out: Path) -> Path:
    return Path(out) / "runs"


def run_dir(out: Path, rid: str) -> Path:
    return runs_dir(out) / rid


def _write_single(folder: Path, output, config_yaml: str) -> None:
    """Files of one trained model into `folder` (not yet visible: it is a staging folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(config_yaml, encoding="utf-8")
    (folder / "metrics.csv").write_text(csv_text(output.metrics), encoding="utf-8")
    if output.state is not None:
        (folder / "model.npz").write_bytes(npz_bytes(output.state))
    if output.activations:
        (folder / "activations.csv").write_text(csv_text(output.activations), encoding="utf-8")
    for label, member in output.members:
        _write_single(folder / "members" / label, member, config_yaml)
    (folder / "summary.json").write_text(json_text(output.summary), encoding="utf-8")


def write_run(out: Path, rid: str, output, config_yaml: str, extra_files: dict[str, str] | None = None) -> Path:
    """Publish a finished run at <out>/runs/<rid>/ in one rename, replacing any previous one."""
    def fill(stage: Path) -> None:
        _write_single(stage, output, config_yaml)
        for name, text in (extra_files or {}).items():
            (stage / name).write_text(text, encoding="utf-8")

    return _publish(out, rid, fill)


def write_failed_run(out: Path, rid: str, config_yaml: str, summary: dict, traceback_text: str) -> Path:
    """A failed run keeps its config, its traceback and a summary with status 'failed'."""
    def fill(stage: Path) -> None:
        (stage / "config.yaml").write_text(config_yaml, encoding="utf-8")
        (stage / "traceback.txt").write_text(traceback_text, encoding="utf-8")
        (stage / "summary.json").write_text(json_text(summary), encoding="utf-8")

    return _publish(out, rid, fill)


def _publish(out: Path, rid: str, fill) -> Path:
    """`fill(stage)` writes the files into a staging folder, which is synced, then renamed into place."""
    final = run_dir(out, rid)
    with writing(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        stage = _make_stage(final)
        try:
            fill(stage)
            _fsync_tree(stage)
            _swap_in(stage, final)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    return final


def _make_stage(final: Path) -> Path:
    """A hidden staging folder beside `final` (mkdtemp's 0700 widened to the umask's default)."""
    stage = Path(tempfile.mkdtemp(prefix=f".stage-{final.name}-", dir=final.parent))
    os.chmod(stage, 0o777 & ~_UMASK)
    return stage


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


def _swap_in(stage: Path, final: Path) -> None:
    """Rename the staging folder to `final`; an old folder is moved aside first, then removed."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    try:
        os.replace(stage, final)
    except OSError:
        if old is not None:  # the disk refused the new run: the previous one goes back in its place
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clear_leftovers(out: Path, rid: str) -> bool:
    """Tidy what a process killed while publishing run `rid` left; True if a run was restored.

    Call it holding the run's lock (nobody else writes `rid`). A process killed between the two
    renames of `_swap_in` leaves the previous run moved aside (`.old-<rid>-<pid>`) and no run in
    its place: that complete run is put back. Staging folders and other moved-aside copies go.
    """
    runs = Path(out) / "runs"
    final = run_dir(out, rid)
    restored = False
    for old in sorted(runs.glob(f".old-{rid}-*")):
        if not final.exists() and check_run(old) is None:
            os.replace(old, final)
            restored = True
        else:
            shutil.rmtree(old, ignore_errors=True)
    for stage in runs.glob(f".stage-{rid}-*"):
        shutil.rmtree(stage, ignore_errors=True)
    remove_live(out, rid)  # the epochs of the interrupted training: it starts over
    return restored


class HoldInterrupts:
    """Ctrl-C and SIGTERM wait until the block is done, then raise KeyboardInterrupt.

    Writing a run folder takes milliseconds; an interrupt in the middle (even inside mkdtemp,
    before there is a name to clean up) would leave a staging folder behind and lose a run that
    was already computed. A signal the process ignores (SIGINT in a background job of a script,
    which a Ctrl-C in its terminal still reaches) stays ignored.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> "HoldInterrupts":
        self.caught, self.saved = None, {}
        if threading.current_thread() is threading.main_thread():
            self.saved = {s: signal.signal(s, self._note) for s in self.SIGNALS
                          if signal.getsignal(s) is not signal.SIG_IGN}
        return self

    def _note(self, signum, frame) -> None:
        self.caught = signum

    def __exit__(self, kind, value, tb) -> None:
        for s, handler in self.saved.items():
            signal.signal(s, handler)
        if self.caught is not None and kind is None:
            raise KeyboardInterrupt


# ---------------------------------------------------------------------------------------------
# Reading

def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultError(f"{path}: damaged ({exc})") from None
    if not isinstance(data, dict):
        raise ResultError(f"{path}: damaged (not a JSON object)")
    return data


def _number(text: str):
    if text == "":
        return None
    if text[0] == "'":
        unguarded = csv_unsafe(text)
        if unguarded != text:  # a text cell guarded against spreadsheet formulas
            return unguarded
    # an int when it is written as one, else a float, else text; ints are told apart without an
    # exception, which a metrics.csv of floats would raise a million times
    digits = text[1:] if text[0] == "-" else text
    if digits.isascii() and digits.isdigit():  # isdigit alone takes "²" too
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def read_csv(path: Path) -> list[dict]:
    """CSV rows with numbers parsed, text cells as `csv_safe` was given them; empty cells are None."""
    try:
        with open(path, encoding="utf-8", newline="") as f:  # newline="": a CR inside a quoted cell stays
            text = f.read()
    except FileNotFoundError:
        raise ResultError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultError(f"{path}: damaged ({exc})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ResultError(f"{path}: damaged (empty)") from None
    rows = []
    for line_no, cells in enumerate(reader, start=2):
        if len(cells) != len(header):
            raise ResultError(f"{path}:{line_no}: damaged ({len(cells)} cells, header has {len(header)})")
        rows.append({h: _number(c) for h, c in zip(header, cells)})
    return rows


def read_npz(path: Path) -> dict:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ResultError(f"{path}: missing") from None
    except Exception as exc:  # zipfile, format and value errors all mean a damaged archive
        raise ResultError(f"{path}: damaged ({type(exc).__name__}: {exc})") from None


METRICS_COLUMNS = ("epoch", "train_loss", "val_loss")


def _is_number(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _summary_problem(summary: dict) -> str | None:
    """What makes a parseable summary.json unusable to the readers (wrong types), or None."""
    if summary.get("metric", "acc") not in METRICS:
        return f"metric {summary.get('metric')!r}"
    bad = [k for k in NUMBERS if not _is_number(summary.get(k))]
    if bad:
        return f"{bad[0]} is {summary[bad[0]]!r}, not a number"
    for k in ("run_id", "name"):
        if not isinstance(summary.get(k, ""), str):
            return f"{k} is {summary[k]!r}, not a string"
    if not isinstance(summary.get("weights", {}), dict):
        return f"weights is {summary['weights']!r}, not a mapping"
    members = summary.get("members")
    if members is not None and not (isinstance(members, list) and members and all(
            isinstance(m, str) and m not in ("", ".", "..") and "/" not in m and "\\" not in m for m in members)):
        return f"members is {members!r}, not a list of member folder names"
    return None


def _metrics_problem(path: Path) -> str | None:
    rows = read_csv(path)
    if not rows:
        return f"{path}: damaged (no epoch rows)"
    missing = [c for c in METRICS_COLUMNS if c not in rows[0]]
    if missing:
        return f"{path}: damaged (no column {missing[0]!r})"
    for i, row in enumerate(rows, start=2):
        bad = [c for c, v in row.items() if not _is_number(v)]
        if bad:
            return f"{path}:{i}: damaged (column {bad[0]!r} holds {row[bad[0]]!r}, not a number)"
    return None


def _model_problem(path: Path) -> str | None:
    """model.npz read in full (CRCs checked, object arrays refused: no unpickling) and its Dense chain checked."""
    import numpy as np  # here, not at the top: `dlexp ls` and `table` start without numpy

    from ..nn.model import dense_arrays, state_key

    arrays = read_npz(path)
    for name, a in arrays.items():
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            return f"{path}: damaged ({name} has dtype {a.dtype})"
    layers = dense_arrays(arrays)
    if not layers:
        return f"{path}: damaged ({state_key('dense', 0, 'W')} missing)"
    width = None
    for i, (W, b) in enumerate(layers):
        if b is None or W.ndim != 2 or b.shape != (W.shape[1],) or (width is not None and W.shape[0] != width):
            return f"{path}: damaged ({state_key('dense', i)} W/b missing or of the wrong shape)"
        width = W.shape[1]
    return None


def check_run(folder: Path) -> str | None:
    """None if the run folder is complete and readable, else what is wrong (one line).

    Complete means what the readers rely on: summary.json a mapping with a known status and
    numbers where figures go, config.yaml a mapping, metrics.csv numeric with its columns, and
    model.npz a pickle-free archive whose every byte reads back (CRC) with a chain of Dense layers.
    """
    folder = Path(folder)
    try:
        summary = read_json(folder / "summary.json")
        status = summary.get("status")
        if status == "failed":
            return None
        if status not in DONE_STATUSES:
            return f"{folder / 'summary.json'}: damaged (status {status!r})"
        problem = _summary_problem(summary)
        if problem:
            return f"{folder / 'summary.json'}: damaged ({problem})"
        problem = _config_problem(folder / "config.yaml") or _metrics_problem(folder / "metrics.csv")
        if problem:
            return problem
        if summary.get("members"):
            for label in summary["members"]:
                problem = check_run(folder / "members" / label)
                if problem:
                    return problem
        else:
            return _model_problem(folder / "model.npz")
    except ResultError as exc:
        return str(exc)
    except (OSError, zipfile.BadZipFile) as exc:
        return f"{folder / 'model.npz'}: damaged ({exc})"
    return None


# The keys of a resolved config.yaml (config.resolved_dict), in the order they are written.
CONFIG_SECTIONS = ("data", "model", "regularization", "optimizer", "train", "eval")
CONFIG_KEYS = ("name", "seed", *CONFIG_SECTIONS, "repeats", "seeds", "repeat_data")


def load_result_yaml(text: str):
    """A YAML file dlexp wrote (config.yaml, sweep.yaml), parsed by libyaml's C loader when
    PyYAML has it: the pure-Python one takes ~10 ms per config, most of `dlexp ls` on 1,000 runs.
    Both build the same safe types."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _config_problem(path: Path) -> str | None:
    import yaml

    try:
        config = load_result_yaml(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{path}: missing"
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return f"{path}: damaged ({' '.join(str(exc).split())})"
    # A resolved config holds every key, the sections first and `repeat_data` last: a file cut
    # short loses its tail, even where the part left still parses.
    if not isinstance(config, dict) or not all(isinstance(config.get(k), dict) for k in CONFIG_SECTIONS):
        return f"{path}: damaged (not a resolved config mapping)"
    missing = [k for k in CONFIG_KEYS if k not in config]
    if missing or not isinstance(config["repeat_data"], bool):
        return f"{path}: damaged (cut short: {', '.join(missing) or 'repeat_data'} missing or garbled)"
    return None


def run_status(folder: Path) -> str:
    """'completed', 'diverged', 'failed', 'damaged' or 'missing'."""
    folder = Path(folder)
    if not (folder / "summary.json").exists():
        return "missing"
    if check_run(folder) is not None:
        return "damaged"
    return read_json(folder / "summary.json")["status"]


def is_done(folder: Path) -> bool:
    return run_status(folder) in DONE_STATUSES
