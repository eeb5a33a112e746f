"""`--where KEY=VALUE`: the runs of a target whose config holds that value (`dlexp plot`, `dlexp report`).

KEY is a dotted config key (`model.hidden`, `optimizer.lr`, `seed`), VALUE is parsed as YAML like
`--set`'s (`[32, 32]` is a list, `0.01` a number, `adam` a string); several `--where` must all
hold. A key no run has is refused with the closest one they do have.
"""

from __future__ import annotations

import math

import yaml

from .. import dotted
from ..errors import ResultError, UsageError, did_you_mean
from ..labels import value as shown
from ..results.reader import Run

MISSING = object()  # a key the run's config does not have (None is a value a config can hold)


def parse_where(items) -> list[tuple[str, object]]:
    """["model.hidden=[64]", …] → [("model.hidden", [64]), …]."""
    out = []
    for item in items:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--where {item!r}: expected KEY=VALUE, e.g. --where model.hidden=[64]")
        try:
            out.append((key.strip(), yaml.safe_load(text)))
        except yaml.YAMLError as exc:
            problem = str(exc).splitlines()[0]
            raise UsageError(f"--where {item!r}: the value is not YAML ({problem})") from None
    return out


def run_value(run: Run, key: str):
    """The run's value of `key`: its sweep point's, else its config's; MISSING if it has none."""
    if key in run.point:
        return run.point[key]
    try:
        return dotted.get(run.config, key, MISSING)
    except ResultError:
        return MISSING


def same(a, b) -> bool:
    """Equal as config values: 0.01 typed and 0.01 stored as 0.010000000000000002 are one value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def _keys(runs: list[Run]) -> list[str]:
    """Every key a --where could name: the swept ones and each config key with its parents."""
    keys = {k for r in runs for k in r.point}
    for run in runs:
        try:
            for leaf in dotted.flatten(run.config):
                parts = leaf.split(".")
                keys.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        except ResultError:
            continue
    return sorted(keys)


def select(runs: list[Run], where: list[tuple[str, object]]) -> list[Run]:
    """The runs that hold every (key, value) of `where`; a UsageError names what would be valid."""
    for key, want in where:
        found = [run_value(r, key) for r in runs]
        if all(v is MISSING for v in found):
            raise UsageError(f"--where {key}: no run has this key{did_you_mean(key, _keys(runs))}; "
                             f"keys are dotted config keys such as {', '.join(sorted({k for r in runs for k in r.point})[:4]) or 'optimizer.lr, seed'}")
        kept = [r for r, v in zip(runs, found) if v is not MISSING and same(v, want)]
        if not kept:
            values = sorted({shown(v) for v in found if v is not MISSING})
            raise UsageError(f"--where {key}={shown(want)}: no run has this value; "
                             f"{key} is {', '.join(values[:8])}{' …' if len(values) > 8 else ''}")
        runs = kept
    return runs


def describe(where: list[tuple[str, object]]) -> str:
    """The subset as a title names it: "model.hidden=[64], seed=0"."""
    return ", ".join(f"{k}={shown(v)}" for k, v in where)
