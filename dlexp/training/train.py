"""The training loop: epochs → batches → forward → loss + penalty → backward → step.

`fit` trains one model on one dataset with one seed and returns everything a run records: one
row of metrics per epoch, the final (restored-best) weights, and the final figures evaluated at
exactly those weights. It writes no files: store.py does, in the parent process only.

The stages, in the order `fit` runs them: `_build` (model, loss, optimizer, schedule, early
stopping, random streams), then per epoch `_train_epoch` (batches → forward → loss + penalty →
backward → clip → step → proximal) and `_evaluate_epoch` (the metrics row) and the termination
conditions, and last `_finish` (restore the best weights, evaluate every split, the summary).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .early_stopping import EarlyStopping
from ..errors import ConfigError, Problem
from ..nn.losses import LOSSES
from ..nn.model import MLP, load_npz
from ..nn.optim import OPTIMIZERS, clip_grad_norm
from ..nn.regularizers import add_penalty_grads, penalty, proximal_l1, weight_stats
from ..nn.schedules import SCHEDULES

EVAL_CHUNK = 1024      # rows per forward pass when evaluating a split: activations stay in cache
PROBE_SIZE = 256       # samples of the fixed probe batch for activation tracking
SPLITS = ("train", "val", "test")
ENSEMBLED = ("val", "test")  # the splits whose outputs a FitResult keeps


@dataclass
class FitResult:
    """What one training run produced (picklable; written by store.py)."""

    summary: dict
    metrics: list[dict]
    state: dict[str, np.ndarray]
    activations: list[dict] = field(default_factory=list)
    # eval-mode outputs at the final weights, (N, n_out) per split in ENSEMBLED: logits or
    # regression outputs, for the ensemble of repeats and folds (training/ensemble.py)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


def metric_name(task: str) -> str:
    return "acc" if task == "classification" else "r2"


def build_model(exp, n_in: int, n_out: int, rng: np.random.Generator, dtype) -> MLP:
    """The network of experiment `exp`, n_in → n_out, its weights drawn from `rng`."""
    return MLP.from_config(exp.model, n_in, n_out, rng, dtype)


def evaluate(model: MLP, loss, X: np.ndarray, y: np.ndarray, task: str) -> tuple[float, float]:
    """(mean data loss, metric) of `model` in eval mode over a whole split, in large chunks."""
    n = len(X)
    if n == 0:
        return math.nan, math.nan
    total = 0.0
    correct = 0
    sse = 0.0
    for start in range(0, n, EVAL_CHUNK):
        xb, yb = X[start:start + EVAL_CHUNK], y[start:start + EVAL_CHUNK]
        out = model.forward(xb, training=False)
        total += loss.forward(out, yb) * len(xb)
        if task == "classification":
            correct += int(np.count_nonzero(out.argmax(axis=1) == yb))
        else:
            sse += float(np.sum((out - yb) ** 2, dtype=np.float64))
    if task == "classification":
        metric = correct / n
    else:
        metric = r_squared(sse, y)
    return total / n, metric


def r_squared(sse: float, y: np.ndarray) -> float:
    """R² = 1 − SSE / SST of targets y (N, K), SST about their mean over the split."""
    sst = float(np.sum((y - y.mean(axis=0)) ** 2, dtype=np.float64))
    return 1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else 0.0)


def fit(exp, ds, seed: int, on_epoch=None) -> FitResult:
    """Train one model of config `exp` on dataset `ds` with training seed `seed`.

    `on_epoch(row)` is called after each epoch (progress bars). Divergence is a result: the run
    stops with status 'diverged' and the epoch it happened, no numpy warning escapes.
    """
    t_start = time.perf_counter()
    s, log = _build(exp, ds, seed), _Log()
    log.probe(s, 0)
    with np.errstate(all="ignore"):
        for epoch in range(1, exp.train.epochs + 1):
            lr, t0 = s.optimizer.lr, time.perf_counter()  # lr: the rate this epoch trains at
            batches_finite = _train_epoch(s)
            row = _evaluate_epoch(s, epoch, lr, epoch_time=time.perf_counter() - t0)
            log.record(s, row)
            if on_epoch is not None:
                on_epoch(row)
            # termination conditions
            reason = _divergence(s, row, batches_finite)
            if reason is not None:
                log.status, log.diverged_epoch, log.divergence_reason = "diverged", epoch, reason
                break
            if s.stopper is not None and _stop_early(s, log, epoch, row):
                break
            s.schedule.step(row["val_loss"])
    return _finish(s, log, seed, t_start)


# ---- setup --------------------------------------------------------------------------------------

@dataclass
class _Setup:
    """Everything the loop works with, built once by `_build`."""

    task: str                                           # "classification" | "regression"
    metric: str                                         # "acc" | "r2"
    splits: dict[str, tuple[np.ndarray, np.ndarray]]    # split → (X (N, D) in the run's dtype,
                                                        #   y (N,) int64 classes or (N, K) targets)
    model: MLP
    train_loss: object                                  # two instances: each keeps buffers sized
    eval_loss: object                                   #   for its own row count (batch, chunk)
    optimizer: object
    schedule: object
    stopper: EarlyStopping | None
    shuffle_rng: np.random.Generator | None             # None: every epoch in the stored order
    batch: int                                          # rows per step
    skip_single: bool                                   # BatchNorm cannot normalise one sample
    shuffled: tuple[np.ndarray, np.ndarray]             # (Xs, ys): the epoch's rows in order, reused
    params: list[np.ndarray]                            # the optimizer's groups over the flat
    grads: list[np.ndarray]                             #   buffers (see MLP.flat_groups)
    decay: list[bool]
    weights: list[np.ndarray]                           # every Dense W: the summary's weight statistics
    penalized: list[np.ndarray]                         # what L1/L2 touch: W, and b with penalize_bias
    penalized_grads: list[np.ndarray]
    reg: object                                         # the regularization section
    penalty_grads: bool                                 # L2, or L1 as a subgradient, in the gradient
    proximal: bool                                      # L1 as a soft-threshold after each step
    clip_norm: float | None
    divergence_threshold: float | None
    probe: np.ndarray | None                            # (≤ PROBE_SIZE, D) with track_activations
    grad_norms: np.ndarray | None = None                # with track_gradients: (n_dense,) ‖dL/dW‖₂ summed over batches
    n_batches: int = 0                                  # the batches summed into grad_norms this epoch
    dense_grads: list = field(default_factory=list)     # each Dense layer's dW, a view backward writes


def _build(exp, ds, seed: int) -> _Setup:
    """The model, loss, optimizer, schedule and early stopping of `exp` over the splits of `ds`."""
    dtype = np.dtype(exp.train.dtype)
    task = ds.task
    mname = metric_name(task)
    # Independent streams, so e.g. switching dropout on does not change the initial weights (the
    # i-th child of a SeedSequence is the same however many are spawned: a new stream moves no old one).
    init_rng, shuffle_rng, dropout_rng, shift_rng = (np.random.default_rng(s)
                                                     for s in np.random.SeedSequence(seed).spawn(4))
    splits = {split: _arrays(getattr(ds, f"X_{split}"), getattr(ds, f"y_{split}"), task, dtype)
              for split in SPLITS}
    X_train, y_train = splits["train"]

    model = build_model(exp, X_train.shape[1], ds.n_outputs, init_rng, dtype)
    for layer in model.layers:
        if layer.kind == "dropout":
            layer.rng = dropout_rng
        elif layer.kind == "shift_noise":
            layer.rng = shift_rng
    if exp.model.init_from:
        model.load_state_dict(load_npz(exp.model.init_from), source=f"model.init_from: {exp.model.init_from}")

    loss_name = "cross_entropy" if task == "classification" else "mse"
    opt_cfg = exp.optimizer
    optimizer = OPTIMIZERS[opt_cfg.name](**opt_cfg.hparams())
    sched_kwargs = opt_cfg.schedule.model_dump(exclude={"name"})
    schedule = SCHEDULES[opt_cfg.schedule.name](optimizer, **sched_kwargs)
    stopper = EarlyStopping.from_config(exp.train.early_stopping) if exp.train.early_stopping else None
    if stopper and stopper.monitor != "val_loss" and stopper.monitor != f"val_{mname}":
        raise ConfigError(Problem(f"{stopper.monitor} does not fit a {task} task; valid: val_loss, val_{mname}",
                                  key="train.early_stopping.monitor"))

    # Every parameter is a view into one flat buffer (and every grad into another; backward
    # overwrites them in place), Dense weights first: the optimizer updates the whole model at
    # once, as two parts only when weight decay must tell the Dense weights apart.
    (W_all, _), (gW_all, _), _ = model.flat_groups()
    reg = exp.regularization
    penalized, penalized_grads = [W_all], [gW_all]
    if reg.penalize_bias:
        biases, bias_grads = model.dense_biases()
        penalized, penalized_grads = penalized + biases, penalized_grads + bias_grads
    params, grads, decay = model.flat_groups(split=optimizer.weight_decay != 0.0)

    n = len(X_train)
    return _Setup(
        task=task, metric=mname, splits=splits, model=model,
        train_loss=LOSSES[loss_name](), eval_loss=LOSSES[loss_name](),
        optimizer=optimizer, schedule=schedule, stopper=stopper,
        shuffle_rng=shuffle_rng if exp.train.shuffle else None,
        batch=n if exp.train.batch_size == "full" else min(int(exp.train.batch_size), n),
        skip_single=exp.model.norm == "batchnorm",
        shuffled=(np.empty_like(X_train), np.empty_like(y_train)),
        params=params, grads=grads, decay=decay, weights=[W_all],
        penalized=penalized, penalized_grads=penalized_grads, reg=reg,
        penalty_grads=reg.l2 > 0 or (reg.l1 > 0 and reg.l1_mode == "subgradient"),
        proximal=reg.l1 > 0 and reg.l1_mode == "proximal",
        clip_norm=opt_cfg.clip_norm, divergence_threshold=exp.train.divergence_threshold,
        probe=X_train[:PROBE_SIZE] if exp.train.track_activations else None,
        grad_norms=np.zeros(sum(l.kind == "dense" for l in model.layers)) if exp.train.track_gradients else None,
        dense_grads=[l.grads["W"] for l in model.layers if l.kind == "dense"])


def _arrays(X, y, task: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A split as the loop wants it: X (N, D) contiguous in `dtype`; y (N,) int64 or (N, K) in `dtype`."""
    X = np.ascontiguousarray(X, dtype=dtype)
    if task == "classification":
        return X, np.asarray(y, dtype=np.int64)
    return X, np.asarray(y, dtype=dtype).reshape(len(y), -1)


