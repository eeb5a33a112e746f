"""Train every case of the diagnosis corpus and its comparison runs, check each label's evidence
criterion, and write evidence.json.

    python tests/diagnosis_corpus/justify.py                  # every case
    python tests/diagnosis_corpus/justify.py --case ID        # one case (repeatable)
    python tests/diagnosis_corpus/justify.py --out DIR        # keep the run folders in DIR
    python tests/diagnosis_corpus/justify.py --table          # print the README table from evidence.json
    python tests/diagnosis_corpus/justify.py --cases F.yaml --evidence F.json   # another case file

The labels are justified by comparison runs only: nothing here imports dlexp's diagnosis rules
(dlexp.analysis). The criteria are in README.md ("Evidence criteria") and in `check_*` below.
Exit status 1 if any criterion fails (or a case is malformed), else 0. With --case, the cases
run are merged into an existing evidence.json; the others keep their records. --cases reads another
case file (default cases.yaml here), --evidence names the record (default evidence.json beside the
case file); CSV paths in any case file stay relative to this folder.

Set OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1: the cases are timed on one core.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from dlexp import __version__ as dlexp_version
from dlexp.config.load import config_from_dict, resolved_dict, run_id
from dlexp.config.yamlfile import dump_yaml, set_dotted
from dlexp.data.datasets import load_dataset
from dlexp.results.reader import Run
from dlexp.results.store import write_run
from dlexp.training.experiment import execute

CORPUS = Path(__file__).resolve().parent
CASES = CORPUS / "cases.yaml"
EVIDENCE = CORPUS / "evidence.json"

BUNDLED = ("iris", "wine", "breast_cancer", "digits", "diabetes")
LABELS = ("diverged", "not_converged", "underfitting", "overfitting", "overconfident", "good_fit")
CLEAR = 0.10        # "clearly lower": lower by >= 10 % relative ...
FLOOR = 1e-3        # ... and by >= 1e-3 in absolute terms (nats, or MSE in units of the train target's variance)
NO_HELP = 0.05      # underfitting: 10x epochs lowers train and val loss by at most 5 %
EXPLODED = 1e3      # diverged: peak train loss >= 1000x the input-blind baseline loss (three orders of magnitude)
RISE = 0.10         # overconfident: final val loss >= 10 % above its minimum
MAX_CASE_SECONDS = 3.0
WINDOW = 0.1        # the "last 10 % of epochs" window reported for every run

ROLES = {  # label -> the comparison roles its criterion reads (each case must have them)
    "diverged": ("lower_lr",),
    "not_converged": ("more_epochs",),
    "underfitting": ("capacity", "more_epochs"),
    "overfitting": ("regularized",),
    "overconfident": ("early_stop",),
    "good_fit": ("neighbour",),
}


# ---- numbers --------------------------------------------------------------------------------------

def finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def loss_value(x) -> float:
    """A loss for comparisons: a missing or non-finite loss counts as +inf (the worst possible)."""
    return float(x) if finite(x) else math.inf


def clearly_lower(a, b) -> bool:
    """Loss a is clearly lower than loss b: by >= 10 % of b and by >= FLOOR (a finite a always is,
    against a non-finite b)."""
    a, b = loss_value(a), loss_value(b)
    if not math.isfinite(a):
        return False
    if not math.isfinite(b):
        return True
    return a <= (1.0 - CLEAR) * b and b - a >= FLOOR


def rel_change(new, old):
    """(new - old) / old, or None when either is not finite or old is 0."""
    if not (finite(new) and finite(old)) or old == 0:
        return None
    return (new - old) / old


def clean(x):
    """JSON-safe: non-finite floats become None (a `non_finite` flag says which runs had them)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, np.generic):
        return clean(x.item())
    return x


# ---- training -------------------------------------------------------------------------------------

def with_overrides(config: dict, sets: dict) -> dict:
    raw = copy.deepcopy(config)
    for key, value in (sets or {}).items():
        set_dotted(raw, key, copy.deepcopy(value))
    return raw


def baseline_loss(exp) -> float:
    """Train loss of a predictor that ignores its input: the entropy of the training class
    frequencies (classification), or the variance of the standardized training target (regression:
    the mean predictor's MSE)."""
    ds = load_dataset(exp.data)
    if ds.task == "classification":
        p = np.bincount(ds.y_train, minlength=ds.n_classes) / len(ds.y_train)
        return float(-sum(q * math.log(q) for q in p if q > 0))
    y = ds.y_train.reshape(len(ds.y_train), -1)
    return float(np.mean((y - y.mean(axis=0)) ** 2))


