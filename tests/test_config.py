from __future__ import annotations

from pathlib import Path

import pytest

from serkit.config import (
    ConfigError,
    ExperimentConfig,
    from_dict,
    read_recipe,
)
from serkit.core.values import apply_overrides
from serkit.recipe import load_experiment

#: Runner recipes (``*.chain.yaml`` files drive ``serkit hubert chain`` and are checked in tests/hubert).
RECIPES = sorted(
    p
    for p in (Path(__file__).resolve().parents[1] / "recipes").rglob("*.yaml")
    if not p.name.endswith(".chain.yaml")
)


def test_defaults_and_overrides_with_types():
    config = load_experiment(
        base={},
        overrides=[
            "train.lr=3e-4",
            "train.epochs=2",
            "seeds=[0, 1]",
            "train.grad_clip=null",
            "protocol.options.k=3",
        ],
    )
    assert config.train.lr == 3e-4 and config.train.epochs == 2 and config.seeds == (0, 1)
    assert config.train.grad_clip is None and config.protocol.options == {"k": 3}
    assert isinstance(config, ExperimentConfig) and config.features["name"] == "mfcc"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["trian.epochs=1"], "Did you mean 'train'"),
        (["train.lrr=0.1"], "train.lrr"),
        (["train.mixup_alpha=yes"], "expected a number"),
        (["train.class_weights=1"], "true or false"),
        (["seeds=[0, one]"], r"seeds\[1\]"),
        (["features.name=mfccc"], "mfcc"),
        (["protocol.name=speaker_kfolds"], "speaker_kfold"),
        (["protocol.options.kk=3"], "Did you mean 'k'"),
        (["input.short_policy=skip"], "short_policy"),
        (["train.epochs"], "key.sub=value"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(base={}, overrides=overrides)


def test_recipe_inherits_from_base_and_replaces_option_mappings(tmp_path: Path):
    (tmp_path / "base.yaml").write_text(
        "name: base\ncorpus: {name: ravdess, root: /r, options: {intensity: normal}}\n"
        "protocol: {name: speaker_kfold, options: {k: 3}}\ntrain: {epochs: 7, lr: 0.1}\n"
    )
    (tmp_path / "child.yaml").write_text(
        "base: base.yaml\nname: child\ncorpus: {name: emodb, options: {}}\n"
        "protocol: {name: leave_one_speaker_out}\ntrain: {lr: 0.5}\n"
    )
    data = read_recipe(tmp_path / "child.yaml")
    assert data["train"] == {"epochs": 7, "lr": 0.5}  # merged key by key
    assert data["corpus"] == {"name": "emodb", "root": "/r", "options": {}}  # options replaced whole
    assert data["protocol"] == {"name": "leave_one_speaker_out", "options": {"k": 3}}
    with pytest.raises(ConfigError, match="val_speakers"):
        load_experiment(tmp_path / "child.yaml")  # k is not an option of leave_one_speaker_out
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="inherits from itself"):
        read_recipe(tmp_path / "loop.yaml")


def test_from_dict_rejects_non_mapping_sections():
    with pytest.raises(ConfigError, match="expected a mapping"):
        from_dict(ExperimentConfig, {"train": 3})
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2"]) == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize("recipe", RECIPES, ids=[str(p.relative_to(p.parents[1])) for p in RECIPES])
def test_every_shipped_recipe_is_valid(recipe: Path):
    config = load_experiment(recipe)
    assert config.name == recipe.stem


@pytest.mark.parametrize(
    "raw, value",
    [
        ("3", 3),
        ("'3'", "3"),
        ('"3"', "3"),
        ("3e-4", 3e-4),
        ("1E5", 1e5),
        ("1.0e5", 1e5),
        ("-2.5e+3", -2500.0),
        ("0.5", 0.5),
        ("true", True),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("abc", "abc"),
        ("'3e-4'", "3e-4"),
        ("", ""),
        ("inf", "inf"),
    ],
)
def test_one_value_parser_for_set_config_set_and_yaml_files(raw, value, tmp_path: Path):
    from serkit.core.values import parse_value, read_yaml
    from serkit.core.yaml_edit import parse_assignment

    assert parse_value(raw) == value and type(parse_value(raw)) is type(value)
    assert parse_assignment(f"a.b={raw}") == ("a.b", value)
    assert apply_overrides({}, [f"a.b={raw}"]) == {"a": {"b": value}}
    if raw:  # an empty YAML value is null, an empty assignment the empty string
        (tmp_path / "r.yaml").write_text(f"a:\n  b: {raw}\n")
        assert read_yaml(tmp_path / "r.yaml") == {"a": {"b": value}}


def test_yaml_written_by_serkit_reads_back_the_same_values(tmp_path: Path):
    from serkit.core.values import read_yaml, write_yaml

    data = {"numbers": [3e-4, 1e5, 0.1], "strings": ["3e-4", "1e5", "3", "true", "null", ""]}
    write_yaml(tmp_path / "c.yaml", data)
    assert read_yaml(tmp_path / "c.yaml") == data


