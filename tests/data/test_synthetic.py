"""serkit.data.synthetic (the generator) and the ``synthetic`` corpus loader that reads what it writes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from serkit.audio.io import info, load
from serkit.cli import main
from serkit.core.errors import CorpusLayoutError
from serkit.core.fileio import file_digest
from serkit.data.corpora import load_corpus
from serkit.data.dimensions import DIMENSION_SCALES
from serkit.data.synthetic import DIMENSION_RANGE, EMOTION_DIMENSIONS, EMOTION_PROSODY, generate_corpus

SMALL = {"num_speakers": 4, "utterances_per_emotion": 3, "duration_range": (0.5, 1.0)}


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_corpus(tmp_path_factory.mktemp("synthetic"), **SMALL)


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): file_digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------- the generator


def test_same_seed_gives_identical_bytes(small_corpus: Path, tmp_path: Path) -> None:
    again = generate_corpus(tmp_path / "again", **SMALL, seed=0)
    assert digests(again) == digests(small_corpus)


def test_another_seed_gives_other_audio(small_corpus: Path, tmp_path: Path) -> None:
    other = digests(generate_corpus(tmp_path / "other", **SMALL, seed=1))
    first = digests(small_corpus)
    assert other.keys() == first.keys()
    assert all(other[name] != first[name] for name in first if name.endswith(".flac"))


def test_layout_and_audio_format(small_corpus: Path) -> None:
    files = sorted(p.name for p in (small_corpus / "audio").iterdir())
    assert len(files) == 4 * 4 * 3
    assert files[0] == "spk01_angry_001.flac" and files[-1] == "spk04_sad_003.flac"
    header = info(small_corpus / "audio" / "spk02_happy_002.flac")
    assert (header.format, header.subtype, header.sample_rate, header.channels) == (
        "FLAC",
        "PCM_16",
        16000,
        1,
    )
    assert 0.5 <= header.duration <= 1.0
    assert "SYNTHETIC" in (small_corpus / "README.txt").read_text()
    assert (small_corpus / "speakers.csv").read_text().splitlines()[
        0
    ] == "speaker,gender,base_f0_hz,formant_scale"


def test_audio_is_clean_and_within_full_scale(small_corpus: Path) -> None:
    for path in sorted((small_corpus / "audio").iterdir())[::5]:
        waveform = load(path)
        assert np.isfinite(waveform).all() and np.abs(waveform).max() < 1.0
        assert np.sqrt(np.mean(waveform**2)) > 0.005  # not silent


def test_rerun_into_the_same_folder_is_allowed(small_corpus: Path) -> None:
    before = digests(small_corpus)
    generate_corpus(small_corpus, **SMALL)
    assert digests(small_corpus) == before


def test_foreign_files_in_the_output_are_refused(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "spk09_happy_001.flac").write_bytes(b"left over from another generation")
    with pytest.raises(ValueError, match="spk09_happy_001.flac"):
        generate_corpus(tmp_path, num_speakers=1, utterances_per_emotion=1)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"emotions": ("neutral", "bored")}, "no synthetic prosody"),
        ({"emotions": ("sad", "sad")}, "without repeats"),
        ({"num_speakers": 0}, "num_speakers"),
        ({"utterances_per_emotion": 0}, "utterances_per_emotion"),
        ({"duration_range": (2.0, 1.0)}, "duration_range"),
        ({"sample_rate": 4000}, "sample_rate"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_corpus(tmp_path, **options)
    assert not (tmp_path / "audio").exists()


def test_every_profiled_emotion_can_be_generated(tmp_path: Path) -> None:
    root = generate_corpus(
        tmp_path,
        num_speakers=1,
        utterances_per_emotion=1,
        emotions=tuple(EMOTION_PROSODY),
        duration_range=(0.4, 0.4),
        sample_rate=8000,
    )
    assert len(list((root / "audio").iterdir())) == len(EMOTION_PROSODY)


# ----------------------------------------------------------------------------------------------- the cues


def _rms(path: Path) -> float:
    return float(np.sqrt(np.mean(load(path) ** 2)))


def _brightness(path: Path) -> float:
    """Spectral centroid in Hz."""
    spectrum = np.abs(np.fft.rfft(load(path))) ** 2
    return float(
        (np.fft.rfftfreq(2 * len(spectrum) - 2, 1 / 16000)[: len(spectrum)] * spectrum).sum() / spectrum.sum()
    )


def test_prosody_cues_exist_but_are_not_trivial(small_corpus: Path) -> None:
    def by_emotion(measure) -> dict[str, list[float]]:
        values: dict[str, list[float]] = {}
        for path in sorted((small_corpus / "audio").iterdir()):
            values.setdefault(path.stem.split("_")[1], []).append(measure(path))
        return values

    energy = by_emotion(_rms)
    assert np.mean(energy["angry"]) > 2 * np.mean(energy["sad"])
    assert np.mean(energy["angry"]) > np.mean(energy["neutral"]) > np.mean(energy["sad"])
    # Not a lookup: per-speaker and per-utterance variation make the loudness ranges of neighbours overlap.
    assert min(energy["angry"]) < max(energy["happy"])
    assert min(energy["neutral"]) < max(energy["sad"])

    brightness = by_emotion(_brightness)
    assert np.mean(brightness["angry"]) > np.mean(brightness["sad"])


# ------------------------------------------------------------------------------------------------- the loader


def test_loader_counts_and_labels(small_corpus: Path) -> None:
    utterances = load_corpus("synthetic", small_corpus)
    assert len(utterances) == 48 and len({u.id for u in utterances}) == 48
    assert Counter(u.emotion for u in utterances) == {"neutral": 12, "happy": 12, "sad": 12, "angry": 12}
    assert Counter(u.speaker for u in utterances) == {"spk01": 12, "spk02": 12, "spk03": 12, "spk04": 12}
    genders = {u.speaker: u.gender for u in utterances}
    assert genders == {"spk01": "male", "spk02": "female", "spk03": "male", "spk04": "female"}
    first = utterances[0]
    assert (first.id, first.emotion, first.label, first.extra["take"]) == (
        "spk01_angry_001",
        "angry",
        "angry",
        "001",
    )
    assert first.corpus == "synthetic" and Path(first.path).is_file()
    assert all(0.5 <= u.duration <= 1.0 for u in utterances)


def test_corpus_list_says_it_is_synthetic(capsys: pytest.CaptureFixture) -> None:
    assert main(["corpus", "list"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("synthetic "))
    assert "SYNTHETIC" in line


def test_loader_requires_speakers_csv(small_corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "spk01_sad_001.flac").write_bytes(
        (small_corpus / "audio" / "spk01_sad_001.flac").read_bytes()
    )
    with pytest.raises(CorpusLayoutError, match="speakers.csv"):
        load_corpus("synthetic", tmp_path)


@pytest.mark.parametrize(
    "name, match",
    [
        ("spk01-sad-001.flac", "naming scheme"),
        ("spk01_grumpy_001.flac", "naming scheme"),
        ("spk07_sad_001.flac", "not listed"),
    ],
)
def test_loader_rejects_files_outside_the_scheme(
    small_corpus: Path, tmp_path: Path, name: str, match: str
) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "speakers.csv").write_text((small_corpus / "speakers.csv").read_text())
    (tmp_path / "audio" / name).write_bytes((small_corpus / "audio" / "spk01_sad_001.flac").read_bytes())
    with pytest.raises(CorpusLayoutError, match=match) as caught:
        load_corpus("synthetic", tmp_path)
    assert name in str(caught.value)


def test_loader_does_not_modify_the_corpus(small_corpus: Path) -> None:
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in small_corpus.rglob("*")}
    load_corpus("synthetic", small_corpus, content_hashes=True)
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in small_corpus.rglob("*")} == before


# -------------------------------------------------------------------------------------- dimensional ratings


def test_dimension_ratings_exist_are_in_range_and_follow_the_emotion(small_corpus: Path) -> None:
    lines = (small_corpus / "dimensions.csv").read_text().splitlines()
    assert lines[0] == "utterance,arousal,valence,dominance" and len(lines) == 1 + 48
    utterances = load_corpus("synthetic", small_corpus)
    low, high = DIMENSION_RANGE
    by_emotion: dict[str, list[list[float]]] = {}
    for u in utterances:
        values = [float(u.extra[name]) for name in ("arousal", "valence", "dominance")]
        assert all(low <= v <= high for v in values), u.id
        by_emotion.setdefault(u.emotion, []).append(values)
    mean = {emotion: np.mean(values, axis=0) for emotion, values in by_emotion.items()}
    arousal, valence, dominance = 0, 1, 2
    assert mean["angry"][arousal] > mean["neutral"][arousal] > mean["sad"][arousal]
    assert mean["happy"][valence] > mean["neutral"][valence] > mean["angry"][valence]
    assert mean["angry"][dominance] > mean["sad"][dominance]
    # Not a lookup of the label: ratings vary within an emotion.
    assert all(np.std(values, axis=0).min() > 0.1 for values in by_emotion.values())


def test_arousal_is_audible_within_an_emotion(small_corpus: Path) -> None:
    """Within each emotion, louder takes are rated more aroused: the ratings follow the rendered prosody."""
    residual_arousal, residual_level = [], []
    for emotion in ("neutral", "happy", "sad", "angry"):
        group = [u for u in load_corpus("synthetic", small_corpus) if u.emotion == emotion]
        arousal = np.array([float(u.extra["arousal"]) for u in group])
        level = np.log([_rms(Path(u.path)) for u in group])
        residual_arousal += list(arousal - arousal.mean())
        residual_level += list(level - level.mean())
    assert np.corrcoef(residual_arousal, residual_level)[0, 1] > 0.2


def test_dimension_ratings_are_registered_on_the_generator_scale() -> None:
    assert set(EMOTION_DIMENSIONS) == set(EMOTION_PROSODY)
    scale = DIMENSION_SCALES.get("synthetic")
    assert (scale.low, scale.high) == DIMENSION_RANGE
    assert all(DIMENSION_RANGE[0] <= v <= DIMENSION_RANGE[1] for p in EMOTION_DIMENSIONS.values() for v in p)


def test_corpus_without_dimensions_file_still_loads(small_corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "speakers.csv").write_text((small_corpus / "speakers.csv").read_text())
    (tmp_path / "audio" / "spk01_sad_001.flac").write_bytes(
        (small_corpus / "audio" / "spk01_sad_001.flac").read_bytes()
    )
    (only,) = load_corpus("synthetic", tmp_path)
    assert only.extra == {"take": "001"}


@pytest.mark.parametrize(
    "content, match",
    [
        ("utterance,arousal\nspk01_sad_001,2\n", "needs a header"),
        ("utterance,arousal,valence,dominance\nspk01_sad_001,2,2,2\nspk01_sad_001,2,2,2\n", "listed twice"),
        ("utterance,arousal,valence,dominance\nspk01_sad_002,2,2,2\n", "no row"),
    ],
)
def test_malformed_dimensions_file_is_refused(
    small_corpus: Path, tmp_path: Path, content: str, match: str
) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "speakers.csv").write_text((small_corpus / "speakers.csv").read_text())
    (tmp_path / "audio" / "spk01_sad_001.flac").write_bytes(
        (small_corpus / "audio" / "spk01_sad_001.flac").read_bytes()
    )
    (tmp_path / "dimensions.csv").write_text(content)
    with pytest.raises(CorpusLayoutError, match=match):
        load_corpus("synthetic", tmp_path)