def train(raw: dict, out: Path) -> dict:
    """Train one config; return its figures (summary values and curve facts)."""
    exp = config_from_dict(raw, base_dir=CORPUS)  # CSV paths: relative to the corpus folder
    t0 = time.perf_counter()
    output = execute(exp)
    elapsed = time.perf_counter() - t0
    run = Run.load(write_run(out, run_id(exp), output, dump_yaml(resolved_dict(exp))))
    return figures(run, elapsed, baseline_loss(exp))


def figures(run: Run, elapsed: float, baseline: float) -> dict:
    s, rows, metric = run.summary, run.metrics, run.metric
    tl = [loss_value(r.get("train_loss")) for r in rows]
    vl = [loss_value(r.get("val_loss")) for r in rows]
    vm = [r.get(f"val_{metric}") for r in rows]
    n = len(rows)
    i_min = min(range(n), key=lambda i: vl[i]) if n else None
    i_peak = max(range(n), key=lambda i: tl[i]) if n else None
    w = max(1, min(n - 1, max(5, round(WINDOW * n)))) if n > 1 else 0
    non_finite = (s.get("status") == "diverged" or not finite(s.get("train_loss")) or not finite(s.get("val_loss"))
                  or any(not math.isfinite(x) for x in tl + vl))
    fig = {
        "run_id": s.get("run_id"),
        "status": s.get("status"),
        "task": s.get("task"),
        "epochs_run": s.get("epochs_run"),
        "best_epoch": s.get("best_epoch"),
        "stopped_early": s.get("stopped_early"),
        "restored_best": s.get("restored_best"),
        "diverged_epoch": s.get("diverged_epoch"),
        "n_train": s.get("n_train"), "n_val": s.get("n_val"), "n_test": s.get("n_test"),
        "baseline_loss": baseline,
        "train_loss": s.get("train_loss"), "val_loss": s.get("val_loss"), "test_loss": s.get("test_loss"),
        f"train_{metric}": s.get(f"train_{metric}"), f"val_{metric}": s.get(f"val_{metric}"),
        f"test_{metric}": s.get(f"test_{metric}"),
        "gap": rel_safe_sub(s.get("val_loss"), s.get("train_loss")),
        "relative_gap": (rel_safe_sub(s.get("val_loss"), s.get("train_loss")) / s["val_loss"]
                         if finite(s.get("val_loss")) and finite(s.get("train_loss")) and s["val_loss"] > 0 else None),
        "non_finite": non_finite,
        "peak_train_loss": tl[i_peak] if n else None,
        "peak_train_epoch": i_peak + 1 if n else None,
        "peak_over_baseline": tl[i_peak] / baseline if n and baseline > 0 else None,
        "first_train_losses": tl[:5],
        "min_val_loss": vl[i_min] if n else None,
        "min_val_epoch": i_min + 1 if n else None,
        f"val_{metric}_at_min_val_loss": vm[i_min] if n else None,
        f"final_val_{metric}": vm[-1] if n else None,
        "final_over_min_val_loss": (vl[-1] / vl[i_min] if n and math.isfinite(vl[-1]) and vl[i_min] > 0 else None),
        "window_epochs": w,
        "train_loss_change_last_window": rel_change(tl[-1], tl[-1 - w]) if w else None,
        "val_loss_change_last_window": rel_change(vl[-1], vl[-1 - w]) if w else None,
        "train_seconds": s.get("wall_time"),      # the training loop alone (summary.json wall_time)
        "execute_seconds": elapsed,               # execute(): data loading + training
    }
    return clean(fig)


def rel_safe_sub(a, b):
    return a - b if finite(a) and finite(b) else None


# ---- criteria ------------------------------------------------------------------------------------
# Each check returns (held, checks): checks is a list of {"check", "held", ...numbers}.

def item(check: str, held: bool, **numbers) -> dict:
    return {"check": check, "held": bool(held), **clean(numbers)}


def comps(case_ev: dict, role: str) -> list[dict]:
    return [c for c in case_ev["compare"] if c["role"] == role]


def metric_of(run: dict) -> str:
    return "acc" if run["task"] == "classification" else "r2"