def test_recipe_file_with_exponent_floats_loads(tmp_path: Path):
    (tmp_path / "r.yaml").write_text("train:\n  lr: 3e-4\n  weight_decay: 1e-5\n")
    config = load_experiment(tmp_path / "r.yaml")
    assert config.train.lr == 3e-4 and config.train.weight_decay == 1e-5


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lr=abc", r"train\.lr: expected a number, got 'abc' \(a string\)"),
        (
            "train.lr='3'",
            r"train\.lr: expected a number, got '3' \(a string\); without quotes it would be read as 3",
        ),
        ("train.epochs=2.5", r"train\.epochs: expected an integer, got 2\.5"),
        ("train.grad_clip=abc", r"train\.grad_clip: expected a number, got 'abc'"),
        ("name=3", r"name: expected a string, got 3 \(an integer\); quote it"),
    ],
)
def test_set_values_of_the_wrong_type_name_key_type_and_value(override, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(base={}, overrides=[override])


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs=0", r"train\.epochs=0 is out of range: use an integer >= 1"),
        ("train.epochs=-3", r"train\.epochs=-3 is out of range"),
        ("train.batch_size=0", r"train\.batch_size=0 is out of range: use an integer >= 1"),
        ("train.eval_batch_size=0", r"train\.eval_batch_size=0 is out of range"),
        ("train.lr=0", r"train\.lr=0\.0 is out of range: use a learning rate > 0"),
        ("train.lr=-1e-3", r"train\.lr=-0\.001 is out of range"),
        ("train.lr=.nan", r"train\.lr=nan is out of range"),
        ("train.weight_decay=-0.1", r"train\.weight_decay=-0\.1 is out of range: use a value >= 0"),
        ("train.early_stopping=-1", r"train\.early_stopping=-1 is out of range: use epochs >= 0"),
        ("train.threads=-1", r"train\.threads=-1 is out of range"),
        ("train.num_workers=-2", r"train\.num_workers=-2 is out of range"),
        ("train.grad_clip=0", r"train\.grad_clip=0\.0 is out of range: use a norm > 0, or null"),
        ("train.warmup=1.5", r"train\.warmup=1\.5 is out of range: .*\[0, 1\]"),
        ("train.warmup=-0.1", r"train\.warmup=-0\.1 is out of range"),
        ("train.mixup_alpha=-0.2", r"train\.mixup_alpha=-0\.2 is out of range: use a value >= 0"),
        ("train.gamma=0", r"train\.gamma=0\.0 is out of range: use a decay factor > 0"),
        ("train.contrastive_temperature=0", r"train\.contrastive_temperature=0\.0 is out of range"),
        (
            "model.args.dropout=1.5",
            r"model\.args\.dropout=1\.5 is out of range: a probability, use a value in \[0, 1\]",
        ),
        ("model.args.extractor_dropout=-0.1", r"model\.args\.extractor_dropout=-0\.1 is out of range"),
        ("model.args.mask_time_prob=2", r"model\.args\.mask_time_prob=2 is out of range"),
        ("input.window=0", r"input\.window=0\.0 is out of range: use a duration in seconds > 0"),
        ("input.hop=-0.2", r"input\.hop=-0\.2 is out of range"),
        ("input.eval_hop=0", r"input\.eval_hop=0\.0 is out of range"),
        ("input.max_seconds=0", r"input\.max_seconds=0\.0 is out of range: .* or null for no limit"),
        ("input.eval_max_seconds=-4", r"input\.eval_max_seconds=-4\.0 is out of range"),
        ("input.sample_rate=0", r"input\.sample_rate=0 is out of range: use a rate in Hz > 0"),
        ("seeds=[]", r"seeds=\[\] runs nothing: give at least one seed"),
        ("seeds=[0, 1, 0]", r"seeds=\[0, 1, 0\]: give each seed once \(\[0\] repeated\)"),
    ],
)
def test_out_of_range_values_name_the_key_the_value_and_the_range(override, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(base={}, overrides=[override])


def test_range_checks_leave_valid_edge_values_and_other_modes_alone():
    config = load_experiment(
        base={},
        overrides=[
            "train.warmup=0",
            "train.warmup=1",
            "train.early_stopping=0",
            "train.grad_clip=null",
            "model.args.dropout=0",
            "model.args.channels=[4, 8]",
            "input.mode=utterance",
            "input.window=0",
            "input.max_seconds=4",
        ],
    )
    assert (
        config.train.warmup == 1.0 and config.input.window == 0.0 and config.model.args["channels"] == [4, 8]
    )


def test_stage_overrides_are_range_checked_too():
    with pytest.raises(ConfigError, match=r"stages\.cnn\.set: train\.epochs=0 is out of range"):
        load_experiment(base={"stages": [{"name": "cnn", "set": ["train.epochs=0"]}]})
