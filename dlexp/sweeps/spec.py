"""Sweep specs: YAML → validated points, before anything trains.

    name: model-size
    base: ../quickstart.yaml          # or an inline config mapping
    grid:                             # cartesian product, in spec order
      model.hidden: [[8], [64], [512]]
    random:                           # every sample for each grid point
      samples: 4
      seed: 0
      params:
        optimizer.lr: {dist: loguniform, low: 1.0e-4, high: 1.0e-1}
    repeats: 3                        # or seeds: [0, 1, 2]; set on every point

`load_spec` reads a spec (or a config plus `--grid` options), counts its points (at most
MAX_POINTS), expands it and validates every point with config.validate, checks its memory need
and builds each distinct data section once, so a bad point is reported at the spec line of the
value that makes it bad (`spec.yaml:5: grid.model.hidden[2]: …`), naming the point, and nothing
trains.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import labels
from ..config.load import anchor_paths, load_raw, locate, run_id, validate
from ..config.schema import SEED_LIMIT, Experiment
from ..data.datasets import load_dataset
from ..config.yamlfile import Source, deep_merge, parse_overrides, parse_yaml, read_yaml, safe_load, set_dotted
from ..errors import ConfigError, DataError, Problem, ResourceError, did_you_mean
from ..results.store import SWEEP_NAME_BYTES
from ..training.resources import check_memory

MAX_POINTS = 100_000  # points (runs) of one sweep; each point's repeats and folds are inside its run
SPEC_KEYS = ("name", "description", "base", "grid", "random", "repeats", "seeds")
RANDOM_KEYS = ("samples", "seed", "params")
DISTS = {"uniform": ("low", "high"), "loguniform": ("low", "high"), "int": ("low", "high"), "choice": ("values",)}
# YAML 1.1 reads 1e-4 (no dot) as a string; in a sweep value it is meant as a number.
_EXP_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
_NAME = re.compile(r"[\w][\w.+=,@-]*")


def numbers(v):
    """Strings like '1e-4' become floats, inside lists and mappings too."""
    if isinstance(v, str) and _EXP_NUMBER.fullmatch(v.strip()):
        return float(v)
    if isinstance(v, list):
        return [numbers(x) for x in v]
    if isinstance(v, dict):
        return {k: numbers(x) for k, x in v.items()}
    return v


@dataclass
class Axis:
    """One swept key: grid values (each with where it was written), or a random distribution."""

    key: str
    label: str                  # how messages name it: grid.model.hidden, random.params.optimizer.lr, --grid
    values: list | None = None  # grid
    lines: list | None = None   # grid: (file, line) of each value
    dist: dict | None = None    # random
    where: tuple = (None, None)

    def locate(self, i: int | None) -> tuple:
        return self.lines[i] if self.values is not None and i is not None else self.where


@dataclass
class Point:
    index: int
    values: dict      # dotted key → value
    exp: Experiment
    rid: str

    @property
    def label(self) -> str:
        return labels.point(self.values)

    def __repr__(self) -> str:
        return f"Point({self.index}, {self.label}, run_id={self.rid})"


@dataclass
class SweepPlan:
    name: str
    spec: dict          # the spec as resolved, written to sweep.yaml
    swept: list[str]
    points: list[Point]
    display: str        # the spec (or config) file, for messages

    def __repr__(self) -> str:
        return f"SweepPlan({self.name!r}, {len(self.points)} points over {', '.join(self.swept)})"


# ---------------------------------------------------------------------------------------------
# Spec → axes

def parse_grid_args(items) -> list[tuple[str, list]]:
    """['model.hidden=[8],[64]', 'l2=0,1e-4'] → [('model.hidden', [[8], [64]]), ('l2', [0, 0.0001])]."""
    out, problems = [], []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            problems.append(Problem(f"expected KEY=V1,V2,…, found {item!r}", file="--grid"))
            continue
        values = []
        for part in split_top_level(text):
            try:
                values.append(numbers(safe_load(part)) if part.strip() else None)
            except yaml.YAMLError as exc:
                what = getattr(exc, "reason", None) or getattr(exc, "problem", exc)  # reason: no line in one value
                problems.append(Problem(f"cannot parse value {part!r}: {what}",
                                        key=key, file="--grid"))
            except RecursionError:
                problems.append(Problem(f"cannot parse value {part[:40]!r}…: nested too deeply", key=key,
                                        file="--grid"))
        out.append((key, values))
    if problems:
        raise ConfigError(problems)
    return out


def split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes: '[8, 8],[64]' → ['[8, 8]', '[64]']."""
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _grid_axes(grid, lines: dict, display: str, problems: list) -> list[Axis]:
    where = lines.get(("grid",), (display, None))
    if not isinstance(grid, dict):
        problems.append(Problem("expected a mapping of dotted keys to lists of values, e.g. "
                                "model.hidden: [[8], [64]]", key="grid", file=where[0], line=where[1]))
        return []
    if not grid:
        problems.append(Problem("empty; give at least one key with a list of values, e.g. model.hidden: [[8], [64]]",
                                key="grid", file=where[0], line=where[1]))
    axes: list[Axis] = []

    def walk(node: dict, keys: tuple, spath: tuple):
        for k, v in node.items():
            key, sp = ".".join(keys + (str(k),)), spath + (k,)
            file, line = lines.get(sp, where)
            if isinstance(v, dict) and v:  # nested form: grid: {model: {hidden: [...]}}
                walk(v, keys + (str(k),), sp)
            elif isinstance(v, list) and v and key in [a.key for a in axes]:  # model: {hidden: …} and model.hidden
                first = next(a for a in axes if a.key == key).where[1]
                problems.append(Problem(f"duplicate key (first at line {first})", key=f"grid.{key}", file=file,
                                        line=line))
            elif isinstance(v, list) and v:
                axes.append(Axis(key, f"grid.{key}", numbers(v), [lines.get(sp + (i,), (file, line))
                                                                   for i in range(len(v))], where=(file, line)))
            else:
                what = "an empty list" if v == [] or v == {} else repr(v)
                problems.append(Problem(f"expected a non-empty list of values, found {what}"
                                        + (f" (for one value write [{v!r}] or set it in the base)"
                                           if not isinstance(v, (list, dict)) else ""),
                                        key=f"grid.{key}", file=file, line=line))

    walk(grid, (), ("grid",))
    return axes


