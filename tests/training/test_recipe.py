"""serkit.recipe: a config resolved once into typed objects; load_experiment and its deprecated config path."""

from __future__ import annotations

import pytest

from serkit.config import ConfigError
from serkit.data.utterance import Utterance
from serkit.features.base import FeatureConfig
from serkit.models.base import SERModel
from serkit.recipe import ProtocolSpec, Recipe, load_experiment, resolve, resolve_stages

STAGES = [
    {"name": "first", "set": ["train.epochs=1"]},
    {"name": "second", "set": ["features.n_mfcc=13", "model.name=cnn_small"], "init_from": "first"},
]


def test_resolve_builds_every_object_once():
    config = load_experiment(
        base={
            "model": {"name": "mat"},
            "features": {"name": "log_mel"},
            "text": {"name": "word_vocab", "max_tokens": 7},
        }
    )
    recipe = resolve(config)
    assert isinstance(recipe, Recipe) and recipe.config is config
    assert isinstance(recipe.feature, FeatureConfig) and recipe.feature.to_dict()["name"] == "log_mel"
    assert (
        recipe.model.name == "mat"
        and issubclass(recipe.model.cls, SERModel)
        and recipe.model.cls.takes_text_ids
    )
    assert {"vocab_size", "num_features"} <= recipe.model.accepted
    assert recipe.text is not None and recipe.text.learns_from_data
    first, second = recipe.text.fresh(), recipe.text.fresh()
    assert first is not second and first is not recipe.text.template  # a fresh vocabulary per fold
    assert first.max_tokens == 7
    assert resolve(load_experiment(base={})).text is None


def test_frozen_text_input_is_shared():
    config = load_experiment(
        base={
            "model": {"name": "text_only"},
            "features": {"name": "none"},
            "text": {"name": "hf_encoder", "model": "some/bert"},
        }
    )
    text = resolve(config).text
    assert not text.learns_from_data and text.fresh() is text.template


def test_stages_resolve_with_their_overrides():
    recipe = resolve(load_experiment(base={"stages": STAGES}))
    stages = resolve_stages(recipe)
    assert [(name, init) for name, init, _ in stages] == [("first", ""), ("second", "first")]
    first, second = stages[0][2], stages[1][2]
    assert first.config.train.epochs == 1 and not first.config.stages
    assert second.model.name == "cnn_small" and second.feature.to_dict()["n_mfcc"] == 13
    single = resolve(load_experiment(base={}))
    assert resolve_stages(single) == [("", "", single)]


def test_resolution_errors_name_the_key():
    with pytest.raises(ConfigError, match="^features: "):
        load_experiment(base={"features": {"name": "mfccc"}})
    with pytest.raises(ConfigError, match="^stages.second: model.name: "):
        load_experiment(base={"stages": [STAGES[0], {**STAGES[1], "set": ["model.name=nope"]}]})
    with pytest.raises(ConfigError, match="train.loss"):
        load_experiment(base={"train": {"loss": "hinge"}})


def test_protocol_auto_is_chosen_from_the_speakers_and_written_into_the_config():
    recipe = resolve(load_experiment(base={"protocol": {"name": "auto", "options": {}}}))
    utterances = [
        Utterance(id=f"{s}_{i}", path=f"/x/{s}_{i}.wav", speaker=s, emotion=e)
        for s in ("a", "b", "c", "d", "e", "f")
        for i, e in enumerate(("neutral", "happy", "sad", "angry"))
    ]
    chosen, notes = recipe.protocol.choose(utterances)
    assert chosen.name != "auto" and notes[0].startswith(f"protocol auto: {chosen.name}")
    updated = recipe.with_protocol(chosen)
    assert updated.config.protocol.name == chosen.name and updated.protocol is chosen
    fixed = ProtocolSpec("leave_one_speaker_out", {}, None, ())
    assert fixed.choose(utterances) == (fixed, [])


def test_old_config_path_is_a_deprecated_alias():
    import serkit
    import serkit.config
    import serkit.recipe

    with pytest.warns(DeprecationWarning, match="serkit.recipe.load_experiment"):
        alias = serkit.config.load_experiment
    assert alias is serkit.recipe.load_experiment is serkit.load_experiment
    with pytest.raises(AttributeError):
        serkit.config.no_such_name  # noqa: B018
