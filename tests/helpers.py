"""Small helpers shared by several test files (tests/ is on sys.path under pytest)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from click.testing import CliRunner

from dlexp.cli import main

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """scripts/<name>.py as a module (e.g. the torch reference runners of a golden-file script)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(*args, **kwargs):
    """`dlexp ARGS…` through click's CliRunner (paths may be Path objects)."""
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def clean_exit(r, code: int) -> None:
    """The command ended with `code` and no traceback, whatever the input."""
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == code, r.output


# A run lock held by a real second process: it takes the lock, says so, and waits for a line on
# stdin before letting go, so a test synchronises on what it printed, never on time.
HOLDER = """
import sys
from dlexp.results.locks import RunLock
lock = RunLock(sys.argv[1], sys.argv[2])
print("held" if lock.try_acquire() else "busy", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
"""


class Holder:
    """Another process that holds the lock on `rid` until told to let go (or is killed)."""

    def __init__(self, results, rid):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(results), rid], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.said = self.proc.stdout.readline().strip()

    def release(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"
        self.proc.wait()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@contextlib.contextmanager
def fed_fifo(path: Path, text: str = "a,y\n1,0\n2,1\n"):
    """A FIFO at `path` whose writer feeds `text`, then end-of-file, to each reader that opens it.

    Code that wrongly reads the FIFO gets a small file instead of blocking for ever, so a test of
    its refusal fails rather than hangs; code that refuses it leaves the writer waiting in open().
    Leaving the block stops the writer: a reader held open until the writer is done releases it,
    whether it is already waiting in open() or only gets there later.
    """
    os.mkfifo(path)
    done = threading.Event()

    def feed():
        while not done.is_set():
            try:
                with open(path, "w") as f:  # blocks until a reader opens the FIFO
                    f.write(text)
            except BrokenPipeError:  # the reader closed it unread: it refused the FIFO
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        yield path
    finally:
        done.set()
        release = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        writer.join()
        os.close(release)
