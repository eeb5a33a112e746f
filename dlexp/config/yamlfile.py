"""YAML files as dlexp reads and writes them: safe_load with a line number for every key.

`read_yaml` returns the data and {key path: (file, line)} so that a config or sweep error can
point at its line; dotted keys (`model.hidden`) address nested mappings for `--set` and sweep
grids; `dump_yaml` writes mappings in block style and lists of scalars inline. Everything dlexp
reads as YAML goes through `_Loader`: safe_load's rules, minus duplicate keys and alias bombs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, Problem


class Source:
    """Where each key of a raw config came from: file and line per dotted path."""

    def __init__(self, file: str | None = None, base_dir: Path | None = None):
        self.file = file
        self.base_dir = base_dir or Path.cwd()
        self.lines: dict[tuple, tuple[str | None, int | None]] = {}

    def locate(self, path: tuple) -> tuple[str | None, int | None]:
        """File and line of `path`, or of its closest located ancestor."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return self.file, None


# The most values one YAML document may expand to, counting every value an alias repeats.
MAX_YAML_VALUES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class RefusedYAML(yaml.composer.ComposerError):
    """Well-formed YAML that dlexp refuses to read; `path`: the keys from the root down to it."""

    def __init__(self, reason: str, mark, path: tuple, first_line: int | None = None):
        super().__init__(None, None, reason + (f" (first at line {first_line})" if first_line else ""), mark)
        self.reason, self.path = reason, path


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping (safe_load keeps the last,
    silently) and a document whose aliases expand it past MAX_YAML_VALUES values.

    An alias is a reference to its anchor's node, so composing and constructing stay cheap; but
    whatever walks the data afterwards (the line map, merging, validation, hashing) sees the
    expansion: nine lists of nine aliases of nine lists… ("billion laughs") are 10^9 values.
    Counting at compose time refuses them before anything walks them.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._size: dict[int, int] = {}  # id(node) → values it expands to, aliases followed
        self._path: list = []  # keys and indices from the root to the node being composed

    def compose_node(self, parent, index):
        alias, mark = self.check_event(yaml.AliasEvent), self.peek_event().start_mark
        self._path.append(index.value if isinstance(index, yaml.ScalarNode) else index)
        try:
            node = super().compose_node(parent, index)
            if alias:  # its anchor's size, counted into the parent below (an alias inside its own anchor: 1)
                return node
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            else:
                children = []
            size = 1 + sum(self._size.get(id(c), 1) for c in children)
            if size > MAX_YAML_VALUES:
                raise RefusedYAML(f"aliases (*…) expand this value to more than {MAX_YAML_VALUES:,} values; dlexp "
                                  f"reads at most {MAX_YAML_VALUES:,} from one YAML document", mark, self._where())
            self._size[id(node)] = size
            return node
        finally:
            self._path.pop()

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        first: dict = {}
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:  # `<<: *base` keys may repeat
                seen = first.setdefault((key.tag, key.value), key)
                if seen is not key:
                    raise RefusedYAML("duplicate key", key.start_mark, self._where() + (key.value,),
                                      first_line=seen.start_mark.line + 1)
        return node

    def _where(self) -> tuple:
        return tuple(p for p in self._path[1:] if p is not None)


def _load(text: str):
    """(data, root node) of a one-document YAML text, as yaml.safe_load reads it (see _Loader)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    finally:
        loader.dispose()


def safe_load(text: str) -> Any:
    """yaml.safe_load, refusing duplicate keys and alias bombs (RefusedYAML)."""
    return _load(text)[0]


def _record_lines(node, path: tuple, file: str, lines: dict) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            sub = path + (key_node.value,)
            lines[sub] = (file, key_node.start_mark.line + 1)
            _record_lines(value_node, sub, file, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = (file, item.start_mark.line + 1)
            _record_lines(item, path + (i,), file, lines)


def yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    """(one-line description, line number or None) of a YAML parse error."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else None
    if isinstance(exc, yaml.reader.ReaderError):  # a control character: it has a position, no mark
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        what = f"unacceptable character {char!r} ({exc.reason})"
        line = text[:exc.position].count("\n") + 1
    else:
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
    if isinstance(exc, yaml.constructor.ConstructorError):  # e.g. !!python/object: safe_load refuses it
        what += " (only plain YAML data is read: tags that build Python objects are refused)"
    return what, line


