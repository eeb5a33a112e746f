"""`dlexp report`: one self-contained HTML page that parses and holds every figure."""

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from dlexp import html_report as report_module
from dlexp.cli import main
from dlexp.html_report import report as _report


def report(*args, **kwargs):
    """The static page (`--static`; the report without plotly), whose markup these tests read; the
    interactive report is tested in test_serve.py and test_browser.py."""
    return _report(*args, interactive=False, **kwargs)


def fewer_figures(monkeypatch, *kinds):
    """Tests about the page rather than the figures draw only these (each costs ~0.5 s)."""
    monkeypatch.setattr(report_module, "_figure_kinds", lambda target: list(kinds))


class Page(HTMLParser):
    """Tags, attributes and text of an HTML page, with a check that every tag closes."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "path", "use", "rect", "stop"}

    def __init__(self, text):
        super().__init__()
        self.tags, self.stack, self.text, self.unclosed = [], [], [], []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.unclosed.append(tag)
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag):
        return [a for t, a in self.tags if t == tag]

    @property
    def body_text(self):
        return " ".join(self.text)


def check_self_contained(page):
    assert not page.stack and not page.unclosed, (page.stack, page.unclosed)
    assert not page.all("script") and not page.all("link") and not page.all("iframe")
    for _, attrs in page.tags:
        for name in ("src", "href"):
            if name not in attrs:
                continue
            value = attrs[name] or ""
            assert not value.startswith(("http:", "https:", "//", "file:")), value
            if name == "src":
                assert value.startswith("data:image/png;base64,"), value[:40]


def test_report_of_a_run(plot_results):
    path = report(str(plot_results.bn), results=plot_results.out)
    assert path == plot_results.bn / "report.html"
    page = Page(path.read_text(encoding="utf-8"))
    check_self_contained(page)
    figures = page.all("figure")
    assert [f["id"] for f in figures] == ["fig-curves", "fig-boundary", "fig-weights", "fig-activations"]
    assert len(page.all("img")) == len(figures)
    assert len(page.all("figcaption")) == len(figures)
    assert "bn" in page.body_text and "norm: batchnorm" in page.body_text  # the config, in <details>
    assert len(page.all("details")) == 1 and len(page.all("table")) == 1


def test_report_of_a_sweep_with_repeats(plot_results):
    page = Page(report("width", results=plot_results.out).read_text(encoding="utf-8"))
    check_self_contained(page)
    assert [f["id"] for f in page.all("figure")] == ["fig-validation", "fig-compare", "fig-boundary", "fig-weights"]
    assert len(page.all("img")) == 4
    assert len(page.all("tr")) == 1 + 3  # header + one row per point
    assert "model.hidden" in page.body_text and "±" in page.body_text  # swept column, std over seeds
    assert len(page.all("details")) == 3


def test_report_with_inline_svg(plot_results, tmp_path, monkeypatch):
    fewer_figures(monkeypatch, "learning", "weights")
    path = report(["train-size"], out=tmp_path / "r.html", results=plot_results.out, fmt="svg")
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert not page.stack and not page.all("img") and not page.all("script")
    assert text.count("<svg") == len(page.all("figure")) == 2
    assert "<?xml" not in text


def test_report_shows_the_diagnosis_when_summaries_have_one(plot_results, tmp_path, monkeypatch):
    fewer_figures(monkeypatch, "curves")
    results = tmp_path / "results"
    src = plot_results.single
    shutil.copytree(src, results / "runs" / src.name)
    summary_path = results / "runs" / src.name / "summary.json"
    summary = json.loads(summary_path.read_text())
    # the shape dlexp/diagnose.py records
    summary["diagnosis"] = {"label": "good_fit", "reason": "none of the rules holds", "also": [],
                            "evidence": {"gap": 0.031, "val_trend": None, "stopped_early": True},
                            "remedies": [{"key": "regularization.l2", "action": "weaker L2: 0.01 → 0.001",
                                          "why": "notes §1.1 降低欠拟合的风险 <less>", "values": [0.001, 0.0]},
                                         "plain text remedy"]}
    summary_path.write_text(json.dumps(summary))
    page = Page(report(src.name, results=results).read_text(encoding="utf-8"))
    check_self_contained(page)
    text = page.body_text
    assert any(a.get("class") == "badge good-fit" for a in page.all("span")) and "good fit" in text
    assert "none of the rules holds" in text and "gap: 0.031" in text and "val_trend" not in text
    assert "weaker L2: 0.01 → 0.001" in text and "notes §1.1 降低欠拟合的风险 <less>" in text  # escaped, parsed back
    assert "plain text remedy" in text
    assert len(page.all("ol")) == 2  # in the Diagnosis section and in the table's diagnosis column


def test_report_lists_skipped_points_and_never_crashes(plot_results, tmp_path, capsys, monkeypatch):
    fewer_figures(monkeypatch, "compare")
    path = report("broken", out=tmp_path / "b.html", results=plot_results.out)
    assert "skipping" in capsys.readouterr().err
    page = Page(path.read_text(encoding="utf-8"))
    assert "2 points skipped" in page.body_text
    assert "000000000000" in page.body_text
    assert len(page.all("tr")) == 2


def test_cli_report(plot_results, tmp_path, monkeypatch):
    fewer_figures(monkeypatch, "compare")
    out = tmp_path / "x" / "report.html"
    res = CliRunner().invoke(main, ["report", "optimizers", "--results", str(plot_results.out), "--out", str(out)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert Path(res.stdout.strip()) == out and out.exists()
    res = CliRunner().invoke(main, ["report", "nothing-here", "--results", str(plot_results.out)])
    assert res.exit_code == 2 and "not a run folder" in res.stderr


def test_report_of_a_sweep_over_nested_points_names_runs_by_their_own_keys(plot_results, tmp_path, monkeypatch):
    """Points like {"regularization": {"l1": …, "l1_mode": "proximal"}} read "l1=…, l1_mode=proximal", never
    "regularization=l1=…"; the weights figure (one column per run) renders in the page."""
    fewer_figures(monkeypatch, "weights")
    results = tmp_path / "results"
    manifest = json.loads((plot_results.l1 / "manifest.json").read_text())
    for entry in manifest["points"]:
        shutil.copytree(plot_results.out / "runs" / entry["run_id"], results / "runs" / entry["run_id"])
        entry["point"] = {"regularization": {"l1": entry["point"]["regularization.l1"], "l1_mode": "proximal"}}
    manifest.update(name="nested", swept=["regularization"])
    (results / "sweeps" / "nested").mkdir(parents=True)
    (results / "sweeps" / "nested" / "manifest.json").write_text(json.dumps(manifest))
    page = Page(report("nested", results=results).read_text(encoding="utf-8"))
    check_self_contained(page)
    assert [f["id"] for f in page.all("figure")] == ["fig-weights"]
    text = page.body_text
    assert "l1=1e-3, l1_mode=proximal" in text and "l1=0.1, l1_mode=proximal" in text
    assert "regularization=" not in text
