"""The multilayer perceptron: [Dense, Norm?, ShiftNoise?, Activation, Dropout?] × len(hidden) + Dense.

The last Dense gives logits (the loss applies softmax) or regression outputs. `hidden=[]` is a
linear / logistic model. Parameter and buffer names are the model.npz keys of the design:
`dense{i}.W`, `dense{i}.b`, `batchnorm{i}.gamma|beta|running_mean|running_var`,
`layernorm{i}.gamma|beta`, with `i` counting layers of that kind from 0 in forward order.
"""

from __future__ import annotations

import zipfile
import zlib
from collections import Counter

import numpy as np

from .activations import ACTIVATIONS
from ..errors import ConfigError, DataError, Problem, did_you_mean
from .init import BIASES, INITIALIZERS
from .layers import DROPOUT_MODES, BatchNorm, Dense, Dropout, Layer, LayerNorm, ShiftNoise

# norm name → the layer after each hidden Dense, made from (width, norm_momentum, dtype); None: no layer
NORMS = {
    "none": None,
    "batchnorm": lambda width, momentum, dtype: BatchNorm(width, momentum=momentum, dtype=dtype),
    "layernorm": lambda width, momentum, dtype: LayerNorm(width, dtype=dtype),
}


def _choice(kind: str, name: str, valid, key: str) -> None:
    if name not in valid:
        message = f"unknown {kind} {name!r}{did_you_mean(name, valid)}; valid: {', '.join(valid)}"
        raise ConfigError(Problem(message, key=key))


