"""The diagnosis's rule thresholds and their defaults (the README's threshold table explains each).

In a module of their own, importing nothing, so `dlexp diagnose --help` can list the names
without loading numpy; diagnose.py reads them from here, and `--threshold name=value` overrides
them (diagnose.thresholds_from).
"""

DEFAULT_THRESHOLDS = {
    "diverge_ratio": 3.0,      # train loss ≥ 3 × baseline: the training blew up
    "spike_ratio": 100.0,      # a loss ≥ 100 × where training starts, in any epoch: the steps overshot
    "window": 0.1,             # trend window, as a fraction of the epochs run …
    "min_window": 5,           # … but at least this many epochs
    "converge_drop": 0.05,     # at the window's pace, as many epochs again: train and val loss ≥ 5 % lower …
    "converge_floor": 0.01,    # … the val loss by ≥ 1 % of the baseline's (there is room left) …
    "converge_t": 2.0,         # … and the fall measurable: the window's slope ≥ 2 standard errors
    "underfit_baseline": 0.5,  # train loss ≥ 50 % of the baseline's (regression: train R² ≤ 0.5)
    "underfit_reference": 0.05,  # train loss above a reference's val loss by ≥ 5 % of the baseline's
    "underfit_peer": 1.3,      # train loss ≥ 1.3 × the best val loss in the same sweep
    "overfit_rise": 0.1,       # val loss ended ≥ 10 % above its minimum
    "overfit_gap": 0.35,       # (val − train) / val ≥ 0.35
    "gap_floor": 0.05,         # a loss difference under 5 % of the baseline's is no finding
    "metric_gap": 0.1,         # classification: train − val accuracy ≥ 10 % of (1 − baseline acc)
    "metric_gain": 0.02,       # val accuracy moved ≥ 2 % of (1 − baseline acc) after the loss's minimum
}
