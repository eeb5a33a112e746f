"""`dlexp report`: one self-contained HTML page for a run or a sweep.

The page carries everything inline — CSS in a <style> block, figures as base64 PNG or inline SVG,
no script, no external file — so it opens from disk in any browser, offline, and can be mailed.
It reads result files only: the summary table (with the diagnosis when summaries have one), the
figures that fit the target, the points that were skipped, and each run's resolved config.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
import re
import urllib.parse
from pathlib import Path

from . import __version__, labels
from .errors import DlexpError, Problem, ResultError, StorageError, UsageError
from .figures.choose import default_kind, figure_bytes, file_stem, load_target, make_figure, swept_value
from .results.reader import Run, warn
from .results.store import atomic_write_text, file_name, read_json
from .serve.assets import asset, plotly_js
from .serve.index import ResultsIndex
from .serve.views import index_payload, run_payload, sweep_payload

# What each figure shows and what to look for, tied to the study notes' sections.
CAPTIONS = {
    "curves": "Train (dashed) and validation (solid) per epoch. Both high and flat: underfitting. Train still "
              "falling while validation turns up: overfitting, where early stopping (green: best epoch, whose "
              "weights are kept; red: the stop) cuts training off (notes §1.2.5).",
    "validation": "Final train and validation figure across the swept setting, ±1 std over seeds where repeated. "
                  "Capacity too small (or regularization too strong) underfits: both poor. Too large (or too weak) "
                  "overfits: train good, validation worse. The star is the best validation point.",
    "learning": "Final train and validation figure vs the number of training examples. More data narrows the "
                "gap between them — the first remedy for overfitting in the notes (§1.2.1).",
    "compare": "Runs side by side: validation solid, train dashed, the black-edged star at each run's best epoch, "
               "a black bar where early stopping ended a run (`dlexp plot --per-second` adds the same curves on "
               "cumulative training time, the real cost of a method that needs fewer but slower epochs, notes §3).",
    "scatter": "A random search: the final validation figure of every run against each sampled setting, on a log "
               "axis where the setting was drawn log-uniformly. The star is the best run.",
    "boundary": "Predicted class regions over the (standardized) input plane, training points filled and edged, "
                "validation points hollow; repeats and CV folds draw the model of their first member. A boundary that bends around single training points overfits; one too straight "
                "for curved classes underfits.",
    "weights": "Histograms of the Dense weights per layer (log counts). L1 drives many weights to (near) zero — a "
               "sparse model; L2 shrinks all of them without zeroing them (notes §2.2).",
    "activations": "Mean and std of each hidden layer's pre-activation on a fixed batch, per epoch (0 = at "
                   "initialization). Without normalization they drift as the layers below change — internal "
                   "covariate shift (notes §4.1); BatchNorm keeps them steady.",
}
TITLES = {"curves": "Training curves", "validation": "Validation curve", "learning": "Learning curve", "scatter": "Random search",
          "compare": "Comparison", "boundary": "Decision boundaries", "weights": "Weights",
          "activations": "Internal covariate shift"}
MAX_RUNS_FOR_MODEL_FIGURES = 8  # boundaries and histograms beyond this are unreadable

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
     padding:0 1rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#666}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5rem .8rem;margin:.8rem 0}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0;display:block;overflow-x:auto}
th,td{border-bottom:1px solid #e4e4e4;padding:.3rem .55rem;text-align:right;white-space:nowrap;vertical-align:top}
th{background:#f5f5f5;position:sticky;top:0}td.l,th.l{text-align:left}tr.best td{background:#eef8ee}
td.diag{white-space:normal;min-width:22rem;text-align:left}.diag ul,.diag ol{margin:.2rem 0;padding-left:1.3rem}
.badge{display:inline-block;border-radius:.6rem;padding:0 .5rem;font-weight:600;background:#e8e8e8}
.badge.overfitting{background:#fde0dc;color:#9f1d10}.badge.underfitting{background:#dcebfa;color:#114b8a}
.badge.good-fit{background:#dff3e0;color:#1e6b25}.badge.diverged{background:#9f1d10;color:#fff}
.badge.not-converged{background:#fff3c4;color:#7a5a00}.badge.overconfident{background:#fee6ce;color:#8c3d00}
figure{margin:1rem 0 2rem}figure img,figure svg{max-width:100%;height:auto}
figcaption{color:#444;max-width:70rem;font-size:.95rem}
details{margin:.3rem 0}summary{cursor:pointer}pre{background:#f7f7f7;padding:.7rem;overflow-x:auto;font-size:.85rem}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _num(v, std=None) -> str:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return "" if v is None else _e(v)
    if isinstance(v, float) and not math.isfinite(v):
        return "n/a"
    text = str(v) if isinstance(v, int) else labels.figure(v)
    if isinstance(std, (int, float)) and not isinstance(std, bool) and std and math.isfinite(std):
        text += f" ± {std:.2g}"
    return text


def _text(x) -> str:
    """Evidence may be a string, a list or a mapping: one readable line either way."""
    if isinstance(x, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return "; ".join(_text(v) for v in x)
    return _num(x) if isinstance(x, float) else str(x)


def _remedy(r) -> str:
    """A remedy: a string, or diagnose.py's {key, action, why, values}."""
    if not isinstance(r, dict):
        return _e(_text(r))
    head = ": ".join(_e(r[k]) for k in ("key", "action") if r.get(k))
    why = f"<br><small>{_e(_text(r['why']))}</small>" if r.get("why") else ""
    return (head or _e(_text(r))) + why


