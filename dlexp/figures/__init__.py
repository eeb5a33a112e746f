"""Figures drawn from result files: the shared look, training curves and comparisons, validation
and learning curves of sweeps, model figures (weights, activations, boundaries), and the
`dlexp plot` dispatcher that chooses a figure for a target.
"""
