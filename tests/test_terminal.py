"""What a person reads in the terminal: Ctrl-C says what was kept, counts agree with their nouns,
sweep progress is counted in epochs, every command's help ends with examples.

Interrupts are raised by a hook at a fixed epoch of a fixed run, never by a timer or a signal
sent at some moment."""

from __future__ import annotations

import click
import pytest
import yaml
from click.testing import CliRunner

from dlexp import labels
from dlexp.cli import main

BASE = {"name": "tiny", "data": {"name": "moons", "n_samples": 120, "noise": 0.25},
        "model": {"hidden": [8]}, "optimizer": {"name": "adam", "lr": 0.02},
        "train": {"epochs": 4, "batch_size": 16}}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def interrupt_at(epoch: int):
    """An on_epoch hook that stops training with a Ctrl-C after `epoch`."""
    def hook(row):
        if row["epoch"] == epoch:
            raise KeyboardInterrupt
    return hook


# ---------------------------------------------------------------------------------------------
# Ctrl-C

def test_an_interrupted_run_says_it_was_not_kept(tmp_path, monkeypatch):
    import dlexp.sweeps.run as run_module

    real = run_module.execute

    def execute(exp, on_epoch=None, on_member=None):
        return real(exp, on_epoch=interrupt_at(2), on_member=on_member)

    monkeypatch.setattr(run_module, "execute", execute)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(BASE))
    out = tmp_path / "results"
    r = invoke("run", tmp_path / "tiny.yaml", "--results", out, "-q")
    assert r.exit_code == 130
    assert "interrupted: run " in r.stderr and "was not kept" in r.stderr and "Traceback" not in r.output
    assert not [p for p in (out / "runs").iterdir() if not p.name.startswith(".")]  # nothing half-written


def test_an_interrupted_sweep_says_what_it_kept_and_resumes(tmp_path, monkeypatch):
    import dlexp.sweeps.executors as executors

    real, calls = executors.run_task, []

    def run_task(exp, *args, on_epochs=None, **kwargs):
        calls.append(exp)
        if len(calls) == 3:  # the third run is stopped at its second epoch

            def on_epochs(n):
                if n == 2:
                    raise KeyboardInterrupt
        return real(exp, *args, on_epochs=on_epochs, **kwargs)

    monkeypatch.setattr(executors, "run_task", run_task)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({"name": "w", "base": "base.yaml",
                                                        "grid": {"model.hidden": [[2], [4], [8], [16]]}}))
    out = tmp_path / "results"
    r = invoke("sweep", tmp_path / "spec.yaml", "--results", out, "-j", "1", "-q")
    assert r.exit_code == 130, r.output
    assert "interrupted: sweep w: 2 of 4 runs done; run the same command again to resume" in r.stderr
    monkeypatch.setattr(executors, "run_task", real)
    r = invoke("sweep", tmp_path / "spec.yaml", "--results", out, "-j", "1", "-q")
    assert r.exit_code == 0 and "2 of 4 runs already done; training 2" in r.stderr


def test_what_a_sweep_kept():
    from dlexp.sweeps.sweep import _kept

    assert _kept("l2", ["completed"] * 7 + ["missing"]) == \
        "sweep l2: 7 of 8 runs done; run the same command again to resume"
    assert _kept("one", ["missing"]) == "sweep one: 0 of 1 run done; run the same command again to resume"
    assert _kept("f", ["completed", "failed"]) == "sweep f: 1 of 2 runs done, 1 failed; nothing was left to train"


# ---------------------------------------------------------------------------------------------
# counts

@pytest.mark.parametrize("n, one, many, text", [(0, "run", None, "0 runs"), (1, "run", None, "1 run"),
                                                (2, "run", None, "2 runs"), (1000, "point", None, "1,000 points"),
                                                (1, "more column", None, "1 more column"),
                                                (3, "class", "classes", "3 classes")])
def test_count(n, one, many, text):
    assert labels.count(n, one, many) == text


def test_plural_of_a_verb():
    assert [labels.plural(n, "holds", "hold") for n in (1, 2)] == ["holds", "hold"]


def test_a_one_point_sweep_speaks_of_one_run(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({"name": "one", "base": "base.yaml",
                                                        "grid": {"seed": [0]}}))
    r = invoke("sweep", tmp_path / "spec.yaml", "--results", tmp_path / "results", "-j", "1", "-q")
    assert r.exit_code == 0, r.output
    assert "training 1 run\n" in r.stderr and "one: 1 run · 1 completed" in r.stderr
    assert "1 runs" not in r.stderr


def test_nothing_to_show_agrees_with_one_target(tmp_path):
    out = tmp_path / "results"
    (out / "sweeps" / "empty").mkdir(parents=True)
    (out / "sweeps" / "empty" / "manifest.json").write_text('{"name": "empty", "swept": [], "points": []}')
    r = invoke("table", "empty", "--results", out)
    assert r.exit_code == 2 and "empty holds no readable finished run" in r.stderr


