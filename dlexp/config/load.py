"""Experiment configs: YAML → validated, defaults filled, hashed.

A config is loaded with `yaml.safe_load`, merged over its `extends:` base, patched by `--set`
overrides and validated by the pydantic models of schema.py, which forbid unknown keys. Every
problem is reported at once, located by file, line and dotted key path, with the closest valid
name. Reading YAML with line numbers, and dotted keys, live in yamlfile.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from ..data.columns import NA_VALUES
from ..data.files import not_regular, open_regular
from ..errors import ConfigError, DlexpError, Problem, did_you_mean
from ..nn.optim import OPTIMIZERS
from .schema import (OPTIMIZER_HPARAMS, OPTIMIZER_NAMES, PATH_KEYS, SCHEDULE_NAMES, SEED_LIMIT, CosineSchedule,
                     DataConfig, Experiment, OptimizerConfig, optimizer_defaults)
from .yamlfile import Source, deep_merge, mark_override, parse_overrides, parse_yaml, read_yaml, set_dotted

# ---------------------------------------------------------------------------------------------
# Files: a config and its chain of `extends:` bases

def load_raw(path: Path, display: str, source: Source, seen: tuple = ()) -> dict:
    """Read `path` and its chain of `extends:` bases into one raw dict, recording lines."""
    resolved = path.resolve()
    if resolved in seen:
        raise ConfigError(Problem("extends: cycle through " + " -> ".join(str(p) for p in seen + (resolved,)),
                                  key="extends", file=display))
    data, lines = read_yaml(path, display)
    return merged_raw(data, lines, path, display, source, seen + (resolved,))


def merged_raw(data, lines: dict, path: Path, display: str, source: Source, seen: tuple = ()) -> dict:
    """A config's parsed YAML `data` (with its `lines`) merged onto its `extends:` base, which is
    relative to `path`'s folder; `path` need not exist (a config given in Python)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(Problem(f"a config must be a mapping of keys, found {type(data).__name__}",
                                  file=display, line=1))
    base_name = data.get("extends")
    if base_name is not None:
        if not isinstance(base_name, str):
            raise ConfigError(Problem(f"expected a file name, found {base_name!r}", key="extends",
                                      file=display, line=lines.get(("extends",), (None, None))[1]))
        base_path = (path.parent / base_name)
        if not base_path.is_file():
            raise ConfigError(Problem(f"base config {str(base_path)!r} not found", key="extends",
                                      file=display, line=lines.get(("extends",), (None, None))[1]))
        base_display = str(Path(display).parent / base_name)
        base = load_raw(base_path, base_display, source, seen)
        anchor_paths(base, base_path.parent)  # the base's file paths are relative to the base, not to us
        data = deep_merge(base, {k: v for k, v in data.items() if k != "extends"})
    source.lines.update(lines)
    return data


# ---------------------------------------------------------------------------------------------
# Validation

def _fields_of(loc: tuple) -> list[str]:
    """Valid keys of the section at `loc`, a pydantic error location (for 'did you mean').

    In a tagged union (optimizer.schedule) pydantic's location names the member by its tag
    (`optimizer.schedule.step.step_size`): the keys are that member's.
    """
    model: Any = Experiment
    parts = list(loc)
    while parts:
        field = getattr(model, "model_fields", {}).get(parts.pop(0))
        if field is None:
            return []
        ann = field.annotation
        members = [c for c in (ann, *getattr(ann, "__args__", ())) if isinstance(c, type) and issubclass(c, BaseModel)]
        if field.discriminator and parts:
            tag = parts.pop(0)
            members = [m for m in members if tag in get_args(m.model_fields[field.discriminator].annotation)]
        if not members:
            return []
        model = members[0]
    return [k for k in getattr(model, "model_fields", {}) if k != "extends" or model is Experiment]


def _clean_loc(raw: Any, loc: tuple) -> tuple:
    """Keep the loc parts that index the raw input (drop pydantic's union/validator tags)."""
    out = []
    node = raw
    for j, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part in _fields_of(loc[:j]):
            out.append(part)  # a missing required key
            node = None
    return tuple(out)


def _message(err: dict, loc: tuple, raw_loc: tuple) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        valid = _fields_of(raw_loc[:-1]) or _fields_of(loc[:-1])
        return f"unknown key{did_you_mean(loc[-1], valid)}" + (f"; valid keys: {', '.join(valid)}" if valid else "")
    if kind in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",") if o.strip()]
        return f"{value!r} is not valid; valid: {', '.join(options)}{did_you_mean(value, options)}"
    if kind == "union_tag_invalid":
        return (f"{err['ctx'].get('tag')!r} is not a schedule; valid: {', '.join(SCHEDULE_NAMES)}"
                f"{did_you_mean(err['ctx'].get('tag'), SCHEDULE_NAMES)}")
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        return msg[len("Value error, "):]
    return f"{msg[0].lower()}{msg[1:]}, found {value!r}"


