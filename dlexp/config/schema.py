"""The config's keys: pydantic models of every section, with their defaults and ranges.

Unknown keys are refused (`extra="forbid"`); an optimizer's hyperparameter defaults are read
from its class in optim.py, so the config and the code cannot disagree. `config_schema()` is
what `dlexp schema` prints. Loading, validating and hashing a config file: config.py.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from ..data.columns import MISSING, NA_VALUES
from ..data.datasets import DATASETS, LABEL_NOISE_MODES
from ..errors import did_you_mean
from ..nn.activations import ACTIVATIONS
from ..nn.init import INITIALIZERS
from ..nn.layers import DROPOUT_MODES
from ..nn.model import NORMS
from ..nn.optim import OPTIMIZERS
from ..nn.schedules import SCHEDULES

# The choices of every name key come from the registries above: a new dataset, activation,
# init, norm or optimizer is one entry there, and the schema, `dlexp schema` and the error
# messages list it.
OPTIMIZER_NAMES = tuple(OPTIMIZERS)
# Keys of `optimizer:` that belong to a specific optimizer (torch.optim's names): every keyword
# of some optimizer's constructor but lr, each a field of OptimizerConfig below.
OPTIMIZER_HPARAMS = tuple(dict.fromkeys(
    p for cls in OPTIMIZERS.values() for p in inspect.signature(cls.__init__).parameters if p not in ("self", "lr")))

# Keys that name files: relative to the config file that names them, hashed by their contents.
PATH_KEYS = (("data", "path"), ("data", "val_path"), ("data", "test_path"), ("model", "init_from"))


# Seeds feed numpy's generators: np.random.RandomState takes 0 <= seed < 2**32.
SEED_LIMIT = 2**32
Seed = Annotated[int, Field(ge=0, lt=SEED_LIMIT)]


class Section(BaseModel):
    # A .inf or .nan in any float key (noise, l2, lr, …) would train on garbage: refused.
    model_config = ConfigDict(extra="forbid", validate_assignment=False, allow_inf_nan=False)


def _size(v: Any, key: str) -> Any:
    """A split size: a positive int count, or a fraction in (0, 1); train_size null = every row left."""
    if v is None and key == "train_size":
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"expected a count (int > 0) or a fraction in (0, 1), found {v!r}")
    if isinstance(v, float) and v.is_integer() and v > 1:
        v = int(v)
    if isinstance(v, int):
        if v < 0 or (v == 0 and key == "train_size"):
            raise ValueError(f"expected a count (int > 0) or a fraction in (0, 1), found {v!r}")
        return v
    if not 0.0 < v < 1.0:
        raise ValueError(f"a fraction must lie in (0, 1), found {v!r}")
    return v


class Mnist1dConfig(Section):
    """The keyword arguments of the `mnist1d` package's make_dataset, at its defaults
    (get_dataset_args(), `url` aside: nothing is downloaded). At these defaults make_dataset
    gives the published data of Greydanus (2020); tests/test_mnist1d.py checks they match."""

    num_samples: int = Field(5000, ge=10, description="signals generated, num_samples / 10 of each digit; "
                                                      "a multiple of 10")
    train_split: float = Field(0.8, gt=0.0, lt=1.0, description="fraction of them in the package's training "
                                                                "rows; the rest are its test rows (x_test)")
    template_len: int = Field(12, ge=1, description="length of a digit's template before padding")
    padding: tuple[int, int] = Field((36, 60), description="[low, high]: a template is padded with low to "
                                                           "high zeros")
    scale_coeff: float = Field(0.4, ge=0.0, description="signals are scaled by 1 + scale_coeff·U(-0.5, 0.5)")
    max_translation: int = Field(48, ge=1, description="signals are shifted circularly by 0 to max_translation - 1")
    corr_noise_scale: float = Field(0.25, ge=0.0, description="scale of the smoothed (correlated) noise "
                                                              "in the padding")
    iid_noise_scale: float = Field(0.02, ge=0.0, description="scale of the i.i.d. Gaussian noise")
    shear_scale: float = Field(0.75, ge=0.0, description="signals are sheared by shear_scale·U(-0.5, 0.5)")
    shuffle_seq: bool = Field(False, description="permute the time steps, the same way in every signal")
    final_seq_length: int = Field(40, ge=1, description="points per signal: the features")
    seed: Seed = Field(42, description="the generator's seed (42: the published draw)")

    @field_validator("num_samples")
    @classmethod
    def _check_num_samples(cls, v):
        if v % 10:  # make_dataset draws num_samples // 10 signals of each digit
            raise ValueError(f"expected a multiple of 10 (num_samples / 10 signals of each digit), found {v}")
        return v

    @field_validator("padding", mode="before")
    @classmethod
    def _check_padding(cls, v):
        if isinstance(v, (list, tuple)) and len(v) != 2:
            raise ValueError(f"expected two counts [low, high], found {len(v)}: {list(v)!r}")
        if isinstance(v, (list, tuple)) and all(isinstance(n, int) and not isinstance(n, bool) for n in v):
            if not 0 <= v[0] <= v[1]:
                raise ValueError(f"expected 0 <= low <= high, found {list(v)!r}")
        return v


class DataConfig(Section):
    name: Literal[tuple(DATASETS)] = Field(  # type: ignore[valid-type]
        "moons", description="the dataset: synthetic, scikit-learn's bundled sets, mnist1d, or your own csv / npz file")
    n_samples: int = Field(400, ge=4, description="samples generated (synthetic data only)")
    noise: float = Field(0.2, ge=0.0, description="noise level of synthetic data")
    seed: Seed = Field(0, description="generation and split seed (separate from the training seed)")
    train_size: Union[int, float, None] = Field(0.6, description="int count or fraction of the data; "
                                                                 "null = every row not in val or test (the "
                                                                 "default with val_path/test_path files)")
    val_size: Union[int, float] = Field(0.2, description="int count or fraction of the data held out for "
                                                         "validation (the curves, early stopping)")
    test_size: Union[int, float] = Field(0.2, description="int count or fraction of the data held out for the "
                                                          "final test figures")
    standardize: bool = Field(True, description="features (and regression targets) to zero mean, unit std, "
                                                "fitted on the training split")
    poly_degree: int = Field(1, ge=1, le=12, description="polynomial feature expansion")
    label_noise: float = Field(0.0, ge=0.0, le=1.0, description="fraction of training labels corrupted")
    label_noise_mode: Literal[LABEL_NOISE_MODES] = Field(  # type: ignore[valid-type]
        "other", description="other: a corrupted label moves to another class; random: it is drawn anew from all "
                             "classes, so it may stay (UDL notebook 8.3, Zhang et al. 2017's random labels)")
    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="auto: the dataset's own, or for a file decided from its target (text or a few "
                            "whole numbers: classes)")
    n_features: Optional[int] = Field(None, ge=1, description="input columns (blobs, classification, regression)")
    n_informative: Optional[int] = Field(None, ge=1, description="informative inputs (classification, regression)")
    n_redundant: Optional[int] = Field(None, ge=0, description="inputs that mix informative ones (classification)")
    n_classes: Optional[int] = Field(None, ge=2, description="classes (blobs, classification, spirals)")
    class_sep: float = Field(1.0, gt=0.0, description="distance between classes (classification)")
    flip_y: float = Field(0.0, ge=0.0, le=1.0, description="fraction of labels drawn at random, in every split "
                                                           "(classification)")
    path: Optional[str] = Field(None, description="the data file (csv or npz), relative to the config")
    target: Union[int, str, None] = Field(None, description="the target column's name; with header: false "
                                                          "also its index (negative: from the end)")
    header: bool = Field(True, description="false: the CSV files have no header row; columns are x0, x1, …")
    delimiter: Optional[str] = Field(None, description="the CSV files' delimiter, one character; null: "
                                                       "sniffed from the file among , ; tab |")
    features: Optional[list[str]] = Field(None, description="the CSV columns to train on, in this order; "
                                                            "null: every column but the target")
    drop: list[str] = Field(default_factory=list, description="CSV columns left out (identifiers, free text, "
                                                              "leaks of the target)")
    categorical: Union[Literal["auto"], list[str]] = Field(
        "auto", description="CSV columns one-hot encoded (fitted on the training split): auto = those of "
                            "mostly text with at most 20 distinct values; a list = exactly these; [] = none")
    missing: Literal[MISSING] = Field(  # type: ignore[valid-type]
        "error", description="CSV cells in na_values: error, drop_rows (in every file), or imputed (fitted on "
                             "the training split) with a numeric column's mean, median or most_frequent "
                             "value; a categorical column takes its most frequent category")
    na_values: list[str] = Field(default_factory=lambda: list(NA_VALUES),
                                 description="CSV cells read as missing (\"\" is an empty cell)")
    val_path: Optional[str] = Field(None, description="a CSV file used whole as the validation split")
    test_path: Optional[str] = Field(None, description="a CSV file used whole as the test split")
    mnist1d: Optional[Mnist1dConfig] = Field(None, description="mnist1d's generator (make_dataset's "
                                                              "arguments); filled in when data.name is mnist1d")

    @field_validator("train_size", "val_size", "test_size", mode="before")
    @classmethod
    def _check_size(cls, v, info):
        return _size(v, info.field_name)

    @field_validator("delimiter")
    @classmethod
    def _check_delimiter(cls, v):
        if v is not None and (len(v) != 1 or v in "\"\r\n"):
            raise ValueError(f"expected one character such as ',', ';', '\\t' or '|', found {v!r}")
        return v

    @model_validator(mode="after")
    def _check_columns(self):
        both = [c for c in self.drop if c in (self.features or [])]
        if both:
            raise ValueError(f"data.features and data.drop both name {both}: keep each column in one of them")
        return self

    @field_validator("target", mode="before")
    @classmethod
    def _check_target(cls, v):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, str))):
            raise ValueError(f"expected a column name, or with header: false a column index, found {v!r}")
        return v

    @model_validator(mode="after")
    def _files_are_splits(self):
        # With a val or test file the files are the splits: the train file is used whole unless
        # train_size is given, and the resolved config says so (train_size: null).
        if self.name == "csv" and (self.val_path or self.test_path) and "train_size" not in self.model_fields_set:
            self.train_size = None
        # mnist1d's test rows are the package's: val is carved from its training rows, train is
        # the rest unless train_size is given, and the resolved config shows the generator's arguments
        if self.name == "mnist1d":
            if "train_size" not in self.model_fields_set:
                self.train_size = None
            if self.mnist1d is None:
                self.mnist1d = Mnist1dConfig()
        return self


class DropoutConfig(Section):
    rate: Union[float, list[float]] = Field(0.0, description="probability of zeroing a hidden unit in training, "
                                                          "in [0, 1); a list: one rate per hidden layer")
    mode: Literal[DROPOUT_MODES] = Field("inverted", description="inverted: survivors scaled by 1/(1 − rate) in "  # type: ignore[valid-type]
                                         "training (torch's); classic: outputs scaled by 1 − rate at test time")

    @field_validator("rate")
    @classmethod
    def _check_rate(cls, v):
        for r in v if isinstance(v, list) else [v]:
            if not 0.0 <= r < 1.0:
                raise ValueError(f"a dropout rate must lie in [0, 1), found {r!r}")
        return v


class ModelConfig(Section):
    hidden: list[int] = Field(default_factory=lambda: [64, 64], description="hidden widths; [] = linear model")
    activation: Literal[tuple(ACTIVATIONS)] = Field("relu", description="activation after each hidden "  # type: ignore[valid-type]
                                                    "layer (and its norm)")
    init: Literal[tuple(INITIALIZERS)] = Field("he_normal", description="weight initialisation; torch: "  # type: ignore[valid-type]
                                               "nn.Linear's default, W and b ~ U(±1/√fan_in); the others set b = 0")
    init_gain: float = Field(1.0, gt=0.0,
                             description="every Dense W of the init × this factor (biases as drawn): "
                                         "< 1 shrinks the signal through depth, > 1 blows it up")
    norm: Literal[tuple(NORMS)] = Field("none", description="normalisation after each hidden Dense layer, "  # type: ignore[valid-type]
                                        "before its activation")
    norm_momentum: Optional[float] = Field(0.1, gt=0.0, le=1.0,
                                           description="weight of the new batch; null = cumulative average")
    shift_noise: float = Field(0.0, ge=0.0,
                               description="injected covariate shift: in training each hidden unit's "
                                           "pre-activation (after the norm) is scaled by e^u and shifted by v, "
                                           "u, v ~ U(±shift_noise) drawn anew every step; 0 = off")
    dropout: DropoutConfig = Field(default_factory=DropoutConfig,
                                   description="rate, list of per-layer rates, or {rate, mode}")
    init_from: Optional[str] = Field(None, description="model.npz to warm-start from")

    @field_validator("hidden")
    @classmethod
    def _check_hidden(cls, v):
        for h in v:
            if h < 1:
                raise ValueError(f"hidden widths must be >= 1, found {h}")
        return v

    @field_validator("dropout", mode="before")
    @classmethod
    def _dropout_forms(cls, v):
        if v is None:
            return {"rate": 0.0}
        if isinstance(v, (int, float, list)) and not isinstance(v, bool):
            return {"rate": v}
        return v

    def dropout_rates(self) -> list[float]:
        rate = self.dropout.rate
        return [float(r) for r in rate] if isinstance(rate, list) else [float(rate)] * len(self.hidden)


class RegularizationConfig(Section):
    l1: float = Field(0.0, ge=0.0, description="λ·Σ|W| on Dense weights")
    l2: float = Field(0.0, ge=0.0, description="(λ/2)·ΣW² on Dense weights")
    l1_mode: Literal["subgradient", "proximal"] = Field("subgradient", description="subgradient: λ·sign(W) "
                                                        "added to the gradient; proximal: a soft-threshold after "
                                                        "each step, which sets weights exactly to 0")
    penalize_bias: bool = Field(False, description="extend the L1/L2 penalty to the Dense biases b (the notes, "
                                                   "§2.2, advise against it: it can cause underfitting)")


class ConstantSchedule(Section):
    name: Literal["constant"] = Field("constant", description="the learning rate stays optimizer.lr")


class StepSchedule(Section):
    name: Literal["step"] = Field(..., description="lr × gamma every step_size epochs (torch's StepLR)")
    step_size: int = Field(..., ge=1, description="epochs between two cuts of the learning rate")
    gamma: float = Field(0.1, gt=0.0, description="factor of each cut")


class ExponentialSchedule(Section):
    name: Literal["exponential"] = Field(..., description="lr × gamma after every epoch (torch's ExponentialLR)")
    gamma: float = Field(..., gt=0.0, description="factor per epoch")


class CosineSchedule(Section):
    name: Literal["cosine"] = Field(..., description="lr falls along a half cosine from optimizer.lr to eta_min "
                                                     "over T_max epochs (torch's CosineAnnealingLR)")
    T_max: Optional[int] = Field(None, ge=1, description="epochs of the half cosine; default: train.epochs")
    eta_min: float = Field(0.0, ge=0.0, description="the learning rate it falls to")


class PlateauSchedule(Section):
    name: Literal["plateau"] = Field(..., description="lr × factor when the val loss stops improving (torch's "
                                                      "ReduceLROnPlateau)")
    factor: float = Field(0.1, gt=0.0, lt=1.0, description="factor of each cut")
    patience: int = Field(10, ge=0, description="epochs without improvement before a cut")
    threshold: float = Field(1e-4, ge=0.0, description="an improvement: val loss below best · (1 − threshold)")
    cooldown: int = Field(0, ge=0, description="epochs after a cut before counting again")
    min_lr: float = Field(0.0, ge=0.0, description="the learning rate is never cut below this")


# The keys of each schedule in nn/schedules.py's registry, with their ranges.
SCHEDULE_SECTIONS = {"constant": ConstantSchedule, "step": StepSchedule, "exponential": ExponentialSchedule,
                     "cosine": CosineSchedule, "plateau": PlateauSchedule}
if SCHEDULE_SECTIONS.keys() != SCHEDULES.keys():
    raise TypeError(f"schedules without a config section: {sorted(SCHEDULES.keys() ^ SCHEDULE_SECTIONS.keys())}")
Schedule = Union[tuple(SCHEDULE_SECTIONS.values())]
SCHEDULE_NAMES = tuple(SCHEDULES)


class OptimizerConfig(Section):
    name: Literal[OPTIMIZER_NAMES] = Field("adam", description="the update rule, as torch.optim defines it")  # type: ignore[valid-type]
    lr: Optional[float] = Field(None, ge=0.0, description="default: torch's default for the optimizer")
    # The optimizers' own keys, as torch.optim names them; null: the chosen optimizer's torch default
    momentum: Optional[float] = Field(None, description="sgd, rmsprop: weight of the previous update")
    dampening: Optional[float] = Field(None, description="sgd: the gradient's share of the momentum is 1 − dampening")
    nesterov: Optional[bool] = Field(None, description="sgd: Nesterov momentum")
    lr_decay: Optional[float] = Field(None, description="adagrad: lr / (1 + (step − 1)·lr_decay)")
    initial_accumulator_value: Optional[float] = Field(None, description="adagrad: the sum of squared gradients "
                                                                         "starts here")
    rho: Optional[float] = Field(None, description="adadelta: decay of the running averages")
    alpha: Optional[float] = Field(None, description="rmsprop: decay of the running average of squared gradients")
    centered: Optional[bool] = Field(None, description="rmsprop: divide by the gradient's variance, not its "
                                                       "second moment")
    betas: Optional[tuple[float, float]] = Field(None, description="adam, adamw: [beta1, beta2], decays of the "
                                                                   "first and second moment averages")
    eps: Optional[float] = Field(None, description="added to the denominator for numerical stability")
    amsgrad: Optional[bool] = Field(None, description="adam, adamw: divide by the largest second moment so far")
    weight_decay: Optional[float] = Field(None, description="λ of torch's weight decay, on the Dense weights "
                                                            "as the penalties (adamw: decoupled from the gradient)")
    schedule: Schedule = Field(default_factory=ConstantSchedule, discriminator="name",
                               description="learning-rate schedule: a name, or {name, its keys}")
    clip_norm: Optional[float] = Field(None, gt=0.0, description="clip the global gradient norm")

    @field_validator("betas", mode="before")
    @classmethod
    def _check_betas(cls, v):
        if isinstance(v, (list, tuple)) and len(v) != 2:
            raise ValueError(f"expected two numbers [beta1, beta2], found {len(v)}: {list(v)!r}")
        return v

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule_forms(cls, v):
        if v is None:
            return {"name": "constant"}
        if isinstance(v, str):
            return {"name": v}
        return v

    def hparams(self) -> dict[str, Any]:
        """The optimizer's keyword arguments (lr included), as torch.optim names them."""
        out = {"lr": self.lr}
        out.update({k: getattr(self, k) for k in OPTIMIZER_HPARAMS if getattr(self, k) is not None})
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items() if v is not None}


