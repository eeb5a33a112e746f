"""One lock file per run, so two dlexp processes never train the same run at the same time.

`<out>/runs/.locks/<run_id>.lock` is created with O_CREAT|O_EXCL (exactly one creator wins) and
holds the owner's pid, hostname and start time as JSON. A lock whose owner is gone — a pid that
is no longer alive on this host, or alive but started after the lock was taken (a reused pid) —
is stale and is taken over. Locks from other hosts are always respected: their pids cannot be
checked from here.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .store import cannot_write, writing

HOST = socket.gethostname()
# A lock file that is still empty (its creator is between open() and write()) or a takeover
# guard is only presumed abandoned after this many seconds.
GRACE_SECONDS = 10.0


def lock_path(out: Path, rid: str) -> Path:
    return Path(out) / "runs" / ".locks" / f"{rid}.lock"


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


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def _process_start(pid: int) -> tuple[float | None, str | None]:
    """(start time in epoch seconds, state letter) of `pid` from /proc, or (None, None)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(")") + 2:].split()
    state, ticks = fields[0], int(fields[19])
    boot = _boot_time()
    if boot is None:
        return None, state
    return boot + ticks / os.sysconf("SC_CLK_TCK"), state


def pid_alive(pid: int, since: float | None = None) -> bool:
    """Is `pid` a live process on this host (that started no later than `since`)?"""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    start, state = _process_start(pid)
    if state in ("Z", "X"):
        return False  # exited, not yet reaped
    # A pid reused by a process born after the lock was taken does not own the lock.
    return not (since is not None and start is not None and start > since + 2.0)


def holder_alive(info: dict | None, path: Path | None = None) -> bool:
    """Is the lock described by `info` held by a live process (or one we cannot check)?"""
    if info is None:
        return False
    if not info:  # empty or garbled: being written right now, or left by a crash mid-write
        try:
            return time.time() - Path(path).stat().st_mtime < GRACE_SECONDS if path else False
        except OSError:
            return False
    if info.get("host") != HOST:
        return True
    return pid_alive(info.get("pid"), info.get("started"))


def describe(info: dict | None) -> str:
    if not info:
        return "another process"
    return f"pid {info.get('pid')} on {info.get('host')}"


class RunLock:
    """The lock on one run id. `try_acquire()` never blocks; `acquire()` waits for a live holder."""

    def __init__(self, out: Path, rid: str):
        self.rid = rid
        self.path = lock_path(out, rid)
        self.held = False

    def __repr__(self) -> str:
        return f"RunLock({self.rid!r}, held={self.held})"

    def holder(self) -> dict | None:
        return read_holder(self.path)

    def is_locked(self) -> bool:
        """Held by a live process other than this lock object."""
        return not self.held and holder_alive(self.holder(), self.path)

    def try_acquire(self) -> bool:
        """Take the lock now if it is free or stale; False if a live process holds it."""
        if self.held:
            return True
        with writing(self.path):  # a read-only or full results folder: one message, not a traceback
            self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                info = read_holder(self.path)
                if holder_alive(info, self.path):
                    return False
                self._break_stale(info)
                continue
            except OSError as exc:
                raise cannot_write(self.path, exc) from exc
            try:
                with writing(self.path), os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump({"pid": os.getpid(), "host": HOST, "started": time.time()}, f)
                    f.flush()
                    os.fsync(f.fileno())
            except BaseException:
                os.unlink(self.path)  # an empty lock would keep every other process waiting a while
                raise
            self.held = True
            return True
        return False

    def acquire(self, poll: float = 0.5, on_wait=None) -> None:
        """Wait until the lock is ours; `on_wait(holder_info)` is called once if we must wait."""
        told = False
        while not self.try_acquire():
            if on_wait is not None and not told:
                on_wait(self.holder())
                told = True
            time.sleep(poll)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        info = read_holder(self.path)
        if info and info.get("pid") == os.getpid() and info.get("host") == HOST:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _break_stale(self, seen: dict | None) -> None:
        """Remove a stale lock — under a guard file, so two processes that both found it stale
        cannot remove each other's fresh lock."""
        guard = self.path.with_name(self.path.name + ".break")
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:  # a guard left by a process killed mid-takeover
                if time.time() - guard.stat().st_mtime > GRACE_SECONDS:
                    os.unlink(guard)
            except OSError:
                pass
            time.sleep(0.05)
            return
        except OSError as exc:  # a read-only results folder: a stale lock cannot be cleared either
            raise cannot_write(guard, exc) from exc
        os.close(fd)
        try:
            now = read_holder(self.path)
            if now == seen and not holder_alive(now, self.path):
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        finally:
            os.unlink(guard)


def live_locks(out: Path) -> dict[str, dict]:
    """{run_id: holder} for every run locked by a live process (for `dlexp ls`)."""
    folder = Path(out) / "runs" / ".locks"
    found = {}
    if folder.is_dir():
        for p in folder.glob("*.lock"):
            info = read_holder(p)
            if holder_alive(info, p):
                found[p.stem] = info or {}
    return found


def clear_stale(out: Path) -> None:
    """Remove every stale lock under `out`.

    A process killed after publishing a run but before releasing its lock leaves a lock on a run
    that is done: nobody will train that run again to take the lock over, so a sweep clears such
    leftovers when it starts.
    """
    folder = lock_path(out, "x").parent
    for path in sorted(folder.glob("*.lock")) if folder.is_dir() else ():
        info = read_holder(path)
        if info is not None and not holder_alive(info, path):
            RunLock(out, path.stem)._break_stale(info)


def release_mine(out: Path) -> None:
    """Remove every lock this process holds under `out`.

    The last line of defence after Ctrl-C: an interrupt can land between creating a lock file and
    recording it, or inside `release`, so the caller's bookkeeping is not enough.
    """
    folder = lock_path(out, "x").parent
    for path in folder.glob("*.lock") if folder.is_dir() else ():
        info = read_holder(path)
        if info and info.get("pid") == os.getpid() and info.get("host") == HOST:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
