"""``serkit config get/set`` on YAML and JSON recipe files: types, comments, errors, atomic writes."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest
import yaml

from serkit import cli
from serkit.cli import config as config_edit
from serkit.cli.config import ConfigEditError, get_value, set_values
from serkit.core import yaml_edit

RECIPE = """\
# DCNN recipe
name: ravdess_dcnn
protocol:
  name: speaker_groups
  options: {group_size: 4, val_speakers: 4}   # flow mapping
train:
  lr: 0.0001          # Adam
  epochs: 30
  select_on: validation
stages:
  - name: cnn
    set: [model.name=alexnet]
  - name: blstm
    init_from: cnn
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return path


def test_doctest():
    assert doctest.testmod(config_edit).failed == 0
    assert doctest.testmod(yaml_edit).failed == 0


def test_get_values_with_types(recipe):
    assert get_value(recipe, "train.lr") == 1e-4
    assert get_value(recipe, "protocol.options.val_speakers") == 4
    assert get_value(recipe, "stages.1.init_from") == "cnn"
    assert get_value(recipe, "protocol.options") == {"group_size": 4, "val_speakers": 4}


def test_set_keeps_comments_and_types(recipe):
    changes = set_values(
        recipe,
        [
            "train.lr=5e-6",
            "train.epochs=3",
            "train.select_on=test",
            "stages.0.name=dcnn",
            "stages.1.init_from=dcnn",
        ],
    )  # renamed together: the recipe must still load
    assert [(c.key, c.old, c.new) for c in changes] == [
        ("train.lr", 1e-4, 5e-6),
        ("train.epochs", 30, 3),
        ("train.select_on", "validation", "test"),
        ("stages.0.name", "cnn", "dcnn"),
        ("stages.1.init_from", "cnn", "dcnn"),
    ]
    assert all(c.comments_kept for c in changes)  # block-style keys, list items included, are edited in place
    text = recipe.read_text(encoding="utf-8")
    assert "# DCNN recipe" in text and "lr: 5.0e-06         # Adam" in text and "# flow mapping" in text
    assert text == RECIPE.replace("0.0001 ", "5.0e-06").replace("30", "3").replace(
        "validation", "test"
    ).replace(": cnn", ": dcnn")  # the comment kept its column, and no other line changed
    data = yaml.safe_load(text)
    assert data["train"] == {"lr": 5e-6, "epochs": 3, "select_on": "test"}
    assert isinstance(data["train"]["epochs"], int) and data["stages"][0]["name"] == "dcnn"


def test_quoted_strings_and_flow_mappings(recipe):
    set_values(recipe, ["train.select_on='3'"])
    assert get_value(recipe, "train.select_on") == "3"  # quotes keep a string a string
    (change,) = set_values(recipe, ["protocol.options.val_speakers=2"])
    assert change.comments_kept and "were not kept" not in str(change)  # inside a flow mapping too
    assert get_value(recipe, "protocol.options") == {"group_size": 4, "val_speakers": 2}
    assert get_value(recipe, "train.lr") == 1e-4
    text = recipe.read_text(encoding="utf-8")
    assert (
        "  options: {group_size: 4, val_speakers: 2}   # flow mapping\n" in text and "# DCNN recipe" in text
    )


def test_missing_keys_files_and_kind_changes(recipe, tmp_path):
    with pytest.raises(ConfigEditError, match=r"no key 'train.lrr' \(did you mean 'lr'\?\).*--add"):
        set_values(recipe, ["train.lrr=1"])
    with pytest.raises(ConfigEditError, match="keys under 'train': lr, epochs, select_on"):
        get_value(recipe, "train.gamma")
    with pytest.raises(ConfigEditError, match="file not found"):
        get_value(tmp_path / "nope.yaml", "a")
    with pytest.raises(ConfigEditError, match="unknown file type"):
        get_value(tmp_path / "x.toml", "a")
    with pytest.raises(ConfigEditError, match="not an index"):
        get_value(recipe, "stages.5.name")
    with pytest.raises(ConfigEditError, match="--force"):
        set_values(recipe, ["train=3"])
    with pytest.raises(ConfigEditError, match="key.sub=value"):
        set_values(recipe, ["train.lr"])
    before = recipe.read_text(encoding="utf-8")
    with pytest.raises(ConfigEditError):
        set_values(recipe, ["train.lr=1", "train.nope=2"])  # all or nothing
    assert recipe.read_text(encoding="utf-8") == before
    (added,) = set_values(recipe, ["train.gamma=0.695"], add=True)
    assert added.added and get_value(recipe, "train.gamma") == 0.695


