"""dlexp serve without a browser: routes, what may be read, the index, the live file, the CLI."""

from __future__ import annotations

import http.client
import json
import os
import shutil

import pytest
from click.testing import CliRunner

from dlexp.cli import main
from dlexp.results.live import LiveLog, live_path
from dlexp.results.locks import RunLock
from dlexp.serve import assets
from dlexp.serve.index import ResultsIndex
from serve_results import HOSTILE, SWEEP, make_results, serving


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve") / "results"
    found = make_results(out)
    return out, found


@pytest.fixture
def server(results):
    with serving(results[0]) as srv:
        yield srv


def get(srv, path: str, host: str | None = None, method: str = "GET"):
    """(status, body) of a raw request: the path is sent exactly as given, never normalised."""
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=30)
    conn.putrequest(method, path, skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def test_index_lists_runs_sweeps_and_the_swept_values(server, results):
    status, body = get(server, "/api/index")
    assert status == 200
    index = json.loads(body)
    by_name = {r["name"]: r for r in index["runs"]}
    assert HOSTILE in by_name and by_name[HOSTILE]["val_loss_std"] is not None  # repeats: a spread
    [sweep] = [s for s in index["sweeps"] if s["name"] == SWEEP]
    assert sweep["runs"] == sweep["done"] == 8
    points = [r["sweeps"][0]["point"] for r in index["runs"] if r.get("sweeps")]
    assert {"model.hidden": "[16]", "regularization.l2": "0.01"} in points
    assert all(r["diagnosis"] for r in index["runs"] if r.get("sweeps"))  # diagnosed: labels in the table


def test_run_and_sweep_payloads(server, results):
    run = json.loads(get(server, f"/api/run/{results[1]['repeated']}")[1])
    assert run["name"] == HOSTILE and "val_loss_std" in run["series"][0]["columns"]
    assert len(run["series"][0]["columns"]["epoch"]) == run["summary"]["epochs_run"]
    assert "mean of 2 seeds" in run["caption"]
    sweep = json.loads(get(server, f"/api/sweep/{SWEEP}")[1])
    labels = [d["label"] for d in sweep["parallel"]["dimensions"]]
    assert labels[:2] == ["model.hidden", "regularization.l2"] and "val_loss" in labels
    assert len(sweep["parallel"]["run_id"]) == 8 and set(sweep["parallel"]["label"]) <= set(sweep["labels"]) | {"not diagnosed"}
    assert f"Parallel coordinates of {SWEEP}" in sweep["captions"]["parallel"]


@pytest.mark.parametrize("path", [
    "/api/run/..", "/api/run/%2e%2e", "/api/run/..%2f..%2fetc", "/api/run/%2E%2E%2Fsweeps", "/api/run/a%00b",
    "/api/sweep/..%2f..%2f..%2fetc%2fpasswd", "/static/../../../etc/passwd", "/static/%2e%2e/server.py",
    "/figure/..%2f..%2fetc/curves.png", "/api/run/%ff", "/etc/passwd", "//etc/passwd", "/api/run/x/../../x",
])
def test_no_path_outside_the_results_folder(server, path):
    status, body = get(server, path)
    assert status in (400, 404), (path, status)
    assert b"root:" not in body and b"import" not in body


def test_a_symlink_out_of_the_results_folder_is_not_followed(results, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(results[0], out, symlinks=True)
    secret = tmp_path / "secret"
    shutil.copytree(out / "runs" / results[1]["repeated"], secret)  # a valid-looking run outside
    os.symlink(secret, out / "runs" / "0000deadbeef")
    os.symlink(tmp_path, out / "sweeps" / "outside")
    with serving(out) as srv:
        index = json.loads(get(srv, "/api/index")[1])
        assert "0000deadbeef" not in {r["run_id"] for r in index["runs"]}
        assert "outside" not in {s["name"] for s in index["sweeps"]}
        assert get(srv, "/api/run/0000deadbeef")[0] == 404
        assert get(srv, "/figure/0000deadbeef/curves.png")[0] == 404


def test_only_reads_and_only_for_this_host(server):
    assert get(server, "/api/index", method="POST")[0] == 405
    assert get(server, "/api/index", host="evil.example:80")[0] == 403  # DNS rebinding
    assert get(server, "/api/index", host=f"localhost:{server.server_address[1]}")[0] == 200


def test_pages_forbid_inline_scripts_and_other_origins(server):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    conn.request("GET", "/")
    r = conn.getresponse()
    r.read()
    csp = r.getheader("Content-Security-Policy")
    conn.close()
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "connect-src 'self'" in csp


def test_the_index_reads_a_finished_run_once_and_picks_up_new_ones(results, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(results[0], out)
    index = ResultsIndex(out)
    index.refresh()
    n_runs, reads = len(index.run_rows()), index.reads
    assert reads == n_runs
    index.refresh()
    assert index.reads == reads  # nothing changed: nothing read again
    rid = results[1]["repeated"]
    shutil.copytree(out / "runs" / rid, out / "runs" / "00000000cafe")
    index.refresh()
    assert index.reads == reads + 1 and len(index.run_rows()) == n_runs + 1
    shutil.rmtree(out / "runs" / "00000000cafe")
    index.refresh()
    assert len(index.run_rows()) == n_runs


def test_a_live_file_is_training_while_its_lock_is_held_and_interrupted_after(tmp_path):
    out = tmp_path / "results"
    (out / "runs").mkdir(parents=True)
    log = LiveLog(live_path(out, "abcdef123456"), "abcdef123456", "live one", 10, 1)
    log.member("seed0", 0, 1)
    for epoch in (1, 2):
        log.epoch({"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": float("nan"), "val_acc": 0.5})
    index = ResultsIndex(out)
    lock = RunLock(out, "abcdef123456")
    lock.acquire()
    try:
        index.refresh()
        [row] = index.run_rows()
        assert (row["status"], row["epochs_run"], row["name"]) == ("training", 2, "live one")
    finally:
        lock.release()
    log.close()
    index.refresh()
    [row] = index.run_rows()
    assert row["status"] == "interrupted"  # nobody holds its lock: its process is gone
    progress = index.live("abcdef123456")
    assert progress["rows"][1]["val_loss"] is None  # NaN is not JSON: null, as in summary.json


def test_a_half_written_last_line_waits_for_the_next_read(tmp_path):
    from dlexp.results.live import read_live

    path = tmp_path / ".live-x.jsonl"
    path.write_text('{"live": 1, "run_id": "x"}\n{"epoch": 1}\n{"epoch": 2, "train_lo')
    assert [r["epoch"] for r in read_live(path)["rows"]] == [1]


def test_dlexp_run_writes_the_live_file_while_training_and_removes_it_when_published(tmp_path, monkeypatch):
    """Seen from inside the epoch callback: the live file holds every epoch that ended; once the
    run is published it is gone."""
    from dlexp.results.live import read_live
    from dlexp.sweeps.run import run_loaded
    from dlexp.config.load import config_from_dict
    from conftest import PLOT_BASE

    seen = []
    original = LiveLog.epoch

    def watched(self, row):
        original(self, row)
        seen.append([r["epoch"] for r in read_live(self.path)["rows"]])

    monkeypatch.setattr(LiveLog, "epoch", watched)
    out = tmp_path / "results"
    result = run_loaded(config_from_dict(PLOT_BASE), out, quiet=True, echo=lambda *a: None)
    assert seen == [list(range(1, n + 1)) for n in range(1, 7)]
    assert result.status == "completed" and not list((out / "runs").glob(".live-*"))


def test_a_sweep_on_a_pool_writes_live_files_from_its_workers(tmp_path):
    """-j 2: the workers write the live files (the driver only knows epoch counts); all are gone
    once the sweep has published its runs."""
    import yaml

    from conftest import PLOT_BASE

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "pool", "base": PLOT_BASE, "grid": {"model.hidden": [[2], [4]]}}))
    r = CliRunner().invoke(main, ["sweep", str(spec), "--results", str(tmp_path / "out"), "-j", "2", "-q"])
    assert r.exit_code == 0, r.output
    assert not list((tmp_path / "out" / "runs").glob(".live-*"))


