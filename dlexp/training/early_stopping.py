"""Early stopping: watch one validation figure and say when to stop.

Two rules. `no_improvement` (the usual one, as in Keras and scikit-learn): stop once `patience`
epochs in a row failed to beat the best value by more than `min_delta`. `consecutive_increase`
(the notes' rule, §1.2): stop when the validation error got worse `patience` epochs in a row.
Either way the best epoch is the one with the best value seen, and epochs up to
`start_from_epoch` are never counted.
"""

from __future__ import annotations

import math


class EarlyStopping:
    """Feed one value per epoch with `update`; it returns True when training should stop."""

    def __init__(self, monitor="val_loss", patience=20, min_delta=0.0, start_from_epoch=0,
                 rule="no_improvement", restore_best=True):
        self.monitor = monitor
        # Losses go down, metrics (accuracy, R²) go up; compare in "lower is better" form.
        self.sign = 1.0 if monitor.endswith("loss") else -1.0
        self.patience = patience
        self.min_delta = min_delta
        self.start_from_epoch = start_from_epoch
        self.rule = rule
        self.restore_best = restore_best
        self.best = math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.previous = math.inf
        self.stopped_epoch: int | None = None

    @classmethod
    def from_config(cls, cfg) -> "EarlyStopping":
        return cls(cfg.monitor, cfg.patience, cfg.min_delta, cfg.start_from_epoch, cfg.rule, cfg.restore_best)

    def update(self, epoch: int, value: float) -> bool:
        """Record `value` at `epoch` (counted from 1); True means stop now. Sets `improved`."""
        self.improved = False
        if epoch <= self.start_from_epoch:
            return False
        v = self.sign * value
        if not math.isfinite(v):
            v = math.inf
        if self.rule == "no_improvement":
            if v < self.best - self.min_delta:
                self.best, self.best_epoch, self.wait, self.improved = v, epoch, 0, True
            else:
                self.wait += 1
        else:  # consecutive_increase
            if v < self.best:
                self.best, self.best_epoch, self.improved = v, epoch, True
            self.wait = self.wait + 1 if v > self.previous + self.min_delta else 0
        self.previous = v
        if self.best_epoch is None and self.improved is False and math.isinf(self.best):
            # The first monitored epoch is the best so far even if the value is not finite.
            self.best_epoch, self.improved = epoch, True
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    @property
    def best_value(self) -> float:
        return self.sign * self.best

    def __repr__(self) -> str:
        return (f"EarlyStopping({self.monitor}, rule={self.rule}, patience={self.patience}, "
                f"min_delta={self.min_delta}, start_from_epoch={self.start_from_epoch})")
