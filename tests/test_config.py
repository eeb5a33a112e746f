"""Config loading and validation: defaults, extends, overrides, and located error messages."""

import json
import os
from pathlib import Path

import pytest
import yaml

from dlexp.config.load import load_config, resolved_dict, run_id
from dlexp.errors import ConfigError
from dlexp.config.schema import config_schema
from dlexp.config.yamlfile import dump_yaml, parse_overrides, set_dotted

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text, name="exp.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def problems(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return [str(p) for p in info.value.problems]


def test_defaults_are_filled(tmp_path):
    exp = load_config(write(tmp_path, "name: x\n"))
    d = resolved_dict(exp)
    assert d["model"]["hidden"] == [64, 64]
    assert d["optimizer"]["name"] == "adam"
    # the chosen optimizer's torch defaults are filled in, the others' keys are absent
    assert d["optimizer"]["lr"] == 1e-3 and d["optimizer"]["betas"] == [0.9, 0.999]
    assert "momentum" not in d["optimizer"]
    assert d["train"]["early_stopping"] is None
    assert d["model"]["dropout"] == {"rate": 0.0, "mode": "inverted"}


@pytest.mark.parametrize("name,lr", [("sgd", 1e-3), ("adagrad", 1e-2), ("adadelta", 1.0), ("rmsprop", 1e-2)])
def test_optimizer_default_lr_is_torchs(tmp_path, name, lr):
    exp = load_config(write(tmp_path, f"optimizer: {{name: {name}}}\n"))
    assert exp.optimizer.lr == lr


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    p = write(tmp_path, "name: x\nmodel:\n  hidden: [8]\n  activaton: relu\n")
    msgs = problems(p)
    assert len(msgs) == 1
    assert msgs[0].startswith(f"{p}:4: model.activaton: unknown key (did you mean 'activation'?)")


def test_every_problem_is_reported_at_once(tmp_path):
    p = write(tmp_path, "data:\n  name: moonz\nmodel:\n  activation: relux\ntrain:\n  epochs: 0\n  batch_size: ful\n")
    msgs = problems(p)
    joined = "\n".join(msgs)
    assert len(msgs) == 4
    assert f"{p}:2: data.name: 'moonz' is not valid" in joined and "did you mean 'moons'" in joined
    assert f"{p}:4: model.activation: 'relux' is not valid" in joined and "did you mean 'relu'" in joined
    assert f"{p}:6: train.epochs:" in joined and "found 0" in joined
    assert f"{p}:7: train.batch_size: expected a positive integer or 'full', found 'ful'" in joined


def test_wrong_type_and_out_of_range(tmp_path):
    msgs = problems(write(tmp_path, "model:\n  hidden: eight\nregularization:\n  l2: -1\n"))
    joined = "\n".join(msgs)
    assert ":2: model.hidden:" in joined and "'eight'" in joined
    assert ":4: regularization.l2:" in joined and "greater than or equal to 0" in joined


def test_optimizer_hyperparameter_of_another_optimizer(tmp_path):
    msgs = problems(write(tmp_path, "optimizer:\n  name: sgd\n  betas: [0.9, 0.99]\n"))
    assert msgs == [f"{tmp_path / 'exp.yaml'}:3: optimizer.betas: not a parameter of sgd; "
                    "sgd takes: lr, momentum, dampening, weight_decay, nesterov"]


def test_optimizer_constructor_checks_become_config_errors(tmp_path):
    msgs = problems(write(tmp_path, "optimizer:\n  name: sgd\n  nesterov: true\n"))
    assert "nesterov" in msgs[0]


def test_bad_schedule_name_suggests(tmp_path):
    msgs = problems(write(tmp_path, "optimizer:\n  schedule: {name: stepp, step_size: 3}\n"))
    assert "optimizer.schedule: 'stepp' is not a schedule" in msgs[0] and "did you mean 'step'" in msgs[0]


def test_cross_checks(tmp_path):
    msgs = problems(write(tmp_path, "model:\n  hidden: [8, 8]\n  dropout: [0.5]\n  norm: batchnorm\n"
                                    "train:\n  batch_size: 1\n"))
    joined = "\n".join(msgs)
    assert ":3: model.dropout: 1 rates given for 2 hidden layers" in joined
    assert ":6: train.batch_size: batchnorm needs more than one sample" in joined


