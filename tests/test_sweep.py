"""`dlexp sweep`: spec expansion and validation, result files, resume, failure isolation, locks."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dlexp.cli import main
from dlexp.errors import ConfigError
from helpers import Holder
from dlexp.sweeps.spec import _random_axes, load_spec, parse_grid_args, random_samples, split_top_level

BASE = {"name": "tiny", "data": {"name": "moons", "n_samples": 120, "noise": 0.25},
        "model": {"hidden": [8]}, "optimizer": {"name": "adam", "lr": 0.02},
        "train": {"epochs": 3, "batch_size": 16}}
TIMING = ("wall_time", "wall_time_std")


def write_spec(folder: Path, spec: dict, name: str = "spec.yaml", base: dict | None = BASE) -> Path:
    if base is not None and "base" not in spec:
        (folder / "base.yaml").write_text(yaml.safe_dump(base))
        spec = {"base": "base.yaml", **spec}
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False, default_flow_style=None))
    return path


def sweep(*args, env=None):
    return CliRunner().invoke(main, ["sweep", *map(str, args)], env=env)


def summary_rows(out: Path, name: str, drop=TIMING) -> list[dict]:
    text = (out / "sweeps" / name / "summary.csv").read_text()
    return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(io.StringIO(text))]


def mtimes(out: Path) -> dict:
    """run id → (inode, mtime) of its summary.json: a rewritten run has a new inode (its new file is
    made while the old one still exists), however little time the rewrite took."""
    return {p.parent.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "runs").glob("*/summary.json")
            if not p.parent.name.startswith(".")}  # a staging folder is not a run


# ---- expansion ----------------------------------------------------------------------------------


def test_grid_is_the_cartesian_product_in_spec_order(tmp_path):
    spec = write_spec(tmp_path, {"name": "g", "grid": {"model.hidden": [[4], [8, 8]],
                                                       "regularization.l2": [0, 1e-4, 0.01]}})
    plan = load_spec(spec)
    assert plan.swept == ["model.hidden", "regularization.l2"]
    assert [p.values for p in plan.points] == [
        {"model.hidden": h, "regularization.l2": l2} for h in ([4], [8, 8]) for l2 in (0, 1e-4, 0.01)]
    assert [p.exp.model.hidden for p in plan.points[:3]] == [[4]] * 3
    assert len({p.rid for p in plan.points}) == 6


def test_nested_grid_mapping_means_dotted_keys(tmp_path):
    spec = write_spec(tmp_path, {"grid": {"model": {"hidden": [[4], [8]]}}})
    assert [p.values for p in load_spec(spec).points] == [{"model.hidden": [4]}, {"model.hidden": [8]}]


def test_random_samples_are_seeded_and_within_bounds():
    params = {"optimizer.lr": {"dist": "loguniform", "low": 1e-4, "high": 0.1},
              "model.dropout": {"dist": "uniform", "low": 0.1, "high": 0.5},
              "train.batch_size": {"dist": "int", "low": 4, "high": 6},
              "model.activation": {"dist": "choice", "values": ["relu", "tanh"]}}
    problems = []
    axes, n, seed = _random_axes({"samples": 200, "seed": 3, "params": params}, {}, "s.yaml", problems)
    assert not problems and n == 200 and seed == 3
    draws = random_samples(axes, n, seed)
    assert draws == random_samples(axes, n, seed)
    assert draws != random_samples(axes, n, seed + 1)
    assert all(1e-4 <= d["optimizer.lr"] <= 0.1 and 0.1 <= d["model.dropout"] <= 0.5 for d in draws)
    assert {d["train.batch_size"] for d in draws} == {4, 5, 6}
    assert {d["model.activation"] for d in draws} == {"relu", "tanh"}
    # log-uniform: about as many draws in each decade
    decades = [sum(lo <= d["optimizer.lr"] < lo * 10 for d in draws) for lo in (1e-4, 1e-3, 1e-2)]
    assert min(decades) > 40


def test_grid_and_random_combine_every_sample_for_each_grid_point(tmp_path):
    spec = write_spec(tmp_path, {"grid": {"model.hidden": [[4], [8]]},
                                 "random": {"samples": 3, "params": {"optimizer.lr": {
                                     "dist": "uniform", "low": 0.01, "high": 0.02}}},
                                 "seeds": [0, 1]})
    plan = load_spec(spec)
    assert len(plan.points) == 6
    lrs = [p.values["optimizer.lr"] for p in plan.points]
    assert lrs[:3] == lrs[3:] and len(set(lrs)) == 3
    assert plan.swept == ["model.hidden", "optimizer.lr"]
    assert all(p.exp.seeds == [0, 1] for p in plan.points)


def test_inline_grid_values_split_on_top_level_commas():
    assert split_top_level("[8, 8],[64],{a: 1, b: 2},'x,y'") == ["[8, 8]", "[64]", "{a: 1, b: 2}", "'x,y'"]
    assert parse_grid_args(["model.hidden=[8],[64, 64],[512]", "regularization.l2=0,1e-4,1e-2",
                            "model.activation=relu,tanh"]) == [
        ("model.hidden", [[8], [64, 64], [512]]), ("regularization.l2", [0, 1e-4, 1e-2]),
        ("model.activation", ["relu", "tanh"])]
    with pytest.raises(ConfigError, match="expected KEY=V1,V2"):
        parse_grid_args(["model.hidden"])


def test_config_with_grid_options_and_set(tmp_path):
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(BASE))
    plan = load_spec(tmp_path / "exp.yaml", ["model.hidden=[4],[8]", "regularization.l2=0,1e-2"],
                      ["train.epochs=2"])
    assert plan.name == "exp-sweep" and len(plan.points) == 4
    assert all(p.exp.train.epochs == 2 for p in plan.points)
    assert load_spec(tmp_path / "exp.yaml", ["seed=1,2"], name="mine").name == "mine"


def test_edited_spec_fragment_in_sweep_yaml_runs_the_same_points(tmp_path):
    spec = write_spec(tmp_path, {"name": "s", "grid": {"seed": [1, 2]}, "repeats": 2})
    out = tmp_path / "results"
    assert sweep(spec, "--results", out, "-j", "1").exit_code == 0
    again = load_spec(out / "sweeps" / "s" / "sweep.yaml")
    assert [p.rid for p in again.points] == [p.rid for p in load_spec(spec).points]


# ---- validation ---------------------------------------------------------------------------------


def test_bad_point_stops_the_sweep_before_training_naming_it(tmp_path):
    write_spec(tmp_path, {"grid": {"seed": [0]}})  # writes base.yaml
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\nbase: base.yaml\ngrid:\n  model.hidden: [[4], [8], [0]]\n"
                    "  regularization.l2:\n    - 0\n    - 0.01\n")
    r = sweep(spec, "--results", tmp_path / "results")
    assert r.exit_code == 2, r.output
    assert f"{spec}:4: grid.model.hidden[2]: hidden widths must be >= 1, found 0" in r.output
    assert "point 5 of 6: model.hidden=[0], regularization.l2=0; 2 points in all" in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "results" / "runs").exists()


@pytest.mark.parametrize("spec, message", [
    ({"grid": {"seed": [1]}, "gird": 1}, "spec.yaml:4: gird: unknown key (did you mean 'grid'?)"),
    ({"grid": {}}, "spec.yaml:2: grid: empty"),
    ({"grid": {"seed": 3}}, "grid.seed: expected a non-empty list of values, found 3"),
    ({"random": {"samples": 2, "params": {"optimizer.lr": {"dist": "logunifrom", "low": 1, "high": 2}}}},
     "unknown dist 'logunifrom' (did you mean 'loguniform'?)"),
    ({"random": {"samples": 2, "params": {"optimizer.lr": {"dist": "uniform", "low": 2, "high": 1}}}},
     "low must be below high"),
    ({"base": "nowhere.yaml", "grid": {"seed": [1]}}, "spec.yaml:1: base: base config 'nowhere.yaml' not found"),
    ({"base": {"model": {"activation": "rleu"}}, "grid": {"seed": [1]}}, "'rleu' is not valid"),
])
def test_spec_errors_are_one_clear_message(tmp_path, spec, message):
    path = write_spec(tmp_path, spec)
    r = sweep(path, "--results", tmp_path / "results")
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_inline_grid_error_names_the_option(tmp_path):
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(BASE))
    r = sweep(tmp_path / "exp.yaml", "--grid", "model.activation=relu,tanhh", "--results", tmp_path / "r")
    assert r.exit_code == 2
    assert "--grid: model.activation[1]: 'tanhh' is not valid" in r.output
    r = sweep(tmp_path / "exp.yaml", "--results", tmp_path / "r")
    assert r.exit_code == 2 and "give --grid" in r.output


def test_an_inline_grid_value_nested_too_deeply_is_one_message(tmp_path):
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(BASE))
    r = sweep(tmp_path / "exp.yaml", "--grid", "seed=" + "[" * 3000 + "]" * 3000, "--results", tmp_path / "r")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.stderr.startswith("error: --grid: seed: cannot parse value '[[[[") and "nested too deeply" in r.stderr


def test_a_misspelt_swept_key_is_one_message_for_all_points(tmp_path):
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(BASE))
    r = sweep(tmp_path / "exp.yaml", "--grid", "model.hiden=[8],[16],[32]", "--results", tmp_path / "r")
    assert r.exit_code == 2
    [line] = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert line.startswith("error: --grid: model.hiden: unknown key (did you mean 'hidden'?)")
    assert line.endswith("(all 3 points)")


def test_an_alias_bomb_in_a_spec_is_refused_at_its_line(tmp_path, monkeypatch):
    import dlexp.sweeps.spec

    monkeypatch.setattr(dlexp.sweeps.spec, "_expand", lambda *a, **k: pytest.fail("the points were made"))
    write_spec(tmp_path, {"grid": {"seed": [0]}})  # writes base.yaml
    lol = "".join(f"  {a}: &{a} [{', '.join([f'*{b}'] * 9)}]\n" for b, a in zip("abcde", "bcdef"))
    spec = tmp_path / "bomb.yaml"
    spec.write_text("name: bomb\nbase: base.yaml\ngrid:\n  a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + lol)
    r = sweep(spec, "--results", tmp_path / "results")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.stderr == (f"error: {spec}:9: grid.f: aliases (*…) expand this value to more than 100,000 values; "
                        "dlexp reads at most 100,000 from one YAML document\n")


def test_a_grid_key_given_twice_names_both_lines(tmp_path):
    write_spec(tmp_path, {"grid": {"seed": [0]}})
    spec = tmp_path / "twice.yaml"
    spec.write_text("name: twice\nbase: base.yaml\ngrid:\n  seed: [0, 1]\n  model.hidden: [[4]]\n  seed: [2]\n")
    r = sweep(spec, "--results", tmp_path / "results")
    assert r.exit_code == 2 and r.stderr == f"error: {spec}:6: grid.seed: duplicate key (first at line 4)\n"
    # the nested and the dotted form of one key are one key too
    spec.write_text("name: twice\nbase: base.yaml\ngrid:\n  model:\n    hidden: [[4]]\n  model.hidden: [[8]]\n")
    r = sweep(spec, "--results", tmp_path / "results")
    assert r.exit_code == 2 and r.stderr == f"error: {spec}:6: grid.model.hidden: duplicate key (first at line 5)\n"


@pytest.mark.parametrize("spec, message", [
    ({"grid": {f"regularization.l{k}": list(range(1000)) for k in (1, 2)} | {"seed": list(range(1000))}},
     "spec.yaml:3: grid: 1000 × 1000 × 1000 grid values = 1,000,000,000 points, more than the 100,000 a sweep may "
     "have; split it into several sweeps, or draw some of its points with random:"),
    ({"grid": {"seed": [0, 1]}, "random": {"samples": 10**9, "params": {"optimizer.lr": {"dist": "uniform", "low": 0,
                                                                                             "high": 1}}}},
     "spec.yaml:6: random.samples: 2 grid values × 1000000000 random samples = 2,000,000,000 points, more than "
     "the 100,000 a sweep may have; draw fewer samples"),
])
def test_a_sweep_of_too_many_points_is_refused_before_any_is_made(tmp_path, monkeypatch, spec, message):
    import dlexp.sweeps.spec

    for name in ("_expand", "random_samples"):
        monkeypatch.setattr(dlexp.sweeps.spec, name, lambda *a, **k: pytest.fail("the points were made"))
    r = sweep(write_spec(tmp_path, {"name": "huge", **spec}), "--results", tmp_path / "results")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.stderr == f"error: {tmp_path / message}\n"


def test_a_sweep_name_with_two_dots_is_refused(tmp_path):
    spec = write_spec(tmp_path, {"name": "a..b", "grid": {"seed": [0]}})
    r = sweep(spec, "--results", tmp_path / "results")
    assert r.exit_code == 2 and f"{spec}:2: name: 'a..b' cannot name a folder" in r.stderr, r.output
    r = sweep(write_spec(tmp_path, {"name": "ok", "grid": {"seed": [0]}}), "--name", "..x", "--results", tmp_path / "r")
    assert r.exit_code == 2 and "--name: name: '..x' cannot name a folder" in r.stderr, r.output
    r = sweep(write_spec(tmp_path, {"name": "ok", "grid": {"seed": [0]}}), "--name", "x..", "--results", tmp_path / "r")
    assert r.exit_code == 2 and "no '..'" in r.stderr, r.output
    assert not (tmp_path / "results").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("spec, message", [
    ({"grid": {"seed": [0]}, "seeds": [1, 2**32]}, "spec.yaml:5: seeds.1: input should be less than 4294967296"),
    ({"random": {"samples": 1, "seed": 2**32, "params": {"optimizer.lr": {"dist": "uniform", "low": 0, "high": 1}}}},
     "spec.yaml:5: random.seed: expected an integer seed, 0 <= seed < 2**32, found 4294967296"),
    ({"random": {"samples": 1, "params": {"optimizer.lr": {"dist": "uniform", "low": 0, "high": float("inf")}}}},
     "random.params.optimizer.lr: uniform needs finite numeric low and high, found low=0, high=inf"),
    ({"grid": {"data.noise": [0.1, float("nan")]}}, "spec.yaml:4: grid.data.noise[1]: input should be a finite number"),
])
def test_seeds_and_numbers_of_a_spec_are_checked(tmp_path, spec, message):
    r = sweep(write_spec(tmp_path, {"name": "s", **spec}), "--results", tmp_path / "results")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert message in r.stderr, r.stderr


def test_a_malformed_csv_is_bad_input_found_before_anything_trains(tmp_path, monkeypatch):
    import dlexp.sweeps.spec
    import dlexp.training.experiment

    (tmp_path / "d.csv").write_text("a,b,y\n1,2,0\n3,x,1\n5,6,0\n7,8,1\n")
    base = {**BASE, "data": {"name": "csv", "path": "d.csv", "target": "y"}}
    spec = write_spec(tmp_path, {"name": "csv", "grid": {"model.hidden": [[4], [8], [16]]}}, base=base)
    loads = []
    real = dlexp.sweeps.spec.load_dataset
    monkeypatch.setattr(dlexp.sweeps.spec, "load_dataset", lambda *a: loads.append(a) or real(*a))
    monkeypatch.setattr(dlexp.training.experiment, "fit", lambda *a, **k: pytest.fail("a point was trained"))
    r = sweep(spec, "--results", tmp_path / "results", "-j", "1")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.stderr == (f"error: {tmp_path / 'd.csv'}:3: data.path: column 'b': 'x' is not a number, while 3 of its "
                        "cells are: correct it, add it to data.na_values to read it as missing, or list 'b' in "
                        "data.categorical\n")
    assert len(loads) == 1  # one data section for the three points: loaded once
    assert not (tmp_path / "results").exists()


def test_a_split_a_point_cannot_hold_is_placed_at_its_grid_value(tmp_path):
    spec = write_spec(tmp_path, {"name": "split", "grid": {"data.train_size": [0.5, 0.7]}})
    r = sweep(spec, "--results", tmp_path / "results", "--dry-run")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.stderr == (f"error: {spec}:4: grid.data.train_size[1]: 0.7 train + 0.2 val + 0.2 test = 1.1 of the "
                        "data; fractions must sum to at most 1 (point 2 of 2: data.train_size=0.7)\n")


# ---- results, resume ----------------------------------------------------------------------------


def test_result_files(tmp_path):
    from dlexp.results.reader import Sweep

    spec = write_spec(tmp_path, {"name": "files", "grid": {"model.hidden": [[4], [8, 8]]}})
    out = tmp_path / "results"
    r = sweep(spec, "--results", out, "-j", "1")
    assert r.exit_code == 0, r.output
    folder = out / "sweeps" / "files"
    assert r.stdout.strip() == str(folder)
    assert yaml.safe_load((folder / "sweep.yaml").read_text())["grid"] == {"model.hidden": [[4], [8, 8]]}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["name"] == "files" and manifest["swept"] == ["model.hidden"]
    assert [p["point"] for p in manifest["points"]] == [{"model.hidden": [4]}, {"model.hidden": [8, 8]}]
    assert all(p["status"] == "completed" and (out / "runs" / p["run_id"] / "model.npz").exists()
               for p in manifest["points"])
    rows = summary_rows(out, "files", drop=())
    assert list(rows[0])[:3] == ["model.hidden", "run_id", "status"]
    assert [r["model.hidden"] for r in rows] == ["[4]", "[8, 8]"]
    for col in ("epochs_run", "best_epoch", "stopped_early", "train_loss", "val_loss", "test_loss", "train_acc",
                "val_acc", "test_acc", "gap", "metric_gap", "n_params", "wall_time", "weights.near_zero_fraction"):
        assert col in rows[0]
    assert rows[0]["epochs_run"] == "3" and rows[0]["stopped_early"] == "false"
    loaded = Sweep.load(folder)
    assert [run.point for run in loaded.runs] == [{"model.hidden": [4]}, {"model.hidden": [8, 8]}]


def test_repeats_give_std_columns(tmp_path):
    spec = write_spec(tmp_path, {"name": "rep", "grid": {"regularization.l2": [0.0, 0.01]}, "repeats": 2})
    out = tmp_path / "results"
    assert sweep(spec, "--results", out, "-j", "1").exit_code == 0
    row = summary_rows(out, "rep")[0]
    assert {"val_loss_std", "train_acc_std", "n_members"} <= set(row)
    assert row["n_members"] == "2"


def test_resume_skips_done_runs_and_edited_spec_keeps_unchanged_points(tmp_path):
    out = tmp_path / "results"
    spec = write_spec(tmp_path, {"name": "res", "grid": {"model.hidden": [[4], [8], [16]]}})
    assert sweep(spec, "--results", out, "-j", "1").exit_code == 0
    before = mtimes(out)
    assert len(before) == 3
    r = sweep(spec, "--results", out, "-j", "1")
    assert r.exit_code == 0 and "all 3" not in r.output
    assert "3 of 3 runs already done; training 0" in r.output
    assert mtimes(out) == before
    spec = write_spec(tmp_path, {"name": "res", "grid": {"model.hidden": [[4], [8], [16], [32]]}})
    r = sweep(spec, "--results", out, "-j", "1")
    assert "3 of 4 runs already done; training 1" in r.output
    after = mtimes(out)
    assert len(after) == 4 and all(after[k] == v for k, v in before.items())
    # another sweep sharing two points trains only the new one
    other = write_spec(tmp_path, {"name": "other", "grid": {"model.hidden": [[8], [16], [2]]}}, "other.yaml")
    r = sweep(other, "--results", out, "-j", "1")
    assert "2 of 3 runs already done; training 1" in r.output
    # a damaged run counts as not done
    victim = sorted(before)[0]
    (out / "runs" / victim / "metrics.csv").write_text("epoch,train_loss\n1,2,3\n")
    r = sweep(spec, "--results", out, "-j", "1")
    assert "3 of 4 runs already done; training 1 (1 damaged, trained again)" in r.output
    assert mtimes(out)[victim] != before[victim]


def test_identical_points_train_once(tmp_path):
    spec = write_spec(tmp_path, {"name": "dup", "grid": {"model.dropout": [0.0, 0, {"rate": 0.0}]}})
    out = tmp_path / "results"
    r = sweep(spec, "--results", out, "-j", "1")
    assert r.exit_code == 0 and "training 1 run (3 points)" in r.output
    assert len(summary_rows(out, "dup")) == 3 and len(mtimes(out)) == 1


# ---- failures -----------------------------------------------------------------------------------


def test_failure_isolation_and_retry_failed(tmp_path, monkeypatch):
    import dlexp.training.experiment

    real = dlexp.training.experiment.execute

    def flaky(exp, *a, **kw):
        if exp.model.hidden == [8]:
            raise RuntimeError("boom in the trainer")
        return real(exp, *a, **kw)

    monkeypatch.setattr(dlexp.training.experiment, "execute", flaky)
    spec = write_spec(tmp_path, {"name": "iso", "grid": {"model.hidden": [[4], [8], [16]]}})
    out = tmp_path / "results"
    r = sweep(spec, "--results", out, "-j", "1")
    assert r.exit_code == 1, r.output
    assert "model.hidden=[8]" in r.output and "RuntimeError: boom in the trainer" in r.output
    rows = summary_rows(out, "iso")
    assert [row["status"] for row in rows] == ["completed", "failed", "completed"]
    failed = out / "runs" / rows[1]["run_id"]
    assert "boom in the trainer" in (failed / "traceback.txt").read_text()
    assert "Traceback (most recent call last)" in (failed / "traceback.txt").read_text()
    # failed runs are not retried without --retry-failed
    r = sweep(spec, "--results", out, "-j", "1")
    assert r.exit_code == 1 and "2 of 3 runs already done; training 0; 1 failed before" in r.output
    monkeypatch.setattr(dlexp.training.experiment, "execute", real)
    r = sweep(spec, "--results", out, "-j", "1", "--retry-failed")
    assert r.exit_code == 0 and "training 1" in r.output
    assert [row["status"] for row in summary_rows(out, "iso")] == ["completed"] * 3


def test_data_error_in_a_point_fails_that_run_only(tmp_path):
    # 100 folds of 96 train+val rows cannot be built: a DataError, raised in a pool worker
    spec = write_spec(tmp_path, {"name": "data", "grid": {"eval.cv": [None, 100], "model.hidden": [[4]]}})
    out = tmp_path / "results"
    r = sweep(spec, "--results", out, "-j", "2")
    assert r.exit_code == 1, r.output
    rows = summary_rows(out, "data")
    assert [row["status"] for row in rows] == ["completed", "failed"]
    assert "folds need 2 <= k <= 96" in rows[1]["error"]
    assert rows[1]["error"].startswith(f"{spec}:4: eval.cv: 100 folds need")  # the spec line of the value 100
    assert "folds need" in (out / "runs" / rows[1]["run_id"] / "traceback.txt").read_text()


def test_killed_worker_is_retried_then_failed(tmp_path, monkeypatch):
    spec = write_spec(tmp_path, {"name": "crash", "grid": {"model.hidden": [[4], [8], [16]]}})
    victim = load_spec(spec).points[1].rid
    monkeypatch.setenv("DLEXP_TEST_CRASH_RUN", victim)
    out = tmp_path / "results"
    r = sweep(spec, "--results", out, "-j", "2", "--max-crash-retries", "1")
    assert r.exit_code == 1, r.output
    rows = summary_rows(out, "crash")
    assert [row["status"] for row in rows] == ["completed", "failed", "completed"]
    assert "worker process died 2 times" in rows[1]["error"]
    monkeypatch.delenv("DLEXP_TEST_CRASH_RUN")
    assert sweep(spec, "--results", out, "-j", "2", "--retry-failed").exit_code == 0


def test_the_pool_preloads_only_the_modules_some_run_needs(tmp_path):
    """Importing scikit-learn (or mnist1d) costs a pool's forkserver ~1.5 s: only when a run uses it."""
    from dlexp.sweeps.executors import Task
    from dlexp.sweeps.sweep import _preloads

    def needs(grid):
        plan = load_spec(write_spec(tmp_path, {"name": "pre", "grid": grid}))
        return _preloads([Task(p.rid, p.exp) for p in plan.points])

    assert needs({"model.hidden": [[4], [8]]}) == []  # moons: drawn with NumPy
    assert needs({"data.name": ["moons", "iris"]}) == ["sklearn.datasets"]
    mnist1d = load_spec(write_spec(tmp_path, {"name": "m", "grid": {"seed": [0, 1]}}, base={"data": {"name": "mnist1d"}}))
    assert _preloads([Task(p.rid, p.exp) for p in mnist1d.points]) == ["mnist1d.data"]
    assert needs({"data.poly_degree": [1, 3]}) == ["sklearn.preprocessing"]
    assert needs({"eval.cv": [3]}) == ["sklearn.model_selection"]


