"""Running experiments: `dlexp run` (one config, with reuse of identical runs) and `dlexp sweep`
(spec expansion, executors in-process, on a process pool or on Dask, resume).
"""
