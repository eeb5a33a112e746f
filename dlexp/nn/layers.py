"""Layers with parameters or state: Dense, BatchNorm, LayerNorm, Dropout, ShiftNoise.

Every layer follows one protocol (activations in `activations.py` too):

    kind     str, the npz name stem ("dense", "batchnorm", ...)
    params   {name: array}  trainable; optimizers update these arrays IN PLACE, never rebind them
    grads    {name: array}  same keys and shapes; OVERWRITTEN in place by every backward
    buffers  {name: array}  non-trainable state saved in model.npz (BatchNorm running stats)
    forward(x, training) -> y   keeps what backward needs
    backward(dout) -> dx        fills grads, returns dL/dx

Layers keep the input dtype (float32 or float64) and never modify their inputs or `dout`.
Definitions follow torch.nn (Linear, BatchNorm1d, LayerNorm, Dropout) exactly, defaults included;
ShiftNoise has no torch counterpart (it injects a covariate shift for study (h6)).
"""

from __future__ import annotations

import numpy as np


class Layer:
    """Base: no params, no grads, no buffers; subclasses set `kind` and override the rest."""

    kind = "layer"

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Dense(Layer):
    """y = x @ W + b, with W of shape (in, out) (torch.nn.Linear stores W.T).

    dW = xᵀ·dout,  db = Σₙ dout,  dx = dout·Wᵀ
    """

    kind = "dense"

    def __init__(self, W: np.ndarray, b: np.ndarray):
        super().__init__()
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ValueError(f"Dense needs W (in, out) and b (out,), got {W.shape} and {b.shape}")
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.need_dx = True  # the first layer of a model can skip dx = dout @ Wᵀ
        self._x = None

    @property
    def n_in(self) -> int:
        return self.params["W"].shape[0]

    @property
    def n_out(self) -> int:
        return self.params["W"].shape[1]

    def forward(self, x, training=True):
        self._x = x
        y = x @ self.params["W"]  # (N, in) @ (in, out) -> (N, out)
        y += self.params["b"]  # in place: saves a second (N, out) array
        return y

    def backward(self, dout):
        x, W = self._x, self.params["W"]
        np.dot(x.T, dout, out=self.grads["W"])  # (in, N) @ (N, out) -> (in, out)
        dout.sum(axis=0, out=self.grads["b"])  # (out,)
        if not self.need_dx:
            return None
        return dout @ W.T  # (N, out) @ (out, in) -> (N, in)

    def __repr__(self):
        return f"Dense({self.n_in} -> {self.n_out})"