# ---- one epoch ----------------------------------------------------------------------------------

def _train_epoch(s: _Setup) -> bool:
    """One pass over the shuffled training split; False if a batch loss was not finite (the
    epoch ends there)."""
    X_train, y_train = s.splits["train"]
    Xs, ys = s.shuffled
    n = len(X_train)
    # One gather per epoch, Xs, ys = X_train[order], y_train[order] into reused buffers
    # ("clip": the indices are valid, and "raise" copies through a temporary); each batch
    # is then a contiguous slice (a view, no copy).
    order = s.shuffle_rng.permutation(n) if s.shuffle_rng is not None else np.arange(n)
    np.take(X_train, order, axis=0, out=Xs, mode="clip")
    np.take(y_train, order, axis=0, out=ys, mode="clip")
    reg = s.reg
    for start in range(0, n, s.batch):
        stop = min(start + s.batch, n)
        if s.skip_single and stop - start == 1:
            continue  # documented rule: a trailing one-sample batch is skipped under batchnorm
        # forward, loss
        out = s.model.forward(Xs[start:stop], training=True)
        if not math.isfinite(s.train_loss.forward(out, ys[start:stop])):
            return False
        # backward, penalty gradients, clip the gradient
        s.model.backward(s.train_loss.backward())
        if s.grad_norms is not None:  # the loss's own gradient, before penalties and clipping
            s.grad_norms += [float(np.linalg.norm(g)) for g in s.dense_grads]
            s.n_batches += 1
        if s.penalty_grads:
            add_penalty_grads(s.penalized, s.penalized_grads, reg.l1, reg.l2, reg.l1_mode)
        if s.clip_norm is not None:
            clip_grad_norm(s.grads, s.clip_norm)
        # step, then the proximal L1 soft-threshold at the step's learning rate
        s.optimizer.step(s.params, s.grads, s.decay)
        if s.proximal:
            proximal_l1(s.penalized, s.optimizer.lr, reg.l1)
    return True