def test_json_files(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {"train": {"learning_rate": 0.0001, "batch_size": 128}, "model": {"pretrained": True}}, indent=4
        ),
        encoding="utf-8",
    )
    set_values(path, ["train.learning_rate=5e-6", "train.batch_size=16", "model.pretrained=false"])
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {"train": {"learning_rate": 5e-6, "batch_size": 16}, "model": {"pretrained": False}}
    assert '\n    "train"' in path.read_text(encoding="utf-8")  # the file's indentation is kept
    changes = set_values(path, ["train.batch_size=8"], dry_run=True)
    assert changes[0].new == 8 and get_value(path, "train.batch_size") == 16


def test_cli(recipe, capsys):
    assert cli.main(["config", "get", str(recipe), "train.lr"]) == 0
    assert capsys.readouterr().out.strip() == "0.0001"
    assert cli.main(["config", "set", str(recipe), "train.lr=1e-3", "train.epochs=5"]) == 0
    assert capsys.readouterr().out.splitlines() == ["train.lr: 0.0001 -> 0.001", "train.epochs: 30 -> 5"]
    assert cli.main(["config", "get", str(recipe), "train.missing"]) == 2
    assert "no key 'train.missing'" in capsys.readouterr().err


def test_values_of_the_wrong_type_are_refused_and_nothing_is_written(recipe):
    before = recipe.read_text(encoding="utf-8")
    with pytest.raises(
        ConfigEditError, match=r"r\.yaml: train\.lr: expected a number, got 'abc' \(a string\)"
    ):
        set_values(recipe, ["train.lr=abc"])
    with pytest.raises(
        ConfigEditError,
        match=r"train\.epochs: expected an integer, got '5' \(a string\); without "
        r"quotes it would be read as 5",
    ):
        set_values(recipe, ["train.epochs='5'"])
    with pytest.raises(ConfigEditError, match=r"train\.epochs=0 is out of range: use an integer >= 1"):
        set_values(recipe, ["train.lr=0.01", "train.epochs=0"])  # all or nothing: lr is not written either
    with pytest.raises(ConfigEditError, match=r"unknown config key 'train\.lrr'\. Did you mean 'train\.lr'"):
        set_values(recipe, ["train.lrr=0.1"], add=True)  # --add cannot add keys a recipe does not have
    with pytest.raises(ConfigEditError, match=r"stages\[0\]|stages\.0\.name: expected a string"):
        set_values(recipe, ["stages.0.name=[a]"], force=True)
    assert recipe.read_text(encoding="utf-8") == before


def test_config_set_and_dash_dash_set_give_the_same_values(recipe, tmp_path):
    from serkit.config import ConfigError
    from serkit.recipe import load_experiment

    set_values(recipe, ["train.lr=3e-4", "name='3'"])
    assert get_value(recipe, "train.lr") == 3e-4 and get_value(recipe, "name") == "3"
    config = load_experiment(recipe, ["train.lr=3e-4", "name='3'"])
    assert config.train.lr == 3e-4 and config.name == "3"
    assert load_experiment(recipe).train.lr == 3e-4  # and the file reads back the same
    with pytest.raises(ConfigError, match=r"train\.lr: expected a number, got 'abc' \(a string\)"):
        load_experiment(recipe, ["train.lr=abc"])  # the same kind of message as serkit config set


