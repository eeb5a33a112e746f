"""Write the golden files that let CI check dlexp's optimizers and schedules without torch.

    python scripts/make_golden_optim.py   # needs torch; writes tests/golden/{optim,schedules}.npz

Inputs are seeded; the trajectories are torch.optim's, in float64. The case lists are stored in
the files as JSON (no pickles), so the tests read everything they need from the files. The
torch runners below are also what tests/test_optim.py and tests/test_schedules.py compare
against live when torch is installed.
"""

import json
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"
N_STEPS = 50
N_EPOCHS = 100
SHAPES = [(4, 3), (3,), (2, 2)]  # a weight, a bias, another weight
DECAY = [True, False, True]      # dlexp decays Dense weights only: the bias is excluded


def _case(name, optimizer, decay=None, halve_lr_at=None, **kwargs):
    return {"name": name, "optimizer": optimizer, "kwargs": kwargs, "decay": decay,
            "halve_lr_at": halve_lr_at}


OPTIM_CASES = [
    _case("sgd_plain", "sgd", lr=0.1),
    _case("sgd_momentum_dampening", "sgd", lr=0.05, momentum=0.9, dampening=0.3),
    _case("sgd_nesterov", "sgd", lr=0.05, momentum=0.8, nesterov=True, halve_lr_at=25),
    _case("sgd_weight_decay", "sgd", DECAY, lr=0.1, momentum=0.5, weight_decay=0.1),
    _case("sgd_weight_decay_all", "sgd", lr=0.1, weight_decay=0.05),
    _case("adagrad", "adagrad", DECAY, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1,
          weight_decay=0.05),
    _case("adagrad_default", "adagrad", halve_lr_at=25),
    _case("adadelta", "adadelta", DECAY, lr=1.0, rho=0.85, eps=1e-5, weight_decay=0.1),
    _case("rmsprop_plain", "rmsprop", lr=0.01),
    _case("rmsprop_centered_momentum", "rmsprop", lr=0.005, alpha=0.9, momentum=0.7,
          centered=True, halve_lr_at=25),
    _case("rmsprop_weight_decay", "rmsprop", DECAY, lr=0.01, weight_decay=0.1),
    _case("adam_plain", "adam", lr=0.01),
    _case("adam_amsgrad", "adam", lr=0.02, betas=[0.8, 0.95], amsgrad=True, halve_lr_at=25),
    _case("adam_weight_decay", "adam", DECAY, lr=0.01, weight_decay=0.1),
    _case("adamw", "adamw", DECAY, lr=0.01, weight_decay=0.1),
    _case("adamw_amsgrad", "adamw", lr=0.01, betas=[0.85, 0.99], amsgrad=True),
]

# val_loss is the name of a scripted sequence below, or None.
SCHEDULE_CASES = [
    {"name": "constant", "schedule": "constant", "lr": 0.1, "kwargs": {}, "val_loss": None},
    {"name": "step", "schedule": "step", "lr": 0.1, "kwargs": {"step_size": 7, "gamma": 0.5},
     "val_loss": None},
    {"name": "step_default_gamma", "schedule": "step", "lr": 1.0, "kwargs": {"step_size": 30},
     "val_loss": None},
    {"name": "exponential", "schedule": "exponential", "lr": 0.1, "kwargs": {"gamma": 0.95},
     "val_loss": None},
    {"name": "cosine", "schedule": "cosine", "lr": 0.1, "kwargs": {"T_max": 100},
     "val_loss": None},
    {"name": "cosine_cycles", "schedule": "cosine", "lr": 0.1,
     "kwargs": {"T_max": 30, "eta_min": 0.001}, "val_loss": None},
    {"name": "cosine_T1", "schedule": "cosine", "lr": 0.1, "kwargs": {"T_max": 1},
     "val_loss": None},
    {"name": "plateau_default", "schedule": "plateau", "lr": 0.1, "kwargs": {},
     "val_loss": "loss"},
    {"name": "plateau_abs_cooldown", "schedule": "plateau", "lr": 0.1,
     "kwargs": {"factor": 0.5, "patience": 3, "threshold": 0.01, "threshold_mode": "abs",
                "cooldown": 2, "min_lr": 0.004}, "val_loss": "loss"},
    {"name": "plateau_max", "schedule": "plateau", "lr": 0.1,
     "kwargs": {"mode": "max", "patience": 2, "factor": 0.3}, "val_loss": "accuracy"},
]

CLIP_CASES = [("clip_active", 1.0), ("clip_inactive", 1e3)]


