"""`dlexp sweep`: train every point of a sweep — in parallel, resumable, shared by content hash.

A point's run lives in <out>/runs/<run_id>/ under the hash of its resolved config, so a finished
point is never trained twice: not on a rerun, not after an edit of the spec, not in another sweep.
Each run is trained under its lock (locks.py) by an executor (executors.py: in this process, a
process pool or Dask); only this process writes files. <out>/sweeps/<name>/ holds sweep.yaml (the
spec as resolved), manifest.json (point → run_id, status) and summary.csv (one row per point).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ..config.load import resolved_dict
from ..data.datasets import heavy_modules
from ..errors import Interrupted, Problem, ResultError, StorageError, printable
from ..labels import count
from .executors import Task, make_executor, planned_epochs
from ..results.live import live_path, remove_live
from ..results.locks import RunLock, clear_stale, describe, release_mine
from ..results.store import (DONE_STATUSES, HoldInterrupts, atomic_write_files, atomic_write_text, clear_leftovers,
                             csv_table, json_text, read_json, run_dir, run_status, write_failed_run, write_run)
from ..results.summary import columns_of, summary_row
from .spec import SweepPlan
from ..config.yamlfile import dump_yaml


@dataclass
class SweepResult:
    name: str
    folder: Path
    counts: dict            # status → number of distinct runs
    failures: list[dict]    # {point, run_id, error, folder}
    rows: list[dict]        # summary.csv's rows
    trained: int

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    @property
    def json_text(self) -> str:
        return json_text({"name": self.name, "folder": str(self.folder), "counts": self.counts,
                          "trained": self.trained, "failures": self.failures, "rows": self.rows}).rstrip("\n")


class _Ledger:
    """The sweep's view of its runs (status and summary per run id); writes manifest and summary.csv."""

    def __init__(self, plan: SweepPlan, out: Path):
        self.plan, self.out = plan, out
        self.folder = out / "sweeps" / plan.name
        self.status: dict[str, str] = {}
        self.summary: dict[str, dict] = {}
        self._written = -1e9

    def read(self, rid: str) -> str:
        """Status of a run as it is on disk now; its summary remembered if it has one."""
        try:
            st = run_status(run_dir(self.out, rid))
            if st in ("completed", "diverged", "failed"):
                self.summary[rid] = read_json(run_dir(self.out, rid) / "summary.json")
        except ResultError:  # being replaced by another process this very moment: as if missing
            st = "missing"
        self.status[rid] = st
        return st

    def record(self, rid: str, summary: dict) -> None:
        self.status[rid], self.summary[rid] = summary["status"], summary

    def shown(self, rid: str) -> str:
        st = self.status.get(rid, "missing")
        return "pending" if st == "missing" else st

    def rows(self) -> list[dict]:
        return [summary_row(self.summary.get(p.rid), p.values, p.rid, self.shown(p.rid)) for p in self.plan.points]

    def write(self, force: bool = False) -> None:
        """manifest.json and summary.csv, atomically and together (a full disk keeps both as they
        were); at most once a second unless forced."""
        if not force and time.monotonic() - self._written < 1.0:
            return
        points = [{"point": p.values, "run_id": p.rid, "status": self.shown(p.rid)} for p in self.plan.points]
        rows = self.rows()
        manifest = json_text({"name": self.plan.name, "swept": self.plan.swept, "points": points})
        with HoldInterrupts():
            atomic_write_files({self.folder / "manifest.json": manifest.encode("utf-8"),
                                self.folder / "summary.csv":
                                    csv_table(rows, columns_of(rows, self.plan.swept)).encode("utf-8")})
        self._written = time.monotonic()


def dry_run(plan: SweepPlan, out: Path) -> str:
    """One line per point: run_id, its status now, the swept values."""
    status = {p.rid: run_status(run_dir(out, p.rid)) for p in plan.points}
    return "".join(f"{p.rid}  {status[p.rid].replace('missing', 'pending'):9}  {p.label}\n" for p in plan.points)


