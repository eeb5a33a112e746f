"""The page's own files (static/) and the chart library, plotly.js as the `plotly` wheel ships it.

plotly.js is read from the installed Python package at run time (plotly/package_data/
plotly.min.js), never copied into this repository: `pip install -e ".[serve]"` brings it. The
package is located without being imported (importing plotly loads far more than one file).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from ..errors import UsageError

STATIC = Path(__file__).parent / "static"
NEEDS_PLOTLY = "dlexp serve and the interactive report need plotly: pip install -e '.[serve]'"

# No inline script and no other origin: a value that slipped past the escaping could not run a
# script or send anything anywhere. plotly's parallel coordinates compile WebGL shaders with
# new Function (regl): 'unsafe-eval'; its SVG sets style attributes: 'unsafe-inline' for styles.
CSP = ("default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@functools.cache
def asset(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def plotly_path() -> Path:
    """The plotly.min.js of the installed plotly package; UsageError (exit 2) naming the extra if absent."""
    spec = importlib.util.find_spec("plotly")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    raise UsageError(NEEDS_PLOTLY)


@functools.cache
def plotly_js() -> bytes:
    return plotly_path().read_bytes()
