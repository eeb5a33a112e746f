"""dlexp serve and the interactive report in a real browser: headless Chromium driven by Selenium.

Skipped when Chromium or its driver is missing, unless DLEXP_REQUIRE_BROWSER=1 (CI sets it), where
a missing browser fails. Nothing here waits a fixed time: each step waits for a condition on the
page (with a generous timeout), and the live test pauses training at chosen epochs with events.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from serve_results import HOSTILE, HOSTILE_COLUMN, SWEEP, make_results, serving

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT = 60  # seconds a condition may take on a busy machine before the test fails
SHOTS = os.environ.get("DLEXP_SCREENSHOTS")  # a folder: save each view at 1,400 × 900 there


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, DRIVER):
        if not (os.path.exists(path) or shutil.which(Path(path).name)):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        if os.environ.get("DLEXP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"DLEXP_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
                "--enable-unsafe-swiftshader", "--disable-gpu-sandbox"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER if os.path.exists(DRIVER) else shutil.which("chromedriver")),
                              options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "results"
    return out, make_results(out)


@pytest.fixture
def server(results):
    with serving(results[0]) as srv:
        yield srv


def until(driver, condition, what: str):
    """Wait until `condition(driver)` is truthy (JavaScript may still be drawing); its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(lambda d: condition(d), message=what)


def js(driver, script: str):
    return driver.execute_script(script)


def shot(driver, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SHOTS) / f"{name}.png"))


def table_names(driver) -> list[str]:
    return js(driver, "return [...document.querySelectorAll('#runs tbody tr[data-run] td:nth-child(2) a')]"
                      ".map(a => a.textContent)")


def click(driver, css: str) -> None:
    # the table is redrawn every second: find the element and click it in one step
    js(driver, f"document.querySelector({css!r}).click()")


def type_into(driver, field: str, text: str) -> None:
    js(driver, f"const f = document.getElementById({field!r}); f.value = {text!r}; f.dispatchEvent(new Event('input'))")


def open_table(driver, srv) -> None:
    driver.get(srv.url)
    until(driver, lambda d: len(table_names(d)) >= 10, "the runs table")


def test_the_table_sorts_and_filters(browser, server, results):
    open_table(browser, server)
    rows = lambda: js(browser, "return [...document.querySelectorAll('#runs tbody tr[data-run]')].map(tr => tr.dataset.run)")  # noqa: E731
    index = {r["run_id"]: r for r in js(browser, "return fetch('/api/index').then(r => r.json())")["runs"]}
    by_loss = sorted(index, key=lambda rid: index[rid]["val_loss"])
    click(browser, "th[data-key=val_loss]")
    until(browser, lambda d: rows() == by_loss, "ascending by val loss")
    click(browser, "th[data-key=val_loss]")
    until(browser, lambda d: rows() == by_loss[::-1], "descending by val loss")
    shot(browser, "table")
    field = browser.find_element("id", "filter-name")
    field.send_keys("hidden=[16]")
    until(browser, lambda d: sorted(table_names(d)) == sorted(r["name"] for r in index.values() if "hidden=[16]" in r["name"]),
          "only the runs named hidden=[16]")
    type_into(browser, "filter-name", "")
    type_into(browser, "filter-where", "l2=0.01")
    until(browser, lambda d: len(rows()) == 4, "the 4 runs at l2=0.01")
    type_into(browser, "filter-where", "")
    js(browser, "const s = document.getElementById('filter-diagnosis'); s.value = s.options[1].value;"
                "s.dispatchEvent(new Event('change'))")
    label = js(browser, "return document.getElementById('filter-diagnosis').value")
    until(browser, lambda d: rows() and all((index[r]["diagnosis"] or "not diagnosed") == label for r in rows()),
          f"only {label} runs")


