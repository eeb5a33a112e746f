"""Figures drawn from result files: the shared look, training curves and comparisons, validation
and learning curves of sweeps, model figures (weights, activations, boundaries), and the
`dlexp plot` dispatcher that chooses a figure for a target.
"""

# The figure kinds of `dlexp plot --kind`, here so that the CLI can list them without loading
# matplotlib (figures/choose.py draws them)
KINDS = ("curves", "compare", "validation", "learning", "scatter", "boundary", "weights", "inputs", "activations",
         "averaging", "gradients", "seeds")
