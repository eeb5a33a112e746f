"""Memory estimate of a run, checked before anything is allocated.

An absurd config (n_samples 10^9, hidden [10^6, 10^6]) must be refused with a clear message
instead of swapping the machine to death or dying with a MemoryError halfway. The estimate is
deliberately rough but on the safe side; it is recorded in every summary.json.
"""

from __future__ import annotations

import math
import os
import re

from ..data.csvfile import SNIFFED
from ..data.datasets import DATASETS
from ..data.npzfile import npz_shape
from ..data.files import open_regular
from ..errors import Problem, ResourceError

LIMIT_ENV = "DLEXP_MAX_MEMORY"
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3,
          "t": 1024**4, "tb": 1024**4}


def _data_shape(d) -> tuple[int, int, int]:
    """(rows, input features before expansion, outputs) of the data section, without loading it."""
    if d.name == "csv":
        rows, feats = _csv_shape(d.path, d.delimiter)
        for extra in (d.val_path, d.test_path):
            if extra:
                rows += _csv_shape(extra, d.delimiter)[0]
        outputs = 0
    elif d.name == "npz":
        (rows, feats), outputs = npz_shape(d.path), 0
    else:
        rows, feats, outputs = DATASETS[d.name].shape(d)
    # at least 3 outputs: a CSV's class count is unknown before it is read, and the estimate
    # errs on the safe side
    return int(rows), int(feats), max(3, outputs)


def _csv_shape(path, delimiter: str | None = None) -> tuple[int, int]:
    """Rows estimated from the file size and the header's width (no full parse); a delimiter
    to be sniffed counts as the one of SNIFFED the header holds most of. One-hot encoding may
    widen the features; a categorical column's categories are few (MAX_AUTO_CATEGORIES)."""
    try:
        with open_regular(path) as f:  # a FIFO would block the open, /dev/zero this readline
            size = os.fstat(f.fileno()).st_size
            header = f.readline()
            first = f.readline() or header
    except OSError:  # missing or no regular file: the data loader says so
        return 0, 0
    cols = max(header.count(c.encode()) for c in (delimiter or SNIFFED)) + 1
    return max(1, size // max(1, len(first))), max(1, cols - 1)


def expanded_features(n: int, degree: int) -> int:
    """Columns after PolynomialFeatures(degree, include_bias=False) on n features."""
    return math.comb(n + degree, degree) - 1 if degree > 1 else n


def estimate_parts(exp) -> dict[str, int]:
    """Peak memory of training `exp`, roughly, in bytes (data + model + optimizer + batches),
    split by the config key that drives each part."""
    rows, feats, outputs = _data_shape(exp.data)
    feats = expanded_features(feats, exp.data.poly_degree)
    item = 4 if exp.train.dtype == "float32" else 8
    # data: generated in float64, split, standardized, cast, plus one shuffled copy per epoch
    data = rows * (feats + 1) * (8 * 4 + item * 2)
    widths = [feats, *exp.model.hidden, outputs]
    params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    # parameters, gradients, up to three optimizer states, and a best-epoch copy
    model = params * item * 6
    batch = rows if exp.train.batch_size == "full" else min(rows, int(exp.train.batch_size))
    chunk = max(batch, min(rows, 8192))
    # forward caches and backward buffers of the widest pass (training batch or evaluation chunk)
    activations = chunk * sum(widths) * item * 4
    return {DATASETS[exp.data.name].size_key: int(data), "model.hidden": int(model + activations)}


def memory_limit() -> int:
    """DLEXP_MAX_MEMORY (e.g. '4GB') if set, else 80 % of physical memory."""
    text = os.environ.get(LIMIT_ENV)
    if text:
        m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", text)
        if m and m.group(2).lower() in _UNITS:
            return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
        raise ResourceError(Problem(f"{text!r} is not a size; use e.g. 512MB or 8GB", key=LIMIT_ENV))
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.8)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 * 1024**3


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"  # pragma: no cover


def check_memory(exp) -> int:
    """The estimate in bytes; ResourceError (exit 2) if it exceeds the limit."""
    parts = estimate_parts(exp)
    need = sum(parts.values())
    limit = memory_limit()
    if need > limit:
        key = max(parts, key=parts.get)  # name the key that costs the most
        rows, rows_key = _data_shape(exp.data)[0], DATASETS[exp.data.name].size_key
        raise ResourceError(Problem(
            f"this run needs about {human(need)} of memory, above the limit of {human(limit)} "
            f"(data {human(parts[rows_key])} with {rows_key}={rows}; model and batches "
            f"{human(parts['model.hidden'])} with model.hidden={exp.model.hidden}); shrink the data or the model, "
            f"or raise the limit with {LIMIT_ENV}=…", key=key))
    return need