def test_dropout_forms(tmp_path):
    assert load_config(write(tmp_path, "model: {dropout: 0.3}\n")).model.dropout_rates() == [0.3, 0.3]
    exp = load_config(write(tmp_path, "model: {hidden: [4, 4], dropout: [0.1, 0.2]}\n"))
    assert exp.model.dropout_rates() == [0.1, 0.2]
    exp = load_config(write(tmp_path, "model: {dropout: {rate: 0.5, mode: classic}}\n"))
    assert exp.model.dropout.mode == "classic" and exp.model.dropout_rates() == [0.5, 0.5]
    assert "a dropout rate must lie in [0, 1)" in problems(write(tmp_path, "model: {dropout: 1.0}\n"))[0]


def test_extends_merges_relative_to_file(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path, "model:\n  hidden: [8]\n  activation: tanh\ntrain: {epochs: 7}\n", "base.yaml")
    child = write(tmp_path, "extends: ../base.yaml\nmodel:\n  hidden: [16, 16]\n", "sub/child.yaml")
    exp = load_config(child)
    assert exp.model.hidden == [16, 16] and exp.model.activation == "tanh" and exp.train.epochs == 7


def test_missing_extends_file(tmp_path):
    msgs = problems(write(tmp_path, "name: x\nextends: nowhere.yaml\n"))
    assert msgs[0].startswith(f"{tmp_path / 'exp.yaml'}:2: extends: base config") and "not found" in msgs[0]


def test_error_in_base_points_at_the_base_file(tmp_path):
    base = write(tmp_path, "train:\n  epochz: 3\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\n", "child.yaml")
    msgs = problems(child)
    assert msgs[0].startswith(f"{base}:2: train.epochz: unknown key (did you mean 'epochs'?)")


def test_overrides(tmp_path):
    p = write(tmp_path, "model: {hidden: [8]}\n")
    exp = load_config(p, ["model.hidden=[4, 4]", "regularization.l2=1e-3", "train.batch_size=full"])
    assert exp.model.hidden == [4, 4] and exp.regularization.l2 == 1e-3 and exp.train.batch_size == "full"
    # a scalar dropout can be refined by a nested override
    exp = load_config(write(tmp_path, "model: {dropout: 0.3}\n", "d.yaml"), ["model.dropout.mode=classic"])
    assert exp.model.dropout.mode == "classic" and exp.model.dropout.rate == 0.3


def test_bad_override(tmp_path):
    p = write(tmp_path, "name: x\n")
    assert problems(p, ["model.hiddn=[4]"])[0].startswith("--set: model.hiddn: unknown key (did you mean 'hidden'?)")
    assert "expected KEY=VALUE" in problems(p, ["model.hidden"])[0]
    assert "cannot parse value" in problems(p, ["model.hidden=[4"])[0]


def test_invalid_yaml_and_not_a_mapping(tmp_path):
    assert "invalid YAML" in problems(write(tmp_path, "model: [\n"))[0]
    assert "must be a mapping" in problems(write(tmp_path, "- 1\n- 2\n"))[0]
    assert problems(tmp_path / "absent.yaml")[0].endswith("absent.yaml: file not found")


def test_yaml_is_loaded_safely(tmp_path):
    p = write(tmp_path, "name: !!python/object/apply:os.system ['echo hacked']\n")
    assert "invalid YAML" in problems(p)[0]


