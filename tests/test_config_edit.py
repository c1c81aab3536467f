"""``serkit config get/set`` on YAML and JSON recipe files: types, comments, errors, atomic writes."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest
import yaml

from serkit import cli
from serkit.tools import config_edit
from serkit.tools.config_edit import ConfigEditError, get_value, set_values

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


def test_get_values_with_types(recipe):
    assert get_value(recipe, "train.lr") == 1e-4
    assert get_value(recipe, "protocol.options.val_speakers") == 4
    assert get_value(recipe, "stages.1.init_from") == "cnn"
    assert get_value(recipe, "protocol.options") == {"group_size": 4, "val_speakers": 4}


def test_set_keeps_comments_and_types(recipe):
    changes = set_values(recipe, ["train.lr=5e-6", "train.epochs=3", "train.select_on=test", "stages.0.name=dcnn"])
    assert [(c.key, c.old, c.new) for c in changes] == [("train.lr", 1e-4, 5e-6), ("train.epochs", 30, 3),
                                                        ("train.select_on", "validation", "test"),
                                                        ("stages.0.name", "cnn", "dcnn")]
    assert all(c.comments_kept for c in changes)  # block-style keys, list items included, are edited in place
    text = recipe.read_text(encoding="utf-8")
    assert "# DCNN recipe" in text and "lr: 5.0e-06          # Adam" in text and "# flow mapping" in text
    data = yaml.safe_load(text)
    assert data["train"] == {"lr": 5e-6, "epochs": 3, "select_on": "test"}
    assert isinstance(data["train"]["epochs"], int) and data["stages"][0]["name"] == "dcnn"


def test_quoted_strings_and_flow_mappings(recipe):
    set_values(recipe, ["train.select_on='3'"])
    assert get_value(recipe, "train.select_on") == "3"  # quotes keep a string a string
    (change,) = set_values(recipe, ["protocol.options.val_speakers=2"])
    assert not change.comments_kept and "were not kept" in str(change)  # inside a flow mapping: full re-dump
    assert get_value(recipe, "protocol.options") == {"group_size": 4, "val_speakers": 2}
    assert get_value(recipe, "train.lr") == 1e-4


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
    path.write_text(json.dumps({"train": {"learning_rate": 0.0001, "batch_size": 128},
                                "model": {"pretrained": True}}, indent=4), encoding="utf-8")
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
