"""A small results folder for the dashboard's tests: a sweep of 8 tiny runs (diagnosed), a run
with repeats (±std bands) under a hostile name, and a CSV run whose columns are named to break
out of HTML and reverse the text around them."""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path

from conftest import plot_sweep, plot_train

# A name that would run a script, break an attribute, and reverse the text after it if obeyed.
HOSTILE = "<img src=x onerror=\"window.__pwned=1\">'\"&amp;\u202egnp.exe"
HOSTILE_COLUMN = "</script><script>window.__pwned=2</script>\u202e"
SWEEP = "grid"


def make_results(out: Path) -> dict:
    from dlexp.analysis.verdict import diagnose

    sweep = plot_sweep(out, SWEEP, {"model.hidden": [[2], [4], [8], [16]], "regularization.l2": [0.0, 0.01]})
    diagnose([str(sweep)], out)
    repeated = plot_train(out, {"name": HOSTILE, "repeats": 2, "train.epochs": 8})
    csv = out.parent / "hostile.csv"
    csv.write_text(f"a,b,{HOSTILE_COLUMN.replace(chr(34), '')}\n" + "".join(
        f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(60)), encoding="utf-8")
    csv_run = plot_train(out, {"name": "csv-run", "data": {"name": "csv", "path": str(csv), "target": HOSTILE_COLUMN}})
    return {"sweep": sweep, "repeated": repeated.name, "csv": csv_run.name}


def copy_results(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


@contextlib.contextmanager
def serving(results: Path):
    """dlexp serve's server over `results` on a free port, in a thread, shut down cleanly after."""
    from dlexp.serve.server import make_server

    srv = make_server(results, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()
