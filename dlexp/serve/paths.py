"""Which paths the server may read: only files inside the results folder, named by safe segments.

A request names a run or a sweep by one path segment; anything else (an empty segment, `.` or
`..`, a slash or backslash however it was encoded, a NUL) is refused before any file is touched,
and the file finally opened must still lie inside the results folder once symlinks are resolved,
so a run folder that is a symlink to /etc is never read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# Run ids are hex; sweep names are letters, digits and . _ - + = , @ (sweeps/spec.py); one regex
# for both, checked after percent-decoding, so %2e%2e and %2f are refused like .. and /.
SEGMENT = re.compile(r"[A-Za-z0-9._\-+=,@]{1,255}")


def safe_segment(text: str) -> bool:
    return bool(SEGMENT.fullmatch(text)) and text not in (".", "..") and ".." not in text


def inside(root: Path, path) -> bool:
    """Is `path`, symlinks resolved, `root` itself or below it?"""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def results_file(root: Path, *parts: str) -> Path | None:
    """root/parts… when every part is a safe segment (the first ones) or a fixed file name, and
    the file it resolves to is inside `root`; else None."""
    if not all(safe_segment(p) for p in parts):
        return None
    path = Path(root).joinpath(*parts)
    return path if inside(root, path) else None
