"""Where a sweep's runs are computed: in this process, in a local process pool, or on Dask.

Every executor has the same small interface, used by sweep.py:

    ex.free_slots()       how many more tasks it would start now
    ex.submit(task)       start computing `task.exp` (no file I/O happens in workers)
    ex.wait(timeout)      [(task, Outcome)] of the tasks finished so far (maybe none)
    ex.shutdown(cancel)   stop; with cancel=True kill what is still running

Workers call `run_task`, which runs `experiment.execute` and returns an `Outcome`: the RunOutput,
or the error with its traceback, and the epochs it trained. The parent (the sweep's driver) alone
writes result files. Given `on_epochs(rid, n)`, an executor tells the driver how many epochs each
run in flight has trained so far: in this process at every epoch, from a pool's workers through
shared memory read a few times a second, from Dask workers through a Dask queue (a few reports a
second per run).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DlexpError, UsageError
from ..labels import count
from ..results.live import LiveLog, live_rid
from ..results.store import HoldInterrupts
from ..threads import BLAS_ENV  # one thread per worker: N workers on N cores, not N²

MANAGER_EXIT_SECONDS = 30  # the bound on waiting for a cancelled pool's manager thread to end
# Test hook: a pool or Dask worker given this run id dies with os._exit(1) instead of training it.
CRASH_HOOK = "DLEXP_TEST_CRASH_RUN"
# Imported once by the forkserver, so each forked worker starts with them loaded; the
# modules that some run of the sweep needs beyond these (scikit-learn's, mnist1d's) are added
# (data.heavy_modules).
PRELOAD = ["numpy", "dlexp.training.experiment", "dlexp.data.datasets", "dlexp.training.train"]
POLL_SECONDS = 0.25  # how often the driver reads the epochs a pool's workers have trained


def n_models(exp) -> int:
    """The models a run trains: one per seed, times the folds of cross-validation."""
    return len(exp.seed_list()) * (exp.eval.cv or 1)


def planned_epochs(exp) -> int:
    """The most epochs a run can train: train.epochs for each model of experiment.member_plan (a
    seed, or a seed and a CV fold); early stopping and divergence may end it sooner."""
    return exp.train.epochs * n_models(exp)


def open_live(path, exp) -> LiveLog:
    """The live file at `path` (results/live.py) of a run of `exp`, opened in the process that trains it."""
    return LiveLog(path, live_rid(path), exp.name, exp.train.epochs, n_models(exp))


@dataclass
class Task:
    """One run to compute: its id, validated config and a label for messages."""

    rid: str
    exp: object
    label: str = ""
    crashes: int = 0
    live: str | None = None  # the path of its live file, where the process that trains can write one


@dataclass
class Outcome:
    """What computing a task gave: `output` (a RunOutput), or `error` + `traceback`."""

    output: object = None
    error: str | None = None
    traceback: str = ""
    wall_time: float = 0.0
    extra: dict = field(default_factory=dict)


def run_task(exp, crash_rid: str | None = None, limit_threads: bool = False, on_epochs=None,
             live: str | None = None) -> Outcome:
    """Compute one run; never raises (except when told to crash, for tests). `on_epochs(n)`: called
    after each epoch with the epochs trained so far, over every member; `extra["epochs"]` of the
    Outcome is their number at the end. `live`: the path of the run's live file, written here.

    It imports the trainer itself, in the process that trains: the driver of a pool or Dask
    sweep never loads it."""
    t0 = time.perf_counter()
    trained = [0]
    log = open_live(live, exp) if live else None

    def counted(row):  # an epoch of some member ended (execute calls it after each)
        trained[0] += 1
        if log is not None:
            log.epoch(row)
        if on_epochs is not None:
            on_epochs(trained[0])

    member = log.member if log is not None else None

    if crash_rid:
        from ..config.load import run_id

        if run_id(exp) == crash_rid:
            os._exit(1)
    try:
        from ..training.experiment import execute

        if limit_threads:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(1):
                output = execute(exp, on_epoch=counted, on_member=member)
        else:
            output = execute(exp, on_epoch=counted, on_member=member)
        return Outcome(output=output, wall_time=time.perf_counter() - t0, extra={"epochs": trained[0]})
    except DlexpError as exc:  # bad input for this point (e.g. a DataError): its message says it all
        from ..config.load import locate

        return Outcome(error=str(locate(exc, exp)), traceback=traceback.format_exc(),
                       wall_time=time.perf_counter() - t0, extra={"epochs": trained[0]})
    except Exception as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                       wall_time=time.perf_counter() - t0, extra={"epochs": trained[0]})
    finally:
        if log is not None:
            log.close()


# ---------------------------------------------------------------------------------------------
# In this process

class InProcessExecutor:
    """`--jobs 1`: runs each task in the calling process, one at a time.

    With one BLAS thread, as in pool and Dask workers: the small matrices of these networks
    train several times faster than with a BLAS thread pool, and the numbers match the pool's.
    """

    shares_files = True  # the process that trains sees the results folder: it writes the live file

    def __init__(self, on_epochs=None):
        self.pending: deque[Task] = deque()
        self.on_epochs = on_epochs

    def __repr__(self) -> str:
        return "InProcessExecutor()"

    def free_slots(self) -> int:
        return 0 if self.pending else 1

    def busy(self) -> int:
        return len(self.pending)

    def submit(self, task: Task) -> None:
        self.pending.append(task)

    def wait(self, timeout: float | None = None) -> list[tuple[Task, Outcome]]:
        if not self.pending:
            return []
        task = self.pending.popleft()
        report = None if self.on_epochs is None else functools.partial(self.on_epochs, task.rid)
        return [(task, run_task(task.exp, limit_threads=True, on_epochs=report, live=task.live))]

    def shutdown(self, cancel: bool = False) -> None:
        self.pending.clear()


# ---------------------------------------------------------------------------------------------
# Local process pool

_WORKER: dict = {}


@contextlib.contextmanager
def _children_without_sigint():
    """Processes started inside begin with SIGINT blocked, from their first instruction on: the
    mask is inherited through fork and exec, so the forkserver (and every worker it forks, or a
    spawned worker) never sees the Ctrl-C a terminal sends to the whole process group — not while
    the interpreter starts, not while it imports numpy — and the parent alone stops the sweep.
    The parent's own Ctrl-C waits while the block lasts (a worker's start; the first time, until
    the forkserver has loaded numpy: about a second) and is raised as it ends. multiprocessing
    starts its resource tracker the same way (bpo-33613)."""
    if not hasattr(signal, "pthread_sigmask"):  # no POSIX signal masks: spawned workers, as before
        yield
        return
    # The resource tracker, started with the first pool, unblocks SIGINT after starting itself:
    # it must not do that inside the block.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    saved = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


def _worker_init(parent_pid: int, crash_rid: str | None, epochs=None) -> None:
    """Runs first in every pool worker: one BLAS thread, Ctrl-C left to the parent (SIGINT is
    blocked from the start, `_children_without_sigint`; ignored too, should anything unblock it),
    and exit when the parent dies (a SIGKILLed sweep leaves no orphans computing for nobody).
    `epochs`: the pool's shared array of epochs trained, one slot per task in flight."""
    for name in BLAS_ENV:
        os.environ[name] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from threadpoolctl import threadpool_limits

    import numpy  # noqa: F401  (loaded before limiting, so its BLAS pool is the one limited)

    _WORKER["limits"] = threadpool_limits(1)
    _WORKER["crash_rid"] = crash_rid
    _WORKER["epochs"] = epochs
    start_ppid = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            # A killed parent stays a zombie until its own parent reaps it, which may first read
            # the sweep's output to its end, held open by us (subprocess.run, $(dlexp sweep …)):
            # a zombie is dead. The forkserver (our parent) lives as long as we do.
            if not _alive(parent_pid) or os.getppid() != start_ppid:
                os._exit(0)

    threading.Thread(target=watch, name="dlexp-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    """Is `pid` a live process? A zombie (exited, not yet reaped) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    try:  # field 3 of /proc/<pid>/stat, after the command name in parentheses: the state letter
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux): os.kill's answer stands
        return True
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X")