def check_diverged(run: dict, ev: dict) -> list[dict]:
    out = [item("the run was unstable: a non-finite loss, or a peak train loss >= "
                f"{EXPLODED:g}x the baseline loss",
                run["non_finite"] or (finite(run["peak_over_baseline"]) and run["peak_over_baseline"] >= EXPLODED)
                or (run["peak_train_loss"] is None),
                non_finite=run["non_finite"], peak_train_loss=run["peak_train_loss"],
                peak_train_epoch=run["peak_train_epoch"], baseline_loss=run["baseline_loss"],
                peak_over_baseline=run["peak_over_baseline"])]
    for c in comps(ev, "lower_lr"):
        f = c["figures"]
        out.append(item(f"'{c['what']}' has a clearly lower final train AND val loss",
                        clearly_lower(f["train_loss"], run["train_loss"]) and clearly_lower(f["val_loss"], run["val_loss"]),
                        what=c["what"], group="lower_lr", train_loss=f["train_loss"], val_loss=f["val_loss"],
                        run_train_loss=run["train_loss"], run_val_loss=run["val_loss"]))
    return out


def check_not_converged(run: dict, ev: dict) -> list[dict]:
    change = run["val_loss_change_last_window"]
    out = [item("the val loss was still falling over the last 10 % of epochs", finite(change) and change < 0,
                val_loss_change_last_window=change, window_epochs=run["window_epochs"],
                min_val_epoch=run["min_val_epoch"], epochs_run=run["epochs_run"])]
    for c in comps(ev, "more_epochs"):
        f = c["figures"]
        out.append(item(f"'{c['what']}' reaches a clearly lower val loss", clearly_lower(f["val_loss"], run["val_loss"]),
                        what=c["what"], group="more_epochs", val_loss=f["val_loss"], run_val_loss=run["val_loss"],
                        relative=rel_change(f["val_loss"], run["val_loss"]),
                        train_loss=f["train_loss"], run_train_loss=run["train_loss"]))
    return out


def check_underfitting(run: dict, ev: dict) -> list[dict]:
    out = []
    for c in comps(ev, "capacity"):
        f = c["figures"]
        out.append(item(f"'{c['what']}' has a clearly lower train AND val loss",
                        clearly_lower(f["train_loss"], run["train_loss"]) and clearly_lower(f["val_loss"], run["val_loss"]),
                        what=c["what"], group="capacity", train_loss=f["train_loss"], val_loss=f["val_loss"],
                        run_train_loss=run["train_loss"], run_val_loss=run["val_loss"],
                        train_relative=rel_change(f["train_loss"], run["train_loss"]),
                        val_relative=rel_change(f["val_loss"], run["val_loss"])))
    for c in comps(ev, "more_epochs"):
        f = c["figures"]
        held = (loss_value(f["train_loss"]) >= (1 - NO_HELP) * loss_value(run["train_loss"])
                and loss_value(f["val_loss"]) >= (1 - NO_HELP) * loss_value(run["val_loss"]))
        out.append(item(f"'{c['what']}' lowers neither train nor val loss by more than {NO_HELP:.0%}", held,
                        what=c["what"], train_loss=f["train_loss"], val_loss=f["val_loss"],
                        train_relative=rel_change(f["train_loss"], run["train_loss"]),
                        val_relative=rel_change(f["val_loss"], run["val_loss"])))
    return out


def check_overfitting(run: dict, ev: dict) -> list[dict]:
    out = []
    for c in comps(ev, "regularized"):
        f = c["figures"]
        held = clearly_lower(f["val_loss"], run["val_loss"]) and loss_value(f["train_loss"]) > loss_value(run["train_loss"])
        numbers = dict(what=c["what"], group="regularized", val_loss=f["val_loss"], run_val_loss=run["val_loss"],
                       val_relative=rel_change(f["val_loss"], run["val_loss"]),
                       train_loss=f["train_loss"], run_train_loss=run["train_loss"])
        text = f"'{c['what']}' has a clearly lower val loss while its train loss is higher"
        if run["task"] == "classification":
            held = held and f["val_acc"] >= run["val_acc"]
            numbers.update(val_acc=f["val_acc"], run_val_acc=run["val_acc"])
            text += ", and a val accuracy no lower"
        out.append(item(text, held, **numbers))
    if run["task"] == "classification":  # kept apart from overconfident: the decisions got worse too
        out.append(item("not the overconfident pattern: the val accuracy ends below its value at the "
                        f"val-loss minimum, or the val loss ends < {1 + RISE:g}x its minimum",
                        run["final_val_acc"] < run["val_acc_at_min_val_loss"]
                        or loss_value(run["final_over_min_val_loss"]) < 1 + RISE,
                        final_val_acc=run["final_val_acc"], val_acc_at_min_val_loss=run["val_acc_at_min_val_loss"],
                        final_over_min_val_loss=run["final_over_min_val_loss"]))
    return out


