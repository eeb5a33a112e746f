"""`dlexp serve`: the dashboard over a results folder, on the standard library's HTTP server.

Routes (GET only; anything else is 404, a method other than GET/HEAD 405):

    /                           the page (static/index.html); views are chosen by the URL's #fragment
    /static/app.js|app.css      the page's script and style
    /static/plotly.min.js       the chart library, read from the installed plotly package
    /api/index                  every run and sweep (views.index_payload)
    /api/run/<run_id>           one run (views.run_payload)
    /api/sweep/<name>           one sweep (views.sweep_payload)
    /figure/<run_id>/<kind>.png a figure of `dlexp plot`, drawn in memory (never written)

Only the results folder is read (paths.py), requests whose Host is not this server are refused
(a web page elsewhere cannot reach a server on 127.0.0.1 by renaming its own host: DNS
rebinding), and every page carries a Content-Security-Policy without inline scripts.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..errors import DlexpError, printable
from .assets import CSP, asset, plotly_js
from .index import ResultsIndex
from .paths import results_file, safe_segment
from .views import RUN_FIGURES, index_payload, run_payload, sweep_payload

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_FIGURE_LOCK = threading.Lock()  # matplotlib's font cache and text layout are not thread-safe


class Dashboard(ThreadingHTTPServer):
    daemon_threads = True  # a browser's open connections never keep the server from stopping

    def __init__(self, results: Path, host: str, port: int, allow_remote: bool = False):
        self.results = Path(results)
        self.index = ResultsIndex(self.results)
        self.allow_remote = allow_remote
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


class Handler(BaseHTTPRequestHandler):
    server: Dashboard
    server_version = "dlexp"

    def log_message(self, format, *args):  # one line per request is noise on a dashboard's terminal
        pass

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read only\n", "text/plain")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def do_GET(self):
        if not self._host_ok():
            return self._send(HTTPStatus.FORBIDDEN, b"unknown host\n", "text/plain")
        raw = urllib.parse.urlsplit(self.path).path
        # each segment decoded on its own: an encoded slash (%2f) stays inside its segment, where
        # safe_segment refuses it
        try:
            parts = [urllib.parse.unquote(p, errors="strict") for p in raw.split("/")[1:]]
        except UnicodeDecodeError:
            return self._send(HTTPStatus.BAD_REQUEST, b"bad path\n", "text/plain")
        try:
            self._route(parts)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _host_ok(self) -> bool:
        if self.server.allow_remote:
            return True
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        return host in LOCAL_HOSTS

    def _route(self, parts: list[str]) -> None:
        if parts == ["favicon.ico"]:  # none: said without an error in the browser's console
            return self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        if parts in ([""], []):
            return self._send(HTTPStatus.OK, asset("index.html"), "text/html; charset=utf-8")
        if len(parts) == 2 and parts[0] == "static":
            if parts[1] == "plotly.min.js":
                return self._send(HTTPStatus.OK, plotly_js(), "text/javascript; charset=utf-8", cache=True)
            if parts[1] in ("app.js", "app.css"):
                kind = "text/javascript" if parts[1].endswith(".js") else "text/css"
                return self._send(HTTPStatus.OK, asset(parts[1]), f"{kind}; charset=utf-8")
        if len(parts) == 2 and parts[0] == "api" and parts[1] == "index":
            return self._json(index_payload(self.server.index))
        if len(parts) == 3 and parts[0] == "api" and safe_segment(parts[2]):
            if parts[1] == "run":
                return self._json(run_payload(self.server.index, parts[2]))
            if parts[1] == "sweep":
                self.server.index.refresh()
                return self._json(sweep_payload(self.server.index, parts[2]))
        if len(parts) == 3 and parts[0] == "figure" and parts[2].endswith(".png"):
            return self._figure(parts[1], parts[2][:-4])
        self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _json(self, payload) -> None:
        if payload is None:
            return self._send(HTTPStatus.NOT_FOUND, b'{"error": "not found"}\n', "application/json")
        self._send(HTTPStatus.OK, json.dumps(payload, allow_nan=False).encode("utf-8"), "application/json")

    def _figure(self, rid: str, kind: str) -> None:
        folder = results_file(self.server.results, "runs", rid)
        if folder is None or kind not in RUN_FIGURES or not (folder / "summary.json").exists():
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        from ..figures.choose import figure_bytes, load_target, make_figure  # matplotlib: on the first figure only

        try:
            with _FIGURE_LOCK:
                data = figure_bytes(make_figure(load_target([folder], self.server.results), kind), "png")
        except DlexpError as exc:  # the kind does not fit this run (e.g. a boundary of 10-D data)
            return self._send(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc).encode("utf-8"), "text/plain; charset=utf-8")
        self._send(HTTPStatus.OK, data, "image/png")

    def _send(self, status: HTTPStatus, body: bytes, kind: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def make_server(results: Path, host: str = "127.0.0.1", port: int = 8050, allow_remote: bool = False) -> Dashboard:
    """The dashboard bound to host:port (port 0: a free one; its `url` says which)."""
    plotly_js()  # no plotly, no dashboard: say so before binding anything
    return Dashboard(results, host, port, allow_remote)


def serve(results: Path, host: str = "127.0.0.1", port: int = 8050, open_browser: bool = False,
          allow_remote: bool = False, echo=print) -> None:
    """Serve until Ctrl-C; the URL goes to stdout (data), everything else to stderr."""
    server = make_server(results, host, port, allow_remote)
    if host not in LOCAL_HOSTS:
        echo(f"warning: dlexp serve listens on {printable(host)}: anyone who can reach this machine on port "
             f"{server.server_address[1]} can read {printable(str(results))}", file=sys.stderr)
    echo(f"dlexp serve: {printable(str(results))} (Ctrl-C stops)", file=sys.stderr)
    echo(server.url)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