def _key(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def validate(raw: Any, source: Source) -> Experiment:
    """Raw dict → Experiment, or ConfigError listing every problem with file and line."""
    if not isinstance(raw, dict):
        raise ConfigError(Problem("a config must be a mapping of keys", file=source.file, line=1))
    problems: dict[str, list[Problem]] = {}
    for key, msg in _optimizer_key_checks(raw):
        problems[key] = [_located(source, key, msg)]
    try:
        exp = Experiment.model_validate(raw)
        if problems:
            raise ConfigError([_join(ps) for ps in problems.values()])
    except ValidationError as exc:
        for err in exc.errors():
            loc = _clean_loc(raw, tuple(err["loc"]))
            file, line = source.locate(loc)
            key = _key(loc)
            msg = _message(err, loc, tuple(err["loc"]))
            known = problems.setdefault(key, [])
            if all(p.message != msg for p in known):
                known.append(Problem(msg, key=key, file=file, line=line))
        joined = sorted((_join(ps) for ps in problems.values()), key=lambda p: (p.file or "", p.line or 0))
        raise ConfigError(joined) from None
    cross = _cross_checks(exp, raw)
    if cross:
        raise ConfigError([_located(source, key, msg) for key, msg in cross])
    _resolve_paths(exp, source.base_dir)
    unreadable = _unreadable_paths(exp)
    if unreadable:
        raise ConfigError([_located(source, key, msg) for key, msg in unreadable])
    exp._source = source
    return exp


def _located(source: Source, key: str, message: str) -> Problem:
    file, line = source.locate(tuple(key.split(".")))
    return Problem(message, key=key, file=file, line=line)


def locate(exc: DlexpError, where: "Experiment | Source") -> DlexpError:
    """`exc` with every problem that names a config key but no file placed at that key's file and line.

    Problems found after validation (a split that the data cannot hold, CV folds, the memory
    limit, a data file) name the key only; `where` is the Source that the config was read from,
    or the Experiment that keeps it. A problem that names its own file (a CSV cell) stays there.
    """
    source = where._source if isinstance(where, Experiment) else where
    if source is None:
        return exc
    problems = []
    for p in exc.problems:
        if p.key and p.file is None and p.key.split(".")[0] in Experiment.model_fields:
            p = _located(source, p.key, p.message)
        problems.append(p)
    return type(exc)(problems)


def _optimizer_key_checks(raw: dict) -> list[tuple[str, str]]:
    """Hyperparameters that the chosen optimizer does not take (e.g. betas for sgd)."""
    opt = raw.get("optimizer")
    if not isinstance(opt, dict):
        return []
    name = opt.get("name", OptimizerConfig.model_fields["name"].default)
    if name not in OPTIMIZER_NAMES:
        return []
    valid = optimizer_defaults(name)
    return [(f"optimizer.{k}", f"not a parameter of {name}; {name} takes: {', '.join(valid)}{did_you_mean(k, valid)}")
            for k in OPTIMIZER_HPARAMS if k in opt and k not in valid]


def _join(ps: list[Problem]) -> Problem:
    if len(ps) == 1:
        return ps[0]
    return Problem(" or ".join(p.message for p in ps), key=ps[0].key, file=ps[0].file, line=ps[0].line)


def _cross_checks(exp: Experiment, raw: dict) -> list[tuple[str, str]]:
    """Checks that span keys; each returns (dotted key, message)."""
    out = []
    m, t, o = exp.model, exp.train, exp.optimizer
    rate = m.dropout.rate
    if isinstance(rate, list) and len(rate) != len(m.hidden):
        out.append(("model.dropout", f"{len(rate)} rates given for {len(m.hidden)} hidden layers "
                                     f"(model.hidden = {m.hidden}); give one rate per hidden layer or a single rate"))
    if m.norm == "batchnorm" and t.batch_size == 1:
        out.append(("train.batch_size", "batchnorm needs more than one sample per batch; use batch_size >= 2 "
                                        "or model.norm: layernorm"))
    if exp.seeds is not None and "repeats" in raw and exp.repeats != 1:
        out.append(("seeds", "give either repeats or seeds, not both"))
    if exp.seeds is not None and len(exp.seeds) == 0:
        out.append(("seeds", "an empty list; give at least one seed or remove the key"))
    if exp.seeds is not None and len(set(exp.seeds)) != len(exp.seeds):
        out.append(("seeds", f"duplicate seeds in {exp.seeds}"))
    if exp.seeds is None and exp.seed + exp.repeats > SEED_LIMIT:
        out.append(("seed", f"the repeats' seeds run from {exp.seed} to {exp.seed + exp.repeats - 1}, and seeds "
                            f"must lie below 2**32 = {SEED_LIMIT}; lower seed"))
    members = len(exp.seeds) if exp.seeds else exp.repeats
    if exp.repeat_data and exp.data.seed + members > SEED_LIMIT:
        out.append(("data.seed", f"with repeat_data the data seeds run from {exp.data.seed} to "
                                 f"{exp.data.seed + members - 1}, and seeds must lie below 2**32 = {SEED_LIMIT}; "
                                 "lower data.seed"))
    if exp.data.name == "csv" and not exp.data.path:
        out.append(("data.path", "data.name is csv: give the CSV file's path"))
    if exp.data.name == "csv" and exp.data.target in (None, ""):  # target 0 is a column index
        out.append(("data.target", "data.name is csv: give the name of the target column"))
    if exp.data.name == "npz" and not exp.data.path:
        out.append(("data.path", "data.name is npz: give the .npz file's path"))
    if exp.data.name != "csv":
        for k in ("path", "target", "val_path", "test_path"):
            if getattr(exp.data, k) is not None and not (k == "path" and exp.data.name == "npz"):
                users = "csv or npz" if k == "path" else "csv"
                out.append((f"data.{k}", f"only used with data.name: {users} (data.name is {exp.data.name})"))
        if not exp.data.header:
            out.append(("data.header", f"only used with data.name: csv (data.name is {exp.data.name})"))
        for k in CSV_COLUMN_KEYS:  # a resolved config holds their defaults
            if getattr(exp.data, k) != HASH_NEUTRAL[("data", k)]:
                out.append((f"data.{k}", f"only used with data.name: csv (data.name is {exp.data.name})"))
    out += _mnist1d_checks(exp.data)
    if isinstance(exp.data.target, int) and exp.data.header:
        out.append(("data.target", f"{exp.data.target} is a column index, which needs data.header: false (a file "
                                   "without a header row); with a header row give the column's name"))
    if isinstance(o.schedule, CosineSchedule) and o.schedule.T_max is None:
        o.schedule.T_max = t.epochs
    # Optimizer hyperparameters are checked by the optimizer's own constructor.
    valid = optimizer_defaults(o.name)
    if not out:
        try:
            OPTIMIZERS[o.name](**o.hparams())
        except (ValueError, TypeError) as exc:
            key = getattr(exc, "key", None) or next((k for k in valid if k in str(exc)), "lr")
            out.append((f"optimizer.{key}", str(exc)))
    return out


# Keys of the other generators, which mnist1d's does not read: its own are under data.mnist1d.
NOT_MNIST1D = ("n_samples", "noise", "n_features", "n_informative", "n_redundant", "n_classes", "class_sep", "flip_y")


def _mnist1d_checks(d) -> list[tuple[str, str]]:
    """data.mnist1d only with mnist1d, and no key that mnist1d would ignore away from its default."""
    if d.name != "mnist1d":
        return [("data.mnist1d", f"only used with data.name: mnist1d (data.name is {d.name})")] if d.mnist1d else []
    own = {"n_samples": ": its row count is data.mnist1d.num_samples",
           "noise": ": its noise is data.mnist1d.iid_noise_scale and corr_noise_scale"}
    out = [(f"data.{k}", "not used by mnist1d" + own.get(k, " (its generator's keys are under data.mnist1d)"))
           for k in NOT_MNIST1D if getattr(d, k) != DataConfig.model_fields[k].default]
    if d.test_size != DataConfig.model_fields["test_size"].default:
        out.append(("data.test_size", "mnist1d's test split is the package's own test rows (x_test), used whole: "
                                      "their share is 1 - data.mnist1d.train_split (0.2 by default, 1000 of 5000 "
                                      "rows); leave data.test_size at its default 0.2"))
    return out


def _unreadable_paths(exp: Experiment) -> list[tuple[str, str]]:
    """(key, message) of each named path that exists but is no regular file (a directory, a FIFO,
    /dev/zero): refused here, where the config's line is known, before anything opens it."""
    named = ((f"{section}.{key}", getattr(getattr(exp, section), key)) for section, key in PATH_KEYS)
    return [(key, why) for key, path in named if path and (why := not_regular(path))]


def anchor_paths(raw: dict, folder: Path) -> None:
    """In a raw config read from a file in `folder`: relative file paths made absolute."""
    for section, key in PATH_KEYS:
        node = raw.get(section)
        if isinstance(node, dict) and isinstance(node.get(key), str) and node[key]:
            node[key] = str((folder / Path(node[key]).expanduser()).resolve())


def _resolve_paths(exp: Experiment, base_dir: Path) -> None:
    """Make file paths absolute, relative to the config file that named them."""
    for section, key in PATH_KEYS:
        obj = getattr(exp, section)
        value = getattr(obj, key)
        if value:
            setattr(obj, key, str((base_dir / Path(value).expanduser()).resolve()))


def load_config(path: str | Path, overrides=(), *, extra: dict | None = None) -> Experiment:
    """Read, merge, override and validate the config at `path`."""
    path = Path(path)
    source = Source(str(path), path.parent)
    raw = load_raw(path, str(path), source)
    raw.setdefault("name", path.stem)
    if extra:
        for k, v in extra.items():
            set_dotted(raw, k, v)
    if overrides:
        items = parse_overrides(overrides) if not isinstance(overrides, dict) else overrides
        _override(raw, source, items, "--set")
    return validate(raw, source)


PYTHON_CONFIG = "<config>"  # how messages name a config given in Python (a dict or YAML text)


def config_from_python(config: "dict | str", overrides: dict | None = None, *, base_dir: Path | None = None,
                       origin: str = "override") -> Experiment:
    """A config given in Python, as a mapping or as YAML text; `extends:` and file paths are
    relative to `base_dir` (the working folder). `overrides` {dotted key: value} are located
    at `origin` in messages."""
    base_dir = Path(base_dir or Path.cwd())
    source = Source(PYTHON_CONFIG, base_dir)
    if isinstance(config, str):
        data, lines = parse_yaml(config, PYTHON_CONFIG)
    else:
        data, lines = copy.deepcopy(config), {}
    raw = merged_raw(data, lines, base_dir / PYTHON_CONFIG, PYTHON_CONFIG, source)
    raw.setdefault("name", "experiment")
    _override(raw, source, overrides or {}, origin)
    return validate(raw, source)


def _override(raw: dict, source: Source, items: dict, origin: str) -> None:
    for k, v in items.items():
        set_dotted(raw, k, v)
        mark_override(source, k, origin)


def config_from_dict(raw: dict, *, file: str | None = None, base_dir: Path | None = None) -> Experiment:
    return validate(copy.deepcopy(raw), Source(file, base_dir))


# ---------------------------------------------------------------------------------------------
# Resolved form and identity

def resolved_dict(exp: Experiment) -> dict:
    """The config with every default filled in, as plain YAML-able data."""
    d = exp.model_dump(mode="json")
    d["optimizer"] = {k: v for k, v in d["optimizer"].items() if v is not None or k in ("lr", "clip_norm")}
    return d


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    try:
        with open_regular(path) as f:  # a FIFO or /dev/zero would hang or never end
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return "missing:" + path
    return h.hexdigest()[:16]


# Keys added after dlexp 0.1.0, with the default that leaves runs as they were.
HASH_NEUTRAL = {("regularization", "penalize_bias"): False, ("model", "init_gain"): 1.0, ("model", "shift_noise"): 0.0,
                ("data", "header"): True, ("data", "mnist1d"): None,
                ("data", "delimiter"): None, ("data", "features"): None, ("data", "drop"): [],
                ("data", "categorical"): "auto", ("data", "missing"): "error", ("data", "na_values"): list(NA_VALUES),
                ("data", "label_noise_mode"): "other", ("train", "track_gradients"): False}
CSV_COLUMN_KEYS = ("delimiter", "features", "drop", "categorical", "missing", "na_values")  # data.name: csv only


def run_id(exp: Experiment) -> str:
    """Short content hash of the resolved config: same config → same run folder.

    The name is cosmetic and left out; file paths are replaced by their contents' digest, so a
    moved CSV keeps its runs and an edited one gets new runs. Keys added in a later version are
    left out while at their default (HASH_NEUTRAL), so existing results keep their run ids.
    """
    d = resolved_dict(exp)
    d.pop("name", None)
    for (section, key), default in HASH_NEUTRAL.items():
        if d[section].get(key) == default:
            del d[section][key]
    for section, key in PATH_KEYS:
        if d[section].get(key):
            d[section][key] = _file_digest(d[section][key])
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
