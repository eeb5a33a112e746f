"""One lock per run, so two dlexp processes never train the same run at the same time.

`<results>/runs/.locks/<run_id>.lock` is locked with flock(2): the kernel holds the lock for the
open file and drops it when its process ends however it ends (SIGKILL, power loss), so a lock
is never stale while its file is locked, and a file nobody has locked is free to take. The file
holds its owner's pid, host and start time as JSON, only to tell a waiting user who holds it.

The holder removes the file while it still holds the lock, then closes it. Whoever opened the
old file in the meantime finds, once it holds that file's lock, that the path now names another
file or none, and tries again: so two processes can never both believe they hold one run.

On a shared network filesystem the lock holds across machines when the mount supports locks
(NFSv4, or NFSv3 with lockd): Linux maps flock onto the server's byte-range locks, and the
server drops the lock of a machine that dies when that machine's lease expires.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .store import cannot_write, writing

HOST = socket.gethostname()
_HELD: dict[int, Path] = {}  # open fd → lock path, for every lock this process holds


def lock_path(results: Path, rid: str) -> Path:
    # absolute: a lock is found again however the results folder was spelt
    return Path(os.path.abspath(results)) / "runs" / ".locks" / f"{rid}.lock"


def read_holder(path: Path) -> dict | None:
    """The JSON a lock file holds, {} if it exists but is empty or unreadable, None if absent."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return info if isinstance(info, dict) else {}


def describe(info: dict | None) -> str:
    if not info:
        return "another process"
    return f"pid {info.get('pid')} on {info.get('host')}"


def _lock_file(path: Path, flags: int) -> int | None:
    """An fd of `path` locked with `flags` (never blocking), or None if another process holds
    it. The fd is returned only while `path` still names the file it locked."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder itself was removed
            with writing(path):
                path.parent.mkdir(parents=True, exist_ok=True)
            continue
        except OSError as exc:  # a read-only or full results folder: one message, not a traceback
            raise cannot_write(path, exc) from exc
        try:
            fcntl.flock(fd, flags | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # its holder removed it after we opened it: lock the file there now


def is_held(path: Path) -> bool:
    """Does a live process (this one included) hold the lock at `path`?"""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


class RunLock:
    """The lock on one run id. `try_acquire()` never blocks; `acquire()` waits for the holder."""

    def __init__(self, results: Path, rid: str):
        self.rid = rid
        self.path = lock_path(results, rid)
        self._fd: int | None = None  # flock's locks belong to an open file: two objects exclude each other

    def __repr__(self) -> str:
        return f"RunLock({self.rid!r}, held={self.held})"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> dict | None:
        return read_holder(self.path)

    def is_locked(self) -> bool:
        """Held by a live process, or by another lock object of this one."""
        return not self.held and is_held(self.path)

    def try_acquire(self) -> bool:
        """Take the lock now if nobody holds it."""
        if self.held:
            return True
        with writing(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _lock_file(self.path, fcntl.LOCK_EX)
        if fd is None:
            return False
        self._fd = fd
        _HELD[fd] = self.path
        info = json.dumps({"pid": os.getpid(), "host": HOST, "started": time.time()}).encode()
        with writing(self.path):  # the record only informs a waiting user: the lock is already ours
            os.ftruncate(fd, 0)  # a killed holder's record is still in the file
            os.pwrite(fd, info, 0)
        return True

    def acquire(self, poll: float = 0.5, on_wait=None) -> None:
        """Wait until the lock is ours; `on_wait(holder_info)` is called once if we must wait."""
        told = False
        while not self.try_acquire():
            if on_wait is not None and not told:
                on_wait(self.holder())
                told = True
            time.sleep(poll)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            _unlock(fd)

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _lock_files(results: Path) -> list[Path]:
    folder = lock_path(results, "x").parent
    return sorted(folder.glob("*.lock")) if folder.is_dir() else []


def live_locks(results: Path) -> dict[str, dict]:
    """{run_id: holder} for every run locked by a live process (for `dlexp ls`)."""
    return {p.stem: read_holder(p) or {} for p in _lock_files(results) if is_held(p)}


def clear_stale(results: Path) -> None:
    """Remove the lock files that no live process holds.

    A process killed while it held a lock leaves the file behind (the kernel dropped the lock
    itself); a sweep clears such leftovers when it starts, so nothing stays in .locks/.
    """
    for path in _lock_files(results):
        fd = _lock_file(path, fcntl.LOCK_EX)
        if fd is not None:
            _HELD[fd] = path
            _unlock(fd)


def release_mine(results: Path) -> None:
    """Release every lock this process holds under `results`.

    The last line of defence after Ctrl-C: an interrupt can land between taking a lock and
    recording it in the caller's bookkeeping, or inside `release`.
    """
    folder = lock_path(results, "x").parent
    for fd in [fd for fd, path in _HELD.items() if path.parent == folder]:
        _unlock(fd)


def _unlock(fd: int) -> None:
    """Remove the lock's file, then let go of it (in this order: see the module's docstring)."""
    path = _HELD.pop(fd, None)
    try:
        if path is not None:
            with writing(path):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
    finally:
        os.close(fd)
