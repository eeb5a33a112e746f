"""L1/L2 penalties on Dense weights (not biases or γ/β: the notes, §2.2, say why; the biases
too with `regularization.penalize_bias`, to see the underfitting the notes warn of).

    penalty   Ω(W) = l1·Σ|W| + (l2/2)·ΣW²
    gradient  ∂Ω/∂W = l2·W + l1·sign(W)        (the L1 part only in "subgradient" mode)
    proximal  W ← sign(W)·max(|W| − lr·l1, 0)  (after each optimizer step in "proximal" mode:
                                                soft-thresholding gives exact zeros)
"""

from __future__ import annotations

import numpy as np

L1_MODES = ("subgradient", "proximal")


def penalty(weights: list[np.ndarray], l1: float, l2: float) -> float:
    """l1·Σ|W| + (l2/2)·ΣW² over all weight arrays."""
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # diverged weights: inf is the answer, not a warning
        for W in weights:
            if l1:
                total += l1 * float(np.abs(W).sum())
            if l2:
                w = W.ravel()
                total += 0.5 * l2 * float(np.dot(w, w))
    return total


def add_penalty_grads(weights, grads, l1: float, l2: float, l1_mode: str = "subgradient") -> None:
    """In place: grad += l2·W, and += l1·sign(W) when l1_mode == "subgradient"."""
    if l1_mode not in L1_MODES:
        raise ValueError(f"l1_mode must be one of {L1_MODES}, got {l1_mode!r}")
    use_l1 = bool(l1) and l1_mode == "subgradient"
    for W, g in zip(weights, grads, strict=True):
        if l2:
            g += l2 * W
        if use_l1:
            g += l1 * np.sign(W)  # sign(0) = 0: the subgradient torch's abs() backward uses


def proximal_l1(weights, lr: float, l1: float) -> None:
    """In place soft-threshold: W ← sign(W)·max(|W| − lr·l1, 0)."""
    threshold = lr * l1
    if threshold <= 0:
        return
    for W in weights:
        shrunk = np.abs(W)
        shrunk -= threshold
        np.maximum(shrunk, 0.0, out=shrunk)
        np.copysign(shrunk, W, out=W)


def weight_stats(weights) -> dict[str, float]:
    """l1_norm Σ|W|, l2_norm sqrt(ΣW²), near_zero_fraction (|w| < 1e-3), zero_fraction (w == 0)."""
    n = sum(W.size for W in weights)
    with np.errstate(over="ignore", invalid="ignore"):  # diverged weights: inf is the answer, not a warning
        l1 = sum(float(np.abs(W).sum(dtype=np.float64)) for W in weights)
        sq = sum(float(np.square(W, dtype=np.float64).sum()) for W in weights)
    near = sum(int(np.count_nonzero(np.abs(W) < 1e-3)) for W in weights)
    zero = sum(int(W.size - np.count_nonzero(W)) for W in weights)
    return {
        "l1_norm": l1,
        "l2_norm": float(np.sqrt(sq)),
        "near_zero_fraction": near / n if n else 0.0,
        "zero_fraction": zero / n if n else 0.0,
    }
