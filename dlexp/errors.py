"""Typed errors that the CLI turns into one clear message and an exit code (2: bad input, 1: the machine).

Library code raises these; it never prints. Each problem names where it is (file, line, key
path), what was found and what would be valid, so a person can act on it without a traceback.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


def closest(name: object, candidates) -> str | None:
    """The candidate closest to `name` (difflib ratio >= 0.6), or None."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: object, candidates) -> str:
    """' (did you mean 'x'?)' when a close candidate exists, else ''."""
    match = closest(name, candidates)
    return f" (did you mean '{match}'?)" if match is not None else ""


@dataclass(frozen=True)
class Problem:
    """One located problem: `file:line: key: message`."""

    message: str
    key: str = ""
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


def printable(text: object, newlines: bool = False) -> str:
    """`text` safe for a terminal: control and other unprintable characters (ESC, BEL, CR, U+202E…)
    written as Python escapes (\\x1b, \\r, \\u202e), so a name read from a file cannot move the
    cursor, clear the screen or retitle the window; `newlines` keeps line breaks (messages)."""
    text = str(text)
    if text.isprintable():
        return text
    if newlines:
        return "\n".join(printable(line) for line in text.split("\n"))
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class DlexpError(Exception):
    """Base of every error reported without a traceback: bad input (exit 2) unless a subclass says otherwise."""

    exit_code = 2

    def __init__(self, problems: "list[Problem] | Problem | str"):
        if isinstance(problems, (str, Problem)):
            problems = [problems if isinstance(problems, Problem) else Problem(problems)]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(DlexpError):
    """A config, sweep spec or override that does not validate."""


class DataError(DlexpError):
    """A dataset that cannot be built: missing file or column, bad cell, impossible split."""


class ResultError(DlexpError):
    """A result folder or file that is missing or damaged."""


class UsageError(DlexpError):
    """A command-line argument that makes no sense."""


class ResourceError(DlexpError):
    """A config whose memory needs exceed the limit; refused before allocating."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) where a command can say what it kept: `what`, a sentence the CLI prints
    before exiting 130. A KeyboardInterrupt still, so every cleanup that expects one runs."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class StorageError(DlexpError):
    """A result file or folder that cannot be written: read-only, disk full, no permission (exit 1:
    a fault of the machine, not of the input). Raised only around writes (results.store.writing)."""

    exit_code = 1