def read_yaml(path: Path, display: str) -> tuple[Any, dict]:
    """safe_load a YAML file; also return {dotted path tuple: (file, line)}."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(Problem("file not found", file=display)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(Problem(f"cannot read: {exc}", file=display)) from None
    return parse_yaml(text, display)


def parse_yaml(text: str, display: str) -> tuple[Any, dict]:
    """safe_load YAML text named `display` in messages (a file, or `<config>` for text given in
    Python); also return {dotted path tuple: (display, line)}."""
    try:
        data, node = _load(text)
    except RefusedYAML as exc:
        line = exc.problem_mark.line + 1
        raise ConfigError(Problem(exc.problem, key=_dotted(exc.path), file=display, line=line)) from None
    except yaml.YAMLError as exc:
        what, line = yaml_problem(exc, text)
        raise ConfigError(Problem(f"invalid YAML: {what}", file=display, line=line)) from None
    except RecursionError:
        raise ConfigError(Problem("invalid YAML: nested too deeply", file=display)) from None
    lines: dict = {}
    if node is not None:
        try:
            _record_lines(node, (), display, lines)
        except RecursionError:  # an alias inside its own anchor (&a [*a]) or absurd nesting
            raise ConfigError(Problem("invalid YAML: a structure that contains itself (an alias inside its "
                                      "own anchor) or is nested too deeply", file=display)) from None
    return data, lines


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def deep_merge(base: dict, over: dict) -> dict:
    """`over` on top of `base`; nested mappings merge, everything else is replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# ---------------------------------------------------------------------------------------------
# Dotted keys and --set overrides

def parse_overrides(items) -> dict[str, Any]:
    """['a.b=1', 'c=[1, 2]'] → {'a.b': 1, 'c': [1, 2]}; values parsed as YAML."""
    out: dict[str, Any] = {}
    problems = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem(f"expected KEY=VALUE, found {item!r}", file="--set"))
            continue
        out.pop(key, None)  # the last --set of a key wins, in the place of the last one
        try:
            out[key] = safe_load(text) if text.strip() else None
        except RefusedYAML as exc:
            problems.append(Problem(f"{exc.reason} in the value {text!r}", key=_dotted((key, *exc.path)),
                                    file="--set"))
        except yaml.YAMLError as exc:
            problems.append(Problem(f"cannot parse value {text!r}: {yaml_problem(exc, text)[0]}",
                                    key=key, file="--set"))
        except RecursionError:
            problems.append(Problem(f"cannot parse value {text[:40]!r}…: nested too deeply", key=key, file="--set"))
    if problems:
        raise ConfigError(problems)
    return out


def set_dotted(data: dict, key: str, value: Any) -> None:
    """data['a']['b'] = value for key 'a.b', creating mappings on the way."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node.get(part), dict):
            if part in node and node[part] is not None and not isinstance(node[part], dict):
                # e.g. `--set model.dropout.rate=0.5` over `dropout: 0.3`: promote scalar forms
                node[part] = _promote(".".join(parts[: i + 1]), node[part])
            else:
                node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def _promote(key: str, value: Any) -> dict:
    """The mapping form of a scalar shorthand (`dropout: 0.3`, `schedule: cosine`); {} for others."""
    if key == "model.dropout":
        return {"rate": value}
    if key == "optimizer.schedule":
        return {"name": value}
    return {}


def mark_override(source: Source, key: str, origin: str = "--set") -> None:
    """Locate `key` (and whatever it created) at `origin` (--set, or a Python override): the
    file's lines under it no longer apply."""
    parts = tuple(key.split("."))
    for p in [p for p in source.lines if p[:len(parts)] == parts]:
        del source.lines[p]
    for n in range(1, len(parts) + 1):
        source.lines.setdefault(parts[:n], (origin, None))


# ---------------------------------------------------------------------------------------------
# Writing

class _Dumper(yaml.SafeDumper):
    """Mappings in block style, lists of scalars inline: `hidden: [64, 64]`."""


def _represent_list(dumper, data):
    flow = all(not isinstance(v, (dict, list)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(tuple, _represent_list)


def dump_yaml(d: dict) -> str:
    return yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