_unknown = set(OPTIMIZER_HPARAMS) - set(OptimizerConfig.model_fields)
if _unknown:
    raise TypeError(f"optimizer keywords without a config field in OptimizerConfig: {sorted(_unknown)}")


class EarlyStoppingConfig(Section):
    monitor: str = Field("val_loss", description="val_loss or a validation metric (val_acc, val_r2)")
    patience: int = Field(20, ge=1, description="epochs without improvement (or of consecutive increases) "
                                                "before stopping")
    min_delta: float = Field(0.0, ge=0.0, description="smallest change of the monitored figure that counts as one")
    start_from_epoch: int = Field(0, ge=0, description="epochs before this one are never 'best'")
    rule: Literal["no_improvement", "consecutive_increase"] = Field(
        "no_improvement", description="no_improvement: patience epochs without a new best; consecutive_increase: "
                                      "the monitored figure worse patience epochs in a row (the notes' rule)")
    restore_best: bool = Field(True, description="end with the weights of the best epoch, not the last")

    @field_validator("monitor")
    @classmethod
    def _check_monitor(cls, v):
        valid = ("val_loss", "val_acc", "val_r2")
        if v not in valid:
            raise ValueError(f"{v!r} is not a monitored figure; valid: {', '.join(valid)}{did_you_mean(v, valid)}")
        return v


