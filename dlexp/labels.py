"""How dlexp writes numbers, config values and sweep points for people: legends, axis ticks,
tables, messages and reports all format through here, so one value reads the same everywhere.
"""

from __future__ import annotations

import math

from .dotted import leaves


def is_number(v) -> bool:
    """An int or float that is not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number(v, sci: bool = False) -> str:
    """A number as short as it reads: 64, 0.25, 2.5e-3 (sci: below 1 in powers of ten, 1e-3 not 0.001)."""
    if isinstance(v, int) or float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    if sci and abs(v) < 1 or abs(v) >= 1e6 or abs(v) < 1e-4:
        mantissa, exponent = f"{v:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{v:.3g}"


def figure(v) -> str:
    """A measured figure (a loss, a ratio) to four significant digits; anything else as it is."""
    return f"{v:.4g}" if is_number(v) and math.isfinite(v) else str(v)


def pct(x) -> str:
    """A fraction as a whole percentage: 0.35 → '35%'; a share too small to round to 1% → '<1%'."""
    return "<1%" if 0 < x < 0.005 else f"{100 * x:.0f}%"


def plural(n: int, one: str, many: str | None = None) -> str:
    """The form of a word that agrees with n: plural(1, "run") → "run", plural(0, "run") → "runs";
    a verb or an irregular plural given whole: plural(n, "holds", "hold")."""
    return one if n == 1 else many or one + "s"


def count(n: int, one: str, many: str | None = None) -> str:
    """A number of things as people write it: "1 run", "8 runs", "1,000 points"."""
    return f"{n:,} {plural(n, one, many)}"


def value(v) -> str:
    """A config value as YAML's flow style writes it: [8, 8], 0.001, relu, {rate: 0.5, mode: classic}, true."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    return str(v)


def point(values: dict) -> str:
    """A sweep point in messages: 'model.hidden=[8, 8], optimizer.lr=0.01'."""
    return ", ".join(f"{k}={value(v)}" for k, v in values.items())


def short_key(path: str) -> str:
    """The key a legend shows: the leaf ('optimizer.lr' → 'lr'), the section for a name
    ('optimizer.name' → 'optimizer')."""
    parts = path.split(".")
    return parts[-2] if parts[-1] == "name" and len(parts) > 1 else parts[-1]


def point_labels(points: list[dict], lookup=None) -> list[str]:
    """Legend labels of sweep points drawn side by side in one figure.

    Nested values get their own short keys ({"regularization": {"l1": 0.01, "l1_mode": "proximal"}}
    → "l1=1e-2, l1_mode=proximal"); keys every point shares with the same value are left out (the
    figure's title names the study); a flag reads as its key ("nesterov"), None as "no <key>";
    the numbers of one key are written alike (all in powers of ten when one is below 0.01).
    lookup: per point, dotted key → value for keys the point lacks (its run's config); used
    when leaving out the shared keys would leave a point with no label at all.
    """
    flat = [dict(leaves(p)) for p in points]
    paths = list(dict.fromkeys(k for f in flat for k in f))
    short = {p: short_key(p) for p in paths}
    names = list(short.values())
    short = {p: (p if names.count(s) > 1 else s) for p, s in short.items()}
    common = set()
    if len(points) > 1:
        common = {p for p in paths if all(p in f for f in flat) and len({repr(f[p]) for f in flat}) == 1}
    shown = []
    for i, f in enumerate(flat):
        items = {p: v for p, v in f.items() if p not in common}
        if not items and f and lookup is not None:  # e.g. the plain-SGD point among momentum points
            for p in paths:
                if p not in f and p not in common:
                    v = lookup[i](p)
                    if v is not None and v is not False:
                        items[p] = v
        shown.append(items or f)
    sci = {p: any(is_number(v) and 0 < abs(v) < 0.01 for s in shown for q, v in s.items() if q == p) for p in paths}

    def text(p, v):
        key = short[p]
        if v is None:
            return f"no {key}"
        if isinstance(v, bool):
            return key if v else f"no {key}"
        if is_number(v):
            return f"{key}={number(v, sci[p])}"
        return f"{key}={value(v)}"

    return [", ".join(text(p, v) for p, v in s.items()) for s in shown]
