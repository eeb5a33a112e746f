"""Which run folders are sound, remembered between readers: `dlexp ls` and `dlexp table` on 1,000 runs.

store.check_run reads a run's every file (its config, every metrics row, every byte of
model.npz): about a millisecond and a half per run, most of `dlexp ls` and `dlexp table` on a
large results folder. A run folder does not change once published, so its verdict is kept in
<results>/runs/.checked.json, keyed by the size, modification time and inode of each of its
files: a run published again, repaired or damaged afterwards has other files, and is checked
again. As in git's index, a file modified within MARGIN seconds of its check is not remembered:
a second change in the same clock tick could leave its time and size as they were.

The file is a cache: losing it costs one full check per run, a folder that refuses it (read-only)
is checked every time, and a damaged one is ignored. It is written atomically, as every result file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .store import atomic_write_text, check_run

FILE = ".checked.json"
MARGIN = 2.0  # seconds: files younger than this at the check are not remembered
VERSION = 1  # of the checks: a new check_run gets a new number, and every run is checked anew


class Checks:
    """check_run for the run folders of one results folder, remembered in runs/.checked.json."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = Path(runs_dir)
        self.known: dict = {}
        self.changed = False
        try:
            data = json.loads((self.runs_dir / FILE).read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("runs"), dict):
                self.known = data["runs"]
        except (OSError, ValueError):
            pass  # none yet, or damaged: every run is checked

    def problem(self, folder: Path) -> str | None:
        """check_run(folder), from the cache when its files are the ones checked."""
        folder = Path(folder)
        key = folder.name
        signature = _signature(folder)
        entry = self.known.get(key)
        if signature is not None and isinstance(entry, dict) and entry.get("files") == signature:
            return entry.get("problem")
        problem = check_run(folder)
        if signature is not None and _settled(folder, signature):
            self.known[key] = {"files": signature, "problem": problem}
            self.changed = True
        return problem

    def save(self) -> None:
        """Write the cache if it learned something; a folder that refuses it is no error."""
        if not self.changed:
            return
        present = {p.name for p in self.runs_dir.iterdir()} if self.runs_dir.is_dir() else set()
        runs = {k: v for k, v in self.known.items() if k in present}  # runs deleted since are forgotten
        try:
            atomic_write_text(self.runs_dir / FILE, json.dumps({"version": VERSION, "runs": runs}))
        except Exception:  # a read-only folder, a full disk: the cache is only a cache
            pass
        self.changed = False


def _signature(folder: Path) -> list | None:
    """[relative path, size, mtime_ns, inode] of every file under `folder`, sorted; None if it
    cannot be read whole."""
    out = []
    try:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                st = os.stat(os.path.join(root, name))
                out.append([os.path.relpath(os.path.join(root, name), folder), st.st_size, st.st_mtime_ns, st.st_ino])
    except OSError:
        return None
    return out or None


def _settled(folder: Path, signature: list) -> bool:
    """Every file older than MARGIN: a change within its clock tick cannot hide from the signature."""
    newest = max(mtime for _, _, mtime, _ in signature) / 1e9
    return time.time() - newest > MARGIN
