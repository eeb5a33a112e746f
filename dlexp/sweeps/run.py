"""`dlexp run`: config file → trained run folder, with progress and reuse of identical runs."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from ..config.load import load_config, locate, resolved_dict, run_id
from ..data.columns import in_words
from ..errors import DlexpError, Interrupted, printable
from ..labels import plural
from ..results.live import LiveLog, live_path, remove_live
from ..results.locks import RunLock, describe, release_mine
from ..results.store import (HoldInterrupts, clear_leftovers, is_done, json_text, read_json, run_dir, write_failed_run,
                    write_run)
from ..config.yamlfile import dump_yaml
from ..training.experiment import execute


@dataclass
class RunResult:
    folder: Path
    status: str
    summary: dict
    reused: bool

    @property
    def json_text(self) -> str:
        return json_text(self.summary).rstrip("\n")


def summary_line(s: dict) -> str:
    """One line a person reads: status, epochs, train/val/test figures, time."""
    m = s.get("metric", "acc")

    def fig(key):
        v = s.get(key)
        return "n/a" if v is None else f"{v:.4g}"

    head = f"{s.get('name', '')}: {s['status']}"
    if s["status"] == "failed":
        return f"{head} ({s.get('error', 'see traceback.txt')})"
    epochs = f"{fig('epochs_run')} {plural(s.get('epochs_run'), 'epoch')}" + (f", best {fig('best_epoch')}" if s.get("best_epoch") else "")
    if s.get("stopped_early"):
        epochs += ", stopped early"
    if s["status"] == "diverged":
        epochs += f", diverged at epoch {s.get('diverged_epoch')}"
    members = f" × {s['n_members']} {'folds' if s.get('kind') == 'cv' else 'seeds'}" if s.get("n_members") else ""
    data = f" · data: {in_words(s['preprocessing'])}" if s.get("preprocessing") else ""
    return (f"{head} · {epochs}{members} · train loss {fig('train_loss')} {m} {fig('train_' + m)} · "
            f"val loss {fig('val_loss')} {m} {fig('val_' + m)} · test {m} {fig('test_' + m)} · "
            f"{s.get('wall_time', 0):.1f} s{data}")


def run_experiment(config: Path, sets=(), out: Path = Path("results"), *, force: bool = False,
                   quiet: bool = False, echo=print) -> RunResult:
    return run_loaded(load_config(config, sets), out, force=force, quiet=quiet, echo=echo)


def run_loaded(exp, out: Path = Path("results"), *, force: bool = False, quiet: bool = False,
               echo=print) -> RunResult:
    """Train the validated Experiment `exp` into `out` (or reuse its finished run)."""
    rid = run_id(exp)
    folder = run_dir(out, rid)
    if not force and is_done(folder):
        return _reuse(folder, rid, echo)
    # The run's lock (locks.py): a sweep or another `dlexp run` training the same config is
    # waited for, and its result reused, instead of training it twice at the same time.
    lock = RunLock(out, rid)
    lock.acquire(on_wait=lambda holder: echo(f"waiting for {describe(holder)}, which is training run {rid}"))
    try:
        clear_leftovers(out, rid)  # of a process killed while publishing this run
        if not force and is_done(folder):
            return _reuse(folder, rid, echo)
        return _train(exp, rid, out, quiet, echo)
    finally:
        lock.release()
        release_mine(out)  # an interrupt inside acquire/release must not leave a lock behind


def _reuse(folder: Path, rid: str, echo) -> RunResult:
    summary = read_json(folder / "summary.json")
    echo(f"reusing completed run {rid} (same resolved config; --force to train again)")
    echo(summary_line(summary))
    return RunResult(folder, summary["status"], summary, True)


def _train(exp, rid: str, out: Path, quiet: bool, echo) -> RunResult:
    config_yaml = dump_yaml(resolved_dict(exp))
    t0 = time.perf_counter()
    progress = None if quiet else _Progress(exp)
    live = LiveLog(live_path(out, rid), rid, exp.name, exp.train.epochs, len(exp.seed_list()) * (exp.eval.cv or 1))

    def on_member(label, index, total):
        live.member(label, index, total)
        if progress:
            progress.member(label, index, total)

    def on_epoch(row):
        live.epoch(row)
        if progress:
            progress.epoch(row)

    try:
        if progress:
            progress.start()
        output = execute(exp, on_epoch=on_epoch, on_member=on_member)
    except DlexpError as exc:  # found while loading the data or checking memory: point at the config's line
        raise locate(exc, exp) from None
    except KeyboardInterrupt:
        raise Interrupted(f"run {rid} ({exp.name}) was not kept: a run is written once fully trained; "
                          "the same command trains it again from the start") from None
    except Exception as exc:  # a bug or numerical failure: keep the traceback, exit 1
        summary = {"run_id": rid, "name": exp.name, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                   "wall_time": time.perf_counter() - t0}
        try:
            folder = write_failed_run(out, rid, config_yaml, summary, traceback.format_exc())
        finally:
            remove_live(out, rid)  # its training ended: published, or refused by the disk
        echo(summary_line(summary))
        return RunResult(folder, "failed", summary, False)
    finally:
        live.close()  # on Ctrl-C the file stays: the run shows as interrupted until trained again
        if progress:
            progress.stop()
    try:
        with HoldInterrupts():  # a finished run is published whole, even on Ctrl-C
            try:
                folder = write_run(out, rid, output, config_yaml)
            finally:
                remove_live(out, rid)  # its training ended: published, or refused by the disk
    except KeyboardInterrupt:  # held until it was written: it is there
        raise Interrupted(f"run {rid} ({exp.name}) was kept: {run_dir(out, rid)}") from None
    echo(summary_line(output.summary))
    return RunResult(folder, output.summary["status"], output.summary, False)


class _Progress:
    """A rich progress bar on stderr: epoch, losses; one task per member for repeats and folds."""

    def __init__(self, exp):
        # rich here, not at the top, for start-up time: `dlexp run -q` never draws a bar
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.epochs = exp.train.epochs
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[losses]}"), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
        self.task = None
        self.name = escape(printable(exp.name))  # shown as typed: no markup, no escape sequences

    def start(self):
        self.bar.start()

    def stop(self):
        self.bar.stop()

    def member(self, label, index, total):
        desc = self.name if total == 1 else f"{self.name} \\[{label}] {index + 1}/{total}"
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(desc, total=self.epochs, losses="")

    def epoch(self, row):
        self.bar.update(self.task, completed=row["epoch"],
                        losses=f"train {row['train_loss']:.4f} · val {row['val_loss']:.4f}")