def test_a_cancelled_pool_has_no_manager_thread_left_for_the_exit_hook(tmp_path):
    """Ctrl-C: shutdown(cancel=True) kills the workers and returns only once the pool's manager
    thread has ended, so concurrent.futures' exit hook finds its wake-up pipe closed, not closing
    (a race that ended an interrupted sweep with "OSError: Bad file descriptor")."""
    from dlexp.sweeps.executors import PoolExecutor, Task

    plan = load_spec(write_spec(tmp_path, {"name": "cancel", "grid": {"seed": [0, 1]}},
                                base={"train": {"epochs": 100_000}}))  # runs that will not end by themselves
    ex = PoolExecutor(2)
    for p in plan.points:
        ex.submit(Task(p.rid, p.exp))
    manager, workers = ex.pool._executor_manager_thread, list(ex.pool._processes.values())
    assert manager.is_alive() and len(workers) == 2
    ex.shutdown(cancel=True)
    assert not manager.is_alive()
    assert all(w.exitcode is not None for w in workers)  # killed, not left to train


def test_jobs_1_and_2_give_the_same_summary(tmp_path):
    spec = write_spec(tmp_path, {"name": "det", "grid": {"model.hidden": [[4], [8]], "seed": [0, 1]}})
    assert sweep(spec, "--results", tmp_path / "a", "-j", "1").exit_code == 0
    assert sweep(spec, "--results", tmp_path / "b", "-j", "2").exit_code == 0
    assert summary_rows(tmp_path / "a", "det") == summary_rows(tmp_path / "b", "det")


