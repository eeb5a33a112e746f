"""Predictions from a finished run: rebuild the MLP from model.npz + the resolved config.

Readers (plots, reports) use this instead of the trainer: the layer stack is the one
`MLP.from_config` builds from the config's `model:` section, as the trainer does — Dense →
[BatchNorm | LayerNorm] → activation → [Dropout] per hidden layer, then Dense — and the npz
arrays are loaded into it. Eval mode throughout: BatchNorm uses its running statistics,
inverted dropout is the identity and classic dropout scales by (1 − rate), exactly as the run
evaluated itself.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..config.schema import DataConfig, ModelConfig
from ..data.columns import as_rows
from ..data.datasets import load_dataset, make_cv_folds
from ..errors import ConfigError, ResultError, UsageError
from ..nn.model import MLP, dense_arrays, state_key


def model_from_state(state: dict, config: dict, source: str = "model.npz") -> MLP:
    """The MLP of `config` (a resolved config dict) holding the arrays of `state`."""
    try:
        m = ModelConfig(**config.get("model", {}))
    except Exception as exc:  # pydantic's ValidationError: a config.yaml that is not a resolved config
        raise ResultError(f"{source}: the config's model section does not validate ({exc})") from None
    dense = dense_arrays(state)
    if not dense:
        raise ResultError(f"{source} holds no {state_key('dense', 0, 'W')}: not a dlexp model")
    # (in, out) shapes of the Dense layers give the widths: hidden = the outputs of all but the last
    hidden = [int(W.shape[1]) for W, _ in dense[:-1]]
    if hidden != list(m.hidden):
        raise ResultError(f"{source}: hidden widths {hidden} do not match the config's model.hidden {m.hidden}")
    dtype = np.dtype((config.get("train") or {}).get("dtype", "float32"))
    model = MLP.from_config(m, int(dense[0][0].shape[0]), int(dense[-1][0].shape[1]),
                            np.random.default_rng(0), dtype)  # the drawn weights are overwritten below
    try:
        model.load_state_dict(state, source=source)
    except ConfigError as exc:
        raise ResultError(exc.problems) from None
    return model


def softmax(z: np.ndarray) -> np.ndarray:
    """(N, C) logits → (N, C) probabilities, in float64 (shifted by each row's maximum: no overflow)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def predict_from_state(state: dict, config: dict, X: np.ndarray) -> np.ndarray:
    """Eval-mode network outputs (N, n_out) for X (N, n_in) in the run's feature space.

    Classification: logits (argmax = predicted class, softmax = probabilities).
    Regression: predictions of the (standardized, if data.standardize) target.
    """
    return model_from_state(state, config).predict(np.asarray(X))


# ---------------------------------------------------------------------------------------------
# Decision regions of 2-D classification runs

@dataclass
class Plane:
    """A 2-D classification run's data in the plotted plane (the standardized raw features) and
    its classifier over that plane, whatever feature expansion the model itself sees."""

    X_train: np.ndarray  # (N, 2)
    y_train: np.ndarray  # (N,) the labels the model trained on (label noise included)
    X_val: np.ndarray
    y_val: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    standardized: bool
    summary: dict  # of the model drawn: the run, or its first member for repeats / CV
    model: MLP
    to_model: Callable[[np.ndarray], np.ndarray]  # plane points (M, 2) → model features (M, D)

    def predict_proba(self, P: np.ndarray) -> np.ndarray:
        """Class probabilities (M, C) at plane points P (M, 2): softmax of the logits."""
        return softmax(self.model.predict(self.to_model(P)))


@functools.lru_cache(maxsize=32)
def rebuilt_dataset(data_json: str, fold: int | None = None, k: int | None = None):
    """The dataset of the data section `data_json` (its JSON, keys sorted), rebuilt: it is
    deterministic from the config; cached per process. With `fold` of `k`, that CV fold."""

    cfg = DataConfig(**json.loads(data_json))
    if fold is not None and k:
        return make_cv_folds(cfg, k=k)[fold]
    return load_dataset(cfg)  # the resolved config's file paths are absolute


def member_dataset(run):
    """(the member whose model Run.model() returns, its rebuilt Dataset) of a finished run."""
    member = (run.members() or [run])[0]
    config = member.config
    data = dict(config.get("data") or {})
    data["seed"] = member.summary.get("data_seed", data.get("seed", 0))
    fold, k = member.summary.get("fold"), (config.get("eval") or {}).get("cv")
    try:
        return member, rebuilt_dataset(json.dumps(data, sort_keys=True), fold, k)
    except (TypeError, ValueError) as exc:  # a data section that no longer validates
        raise ResultError(f"{member.folder}/config.yaml: cannot rebuild the dataset ({exc})") from None


@dataclass
class Predictor:
    """A finished run's model behind its own fitted data transform: raw inputs → predictions.

    Inputs are rows of the run's raw feature columns (`inputs`, as in its data file), or a table
    with those columns by name; they go through the transform its data went through (encoding,
    imputation, polynomial features, standardization), and regression outputs are scaled back
    to the target's units.
    """

    model: MLP
    dataset: object  # data.datasets.Dataset, rebuilt from the config
    dtype: np.dtype

    @property
    def inputs(self) -> list[str]:
        return list(self.dataset.inputs or [])

    @property
    def classes(self) -> list[str] | None:
        return self.dataset.class_names

    def outputs(self, X) -> np.ndarray:
        """Eval-mode outputs (M, n_out): logits, or regression predictions in the target's units."""
        t = self.dataset.transform
        rows = as_rows(X, self.inputs, t.encoder.plan if t.encoder is not None else None)
        out = self.model.predict(t(rows).astype(self.dtype)).astype(np.float64)
        if self.dataset.target_std is not None:
            out = out * self.dataset.target_std + self.dataset.target_mean
        return out

    def probabilities(self, X) -> np.ndarray:
        """Class probabilities (M, C): the softmax of the logits, as the loss reads them."""
        if self.dataset.task != "classification":
            raise UsageError("predict_proba needs a classification run; this one is a regression")
        return softmax(self.outputs(X))

    def predict(self, X) -> np.ndarray:
        """Class labels (M,) as the data named them (whole numbers as ints), or targets (M, K)."""
        if self.dataset.task != "classification":
            out = self.outputs(X)
            return out[:, 0] if out.shape[1] == 1 else out
        names = np.array(self.classes)
        picked = names[np.argmax(self.outputs(X), axis=1)]
        whole = all(c.lstrip("-").isdigit() for c in self.classes)
        return picked.astype(np.int64) if whole else picked


def predictor(run) -> Predictor:
    """The Predictor of a finished run (results.Run): for repeats and CV, the first member's."""
    member, ds = member_dataset(run)
    config = member.config
    model = model_from_state(member.model(), config, source=f"{member.folder}/model.npz")
    return Predictor(model, ds, np.dtype((config.get("train") or {}).get("dtype", "float32")))


def decision_plane(run) -> Plane:
    """The Plane of a finished run (results.Run); UsageError if its data is not 2-D classification."""
    if run.summary.get("task") != "classification":
        raise UsageError(f"{run.label}: decision boundaries need a classification task; this run is "
                         f"{run.summary.get('task', 'unknown')}")
    member, ds = member_dataset(run)
    config, data = member.config, member.config.get("data") or {}
    t = ds.transform  # the run's own: plane points go through it exactly as its data did
    if t.categorical:  # one-hot indicators are no plane to sweep a grid over
        raise UsageError(f"{run.label}: decision boundaries need 2 numeric features; {data.get('name')} has "
                         f"categorical columns ({', '.join(t.encoder.categories)})")
    if t.n_in != 2:
        raise UsageError(f"{run.label}: decision boundaries need 2-D data; {data.get('name')} has "
                         f"{t.n_in} features")
    return Plane(t.inputs(ds.X_train), ds.y_train, t.inputs(ds.X_val), ds.y_val, ds.feature_names[:2],
                 list(ds.class_names or []), t.mean is not None, member.summary,
                 model_from_state(member.model(), config, source=f"{member.folder}/model.npz"), t.from_inputs)
