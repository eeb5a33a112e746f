"""MNIST-1D (Greydanus 2020, "Scaling down deep learning", arXiv:2011.14439): the ten digits as
1-D signals of 40 points, made locally by the `mnist1d` package's `make_dataset` (no download).

With its default arguments make_dataset gives the published data: 5,000 signals in a shuffled
order, the first 4,000 (`x`, `y`) for training and the last 1,000 (`x_test`, `y_test`) for
testing. dlexp keeps that test split whole and carves val from the training rows (datasets.py).
The package is imported on first use (it loads scipy, requests and matplotlib's pyplot: ~1.5 s),
and each set of arguments is generated once per process (~6 s at the defaults), so a sweep's
runs share one draw. `get_dataset` is never called: it downloads.
"""

from __future__ import annotations

import random
from functools import lru_cache

import numpy as np

from ..errors import DataError, Problem

FEATURES, CLASSES = 40, 10  # at the default arguments (final_seq_length features)


def _args(cfg) -> tuple:
    """The generator's arguments of the `data:` section `cfg`, as a hashable cache key."""
    return tuple((k, tuple(v) if isinstance(v, (list, tuple)) else v)
                 for k, v in cfg.mnist1d.model_dump().items())


@lru_cache(maxsize=8)
def _generate(args: tuple) -> tuple[np.ndarray, np.ndarray, int]:
    """(X (N, L), y (N,), n_train): make_dataset's rows in its order, x then x_test, read-only."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:  # a required dependency, but an environment may have lost it
        raise DataError(Problem(f"mnist1d needs the `mnist1d` package ({e}): pip install mnist1d",
                                key="data.name")) from None

    kwargs = get_dataset_args()  # an ObjectView; `url` stays unused
    for k, v in args:
        setattr(kwargs, k, list(v) if isinstance(v, tuple) else v)
    # make_dataset seeds Python's and NumPy's global generators: what else uses them is left as it was
    state, np_state = random.getstate(), np.random.get_state()
    try:
        made = make_dataset(kwargs)
    finally:
        random.setstate(state)
        np.random.set_state(np_state)
    X = np.concatenate([made["x"], made["x_test"]]).astype(np.float64)
    y = np.concatenate([made["y"], made["y_test"]]).astype(np.int64)
    X.setflags(write=False)  # one cached draw feeds every run of the process
    y.setflags(write=False)
    return X, y, len(made["y"])


def make(cfg):
    """Every row (training rows first), x0…x{L-1}, and the class names '0'…'9'."""
    X, y, _ = _generate(_args(cfg))
    return X, y, [f"x{j}" for j in range(X.shape[1])], [str(c) for c in range(CLASSES)]


def n_test(cfg) -> int:
    """How many of make's rows, at the end, are the package's test split."""
    X, _, n_train = _generate(_args(cfg))
    return len(X) - n_train


def size(cfg) -> tuple[int, int]:
    """(rows, features) of cfg's data, without making it."""
    return cfg.mnist1d.num_samples, cfg.mnist1d.final_seq_length