class MLP:
    """A stack of layers with named parameters; see the module docstring for the layout."""

    def __init__(self, n_in: int, hidden: list[int], n_out: int, *, activation: str = "relu",
                 init: str = "he_normal", init_gain: float = 1.0, norm: str = "none", norm_momentum: float | None = 0.1,
                 dropout_rates: list[float] | None = None, dropout_mode: str = "inverted",
                 shift_noise: float = 0.0, rng: np.random.Generator, dtype=np.float32):
        _choice("activation", activation, list(ACTIVATIONS), "model.activation")
        _choice("init", init, list(INITIALIZERS), "model.init")
        _choice("norm", norm, list(NORMS), "model.norm")
        _choice("dropout mode", dropout_mode, DROPOUT_MODES, "model.dropout.mode")
        dropout_rates = [0.0] * len(hidden) if dropout_rates is None else list(dropout_rates)
        if len(dropout_rates) != len(hidden):
            raise ValueError(f"{len(dropout_rates)} dropout rates for {len(hidden)} hidden layers")
        self.dtype = np.dtype(dtype)
        self.n_in, self.hidden, self.n_out = n_in, list(hidden), n_out
        draw, draw_bias = INITIALIZERS[init], BIASES.get(init)

        def dense(fan_in, fan_out):  # drawn from rng in layer order: W, then b (else b = 0)
            W = draw(rng, fan_in, fan_out, self.dtype)
            if init_gain != 1.0:  # the draws stay the same: only their scale changes
                W *= self.dtype.type(init_gain)
            b = draw_bias(rng, fan_in, fan_out, self.dtype) if draw_bias else np.zeros(fan_out, self.dtype)
            return Dense(W, b)

        layers: list[Layer] = []
        width = n_in
        for h, rate in zip(self.hidden, dropout_rates):
            layers.append(dense(width, h))
            if NORMS[norm] is not None:
                layers.append(NORMS[norm](h, norm_momentum, self.dtype))
            if shift_noise > 0:
                layers.append(ShiftNoise(shift_noise, rng))
            layers.append(ACTIVATIONS[activation]())
            if rate > 0:
                layers.append(Dropout(rate, dropout_mode, rng))
            width = h
        layers.append(dense(width, n_out))
        layers[0].need_dx = False  # nobody needs dL/dX: skip one matmul per step

        self.layers = layers
        # name each layer "<kind><i>", i counting layers of that kind from 0 (state_key)
        counts: Counter[str] = Counter()
        for layer in layers:
            layer.name = state_key(layer.kind, counts[layer.kind])
            counts[layer.kind] += 1
        self._pack()

    @classmethod
    def from_config(cls, m, n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float32) -> "MLP":
        """The network a config's `model:` section `m` (a schema.ModelConfig) describes, n_in → n_out.

        The trainer and the readers of results both build it here, so a model.npz always loads
        into the layer stack that wrote it.
        """
        return cls(n_in, list(m.hidden), n_out, activation=m.activation, init=m.init, init_gain=m.init_gain,
                   norm=m.norm, norm_momentum=m.norm_momentum, dropout_rates=m.dropout_rates(),
                   dropout_mode=m.dropout.mode, shift_noise=m.shift_noise, rng=rng, dtype=dtype)

    def _pack(self) -> None:
        """Make every parameter a view into one flat buffer, and every grad into another, Dense
        weights first (what penalties and weight decay touch), then the rest (b, γ, β).

        Element-wise updates then run over the whole model at once: an optimizer step is a
        dozen NumPy calls whatever the depth. Layers still see their (in, out) arrays.
        """
        named = [(l, k) for l in self.layers for k in l.params]
        decays = [l.kind == "dense" and k == "W" for l, k in named]
        keys = [lk for lk, d in zip(named, decays) if d] + [lk for lk, d in zip(named, decays) if not d]
        self._n_decay = sum(l.params[k].size for (l, k), d in zip(named, decays) if d)
        size = sum(l.params[k].size for l, k in keys)
        self._flat_params, self._flat_grads = np.empty(size, self.dtype), np.empty(size, self.dtype)
        start = 0
        for l, k in keys:
            shape, stop = l.params[k].shape, start + l.params[k].size
            self._flat_params[start:stop] = l.params[k].ravel()
            self._flat_grads[start:stop] = l.grads[k].ravel()
            l.params[k] = self._flat_params[start:stop].reshape(shape)  # views into the buffer
            l.grads[k] = self._flat_grads[start:stop].reshape(shape)
            start = stop

    # ---- forward / backward -------------------------------------------------------------------

    def forward(self, X: np.ndarray, training: bool) -> np.ndarray:
        """(N, n_in) -> (N, n_out); X is cast to the model dtype if it differs."""
        if X.dtype != self.dtype:
            X = X.astype(self.dtype)
        for layer in self.layers:
            X = layer.forward(X, training)
        return X

    def backward(self, dout: np.ndarray) -> None:
        """Fill every layer's grads from dL/d(output) (N, n_out)."""
        for layer in reversed(self.layers):
            dout = layer.backward(dout)

    def predict(self, X: np.ndarray, batch: int = 1024) -> np.ndarray:
        """Eval-mode outputs (N, n_out), in chunks of `batch` rows: memory stays bounded and the
        activations of a chunk stay in cache."""
        out = np.empty((len(X), self.n_out), self.dtype)
        for start in range(0, len(X), batch):
            out[start:start + batch] = self.forward(X[start:start + batch], training=False)
        return out

    def preactivations(self, X: np.ndarray) -> list[np.ndarray]:
        """Eval-mode inputs to each hidden activation (after the norm, if any), one (N, h) each."""
        if X.dtype != self.dtype:
            X = X.astype(self.dtype)
        seen = []
        for layer in self.layers:
            if layer.kind in ACTIVATIONS:
                seen.append(X)  # layers never modify their input, so no copy is needed
            X = layer.forward(X, training=False)
        return seen

    # ---- parameters -------------------------------------------------------------------------

    def parameters(self) -> list[tuple[str, np.ndarray]]:
        """(name, array) for every trainable array, in forward order: "dense0.W", "dense0.b", …"""
        return [(f"{l.name}.{k}", v) for l in self.layers for k, v in l.params.items()]

    def gradients(self) -> list[np.ndarray]:
        """The grad arrays in parameters() order; stable buffers that backward overwrites."""
        return [g for l in self.layers for g in l.grads.values()]

    def flat_groups(self, split: bool = True) -> tuple[list[np.ndarray], list[np.ndarray], list[bool]]:
        """(params, grads, decay) over the flat buffers that every parameter and grad is a view of:
        [Dense weights, the rest] with decay [True, False]; or, with split=False, the whole
        buffers as one group (when nothing decays). `optimizer.step(*model.flat_groups())`
        updates the whole model, element by element the same as a step over parameters().
        """
        p, g, n = self._flat_params, self._flat_grads, self._n_decay
        if not split:
            return [p], [g], [True]
        return [p[:n], p[n:]], [g[:n], g[n:]], [True, False]

    def decay_mask(self) -> list[bool]:
        """True for Dense weights only: penalties and weight decay never touch b, γ or β."""
        return [l.kind == "dense" and k == "W" for l in self.layers for k in l.params]

    def dense_weights(self) -> list[np.ndarray]:
        """The W array of every Dense layer, in forward order."""
        return [l.params["W"] for l in self.layers if l.kind == "dense"]

    def dense_biases(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """([b], [db]) of every Dense layer: views that backward and the optimizer update in place."""
        dense = [l for l in self.layers if l.kind == "dense"]
        return [l.params["b"] for l in dense], [l.grads["b"] for l in dense]

    @property
    def n_params(self) -> int:
        """Number of trainable scalars (buffers excluded)."""
        return sum(v.size for _, v in self.parameters())

    def _named_state(self):
        for l in self.layers:
            for k, v in (*l.params.items(), *l.buffers.items()):
                yield f"{l.name}.{k}", v

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter and buffer under its model.npz key."""
        return {name: v.copy() for name, v in self._named_state()}

    def load_state_dict(self, state: dict, source: str = "state_dict") -> None:
        """Copy `state` into the model in place (cast to the model dtype); all or nothing.

        A missing or unexpected key, or a shape mismatch, raises ConfigError naming `source`
        and the layer, e.g. "model.init_from: x.npz: dense1.W has shape (64, 3), this model
        needs (64, 2)".
        """
        own = dict(self._named_state())
        problems = []
        for name, v in own.items():
            if name not in state:
                problems.append(f"{source}: {name} is missing (this model needs shape {v.shape})")
            elif np.shape(state[name]) != v.shape:
                problems.append(f"{source}: {name} has shape {np.shape(state[name])}, "
                                f"this model needs {v.shape}")
        extra = [k for k in state if k not in own]
        if extra:
            problems.append(f"{source}: unexpected keys {', '.join(sorted(extra))} "
                            f"(this model has {', '.join(own)})")
        if problems:
            raise ConfigError([Problem(p) for p in problems])
        for name, v in own.items():
            v[...] = state[name]  # in place: optimizers hold references to these arrays

    # ---- printing ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        rows = [f"  {l.name:<14} {l!r}" for l in self.layers]
        return "MLP(\n" + "\n".join(rows) + f"\n) with {self.n_params:,} parameters, {self.dtype}"


# ---- model.npz keys: the one place that knows how they are spelt ----------------------------

def state_key(kind: str, index: int, array: str | None = None) -> str:
    """The name of the index-th layer of `kind` ("dense1"), or the model.npz key of one of its
    arrays ("dense1.W")."""
    return f"{kind}{index}" + (f".{array}" if array else "")


def dense_arrays(state: dict) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(W (in, out), b (out,) or None if missing) of each Dense layer of a model.npz state, in
    forward order; the last one gives the outputs."""
    out = []
    while state_key("dense", len(out), "W") in state:
        i = len(out)
        out.append((state[state_key("dense", i, "W")], state.get(state_key("dense", i, "b"))))
    return out


def load_npz(path) -> dict[str, np.ndarray]:
    """The arrays of a model.npz (no pickles); DataError naming the path if missing or damaged."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(Problem("no such file", file=str(path))) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(Problem(f"not a readable .npz archive ({e})", file=str(path))) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a bare .npy array
        raise DataError(Problem("a single .npy array, not an .npz archive", file=str(path)))
    try:
        with archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(Problem(f"damaged .npz archive ({e})", file=str(path))) from None
