"""`dlexp run` end to end through click's CliRunner, plus the promises of the result contract."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dlexp.cli import main
from dlexp.results.store import read_csv

ROOT = Path(__file__).resolve().parents[1]

TINY = """\
name: tiny
data: {name: moons, n_samples: 160, noise: 0.2}
model: {hidden: [8]}
optimizer: {name: adam, lr: 0.01}
train: {epochs: 4, batch_size: 16}
"""


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def write(tmp_path, text, name="exp.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_run_writes_the_result_contract(tmp_path):
    cfg = write(tmp_path, TINY)
    res = invoke("run", cfg, "--results", tmp_path / "res", "-q")
    assert res.exit_code == 0, res.output
    folder = Path(res.stdout.strip())
    assert folder.parent == tmp_path / "res" / "runs"
    assert {p.name for p in folder.iterdir()} == {"config.yaml", "metrics.csv", "summary.json", "model.npz"}
    rows = read_csv(folder / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "train_acc", "val_acc", "penalty", "lr",
                             "epoch_time", "eval_time"]
    s = json.loads((folder / "summary.json").read_text())
    for key in ("run_id", "status", "epochs_run", "best_epoch", "stopped_early", "train_loss", "val_loss",
                "test_loss", "train_acc", "val_acc", "test_acc", "gap", "n_params", "wall_time", "seed"):
        assert key in s, key
    assert s["status"] == "completed" and s["epochs_run"] == 4 and s["run_id"] == folder.name
    assert s["n_params"] == 2 * 8 + 8 + 8 * 2 + 2
    with np.load(folder / "model.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["dense0.W", "dense0.b", "dense1.W", "dense1.b"]
        assert z["dense0.W"].shape == (2, 8)
    assert "summary" not in res.stdout and "tiny: completed" in res.stderr


def test_same_config_reuses_the_run_unless_forced(tmp_path):
    def stamp(res):  # a rewritten file has a new inode (made while the old one exists), however fast
        st = (Path(res.stdout.strip()) / "summary.json").stat()
        return st.st_ino, st.st_mtime_ns

    cfg = write(tmp_path, TINY)
    before = stamp(invoke("run", cfg, "--results", tmp_path, "-q"))
    again = invoke("run", cfg, "--results", tmp_path, "-q")
    assert "reusing completed run" in again.stderr
    assert stamp(again) == before
    forced = invoke("run", cfg, "--results", tmp_path, "-q", "--force")
    assert "reusing" not in forced.stderr
    assert stamp(forced) != before


def test_reproducible_to_the_byte(tmp_path):
    cfg = write(tmp_path, TINY.replace("hidden: [8]", "hidden: [8], dropout: 0.2, norm: batchnorm"))
    a = Path(invoke("run", cfg, "--results", tmp_path / "a", "-q").stdout.strip())
    b = Path(invoke("run", cfg, "--results", tmp_path / "b", "-q").stdout.strip())
    assert (a / "model.npz").read_bytes() == (b / "model.npz").read_bytes()
    strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith("_time")} for r in rows]  # noqa: E731
    assert strip(read_csv(a / "metrics.csv")) == strip(read_csv(b / "metrics.csv"))
    assert (a / "config.yaml").read_text() == (b / "config.yaml").read_text()


def test_json_output(tmp_path):
    res = invoke("run", write(tmp_path, TINY), "--results", tmp_path, "-q", "--json")
    s = json.loads(res.stdout)
    assert s["status"] == "completed" and s["kind"] == "single"


def test_xor_reaches_full_training_accuracy(tmp_path):
    cfg = write(tmp_path, """\