def check_overconfident(run: dict, ev: dict) -> list[dict]:
    out = [item("val accuracy at the end >= val accuracy at the val-loss minimum",
                run["final_val_acc"] >= run["val_acc_at_min_val_loss"],
                final_val_acc=run["final_val_acc"], val_acc_at_min_val_loss=run["val_acc_at_min_val_loss"],
                min_val_epoch=run["min_val_epoch"], epochs=run["epochs_run"]),
           item(f"final val loss >= {1 + RISE:g}x its minimum", loss_value(run["final_over_min_val_loss"]) >= 1 + RISE,
                final_val_loss=run["val_loss"], min_val_loss=run["min_val_loss"],
                final_over_min_val_loss=run["final_over_min_val_loss"])]
    for c in comps(ev, "early_stop"):
        f = c["figures"]
        out.append(item(f"'{c['what']}' ends with a lower test accuracy than the full run",
                        f["test_acc"] < run["test_acc"], what=c["what"], test_acc=f["test_acc"],
                        run_test_acc=run["test_acc"], rows_lost=round((run["test_acc"] - f["test_acc"]) * run["n_test"]),
                        epochs_run=f["epochs_run"], best_epoch=f["best_epoch"]))
    return out


def check_good_fit(run: dict, ev: dict) -> list[dict]:
    out = []
    for c in comps(ev, "neighbour"):
        f = c["figures"]
        m = metric_of(run)
        out.append(item(f"'{c['what']}' does not reach a clearly lower val loss",
                        not clearly_lower(f["val_loss"], run["val_loss"]),
                        what=c["what"], val_loss=f["val_loss"], run_val_loss=run["val_loss"],
                        val_relative=rel_change(f["val_loss"], run["val_loss"]),
                        val_abs_diff=rel_safe_sub(f["val_loss"], run["val_loss"]),
                        train_loss=f["train_loss"], **{f"val_{m}": f[f"val_{m}"], f"run_val_{m}": run[f"val_{m}"]}))
    return out


CHECKS = {"diverged": check_diverged, "not_converged": check_not_converged, "underfitting": check_underfitting,
          "overfitting": check_overfitting, "overconfident": check_overconfident, "good_fit": check_good_fit}


def verdict(checks: list[dict]) -> bool:
    """Checks with a `group` hold together when one of them holds (one comparison run suffices,
    e.g. lr/10 or lr/100, or one of several regularized neighbours); every other check must hold."""
    groups: dict[str, list[bool]] = {}
    plain = []
    for c in checks:
        if c.get("group"):
            groups.setdefault(c["group"], []).append(c["held"])
        else:
            plain.append(c["held"])
    return bool(checks) and all(plain) and all(any(g) for g in groups.values())


# ---- cases ----------------------------------------------------------------------------------------

def load_cases() -> list[dict]:
    cases = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    problems = []
    seen = set()
    for c in cases:
        cid = c.get("id")
        if cid in seen:
            problems.append(f"{cid}: duplicate id")
        seen.add(cid)
        for key in ("id", "label", "kind", "source", "failure_class", "config", "why", "compare"):
            if key not in c:
                problems.append(f"{cid}: missing {key}")
        if c.get("label") not in LABELS:
            problems.append(f"{cid}: unknown label {c.get('label')!r}")
        cfg = c.get("config", {})
        data_name = cfg.get("data", {}).get("name")
        expected = ("csv" if data_name == "csv" else "bundled" if data_name in BUNDLED else "synthetic")
        if c.get("source") != expected:
            problems.append(f"{cid}: source {c.get('source')!r}, but data.name {data_name!r} is {expected}")
        if "seed" not in cfg or "seed" not in cfg.get("data", {}):
            problems.append(f"{cid}: config needs a fixed seed and data.seed")
        roles = {x.get("role") for x in c.get("compare", [])}
        known = {r for rs in ROLES.values() for r in rs} | {"info"}
        for role in sorted(roles - known, key=str):
            problems.append(f"{cid}: unknown comparison role {role!r}")
        for role in ROLES.get(c.get("label"), ()):
            if role not in roles:
                problems.append(f"{cid}: label {c.get('label')} needs a comparison with role {role}")
    if problems:
        sys.exit(f"{CASES.name}: " + "; ".join(problems))
    return cases


