"""dlexp: a command-line laboratory for under- and overfitting studies.

Importing the package is cheap on purpose: `dlexp --help` must not pull in numpy,
scikit-learn or matplotlib. Import the submodules you need.
"""

__version__ = "0.3.0"
