"""One experiment = one config run once, or under several seeds, or over k CV folds.

`execute` does the computing and returns a picklable `RunOutput`; it writes nothing, so it can
run in a worker process or on a Dask cluster while the parent alone writes result files.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from .. import __version__
from ..config.load import run_id
from ..data.datasets import load_dataset, make_cv_folds
from ..errors import DataError, Problem
from ..results.summary import AVERAGED
from .ensemble import ensemble_figures, shared_splits
from .resources import check_memory
from .train import fit
from ..config.schema import Experiment


@dataclass
class RunOutput:
    """Everything a run folder will hold. `members` is set for repeats and CV folds."""

    summary: dict
    metrics: list[dict]
    state: dict | None = None
    activations: list[dict] = field(default_factory=list)
    members: list[tuple[str, "RunOutput"]] = field(default_factory=list)


def member_plan(exp: Experiment) -> list[tuple[str, int, int, int | None]]:
    """(label, training seed, data seed, fold) for every model the experiment trains."""
    seeds = exp.seed_list()
    folds = list(range(exp.eval.cv)) if exp.eval.cv else [None]
    plan = []
    for i, s in enumerate(seeds):
        data_seed = exp.data.seed + i if exp.repeat_data else exp.data.seed
        for k in folds:
            label = f"seed{s}" + (f"-data{data_seed}" if exp.repeat_data else "") + (f"-fold{k}" if k is not None else "")
            plan.append((label, s, data_seed, k))
    return plan


def execute(exp: Experiment, on_epoch=None, on_member=None) -> RunOutput:
    """Train every member of `exp` and return the results (no file I/O).

    `on_member(label, index, total)` is called before each member starts; `on_epoch(row)` after
    each epoch of each member.
    """
    memory = check_memory(exp)  # refuse absurd configs before allocating anything
    plan = member_plan(exp)
    datasets: dict = {}
    outputs: list[tuple[str, RunOutput]] = []
    predicted: list[tuple[dict, object]] = []  # (val/test outputs, dataset) of every member that did not diverge
    preprocessing: dict = {}  # what a CSV file's columns went through (the first member's split)
    for index, (label, seed, data_seed, fold) in enumerate(plan):
        if on_member is not None:
            on_member(label, index, len(plan))
        data_cfg = exp.data.model_copy(update={"seed": data_seed})
        key = data_seed
        if key not in datasets:  # the config's file paths are absolute: no folder to resolve them in
            datasets[key] = make_cv_folds(data_cfg, k=exp.eval.cv) if exp.eval.cv else load_dataset(data_cfg)
        ds = datasets[key][fold] if fold is not None else datasets[key]
        if len(ds.X_val) == 0:  # the val loss would be 0/0: a NaN that reads as divergence
            raise DataError(Problem(f"the validation split is empty ({len(ds.X_train)} train rows, 0 val rows): "
                                    "the curves, the best epoch and early stopping need one; give data.val_size "
                                    ">= 1 row or a fraction that leaves at least one", key="data.val_size"))
        preprocessing = preprocessing or ds.preprocessing
        res = fit(exp, ds, seed, on_epoch=on_epoch)
        summary = dict(res.summary)
        if fold is not None:
            summary["fold"] = fold
        summary["data_seed"] = data_seed
        outputs.append((label, RunOutput(summary, res.metrics, res.state, res.activations)))
        if res.summary["status"] != "diverged":
            predicted.append((res.outputs, ds))

    rid = run_id(exp)
    header = {"run_id": rid, "name": exp.name, "dlexp_version": __version__,
              "memory_estimate_mb": round(memory / 2**20, 1)}
    if preprocessing:
        header["preprocessing"] = preprocessing
    if len(outputs) == 1:
        out = outputs[0][1]
        out.summary = {**header, "kind": "single", **out.summary}
        return out
    kind = "cv" if exp.eval.cv else "repeats"
    summary = {**header, "kind": kind, **aggregate_summaries([o.summary for _, o in outputs])}
    splits = shared_splits(bool(exp.eval.cv), {data_seed for _, _, data_seed, _ in plan})
    summary.update(ensemble_figures(predicted, splits, summary["task"], summary["metric"]))
    summary["members"] = [label for label, _ in outputs]
    return RunOutput(summary, aggregate_metrics([o.metrics for _, o in outputs]), None, [], outputs)




def _mean_std(values) -> tuple[float | None, float | None]:
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not xs:
        return None, None
    # Sample standard deviation (ddof=1): the error bar of a few seeds or folds.
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def aggregate_summaries(summaries: list[dict]) -> dict:
    """Mean and std of each figure over members; status 'diverged' if any member diverged."""
    first = summaries[0]
    n_div = sum(s["status"] == "diverged" for s in summaries)
    out = {
        "status": "diverged" if n_div else "completed",
        "n_members": len(summaries),
        "n_diverged": n_div,
        "seed": first["seed"],
        "seeds": sorted({s["seed"] for s in summaries}),
        "task": first["task"],
        "metric": first["metric"],
        "stopped_early": any(s.get("stopped_early") for s in summaries),
        "n_params": first["n_params"],
        "n_train": first["n_train"],
        "n_val": first["n_val"],
        "n_test": first["n_test"],
        "wall_time": sum(s["wall_time"] for s in summaries),
        "diverged_epoch": min((s["diverged_epoch"] for s in summaries if s.get("diverged_epoch")), default=None),
    }
    for key in AVERAGED:
        if key in first:
            out[key], out[f"{key}_std"] = _mean_std(s.get(key) for s in summaries)
    weights = {}
    for key in first.get("weights", {}):
        weights[key], weights[f"{key}_std"] = _mean_std(s["weights"].get(key) for s in summaries)
    out["weights"] = weights
    return out


def aggregate_metrics(histories: list[list[dict]]) -> list[dict]:
    """Per-epoch mean and std over members (members that stopped early drop out of later epochs)."""
    rows = []
    longest = max(len(h) for h in histories)
    columns = [c for c in histories[0][0] if c != "epoch"] if histories[0] else []
    for i in range(longest):
        present = [h[i] for h in histories if len(h) > i]
        row = {"epoch": i + 1}
        for c in columns:
            row[c], row[f"{c}_std"] = _mean_std(r.get(c) for r in present)
        row["n_members"] = len(present)
        rows.append(row)
    return rows