def _random_axes(spec, lines: dict, display: str, problems: list) -> tuple[list[Axis], int, int]:
    where = lines.get(("random",), (display, None))

    def bad(msg, key="random", at=where):
        problems.append(Problem(msg, key=key, file=at[0], line=at[1]))

    if not isinstance(spec, dict):
        bad("expected a mapping with samples, seed and params")
        return [], 0, 0
    for k in spec:
        if k not in RANDOM_KEYS:
            bad(f"unknown key{did_you_mean(k, RANDOM_KEYS)}; valid keys: {', '.join(RANDOM_KEYS)}",
                f"random.{k}", lines.get(("random", k), where))
    samples, seed = spec.get("samples"), spec.get("seed", 0)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        bad(f"expected a number of samples >= 1, found {samples!r}", "random.samples",
            lines.get(("random", "samples"), where))
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        bad(f"expected an integer seed, 0 <= seed < 2**32, found {seed!r}", "random.seed",
            lines.get(("random", "seed"), where))
    params = spec.get("params")
    if not isinstance(params, dict) or not params:
        bad("expected a non-empty mapping of dotted keys to distributions, e.g. "
            "optimizer.lr: {dist: loguniform, low: 1.0e-4, high: 0.1}", "random.params",
            lines.get(("random", "params"), where))
        return [], 0, 0
    axes = []
    for key, d in params.items():
        at = lines.get(("random", "params", key), where)
        label = f"random.params.{key}"
        axis = Axis(str(key), label, dist=d, where=at)
        if not isinstance(d, dict) or "dist" not in d:
            bad(f"expected {{dist: {'|'.join(DISTS)}, …}}, found {d!r}", label, at)
            continue
        d = numbers(d)
        name = d["dist"]
        if name not in DISTS:
            bad(f"unknown dist {name!r}{did_you_mean(name, DISTS)}; valid: {', '.join(DISTS)}", label + ".dist", at)
            continue
        need = DISTS[name]
        extra = [k for k in d if k not in need + ("dist",)]
        missing = [k for k in need if k not in d]
        if extra or missing:
            bad(f"{name} takes {' and '.join(need)}" + (f"; unknown: {', '.join(map(str, extra))}"
                                                         f"{did_you_mean(extra[0], need)}" if extra else "")
                + (f"; missing: {', '.join(missing)}" if missing else ""), label, at)
            continue
        if name == "choice":
            if not isinstance(d["values"], list) or not d["values"]:
                bad(f"choice needs a non-empty list of values, found {d['values']!r}", label + ".values", at)
                continue
        else:
            low, high = d["low"], d["high"]
            kind = int if name == "int" else (int, float)
            if any(isinstance(x, bool) or not isinstance(x, kind) or not math.isfinite(x) for x in (low, high)):
                bad(f"{name} needs {'integer' if name == 'int' else 'finite numeric'} low and high, "
                    f"found low={low!r}, high={high!r}", label, at)
                continue
            if (low > high) if name == "int" else (low >= high):
                bad(f"low must be below high, found low={low!r}, high={high!r}", label, at)
                continue
            if name == "loguniform" and low <= 0:
                bad(f"loguniform needs low > 0, found {low!r}", label, at)
                continue
        axis.dist = d
        axes.append(axis)
    return axes, samples if isinstance(samples, int) else 0, seed if isinstance(seed, int) else 0