def run_sweep(plan: SweepPlan, out: Path = Path("results"), *, jobs: int | None = None, executor: str = "local",
              address: str | None = None, retry_failed: bool = False, max_crash_retries: int = 2,
              quiet: bool = False, echo=print) -> SweepResult:
    """Train every point of `plan` not yet done; write the sweep folder; report what failed."""
    out = Path(out)
    t0 = time.perf_counter()
    ledger = _Ledger(plan, out)
    clear_stale(out)  # locks left by killed processes, including on runs they finished
    spec_text = "# The sweep as resolved by dlexp; `dlexp sweep` on this file runs it again.\n" + dump_yaml(plan.spec)
    previous = ledger.folder / "sweep.yaml"
    if previous.exists() and previous.read_text(encoding="utf-8") != spec_text:
        echo(f"sweep {plan.name}: the spec changed since the last run; runs whose config did not change are kept")
    atomic_write_text(previous, spec_text)
    first = {}
    for p in plan.points:
        first.setdefault(p.rid, p)
    todo, initial, failed_before, damaged = [], {}, 0, 0
    for rid, p in first.items():
        st = ledger.read(rid)
        if st == "failed" and not retry_failed:
            failed_before += 1
        elif st not in DONE_STATUSES:
            damaged += st == "damaged"
            initial[rid] = st
            todo.append(Task(rid, p.exp, p.label))
    n, done = len(first), len(first) - len(todo) - failed_before
    distinct = f" ({count(len(plan.points), 'point')})" if len(plan.points) != n else ""
    head = f"sweep {plan.name}: " + (f"{done} of {count(n, 'run')}{distinct} already done; training {len(todo)}"
                                     if done else f"training {count(len(todo), 'run')}{distinct}")
    if damaged:
        head += f" ({damaged} damaged, trained again)"
    if failed_before:
        head += f"; {failed_before} failed before (--retry-failed to train them again)"
    echo(head)

    restore = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):  # `kill` stops a sweep as cleanly as Ctrl-C does
            raise KeyboardInterrupt
        restore = signal.signal(signal.SIGTERM, on_term)
    trained = 0
    try:
        ledger.write(force=True)
        if todo:
            n_jobs = jobs or _cpus()
            progress = _Progress(todo, plan.name, quiet, echo)
            try:
                ex = make_executor(executor, min(n_jobs, len(todo)), address=address,
                                   max_crash_retries=max_crash_retries, preload=_preloads(todo),
                                   on_epochs=progress.epochs if progress.bar is not None else None)
                trained = _train(todo, initial, ledger, ex, out, progress)
            finally:
                progress.stop()
    except BaseException as exc:
        # Ctrl-C or a refused write: record what is done, unless the disk refuses that too (then
        # manifest.json and summary.csv stay as last written; the run folders say the rest)
        with contextlib.suppress(StorageError):
            ledger.write(force=True)
        if isinstance(exc, StorageError):
            raise StorageError(exc.problems + [Problem(f"sweep {plan.name} stopped; the runs it finished are kept: "
                                                       "run the same command again to resume")]) from exc
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Interrupted):
            raise Interrupted(_kept(plan.name, [ledger.status.get(rid) for rid in first])) from None
        raise
    else:
        ledger.write(force=True)
    finally:
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)

    counts: dict = {}
    for rid in first:
        counts[ledger.shown(rid)] = counts.get(ledger.shown(rid), 0) + 1
    failures = [{"point": p.values, "label": p.label, "run_id": rid, "error": ledger.summary[rid].get("error"),
                 "folder": str(run_dir(out, rid))} for rid, p in first.items() if ledger.status.get(rid) == "failed"]
    echo(f"sweep {plan.name}: {count(n, 'run')} · " + " · ".join(f"{v} {k}" for k, v in counts.items())
         + f" · {trained} trained in {time.perf_counter() - t0:.1f} s")
    if failures:
        echo("failed runs:")
        for f in failures:
            echo(f"  {f['label']} · run {f['run_id']}: {f['error']} (see {f['folder']}/traceback.txt)")
    return SweepResult(plan.name, ledger.folder, counts, failures, ledger.rows(), trained)


def _kept(name: str, statuses: list) -> str:
    """What an interrupted sweep kept: "sweep l2: 7 of 8 runs done; run the same command again to
    resume" (the runs finished, before or now, are in their folders; the others start over)."""
    done = sum(st in DONE_STATUSES for st in statuses)
    failed = statuses.count("failed")
    text = f"sweep {name}: {done} of {count(len(statuses), 'run')} done"
    if failed:
        text += f", {failed} failed"
    if done + failed == len(statuses):
        return text + "; nothing was left to train"
    return text + "; run the same command again to resume"


def _preloads(todo) -> list[str]:
    return sorted({m for t in todo for m in heavy_modules(t.exp.data, t.exp.eval.cv)})


def _cpus() -> int:
    """CPUs this process may use (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:
        return os.cpu_count() or 1


def _train(todo, initial: dict, ledger: _Ledger, ex, out: Path, progress: "_Progress") -> int:
    """Feed the executor, holding each run's lock while it trains; publish results as they come."""
    queue, deferred, held = deque(todo), {}, {}
    told = False
    trained = 0
    clean = False
    try:
        while queue or deferred or ex.busy():
            while queue and ex.free_slots() > 0:
                task = queue.popleft()
                lock = RunLock(out, task.rid)
                if not lock.try_acquire():  # another process is training it: come back to it later
                    deferred[task.rid] = task
                    continue
                clear_leftovers(out, task.rid)  # of a killed process; may put back a run it moved aside
                st = run_status(run_dir(out, task.rid))
                if st in DONE_STATUSES or (st == "failed" and initial[task.rid] != "failed"):
                    lock.release()  # finished by another process meanwhile (or restored): take its result
                    progress.advance(task.rid, ledger.read(task.rid), None, None)
                    continue
                held[task.rid] = lock
                if ex.shares_files:  # the process that trains can write the run's live file
                    task.live = str(live_path(out, task.rid))
                progress.start(task)
                ex.submit(task)
            if ex.busy():
                finished = ex.wait(timeout=0.5 if deferred else None)
            else:
                finished = []
                if deferred:
                    if not told:
                        holder = RunLock(out, next(iter(deferred))).holder()
                        progress.print(f"waiting for {count(len(deferred), 'run')} that {describe(holder)} is training")
                        told = True
                    time.sleep(0.25)
            for task, outcome in finished:
                with HoldInterrupts():  # a finished run is published whole, even on Ctrl-C
                    status = _publish(out, task, outcome, ledger)
                    held.pop(task.rid).release()
                trained += 1
                progress.advance(task.rid, status, f"failed: {task.label} · run {task.rid}: {outcome.error}"
                                 if status == "failed" else None, outcome.extra.get("epochs", 0))
            for rid in [r for r in deferred if not RunLock(out, r).is_locked()]:
                queue.append(deferred.pop(rid))
            ledger.write()
        clean = True
    finally:
        try:
            ex.shutdown(cancel=not clean)
        finally:  # even if a second Ctrl-C lands while the workers are stopped
            for lock in held.values():
                lock.release()
            release_mine(out)
    return trained


