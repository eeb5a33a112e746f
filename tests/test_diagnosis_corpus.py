"""The diagnosis against labelled corpora (tests/diagnosis_corpus): small real runs whose label an
expert would not hesitate over, each justified by comparison runs outside the rules (recorded by
justify.py). `cases.yaml` is the corpus the rules were reworked on; `holdout.yaml` was built
afterwards, blind to the rules. Every case is trained here and diagnosed; the rules must get at
least 95 % of each corpus right, and the test prints the table of what they said."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy  # noqa: F401  (loaded before threadpool_limits, so its BLAS pool is the one limited)
import pytest
import yaml

from dlexp.analysis.diagnose import LABELS, diagnose_run
from dlexp.config.load import config_from_dict, resolved_dict, run_id
from dlexp.config.yamlfile import dump_yaml
from dlexp.results.reader import Run
from dlexp.results.store import write_run
from dlexp.training.experiment import execute

CORPUS = Path(__file__).parent / "diagnosis_corpus"
CORPORA = {"corpus": ("cases.yaml", "evidence.json"), "holdout": ("holdout.yaml", "holdout-evidence.json")}
CASES = {name: yaml.safe_load((CORPUS / cases).read_text(encoding="utf-8")) for name, (cases, _) in CORPORA.items()}
EVIDENCE = {name: json.loads((CORPUS / ev).read_text(encoding="utf-8"))["cases"] for name, (_, ev) in CORPORA.items()}
REQUIRED_SHARE = 0.95


def train(out: Path, raw: dict) -> Run:
    exp = config_from_dict(raw, base_dir=CORPUS)  # CSV paths are relative to the corpus folder
    return Run.load(write_run(out, run_id(exp), execute(exp), dump_yaml(resolved_dict(exp))))


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory):
    """case id → (run, diagnosis), every case of both corpora trained once on one BLAS thread."""
    from threadpoolctl import threadpool_limits

    out = tmp_path_factory.mktemp("corpus")
    with threadpool_limits(1):
        found = {}
        for case in CASES["corpus"] + CASES["holdout"]:
            run = train(out, case["config"])
            found[case["id"]] = (run, diagnose_run(run))
    return found


def test_the_corpora_hold_distinct_cases():
    ids = [c["id"] for cases in CASES.values() for c in cases]
    assert len(ids) == len(set(ids))
    assert len(CASES["corpus"]) >= 30 and len(CASES["holdout"]) >= 20


def test_the_corpus_covers_every_label_task_and_source():
    cases = CASES["corpus"]
    labels = Counter(c["label"] for c in cases)
    assert set(labels) == set(LABELS), labels
    for label in LABELS:
        tasks = {c["kind"] for c in cases if c["label"] == label}
        assert tasks == ({"classification"} if label == "overconfident" else {"classification", "regression"}), label
    assert {c["source"] for c in cases} == {"synthetic", "bundled", "csv"}
    classes = {c["failure_class"] for c in cases}
    for needed in ("perfect_fit", "tabular_high_accuracy", "explosion", "loss_accuracy_disagreement"):  # the misjudged classes
        assert any(c.startswith(needed) for c in classes), (needed, classes)


@pytest.mark.parametrize("corpus", list(CORPORA))
def test_every_label_is_justified_by_its_recorded_evidence(corpus):
    """justify.py trained each case's comparison runs and checked the label's criterion; the
    record must hold for every case as it is now (same config, criterion met)."""
    for case in CASES[corpus]:
        record = EVIDENCE[corpus][case["id"]]
        assert record["label"] == case["label"], case["id"]
        assert record["held"] is True, (case["id"], record.get("criterion"))
        assert record["compare"] and len(record["compare"]) == len(case["compare"]), case["id"]


@pytest.mark.parametrize("corpus", list(CORPORA))
def test_the_rules_get_the_corpus_right(corpus, diagnosed, capsys):
    rows, right = [], 0
    cases = CASES[corpus]
    for case in cases:
        run, d = diagnosed[case["id"]]
        ok = d["label"] == case["label"]
        right += ok
        rows.append(f"{'ok ' if ok else 'MISS'} {case['id']:<34} {case['label']:<14} {d['label']:<14} {d['short']}")
    share = right / len(cases)
    with capsys.disabled():
        print(f"\ndiagnosis {corpus}: {right}/{len(cases)} right ({share:.0%})\n" + "\n".join(rows))
    misses = [r for r in rows if r.startswith("MISS")]
    assert share >= REQUIRED_SHARE, "\n".join(misses)
