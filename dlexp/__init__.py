"""dlexp: a command-line laboratory for under- and overfitting studies, and its Python API.

    import dlexp
    run = dlexp.run("configs/quickstart.yaml")
    run.metrics, run.plot(), dlexp.diagnose(run)

Importing the package is cheap on purpose: `dlexp --help` must not pull in numpy,
scikit-learn or matplotlib. The API (dlexp/api.py) and the error types are loaded on first
use of their names.
"""

__version__ = "0.4.0"

# dlexp.api.__all__, named here so that `import dlexp` need not load the API (tests/test_api.py
# checks the two agree)
_API = ("run", "sweep", "load", "diagnose", "table", "ls", "plot", "report", "schema",
        "Run", "Sweep", "Model", "Diagnosis", "TrainingFailed", "DEFAULT_THRESHOLDS")
_ERRORS = ("DlexpError", "ConfigError", "DataError", "UsageError", "ResultError", "ResourceError", "StorageError",
           "Interrupted")
__all__ = [*_API, *_ERRORS, "__version__"]


def __getattr__(name: str):
    # importlib, not `from . import api`: the package's own modules import __version__ from here,
    # and the facade must not make them depend on the layer above them (tests/test_architecture.py)
    if name in _API or name in _ERRORS:
        import importlib

        return getattr(importlib.import_module("dlexp.api" if name in _API else "dlexp.errors"), name)
    raise AttributeError(f"module 'dlexp' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