def _publish(out: Path, task, outcome, ledger: _Ledger) -> str:
    """Write a finished task's run folder (the parent alone writes); return its status."""
    config_yaml = dump_yaml(resolved_dict(task.exp))
    try:
        if outcome.output is not None:
            write_run(out, task.rid, outcome.output, config_yaml)
            summary = outcome.output.summary
        else:
            summary = {"run_id": task.rid, "name": task.exp.name, "status": "failed", "error": outcome.error,
                       "wall_time": outcome.wall_time}
            write_failed_run(out, task.rid, config_yaml, summary, outcome.traceback or f"{outcome.error}\n")
    finally:
        remove_live(out, task.rid)  # its training ended: published, or refused by the disk
    ledger.record(task.rid, summary)
    return summary["status"]


class _Progress:
    """The sweep's progress on stderr (rich): epochs trained of those planned, at whose pace the
    ETA is reckoned (runs differ in length: a count of runs says little until many are done),
    runs done and failed; below it one line per run being trained, at its epoch. Failures are
    printed as they happen. `epochs` may be called from an executor's thread."""

    def __init__(self, todo, name: str, quiet: bool, echo):
        # rich here, not at the top, for start-up time: `dlexp sweep -q` never draws a bar
        from rich.console import Console

        self.echo, self.failed, self.finished, self.bar = echo, 0, 0, None
        self.runs = len(todo)
        self.planned = {t.rid: planned_epochs(t.exp) for t in todo}
        self.active: dict[str, tuple] = {}   # run id → (its line's task, epochs so far)
        self.done_epochs = 0                 # of the runs finished
        self.lock = threading.Lock()
        console = Console(stderr=True)
        if quiet or not console.is_terminal:  # a bar only where a person watches it
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(bar_width=24), TextColumn("{task.fields[count]}"),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                            transient=True)
        self.task = self.bar.add_task(_escape(f"sweep {name}"), total=sum(self.planned.values()),
                                      count=self._count())
        self.bar.start()

    def _count(self) -> str:
        text = f"{self.finished}/{count(self.runs, 'run')}"
        return text + (f" · {self.failed} failed" if self.failed else "")

    def start(self, task) -> None:
        """`task` went to a worker: a line for it, at epoch 0."""
        if self.bar is None:
            return
        with self.lock:
            line = self.bar.add_task(_escape("  " + _cut(task.label or task.rid, 28)), total=self.planned[task.rid],
                                     count="")
            self.active[task.rid] = (line, 0)

    def epochs(self, rid: str, n: int) -> None:
        """Run `rid` has trained `n` epochs so far (of all its members)."""
        if self.bar is None:
            return
        with self.lock:
            if rid not in self.active:  # a late report of a run already finished
                return
            line, _ = self.active[rid]
            self.active[rid] = (line, n)
            self.bar.update(line, completed=n, count=f"epoch {n}/{self.planned[rid]}")
            self._update()

    def _update(self, **fields) -> None:
        done = self.done_epochs + sum(n for _, n in self.active.values())
        self.bar.update(self.task, completed=done, count=self._count(), **fields)

    def advance(self, rid: str, status: str, message: str | None, epochs: int | None) -> None:
        """Run `rid` is done, after `epochs` epochs (None: finished by another process, no work
        of ours: its epochs leave the total)."""
        with self.lock:
            self.finished += 1
            self.failed += status == "failed"
            if self.bar is None:
                return
            planned = self.planned.get(rid, 0)
            if rid in self.active:
                self.bar.remove_task(self.active.pop(rid)[0])
            # early stopping, divergence or a failure ended it sooner: what it did not train
            # leaves the total, so the ETA is of the epochs still to come
            trained = 0 if epochs is None else min(epochs, planned)
            self.done_epochs += trained
            self._update(total=self.bar.tasks[0].total - (planned - trained))
        if message:  # the final report lists failures for logs
            self.print(message)

    def print(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(printable(text, newlines=True), markup=False, highlight=False)
        else:
            self.echo(text)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _escape(text: str) -> str:
    """Text shown as it is in a rich column: no markup, no escape sequences."""
    from rich.markup import escape

    return escape(printable(text))


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
