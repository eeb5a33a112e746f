"""Weight initializers: `INITIALIZERS[name](rng, fan_in, fan_out, dtype) -> W (fan_in, fan_out)`.

He (Kaiming) init keeps the variance of ReLU activations constant through depth; Xavier (Glorot)
init balances forward and backward variance for symmetric activations (tanh, sigmoid):

    he_normal       W ~ N(0, 2 / fan_in)
    he_uniform      W ~ U(-a, a),  a = sqrt(6 / fan_in)
    xavier_normal   W ~ N(0, 2 / (fan_in + fan_out))
    xavier_uniform  W ~ U(-a, a),  a = sqrt(6 / (fan_in + fan_out))

Draws are always float64 and then cast, so a float32 run and a float64 run with the same seed
start from the same weights (up to rounding). Biases start at 0 (see `model.MLP`).
"""

from __future__ import annotations

import math

import numpy as np


def he_normal(rng: np.random.Generator, fan_in: int, fan_out: int, dtype) -> np.ndarray:
    """W ~ N(0, 2 / fan_in)."""
    std = math.sqrt(2.0 / fan_in)
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype, copy=False)


def he_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, dtype) -> np.ndarray:
    """W ~ U(-a, a), a = sqrt(6 / fan_in)."""
    bound = math.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False)


def xavier_normal(rng: np.random.Generator, fan_in: int, fan_out: int, dtype) -> np.ndarray:
    """W ~ N(0, 2 / (fan_in + fan_out))."""
    std = math.sqrt(2.0 / (fan_in + fan_out))
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype, copy=False)


def xavier_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, dtype) -> np.ndarray:
    """W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out))."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False)


INITIALIZERS = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
}
