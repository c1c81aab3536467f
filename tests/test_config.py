from __future__ import annotations

from pathlib import Path

import pytest

from serkit.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    from_dict,
    load_experiment,
    read_recipe,
)

#: Runner recipes (``*.chain.yaml`` files drive ``serkit hubert chain`` and are checked in tests/hubert).
RECIPES = sorted(p for p in (Path(__file__).resolve().parents[1] / "recipes").rglob("*.yaml")
                 if not p.name.endswith(".chain.yaml"))


def test_defaults_and_overrides_with_types():
    config = load_experiment(base={}, overrides=["train.lr=3e-4", "train.epochs=2", "seeds=[0, 1]",
                                                 "train.grad_clip=null", "protocol.options.k=3"])
    assert config.train.lr == 3e-4 and config.train.epochs == 2 and config.seeds == (0, 1)
    assert config.train.grad_clip is None and config.protocol.options == {"k": 3}
    assert isinstance(config, ExperimentConfig) and config.features["name"] == "mfcc"


@pytest.mark.parametrize("overrides, message", [
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
])
def test_bad_values_name_the_key_and_the_fix(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(base={}, overrides=overrides)


def test_recipe_inherits_from_base_and_replaces_option_mappings(tmp_path: Path):
    (tmp_path / "base.yaml").write_text(
        "name: base\ncorpus: {name: ravdess, root: /r, options: {intensity: normal}}\n"
        "protocol: {name: speaker_kfold, options: {k: 3}}\ntrain: {epochs: 7, lr: 0.1}\n")
    (tmp_path / "child.yaml").write_text(
        "base: base.yaml\nname: child\ncorpus: {name: emodb, options: {}}\n"
        "protocol: {name: leave_one_speaker_out}\ntrain: {lr: 0.5}\n")
    data = read_recipe(tmp_path / "child.yaml")
    assert data["train"] == {"epochs": 7, "lr": 0.5}          # merged key by key
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