class BatchNorm(Layer):
    """torch.nn.BatchNorm1d over the feature axis of (N, n) inputs.

    training:  x̂ = (x − μ_B) / sqrt(σ²_B + eps),  y = γ·x̂ + β   (σ²_B biased)
               running_mean ← (1 − m)·running_mean + m·μ_B
               running_var  ← (1 − m)·running_var  + m·σ²_B·N/(N − 1)   (unbiased)
               m = momentum, or 1/num_batches_tracked when momentum is None (cumulative average)
    eval:      x̂ = (x − running_mean) / sqrt(running_var + eps)
    """

    kind = "batchnorm"

    def __init__(self, n: int, momentum: float | None = 0.1, eps: float = 1e-5, dtype=np.float32):
        super().__init__()
        self.n, self.momentum, self.eps = n, momentum, eps
        self.params = {"gamma": np.ones(n, dtype), "beta": np.zeros(n, dtype)}
        self.grads = {"gamma": np.zeros(n, dtype), "beta": np.zeros(n, dtype)}
        self.buffers = {"running_mean": np.zeros(n, dtype), "running_var": np.ones(n, dtype)}
        self.num_batches_tracked = 0  # torch keeps it as a buffer; here a plain attribute
        self._x = self._xhat = self._inv_std = None
        self._training = False

    def forward(self, x, training=True):
        gamma, beta = self.params["gamma"], self.params["beta"]
        self._training = training
        if not training:
            # y = x·scale + shift, two passes over x: evaluation runs on whole splits
            self._x, self._inv_std = x, 1.0 / np.sqrt(self.buffers["running_var"] + self.eps)
            scale = gamma * self._inv_std  # (n,)
            y = x * scale
            y += beta - self.buffers["running_mean"] * scale
            return y

        N = x.shape[0]
        if N < 2:
            raise ValueError(
                f"batchnorm needs more than 1 sample per training batch (got {N}): "
                "the variance of one sample is 0; use a batch size that leaves no batch of 1"
            )
        mean = x.sum(axis=0) / N  # (n,); sum/N: ndarray.mean's overhead shows at small N
        xc = x - mean  # (N, n)
        var = np.einsum("ij,ij->j", xc, xc) / N  # biased batch variance, (n,)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xc *= inv_std  # xc becomes x̂ in place
        self._xhat, self._inv_std = xc, inv_std
        self._update_running(mean, var, N)
        y = xc * gamma
        y += beta
        return y

    def _update_running(self, mean, var, N):
        self.num_batches_tracked += 1
        m = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        # in place: the buffers are the arrays state_dict()/load_state_dict() see
        rm *= 1.0 - m
        rm += m * mean
        rv *= 1.0 - m
        rv += (m * N / (N - 1)) * var  # unbiased variance into the running estimate

    def backward(self, dout):
        """Through the batch statistics in training mode:

        dx = inv_std · (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),  dx̂ = dout·γ
        In eval mode the statistics are constants: dx = dout·γ·inv_std.
        """
        if self._training:
            xhat = self._xhat
        else:
            xhat = (self._x - self.buffers["running_mean"]) * self._inv_std
        np.einsum("ij,ij->j", dout, xhat, out=self.grads["gamma"])  # Σₙ dout·x̂, (n,)
        np.sum(dout, axis=0, out=self.grads["beta"])
        scale = self.params["gamma"] * self._inv_std  # (n,)
        if not self._training:
            return dout * scale
        N = dout.shape[0]
        # dx̂·inv_std = dout·scale; mean(dx̂·x̂) = γ·dgamma/N, mean(dx̂) = γ·dbeta/N
        dx = dout - self.grads["beta"] / N
        dx -= xhat * (self.grads["gamma"] / N)
        dx *= scale
        return dx

    def __repr__(self):
        return f"BatchNorm({self.n}, momentum={self.momentum})"


class LayerNorm(Layer):
    """torch.nn.LayerNorm over the last axis: per sample, the same in training and eval.

    x̂ = (x − mean(x)) / sqrt(var(x) + eps)  (biased var over features),  y = γ·x̂ + β
    dx = inv_std · (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),  means over features, dx̂ = dout·γ
    """

    kind = "layernorm"

    def __init__(self, n: int, eps: float = 1e-5, dtype=np.float32):
        super().__init__()
        self.n, self.eps = n, eps
        self.params = {"gamma": np.ones(n, dtype), "beta": np.zeros(n, dtype)}
        self.grads = {"gamma": np.zeros(n, dtype), "beta": np.zeros(n, dtype)}
        self._xhat = self._inv_std = None

    def forward(self, x, training=True):
        n = x.shape[1]
        xc = x - x.sum(axis=1, keepdims=True) / n  # (N, n)
        var = np.einsum("ij,ij->i", xc, xc)[:, None] / n  # (N, 1)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xc *= inv_std  # xc becomes x̂ in place
        self._xhat, self._inv_std = xc, inv_std
        y = xc * self.params["gamma"]
        y += self.params["beta"]
        return y

    def backward(self, dout):
        xhat, n = self._xhat, dout.shape[1]
        np.einsum("ij,ij->j", dout, xhat, out=self.grads["gamma"])
        np.sum(dout, axis=0, out=self.grads["beta"])
        dxhat = dout * self.params["gamma"]  # (N, n)
        proj = np.einsum("ij,ij->i", dxhat, xhat)[:, None] / n  # mean(dx̂·x̂), (N, 1)
        dx = dxhat - dxhat.sum(axis=1, keepdims=True) / n
        dx -= xhat * proj
        dx *= self._inv_std
        return dx

    def __repr__(self):
        return f"LayerNorm({self.n})"