def draw(dist: dict, rng: random.Random):
    """One sample; floats keep 6 significant digits so tables read well (bounds still hold)."""
    name = dist["dist"]
    if name == "choice":
        return copy.deepcopy(dist["values"][rng.randrange(len(dist["values"]))])
    if name == "int":
        return rng.randint(dist["low"], dist["high"])
    low, high = float(dist["low"]), float(dist["high"])
    x = rng.uniform(low, high) if name == "uniform" else math.exp(rng.uniform(math.log(low), math.log(high)))
    return min(max(float(f"{x:.6g}"), low), high)


def random_samples(axes: list[Axis], samples: int, seed: int) -> list[dict]:
    """`samples` draws of every random axis, in spec order, from one seeded stream."""
    rng = random.Random(seed)
    return [{a.key: draw(a.dist, rng) for a in axes} for _ in range(samples)]


# ---------------------------------------------------------------------------------------------
# Spec file → plan

def is_spec(data) -> bool:
    """A sweep spec names a base, a grid or random params (or nearly: 'gird' is a typo of a spec)."""
    return isinstance(data, dict) and any(k in ("base", "grid", "random") or
                                          did_you_mean(k, ("base", "grid", "random")) for k in map(str, data))


def _absolute_paths(raw: dict, base_dir: Path) -> dict:
    """File paths in a raw config made absolute, so the base reads the same from sweep.yaml."""
    raw = copy.deepcopy(raw)
    anchor_paths(raw, base_dir)
    return raw


