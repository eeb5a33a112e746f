"""Learning-rate schedules, stepped once per epoch, as torch.optim.lr_scheduler steps them.

`sched = SCHEDULES[name](optimizer, **kwargs)` records `base_lr = optimizer.lr`; after each epoch
the trainer calls `sched.step(val_loss)`, which sets `optimizer.lr` for the next epoch (epoch 1
runs at base_lr). Only the plateau schedule reads val_loss. Like torch's `scheduler.step()`, the
schedules are recursive ("chainable"): each step starts from the optimizer's current lr.
"""

import inspect
import math
import numbers

from .optim import HyperparameterError


def _real(name: str, value, low: float = 0.0, low_open: bool = False,
          high: float | None = None) -> float:
    """`value` as a float in the valid range, or a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise HyperparameterError(name, f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if value < low or (low_open and value == low) or (high is not None and value >= high):
        bounds = f"{'>' if low_open else '>='} {low:g}"
        if high is not None:
            bounds = f"in {'(' if low_open else '['}{low:g}, {high:g})"
        raise HyperparameterError(name, f"{name} must be {bounds}, got {value:g}")
    return value


def _integer(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise HyperparameterError(name, f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


class Schedule:
    """Base class: remembers the optimizer and base_lr; `step` sets the next epoch's lr."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0  # epochs completed

    def step(self, val_loss: float | None = None) -> None:
        """Call once after each epoch; sets optimizer.lr for the next one."""
        self.last_epoch += 1
        self.optimizer.lr = self._next_lr(float(self.optimizer.lr))

    def _next_lr(self, lr: float) -> float:
        return lr

    def __repr__(self) -> str:
        names = list(inspect.signature(type(self)).parameters)[1:]
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"


class Constant(Schedule):
    """lr = base_lr for every epoch."""


class StepLR(Schedule):
    """lr ← lr·γ after every `step_size` epochs: lr_e = base_lr · γ^⌊e / step_size⌋."""

    def __init__(self, optimizer, *, step_size: int, gamma: float = 0.1):
        self.step_size = _integer("step_size", step_size, 1)
        self.gamma = _real("gamma", gamma, low_open=True)
        super().__init__(optimizer)

    def _next_lr(self, lr):
        return lr * self.gamma if self.last_epoch % self.step_size == 0 else lr


class ExponentialLR(Schedule):
    """lr ← lr·γ after every epoch: lr_e = base_lr · γ^e."""

    def __init__(self, optimizer, *, gamma: float):
        self.gamma = _real("gamma", gamma, low_open=True)
        super().__init__(optimizer)

    def _next_lr(self, lr):
        return lr * self.gamma


class CosineAnnealingLR(Schedule):
    r"""Cosine annealing without restarts (SGDR, https://arxiv.org/abs/1608.03983) in torch's
    recursive form: η_e = η_min + (η_{e−1} − η_min)·(1 + cos(eπ/T)) / (1 + cos((e−1)π/T)),
    which follows η_min + ½(base_lr − η_min)(1 + cos(eπ/T)), T = T_max; past T it rises again.
    """

    def __init__(self, optimizer, *, T_max: int, eta_min: float = 0.0):
        self.T_max = _integer("T_max", T_max, 1)
        self.eta_min = _real("eta_min", eta_min)
        super().__init__(optimizer)

    def _next_lr(self, lr):
        e, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if (e - 1 - T) % (2 * T) == 0:  # leaving the trough, where the ratio below is 0/0
            return lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
        return ((1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
                * (lr - eta_min) + eta_min)


class ReduceLROnPlateau(Schedule):
    """lr ← max(lr·factor, min_lr) once val_loss has not improved for more than `patience`
    epochs, then wait `cooldown` epochs. Improvement (mode min): loss < best·(1 − threshold)
    (rel) or loss < best − threshold (abs); mode max mirrors it. Changes smaller than eps are
    skipped.
    """

    def __init__(self, optimizer, *, factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8, mode: str = "min"):
        self.factor = _real("factor", factor, high=1.0)
        self.patience = _integer("patience", patience, 0)
        self.threshold = _real("threshold", threshold)
        if threshold_mode not in ("rel", "abs"):
            raise HyperparameterError("threshold_mode", "threshold_mode must be 'rel' or 'abs', "
                                      f"got {threshold_mode!r}")
        self.threshold_mode = threshold_mode
        self.cooldown = _integer("cooldown", cooldown, 0)
        self.min_lr = _real("min_lr", min_lr)
        self.eps = _real("eps", eps)
        if mode not in ("min", "max"):
            raise HyperparameterError("mode", f"mode must be 'min' or 'max', got {mode!r}")
        self.mode = mode
        super().__init__(optimizer)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, a: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return a < best * (1.0 - th) if self.threshold_mode == "rel" else a < best - th
        return a > best * (th + 1.0) if self.threshold_mode == "rel" else a > best + th

    def step(self, val_loss: float | None = None) -> None:
        if val_loss is None:
            raise ValueError("the plateau schedule needs the validation loss at each step")
        self.last_epoch += 1
        current = float(val_loss)
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            old = float(self.optimizer.lr)
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0


SCHEDULES = {"constant": Constant, "step": StepLR, "exponential": ExponentialLR,
             "cosine": CosineAnnealingLR, "plateau": ReduceLROnPlateau}
