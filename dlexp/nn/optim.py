"""Optimizers that follow torch.optim's update rules exactly, on NumPy arrays.

An optimizer holds hyperparameters only; `step(params, grads, decay)` updates every array of
`params` in place. State (moments, buffers, step count, and `tmp`, a work array) lives in
`self.state[i]`, keyed by the parameter's index in the list and created at the first step, so
the same list must be passed in the same order every step. `grads` are scratch space for the
optimizer: they are recomputed each step, so the updates overwrite them instead of allocating
temporaries.

`decay[i]` says whether weight_decay applies to `params[i]` (dlexp decays Dense weights only);
None applies it to all. float32 parameters stay float32: hyperparameters are Python floats, which
NumPy never lets promote an array.
"""

import inspect
import math
import numbers

import numpy as np


class HyperparameterError(ValueError):
    """An invalid hyperparameter; `key` is its name (e.g. "betas", "lr_decay")."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def _number(name: str, value, low: float = 0.0, high: float | None = None,
            high_open: bool = False) -> float:
    """`value` as a float, or an error naming `name` and the valid range."""
    key = name.split("[")[0]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise HyperparameterError(key, f"{name} must be a number, got {value!r}")
    value = float(value)
    if high is None:
        if not (math.isfinite(value) and value >= low):
            raise HyperparameterError(key, f"{name} must be >= {low:g}, got {value:g}")
    elif not (low <= value < high if high_open else low <= value <= high):
        raise HyperparameterError(key, f"{name} must be in [{low:g}, {high:g}"
                                       f"{')' if high_open else ']'}, got {value:g}")
    return value


def _flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise HyperparameterError(name, f"{name} must be true or false, got {value!r}")
    return bool(value)


class Optimizer:
    """Base class: `lr` (public, schedules set it), per-index state, the loop over parameters."""

    weight_decay = 0.0

    def __init__(self, lr: float):
        self.lr = _number("lr", lr)
        self.state: dict[int, dict] = {}

    def step(self, params: list[np.ndarray], grads: list[np.ndarray],
             decay: list[bool] | None = None) -> None:
        """Update every `params[i]` in place from `grads[i]` (which may be overwritten)."""
        if len(params) != len(grads) or (decay is not None and len(decay) != len(params)):
            raise ValueError(f"step got {len(params)} params, {len(grads)} grads and "
                             f"{'no' if decay is None else len(decay)} decay flags")
        lr = float(self.lr)  # a NumPy scalar lr would promote float32 arrays
        for i, (p, g) in enumerate(zip(params, grads)):
            state = self.state.get(i)
            if state is None:
                state = self.state[i] = self._init_state(p)
            wd = self.weight_decay if decay is None or decay[i] else 0.0
            self._update(p, g, state, lr, wd)

    def _init_state(self, p: np.ndarray) -> dict:
        return {"step": 0}

    def _update(self, p, g, state, lr, wd) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        names = inspect.signature(type(self)).parameters
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"


def _scratch(state: dict, p: np.ndarray) -> np.ndarray:
    """A per-parameter work array, allocated once."""
    tmp = state.get("tmp")
    if tmp is None:
        tmp = state["tmp"] = np.empty_like(p)
    return tmp


def _add_weight_decay(p, g, state, wd) -> None:
    """Coupled weight decay, as torch does first: g ← g + wd·p."""
    if wd != 0.0:
        tmp = _scratch(state, p)
        np.multiply(p, wd, out=tmp)
        g += tmp


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum and Nesterov momentum.

    g ← g + λθ;  b ← g at t = 1, else b ← μb + (1−τ)g;  g ← g + μb (nesterov) or g ← b;
    θ ← θ − γg.  Nesterov form: Sutskever et al. 2013, https://proceedings.mlr.press/v28/sutskever13

    The notes write momentum as v ← γv + η∇J, θ ← θ − v. With constant lr and dampening 0 this
    is the same trajectory: torch keeps b (no lr inside) and v = lr·b. They differ only when lr
    changes mid-run (a schedule): torch's b rescales past velocity by the new lr. Also, torch's
    first step sets b = g without dampening.
    State per parameter: `momentum_buffer` (created at the first step when momentum > 0).
    """

    def __init__(self, *, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(lr)
        self.momentum = _number("momentum", momentum)
        self.dampening = _number("dampening", dampening, low=-math.inf)
        self.weight_decay = _number("weight_decay", weight_decay)
        self.nesterov = _flag("nesterov", nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise HyperparameterError(
                "nesterov", "nesterov requires momentum > 0 and dampening = 0, got "
                f"momentum={self.momentum:g}, dampening={self.dampening:g}")

    def _init_state(self, p):
        return {}  # torch's SGD keeps no step count

    def _update(self, p, g, state, lr, wd):
        _add_weight_decay(p, g, state, wd)
        mu = self.momentum
        if mu != 0.0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= mu
                if self.dampening != 0.0:
                    g *= 1.0 - self.dampening
                buf += g  # b ← μb + (1−τ)g
            if self.nesterov:
                tmp = _scratch(state, p)
                np.multiply(buf, mu, out=tmp)
                g += tmp  # g ← g + μb
            else:
                np.multiply(buf, lr, out=g)
                p -= g  # θ ← θ − γb
                return
        g *= lr
        p -= g  # θ ← θ − γg


class Adagrad(Optimizer):
    r"""Adagrad: per-coordinate steps shrink with the sum of squared gradients.

    g ← g + λθ;  γ̃ ← γ / (1 + (t−1)η);  s ← s + g²;  θ ← θ − γ̃ g / (√s + ε),  s₀ = τ.
    Duchi et al. 2011, https://jmlr.org/papers/v12/duchi11a.html
    State per parameter: `step`, `sum` (filled with initial_accumulator_value at the first step).
    """

    def __init__(self, *, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        super().__init__(lr)
        self.lr_decay = _number("lr_decay", lr_decay)
        self.weight_decay = _number("weight_decay", weight_decay)
        self.initial_accumulator_value = _number("initial_accumulator_value",
                                                 initial_accumulator_value)
        self.eps = _number("eps", eps)

    def _init_state(self, p):
        return {"step": 0, "sum": np.full_like(p, self.initial_accumulator_value)}

    def _update(self, p, g, state, lr, wd):
        state["step"] += 1
        _add_weight_decay(p, g, state, wd)
        clr = lr / (1 + (state["step"] - 1) * self.lr_decay)
        tmp = _scratch(state, p)
        np.multiply(g, g, out=tmp)
        state["sum"] += tmp  # s ← s + g²
        np.sqrt(state["sum"], out=tmp)
        tmp += self.eps
        g /= tmp
        g *= clr
        p -= g  # θ ← θ − γ̃ g / (√s + ε)


class Adadelta(Optimizer):
    r"""Adadelta: steps scaled by the ratio of RMS past updates to RMS gradients.

    g ← g + λθ;  v ← ρv + (1−ρ)g²;  Δ ← √(u+ε) / √(v+ε) · g;  u ← ρu + (1−ρ)Δ²;  θ ← θ − γΔ.
    Zeiler 2012, https://arxiv.org/abs/1212.5701
    State per parameter: `step`, `square_avg` (v), `acc_delta` (u).
    """

    def __init__(self, *, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0):
        super().__init__(lr)
        self.rho = _number("rho", rho, high=1.0)
        self.eps = _number("eps", eps)
        self.weight_decay = _number("weight_decay", weight_decay)

    def _init_state(self, p):
        return {"step": 0, "square_avg": np.zeros_like(p), "acc_delta": np.zeros_like(p)}

    def _update(self, p, g, state, lr, wd):
        state["step"] += 1
        _add_weight_decay(p, g, state, wd)
        rho, eps = self.rho, self.eps
        v, u, tmp = state["square_avg"], state["acc_delta"], _scratch(state, p)
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - rho
        v *= rho
        v += tmp  # v ← ρv + (1−ρ)g²
        np.add(v, eps, out=tmp)
        np.sqrt(tmp, out=tmp)
        g /= tmp
        np.add(u, eps, out=tmp)
        np.sqrt(tmp, out=tmp)
        g *= tmp  # g is now Δ = √(u+ε) / √(v+ε) · g
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - rho
        u *= rho
        u += tmp  # u ← ρu + (1−ρ)Δ²
        g *= lr
        p -= g  # θ ← θ − γΔ


class RMSprop(Optimizer):
    r"""RMSprop: steps scaled by a running RMS of the gradient, optionally centered.

    g ← g + λθ;  v ← αv + (1−α)g²;  ṽ ← v − ḡ² with ḡ ← αḡ + (1−α)g (centered) else ṽ ← v;
    b ← μb + g/(√ṽ + ε), θ ← θ − γb (momentum > 0), else θ ← θ − γ g/(√ṽ + ε).
    Hinton, Lecture 6e, https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf
    State per parameter: `step`, `square_avg`, `grad_avg` (centered), `momentum_buffer` (μ > 0).
    """

    def __init__(self, *, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(lr)
        self.alpha = _number("alpha", alpha)
        self.eps = _number("eps", eps)
        self.weight_decay = _number("weight_decay", weight_decay)
        self.momentum = _number("momentum", momentum)
        self.centered = _flag("centered", centered)

    def _init_state(self, p):
        state = {"step": 0, "square_avg": np.zeros_like(p)}
        if self.centered:
            state["grad_avg"] = np.zeros_like(p)
        if self.momentum > 0:
            state["momentum_buffer"] = np.zeros_like(p)
        return state

    def _update(self, p, g, state, lr, wd):
        state["step"] += 1
        _add_weight_decay(p, g, state, wd)
        alpha, v, tmp = self.alpha, state["square_avg"], _scratch(state, p)
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - alpha
        v *= alpha
        v += tmp  # v ← αv + (1−α)g²
        if self.centered:
            gbar = state["grad_avg"]
            np.subtract(g, gbar, out=tmp)
            tmp *= 1.0 - alpha
            gbar += tmp  # ḡ ← ḡ + (1−α)(g − ḡ), torch's lerp
            np.multiply(gbar, gbar, out=tmp)
            np.subtract(v, tmp, out=tmp)
            np.sqrt(tmp, out=tmp)  # √(v − ḡ²)
        else:
            np.sqrt(v, out=tmp)
        tmp += self.eps
        g /= tmp
        if self.momentum > 0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += g  # b ← μb + g/(√ṽ + ε)
            np.multiply(buf, lr, out=g)
        else:
            g *= lr
        p -= g


class Adam(Optimizer):
    r"""Adam (AMSGrad optional), with torch's coupled weight decay.

    g ← g + λθ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  v_max ← max(v_max, v) (amsgrad);
    θ ← θ − γ m̂ / (√v̂ + ε) with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ) (or v_max/(1−β₂ᵗ)).
    torch computes θ ← θ − (γ/(1−β₁ᵗ)) · m / (√v/√(1−β₂ᵗ) + ε); this is the same update, with
    the two bias corrections multiplied into γ and ε (equal up to rounding).
    Kingma & Ba 2014, https://arxiv.org/abs/1412.6980 (AMSGrad: Reddi et al. 2018)
    State per parameter: `step`, `exp_avg` (m), `exp_avg_sq` (v), `max_exp_avg_sq` (amsgrad).
    """

    decoupled = False

    def __init__(self, *, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False):
        super().__init__(lr)
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise HyperparameterError("betas",
                                      f"betas must be a pair [beta1, beta2], got {betas!r}")
        self.betas = tuple(_number(f"betas[{k}]", b, high=1.0, high_open=True)
                           for k, b in enumerate(betas))
        self.eps = _number("eps", eps)
        self.weight_decay = _number("weight_decay", weight_decay)
        self.amsgrad = _flag("amsgrad", amsgrad)

    def _init_state(self, p):
        state = {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
        if self.amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(p)
        return state

    def _update(self, p, g, state, lr, wd):
        state["step"] += 1
        t = state["step"]
        if self.decoupled:
            if wd != 0.0:
                p *= 1.0 - lr * wd  # θ ← θ − γλθ
        else:
            _add_weight_decay(p, g, state, wd)
        beta1, beta2 = self.betas
        m, v, tmp = state["exp_avg"], state["exp_avg_sq"], _scratch(state, p)
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - beta2
        v *= beta2
        v += tmp  # v ← β₂v + (1−β₂)g²
        g -= m
        g *= 1.0 - beta1
        m += g  # m ← m + (1−β₁)(g − m), torch's lerp
        if self.amsgrad:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        # The same step with both corrections folded into scalars (Kingma & Ba, end of §2), one
        # pass fewer: θ ← θ − α·m/(√v + ε̂),  α = γ·√(1−β₂ᵗ)/(1−β₁ᵗ),  ε̂ = ε·√(1−β₂ᵗ)
        bc2_sqrt = (1 - beta2 ** t) ** 0.5
        np.sqrt(v, out=tmp)
        tmp += self.eps * bc2_sqrt
        np.divide(m, tmp, out=tmp)
        tmp *= lr * bc2_sqrt / (1 - beta1 ** t)
        p -= tmp


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay θ ← θ − γλθ applied before the Adam step.

    θ ← θ − γλθ;  then Adam's update (m, v, amsgrad, bias corrections) on the raw gradient.
    Loshchilov & Hutter 2019, https://arxiv.org/abs/1711.05101
    State per parameter: as Adam.
    """

    decoupled = True

    def __init__(self, *, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "adadelta": Adadelta, "rmsprop": RMSprop,
              "adam": Adam, "adamw": AdamW}


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """Scale `grads` in place so their global L2 norm is at most `max_norm`; return the norm
    before clipping. As torch.nn.utils.clip_grad_norm_: scale by min(1, max_norm/(norm + 1e-6)).
    """
    max_norm = _number("max_norm", max_norm)
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))  # ‖(g₁, …, gₙ)‖₂
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total
