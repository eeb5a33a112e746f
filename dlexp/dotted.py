"""Dotted keys over nested mappings: 'model.hidden' names config['model']['hidden'].

The one walker of nested config and summary dicts that the config loader, the sweep planner,
the tables and the figures share.
"""

from __future__ import annotations

from typing import Any, Iterator


def get(data: Any, key: str, default: Any = None) -> Any:
    """data['a']['b'] for key 'a.b', or `default` when a step is missing or not a mapping."""
    node = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def leaves(data: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every leaf; a non-empty mapping is walked, anything else (an empty
    mapping included) is a leaf."""
    for k, v in data.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from leaves(v, path + ".")
        else:
            yield path, v


def flatten(data: dict) -> dict[str, Any]:
    """{'a': {'b': 1}} → {'a.b': 1}."""
    return dict(leaves(data))