def diagnosis_html(d, compact: bool = False) -> str:
    """{"label", "reason"?, "also"?, "evidence", "remedies"} as a badge, the reason, the evidence
    (collapsed when it is a table of numbers) and the ranked remedies (collapsed too if compact:
    a table cell)."""
    if not isinstance(d, dict):
        return _e(_text(d)) if d else ""
    label = str(d.get("label", ""))
    out = f'<span class="badge {_e(re.sub(r"[^a-z]+", "-", label.lower()))}">{_e(label.replace("_", " "))}</span>'
    if d.get("reason"):
        out += f"<div>{_e(_text(d['reason']))}</div>"
    if d.get("also"):
        out += f"<div><small>also: {_e(_text(d['also']))}</small></div>"
    ev = d.get("evidence")
    if isinstance(ev, dict) and ev:
        items = "".join(f"<li>{_e(k)}: {_e(_text(v))}</li>" for k, v in ev.items() if v is not None)
        out += f"<details><summary>evidence</summary><ul>{items}</ul></details>"
    elif ev:
        out += f"<div>{_e(_text(ev))}</div>"
    remedies = d.get("remedies") or []
    if isinstance(remedies, (list, tuple)) and remedies:
        ranked = "<ol>" + "".join(f"<li>{_remedy(r)}</li>" for r in remedies) + "</ol>"
        out += f"<details><summary>remedies ({len(remedies)})</summary>{ranked}</details>" if compact else ranked
    elif remedies:
        out += f"<div>{_e(_text(remedies))}</div>"
    return out