# ---- locks --------------------------------------------------------------------------------------


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_lock_is_taken_over(tmp_path):
    from dlexp.results.locks import HOST, RunLock

    spec = write_spec(tmp_path, {"name": "stale", "grid": {"model.hidden": [[4]]}})
    rid = load_spec(spec).points[0].rid
    out = tmp_path / "results"
    lock = out / "runs" / ".locks" / f"{rid}.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": dead_pid(), "host": HOST, "started": time.time() - 5}))
    assert not RunLock(out, rid).is_locked()
    r = sweep(spec, "--results", out, "-j", "1")
    assert r.exit_code == 0 and "training 1" in r.output
    assert not lock.exists()


def test_stale_lock_on_a_finished_run_is_cleared(tmp_path):
    """A process killed between publishing a run and releasing its lock leaves a lock file on a
    done run; the next sweep clears it, but keeps a lock that a live process holds."""
    from dlexp.results.locks import HOST

    spec = write_spec(tmp_path, {"name": "leftover", "grid": {"model.hidden": [[4]]}})
    out = tmp_path / "results"
    assert sweep(spec, "--results", out, "-j", "1").exit_code == 0
    rid = load_spec(spec).points[0].rid
    locks = out / "runs" / ".locks"
    stale, live = locks / f"{rid}.lock", locks / "0123456789ab.lock"
    stale.write_text(json.dumps({"pid": dead_pid(), "host": HOST, "started": time.time() - 5}))
    holder = Holder(out, "0123456789ab")
    try:
        assert holder.said == "held"
        r = sweep(spec, "--results", out, "-j", "1")
        assert r.exit_code == 0 and "1 of 1 run already done" in r.output
        assert not stale.exists() and live.exists()
    finally:
        holder.release()


