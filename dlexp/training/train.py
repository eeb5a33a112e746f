"""The training loop: epochs → batches → forward → loss + penalty → backward → step.

`fit` trains one model on one dataset with one seed and returns everything a run records: one
row of metrics per epoch, the final (restored-best) weights, and the final figures evaluated at
exactly those weights. It writes no files: store.py does, in the parent process only.
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


@dataclass
class FitResult:
    """What one training run produced (picklable; written by store.py)."""

    summary: dict
    metrics: list[dict]
    state: dict[str, np.ndarray]
    activations: list[dict] = field(default_factory=list)


def metric_name(task: str) -> str:
    return "acc" if task == "classification" else "r2"


def build_model(exp, n_in: int, n_out: int, rng: np.random.Generator, dtype) -> MLP:
    m = exp.model
    return MLP(n_in, list(m.hidden), n_out, activation=m.activation, init=m.init, norm=m.norm,
               norm_momentum=m.norm_momentum, dropout_rates=m.dropout_rates(), dropout_mode=m.dropout.mode,
               rng=rng, dtype=dtype)


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
        sst = float(np.sum((y - y.mean(axis=0)) ** 2, dtype=np.float64))
        metric = 1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else 0.0)
    return total / n, metric


def _finite(arrays) -> bool:
    return all(np.isfinite(a).all() for a in arrays)


def fit(exp, ds, seed: int, on_epoch=None) -> FitResult:
    """Train one model of config `exp` on dataset `ds` with training seed `seed`.

    `on_epoch(row)` is called after each epoch (progress bars). Divergence is a result: the run
    stops with status 'diverged' and the epoch it happened, no numpy warning escapes.
    """
    t_start = time.perf_counter()
    dtype = np.dtype(exp.train.dtype)
    task = ds.task
    mname = metric_name(task)
    # Independent streams, so e.g. switching dropout on does not change the initial weights.
    init_rng, shuffle_rng, dropout_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))

    X_train = np.ascontiguousarray(ds.X_train, dtype=dtype)
    X_val = np.ascontiguousarray(ds.X_val, dtype=dtype)
    X_test = np.ascontiguousarray(ds.X_test, dtype=dtype)
    if task == "classification":
        y_train, y_val, y_test = (np.asarray(y, dtype=np.int64) for y in (ds.y_train, ds.y_val, ds.y_test))
    else:
        y_train, y_val, y_test = (np.asarray(y, dtype=dtype).reshape(len(y), -1)
                                  for y in (ds.y_train, ds.y_val, ds.y_test))

    model = build_model(exp, X_train.shape[1], ds.n_outputs, init_rng, dtype)
    for layer in model.layers:
        if layer.kind == "dropout":
            layer.rng = dropout_rng
    if exp.model.init_from:
        model.load_state_dict(load_npz(exp.model.init_from), source=f"model.init_from: {exp.model.init_from}")

    loss_name = "cross_entropy" if task == "classification" else "mse"
    train_loss_fn, eval_loss_fn = LOSSES[loss_name](), LOSSES[loss_name]()
    opt_cfg = exp.optimizer
    optimizer = OPTIMIZERS[opt_cfg.name](**opt_cfg.hparams())
    sched_kwargs = opt_cfg.schedule.model_dump(exclude={"name"})
    schedule = SCHEDULES[opt_cfg.schedule.name](optimizer, **sched_kwargs)
    reg = exp.regularization
    penalized = reg.l2 > 0 or (reg.l1 > 0 and reg.l1_mode == "subgradient")
    proximal = reg.l1 > 0 and reg.l1_mode == "proximal"
    stopper = EarlyStopping.from_config(exp.train.early_stopping) if exp.train.early_stopping else None
    if stopper and stopper.monitor != "val_loss" and stopper.monitor != f"val_{mname}":
        raise ConfigError(Problem(f"{stopper.monitor} does not fit a {task} task; valid: val_loss, val_{mname}",
                                  key="train.early_stopping.monitor"))

    # Every parameter is a view into one flat buffer (and every grad into another; backward
    # overwrites them in place), Dense weights first: the optimizer updates the whole model at
    # once, as two parts only when weight decay must tell the Dense weights apart.
    (W_all, _), (gW_all, _), _ = model.flat_groups()
    weights = [W_all]  # every Dense W: what the summary's weight statistics describe
    penalized_arrays, penalized_grads = [W_all], [gW_all]  # what L1/L2 touch: W, and b with penalize_bias
    if reg.penalize_bias:
        biases, bias_grads = model.dense_biases()
        penalized_arrays, penalized_grads = penalized_arrays + biases, penalized_grads + bias_grads
    params, grads, decay = model.flat_groups(split=optimizer.weight_decay != 0.0)

    n = len(X_train)
    batch = n if exp.train.batch_size == "full" else min(int(exp.train.batch_size), n)
    has_bn = exp.model.norm == "batchnorm"
    probe = X_train[:PROBE_SIZE] if exp.train.track_activations else None
    clip_norm = opt_cfg.clip_norm
    Xs, ys = np.empty_like(X_train), np.empty_like(y_train)  # the shuffled epoch, reused

    metrics: list[dict] = []
    activations: list[dict] = []
    best_state = None
    status, diverged_epoch, reason = "completed", None, None
    threshold = exp.train.divergence_threshold
    if probe is not None:
        activations.extend(_activation_rows(model, probe, 0))

    with np.errstate(all="ignore"):
        for epoch in range(1, exp.train.epochs + 1):
            lr = optimizer.lr
            t0 = time.perf_counter()
            # One gather per epoch, Xs, ys = X_train[order], y_train[order] into reused buffers
            # ("clip": the indices are valid, and "raise" copies through a temporary); each batch
            # is then a contiguous slice (a view, no copy).
            order = shuffle_rng.permutation(n) if exp.train.shuffle else np.arange(n)
            np.take(X_train, order, axis=0, out=Xs, mode="clip")
            np.take(y_train, order, axis=0, out=ys, mode="clip")
            bad_batch = False
            for start in range(0, n, batch):
                stop = min(start + batch, n)
                if has_bn and stop - start == 1:
                    continue  # documented rule: a trailing one-sample batch is skipped under batchnorm
                xb, yb = Xs[start:stop], ys[start:stop]
                out = model.forward(xb, training=True)
                batch_loss = train_loss_fn.forward(out, yb)
                if not math.isfinite(batch_loss):
                    bad_batch = True
                    break
                model.backward(train_loss_fn.backward())
                if penalized:
                    add_penalty_grads(penalized_arrays, penalized_grads, reg.l1, reg.l2, reg.l1_mode)
                if clip_norm is not None:
                    clip_grad_norm(grads, clip_norm)
                optimizer.step(params, grads, decay)
                if proximal:
                    proximal_l1(penalized_arrays, optimizer.lr, reg.l1)
            epoch_time = time.perf_counter() - t0

            t1 = time.perf_counter()
            train_loss, train_metric = evaluate(model, eval_loss_fn, X_train, y_train, task)
            val_loss, val_metric = evaluate(model, eval_loss_fn, X_val, y_val, task)
            pen = penalty(penalized_arrays, reg.l1, reg.l2) if (reg.l1 > 0 or reg.l2 > 0) else 0.0
            eval_time = time.perf_counter() - t1

            row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                   f"train_{mname}": train_metric, f"val_{mname}": val_metric,
                   "penalty": pen, "lr": lr, "epoch_time": epoch_time, "eval_time": eval_time}
            metrics.append(row)
            if probe is not None:
                activations.extend(_activation_rows(model, probe, epoch))
            if on_epoch is not None:
                on_epoch(row)

            if bad_batch or not (math.isfinite(train_loss) and math.isfinite(val_loss)) or not _finite(params):
                status, diverged_epoch, reason = "diverged", epoch, "non-finite loss or parameter"
                break
            if threshold is not None and train_loss > threshold:
                status, diverged_epoch, reason = "diverged", epoch, f"train loss {train_loss:.4g} > {threshold:g}"
                break
            if stopper is not None:
                stop = stopper.update(epoch, row[stopper.monitor])
                if stopper.improved and stopper.restore_best:
                    best_state = model.state_dict()
                if stop:
                    break
            schedule.step(val_loss)

    epochs_run = len(metrics)
    restored = False
    if stopper is not None and stopper.restore_best and best_state is not None and status == "completed":
        model.load_state_dict(best_state, source="best epoch")
        restored = True
    if stopper is not None and stopper.best_epoch is not None:
        best_epoch = stopper.best_epoch
    else:
        finite = [(r["val_loss"], r["epoch"]) for r in metrics if math.isfinite(r["val_loss"])]
        best_epoch = min(finite)[1] if finite else None

    with np.errstate(all="ignore"):
        final = {}
        for split, X, y in (("train", X_train, y_train), ("val", X_val, y_val), ("test", X_test, y_test)):
            final[f"{split}_loss"], final[f"{split}_{mname}"] = evaluate(model, eval_loss_fn, X, y, task)
        final_penalty = penalty(penalized_arrays, reg.l1, reg.l2)
        stats = weight_stats(weights)
    summary = {
        "status": status,
        "seed": seed,
        "task": task,
        "metric": mname,
        "epochs_run": epochs_run,
        "best_epoch": best_epoch,
        "stopped_epoch": stopper.stopped_epoch if stopper else None,
        "stopped_early": bool(stopper and stopper.stopped_epoch is not None),
        "restored_best": restored,
        "diverged_epoch": diverged_epoch,
        "divergence_reason": reason,
        **{k: _clean(v) for k, v in final.items()},
        "gap": _clean(final["val_loss"] - final["train_loss"]),
        "metric_gap": _clean(final[f"train_{mname}"] - final[f"val_{mname}"]),
        "penalty": _clean(final_penalty),
        "n_params": model.n_params,
        "n_train": int(len(X_train)),
        "n_val": int(len(X_val)),
        "n_test": int(len(X_test)),
        "epoch_time": _clean(float(np.median([r["epoch_time"] for r in metrics]))) if metrics else None,
        "wall_time": time.perf_counter() - t_start,
        "weights": {k: _clean(v) for k, v in stats.items()},
    }
    return FitResult(summary=summary, metrics=metrics, state=model.state_dict(), activations=activations)


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