def justify(case: dict, out: Path) -> dict:
    run = train(case["config"], out)
    ev = {"id": case["id"], "label": case["label"], "kind": case["kind"], "source": case["source"],
          "failure_class": case["failure_class"], "run": run, "compare": []}
    for comp in case["compare"]:
        fig = train(with_overrides(case["config"], comp.get("set")), out)
        ev["compare"].append({"what": comp["what"], "role": comp["role"], "set": comp.get("set"), "figures": fig})
    ev["checks"] = CHECKS[case["label"]](run, ev)
    ev["held"] = verdict(ev["checks"])
    ev["train_seconds"] = run["train_seconds"]
    ev["fast"] = run["train_seconds"] is not None and run["train_seconds"] <= MAX_CASE_SECONDS
    kind_ok = run["task"] == case["kind"]
    if not kind_ok:
        ev["checks"].append(item(f"the run's task is {case['kind']}", False, task=run["task"]))
        ev["held"] = False
    return ev


def headline(ev: dict) -> str:
    r = ev["run"]
    m = "acc" if r["task"] == "classification" else "r2"
    f = lambda x: "—" if x is None else f"{x:.3g}"
    return (f"{ev['id']:38s} {ev['label']:14s} {'ok ' if ev['held'] else 'FAIL'} "
            f"train {f(r['train_loss'])} val {f(r['val_loss'])} val_{m} {f(r['val_' + m])} "
            f"t {f(r['train_seconds'])}s")


# ---- README table --------------------------------------------------------------------------------

def fmt(x, digits=3) -> str:
    if x is None:
        return "nan"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def key_numbers(ev: dict) -> str:
    r, label = ev["run"], ev["label"]
    by_role = lambda role: [c for c in ev["compare"] if c["role"] == role]
    tv = lambda f: f"train {fmt(f['train_loss'])} / val {fmt(f['val_loss'])}"
    if label == "diverged":
        best = min(by_role("lower_lr"), key=lambda c: loss_value(c["figures"]["val_loss"]))
        spike = "non-finite loss" if r["non_finite"] else f"peak train loss {fmt(r['peak_train_loss'])} at epoch {r['peak_train_epoch']}"
        return f"{spike}, final {tv(r)}; {best['what']}: {tv(best['figures'])}"
    if label == "not_converged":
        c = by_role("more_epochs")[0]
        return f"{tv(r)}; {c['what']}: {tv(c['figures'])} ({fmt(100 * rel_change(c['figures']['val_loss'], r['val_loss']), 2)} % val)"
    if label == "underfitting":
        best = min(by_role("capacity"), key=lambda c: loss_value(c["figures"]["val_loss"]))
        e = by_role("more_epochs")[0]
        return f"{tv(r)}; {best['what']}: {tv(best['figures'])}; {e['what']}: {tv(e['figures'])}"
    if label == "overfitting":
        best = min(by_role("regularized"), key=lambda c: loss_value(c["figures"]["val_loss"]))
        acc = (f", val acc {fmt(r['val_acc'])} → {fmt(best['figures']['val_acc'])}" if r["task"] == "classification" else "")
        rel = fmt(100 * rel_change(best["figures"]["val_loss"], r["val_loss"]), 2)
        return f"{tv(r)}; {best['what']}: {tv(best['figures'])} ({rel} % val){acc}"
    if label == "overconfident":
        es = by_role("early_stop")[0]
        return (f"val loss {fmt(r['min_val_loss'])}@{r['min_val_epoch']} → {fmt(r['val_loss'])}@{r['epochs_run']}, "
                f"val acc {fmt(r['val_acc_at_min_val_loss'])} → {fmt(r['final_val_acc'])}; "
                f"test acc {fmt(r['test_acc'])} vs {fmt(es['figures']['test_acc'])} early-stopped")
    m = "acc" if r["task"] == "classification" else "r2"
    best = min(by_role("neighbour"), key=lambda c: loss_value(c["figures"]["val_loss"]))
    bv = best["figures"]["val_loss"]
    return (f"{tv(r)}, val {m} {fmt(r['val_' + m])}, test {m} {fmt(r['test_' + m])}; best of "
            f"{len(by_role('neighbour'))} neighbours: {best['what']} val {fmt(bv)} "
            f"({fmt(100 * rel_change(bv, r['val_loss']), 2)} %, {bv - r['val_loss']:+.2g} absolute)")