def test_a_run_left_moved_aside_by_a_killed_process_is_put_back(tmp_path):
    """A process killed between the two renames of publishing (--force over a finished run) leaves
    that run moved aside: the next sweep restores it instead of training it again."""
    spec = write_spec(tmp_path, {"name": "aside", "grid": {"model.hidden": [[4]]}})
    out = tmp_path / "results"
    assert sweep(spec, "--results", out, "-j", "1").exit_code == 0
    rid = load_spec(spec).points[0].rid
    runs = out / "runs"
    before = (runs / rid / "summary.json").read_bytes()
    os.replace(runs / rid, runs / f".old-{rid}-12345")
    (runs / f".stage-{rid}-x1y2").mkdir()  # and its half-written successor
    r = sweep(spec, "--results", out, "-j", "1", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["trained"] == 0
    assert (runs / rid / "summary.json").read_bytes() == before
    assert sorted(p.name for p in runs.iterdir()) == [".locks", rid]


def test_live_lock_is_respected_and_its_result_read(tmp_path, monkeypatch):
    """A run locked by a live process is not trained: the sweep waits, then takes its result.

    The other process publishes the run and lets go of its lock at the moment the sweep says it
    waits (from the sweep's own call that names the holder): a fixed point, not a time."""
    import dlexp.sweeps.sweep as sweep_module
    from dlexp.config.load import resolved_dict
    from dlexp.config.yamlfile import dump_yaml
    from dlexp.training.experiment import execute
    from dlexp.results.store import write_run

    spec = write_spec(tmp_path, {"name": "live", "grid": {"model.hidden": [[4], [8]]}})
    point = load_spec(spec).points[1]
    out = tmp_path / "results"
    holder = Holder(out, point.rid)
    assert holder.said == "held"
    real_describe, waited = sweep_module.describe, []

    def the_other_process_finishes(info):
        waited.append(info)
        output = execute(point.exp)
        output.summary["name"] = "trained elsewhere"
        write_run(out, point.rid, output, dump_yaml(resolved_dict(point.exp)))
        holder.release()
        return real_describe(info)

    monkeypatch.setattr(sweep_module, "describe", the_other_process_finishes)
    try:
        r = sweep(spec, "--results", out, "-j", "1")
    finally:
        holder.proc.kill()
    assert r.exit_code == 0, r.output
    assert waited and waited[0]["pid"] == holder.proc.pid
    assert f"waiting for 1 run that pid {holder.proc.pid}" in r.output
    summary = json.loads((out / "runs" / point.rid / "summary.json").read_text())
    assert summary["name"] == "trained elsewhere"
    assert [row["status"] for row in summary_rows(out, "live")] == ["completed", "completed"]


def test_dlexp_run_waits_for_a_live_lock(tmp_path, monkeypatch):
    """`dlexp run` of a run another process holds waits for it (the holder lets go when told that
    the run waits), then trains it itself, and leaves no lock behind."""
    import dlexp.sweeps.run as run_module
    from dlexp.config.load import load_config, run_id

    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(BASE))
    out = tmp_path / "results"
    rid = run_id(load_config(cfg))
    holder = Holder(out, rid)
    assert holder.said == "held"
    real_describe = run_module.describe

    def let_go(info):
        holder.release()
        return real_describe(info)

    monkeypatch.setattr(run_module, "describe", let_go)
    try:
        r = CliRunner().invoke(main, ["run", str(cfg), "--results", str(out), "-q"])
    finally:
        holder.proc.kill()
    assert r.exit_code == 0, r.output
    assert f"waiting for pid {holder.proc.pid}" in r.output and "reusing" not in r.output
    assert (out / "runs" / rid / "summary.json").is_file()
    assert not list((out / "runs" / ".locks").iterdir())


