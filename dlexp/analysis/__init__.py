"""Readers that judge results: tables, the diagnosis and its ranked remedies, and predictions
from a saved model. Read result files only; never import the trainer or the sweep runner.
"""