def _evaluate_epoch(s: _Setup, epoch: int, lr: float, epoch_time: float) -> dict:
    """The metrics.csv row of `epoch`: train and val figures in eval mode, and the penalty."""
    t0 = time.perf_counter()
    train_loss, train_metric = evaluate(s.model, s.eval_loss, *s.splits["train"], s.task)
    val_loss, val_metric = evaluate(s.model, s.eval_loss, *s.splits["val"], s.task)
    reg = s.reg
    pen = penalty(s.penalized, reg.l1, reg.l2) if (reg.l1 > 0 or reg.l2 > 0) else 0.0
    eval_time = time.perf_counter() - t0
    row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
           f"train_{s.metric}": train_metric, f"val_{s.metric}": val_metric,
           "penalty": pen, "lr": lr, "epoch_time": epoch_time, "eval_time": eval_time}
    if s.grad_norms is not None:  # the epoch's mean over its batches, then start the next epoch's sum
        row.update({f"grad_norm_{i}": float(g) / max(1, s.n_batches) for i, g in enumerate(s.grad_norms)})
        s.grad_norms[:] = 0.0
        s.n_batches = 0
    return row


# ---- termination conditions ---------------------------------------------------------------------

def _divergence(s: _Setup, row: dict, batches_finite: bool) -> str | None:
    """Why the run diverged at this epoch, or None."""
    if not (batches_finite and math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"])
            and all(np.isfinite(p).all() for p in s.params)):
        return "non-finite loss or parameter"
    if s.divergence_threshold is not None and row["train_loss"] > s.divergence_threshold:
        return f"train loss {row['train_loss']:.4g} > {s.divergence_threshold:g}"
    return None


