"""Element-wise activation layers, as torch.nn defines them (defaults included).

    relu        y = max(x, 0)                     dy/dx = [x > 0]
    leaky_relu  y = x if x > 0 else 0.01·x        dy/dx = 1 if x > 0 else 0.01
    tanh        y = tanh(x)                       dy/dx = 1 − y²
    sigmoid     y = 1 / (1 + e^(−x))              dy/dx = y·(1 − y)
    gelu        y = x·Φ(x), Φ(x) = (1 + erf(x/√2))/2   dy/dx = Φ(x) + x·φ(x)   (exact, not tanh)
    identity    y = x                             dy/dx = 1

Constants are Python floats so float32 inputs stay float32.
"""

from __future__ import annotations

import math

import numpy as np

from .layers import Layer


class ReLU(Layer):
    """y = max(x, 0); the gradient at 0 is 0, as in torch."""

    kind = "relu"

    def forward(self, x, training=True):
        # [x > 0] as 0.0/1.0 in x's dtype: multiplying by it is twice as fast as by a bool mask
        self._mask = (x > 0).astype(x.dtype)
        return x * self._mask

    def backward(self, dout):
        return dout * self._mask


class LeakyReLU(Layer):
    """y = x if x > 0 else slope·x (torch's default slope 0.01)."""

    kind = "leaky_relu"

    def __init__(self, slope: float = 0.01):
        super().__init__()
        if not 0.0 <= slope <= 1.0:
            raise ValueError(f"leaky_relu slope must be in [0, 1], got {slope}")
        self.slope = slope

    def forward(self, x, training=True):
        self._mask = x > 0
        return np.maximum(x, self.slope * x)  # = the x > 0 / x <= 0 cases when slope <= 1

    def backward(self, dout):
        return np.where(self._mask, dout, self.slope * dout)

    def __repr__(self):
        return f"LeakyReLU({self.slope})"


class Tanh(Layer):
    """y = tanh(x); dx = dout·(1 − y²)."""

    kind = "tanh"

    def forward(self, x, training=True):
        self._y = np.tanh(x)
        return self._y

    def backward(self, dout):
        y = self._y
        return dout * (1.0 - y * y)


class Sigmoid(Layer):
    """y = 1 / (1 + e^(−x)) (scipy's expit: no overflow for large |x|); dx = dout·y·(1 − y)."""

    kind = "sigmoid"

    def __init__(self):
        super().__init__()
        from scipy.special import expit  # imported when a Sigmoid is built: scipy costs ~0.3 s

        self._expit = expit

    def forward(self, x, training=True):
        self._y = self._expit(x)
        return self._y

    def backward(self, dout):
        y = self._y
        return dout * (1.0 - y) * y


_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GELU(Layer):
    """y = x·Φ(x) with the exact normal CDF Φ(x) = (1 + erf(x/√2))/2 (torch's default)."""

    kind = "gelu"

    def __init__(self):
        super().__init__()
        from scipy.special import erf  # imported when a GELU is built: scipy costs ~0.3 s

        self._erf = erf

    def forward(self, x, training=True):
        self._x = x
        self._cdf = 0.5 * (1.0 + self._erf(x * _SQRT1_2))
        return x * self._cdf

    def backward(self, dout):
        x = self._x
        pdf = np.exp(-0.5 * x * x) * _INV_SQRT_2PI  # φ(x), (N, n)
        return dout * (self._cdf + x * pdf)


class Identity(Layer):
    """y = x (a linear network, or a model without activation)."""

    kind = "identity"

    def forward(self, x, training=True):
        return x

    def backward(self, dout):
        return dout


ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "gelu": GELU,
    "identity": Identity,
}