class TrainConfig(Section):
    epochs: int = Field(200, ge=1, le=1_000_000, description="passes over the training rows, at most")
    batch_size: Union[int, Literal["full"]] = Field(32, description="int, or 'full' for batch gradient descent")
    dtype: Literal["float32", "float64"] = Field("float32", description="float32 for speed, float64 for exactness")
    shuffle: bool = Field(True, description="draw the batches of each epoch in a new order")
    early_stopping: Optional[EarlyStoppingConfig] = Field(None, description="null: off; true or {…}: stop when "
                                                                          "the monitored figure stops improving")
    divergence_threshold: Optional[float] = Field(None, gt=0.0, description="a loss above it ends the run as "
                                                                            "diverged (a non-finite one always does)")
    track_activations: bool = Field(False, description="record each layer's pre-activation mean and std on a "
                                                       "fixed probe batch, every epoch")
    track_gradients: bool = Field(False, description="record each Dense layer's weight-gradient norm (mean over "
                                                     "the epoch's batches) in metrics.csv: grad_norm_0 … (input first)")

    @field_validator("batch_size", mode="before")
    @classmethod
    def _check_batch(cls, v):
        if v == "full":
            return v
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"expected a positive integer or 'full', found {v!r}")
        return v

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _early_forms(cls, v):
        return {} if v is True else (None if v is False else v)