def data_name(case: dict) -> str:
    d = case["config"]["data"]
    if d["name"] == "csv":
        return "csv " + Path(d["path"]).name
    return d["name"]


def table(evidence: dict, cases: list[dict]) -> str:
    lines = ["| id | label | data | key evidence | train s |", "| --- | --- | --- | --- | ---: |"]
    for case in cases:
        ev = evidence["cases"].get(case["id"])
        if ev is None:
            continue
        lines.append(f"| `{case['id']}` | {case['label']} | {data_name(case)} | {key_numbers(ev)} | "
                     f"{fmt(ev['train_seconds'], 2)} |")
    return "\n".join(lines)


# ---- main -----------------------------------------------------------------------------------------

def shown(path: Path) -> str:
    """`path` relative to the repository root when it lies inside it, else as given."""
    try:
        return path.relative_to(CORPUS.parent.parent).as_posix()
    except ValueError:
        return str(path)


def main(argv=None) -> int:
    global CASES, EVIDENCE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", help="run only this case id (repeatable)")
    ap.add_argument("--out", type=Path, help="results folder for the run folders (default: a temporary folder)")
    ap.add_argument("--table", action="store_true", help="print the README table from evidence.json and exit")
    ap.add_argument("--cases", type=Path, default=CASES, help="the case file (default: cases.yaml in this folder)")
    ap.add_argument("--evidence", type=Path, help="the evidence record (default: evidence.json beside the case file)")
    args = ap.parse_args(argv)

    CASES = args.cases.resolve()
    EVIDENCE = (args.evidence or CASES.parent / "evidence.json").resolve()
    cases = load_cases()
    if args.table:
        print(table(json.loads(EVIDENCE.read_text(encoding="utf-8")), cases))
        return 0
    chosen = cases
    if args.case:
        unknown = set(args.case) - {c["id"] for c in cases}
        if unknown:
            sys.exit(f"unknown case id(s): {', '.join(sorted(unknown))}")
        chosen = [c for c in cases if c["id"] in args.case]

    tmp = None
    out = args.out
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="diagnosis-corpus-")
        out = Path(tmp.name)
    results = {}
    try:
        for case in chosen:
            ev = justify(case, out)
            results[case["id"]] = ev
            print(headline(ev), flush=True)
            for c in ev["checks"]:
                if not c["held"]:
                    print(f"    not held: {c['check']}", flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()

    record = {"cases": {}}
    if args.case and EVIDENCE.exists():
        record = json.loads(EVIDENCE.read_text(encoding="utf-8"))
    record["cases"].update(results)
    record["cases"] = {c["id"]: record["cases"][c["id"]] for c in cases if c["id"] in record["cases"]}
    record["about"] = {
        "what": f"evidence for the labels of {shown(CASES)}, written by justify.py",
        "clearly_lower": f"lower by >= {CLEAR:.0%} relative and by >= {FLOOR:g} absolute; a non-finite loss counts as +inf",
        "underfitting_no_help": f"10x epochs lowers train and val loss by at most {NO_HELP:.0%}",
        "diverged_exploded": f"a non-finite loss, or peak train loss >= {EXPLODED:g}x the input-blind baseline loss",
        "overconfident_rise": f"final val loss >= {1 + RISE:g}x its minimum",
        "max_case_seconds": MAX_CASE_SECONDS,
        "train_seconds": "summary.json wall_time of the case's own run (the training loop, one core)",
        "dlexp_version": dlexp_version, "python": platform.python_version(), "numpy": np.__version__,
    }
    record["total_case_train_seconds"] = sum(ev["train_seconds"] or 0.0 for ev in record["cases"].values())
    record["all_held"] = all(ev["held"] for ev in record["cases"].values())
    EVIDENCE.write_text(json.dumps(clean(record), indent=1) + "\n", encoding="utf-8")

    failed = [cid for cid, ev in results.items() if not ev["held"]]
    slow = [cid for cid, ev in results.items() if not ev["fast"]]
    total = sum(ev["train_seconds"] or 0.0 for ev in results.values())
    print(f"{len(results) - len(failed)} of {len(results)} cases hold; cases alone trained in {total:.1f} s; "
          f"wrote {shown(EVIDENCE)}")
    if slow:
        print(f"warning: over {MAX_CASE_SECONDS:g} s: {', '.join(slow)}", file=sys.stderr)
    if failed:
        print(f"criteria failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
