"""serkit.audio.io: reading every supported format, resampling, channels, ranges, typed errors, atomic writes."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import shared_corpus, write_tone

from serkit.audio.io import info, load, load_multichannel, output_subtype, resample, save
from serkit.core.errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    EmptyAudioError,
    NonFiniteAudioError,
    UnsupportedAudioFormatError,
)

PCM16_STEP = 1 / 32768


def dominant_frequency(waveform: np.ndarray, sample_rate: int) -> float:
    """Frequency (Hz) of the largest peak of the windowed spectrum."""
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return float(np.argmax(spectrum) * sample_rate / len(waveform))


def sine(frequency: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def cut_in_half(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# ---------------------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize("extension", ["wav", "flac", "ogg", "mp3"])
def test_load_reads_every_supported_format(tmp_path: Path, extension: str) -> None:
    path = write_tone(tmp_path / f"tone.{extension}", seconds=1.0, frequency=440.0)
    waveform = load(path)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert len(waveform) == 16000
    assert dominant_frequency(waveform, 16000) == pytest.approx(440.0, abs=2.0)
    assert np.abs(waveform).max() == pytest.approx(
        0.3, abs=0.05
    )  # write_tone's amplitude, lossy codecs included


@pytest.mark.parametrize("extension", ["wav", "flac"])
def test_lossless_formats_round_trip_samples(tmp_path: Path, extension: str) -> None:
    expected = sine(300.0, 0.25, 16000)
    path = tmp_path / f"x.{extension}"
    sf.write(path, expected, 16000, subtype="PCM_16")
    np.testing.assert_allclose(load(path), expected, atol=PCM16_STEP)


def test_info_reads_the_header(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "stereo.flac", seconds=0.5, sample_rate=22050, channels=2, subtype="PCM_24")
    header = info(path)
    assert (header.sample_rate, header.frames, header.channels) == (22050, 11025, 2)
    assert (header.format, header.subtype) == ("FLAC", "PCM_24")
    assert header.duration == pytest.approx(0.5)
    assert header.path == str(path)


def test_real_corpus_files_load() -> None:
    ravdess = shared_corpus("ravdess")
    path = next(p for p in sorted(ravdess.rglob("*")) if p.suffix.lower() in (".wav", ".flac"))
    waveform = load(path)
    assert waveform.ndim == 1 and len(waveform) > 16000 and np.isfinite(waveform).all()
    assert len(waveform) == pytest.approx(info(path).duration * 16000, abs=2)


# ------------------------------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("file_rate, frequency", [(8000, 440.0), (48000, 1000.0)])
def test_load_resamples_to_16k_keeping_length_and_pitch(
    tmp_path: Path, file_rate: int, frequency: float
) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, sine(frequency, 1.0, file_rate), file_rate, subtype="PCM_16")
    waveform = load(path, 16000)
    assert len(waveform) == 16000
    assert dominant_frequency(waveform, 16000) == pytest.approx(frequency, abs=1.5)
    assert np.abs(waveform[1000:-1000]).max() == pytest.approx(0.5, abs=0.02)  # no gain change


def test_load_with_sample_rate_none_keeps_the_file_rate(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "tone.wav", seconds=0.5, sample_rate=48000)
    assert len(load(path, None)) == 24000


def test_resample_handles_multichannel_arrays() -> None:
    stereo = np.stack([sine(440.0, 1.0, 48000), sine(880.0, 1.0, 48000)], axis=1)
    out = resample(stereo, 48000, 16000)
    assert out.shape == (16000, 2) and out.dtype == np.float32
    assert dominant_frequency(out[:, 1], 16000) == pytest.approx(880.0, abs=1.5)


# --------------------------------------------------------------------------------------------------- channels


@pytest.fixture
def stereo_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.stack([sine(440.0, 0.25, 16000, 0.2), sine(660.0, 0.25, 16000, 0.6)], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    return path, data


def test_stereo_is_mixed_down_to_the_channel_mean(stereo_file: tuple[Path, np.ndarray]) -> None:
    path, data = stereo_file
    np.testing.assert_allclose(load(path), data.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("channel", [0, 1])
def test_channel_selects_one_channel(stereo_file: tuple[Path, np.ndarray], channel: int) -> None:
    path, data = stereo_file
    np.testing.assert_array_equal(load(path, channel=channel), data[:, channel])


@pytest.mark.parametrize("channel", [2, -1])
def test_channel_out_of_range_is_a_value_error_naming_the_file(stereo_file, channel: int) -> None:
    path, _ = stereo_file
    with pytest.raises(ValueError, match=r"2 channel\(s\)") as caught:
        load(path, channel=channel)
    assert str(path) in str(caught.value)


def test_load_multichannel_keeps_channels(stereo_file: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, data = stereo_file
    waveform, rate = load_multichannel(path)
    assert rate == 16000
    np.testing.assert_array_equal(waveform, data)
    resampled, rate = load_multichannel(path, 8000)
    assert rate == 8000 and resampled.shape == (2000, 2)
    mono, _ = load_multichannel(write_tone(tmp_path / "mono.wav", seconds=0.1))
    assert mono.shape == (1600, 1)


# ------------------------------------------------------------------------------------------ offset / duration


@pytest.fixture
def ramp_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    ramp = np.linspace(-0.9, 0.9, 16000, dtype=np.float32)  # every sample distinct: a misplaced range shows
    path = tmp_path / "ramp.wav"
    sf.write(path, ramp, 16000, subtype="FLOAT")
    return path, ramp


def test_offset_and_max_duration_read_a_range(ramp_file: tuple[Path, np.ndarray]) -> None:
    path, ramp = ramp_file
    np.testing.assert_array_equal(load(path, None, offset=0.25, max_duration=0.5), ramp[4000:12000])
    np.testing.assert_array_equal(load(path, None, offset=0.75), ramp[12000:])
    np.testing.assert_array_equal(load(path, None, max_duration=5.0), ramp)  # longer than the file: all of it


def test_offset_applies_before_resampling(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, sine(440.0, 1.0, 8000), 8000, subtype="PCM_16")
    assert len(load(path, 16000, offset=0.5, max_duration=0.25)) == 4000


def test_offset_past_the_end_is_empty(ramp_file: tuple[Path, np.ndarray]) -> None:
    path, _ = ramp_file
    with pytest.raises(EmptyAudioError, match="offset") as caught:
        load(path, offset=2.0)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("options", [{"offset": -0.1}, {"max_duration": 0.0}, {"max_duration": -1.0}])
def test_bad_ranges_are_value_errors(ramp_file: tuple[Path, np.ndarray], options: dict) -> None:
    path, _ = ramp_file
    with pytest.raises(ValueError, match=next(iter(options))):
        load(path, **options)


# ----------------------------------------------------------------------------------------------- bad inputs


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.wav"


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    return folder


def _zero_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "empty.wav"
    path.touch()
    return path


def _text_named_wav(tmp_path: Path) -> Path:
    path = tmp_path / "notes.wav"
    path.write_text("this is a transcript, not audio\n" * 20)
    return path


def _truncated_flac(tmp_path: Path) -> Path:
    return cut_in_half(write_tone(tmp_path / "cut.flac", seconds=1.0))


def _truncated_wav(tmp_path: Path) -> Path:
    # libsndfile silently returns the part that is there; io.info compares the header's data size with the file.
    return cut_in_half(write_tone(tmp_path / "cut.wav", seconds=1.0, subtype="PCM_16"))


def _truncated_mp3(tmp_path: Path) -> Path:
    # libsndfile decodes what is there; io.load compares the frames decoded with the frames the header promised.
    return cut_in_half(write_tone(tmp_path / "cut.mp3", seconds=2.0))


def _truncated_ogg(tmp_path: Path) -> Path:
    return cut_in_half(write_tone(tmp_path / "cut.ogg", seconds=1.0))


def _nan_samples(tmp_path: Path) -> Path:
    data = sine(440.0, 0.1, 16000)
    data[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    return path


def _infinite_samples(tmp_path: Path) -> Path:
    data = sine(440.0, 0.1, 16000)
    data[7] = np.inf
    path = tmp_path / "inf.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    return path


def _zero_frames(tmp_path: Path) -> Path:
    path = tmp_path / "no_frames.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")
    assert path.stat().st_size > 0  # a valid 44-byte header
    return path


BAD_INPUTS = {
    "missing file": (_missing, AudioFileNotFoundError),
    "folder": (_folder, AudioFileNotFoundError),
    "zero-byte wav": (_zero_bytes, EmptyAudioError),
    "text named .wav": (_text_named_wav, UnsupportedAudioFormatError),
    "truncated flac": (_truncated_flac, AudioDecodeError),
    "truncated wav": (_truncated_wav, AudioDecodeError),
    "truncated mp3": (_truncated_mp3, AudioDecodeError),
    "truncated ogg": (_truncated_ogg, AudioDecodeError),
    "nan samples": (_nan_samples, NonFiniteAudioError),
    "infinite samples": (_infinite_samples, NonFiniteAudioError),
    "header but zero frames": (_zero_frames, EmptyAudioError),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_a_typed_error_naming_the_file(tmp_path: Path, case: str) -> None:
    make, error = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(error) as caught:
        load(path)
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert len(str(caught.value)) > len(str(path)) + 20  # says what is wrong, not just where


def test_missing_file_is_also_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.flac")
    with pytest.raises(AudioFileNotFoundError):
        info(tmp_path / "missing.flac")


def test_info_rejects_a_truncated_wav_but_reads_a_zero_frame_header(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="truncated"):
        info(_truncated_wav(tmp_path))
    assert info(_zero_frames(tmp_path)).frames == 0


def _set_wav_data_size(path: Path, size: int) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", size)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("declared", [0xFFFFFFFF, 32001])
def test_harmless_wav_size_quirks_are_not_called_truncation(tmp_path: Path, declared: int) -> None:
    # 0xFFFFFFFF is the placeholder of streaming writers; one byte over is a missing pad byte. Both are readable.
    path = write_tone(tmp_path / "quirk.wav", seconds=1.0, subtype="PCM_16")  # 32000 data bytes
    _set_wav_data_size(path, declared)
    assert len(load(path)) == 16000


# ------------------------------------------------------------------------------------------------------ save


@pytest.mark.parametrize(
    "extension, subtype", [("wav", "PCM_16"), ("flac", "PCM_24"), ("ogg", None), ("mp3", None)]
)
def test_save_round_trips_and_leaves_no_temporary_files(
    tmp_path: Path, extension: str, subtype: str | None
) -> None:
    path = tmp_path / "out" / f"x.{extension}"
    save(path, sine(440.0, 0.5, 16000), 16000, subtype=subtype)
    header = info(path)
    assert (header.sample_rate, header.channels) == (16000, 1)
    assert subtype is None or header.subtype == subtype
    assert dominant_frequency(load(path), 16000) == pytest.approx(440.0, abs=2.5)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_save_writes_multichannel(tmp_path: Path) -> None:
    path = tmp_path / "stereo.flac"
    save(path, np.zeros((800, 2), dtype=np.float32), 16000)
    assert info(path).channels == 2


def test_failed_save_leaves_neither_output_nor_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "x.mp3"
    with pytest.raises(AudioError, match="96000 Hz") as caught:
        save(path, sine(440.0, 0.1, 96000), 96000)  # MPEG audio has no 96 kHz rate
    assert caught.value.path == str(path)
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_previous_file(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "x.mp3", seconds=0.1)
    before = path.read_bytes()
    with pytest.raises(AudioError):
        save(path, sine(440.0, 0.1, 96000), 96000)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "name, subtype, match", [("x.m4a", None, "cannot write format"), ("x.flac", "FLOAT", "subtype 'FLOAT'")]
)
def test_save_rejects_unwritable_formats(tmp_path: Path, name: str, subtype: str | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        save(tmp_path / name, np.zeros(100, dtype=np.float32), 16000, subtype=subtype)


@pytest.mark.parametrize(
    "name, source, expected",
    [
        ("x.wav", "PCM_24", "PCM_24"),
        ("x.flac", "PCM_16", "PCM_16"),
        ("x.wav", "FLOAT", "FLOAT"),
        ("x.ogg", "VORBIS", None),
        ("x.ogg", "OPUS", None),
        ("x.mp3", "MPEG_LAYER_II", None),
        ("x.flac", "FLOAT", None),
        ("x.wav", None, None),
    ],
)
def test_output_subtype_keeps_sample_encodings_only(
    name: str, source: str | None, expected: str | None
) -> None:
    assert output_subtype(name, source) == expected
