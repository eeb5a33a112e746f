"""Screenshots of dlexp serve's views at 1,400 × 900 for the README (docs/images/serve/).

    python scripts/serve_screenshots.py RESULTS RUN_ID SWEEP OUT_FOLDER

RESULTS holds the sweep and the run (e.g. configs/sweeps/l2.yaml swept, then `dlexp diagnose l2`,
and configs/quickstart.yaml run). Each view is captured once the condition it waits for holds.
"""

import sys
import threading
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from dlexp.html_report import report
from dlexp.serve.server import make_server


def main(results: str, rid: str, sweep: str, out: str) -> None:
    out_dir = Path(out).resolve()  # the report is opened by file:// URI, which needs an absolute path
    out_dir.mkdir(parents=True, exist_ok=True)
    srv = make_server(Path(results), "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
                "--enable-unsafe-swiftshader", "--hide-scrollbars"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    until = lambda script: WebDriverWait(d, 60).until(lambda d: d.execute_script(script))  # noqa: E731

    def shot(name, scroll_to=None):
        if scroll_to:
            d.execute_script(f"document.getElementById({scroll_to!r}).scrollIntoView()")
        d.save_screenshot(str(out_dir / f"{name}.png"))

    d.get(srv.url)
    until("return document.querySelectorAll('#runs tbody tr').length > 0")
    d.execute_script("document.querySelector('th[data-key=val_loss]').click()")
    shot("table")
    for i in (0, 2):
        d.execute_script(f"document.querySelectorAll('#runs tbody input.select')[{i}].click()")
    until("const p = document.getElementById('curves-loss'); return p.data && p.data.length >= 4")
    shot("curves", "curves-caption")
    d.get(srv.url + f"#/sweep/{sweep}")
    until("const p = document.getElementById('sweep-parallel'); return p && p.querySelector('.parcoords')")
    shot("sweep")
    shot("parallel", "sweep-parallel")
    d.get(srv.url + f"#/run/{rid}")
    until("return document.querySelectorAll('#figures img').length > 0")
    shot("run")
    page = report([sweep], out=out_dir.parent / "report-example.html", results=Path(results))
    d.get(page.as_uri())
    until("const p = document.getElementById('sweep-parallel'); return p && p.querySelector('.parcoords')")
    shot("report")
    page.unlink()
    d.quit()
    srv.shutdown()
    srv.server_close()


if __name__ == "__main__":
    main(*sys.argv[1:])
