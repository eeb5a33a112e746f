"""`dlexp table` and `dlexp ls`: formats, sorting, columns, damaged runs."""

from __future__ import annotations

import csv
import io
import json

import pytest
import yaml
from click.testing import CliRunner

from dlexp.cli import main
from dlexp.results.summary import cell_text, summary_row

BASE = {"name": "tiny", "data": {"name": "moons", "n_samples": 120, "noise": 0.25},
        "model": {"hidden": [8]}, "optimizer": {"name": "adam", "lr": 0.02},
        "train": {"epochs": 3, "batch_size": 16}}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A sweep over model.hidden (3 points) and one plain run, in one results folder."""
    folder = tmp_path_factory.mktemp("tables")
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    (folder / "spec.yaml").write_text(yaml.safe_dump({"name": "width", "base": "base.yaml",
                                                      "grid": {"model.hidden": [[2], [16], [4, 4]]}}))
    out = folder / "results"
    r = invoke("sweep", folder / "spec.yaml", "--results", out, "-j", "1")
    assert r.exit_code == 0, r.output
    r = invoke("run", folder / "base.yaml", "--results", out, "-q")
    assert r.exit_code == 0, r.output
    return out, r.stdout.strip()


def test_csv_has_every_column_and_json_text_for_lists(results):
    out, _ = results
    r = invoke("table", "width", "--results", out, "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["model.hidden"] for row in rows] == ["[2]", "[16]", "[4, 4]"]
    assert {"run_id", "status", "val_loss", "val_acc", "gap", "n_params", "weights.near_zero_fraction"} <= set(rows[0])
    assert rows == list(csv.DictReader(io.StringIO((out / "sweeps" / "width" / "summary.csv").read_text())))


def test_json_and_sort(results):
    out, _ = results
    r = invoke("table", out / "sweeps" / "width", "--results", out, "--format", "json", "--sort", "n_params")
    rows = json.loads(r.stdout)
    assert [row["n_params"] for row in rows] == sorted(row["n_params"] for row in rows)
    assert rows[0]["model.hidden"] == [2]
    r = invoke("table", "width", "--results", out, "--format", "json", "--sort=-n_params")
    assert [row["model.hidden"] for row in json.loads(r.stdout)][0] == [16]


def test_markdown_and_columns(results):
    out, _ = results
    r = invoke("table", "width", "--results", out, "--format", "markdown", "--columns", "model.hidden,val_acc")
    lines = r.stdout.splitlines()
    assert lines[0] == "| model.hidden | val_acc |"
    assert lines[1] == "| --- | ---: |"
    assert len(lines) == 5 and lines[2].startswith("| [2] | ")


def test_text_table_of_runs_by_folder_and_id(results):
    out, run_folder = results
    rid = run_folder.rsplit("/", 1)[-1]
    r = invoke("table", run_folder, rid, "--results", out)
    assert r.exit_code == 0, r.output
    assert r.stdout.count(rid) == 2 and "tiny" in r.stdout and "completed" in r.stdout
    r = invoke("table", "width", "--results", out)
    assert "hidden" in r.stdout and "model.hidden" not in r.stdout and "[4, 4]" in r.stdout  # a swept key by its leaf
    assert not any(line != line.rstrip() for line in r.stdout.splitlines())


@pytest.mark.parametrize("args, message", [
    (("--sort", "val_los"), "--sort: no column 'val_los' (did you mean 'val_loss'?)"),
    (("--columns", "run_id,statuss"), "--columns: no column 'statuss' (did you mean 'status'?)"),
])
def test_unknown_column_exits_2_with_did_you_mean(results, args, message):
    out, _ = results
    r = invoke("table", "width", "--results", out, *args)
    assert r.exit_code == 2 and message in r.output


def test_unknown_target_exits_2(results):
    out, _ = results
    r = invoke("table", "nothing-here", "--results", out)
    assert r.exit_code == 2 and "not a run folder" in r.output and "did you mean" not in r.output


@pytest.mark.parametrize("target, hint", [("widht", "'width'"),  # a sweep name misspelt
                                          ("sweeps/w", "sweeps/width'")])  # a folder path, part of the name
def test_a_near_miss_target_gets_the_closest_name(results, target, hint):
    out, _ = results
    target = target if "/" not in target else out / target
    r = invoke("table", target, "--results", out)
    assert r.exit_code == 2 and "(did you mean " in r.output and hint in r.output, r.output


def test_every_reader_takes_the_results_folder_as_out_or_results(results):
    """`--out DIR` names the results folder for run, sweep, table, ls and diagnose; plot and report
    use --out for the file they write, so every command that reads results also takes --results."""
    out, _ = results
    for args in (["table", "width"], ["ls"], ["diagnose", "width", "--no-save"]):
        for flag in ("--results", "--results"):
            r = invoke(*args, flag, out)
            assert r.exit_code == 0, (args, flag, r.output)


def test_diagnosis_column_when_summaries_have_one(tmp_path):
    row = summary_row({"run_id": "a", "status": "completed", "val_loss": 0.5,
                       "diagnosis": {"label": "overfitting", "evidence": []}}, {"seed": 1})
    assert row["diagnosis"] == "overfitting" and list(row)[:3] == ["seed", "run_id", "status"]
    assert summary_row({"diagnosis": "underfitting"})["diagnosis"] == "underfitting"
    assert "diagnosis" not in summary_row({"status": "completed"})


def test_cells():
    assert [cell_text(v) for v in ([8, 8], {"rate": 0.5}, True, None, 0.1, "relu")] == \
        ["[8, 8]", '{"rate": 0.5}', "true", "", "0.1", "relu"]


def test_ls_lists_runs_and_sweeps_and_flags_damaged(results, tmp_path):
    import shutil

    out, _ = results
    copy = tmp_path / "results"
    shutil.copytree(out, copy)
    runs = sorted(p for p in (copy / "runs").iterdir() if not p.name.startswith("."))
    (runs[0] / "summary.json").write_text("{not json")
    (runs[1] / "summary.json").unlink()
    r = invoke("ls", "--results", copy)
    assert r.exit_code == 0, r.output
    assert r.stdout.count("damaged") >= 2 and "completed" in r.stdout and "width" in r.stdout
    r = invoke("ls", "--results", copy, "--json")
    listing = json.loads(r.stdout)
    status = {row["run_id"]: row["status"] for row in listing["runs"]}
    assert status[runs[0].name] == "damaged" and status[runs[1].name] == "damaged"
    assert list(status.values()).count("completed") == 2
    (sweep,) = listing["sweeps"]
    assert sweep["name"] == "width" and sweep["runs"] == 3 and sweep["done"] + sweep["damaged"] == 3
    # the table of a sweep with a damaged run skips it with a warning, no crash
    r = invoke("table", "width", "--results", copy, "--format", "csv")
    assert r.exit_code == 0


def test_ls_of_an_empty_folder(tmp_path):
    r = invoke("ls", "--results", tmp_path / "nothing")
    assert r.exit_code == 0 and "no runs or sweeps" in r.output


# ---------------------------------------------------------------------------------------------
# text tables that fit the terminal

@pytest.fixture(scope="module")
def repeated(tmp_path_factory):
    """A sweep over regularization.l2 with two seeds a point, so figures come with a spread
    (epochs_run has none: every member trains its 3 epochs), and a run with a very long name."""
    folder = tmp_path_factory.mktemp("fitted")
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    (folder / "spec.yaml").write_text(yaml.safe_dump({"name": "l2", "base": "base.yaml", "seeds": [0, 1],
                                                      "grid": {"regularization.l2": [0.0, 0.01, 0.1]}}))
    out = folder / "results"
    assert invoke("sweep", folder / "spec.yaml", "--results", out, "-j", "1", "-q").exit_code == 0
    (folder / "long.yaml").write_text(yaml.safe_dump({**BASE, "name": "a-name-" + "much-longer-than-that-" * 6}))
    r = invoke("run", folder / "long.yaml", "--results", out, "-q")
    assert r.exit_code == 0, r.output
    return out, r.stdout.strip().rsplit("/", 1)[-1]


def text_table(*args, width=None, wide=False, out):
    from dlexp.analysis.tables import show_table

    buf = io.StringIO()
    show_table(args, out, width=width, wide=wide, file=buf)
    return buf.getvalue()


def body(text: str) -> list[str]:
    """The rows of a printed table: the lines between the header's rule and the blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"}) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


