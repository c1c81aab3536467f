"""serkit.data.dimensions: per-corpus scales and columns, [0, 1] targets with NaN for missing ratings."""

from __future__ import annotations

import numpy as np
import pytest

from serkit.core.errors import ConfigError, ManifestError, SerkitError
from serkit.data.corpora import list_corpora
from serkit.data.dimensions import (
    DIMENSION_NAMES,
    DIMENSION_SCALES,
    DimensionScale,
    dimension_matrix,
    dimension_scale,
)
from serkit.data.synthetic import DIMENSION_RANGE
from serkit.data.task import TaskSpec
from serkit.data.utterance import Utterance


def utt(utt_id: str, **extra: str) -> Utterance:
    return Utterance(id=utt_id, path=f"/x/{utt_id}.wav", extra=extra)


def test_registered_scales_belong_to_registered_corpora():
    assert DIMENSION_NAMES == ("arousal", "valence", "dominance")
    assert set(DIMENSION_SCALES.names()) == {"iemocap", "kemdy20", "msp_podcast", "synthetic"}
    assert set(DIMENSION_SCALES.names()) <= set(list_corpora())
    synthetic = DIMENSION_SCALES.get("synthetic")
    assert (synthetic.low, synthetic.high) == DIMENSION_RANGE  # the generator writes on the registered scale


def test_iemocap_reads_activation_as_arousal():
    scale = dimension_scale("iemocap", ["valence", "arousal"])
    assert (scale.low, scale.high) == (1.0, 5.0)
    assert list(scale.columns.items()) == [("valence", "valence"), ("arousal", "activation")]
    matrix = dimension_matrix(
        [utt("a", valence="1.0", activation="5.0"), utt("b", valence="3.0", activation="2.0")],
        ["valence", "arousal"],
        scale,
    )
    assert matrix.dtype == np.float32 and matrix.shape == (2, 2)
    np.testing.assert_allclose(matrix, [[0.0, 1.0], [0.5, 0.25]])


def test_msp_podcast_scale_and_round_trip():
    scale = dimension_scale("msp_podcast", DIMENSION_NAMES)
    assert (scale.low, scale.high) == (1.0, 7.0)
    matrix = dimension_matrix([utt("a", arousal="4", valence="7", dominance="1")], DIMENSION_NAMES, scale)
    np.testing.assert_allclose(matrix, [[0.5, 1.0, 0.0]])
    task = TaskSpec.of_recipe("regression", (), DIMENSION_NAMES, scale)
    np.testing.assert_allclose(task.to_corpus_scale(matrix), [[4.0, 7.0, 1.0]])
    assert np.isnan(task.to_corpus_scale(np.array([np.nan]))).all()


def test_missing_ratings_are_nan():
    scale = dimension_scale("iemocap", ["arousal", "valence"])
    matrix = dimension_matrix(
        [utt("a", activation="", valence="NaN"), utt("b", activation=" 2.5 "), utt("c", activation="n/a")],
        ["arousal", "valence"],
        scale,
    )
    assert np.isnan(matrix[0]).all() and np.isnan(matrix[1, 1]) and np.isnan(matrix[2, 0])
    assert matrix[1, 0] == pytest.approx(0.375)


def test_kemdy20_has_no_dominance():
    with pytest.raises(ConfigError, match="kemdy20 has no dominance; its dimensions are arousal, valence"):
        dimension_scale("kemdy20", ["arousal", "dominance"])


def test_target_range_overrides_the_registered_scale():
    scale = dimension_scale("kemdy20", ["valence"], [0, 10])
    assert (scale.low, scale.high) == (0.0, 10.0) and "target_range" in scale.description
    np.testing.assert_allclose(dimension_matrix([utt("a", valence="7.5")], ["valence"], scale), [[0.75]])


def test_unregistered_corpus_uses_identity_columns_and_needs_a_range():
    with pytest.raises(ConfigError, match=r"my_corpus.*target_range"):
        dimension_scale("my_corpus", ["arousal"])
    with pytest.raises(ConfigError, match="target_range"):
        dimension_scale("", ["arousal"])
    scale = dimension_scale("my_corpus", ["arousal", "valence"], (-1, 1))
    assert dict(scale.columns) == {"arousal": "arousal", "valence": "valence"}
    np.testing.assert_allclose(
        dimension_matrix([utt("a", arousal="-1", valence="0.5")], ["arousal", "valence"], scale),
        [[0.0, 0.75]],
    )


@pytest.mark.parametrize(
    "names, target_range, match",
    [
        ((), (), "one or more"),
        (("arousal", "arousal"), (), "without repeats"),
        (("arousal",), (5, 1), "low < high"),
        (("arousal",), (1, 2, 3), "two numbers"),
        (("arousal",), ("a", "b"), "two numbers"),
    ],
)
def test_bad_recipe_values_are_refused(names, target_range, match):
    with pytest.raises(ConfigError, match=match):
        dimension_scale("iemocap", names, target_range)


def test_value_outside_the_scale_names_utterance_column_and_fix():
    scale = dimension_scale("iemocap", ["arousal"])
    with pytest.raises(ManifestError) as caught:
        dimension_matrix(
            [utt("ok", activation="3"), utt("Ses01F_x_F000", activation="6.5")], ["arousal"], scale
        )
    message = str(caught.value)
    assert "Ses01F_x_F000" in message and "activation=6.5" in message
    assert "[1, 5]" in message and "target_range" in message
    assert isinstance(caught.value, SerkitError)


def test_garbage_and_absent_columns_are_errors():
    scale = dimension_scale("msp_podcast", ["arousal"])
    with pytest.raises(ManifestError, match=r"'b'.*'high'.*not a number"):
        dimension_matrix([utt("a", arousal="2"), utt("b", arousal="high")], ["arousal"], scale)
    with pytest.raises(ManifestError, match=r"inf"):
        dimension_matrix([utt("a", arousal="inf")], ["arousal"], scale)
    with pytest.raises(ManifestError, match=r"no utterance has the column 'arousal'.*split"):
        dimension_matrix([utt("a", split="train")], ["arousal"], scale)
    assert dimension_matrix([], ["arousal"], scale).shape == (0, 1)


def test_scale_validates_itself():
    with pytest.raises(ValueError, match="low < high"):
        DimensionScale(5.0, 1.0)