def _load_base(spec: dict, lines: dict, path: Path, display: str, problems: list) -> tuple[dict, Source]:
    base = spec.get("base")
    file, line = lines.get(("base",), (display, None))
    if isinstance(base, str):
        base_path = path.parent / base
        if not base_path.is_file():
            raise ConfigError(problems + [Problem(f"base config {base!r} not found (looked for {base_path.resolve()})",
                                                  key="base", file=file, line=line)])
        shown = str(Path(display).parent / base)
        source = Source(shown, base_path.parent)
        raw = load_raw(base_path, shown, source)
        raw.setdefault("name", base_path.stem)
        return raw, source
    if isinstance(base, dict):
        source = Source(display, path.parent)
        source.lines.update({k[1:]: v for k, v in lines.items() if k[:1] == ("base",) and len(k) > 1})
        raw = copy.deepcopy(base)
        if "extends" in raw:
            parent = path.parent / str(raw.pop("extends"))
            if not parent.is_file():
                raise ConfigError(problems + [Problem(f"base config {str(parent)!r} not found", key="base.extends",
                                                      file=file, line=line)])
            raw = deep_merge(load_raw(parent, str(Path(display).parent / parent.name), source), raw)
        raw.setdefault("name", spec.get("name") or path.stem)
        return raw, source
    what = "missing" if base is None else f"expected a config file name or an inline config mapping, found {base!r}"
    raise ConfigError(problems + [Problem(f"{what}; give base: a config file (relative to this spec) or an "
                                          "inline mapping", key="base", file=file, line=line)])


PYTHON_SPEC = "<spec>"  # how messages name a spec given in Python (a dict or YAML text)


def load_spec(target, grid_args=(), sets=(), name: str | None = None, *, overrides: dict | None = None,
              origin: str = "--set") -> SweepPlan:
    """Read a sweep spec (or a config plus --grid), expand it, and validate every point. The
    base's keys are overridden by `sets` (--set's KEY=VALUE texts) or `overrides` ({dotted key:
    value}, as the Python API gives them), located at `origin` in messages."""
    path = Path(target)
    data, lines = read_yaml(path, str(target))
    items = parse_overrides(sets) if sets else dict(overrides or {})
    return _plan(data, lines, path, str(target), grid_args, items, name, origin=origin)


def spec_from_python(spec: "dict | str", *, name: str | None = None, overrides: dict | None = None,
                     base_dir: Path | None = None) -> SweepPlan:
    """A sweep spec given in Python, as a mapping or YAML text: expanded and validated as a spec
    file is; `base:` and file paths are relative to `base_dir` (the working folder)."""
    base_dir = Path(base_dir or Path.cwd())
    data, lines = parse_yaml(spec, PYTHON_SPEC) if isinstance(spec, str) else (copy.deepcopy(spec), {})
    if not is_spec(data):
        raise ConfigError(Problem("a sweep spec is a mapping with base: and grid: (or random:)", file=PYTHON_SPEC))
    if not (name or data.get("name")):
        raise ConfigError(Problem("a sweep given in Python needs a name (the folder under sweeps/): name: in the "
                                  "spec, or name=", key="name", file=PYTHON_SPEC))
    return _plan(data, lines, base_dir / PYTHON_SPEC, PYTHON_SPEC, (), overrides or {}, name, origin="override")