@pytest.mark.parametrize("width", [80, 120])
def test_a_text_table_fits_the_terminal_without_wrapping(repeated, width):
    out, _ = repeated
    text = text_table("l2", width=width, out=out)
    assert max(len(line) for line in text.splitlines()) <= width, text
    rows = body(text)
    assert len(rows) == 3, text  # one line per run: no cell wrapped onto a second one
    header = text.splitlines()[text.splitlines().index(next(l for l in text.splitlines() if "status" in l))]
    assert header.split() == [h for h in header.split() if h in ("l2", "run_id", "status", "val_acc", "gap",
                                                                  "val_loss", "train_loss", "train_acc",
                                                                  "test_acc", "test_loss", "epochs_run",
                                                                  "best_epoch")]
    assert header.split()[:3] == ["l2", "run_id", "status"] and "val_acc" in header and "gap" in header
    assert "completed" in rows[0] and " ± " in rows[0]  # the swept value, status, a figure with its spread
    ids = [row.split()[1] for row in rows]
    assert all(len(i) == 8 for i in ids) and len(set(ids)) == 3
    assert "with --wide" in text  # it says that columns were left out, and how to see them
    assert "± 0 " not in text and not text.rstrip().endswith("± 0")


def test_more_columns_fit_a_wider_terminal(repeated):
    out, _ = repeated
    narrow, broad = (body(text_table("l2", width=w, out=out))[0] for w in (80, 120))
    assert len(broad.split()) > len(narrow.split())