def _pool_task(exp, slot: int | None = None, live: str | None = None) -> Outcome:
    epochs = _WORKER.get("epochs")

    def report(n: int) -> None:
        # one aligned 8-byte store, read by the parent's poller: no lock, no pipe, nothing a
        # worker killed mid-epoch could leave half-done for the others
        epochs[slot] = n

    return run_task(exp, crash_rid=_WORKER.get("crash_rid"), live=live,
                    on_epochs=report if epochs is not None and slot is not None else None)


def _mp_context(extra_preload=()):
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD + [m for m in extra_preload if m not in PRELOAD])
        return ctx
    return mp.get_context("spawn")


class PoolExecutor:
    """`--jobs N`: a process pool (forkserver, else spawn), rebuilt when a worker dies.

    A dead worker breaks the whole pool and every task in flight fails with it, so the culprit is
    unknown. Those tasks become suspects and are rerun one at a time: a crash with a single task
    in flight is that task's. It is retried up to `max_crash_retries` times, then reported failed.
    """

    shares_files = True  # workers on this machine see the results folder: they write the live file

    def __init__(self, jobs: int, max_crash_retries: int = 2, preload=(), on_epochs=None):
        self.jobs = jobs
        self.on_epochs = on_epochs
        self.epochs = None  # shared array: epochs trained by the task in each slot
        self.slots: dict[str, int] = {}  # run id → its slot, for tasks in flight
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self.preload = list(preload)
        self.max_crash_retries = max_crash_retries
        self.pool: cf.ProcessPoolExecutor | None = None
        self.futures: dict[cf.Future, Task] = {}
        self.suspects: deque[Task] = deque()
        self.crash_rid = os.environ.get(CRASH_HOOK) or None
        self._saved_env: dict[str, str | None] = {}

    def __repr__(self) -> str:
        return f"PoolExecutor(jobs={self.jobs})"

    def _ensure_pool(self) -> cf.ProcessPoolExecutor:
        if self.pool is None:
            # Workers (and the forkserver) inherit the environment: BLAS must see it before
            # numpy is first imported there.
            for name in BLAS_ENV:
                self._saved_env.setdefault(name, os.environ.get(name))
                os.environ[name] = "1"
            ctx = _mp_context(self.preload)
            if self.on_epochs is not None and self.epochs is None:
                self.epochs = ctx.RawArray("q", self.jobs)
                self._poller = threading.Thread(target=self._poll, name="dlexp-epochs", daemon=True)
                self._poller.start()
            self.pool = cf.ProcessPoolExecutor(self.jobs, mp_context=ctx, initializer=_worker_init,
                                               initargs=(os.getpid(), self.crash_rid, self.epochs))
        return self.pool

    def _slot(self, rid: str) -> int | None:
        """A free slot of the epochs array for `rid`, set to 0 epochs."""
        if self.epochs is None:
            return None
        slot = min(set(range(self.jobs)) - set(self.slots.values()))
        self.epochs[slot] = 0
        self.slots[rid] = slot
        return slot

    def _poll(self) -> None:
        """Tell on_epochs what each task in flight has trained, a few times a second."""
        seen: dict[str, int] = {}
        while not self._stop.wait(POLL_SECONDS):
            for rid, slot in list(self.slots.items()):
                n = self.epochs[slot]
                if n and seen.get(rid) != n:
                    seen[rid] = n
                    self.on_epochs(rid, n)

    def free_slots(self) -> int:
        if self.suspects:
            return 0
        return self.jobs - len(self.futures)

    def busy(self) -> int:
        return len(self.futures) + len(self.suspects)

    def submit(self, task: Task) -> None:
        # pool.submit starts the forkserver and the workers the first time, a worker after a crash:
        # they start without SIGINT, and a Ctrl-C here waits until each is started and recorded
        # (one interrupted between starting a worker and recording it would leave it to nobody)
        with HoldInterrupts(), _children_without_sigint():
            pool = self._ensure_pool()
            slot = self._slot(task.rid)
            try:
                fut = pool.submit(_pool_task, task.exp, slot, task.live)
            except cf.process.BrokenProcessPool:
                if self.futures:  # it broke under tasks still in flight: wait() sorts them out
                    self.slots.pop(task.rid, None)
                    self.suspects.append(task)
                    return
                self.pool.shutdown(wait=True)  # a worker died while idle: a fresh pool will do
                self.pool = None
                fut = self._ensure_pool().submit(_pool_task, task.exp, slot, task.live)
        self.futures[fut] = task

    def wait(self, timeout: float | None = None) -> list[tuple[Task, Outcome]]:
        if not self.futures and self.suspects:
            self.submit(self.suspects.popleft())
        if not self.futures:
            return []
        in_flight = len(self.futures)
        done, _ = cf.wait(list(self.futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        results, broken = [], []
        for fut in done:
            self._collect(fut, results, broken)
        if broken:
            # Every other task in flight dies with the pool: collect them all, then rebuild.
            for fut in list(self.futures):
                fut.exception()  # waits; a broken pool fails its futures within moments
                self._collect(fut, results, broken)
            self.pool.shutdown(wait=True)
            self.pool = None
            if in_flight == 1:  # the pool died with one task in it: that task did it
                task = broken[0]
                task.crashes += 1
                if task.crashes > self.max_crash_retries:
                    results.append((task, Outcome(error=f"the worker process died {count(task.crashes, 'time')} while "
                                                        "training it (killed, out of memory, or crashed)")))
                else:
                    self.suspects.append(task)
            else:
                self.suspects.extend(broken)
        return results

    def _collect(self, fut, results, broken) -> None:
        task = self.futures.pop(fut)
        self.slots.pop(task.rid, None)
        try:
            results.append((task, fut.result()))
        except cf.process.BrokenProcessPool:
            broken.append(task)
        except Exception as exc:  # e.g. a result that cannot be pickled
            results.append((task, Outcome(error=f"{type(exc).__name__}: {exc}",
                                          traceback="".join(traceback.format_exception(exc)))))

    def shutdown(self, cancel: bool = False) -> None:
        if self.pool is not None:
            if cancel:
                # Python < 3.14 has no terminate_workers(): kill the pool's own processes.
                for proc in list(getattr(self.pool, "_processes", {}).values()):
                    try:
                        proc.kill()
                    except Exception:
                        pass
                manager = getattr(self.pool, "_executor_manager_thread", None)
                self.pool.shutdown(wait=False, cancel_futures=True)
                # The pool's manager thread, finding its workers dead, closes its wake-up pipe and
                # ends. Until it has, concurrent.futures' exit hook (which wakes every manager
                # without its lock) can write into that pipe as it closes, and a Ctrl-C'd sweep
                # ends with "OSError: Bad file descriptor" after its message. Wait for it; bounded,
                # so that a manager stuck on a full queue cannot hang the exit.
                if manager is not None:
                    manager.join(MANAGER_EXIT_SECONDS)
            else:
                self.pool.shutdown(wait=True)
            self.pool = None
        self._stop.set()
        if self._poller is not None:
            self._poller.join()
            self._poller = None
        self.futures.clear()
        self.suspects.clear()
        self.slots.clear()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()


# ---------------------------------------------------------------------------------------------
# Dask

class DaskExecutor:
    """`--executor dask`: the same tasks on a Dask distributed cluster; results come back here.

    A worker that dies is handled by Dask itself (its scheduler retries the task on another worker
    and gives up with KilledWorker); that is reported as a failed run.
    """

    shares_files = False  # a worker on another machine may not see the results folder: no live file

    def __init__(self, address: str | None, on_epochs=None):
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--executor dask needs dask.distributed: pip install -e '.[dask]'") from None
        address = address or os.environ.get("DASK_SCHEDULER_ADDRESS")
        if not address:
            raise UsageError("--executor dask needs the scheduler's address: --address tcp://HOST:PORT "
                             "or the environment variable DASK_SCHEDULER_ADDRESS")
        try:
            self.client = Client(address, timeout="15s")
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        self.address = address
        self.futures: dict = {}
        self.crash_rid = os.environ.get(CRASH_HOOK) or None
        self._threads, self._checked = 0, -1e9
        # epochs trained, told by the workers through a Dask queue of (run id, epochs) items that
        # a thread here reads: a few per second per run, so the scheduler is not flooded
        self.on_epochs, self.topic, self._listening = on_epochs, None, False
        if on_epochs is not None:
            from distributed import Queue

            self.topic = f"dlexp-epochs-{os.getpid()}-{time.time_ns()}"
            self._queue = Queue(self.topic, client=self.client)
            self._listening = True
            self._listener = threading.Thread(target=self._listen, name="dlexp-dask-epochs", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        while self._listening:
            try:
                rid, n = self._queue.get(timeout=POLL_SECONDS)
            except Exception:  # nothing yet (a timeout), or the client closing at shutdown
                continue
            self.on_epochs(rid, n)  # a late report of a finished run: the progress display drops it

    def __repr__(self) -> str:
        return f"DaskExecutor({self.address!r})"

    def capacity(self) -> int:
        if time.monotonic() - self._checked > 2.0:  # workers may come and go
            self._threads = sum(self.client.nthreads().values())
            self._checked = time.monotonic()
        # One queued task per thread hides the round trip between a result and the next submit.
        return max(1, 2 * self._threads)

    def free_slots(self) -> int:
        return self.capacity() - len(self.futures)

    def busy(self) -> int:
        return len(self.futures)

    def submit(self, task: Task) -> None:
        fut = self.client.submit(_dask_task, task.exp, self.crash_rid, task.rid, self.topic, pure=False,
                                 key=f"dlexp-{task.rid}-{time.time_ns()}")
        self.futures[fut] = task

    def wait(self, timeout: float | None = None) -> list[tuple[Task, Outcome]]:
        from distributed import wait as dask_wait

        if not self.futures:
            return []
        try:
            done, _ = dask_wait(list(self.futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        results = []
        for fut in done:
            task = self.futures.pop(fut)
            try:
                results.append((task, fut.result()))
            except Exception as exc:  # KilledWorker, a cancelled future, a worker without dlexp…
                results.append((task, Outcome(error=f"on the Dask cluster: {type(exc).__name__}: {exc}",
                                              traceback="".join(traceback.format_exception(exc)))))
        return results

    def shutdown(self, cancel: bool = False) -> None:
        self._listening = False
        try:
            if cancel and self.futures:
                self.client.cancel(list(self.futures))
        finally:
            self.futures.clear()
            if self.topic is not None:
                self._listener.join(timeout=2 * POLL_SECONDS)
            self.client.close()


def _dask_task(exp, crash_rid: str | None, rid: str, topic: str | None) -> Outcome:
    """run_task on a Dask worker; with `topic`, the epochs trained go to the driver's queue, at
    most every POLL_SECONDS (the first at once)."""
    report = None
    if topic is not None:
        from distributed import Queue

        queue, last = Queue(topic), [-1e9]

        def report(n: int) -> None:
            now = time.monotonic()
            if now - last[0] >= POLL_SECONDS:
                last[0] = now
                queue.put((rid, n))
    return run_task(exp, crash_rid, True, on_epochs=report)


def make_executor(kind: str, jobs: int, *, address: str | None = None, max_crash_retries: int = 2,
                  preload=(), on_epochs=None):
    """The executor for `--executor kind --jobs N` (a pool only when it can run two tasks at once);
    `preload`: modules a local pool's workers should start with; `on_epochs(rid, n)`: see above."""
    if kind == "dask":
        return DaskExecutor(address, on_epochs)
    if kind != "local":
        raise UsageError(f"unknown executor {kind!r}; valid: local, dask")
    return InProcessExecutor(on_epochs) if jobs <= 1 else PoolExecutor(jobs, max_crash_retries, preload, on_epochs)