DROPOUT_MODES = ("inverted", "classic")


class Dropout(Layer):
    """Drop each unit with probability `rate`; mask = rng.random(x.shape) >= rate.

    inverted (torch):  training y = x·mask/(1 − rate),  eval y = x
    classic (notes):   training y = x·mask,             eval y = x·(1 − rate)
    """

    kind = "dropout"

    def __init__(self, rate: float, mode: str = "inverted", rng: np.random.Generator | None = None):
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        if mode not in DROPOUT_MODES:
            raise ValueError(f"dropout mode must be one of {DROPOUT_MODES}, got {mode!r}")
        self.rate, self.mode, self.rng = float(rate), mode, rng
        self._keep = None  # what dout is multiplied by in backward: array, scalar or None

    def forward(self, x, training=True, mask=None):
        """`mask` (bool, x.shape; True = keep) replaces the random draw, for tests."""
        if self.rate == 0.0:
            self._keep = None
            return x
        if not training:
            self._keep = None if self.mode == "inverted" else 1.0 - self.rate
            return x if self._keep is None else x * self._keep
        if mask is None:
            if self.rng is None:
                raise ValueError("Dropout needs an rng to draw masks in training")
            mask = self.rng.random(x.shape) >= self.rate  # float64 draws: same masks in float32
        # inverted: mask·(1/(1−rate)) equals torch's mask/(1−p) exactly, as mask is 0 or 1
        scale = 1.0 / (1.0 - self.rate) if self.mode == "inverted" else 1.0
        self._keep = np.multiply(mask, scale, dtype=x.dtype)  # (N, n)
        return x * self._keep

    def backward(self, dout):
        return dout if self._keep is None else dout * self._keep

    def __repr__(self):
        return f"Dropout({self.rate}, {self.mode})"


class ShiftNoise(Layer):
    """An injected internal covariate shift: in training, each unit's input is scaled and shifted
    by amounts drawn anew at every step, so the layer above never sees the same distribution twice.

    training:  y = x·e^u + v,  u, v ~ U(−a, a) per unit (n,), one draw per forward;  dx = dout·e^u
    eval:      y = x
    a = 1 moves a unit's mean by up to ±1 and scales its spread by e^±1 (0.37 … 2.7) from step to
    step. After a norm layer this restores, during training, the drift the norm took away
    (Santurkar et al. 2018, "How does batch normalization help optimization?").
    """

    kind = "shift_noise"

    def __init__(self, amount: float, rng: np.random.Generator | None = None):
        super().__init__()
        if not amount >= 0.0:
            raise ValueError(f"shift noise must be >= 0, got {amount}")
        self.amount, self.rng = float(amount), rng
        self._scale = None  # what dout is multiplied by in backward: (n,) or None

    def forward(self, x, training=True, shift=None):
        """`shift` = (u, v), two (n,) arrays, replaces the random draw, for tests."""
        if not training or self.amount == 0.0:
            self._scale = None
            return x
        if shift is None:
            if self.rng is None:
                raise ValueError("ShiftNoise needs an rng to draw shifts in training")
            a, n = self.amount, x.shape[1]
            shift = self.rng.uniform(-a, a, n), self.rng.uniform(-a, a, n)  # float64: same draws in float32
        u, v = shift
        self._scale = np.exp(u).astype(x.dtype)  # (n,)
        y = x * self._scale
        y += v.astype(x.dtype)
        return y

    def backward(self, dout):
        return dout if self._scale is None else dout * self._scale

    def __repr__(self):
        return f"ShiftNoise({self.amount})"
