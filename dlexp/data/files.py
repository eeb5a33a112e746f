"""Data files are read only when they are regular files.

A FIFO blocks its reader until a writer comes (for ever, if none does), /dev/zero feeds it
without end, and a directory holds no rows: each is refused by name before a byte is read.
Every reader of a data file (the CSV parser, the run id's digest, the memory estimate) opens it
here. No numpy: the config layer uses this too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import DataError, Problem

KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
         (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
         (stat.S_ISSOCK, "a socket"))


class NotRegularFile(OSError):
    """A path that exists but is no regular file; str() says what it is."""


def _refusal(path, mode: int) -> str:
    kind = next((name for test, name in KINDS if test(mode)), "not a regular file")
    return f"{path} is {kind}, not a regular file"


def open_regular(path) -> BinaryIO:
    """`path` opened for binary reading; FileNotFoundError, NotRegularFile or another OSError.

    The type is checked on the open descriptor, so a path swapped after a check cannot slip by.
    """
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer (no effect on
    # regular files)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(_refusal(path, mode))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(key: str, path: Path) -> bytes:
    """The whole file named by config key `key`; DataError if it is missing, no regular file or
    unreadable."""
    try:
        with open_regular(path) as f:
            return f.read()
    except FileNotFoundError:
        raise DataError(Problem(f"no such file: {path}", key=key)) from None
    except NotRegularFile as e:
        raise DataError(Problem(str(e), key=key)) from None
    except OSError as e:  # permissions, I/O error
        raise DataError(Problem(f"cannot read it: {e.strerror or e}", key=key, file=str(path))) from None


def not_regular(path) -> str | None:
    """Why an existing `path` is no data file ("… is a directory, not a regular file"), else None.

    None too for a missing or unreadable path: its reader says so where it opens it.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else _refusal(path, mode)