def summary_table(runs: list[Run], swept: list[str], highlight: bool = True) -> str:
    """One row per run; with `highlight`, the row of the lowest validation loss is shaded."""

    metric = next((r.metric for r in runs if r.summary.get("metric")), "acc")
    diag = any("diagnosis" in r.summary for r in runs)
    vals = [r.summary.get("val_loss") for r in runs]
    finite = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
    best = min(finite) if highlight and len(finite) > 1 else None
    head = ["run", *swept, "status", "epochs (best)", "train loss", "val loss", "test loss",
            f"train {metric}", f"val {metric}", f"test {metric}", "gap", "params", "time (s)"]
    rows = ["<tr>" + "".join(f'<th{" class=l" if i <= len(swept) else ""}>{_e(h)}</th>' for i, h in enumerate(head))
            + ('<th class="l">diagnosis</th>' if diag else "") + "</tr>"]
    for run, v in zip(runs, vals):
        s = run.summary
        status = s.get("status", "?") + (f": {s['error']}" if s.get("status") == "failed" and s.get("error") else "")
        cells = [f'<td class="l" title="{_e(run.folder)}">{_e(run.name)}<br><small>{_e(run.run_id)}</small></td>']
        for k in swept:
            try:
                cells.append(f'<td class="l">{_e(labels.value(swept_value(run, k)))}</td>')
            except ResultError:
                cells.append('<td class="l">?</td>')
        cells.append(f'<td class="l">{_e(status)}</td>')
        epochs = f"{_num(s.get('epochs_run'))} ({_num(s.get('best_epoch'))})" if s.get("epochs_run") else ""
        cells.append(f"<td>{_e(epochs)}</td>")
        for key in ("train_loss", "val_loss", "test_loss", f"train_{metric}", f"val_{metric}", f"test_{metric}", "gap"):
            cells.append(f"<td>{_num(s.get(key), s.get(key + '_std'))}</td>")
        cells += [f"<td>{_num(s.get('n_params'))}</td>", f"<td>{_num(s.get('wall_time'))}</td>"]
        if diag:
            cells.append(f'<td class="diag">{diagnosis_html(s.get("diagnosis"), compact=True)}</td>')
        rows.append(f'<tr{" class=best" if best is not None and v == best else ""}>' + "".join(cells) + "</tr>")
    return "<table>" + "\n".join(rows) + "</table>"


def figure_html(fig, fmt: str) -> str:
    data = figure_bytes(fig, fmt)
    if fmt == "svg":
        text = data.decode("utf-8")
        return text[text.index("<svg"):]  # drop the XML prolog and doctype: inline SVG needs neither
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _figure_kinds(target) -> list[str]:
    """The figures worth showing: the target's default kind first, then the model figures."""

    main = default_kind(target)
    kinds = [main] + (["compare"] if target.is_sweep and main != "compare" else [])
    if len(target.runs) <= MAX_RUNS_FOR_MODEL_FIGURES:
        kinds += ["boundary", "weights"]
    # only where some run tracked them: tried on every run, the figure warned that it drew the
    # first runs of a sweep, then was left out for want of activations.csv
    if any((r.folder / "activations.csv").exists() for r in target.runs):
        kinds.append("activations")
    return kinds


def _figures(target, fmt: str) -> list[str]:
    out = []
    kinds = _figure_kinds(target)
    for kind in kinds:
        try:
            fig = make_figure(target, kind)
        except UsageError as exc:  # the kind does not fit this target (e.g. boundary on 10-D data)
            if kind == kinds[0]:
                out.append(f'<p class="note">{_e(TITLES[kind])} not drawn: {_e(exc)}</p>')
            continue
        except DlexpError as exc:
            warn(f"report: {kind} figure not drawn: {exc}")
            out.append(f'<p class="note">{_e(TITLES[kind])} not drawn: {_e(exc)}</p>')
            continue
        out.append(f'<figure id="fig-{kind}"><h3>{_e(TITLES[kind])}</h3>{figure_html(fig, fmt)}'
                   f"<figcaption>{_e(CAPTIONS[kind])}</figcaption></figure>")
    return out


def _configs(runs: list[Run]) -> str:
    parts = []
    for i, run in enumerate(runs):
        try:
            text = (run.folder / "config.yaml").read_text(encoding="utf-8")
        except OSError as exc:
            text = f"# config.yaml unreadable: {exc}"
        label = run.label if run.label != run.name else run.name
        parts.append(f"<details{' open' if len(runs) == 1 else ''}><summary>{_e(label)} · {_e(run.run_id)}</summary>"
                     f"<pre>{_e(text)}</pre></details>")
    return "\n".join(parts)