def _stop_early(s: _Setup, log: "_Log", epoch: int, row: dict) -> bool:
    """Feed the monitored figure to early stopping, keeping the best weights; True: stop now."""
    stop = s.stopper.update(epoch, row[s.stopper.monitor])
    if s.stopper.improved and s.stopper.restore_best:
        log.best_state = s.model.state_dict()
    return stop


# ---- what the loop records, and the end of the run -----------------------------------------------

@dataclass
class _Log:
    """One metrics row per epoch, probe statistics, the best weights so far, and the outcome."""

    metrics: list[dict] = field(default_factory=list)
    activations: list[dict] = field(default_factory=list)
    best_state: dict | None = None
    status: str = "completed"
    diverged_epoch: int | None = None
    divergence_reason: str | None = None

    def probe(self, s: _Setup, epoch: int) -> None:
        if s.probe is not None:
            self.activations.extend(_activation_rows(s.model, s.probe, epoch))

    def record(self, s: _Setup, row: dict) -> None:
        self.metrics.append(row)
        self.probe(s, row["epoch"])


def _finish(s: _Setup, log: _Log, seed: int, t_start: float) -> FitResult:
    """Restore the best weights, evaluate every split at the final weights, and summarise."""
    stopper, mname = s.stopper, s.metric
    restored = False
    if stopper is not None and stopper.restore_best and log.best_state is not None and log.status == "completed":
        s.model.load_state_dict(log.best_state, source="best epoch")
        restored = True
    if stopper is not None and stopper.best_epoch is not None:
        best_epoch = stopper.best_epoch
    else:
        finite = [(r["val_loss"], r["epoch"]) for r in log.metrics if math.isfinite(r["val_loss"])]
        best_epoch = min(finite)[1] if finite else None

    with np.errstate(all="ignore"):
        final = {}
        for split in SPLITS:
            final[f"{split}_loss"], final[f"{split}_{mname}"] = evaluate(s.model, s.eval_loss, *s.splits[split], s.task)
        final_penalty = penalty(s.penalized, s.reg.l1, s.reg.l2)
        stats = weight_stats(s.weights)
    summary = {
        "status": log.status,
        "seed": seed,
        "task": s.task,
        "metric": mname,
        "epochs_run": len(log.metrics),
        "best_epoch": best_epoch,
        "stopped_epoch": stopper.stopped_epoch if stopper else None,
        "stopped_early": bool(stopper and stopper.stopped_epoch is not None),
        "restored_best": restored,
        "diverged_epoch": log.diverged_epoch,
        "divergence_reason": log.divergence_reason,
        **{k: _clean(v) for k, v in final.items()},
        "gap": _clean(final["val_loss"] - final["train_loss"]),
        "metric_gap": _clean(final[f"train_{mname}"] - final[f"val_{mname}"]),
        "penalty": _clean(final_penalty),
        "n_params": s.model.n_params,
        **{f"n_{split}": int(len(s.splits[split][0])) for split in SPLITS},
        "epoch_time": _clean(float(np.median([r["epoch_time"] for r in log.metrics]))) if log.metrics else None,
        "wall_time": time.perf_counter() - t_start,
        "weights": {k: _clean(v) for k, v in stats.items()},
    }
    with np.errstate(all="ignore"):
        outputs = {split: s.model.predict(s.splits[split][0]) for split in ENSEMBLED}
    return FitResult(summary=summary, metrics=log.metrics, state=s.model.state_dict(), activations=log.activations,
                     outputs=outputs)


def _activation_rows(model: MLP, probe: np.ndarray, epoch: int) -> list[dict]:
    """Mean and std of each hidden layer's pre-activation on the fixed probe batch."""
    rows = []
    for i, z in enumerate(model.preactivations(probe)):
        rows.append({"epoch": epoch, "layer": i, "mean": float(z.mean()), "std": float(z.std())})
    return rows


def _clean(v):
    """JSON-safe float: NaN/inf become None."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None
