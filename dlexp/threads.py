"""The environment variables that size the BLAS thread pools numpy's linear algebra uses.

dlexp's networks are small: a multithreaded BLAS spends more time synchronising its threads
than multiplying on them (ten times slower was seen on 2 busy cores), and sweeps run one
process per core anyway. Each variable must be set before numpy is first imported in a process.
"""

from __future__ import annotations

import os

BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
            "NUMEXPR_NUM_THREADS")


def default_to_one_thread() -> None:
    """One BLAS thread in this process unless the user set a variable otherwise."""
    for name in BLAS_ENV:
        os.environ.setdefault(name, "1")