def make_inputs(seed: int = 0) -> dict[str, np.ndarray]:
    """Initial params, a 50-step gradient sequence per param, scripted val-loss curves."""
    rng = np.random.default_rng(seed)
    out = {}
    for j, (shape, scale) in enumerate(zip(SHAPES, (1.0, 0.1, 3.0))):
        out[f"param{j}"] = rng.normal(size=shape)
        drift = rng.normal(size=shape)  # a steady component, so momentum builds up
        out[f"grads{j}"] = scale * (0.5 * drift + rng.normal(size=(N_STEPS,) + shape))
        out[f"clip_grads{j}"] = rng.normal(size=shape)
    e = np.arange(1, N_EPOCHS + 1)
    # Falls, then stalls with noise, falls again, then creeps up (overfitting).
    loss = np.where(e <= 20, 1.0 / (1 + 0.2 * e), 0.2)
    loss = np.where((e > 45) & (e <= 60), 0.2 - 0.005 * (e - 45), loss)
    loss = np.where(e > 60, 0.125 + 0.001 * (e - 60), loss)
    out["val_loss.loss"] = loss + 0.004 * rng.normal(size=N_EPOCHS)
    out["val_loss.accuracy"] = 1.0 - out["val_loss.loss"]
    return out


def torch_trajectory(case: dict, inputs: dict) -> list[np.ndarray]:
    """torch.optim's params after each of the N_STEPS steps: one (N_STEPS, *shape) per param."""
    import torch

    classes = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad,
               "adadelta": torch.optim.Adadelta, "rmsprop": torch.optim.RMSprop,
               "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    n = len(SHAPES)
    params = [torch.tensor(inputs[f"param{j}"], dtype=torch.float64) for j in range(n)]
    kwargs = dict(case["kwargs"])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    decay = case["decay"]
    if decay is None:
        groups = [{"params": params}]
    else:  # torch's way to exclude a parameter from weight decay: its own group
        groups = [{"params": [p for p, d in zip(params, decay) if d]},
                  {"params": [p for p, d in zip(params, decay) if not d], "weight_decay": 0.0}]
    opt = classes[case["optimizer"]](groups, foreach=False, **kwargs)
    traj = [np.empty((N_STEPS,) + shape) for shape in SHAPES]
    for t in range(N_STEPS):
        if t == case["halve_lr_at"]:
            for group in opt.param_groups:
                group["lr"] *= 0.5
        for j, p in enumerate(params):
            p.grad = torch.tensor(inputs[f"grads{j}"][t], dtype=torch.float64)
        opt.step()
        for j, p in enumerate(params):
            traj[j][t] = p.numpy()
    return traj


def torch_lrs(case: dict, inputs: dict) -> np.ndarray:
    """The lr torch uses in each of N_EPOCHS epochs (scheduler stepped after each epoch)."""
    import torch
    from torch.optim import lr_scheduler

    classes = {"step": lr_scheduler.StepLR, "exponential": lr_scheduler.ExponentialLR,
               "cosine": lr_scheduler.CosineAnnealingLR, "plateau": lr_scheduler.ReduceLROnPlateau}
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=case["lr"])
    name = case["schedule"]
    sched = None if name == "constant" else classes[name](opt, **case["kwargs"])
    val = inputs[f"val_loss.{case['val_loss']}"] if case["val_loss"] else None
    lrs = np.empty(N_EPOCHS)
    for e in range(N_EPOCHS):
        lrs[e] = opt.param_groups[0]["lr"]
        p.grad = torch.zeros_like(p)
        opt.step()
        if val is not None:
            sched.step(float(val[e]))
        elif sched is not None:
            sched.step()
    return lrs


def torch_clip(grads: list[np.ndarray], max_norm: float) -> tuple[float, list[np.ndarray]]:
    """torch.nn.utils.clip_grad_norm_'s returned norm and clipped grads."""
    import torch

    ps = [torch.zeros(g.shape, dtype=torch.float64) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = torch.tensor(g, dtype=torch.float64)
    norm = torch.nn.utils.clip_grad_norm_(ps, max_norm, foreach=False)
    return float(norm), [p.grad.numpy() for p in ps]


def main() -> None:
    import torch

    inputs = make_inputs()
    optim = {k: v for k, v in inputs.items() if not k.startswith("val_loss.")}
    optim["cases"] = np.array(json.dumps(OPTIM_CASES))
    optim["torch_version"] = np.array(torch.__version__)
    for case in OPTIM_CASES:
        for j, traj in enumerate(torch_trajectory(case, inputs)):
            optim[f"{case['name']}.param{j}"] = traj
    clip_in = [inputs[f"clip_grads{j}"] for j in range(len(SHAPES))]
    optim["clip_cases"] = np.array(json.dumps(CLIP_CASES))
    for name, max_norm in CLIP_CASES:
        norm, clipped = torch_clip(clip_in, max_norm)
        optim[f"{name}.norm"] = np.array(norm)
        for j, g in enumerate(clipped):
            optim[f"{name}.grads{j}"] = g

    sched = {k: v for k, v in inputs.items() if k.startswith("val_loss.")}
    sched["cases"] = np.array(json.dumps(SCHEDULE_CASES))
    sched["torch_version"] = np.array(torch.__version__)
    for case in SCHEDULE_CASES:
        sched[f"{case['name']}.lr"] = torch_lrs(case, inputs)

    GOLDEN.mkdir(parents=True, exist_ok=True)
    for fname, arrays in (("optim.npz", optim), ("schedules.npz", sched)):
        assert all(a.dtype != object for a in arrays.values())
        np.savez_compressed(GOLDEN / fname, **arrays)
        print(f"wrote {GOLDEN / fname} ({(GOLDEN / fname).stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