def test_serve_without_plotly_says_what_to_install(results, monkeypatch):
    monkeypatch.setattr(assets.importlib.util, "find_spec", lambda name: None)
    assets.plotly_js.cache_clear()
    try:
        r = CliRunner().invoke(main, ["serve", "--results", str(results[0]), "--port", "0"])
    finally:
        assets.plotly_js.cache_clear()
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == ["error: " + assets.NEEDS_PLOTLY]


def test_serve_refuses_another_host_without_allow_remote(results):
    r = CliRunner().invoke(main, ["serve", "--results", str(results[0]), "--host", "0.0.0.0"])
    assert r.exit_code == 2 and "--allow-remote" in r.output and "Traceback" not in r.output


def test_serve_on_another_host_warns(results, monkeypatch):
    from dlexp.serve import server as srv

    monkeypatch.setattr(srv.Dashboard, "serve_forever", lambda self, poll_interval: None)
    r = CliRunner().invoke(main, ["serve", "--results", str(results[0]), "--host", "0.0.0.0", "--port", "0",
                                  "--allow-remote"])
    assert r.exit_code == 0, r.output
    assert "warning: dlexp serve listens on 0.0.0.0" in r.output


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "70000"), (["--results", "/nonexistent/results"], "no results folder"),
])
def test_serve_bad_input_is_one_line_and_exit_2(results, args, message):
    r = CliRunner().invoke(main, ["serve", *args] if "--results" in args else ["serve", "--results", str(results[0]), *args])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_the_report_embeds_data_that_cannot_end_its_script(results, tmp_path):
    from dlexp.html_report import report

    page = report([results[1]["repeated"]], out=tmp_path / "r.html", results=results[0]).read_text(encoding="utf-8")
    data = page.split('<script id="dlexp-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and ">" not in data and "\u202e" not in data.replace("\\u202e", "")
    assert json.loads(data)["api"][f"/api/run/{results[1]['repeated']}"]["name"] == HOSTILE
    assert "connect-src 'none'" in page and "<script src" not in page and "<link" not in page  # nothing fetched


def test_the_report_without_plotly_is_the_static_page_with_a_note(results, tmp_path, monkeypatch, capsys):
    from dlexp.html_report import report

    monkeypatch.setattr(assets.importlib.util, "find_spec", lambda name: None)
    assets.plotly_js.cache_clear()
    try:
        page = report([str(results[1]["sweep"])], out=tmp_path / "r.html", results=results[0]).read_text()
    finally:
        assets.plotly_js.cache_clear()
    assert "<script" not in page and "<table>" in page
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "pip install -e '.[serve]'" in notes[0]


def test_the_report_of_a_sweep_warns_about_nothing_it_does_not_draw(results, tmp_path, capsys):
    """8 runs, none tracking activations: no warning that the activations figure drew 6 of 8."""
    from dlexp.html_report import report

    report([str(results[1]["sweep"])], out=tmp_path / "r.html", results=results[0], interactive=False)
    assert "activations" not in capsys.readouterr().err