def _skipped(target) -> str:
    """Sweep points listed in the manifest whose run could not be read (warned about on load)."""
    if not target.is_sweep:
        return ""

    loaded = {r.run_id for r in target.runs}
    try:
        points = read_json(target.folder / "manifest.json").get("points", [])
    except ResultError:
        return ""
    missing = [p for p in points if p.get("run_id") not in loaded]
    if not missing:
        return ""
    items = "".join(f"<li>{_e(_text(p.get('point', {})))} → {_e(p.get('run_id'))} ({_e(p.get('status', '?'))})</li>"
                    for p in missing)
    return f'<div class="note">{labels.count(len(missing), "point")} skipped (missing, unfinished or damaged):<ul>{items}</ul></div>'


def _verdict(target) -> str:
    """The sweep's verdict as `dlexp diagnose` recorded it (<sweep>/diagnosis.json), or ""."""
    if not target.is_sweep:
        return ""
    try:
        d = json.loads((Path(target.folder) / "diagnosis.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(d.get("text", "")) if isinstance(d, dict) else ""


def build_report(target, fmt: str = "png") -> str:
    """The HTML text of the report for a plots.Target."""
    runs = list(target.runs)
    table_runs = runs
    if not target.is_sweep and len(runs) == 1:
        try:
            table_runs = runs + runs[0].members()  # repeats / CV: the members below the mean
        except ResultError as exc:
            warn(f"{runs[0].run_id}: members not listed: {exc}")
    title = target.name or labels.count(len(runs), "run")
    if target.is_sweep:
        meta = f"sweep · {labels.count(len(runs), 'run')} · swept: {', '.join(target.swept) or 'nothing'}"
    elif len(runs) == 1:
        s = runs[0].summary
        meta = f"run {runs[0].run_id} · {s.get('kind', 'single')} · {s.get('status', '?')}"
    else:
        meta = f"{labels.count(len(runs), 'run')} · differing: {', '.join(target.swept) or 'nothing'}"
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = [f"<h1>{_e(title)}</h1>", f'<p class="meta">{_e(meta)} · dlexp {_e(__version__)} · {_e(now)}</p>']
    if len(runs) == 1 and isinstance(runs[0].summary.get("diagnosis"), dict):
        body.append(f'<h2>Diagnosis</h2><div class="diag">{diagnosis_html(runs[0].summary["diagnosis"])}</div>')
    verdict = _verdict(target)
    if verdict:
        body.append(f'<h2>Diagnosis</h2><p class="diag">{_e(verdict)}</p>')
    body += ["<h2>Summary</h2>", _skipped(target), summary_table(table_runs, target.swept if target.is_sweep else [], len(runs) > 1),
             "<h2>Figures</h2>", *_figures(target, fmt), "<h2>Configs</h2>",
             "<p>The resolved configs (every default filled in), as saved beside each run.</p>", _configs(runs)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)} · dlexp report</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(b for b in body if b) + "\n</body></html>\n")


def report(targets, out: Path | None = None, results: Path = Path("results"), fmt: str = "png", where=(),
           interactive: bool | None = None) -> Path:
    """Write the report for the targets (the runs that hold `where`, figures.subset); returns the
    file (default <target folder>/report.html, report-<subset>.html for a subset).

    The report is the dashboard's views in one file (interactive_report) when plotly is
    installed, else (or with interactive=False) the static page, with a one-line note."""

    if fmt not in ("png", "svg"):
        raise UsageError(f"unknown figure format {fmt!r} for a report; valid: png, svg")
    target = load_target([targets] if isinstance(targets, (str, Path)) else targets, results, where)
    if out is None:
        stem = file_stem(target, "report")
        out = target.folder / (f"{stem}.html" if target.name else file_name(f"{stem}-{target.slug}", ".html"))
    out = Path(out)
    if interactive is not False:
        try:
            plotly = plotly_js()
        except UsageError:
            if interactive:
                raise
            warn_note("plotly is not installed: the report is static (pip install -e '.[serve]' for the interactive one)")
            plotly = None
    page = build_report(target, fmt) if interactive is False or plotly is None else \
        interactive_report(target, results, plotly, fmt)
    try:
        atomic_write_text(out, page)
    except StorageError as exc:
        raise StorageError(exc.problems + [Problem("--out FILE writes the report elsewhere")]) from exc
    return out


