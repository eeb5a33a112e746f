"""Losses: means over the batch, as torch.nn.CrossEntropyLoss and MSELoss ('mean') define them.

    cross_entropy  L = −(1/N)·Σₙ log softmax(zₙ)[yₙ]     dL/dz = (softmax(z) − onehot(y)) / N
    mse            L = (1/(N·K))·Σ (p − t)²             dL/dp = 2·(p − t) / (N·K)

`forward(out, y) -> float` keeps what `backward() -> dL/dout` needs; the functions
`cross_entropy` and `mse` give the loss alone, without state (for evaluation).
"""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis with the log-sum-exp shift (no overflow): (N, C) -> (N, C)."""
    shifted = logits - logits.max(axis=1, keepdims=True)  # every row's max becomes 0
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean softmax cross-entropy of logits (N, C) against integer labels (N,)."""
    logp = log_softmax(logits)
    return -float(logp[np.arange(len(y)), y].sum()) / len(y)


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean of squared errors over all elements; a (N,) target is taken as (N, 1)."""
    diff = pred - np.asarray(target, dtype=pred.dtype).reshape(pred.shape)
    return float(np.vdot(diff, diff)) / diff.size


class SoftmaxCrossEntropy:
    """Softmax + negative log-likelihood on logits (N, C) and integer labels (N,).

    With s = z − max(z) per row (so exp(s) ≤ 1 cannot overflow) and S = Σ_c exp(s):
    −log softmax(z)[y] = log S − s[y]   and   softmax(z) = exp(s) / S.
    """

    name = "cross_entropy"

    def __init__(self):
        self._rows = np.arange(0)

    def forward(self, logits: np.ndarray, y: np.ndarray) -> float:
        N = len(y)
        if len(self._rows) != N:
            self._rows = np.arange(N)  # kept: the batch size rarely changes
        # Work on logitsᵀ, (C, N): every reduction over the C classes then runs along contiguous
        # rows of N values (numpy reduces a short last axis of C ≈ 10 several times slower).
        shifted = logits.T.copy()
        shifted -= shifted.max(axis=0)  # s, (C, N)
        exp = np.exp(shifted)
        sums = exp.sum(axis=0)  # S, (N,)
        self._exp, self._sums, self._y = exp, sums, y
        return float((np.log(sums) - shifted[y, self._rows]).sum()) / N

    def backward(self) -> np.ndarray:
        dlogits = self._exp / self._sums  # softmax(z)ᵀ, (C, N)
        dlogits[self._y, self._rows] -= 1.0
        dlogits /= len(self._y)
        return dlogits.T  # (N, C)

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


class MSE:
    """Mean squared error over all N·K elements of pred (N, K) and target (N, K)."""

    name = "mse"

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        self._diff = pred - np.asarray(target, dtype=pred.dtype).reshape(pred.shape)  # (N, K)
        return float(np.vdot(self._diff, self._diff)) / self._diff.size

    def backward(self) -> np.ndarray:
        return self._diff * (2.0 / self._diff.size)

    def __repr__(self):
        return "MSE()"


LOSSES = {"cross_entropy": SoftmaxCrossEntropy, "mse": MSE}