def test_the_table_fits_1400_px_with_the_diagnosis_visible(browser, server):
    open_table(browser, server)
    right = js(browser, "return document.querySelector('#runs th[data-key=diagnosis]').getBoundingClientRect().right")
    assert right <= js(browser, "return document.documentElement.clientWidth")
    assert js(browser, "return document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_selecting_two_runs_draws_two_curves_with_names_as_text(browser, server, results):
    open_table(browser, server)
    rid = results[1]["repeated"]
    click(browser, f"tr[data-run='{rid}'] input.select")
    click(browser, "#runs tbody tr[data-run]:not(.selected) input.select")
    val_names = lambda: js(browser, "const p = document.getElementById('curves-loss');"  # noqa: E731
                                    "return p.data ? p.data.filter(t => t.showlegend !== false && t.name.endsWith('· val')).map(t => t.name) : []")
    until(browser, lambda d: len(val_names()) == 2, "two validation curves")
    legend = until(browser, lambda d: js(d, "return [...document.querySelectorAll('#curves-loss .legendtext')].map(t => t.textContent)"),
                   "the legend")
    shown = HOSTILE.replace("\u202e", "\\u202e")
    assert f"{shown} · val" in legend  # the name as typed, its RTL override made visible
    assert js(browser, "return window.__pwned === undefined && !document.querySelector('#app img[src=x]')")
    js(browser, "document.getElementById('curves-loss').scrollIntoView()")
    shot(browser, "curves")


def test_a_sweep_page_draws_its_curve_and_parallel_coordinates(browser, server):
    browser.get(server.url + f"#/sweep/{SWEEP}")
    until(browser, lambda d: js(d, "const p = document.getElementById('sweep-parallel');"
                                   "return p && p.data && p.data[0].type === 'parcoords' && p.querySelector('.parcoords')"),
          "the parallel coordinates")
    dims = js(browser, "return [...document.querySelectorAll('#sweep-parallel .axis-title')].map(t => t.textContent)")
    assert dims[:2] == ["model.hidden", "regularization.l2"] and "val_loss" in dims
    until(browser, lambda d: js(d, "return document.querySelectorAll('#sweep-curve .scatterlayer .trace').length >= 2"),
          "the validation curve")
    shot(browser, "sweep")
    js(browser, "document.getElementById('sweep-parallel').scrollIntoView()")
    shot(browser, "parallel")


def test_a_run_page_shows_config_diagnosis_and_figures_as_text(browser, server, results):
    browser.get(server.url + f"#/run/{results[1]['csv']}")
    until(browser, lambda d: js(d, "return document.querySelectorAll('#figures img').length >= 1"), "the figures of dlexp plot")
    config = js(browser, "return document.getElementById('config').textContent")
    assert HOSTILE_COLUMN.replace("\u202e", "") in config.replace("\\u202e", "")  # the CSV column, as typed
    assert js(browser, "return window.__pwned === undefined")
    rid = [r for r in js(browser, "return fetch('/api/index').then(r => r.json())")["runs"] if r.get("diagnosis")][0]["run_id"]
    browser.get(server.url + f"#/run/{rid}")
    until(browser, lambda d: js(d, "const d = document.getElementById('diagnosis'); return d && d.querySelector('.badge')"),
          "the diagnosis")
    until(browser, lambda d: js(d, "return document.querySelectorAll('#figures img').length >= 1"), "the figures")
    shot(browser, "run")


def test_a_run_gains_epochs_on_screen_while_it_trains(browser, server, results, monkeypatch):
    """Training pauses after epochs 2 and 4 until the page has shown them (events, no sleeps)."""
    from dlexp.config.load import config_from_dict
    from dlexp.results.live import LiveLog
    from dlexp.sweeps.run import run_loaded
    from conftest import PLOT_BASE

    gates = {2: threading.Event(), 4: threading.Event()}
    original = LiveLog.epoch

    def paused(self, row):
        original(self, row)
        if row["epoch"] in gates:
            assert gates[row["epoch"]].wait(WAIT), f"the page never showed epoch {row['epoch']}"

    monkeypatch.setattr(LiveLog, "epoch", paused)
    exp = config_from_dict({**PLOT_BASE, "name": "live-run", "train": {"epochs": 7, "batch_size": 16}})
    done = {}
    trainer = threading.Thread(target=lambda: done.update(r=run_loaded(exp, results[0], quiet=True, echo=lambda *a: None)))
    open_table(browser, server)
    trainer.start()
    try:
        find = ("return [...document.querySelectorAll('#runs tbody tr[data-run]')].find(tr => "
                "tr.querySelector('td:nth-child(2) a').textContent === 'live-run')")
        until(browser, lambda d: js(d, find), "the training run in the table")
        rid = js(browser, find + ".dataset.run")
        click(browser, f"tr[data-run='{rid}'] input.select")
        epochs = lambda: js(browser, "const p = document.getElementById('curves-loss');"  # noqa: E731
                                     "const t = p.data && p.data.find(t => t.name === 'live-run · val'); return t ? t.x.length : 0")
        until(browser, lambda d: epochs() == 2 and js(d, find + ".textContent.includes('training')"), "2 epochs, training")
        gates[2].set()
        until(browser, lambda d: epochs() == 4, "4 epochs on screen")
        gates[4].set()
        until(browser, lambda d: epochs() == 7 and js(d, find + ".textContent.includes('completed')"), "7 epochs, completed")
    finally:
        for gate in gates.values():
            gate.set()
        trainer.join()
    assert done["r"].status == "completed"
    shutil.rmtree(results[0] / "runs" / rid)  # the other tests' folder as it was


def test_the_report_works_from_file_with_the_network_off(browser, results, tmp_path):
    from dlexp.html_report import report

    page = report([str(results[1]["sweep"])], out=tmp_path / "report.html", results=results[0])
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions",
                            {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
    try:
        browser.get(page.as_uri())
        until(browser, lambda d: js(d, "const p = document.getElementById('sweep-parallel');"
                                       "return p && p.data && p.querySelector('.parcoords')"), "the report's parallel coordinates")
        shot(browser, "report")
        js(browser, "location.hash = '#/'")
        until(browser, lambda d: len(table_names(d)) == 8, "the report's runs table")
        click(browser, "#runs tbody tr[data-run] input.select")
        until(browser, lambda d: js(d, "const p = document.getElementById('curves-loss'); return p.data && p.data.length >= 2"),
              "a run's curves in the report")
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions",
                                {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
