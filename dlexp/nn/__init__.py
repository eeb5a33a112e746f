"""The numerics dlexp exists to show, in NumPy only: layers, activations, initialisers, losses,
penalties, the MLP (and the model.npz key names), optimizers and learning-rate schedules.
Each kind of component has one registry (a dict from config name to class) that the config
schema reads its choices from.
"""
