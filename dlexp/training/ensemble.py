"""The ensemble of a run's members (repeats, CV folds): their averaged predictions, scored as one model.

Classification averages the members' class probabilities and scores the average like a model's
softmax output:

    p̄ = (1/M)·Σₘ softmax(zₘ)          loss = −(1/N)·Σₙ log p̄ₙ[yₙ]          acc = mean(argmax p̄ₙ = yₙ)

with log p̄ = logsumexp over m of log softmax(zₘ) − log M, so that one member's confident mistake
(a probability that rounds to 0) costs what it costs instead of log 0. Regression averages the
outputs in the target's units, ŷ = (1/M)·Σₘ (σₘ·oₘ + μₘ), and scores the MSE in each member's
standardized units (ŷ and y through member m's (μₘ, σₘ)), averaged over the members as their own
losses are; with one shared split (repeats) that is the plain MSE of the averaged outputs. R² is
in the first member's standardized units (for one target: the target's own units, the same R²).

Only members that did not diverge take part, and only splits every member predicted for the same
rows (see `shared_splits`).
"""

from __future__ import annotations

import math

import numpy as np

from ..nn.losses import log_softmax
from .train import r_squared


def shared_splits(cv: bool, data_seeds: set[int]) -> tuple[str, ...]:
    """The splits whose rows every member predicted: val and test for repeats on one split; test
    alone for CV folds (each fold validates on its own rows); none when members drew their own
    data (repeat_data: every data seed makes its own split)."""
    if len(data_seeds) > 1:
        return ()
    return ("test",) if cv else ("val", "test")


def ensemble_figures(members: list[tuple[dict, object]], splits: tuple[str, ...], task: str, metric: str) -> dict:
    """{"ensemble_<split>_loss": …, "ensemble_<split>_<metric>": …} for each split.

    `members`: (outputs, dataset) of each member that did not diverge; outputs[split] is its
    eval-mode output (N, n_out) for dataset.X_<split>; the datasets' y_<split> are the same rows.
    """
    out: dict = {}
    if not members:
        return out
    for split in splits:
        outputs = [np.asarray(o[split], dtype=np.float64) for o, _ in members]
        if not all(np.isfinite(z).all() for z in outputs):
            continue  # a member that ended on non-finite outputs without being called diverged
        first = members[0][1]
        if task == "classification":
            loss, value = _classification(outputs, np.asarray(getattr(first, f"y_{split}"), dtype=np.int64))
        else:
            loss, value = _regression(outputs, [ds for _, ds in members], split)
        out[f"ensemble_{split}_loss"], out[f"ensemble_{split}_{metric}"] = _finite(loss), _finite(value)
    return out


def _classification(logits: list[np.ndarray], y: np.ndarray) -> tuple[float, float]:
    """(cross-entropy, accuracy) of the averaged probabilities of logits [(N, C)] against y (N,)."""
    logp = np.stack([log_softmax(z) for z in logits])  # (M, N, C)
    top = logp.max(axis=0)
    mean_logp = top + np.log(np.exp(logp - top).mean(axis=0))  # log p̄, (N, C)
    rows = np.arange(len(y))
    return -float(mean_logp[rows, y].mean()), float(np.mean(mean_logp.argmax(axis=1) == y))


def _regression(outputs: list[np.ndarray], datasets: list, split: str) -> tuple[float, float]:
    """(MSE, R²) of the averaged outputs [(N, K)], each in its member's standardized units."""
    scales = [_scale(ds, o.shape[1]) for o, ds in zip(outputs, datasets)]  # (μₘ, σₘ), each (K,)
    y_units = [np.asarray(getattr(ds, f"y_{split}"), dtype=np.float64).reshape(len(o), -1) * s + m
               for o, ds, (m, s) in zip(outputs, datasets, scales)]
    y = y_units[0]  # the same rows in every member: the same targets in the target's units
    pred = np.mean([o * s + m for o, (m, s) in zip(outputs, scales)], axis=0)  # ŷ, (N, K)
    loss = float(np.mean([np.mean(((pred - y) / s) ** 2) for _, s in scales]))
    m0, s0 = scales[0]
    z_pred, z_y = (pred - m0) / s0, (y - m0) / s0
    return loss, r_squared(float(np.sum((z_pred - z_y) ** 2)), z_y)


def _scale(ds, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(μ, σ) of a dataset's standardized regression target, (0, 1) if it is not standardized."""
    if ds.target_std is None:
        return np.zeros(k), np.ones(k)
    return np.asarray(ds.target_mean, dtype=np.float64), np.asarray(ds.target_std, dtype=np.float64)


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None