def test_a_figure_that_does_not_vary_has_no_spread(repeated):
    out, _ = repeated
    text = text_table("l2", width=200, out=out)
    header, *_ = [l for l in text.splitlines() if "epochs_run" in l]
    col = header.split().index("epochs_run")
    assert [row.split()[col] for row in body(text)] == ["3", "3", "3"]  # not "3 ± 0"
    md = invoke("table", "l2", "--results", out, "--format", "markdown").stdout  # markdown: as before
    assert "3 ± 0" in md


def test_wide_shows_every_column_and_whole_ids(repeated):
    out, _ = repeated
    text = text_table("l2", width=80, wide=True, out=out)
    assert "n_params" in text and "wall_time" in text and "with --wide" not in text
    full = json.loads(invoke("table", "l2", "--results", out, "--format", "json").stdout)
    for row in full:
        assert row["run_id"] in text
    assert len(body(text)) == 3


def test_a_long_name_is_cut_not_wrapped(repeated):
    out, rid = repeated
    text = text_table(rid, "l2", width=80, out=out)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert len(body(text)) == 4 and "…" in text


def test_a_short_run_id_names_its_run(repeated):
    out, rid = repeated
    r = invoke("table", rid[:8], "--results", out, "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["run_id"] == rid


def test_an_ambiguous_short_run_id_exits_2(repeated, tmp_path):
    import shutil

    out, rid = repeated
    copy = tmp_path / "results"
    shutil.copytree(out, copy)
    shutil.copytree(copy / "runs" / rid, copy / "runs" / (rid[:6] + "ffffff"))
    r = invoke("table", rid[:6], "--results", copy)
    assert r.exit_code == 2 and "the start of 2 run ids" in r.output and "Traceback" not in r.output


def test_a_swept_column_is_sorted_by_its_header(repeated):
    out, _ = repeated
    r = invoke("table", "l2", "--results", out, "--format", "json", "--sort=-l2")
    assert [row["regularization.l2"] for row in json.loads(r.stdout)] == [0.1, 0.01, 0.0]


def test_ls_fits_the_terminal(repeated):
    from dlexp.analysis.tables import show_listing

    out, _ = repeated
    buf = io.StringIO()
    show_listing(out, file=buf, width=80)
    lines = buf.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert sum("completed" in line for line in lines) == 4  # 3 sweep runs + the long one, one line each
    assert any("a-name-much" in line and "…" in line for line in lines)


@pytest.mark.parametrize("mean, std, shown", [
    (4.546, 1.61, "4.5 ± 1.6"),          # a spread starting with 1 or 2: two digits
    (0.8173, 0.0083, "0.817 ± 0.008"),   # else one; the mean to the spread's last digit
    (412.3, 12.4, "412 ± 12"),
    (1.0, 0.004, "1.000 ± 0.004"),
    (123.456, 0.0012, "123.5"),          # a spread below the fourth digit shown is left out
    (2.543e-08, 7e-08, "2.54e-08 ± 7e-08"),  # far below a unit: scientific notation
])
def test_a_spread_is_shown_as_an_error_bar_is_read(mean, std, shown):
    from dlexp.analysis.tables import _fitted_cell

    assert _fitted_cell({"val_loss": mean, "val_loss_std": std}, "val_loss") == shown
