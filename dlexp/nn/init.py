"""Weight initializers: `INITIALIZERS[name](rng, fan_in, fan_out, dtype) -> W (fan_in, fan_out)`.

He (Kaiming) init keeps the variance of ReLU activations constant through depth; Xavier (Glorot)
init balances forward and backward variance for symmetric activations (tanh, sigmoid):

    he_normal       W ~ N(0, 2 / fan_in)
    he_uniform      W ~ U(-a, a),  a = sqrt(6 / fan_in)
    xavier_normal   W ~ N(0, 2 / (fan_in + fan_out))
    xavier_uniform  W ~ U(-a, a),  a = sqrt(6 / (fan_in + fan_out))
    torch           W ~ U(-a, a),  a = 1 / sqrt(fan_in);  b ~ U(-a, a) too

`torch` is torch.nn.Linear's default (reset_parameters): kaiming_uniform_(a=√5) has gain
sqrt(2 / (1 + 5)) = sqrt(1/3) and bound gain·sqrt(3 / fan_in) = 1 / sqrt(fan_in). It alone draws
the biases (`BIASES[name](rng, fan_in, fan_out, dtype) -> b (fan_out,)`), after each layer's
weights as torch does; every other init starts them at 0 (see `model.MLP`) without a draw, so
its weights do not depend on what BIASES holds.

Draws are always float64 and then cast, so a float32 run and a float64 run with the same seed
start from the same weights (up to rounding).
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


def torch_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, dtype) -> np.ndarray:
    """W ~ U(-a, a), a = 1 / sqrt(fan_in) (torch.nn.Linear's kaiming_uniform_(a=√5))."""
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False)


def torch_bias(rng: np.random.Generator, fan_in: int, fan_out: int, dtype) -> np.ndarray:
    """b ~ U(-a, a), a = 1 / sqrt(fan_in) (torch.nn.Linear's bias)."""
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, fan_out).astype(dtype, copy=False)


INITIALIZERS = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "torch": torch_uniform,
}
BIASES = {"torch": torch_bias}  # inits that draw the biases; the others start them at 0