def test_paths_resolve_relative_to_config(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.csv").write_text("a,y\n1,0\n")
    exp = load_config(write(tmp_path, "data: {name: csv, path: d/x.csv, target: y}\n"))
    assert Path(exp.data.path) == (tmp_path / "d" / "x.csv").resolve()


def test_run_id_ignores_name_and_tracks_content(tmp_path):
    a = load_config(write(tmp_path, "name: a\nmodel: {hidden: [8]}\n", "a.yaml"))
    b = load_config(write(tmp_path, "name: b\nmodel: {hidden: [8]}\n", "b.yaml"))
    c = load_config(write(tmp_path, "name: a\nmodel: {hidden: [9]}\n", "c.yaml"))
    assert run_id(a) == run_id(b) != run_id(c)
    # explicit defaults hash like omitted ones
    d = load_config(write(tmp_path, "model: {hidden: [8], activation: relu}\noptimizer: {lr: 0.001}\n", "d.yaml"))
    assert run_id(d) == run_id(a)


def test_run_id_follows_data_file_contents(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("a,y\n1,0\n2,1\n")
    cfg = write(tmp_path, "data: {name: csv, path: x.csv, target: y}\n")
    first = run_id(load_config(cfg))
    csv.write_text("a,y\n1,0\n3,1\n")
    assert run_id(load_config(cfg)) != first


def test_run_id_follows_every_named_data_file(tmp_path):
    (tmp_path / "x.csv").write_text("a,y\n1,0\n2,1\n")
    (tmp_path / "v.csv").write_text("a,y\n4,0\n5,1\n")
    plain = write(tmp_path, "data: {name: csv, path: x.csv, target: y}\n", "plain.yaml")
    with_val = write(tmp_path, "data: {name: csv, path: x.csv, val_path: v.csv, target: y}\n", "val.yaml")
    first, before = run_id(load_config(plain)), run_id(load_config(with_val))
    assert before != first
    (tmp_path / "v.csv").write_text("a,y\n4,0\n6,1\n")
    assert run_id(load_config(with_val)) != before
    assert run_id(load_config(plain)) == first


def test_resolved_config_round_trips(tmp_path):
    exp = load_config(ROOT / "configs" / "quickstart.yaml")
    text = dump_yaml(resolved_dict(exp))
    again = load_config(write(tmp_path, text, "resolved.yaml"))
    assert resolved_dict(again) == resolved_dict(exp)
    assert run_id(again) == run_id(exp)


def test_schema_lists_sections():
    schema = config_schema()
    json.dumps(schema)
    assert {"data", "model", "regularization", "optimizer", "train", "eval"} <= set(schema["properties"])


def test_parse_overrides_and_set_dotted():
    assert parse_overrides(["a.b=1", "c=[1, 2]", "d=full"]) == {"a.b": 1, "c": [1, 2], "d": "full"}
    d = {}
    set_dotted(d, "a.b.c", 3)
    assert d == {"a": {"b": {"c": 3}}}


def test_every_shipped_config_validates():
    paths = sorted((ROOT / "configs").rglob("*.yaml"))
    assert paths, "no configs found"
    for p in paths:
        data = yaml.safe_load(p.read_text())
        if isinstance(data, dict) and ("grid" in data or "random" in data or "base" in data):
            from dlexp.sweeps.spec import load_spec  # sweep specs validate every expanded point

            load_spec(p)
        else:
            load_config(p)


def test_the_run_id_of_a_config_is_stable_across_versions():
    """Run folders are named by run_id, so a changed hash would orphan every finished result:
    a key added in a later version stays out of the hash at its default (config.HASH_NEUTRAL).
    9519da3f9d43 is the id dlexp 0.1.0 gave the all-defaults config."""
    from dlexp.config.load import config_from_dict

    assert run_id(config_from_dict({"name": "any"})) == "9519da3f9d43"
    assert run_id(config_from_dict({"name": "any", "regularization": {"penalize_bias": False}})) == "9519da3f9d43"
    assert run_id(config_from_dict({"name": "any", "regularization": {"penalize_bias": True}})) != "9519da3f9d43"


# ---- input that YAML or pydantic would take silently ---------------------------------------------

BOMB = "".join(f"{a}: &{a} [{', '.join([f'*{b}'] * 9)}]\n" for b, a in zip("abcde", "bcdef"))
BOMB = "name: x\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + BOMB  # f: 9**6 values


def test_an_alias_bomb_is_refused_at_its_line(tmp_path):
    p = write(tmp_path, BOMB)
    assert problems(p) == [f"{p}:7: f: aliases (*…) expand this value to more than 100,000 values; dlexp reads "
                           "at most 100,000 from one YAML document"]


def test_aliases_within_the_bound_and_merge_keys_still_read(tmp_path):
    exp = load_config(write(tmp_path, "regularization: {l1: &z 0.001, l2: *z}\n"
                                      "train:\n  <<: {epochs: 3, batch_size: 8}\n  epochs: 5\n"))
    assert exp.regularization.l1 == exp.regularization.l2 == 0.001
    assert exp.train.epochs == 5 and exp.train.batch_size == 8  # a merged key may be overridden


def test_a_duplicate_key_names_both_lines(tmp_path):
    p = write(tmp_path, "name: x\nmodel:\n  hidden: [8]\n  activation: relu\n  hidden: [16]\n")
    assert problems(p) == [f"{p}:5: model.hidden: duplicate key (first at line 3)"]
    p = write(tmp_path, "seed: 1\nname: x\n'seed': 2\n", "top.yaml")  # quoting does not make another key
    assert problems(p) == [f"{p}:3: seed: duplicate key (first at line 1)"]


def test_a_duplicate_key_inside_a_set_value_is_an_error_and_the_last_set_wins(tmp_path):
    p = write(tmp_path, "name: x\n")
    assert problems(p, ["model={hidden: [4], hidden: [8]}"]) == [
        "--set: model.hidden: duplicate key in the value '{hidden: [4], hidden: [8]}'"]
    exp = load_config(p, ["train.epochs=2", "train={epochs: 5, batch_size: 4}", "train.epochs=3"])
    assert exp.train.epochs == 3 and exp.train.batch_size == 4


@pytest.mark.parametrize("text,key", [
    ("data: {noise: .inf}\n", "data.noise"),
    ("regularization: {l2: .nan}\n", "regularization.l2"),
    ("optimizer: {lr: .inf}\n", "optimizer.lr"),
    ("optimizer: {betas: [0.9, .inf]}\n", "optimizer.betas.1"),
    ("optimizer: {schedule: {name: exponential, gamma: .inf}}\n", "optimizer.schedule.gamma"),
    ("train: {divergence_threshold: .inf}\n", "train.divergence_threshold"),
])
def test_non_finite_floats_are_refused(tmp_path, text, key):
    p = write(tmp_path, text)
    [msg] = problems(p)
    assert msg.startswith(f"{p}:1: {key}: input should be a finite number"), msg


@pytest.mark.parametrize("text,key", [
    ("seed: 4294967296\n", "seed"),
    ("seeds: [0, 4294967296]\n", "seeds.1"),
    ("data: {seed: 4294967296}\n", "data.seed"),
    ("seed: 4294967295\nrepeats: 2\n", "seed"),  # its repeats would train under seed 2**32
    ("data: {seed: 4294967295}\nrepeats: 2\nrepeat_data: true\n", "data.seed"),
])
def test_seeds_at_or_above_2_to_the_32_are_refused(tmp_path, text, key):
    p = write(tmp_path, text)
    [msg] = problems(p)
    assert msg.startswith(f"{p}:1: {key}: ") and ("4294967296" in msg or "2**32" in msg), msg


def test_the_largest_seed_is_accepted(tmp_path):
    exp = load_config(write(tmp_path, "seed: 4294967295\ndata: {seed: 4294967295}\n"))
    assert exp.seed == exp.data.seed == 2**32 - 1


def test_betas_of_the_wrong_length_ask_for_two_numbers(tmp_path):
    p = write(tmp_path, "optimizer:\n  betas: [0.9]\n")
    assert problems(p) == [f"{p}:2: optimizer.betas: expected two numbers [beta1, beta2], found 1: [0.9]"]
    assert "found 3" in problems(write(tmp_path, "optimizer: {betas: [0.9, 0.99, 0.5]}\n", "three.yaml"))[0]


def test_a_misspelt_schedule_key_lists_that_schedules_keys(tmp_path):
    p = write(tmp_path, "optimizer:\n  schedule: {name: step, step_sise: 10}\n")
    assert f"{p}:2: optimizer.schedule.step_sise: unknown key (did you mean 'step_size'?); valid keys: name, " \
           "step_size, gamma" in problems(p)
    p = write(tmp_path, "optimizer:\n  schedule:\n    name: plateau\n    factr: 0.5\n", "plateau.yaml")
    assert problems(p) == [f"{p}:4: optimizer.schedule.factr: unknown key (did you mean 'factor'?); valid keys: "
                           "name, factor, patience, threshold, cooldown, min_lr"]


FRUIT = ROOT / "tests" / "data"


def csv_config(tmp_path, data: str, name="exp.yaml"):
    return write(tmp_path, f"data: {{name: csv, path: {FRUIT / 'fruit.csv'}, target: fruit{data}}}\n", name)


def test_csv_files_as_splits_resolve_train_size_to_every_row(tmp_path):
    val, test = f", val_path: {FRUIT / 'fruit_val.csv'}", f", test_path: {FRUIT / 'fruit_test.csv'}"
    for files in (val, val + test, test):
        exp = load_config(csv_config(tmp_path, files))
        assert resolved_dict(exp)["data"]["train_size"] is None  # config.yaml and --json show it
        again = load_config(write(tmp_path, dump_yaml(resolved_dict(exp)), "resolved.yaml"))
        assert run_id(again) == run_id(exp)
    assert load_config(csv_config(tmp_path, val + ", train_size: 0.6")).data.train_size == 0.6
    # one file is split as before: its run id is unchanged
    plain = load_config(csv_config(tmp_path, ""))
    assert plain.data.train_size == 0.6
    assert run_id(plain) == run_id(load_config(csv_config(tmp_path, ", train_size: 0.6", "b.yaml")))


def test_csv_header_and_target_index(tmp_path):
    exp = load_config(csv_config(tmp_path, ", header: false"), ["data.target=-1"])
    assert exp.data.target == -1 and exp.data.header is False
    p = write(tmp_path, f"data:\n  name: csv\n  path: {FRUIT / 'fruit.csv'}\n  target: 3\n")
    assert problems(p) == [f"{p}:4: data.target: 3 is a column index, which needs data.header: false (a file "
                           "without a header row); with a header row give the column's name"]
    assert "expected a column name" in problems(csv_config(tmp_path, ""), ["data.target=true"])[0]
    msgs = problems(write(tmp_path, "data:\n  name: moons\n  header: false\n"))
    assert msgs == [f"{tmp_path / 'exp.yaml'}:3: data.header: only used with data.name: csv (data.name is moons)"]
    # the new key stays out of the run id at its default
    from dlexp.config.load import config_from_dict

    assert run_id(config_from_dict({"name": "any", "data": {"header": True}})) == "9519da3f9d43"


def test_init_torch_is_a_valid_init(tmp_path):
    assert load_config(write(tmp_path, "model: {init: torch}\n")).model.init == "torch"
    msg = problems(write(tmp_path, "model: {init: torh}\n"))[0]
    assert "torch" in msg and "did you mean 'torch'" in msg


def test_paths_that_are_no_regular_files_are_refused_at_their_line(tmp_path):
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe.csv")  # the config only looks at it: no reader, no writer needed
    p = write(tmp_path, "data:\n  name: csv\n  path: folder\n  target: y\n  val_path: pipe.csv\n"
                        "  test_path: /dev/zero\nmodel:\n  init_from: folder\n")
    assert problems(p) == [
        f"{p}:3: data.path: {tmp_path / 'folder'} is a directory, not a regular file",
        f"{p}:5: data.val_path: {tmp_path / 'pipe.csv'} is a FIFO (named pipe), not a regular file",
        f"{p}:6: data.test_path: /dev/zero is a character device, not a regular file",
        f"{p}:8: model.init_from: {tmp_path / 'folder'} is a directory, not a regular file"]


def test_the_run_id_never_reads_a_fifo(tmp_path):
    """A config whose file became a FIFO after validation: its digest does not read it."""
    import re

    from dlexp.config.load import _file_digest
    from helpers import fed_fifo

    with fed_fifo(tmp_path / "pipe.csv"):
        assert not re.fullmatch(r"[0-9a-f]{16}", _file_digest(str(tmp_path / "pipe.csv")))


def test_every_schema_property_has_a_description():
    """What an editor shows beside each key as you type (`dlexp schema`)."""
    from dlexp.config.schema import config_schema

    schema = config_schema()
    sections = {"Experiment": schema, **schema["$defs"]}
    missing = [f"{name}.{key}" for name, section in sections.items()
               for key, prop in section.get("properties", {}).items() if not prop.get("description")]
    assert missing == []
    assert len(sections) > 10  # the nested sections are really there to check
