"""Schedules: the lr of each of 100 epochs agrees with torch.optim.lr_scheduler (live and golden).

tests/golden/schedules.npz is written by scripts/make_golden_optim.py from torch; it stores the
cases, the scripted val-loss curves for the plateau schedule and torch's lr sequences.
"""

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from helpers import load_script
from dlexp.nn.optim import SGD, Adam
from dlexp.nn.schedules import (SCHEDULES, Constant, CosineAnnealingLR, ExponentialLR,
                             ReduceLROnPlateau, StepLR)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = np.load(ROOT / "tests" / "golden" / "schedules.npz")
CASES = json.loads(str(GOLDEN["cases"]))
RTOL = 1e-12


def golden_script():
    """scripts/make_golden_optim.py as a module: the torch reference runners."""
    return load_script("make_golden_optim")


def dlexp_lrs(case, n_epochs=100):
    """The lr of each epoch, stepping the schedule after each one as the trainer does."""
    opt = SGD(lr=case["lr"])
    sched = SCHEDULES[case["schedule"]](opt, **case["kwargs"])
    assert sched.base_lr == case["lr"]
    val = GOLDEN[f"val_loss.{case['val_loss']}"] if case["val_loss"] else np.full(n_epochs, 1.0)
    lrs = np.empty(n_epochs)
    for e in range(n_epochs):
        lrs[e] = opt.lr
        sched.step(float(val[e]))
    return lrs


def test_golden_covers_every_schedule():
    assert {c["schedule"] for c in CASES} == set(SCHEDULES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_matches_golden_torch_lrs(case):
    expected = GOLDEN[f"{case['name']}.lr"]
    np.testing.assert_allclose(dlexp_lrs(case, len(expected)), expected, rtol=RTOL, atol=0)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_matches_live_torch_lrs(case):
    pytest.importorskip("torch")
    inputs = {k: GOLDEN[k] for k in GOLDEN.files}
    theirs = golden_script().torch_lrs(case, inputs)
    np.testing.assert_allclose(dlexp_lrs(case, len(theirs)), theirs, rtol=RTOL, atol=0)
    np.testing.assert_allclose(GOLDEN[f"{case['name']}.lr"], theirs, rtol=RTOL, atol=0)


def test_plateau_cases_actually_reduce():
    """The scripted val-loss curves exercise reductions, cooldown and the min_lr floor."""
    for name in ("plateau_default", "plateau_abs_cooldown", "plateau_max"):
        lrs = GOLDEN[f"{name}.lr"]
        assert len(np.unique(lrs)) >= 2, name
    floor = GOLDEN["plateau_abs_cooldown.lr"]
    assert floor.min() == 0.004 and np.sum(floor == 0.004) > 10


def test_formulas_by_hand():
    opt = SGD(lr=1.0)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    seen = []
    for _ in range(5):
        seen.append(opt.lr)
        sched.step(0.0)
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25]
    opt = SGD(lr=2.0)
    sched = ExponentialLR(opt, gamma=0.5)
    sched.step(0.0)
    sched.step(0.0)
    assert opt.lr == 0.5
    opt = SGD(lr=1.0)
    sched = CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    for e in range(1, 5):
        sched.step(0.0)
        assert opt.lr == pytest.approx(0.5 * (1 + np.cos(np.pi * e / 4)), abs=1e-15)


def test_plateau_by_hand():
    opt = SGD(lr=1.0)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    for loss in (1.0, 0.5, 0.6, 0.6):  # best 0.5; two bad epochs > patience 1 → halve
        sched.step(loss)
    assert opt.lr == 0.5
    with pytest.raises(ValueError, match="validation loss"):
        sched.step(None)


def test_constant_leaves_lr_alone():
    opt = Adam(lr=0.003)
    sched = Constant(opt)
    for _ in range(10):
        sched.step(1.0)
    assert opt.lr == 0.003


def test_schedule_follows_an_lr_changed_from_outside():
    """Like torch's chainable form, each step starts from the optimizer's current lr."""
    opt = SGD(lr=1.0)
    sched = ExponentialLR(opt, gamma=0.5)
    opt.lr = 4.0
    sched.step(0.0)
    assert opt.lr == 2.0


@pytest.mark.parametrize("name, kwargs, text", [
    ("step", {"step_size": 0}, "step_size must be an integer >= 1"),
    ("step", {"step_size": 2.5}, "step_size"),
    ("step", {"step_size": 3, "gamma": 0.0}, "gamma must be > 0"),
    ("exponential", {"gamma": -0.5}, "gamma must be > 0"),
    ("cosine", {"T_max": 0}, "T_max must be an integer >= 1"),
    ("cosine", {"T_max": 10, "eta_min": -1.0}, "eta_min"),
    ("plateau", {"factor": 1.0}, "factor must be in [0, 1)"),
    ("plateau", {"factor": 2.0}, "factor"),
    ("plateau", {"patience": -1}, "patience"),
    ("plateau", {"cooldown": -2}, "cooldown"),
    ("plateau", {"threshold": -0.1}, "threshold"),
    ("plateau", {"threshold_mode": "relative"}, "threshold_mode must be 'rel' or 'abs'"),
    ("plateau", {"mode": "up"}, "mode must be 'min' or 'max'"),
    ("plateau", {"min_lr": -1e-3}, "min_lr"),
    ("plateau", {"eps": float("nan")}, "eps"),
])
def test_invalid_kwargs_raise_a_clear_value_error(name, kwargs, text):
    with pytest.raises(ValueError) as err:
        SCHEDULES[name](SGD(lr=0.1), **kwargs)
    assert text in str(err.value)
    assert err.value.key in kwargs


def test_signatures_and_repr():
    params = {name: list(inspect.signature(cls).parameters)[1:] for name, cls in SCHEDULES.items()}
    assert params == {
        "constant": [],
        "step": ["step_size", "gamma"],
        "exponential": ["gamma"],
        "cosine": ["T_max", "eta_min"],
        "plateau": ["factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr",
                    "eps", "mode"],
    }
    assert repr(StepLR(SGD(), step_size=3)) == "StepLR(step_size=3, gamma=0.1)"
    assert repr(Constant(SGD())) == "Constant()"