# ---------------------------------------------------------------------------------------------
# The interactive report: the dashboard's views, their data and plotly.js in one file

def warn_note(message: str) -> None:
    import sys

    print(f"note: {message}", file=sys.stderr)


def _script_json(obj) -> str:
    """JSON to sit inside <script type="application/json">: no "</script>", "<!--" or line
    separator in it can end the element or confuse a parser, whatever the names hold."""
    text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _sha256(text: str) -> str:
    import hashlib

    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _report_data(target, results: Path, fmt: str) -> dict:
    """The payloads of the dashboard's routes for the target's runs and sweep, keyed by route."""
    root = Path(target.runs[0].folder).parent.parent if target.runs else Path(results)
    index = ResultsIndex(root)
    listing = index_payload(index)
    rids = {r.run_id for r in target.runs}
    listing["runs"] = [r for r in listing["runs"] if r["run_id"] in rids]
    listing["sweeps"] = [s for s in listing["sweeps"] if target.is_sweep and s["name"] == target.name]
    api = {"/api/index": listing}
    for rid in sorted(rids):
        payload = run_payload(index, rid)
        if payload is not None:
            api[f"/api/run/{rid}"] = payload
    start = "#/"
    if target.is_sweep:
        payload = sweep_payload(index, target.name, only=rids)
        if payload is not None:
            api[f"/api/sweep/{target.name}"] = payload
            start = "#/sweep/" + urllib.parse.quote(target.name, safe="")
    figures = {}
    if len(target.runs) == 1:  # a run's report: its static figures of `dlexp plot` as well
        run = target.runs[0]
        start = "#/run/" + run.run_id
        figures[run.run_id] = {}
        for kind in _figure_kinds(target):
            try:
                data = figure_bytes(make_figure(target, kind), "png")
            except DlexpError:  # does not fit this run: the page lists what does
                continue
            figures[run.run_id][kind] = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    title = target.name or labels.count(len(target.runs), "run")
    return {"title": title, "start": start, "api": api, "figures": figures,
            "made": f"dlexp {__version__} · {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}"}


def interactive_report(target, results: Path, plotly: bytes, fmt: str = "png") -> str:
    """One HTML file holding the dashboard's page, script and style, plotly.js and the data:
    it opens from file:// with no network (its Content-Security-Policy allows none)."""
    data = _report_data(target, results, fmt)
    plotly_text, app = plotly.decode("utf-8"), asset("app.js").decode("utf-8")
    csp = (f"default-src 'none'; script-src {_sha256(plotly_text)} {_sha256(app)} 'unsafe-eval'; "
           "style-src 'unsafe-inline'; img-src data: blob:; connect-src 'none'; base-uri 'none'; form-action 'none'")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(data['title'])} · dlexp report</title><style>{asset('app.css').decode('utf-8')}</style>"
            f"<script id=\"dlexp-data\" type=\"application/json\">{_script_json(data)}</script>"
            f"<script>{plotly_text}</script></head><body>"
            f"<header><a href=\"#/\" id=\"home\">dlexp</a><span id=\"where\"></span>"
            f"<span id=\"live\">{_e(data['made'])}</span></header>"
            f"<main id=\"app\"><p class=\"note\">This report needs JavaScript.</p></main>"
            f"<script>{app}</script></body></html>\n")
