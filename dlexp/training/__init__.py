"""Training one experiment: the epoch loop, early stopping, repeats and CV folds, and the memory
estimate checked before anything is allocated. Writes no files.
"""