def _plan(data, lines: dict, path: Path, display: str, grid_args, overrides: dict, name: str | None,
          origin: str = "--set") -> SweepPlan:
    """The SweepPlan of a parsed spec (or config, with grid_args) read from `path`."""
    problems: list[Problem] = []
    if is_spec(data):
        spec = data
        for k in spec:
            if k not in SPEC_KEYS:
                file, line = lines.get((k,), (display, None))
                problems.append(Problem(f"unknown key{did_you_mean(k, SPEC_KEYS)}; valid keys: {', '.join(SPEC_KEYS)}",
                                        key=str(k), file=file, line=line))
        default_name = path.stem
    else:
        if not grid_args:
            raise ConfigError(Problem("an experiment config, not a sweep spec: give --grid KEY=V1,V2,… or write "
                                      "a spec with base: and grid: (or random:)", file=display))
        spec = {}
        source = Source(display, path.parent)
        raw = load_raw(path, display, source)
        raw.setdefault("name", path.stem)
        default_name = f"{path.stem}-sweep"
    sweep_name = name or spec.get("name") or default_name
    if (not isinstance(sweep_name, str) or not _NAME.fullmatch(sweep_name) or ".." in sweep_name
            or len(sweep_name.encode()) > SWEEP_NAME_BYTES):
        file, line = lines.get(("name",), (display, None)) if not name else ("--name", None)
        problems.append(Problem(f"{sweep_name!r} cannot name a folder; use letters, digits and . _ - + = , @ "
                                f"(no '..', at most {SWEEP_NAME_BYTES} bytes)",
                                key="name", file=file, line=line))
    axes = _grid_axes(spec["grid"], lines, display, problems) if "grid" in spec else []
    for key, values in parse_grid_args(grid_args):
        axis = Axis(key, "--grid", values, [("--grid", None)] * len(values), where=("--grid", None))
        keys = [a.key for a in axes]
        if key in keys:  # --grid replaces the spec's values of that key, in its place
            axes[keys.index(key)] = axis
        else:
            axes.append(axis)
    rand_axes, samples, seed = _random_axes(spec["random"], lines, display, problems) if "random" in spec \
        else ([], 0, 0)
    if spec:
        raw, source = _load_base(spec, lines, path, display, problems)
    for k, v in overrides.items():
        set_dotted(raw, k, v)
        source.lines[tuple(k.split("."))] = (origin, None)
    for a in rand_axes:
        if a.key in [g.key for g in axes]:
            problems.append(Problem("swept by both grid and random", key=a.label, file=a.where[0], line=a.where[1]))
    if not axes and not rand_axes and "random" not in spec and "grid" not in spec:
        problems.append(Problem("nothing to sweep: give grid: and/or random:", file=display))
    for k in ("repeats", "seeds"):
        if k in spec:
            raw.pop("seeds" if k == "repeats" else "repeats", None)
            raw[k] = spec[k]
            source.lines[(k,)] = lines.get((k,), (display, None))
    problems += _size_problems(axes, samples if rand_axes else 0, spec, lines, display)
    if problems:
        raise ConfigError(problems)

    all_axes = axes + rand_axes
    points = _expand(raw, source, axes, rand_axes, random_samples(rand_axes, samples, seed), sweep_name)
    resolved = {"name": sweep_name}
    if spec.get("description"):
        resolved["description"] = spec["description"]
    resolved["base"] = _absolute_paths({k: v for k, v in raw.items() if k not in ("repeats", "seeds")}
                                       if any(k in spec for k in ("repeats", "seeds")) else raw, source.base_dir)
    if axes:
        resolved["grid"] = {a.key: a.values for a in axes}
    if rand_axes:
        resolved["random"] = {"samples": samples, "seed": seed, "params": {a.key: a.dist for a in rand_axes}}
    for k in ("repeats", "seeds"):
        if k in spec:
            resolved[k] = spec[k]
    return SweepPlan(sweep_name, resolved, [a.key for a in all_axes], points, display)


def _size_problems(grid: list[Axis], samples: int, spec: dict, lines: dict, display: str) -> list[Problem]:
    """A sweep of more than MAX_POINTS points, refused from its sizes before any point is made."""
    n = math.prod(len(a.values) for a in grid) * max(samples, 1)
    if n <= MAX_POINTS:
        return []
    sizes = []
    if grid:
        sizes.append(" × ".join(str(len(a.values)) for a in grid) + " grid values")
    if samples:
        sizes.append(f"{samples} random samples")
    key = "random.samples" if samples > MAX_POINTS or not grid else "grid"
    if key == "grid" and "grid" not in spec:
        file, line = "--grid", None
    else:
        file, line = lines.get(tuple(key.split(".")), lines.get((key.split(".")[0],), (display, None)))
    advice = "draw fewer samples" if key == "random.samples" else \
        "split it into several sweeps, or draw some of its points with random:"
    return [Problem(f"{' × '.join(sizes)} = {n:,} points, more than the {MAX_POINTS:,} a sweep may have; {advice}",
                    key=key, file=file, line=line)]


