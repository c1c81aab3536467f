"""Feature normalisation modes (input.normalize): statistics, checkpoints, and the transductive guard."""

from __future__ import annotations

import numpy as np
import pytest

from serkit.core.errors import ConfigError
from serkit.features.normalize import STD_FLOOR, Normalizer, frame_statistics
from serkit.recipe import load_experiment


def _utterance(rng: np.random.Generator, offset: float, chunks: int = 3) -> np.ndarray:
    """(chunks, 5 frames, 2 channels, 4 bands): a feature shape with two axes, as the DCNN image has."""
    return (rng.standard_normal((chunks, 5, 2, 4)) * 3.0 + offset).astype(np.float32)


def test_frame_statistics_are_per_feature_element_over_all_frames():
    rng = np.random.default_rng(0)
    chunk_lists = [_utterance(rng, 1.0), _utterance(rng, 5.0, chunks=1)]
    mean, std = frame_statistics(chunk_lists)
    frames = np.concatenate([c.reshape(-1, 2, 4) for c in chunk_lists]).astype(np.float64)
    assert mean.shape == std.shape == (2, 4)
    np.testing.assert_allclose(mean, frames.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std, frames.std(axis=0), rtol=1e-6)
    constant = frame_statistics([np.ones((1, 3, 2), dtype=np.float32)])[1]
    assert (constant == np.float32(STD_FLOOR)).all()  # a constant feature maps to 0, not to infinity
    with pytest.raises(ValueError, match="no frames"):
        frame_statistics([np.zeros((0, 5, 2), dtype=np.float32)])


def test_utterance_mode_uses_only_the_utterance_itself():
    rng = np.random.default_rng(1)
    utterance = _utterance(rng, 7.0)
    normalized = Normalizer("utterance").utterance(utterance)
    np.testing.assert_allclose(normalized.mean(axis=(0, 1)), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(axis=(0, 1)), 1.0, atol=1e-4)
    # predicting a batch of files gives each file its own statistics: the same as one at a time
    other = _utterance(rng, -3.0)
    together = Normalizer("utterance").utterances([utterance, other])
    np.testing.assert_array_equal(together[0], normalized)


def test_speaker_mode_uses_the_speakers_statistics_and_pools_a_prediction_call():
    rng = np.random.default_rng(2)
    a1, a2, b1 = _utterance(rng, 10.0), _utterance(rng, 10.0), _utterance(rng, -10.0)
    normalizer = Normalizer.fit_speakers({"a": [a1, a2], "b": [b1]})
    assert normalizer.transductive
    both = np.concatenate([normalizer.utterance(a1, "a"), normalizer.utterance(a2, "a")])
    np.testing.assert_allclose(both.mean(axis=(0, 1)), 0.0, atol=1e-5)  # zero mean over the speaker
    assert (
        abs(normalizer.utterance(a1, "a").mean())
        < 1.0
        < abs(Normalizer("utterance").utterance(a1).mean() - 10)
    )
    with pytest.raises(KeyError, match="speaker 'c'"):
        normalizer.utterance(a1, "c")
    pooled = Normalizer("speaker").utterances([a1, a2])
    np.testing.assert_allclose(np.concatenate(pooled).mean(axis=(0, 1)), 0.0, atol=1e-5)


def test_checkpoint_round_trip_and_old_checkpoints():
    rng = np.random.default_rng(3)
    chunks = [_utterance(rng, 2.0)[..., 0, :]]  # (chunks, frames, 4): a plain feature vector per frame
    fitted = Normalizer.fit(chunks)
    restored = Normalizer.from_dict(fitted.to_dict())
    np.testing.assert_array_equal(restored.utterance(chunks[0]), fitted.utterance(chunks[0]))
    old = Normalizer.from_dict({"mean": fitted.mean.tolist(), "std": fitted.std.tolist()})  # no "mode" key
    assert old.mode == "global"
    assert Normalizer.from_dict(None).mode == "none"
    assert Normalizer.from_dict(Normalizer("utterance").to_dict()).mode == "utterance"
    assert Normalizer.from_dict(Normalizer("speaker").to_dict()).mode == "speaker"
    with pytest.raises(ValueError, match="several frames"):  # functionals: one frame per utterance
        Normalizer("utterance").utterance(np.ones((1, 1, 88), dtype=np.float32))
    with pytest.raises(ValueError, match="whole utterance"):
        Normalizer("utterance")(chunks[0][0])


def test_global_mode_pools_every_axis_but_the_last_as_before():
    """Checkpoints of earlier releases hold (last axis,) statistics; global fitting must keep that meaning."""
    rng = np.random.default_rng(4)
    chunks = [_utterance(rng, 0.5)]
    fitted = Normalizer.fit(chunks)
    assert fitted.mean.shape == (4,)
    np.testing.assert_allclose(fitted.mean, chunks[0].reshape(-1, 4).mean(axis=0), rtol=1e-5)


@pytest.mark.parametrize(
    ("normalize", "transductive", "message"),
    [
        ("speaker", False, "transductive: true"),
        ("utterance", True, "has no effect"),
        ("channel", False, "use one of"),
    ],
)
def test_recipe_guards_the_transductive_mode(normalize, transductive, message):
    recipe = {"input": {"normalize": normalize, "transductive": transductive}}
    with pytest.raises(ConfigError, match=message):
        load_experiment(base=recipe)
