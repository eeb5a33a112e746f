"""Datasets: the registry of synthetic and bundled datasets (maker, task, shape), CSV files, the
seeded nested splits and the transforms fitted on the training split.
"""
