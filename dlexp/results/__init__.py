"""The result files: atomic publishing of run folders, the summary keys, per-run locks, and the
readers that load runs and sweeps back. Never imports the trainer or the sweep runner.
"""
