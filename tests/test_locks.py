"""Run locks (results/locks.py): flock held by a live process, dropped by the kernel when it dies.

A holder is a real second process that takes the lock, says so on stdout and then waits for a
line on stdin: every step is synchronised on what it printed, never on time.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from dlexp.results import locks
from dlexp.results.locks import RunLock, clear_stale, live_locks, lock_path, release_mine
from helpers import Holder

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")

def test_a_lock_held_by_another_process_is_refused_until_released(tmp_path):
    holder = Holder(tmp_path, "abc")
    try:
        assert holder.said == "held"
        mine = RunLock(tmp_path, "abc")
        assert mine.is_locked() and not mine.try_acquire()
        assert mine.holder()["pid"] == holder.proc.pid
        assert live_locks(tmp_path) == {"abc": mine.holder()}
        holder.release()
        assert not lock_path(tmp_path, "abc").exists()  # the holder removed its file
        assert not mine.is_locked() and mine.try_acquire()
        assert json.loads(lock_path(tmp_path, "abc").read_text())["pid"] == os.getpid()
    finally:
        holder.proc.kill()
    mine.release()
    assert not lock_path(tmp_path, "abc").exists() and live_locks(tmp_path) == {}


def test_the_lock_of_a_killed_process_is_free_at_once_and_its_file_cleared(tmp_path):
    holder = Holder(tmp_path, "abc")
    assert holder.said == "held"
    holder.kill()
    path = lock_path(tmp_path, "abc")
    assert path.exists() and json.loads(path.read_text())["pid"] == holder.proc.pid  # its record stays
    assert not RunLock(tmp_path, "abc").is_locked() and live_locks(tmp_path) == {}
    clear_stale(tmp_path)
    assert not path.exists()


def test_clear_stale_keeps_a_lock_that_a_live_process_holds(tmp_path):
    holder = Holder(tmp_path, "live")
    dead = Holder(tmp_path, "dead")
    dead.kill()
    try:
        clear_stale(tmp_path)
        assert lock_path(tmp_path, "live").exists() and not lock_path(tmp_path, "dead").exists()
        assert RunLock(tmp_path, "live").is_locked()
    finally:
        holder.release()


def test_two_lock_objects_exclude_each_other_inside_one_process(tmp_path):
    a, b = RunLock(tmp_path, "r"), RunLock(tmp_path, "r")
    assert a.try_acquire() and a.held and not b.try_acquire() and b.is_locked()
    a.release()
    assert b.try_acquire()
    b.release()


def test_a_lock_file_replaced_between_open_and_flock_is_locked_again(tmp_path, monkeypatch):
    """The holder of the old file removed it just after we opened it: the lock we then get is on
    a file no path names. The check of the inode sends us back to lock the file that is there."""
    path = lock_path(tmp_path, "r")
    path.parent.mkdir(parents=True)
    real_open, opened = os.open, []

    def racing_open(p, flags, *mode):
        fd = real_open(p, flags, *mode)
        if not opened:  # first open: the old holder unlinks, and a new process creates it anew
            os.unlink(p)
            real_open(p, os.O_CREAT | os.O_WRONLY, 0o644)
        opened.append(fd)
        return fd

    monkeypatch.setattr(locks.os, "open", racing_open)
    lock = RunLock(tmp_path, "r")
    assert lock.try_acquire()
    monkeypatch.undo()
    assert len(opened) == 2  # tried again after the first fd turned out to name a removed file
    assert os.fstat(lock._fd).st_ino == os.stat(path).st_ino
    lock.release()


def test_release_mine_lets_go_of_every_lock_this_process_holds(tmp_path):
    held = [RunLock(tmp_path, r) for r in ("a", "b")]
    other = RunLock(tmp_path / "elsewhere", "c")
    assert all(lock.try_acquire() for lock in [*held, other])
    release_mine(tmp_path)
    assert list((tmp_path / "runs" / ".locks").iterdir()) == []
    again = RunLock(tmp_path, "a")
    assert again.try_acquire()
    again.release()
    assert RunLock(tmp_path / "elsewhere", "c").is_locked()  # another results folder: untouched
    release_mine(tmp_path / "elsewhere")
    assert not lock_path(tmp_path / "elsewhere", "c").exists()
