"""Small helpers shared by several test files (tests/ is on sys.path under pytest)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from click.testing import CliRunner

from dlexp.cli import main

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """scripts/<name>.py as a module (e.g. the torch reference runners of a golden-file script)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(*args, **kwargs):
    """`dlexp ARGS…` through click's CliRunner (paths may be Path objects)."""
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def clean_exit(r, code: int) -> None:
    """The command ended with `code` and no traceback, whatever the input."""
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == code, r.output