def test_a_recipe_that_does_not_load_yet_can_be_repaired_key_by_key(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train:\n  epochs: 0\n  lr: 0.1\nmodel:\n  name: nosuchmodel\n", encoding="utf-8")
    set_values(path, ["train.epochs=5"])  # the file did not load before: only the edited key is checked
    with pytest.raises(ConfigEditError, match="expected a number"):
        set_values(path, ["train.lr=fast"])
    set_values(path, ["model.name=cnn_small"])
    with pytest.raises(ConfigEditError, match=r"would not load: train\.epochs=-1 is out of range"):
        set_values(path, ["train.epochs=-1"])  # it loads now, so the edit must keep it loading


def test_recipe_with_a_base_is_validated_with_its_base(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "protocol: {name: speaker_groups, options: {group_size: 2}}\n", encoding="utf-8"
    )
    child = tmp_path / "child.yaml"
    child.write_text("base: base.yaml\nprotocol:\n  split_seed: 0\n", encoding="utf-8")
    set_values(child, ["protocol.split_seed=1"])
    # alone the child would load; merged over its base, group_size is no option of leave_one_speaker_out
    with pytest.raises(ConfigEditError, match=r"would not load: unknown key protocol\.options\.group_size"):
        set_values(child, ["protocol.name=leave_one_speaker_out"], add=True)
    assert get_value(child, "protocol") == {"split_seed": 1}


def test_files_without_a_known_schema_only_get_value_parsing(tmp_path):
    hparams = tmp_path / "hparams.json"  # DCNN-BLSTMwA's own JSON config: not a serkit recipe
    hparams.write_text(json.dumps({"train": {"lr": 0.1, "epochs": 3}}), encoding="utf-8")
    set_values(hparams, ["train.lr=abc", "train.epochs=0"])
    assert json.loads(hparams.read_text(encoding="utf-8")) == {"train": {"lr": "abc", "epochs": 0}}
    tool = tmp_path / "tool.yaml"  # a YAML file with no recipe section
    tool.write_text("learning_rate: 0.1\n", encoding="utf-8")
    set_values(tool, ["learning_rate=1e-3"])
    assert get_value(tool, "learning_rate") == 1e-3


def test_chain_files_are_checked_against_the_chain_schema(tmp_path):
    chain = tmp_path / "x.chain.yaml"
    chain.write_text("name: x\nfinetune_recipe: r.yaml\ntapt:\n  layer: 9\n", encoding="utf-8")
    set_values(chain, ["tapt.layer=6"])
    with pytest.raises(ConfigEditError, match=r"tapt\.layer: expected an integer, got 'six'.*chain config"):
        set_values(chain, ["tapt.layer=six"])
    with pytest.raises(ConfigEditError, match=r"would not load: .*init"):
        set_values(chain, ["tapt.init=nowhere"], add=True)
    assert get_value(chain, "tapt.layer") == 6


def test_cli_config_set_wrong_type_exits_2_and_writes_nothing(recipe, capsys):
    before = recipe.read_text(encoding="utf-8")
    assert cli.main(["config", "set", str(recipe), "train.lr=abc"]) == 2
    err = capsys.readouterr().err
    assert "train.lr: expected a number, got 'abc'" in err and "nothing was written" in err
    assert recipe.read_text(encoding="utf-8") == before


def test_new_values_read_back_as_set_and_untouched_lines_keep_their_layout(tmp_path):
    path = tmp_path / "tool.yaml"  # no recipe section: only the value parsing applies
    text = (
        "# tool settings\nencoder:\n  name: mnt\n  args: {hidden_dim: 512, num_heads: 4,\n"
        "         dropout: 0.1}   # wrapped by hand\nsteps:\n  - lr: 0.1\n    clip: 1.0\n"
    )
    path.write_text(text, encoding="utf-8")
    set_values(
        path, ["steps.0.lr=3e-4", "steps.0.clip=null", "encoder.name=yes", "encoder.kind='yes'"], add=True
    )
    written = path.read_text(encoding="utf-8")
    assert "  args: {hidden_dim: 512, num_heads: 4,\n         dropout: 0.1}   # wrapped by hand\n" in written
    assert "  name: true\n" in written and "  kind: 'yes'\n" in written  # the flow mapping is kept as written
    assert "  - lr: 0.0003\n    clip: null\n" in written
    # plain PyYAML reads what was written as serkit meant it: `yes` is true, the quoted 'yes' a string
    assert yaml.safe_load(written)["encoder"] == {
        "name": True,
        "args": {"hidden_dim": 512, "num_heads": 4, "dropout": 0.1},
        "kind": "yes",
    }
    (change,) = set_values(
        path, ["encoder.args.dropout=0.2"]
    )  # inside the wrapped mapping: joined, comments kept
    assert change.comments_kept and "# tool settings" in path.read_text(encoding="utf-8")
    assert get_value(path, "encoder.args") == {"hidden_dim": 512, "num_heads": 4, "dropout": 0.2}