class EvalConfig(Section):
    cv: Optional[int] = Field(None, ge=2, le=100, description="k-fold cross-validation over train+val")


class Experiment(Section):
    extends: Optional[str] = Field(None, exclude=True, description="base config, relative to this file")
    name: str = Field("experiment", description="what tables, figures and messages call the run")
    seed: Seed = Field(0, description="training seed: init, shuffling, dropout masks")
    data: DataConfig = Field(default_factory=DataConfig, description="the dataset and its splits")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the network: widths, activation, norm, "
                                                                        "dropout")
    regularization: RegularizationConfig = Field(default_factory=RegularizationConfig,
                                                 description="L1/L2 penalties on the Dense weights")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig,
                                       description="the update rule, its learning rate and schedule")
    train: TrainConfig = Field(default_factory=TrainConfig, description="epochs, batches, early stopping")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="how the model is evaluated")
    repeats: int = Field(1, ge=1, le=1000, description="train it under this many seeds: seed, seed + 1, …")
    seeds: Optional[list[Seed]] = Field(None, description="the training seeds to repeat it under (instead of "
                                                          "repeats)")
    repeat_data: bool = Field(False, description="repeats vary data.seed too (data.seed + i): new data per seed")
    # The yamlfile.Source it was read from: where a problem found later is placed (load.locate).
    _source: Any = PrivateAttr(None)

    @model_validator(mode="after")
    def _fill_defaults(self):
        # Fill the chosen optimizer's torch defaults so the resolved config shows them.
        defaults = optimizer_defaults(self.optimizer.name)
        for k, v in defaults.items():
            if getattr(self.optimizer, k, None) is None:
                setattr(self.optimizer, k, tuple(v) if k == "betas" else v)
        return self

    def seed_list(self) -> list[int]:
        """Training seeds of the repeats: `seeds`, or seed, seed+1, … (`repeats` of them)."""
        return list(self.seeds) if self.seeds else [self.seed + i for i in range(self.repeats)]


def optimizer_defaults(name: str) -> dict[str, Any]:
    """torch's defaults for optimizer `name`, read off the class signature in optim.py."""
    sig = inspect.signature(OPTIMIZERS[name].__init__)
    return {p.name: p.default for p in sig.parameters.values()
            if p.name != "self" and p.default is not inspect.Parameter.empty}


def config_schema() -> dict:
    """JSON Schema of the config, for editors' completion and validation."""
    schema = Experiment.model_json_schema()
    schema["title"] = "dlexp experiment"
    return schema