def _expand(raw: dict, source: Source, grid: list[Axis], rand: list[Axis], samples: list[dict],
            sweep_name: str) -> list[Point]:
    """Every grid combination × every random sample, validated; all problems reported together."""
    combos = list(itertools.product(*[range(len(a.values)) for a in grid])) if grid else [()]
    draws = samples or [{}]
    points, failures = [], []
    datasets: dict = {}
    for combo in combos:
        for sample in draws:
            values = {a.key: a.values[i] for a, i in zip(grid, combo)}
            values.update(sample)
            point_raw = copy.deepcopy(raw)
            point_src = Source(source.file, source.base_dir)
            swept = [tuple(k.split(".")) for k in values]
            point_src.lines = {p: loc for p, loc in source.lines.items()
                               if not any(p[:len(s)] == s for s in swept)}
            for a, i in list(zip(grid, combo)) + [(a, None) for a in rand]:
                set_dotted(point_raw, a.key, copy.deepcopy(values[a.key]))
                point_src.lines[tuple(a.key.split("."))] = a.locate(i)
            index = len(points) + len(failures)
            short = ", ".join(f"{k.split('.')[-1]}={labels.value(v)}" for k, v in values.items())
            point_raw["name"] = f"{sweep_name}/{short}"
            try:
                exp = validate(point_raw, point_src)
                check_memory(exp)  # an absurd point is refused with the others, before anything trains
                _check_data(exp, datasets)
            except (ConfigError, ResourceError, DataError) as exc:
                failures.append((index, values, list(zip(grid, combo)) + [(a, None) for a in rand],
                                 locate(exc, point_src).problems))
                continue
            points.append(Point(index, values, exp, run_id(exp)))
    if failures:
        raise ConfigError(_point_problems(failures, len(combos) * len(draws)))
    return points


def _check_data(exp: Experiment, checked: dict) -> None:
    """DataError if the dataset of `exp` cannot be built (a bad CSV cell, a split the data cannot
    hold), found before anything trains; `checked` remembers each data section of a sweep, so
    each distinct one is loaded once."""
    section = json.dumps(exp.data.model_dump(mode="json"), sort_keys=True)
    if section not in checked:
        try:
            load_dataset(exp.data)  # a resolved config's file paths are absolute
            checked[section] = []
        except DataError as exc:
            checked[section] = exc.problems
    if checked[section]:
        raise DataError(checked[section])


def _point_problems(failures, total: int) -> list[Problem]:
    """Each distinct problem once: located at the swept value that causes it, naming a point that has it."""
    seen: dict = {}
    for index, values, axes, problems in failures:
        for p in problems:
            key, file, line, swept = p.key, p.file, p.line, False
            for a, i in axes:
                # at the swept value (not in a data file the value names): relabel it as that value
                if (key == a.key or key.startswith(a.key + ".")) and (file, line) == a.locate(i):
                    rest = key[len(a.key):]
                    if p.message.startswith("unknown key"):  # the swept key itself, whatever its value
                        i = None
                    where = f"[{i}]" if i is not None else ""
                    key = f"{a.label}{where}{rest}" if a.label != "--grid" else f"{a.key}{where}{rest}"
                    file, line, swept = *a.locate(i), True
                    break
            ident = (file, line, key, p.message)
            if ident not in seen:
                seen[ident] = [index, values, 0, swept]
            seen[ident][2] += 1
    out = []
    for (file, line, key, message), (index, values, count, swept) in seen.items():
        if count == total and not swept:  # a problem of the base itself, not of any point
            out.append(Problem(message, key=key, file=file, line=line))
            continue
        label = labels.point(values)
        which = f"all {total} points" if count == total and total > 1 else \
            f"point {index + 1} of {total}: {label}" + (f"; {count} points in all" if count > 1 else "")
        out.append(Problem(f"{message} ({which})", key=key, file=file, line=line))
    return out