data: {name: xor, n_samples: 200, noise: 0.0}
model: {hidden: [32, 32], activation: tanh}
optimizer: {name: adam, lr: 0.01}
train: {epochs: 300, batch_size: 32}
""")
    s = json.loads(invoke("run", cfg, "--results", tmp_path, "-q", "--json").stdout)
    assert s["train_acc"] == 1.0
    assert s["val_acc"] > 0.9


def test_quickstart_completes(tmp_path):
    res = invoke("run", ROOT / "configs" / "quickstart.yaml", "--results", tmp_path, "-q", "--json")
    assert res.exit_code == 0
    s = json.loads(res.stdout)
    assert s["status"] == "completed" and s["val_acc"] > 0.85


def test_bad_config_exit_2_without_traceback(tmp_path):
    cfg = write(tmp_path, "model:\n  activaton: relu\n")
    res = invoke("run", cfg, "--results", tmp_path)
    assert res.exit_code == 2
    assert "model.activaton: unknown key (did you mean 'activation'?)" in res.stderr
    assert "Traceback" not in res.output


def test_bad_data_exit_2(tmp_path):
    cfg = write(tmp_path, "data: {name: csv, path: nowhere.csv, target: y}\n")
    res = invoke("run", cfg, "--results", tmp_path)
    assert res.exit_code == 2 and "nowhere.csv" in res.stderr and "Traceback" not in res.output


def test_missing_config_file_exit_2(tmp_path):
    res = invoke("run", tmp_path / "nope.yaml", "--results", tmp_path)
    assert res.exit_code == 2 and "nope.yaml: file not found" in res.stderr


def test_unknown_command_suggests():
    res = CliRunner().invoke(main, ["rn"])
    assert res.exit_code == 2 and "did you mean 'run'" in res.output


@pytest.mark.parametrize("args, hint", [
    (["plot", "x", "--kind", "learnin"], "(did you mean 'learning'?)"),
    (["table", "x", "--format", "mardown"], "(did you mean 'markdown'?)"),
    (["sweep", "x.yaml", "--executor", "dsak"], "(did you mean 'dask'?)"),
])
def test_a_mistyped_option_value_names_the_closest_choice(args, hint):
    res = invoke(*args)
    assert res.exit_code == 2 and hint in res.output and "Traceback" not in res.output


def test_init_from_warm_start_and_shape_mismatch(tmp_path):
    first = Path(invoke("run", write(tmp_path, TINY), "--results", tmp_path, "-q").stdout.strip())
    text = TINY.replace("model: {hidden: [8]}", f"model: {{hidden: [8], init_from: '{first / 'model.npz'}'}}")
    warm = write(tmp_path, text, "warm.yaml")
    s = json.loads(invoke("run", warm, "--results", tmp_path, "-q", "--json").stdout)
    assert s["status"] == "completed"
    bad = write(tmp_path, text.replace("hidden: [8]", "hidden: [9]"), "bad.yaml")
    res = invoke("run", bad, "--results", tmp_path, "-q")
    assert res.exit_code == 2
    assert "dense0.W has shape (2, 8), this model needs (2, 9)" in res.stderr


def test_help_imports_no_heavy_modules():
    code = ("import sys; from click.testing import CliRunner; from dlexp.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0; "
            "r = CliRunner().invoke(main, ['run', '--help']); assert r.exit_code == 0; "
            "heavy = [m for m in ('numpy', 'sklearn', 'matplotlib', 'scipy') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_results_folder_is_results_everywhere_and_old_out_still_works(tmp_path):
    """--results DIR is where every command reads (and run/sweep write); --out DIR, the results
    folder's spelling before 0.2, still works for those commands with a one-line notice."""
    cfg = write(tmp_path, "name: q\ndata: {name: xor, n_samples: 80}\nmodel: {hidden: [4]}\ntrain: {epochs: 2}\n")
    new, old = tmp_path / "new", tmp_path / "old"
    r = invoke("run", cfg, "--results", new, "-q")
    assert r.exit_code == 0 and "deprecated" not in r.output, r.output
    r = invoke("run", cfg, "--out", old, "-q")
    assert r.exit_code == 0, r.output
    assert f"note: --out {old} for the results folder is deprecated; use --results {old}" in r.output
    [rid] = [p.name for p in (old / "runs").iterdir() if not p.name.startswith(".")]
    assert (new / "runs" / rid / "summary.json").is_file()
    for args in (["table", rid], ["ls"], ["diagnose", rid, "--no-save"]):
        assert invoke(*args, "--results", new).exit_code == 0, args
        r = invoke(*args, "--out", new)
        assert r.exit_code == 0 and "use --results" in r.output, (args, r.output)
    r = invoke("plot", rid, "--results", new, "--out", tmp_path / "c.png")  # --out: the file written
    assert r.exit_code == 0 and (tmp_path / "c.png").is_file() and "deprecated" not in r.output, r.output
