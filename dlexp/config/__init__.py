"""Experiment configs: YAML reading with line numbers, the pydantic schema (its name choices
come from the nn and data registries), loading with `extends:` and `--set`, and the run id.
"""
