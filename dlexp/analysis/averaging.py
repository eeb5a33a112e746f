"""Averaged networks from a finished run: dropout's weight scaling against the averages it stands for.

The notes (§2.1) say dropout trains many thinned networks and predicts with their average. At
prediction time dlexp (as torch) does not average: it runs the whole network once with every unit
present, its activations scaled to their expectation ("weight scaling": dlexp's eval mode). This
module measures how close that is to what it approximates, from the run's model.npz files only:

* `mc_curves`: the Monte-Carlo average of T thinned networks of one trained model — T dropout masks
  drawn anew for every row, the class probabilities averaged, T = 1, 2, 4, …
* `ensemble_curve`: the average of the first M of a run's independently trained members (repeats),
  each predicting in eval mode: an explicit ensemble (bagging without the resampling).

Both score the averaged probabilities on the test split as the trainer's ensemble does
(training/ensemble.py's rule: cross-entropy of p̄ and argmax accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from ..nn.losses import cross_entropy
from .inference import member_dataset, model_from_state, softmax

MASKS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # thinned networks averaged, on a log axis
MASK_CHUNK = 64  # thinned networks evaluated in one forward pass (64 × the test rows)


@dataclass
class Curve:
    """Test figures of an average of n networks, for each n: loss (cross-entropy) and accuracy."""

    n: list[int]
    loss: list[float]
    acc: list[float]
    agree: list[float] = field(default_factory=list)  # MC only: share of rows on weight scaling's class


def score(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(cross-entropy, accuracy) of probabilities p (N, C) against labels y (N,); a probability
    that rounds to 0 counts as the smallest float (a loss of 708 for that row), not as infinity."""
    rows = np.arange(len(y))
    return -float(np.mean(np.log(np.maximum(p[rows, y], np.finfo(np.float64).tiny)))), float(np.mean(p.argmax(1) == y))


def thinned_outputs(model, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Logits (N, C) of one thinned network per row: every Dropout layer draws its training-mode
    mask from `rng`, every other layer (BatchNorm on its running statistics) in eval mode."""
    h = X.astype(model.dtype)
    for layer in model.layers:
        if layer.kind == "dropout":
            layer.rng = rng
            h = layer.forward(h, training=True)
        else:
            h = layer.forward(h, training=False)
    return h


def _members(run):
    """([the model of each member], the rebuilt dataset they share); UsageError unless the run is a
    classification whose members share one split (a single run, or repeats without repeat_data)."""
    if run.summary.get("task") != "classification":
        raise UsageError(f"{run.label}: averaging networks is measured on class probabilities; this run is "
                         f"{run.summary.get('task', 'unknown')}")
    members = run.members() or [run]
    if run.summary.get("kind") == "cv" or len({m.summary.get("data_seed") for m in members}) > 1:
        raise UsageError(f"{run.label}: its members did not predict the same test rows (CV folds or repeat_data); "
                         "averaging needs repeats on one split (seeds: [..])")
    _, ds = member_dataset(run)
    return [model_from_state(m.model(), m.config, source=f"{m.folder}/model.npz") for m in members], ds


def has_dropout(run) -> bool:
    rate = ((run.config.get("model") or {}).get("dropout") or {}).get("rate", 0.0)
    return any(r > 0 for r in rate) if isinstance(rate, list) else float(rate or 0.0) > 0


def weight_scaling(run) -> list[tuple[float, float]]:
    """Test (loss, accuracy) of each member in eval mode: every unit present, activations scaled."""
    models, ds = _members(run)
    return [(cross_entropy(z, ds.y_test), float(np.mean(z.argmax(1) == ds.y_test)))
            for z in (m.predict(ds.X_test).astype(np.float64) for m in models)]


def mc_curves(run, masks=MASKS, seed: int = 0) -> list[Curve]:
    """For each member, test figures of the Monte-Carlo average of T of its thinned networks, for
    each T in `masks`, and the share of test rows on which that average picks the class weight
    scaling picks; member i draws its masks from the stream of seed + i (reproducible)."""
    if not has_dropout(run):
        raise UsageError(f"{run.label}: has no dropout (model.dropout.rate is 0): there are no thinned networks")
    models, ds = _members(run)
    X, y, n = ds.X_test, ds.y_test, len(ds.X_test)
    curves = []
    for i, model in enumerate(models):
        rng = np.random.default_rng(seed + i)
        scaled = model.predict(X).argmax(1)  # weight scaling's classes, (N,)
        total = np.zeros((n, model.n_out))   # running sum of the thinned networks' probabilities, (N, C)
        curve, done = Curve([], [], [], []), 0
        while done < max(masks):
            k = min(MASK_CHUNK, max(masks) - done)
            # k thinned networks at once: the rows repeated k times, each copy its own masks
            p = softmax(thinned_outputs(model, np.tile(X, (k, 1)), rng)).reshape(k, n, -1)  # (k, N, C)
            for j in range(k):
                total += p[j]
                if done + j + 1 in masks:
                    mean = total / (done + j + 1)
                    loss, acc = score(mean, y)
                    curve.n.append(done + j + 1), curve.loss.append(loss), curve.acc.append(acc)
                    curve.agree.append(float(np.mean(mean.argmax(1) == scaled)))
            done += k
        curves.append(curve)
    return curves


def ensemble_curve(run) -> Curve:
    """Test figures of the average of the first M members of a repeated run, M = 1 … n_members,
    each member in eval mode: an explicit ensemble of independently trained networks."""
    models, ds = _members(run)
    if len(models) < 2:
        raise UsageError(f"{run.label}: an explicit ensemble needs a run with repeats (seeds: [..])")
    total = np.zeros((len(ds.X_test), models[0].n_out))
    curve = Curve([], [], [])
    for m, model in enumerate(models, start=1):
        total += softmax(model.predict(ds.X_test))
        loss, acc = score(total / m, ds.y_test)
        curve.n.append(m), curve.loss.append(loss), curve.acc.append(acc)
    return curve