# ---------------------------------------------------------------------------------------------
# sweep progress in epochs

def test_planned_epochs_counts_every_model_the_run_trains():
    from dlexp.config.load import config_from_dict
    from dlexp.sweeps.executors import planned_epochs
    from dlexp.training.experiment import member_plan

    for extra in ({}, {"seeds": [0, 1, 2]}, {"eval": {"cv": 3}}, {"repeats": 2, "eval": {"cv": 4}}):
        exp = config_from_dict({**BASE, **extra})
        assert planned_epochs(exp) == len(member_plan(exp)) * exp.train.epochs


def test_run_task_reports_every_epoch_of_every_member():
    from dlexp.config.load import config_from_dict
    from dlexp.sweeps.executors import run_task

    exp = config_from_dict({**BASE, "seeds": [0, 1]})
    seen = []
    outcome = run_task(exp, on_epochs=seen.append)
    assert outcome.error is None and seen == list(range(1, 9)) and outcome.extra["epochs"] == 8


class FakeBar:
    """rich.progress.Progress as _Progress uses it: tasks with a total and a completed count."""

    def __init__(self):
        self.tasks, self.removed = [], []

    def add_task(self, description, total, **fields):
        self.tasks.append(type("T", (), {"total": total, "completed": 0, "fields": fields})())
        return len(self.tasks) - 1

    def update(self, task, completed=None, total=None, **fields):
        t = self.tasks[task]
        t.completed = t.completed if completed is None else completed
        t.total = t.total if total is None else total
        t.fields.update(fields)

    def remove_task(self, task):
        self.removed.append(task)


def test_sweep_progress_counts_epochs_and_drops_what_early_stopping_spared():
    from dlexp.config.load import config_from_dict
    from dlexp.sweeps.executors import Task
    from dlexp.sweeps.sweep import _Progress

    todo = [Task(f"r{i}", config_from_dict(BASE), f"point {i}") for i in range(2)]  # 4 epochs each
    p = _Progress(todo, "s", quiet=True, echo=print)
    p.bar = FakeBar()
    p.task = p.bar.add_task("sweep s", total=8, count="")
    p.start(todo[0])
    p.epochs("r0", 3)
    overall = p.bar.tasks[0]
    assert (overall.completed, overall.total) == (3, 8)  # 3 epochs done: 3/8 of the sweep, not 0/2 runs
    assert p.bar.tasks[1].fields["count"] == "epoch 3/4"
    p.advance("r0", "completed", None, 3)  # stopped early after 3 of its 4 epochs
    assert (overall.completed, overall.total) == (3, 7) and overall.fields["count"] == "1/2 runs"
    p.start(todo[1])
    p.epochs("r1", 2)
    assert overall.completed == 5
    p.epochs("r0", 4)  # a late report of a finished run changes nothing
    assert overall.completed == 5


# ---------------------------------------------------------------------------------------------
# help

COMMANDS = sorted(main.list_commands(click.Context(main)))


def help_text(*args) -> str:
    r = CliRunner().invoke(main, [*args, "--help"], terminal_width=80)
    assert r.exit_code == 0, r.output
    return r.output


def test_the_command_list_shows_whole_descriptions():
    from dlexp.cli import SHORT_HELP

    text = help_text()
    listing = text[text.index("Commands:"):]
    assert "..." not in listing and "…" not in listing
    for name in COMMANDS:
        assert f"  {name:<8}  {SHORT_HELP[name]}\n" in listing  # on one line of 80 columns


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_ends_with_examples_that_parse(name):
    import shlex

    text = help_text(name).rstrip("\n").split("\n")
    start = text.index("  Examples:")
    examples = [line.strip() for line in text[start + 1:]]
    assert 2 <= len(examples) <= 3
    assert all(len(line) <= 80 for line in text[start:])
    for example in examples:
        words = shlex.split(example.split("&&")[0].split(">")[0])
        assert words[:2] == ["dlexp", name]
        main.make_context("dlexp", words[1:])  # raises a UsageError if an option does not exist


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_fits_80_columns(name):
    """A long choice list ([curves|compare|…]) is printed as one line whatever the width: such an
    option names its choices in its help text, which wraps."""
    too_long = [line for line in help_text(name).split("\n") if len(line) > 80]
    assert not too_long, too_long


def test_threshold_help_lists_every_threshold_name():
    from dlexp.analysis.diagnose import DEFAULT_THRESHOLDS

    text = " ".join(help_text("diagnose").split())
    assert all(name in text.replace("- ", "-") for name in DEFAULT_THRESHOLDS)