def test_dry_run_json_name_and_set(tmp_path):
    spec = write_spec(tmp_path, {"name": "dry", "grid": {"seed": [1, 2]}})
    out = tmp_path / "results"
    r = sweep(spec, "--results", out, "--dry-run")
    assert r.exit_code == 0 and not (out / "runs").exists()
    assert [line.split()[1:] for line in r.stdout.splitlines()] == [["pending", "seed=1"], ["pending", "seed=2"]]
    r = sweep(spec, "--results", out, "-j", "1", "--json", "--name", "renamed", "--set", "train.epochs=2")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["name"] == "renamed" and result["counts"] == {"completed": 2}
    assert [row["epochs_run"] for row in result["rows"]] == [2, 2]
    assert (out / "sweeps" / "renamed" / "summary.csv").exists()
    r = sweep(spec, "--results", out, "--dry-run", "--set", "train.epochs=2")
    assert all(line.split()[1] == "completed" for line in r.stdout.splitlines())
    r = sweep(spec, "--results", out, "-j", "1", "--name", "renamed")
    assert "the spec changed since the last run" in r.output


def test_grid_option_replaces_a_spec_axis_in_place(tmp_path):
    spec = write_spec(tmp_path, {"grid": {"model.hidden": [[4]], "seed": [0, 1]}})
    plan = load_spec(spec, ["model.hidden=[2],[3]", "regularization.l2=0,0.1"])
    assert plan.swept == ["model.hidden", "seed", "regularization.l2"]
    assert len(plan.points) == 8 and plan.points[0].values == {"model.hidden": [2], "seed": 0,
                                                               "regularization.l2": 0}
