"""The live file: the epochs of a run still training, readable while it trains.

    <results>/runs/.live-<run_id>.jsonl     beside the run's staging folder, hidden like it

The process that trains appends one JSON object per line: a header first
(`{"live": 1, "run_id", "name", "epochs", "members", "started"}`, `epochs` the most a member can
train, `members` how many models the run trains), then one line per finished epoch, the row that
metrics.csv will hold plus `member` (the member's label, e.g. `seed0` or `seed0-fold2`). Each line
is written whole and flushed, so a reader sees every finished epoch; a last line without its
newline is an epoch being written, and is left for the next read.

The live file is progress, not a result: the run folder is still published in one rename (store.py)
and the file is removed once it is. Whether the run is still training is the run's lock
(locks.py), which the kernel drops when the process holding it dies however it dies: a live file
whose lock nobody holds is a run that was interrupted, and the next `dlexp run` or `dlexp sweep`
of that run removes it (store.clear_leftovers).
"""

from __future__ import annotations

import datetime
import json
import math
import os
from pathlib import Path

LIVE_PREFIX = ".live-"
LIVE_SUFFIX = ".jsonl"


def live_path(results: Path, rid: str) -> Path:
    return Path(results) / "runs" / f"{LIVE_PREFIX}{rid}{LIVE_SUFFIX}"


def live_rid(path: Path) -> str | None:
    """The run id a live file's name holds, or None for any other name."""
    name = Path(path).name
    if name.startswith(LIVE_PREFIX) and name.endswith(LIVE_SUFFIX):
        return name[len(LIVE_PREFIX):-len(LIVE_SUFFIX)] or None
    return None


def remove_live(results: Path, rid: str) -> None:
    try:
        os.unlink(live_path(results, rid))
    except OSError:  # never written (a reused run), or already gone
        pass


def _finite(v):
    """A JSON-able cell: numpy scalars as Python numbers, NaN and inf as null (as summary.json)."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class LiveLog:
    """Appends a training run's epochs to its live file. Progress is best effort: a disk that
    refuses a line stops the live file, never the training (the run folder says the rest)."""

    def __init__(self, path: Path, rid: str, name: str, epochs: int, members: int):
        self.path, self.member_label = Path(path), ""
        self.file = None
        try:
            self.file = open(self.path, "w", encoding="utf-8")  # a retried task starts the file over
        except OSError:
            return
        self._write({"live": 1, "run_id": rid, "name": name, "epochs": epochs, "members": members,
                     "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})

    def __repr__(self) -> str:
        return f"LiveLog({str(self.path)!r})"

    def _write(self, obj: dict) -> None:
        if self.file is None:
            return
        try:
            self.file.write(json.dumps(obj, allow_nan=False) + "\n")
            self.file.flush()  # a reader sees the epoch as soon as it ended
        except (OSError, ValueError):
            self.close()

    def member(self, label: str, index: int, total: int) -> None:
        self.member_label = label

    def epoch(self, row: dict) -> None:
        self._write({"member": self.member_label, **{k: _finite(v) for k, v in row.items()}})

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None


def read_live(path: Path) -> dict | None:
    """{"header": {...}, "rows": [epoch rows, in order]} of a live file, or None when it is gone
    or holds no header yet."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    header, rows = None, []
    for line in text.split("\n")[:-1]:  # the part after the last newline is still being written
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        if header is None:
            if obj.get("live") != 1:
                return None
            header = obj
        else:
            rows.append(obj)
    return None if header is None else {"header": header, "rows": rows}
