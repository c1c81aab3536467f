"""Seeded waveform augmentations: speed, noise at an SNR, gain, their composition and the noise folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serkit.audio.augment import (
    NOISE_COLORS,
    NoiseBank,
    WaveformAugment,
    add_noise,
    apply_gain,
    colored_noise,
    speed_perturb,
)
from serkit.core.errors import AudioError, NoAudioFilesError

RATE = 16000


def _sine(frequency: float = 200.0, seconds: float = 1.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _power_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def _peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * RATE / len(x))


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.1, 1.25])
def test_speed_changes_length_and_pitch_by_the_factor(factor: float):
    waveform = _sine(200.0)
    out = speed_perturb(waveform, factor)
    assert out.dtype == np.float32 and abs(len(out) - len(waveform) / factor) <= 1
    assert _peak_hz(out) == pytest.approx(200.0 * factor, abs=2.0)  # speed, not tempo: the pitch moves too


@pytest.mark.parametrize("color", NOISE_COLORS)
@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 7.5, 20.0, 40.0])
def test_noise_is_added_at_the_requested_snr(color: str, snr_db: float):
    waveform = _sine(amplitude=0.1)
    noise = colored_noise(len(waveform), color, np.random.default_rng(3))
    out = add_noise(waveform, noise, snr_db)
    achieved = _power_db(waveform) - _power_db(out.astype(np.float64) - waveform)
    assert abs(achieved - snr_db) < 0.1


def test_noise_colors_have_their_spectral_slopes():
    def slope_db_per_decade(color: str) -> float:  # power between 100-200 Hz vs 1-2 kHz
        noise = colored_noise(RATE * 4, color, np.random.default_rng(0)).astype(np.float64)
        power = np.abs(np.fft.rfft(noise)) ** 2
        hz = np.fft.rfftfreq(len(noise), 1 / RATE)
        low, high = power[(hz >= 100) & (hz < 200)].mean(), power[(hz >= 1000) & (hz < 2000)].mean()
        return 10 * np.log10(high / low)

    assert slope_db_per_decade("white") == pytest.approx(0, abs=1)
    assert slope_db_per_decade("pink") == pytest.approx(-10, abs=1.5)  # power ∝ 1/f
    assert slope_db_per_decade("brown") == pytest.approx(-20, abs=1.5)  # power ∝ 1/f²


def test_silent_waveform_gets_no_noise():
    silence = np.zeros(1000, np.float32)
    out = add_noise(silence, colored_noise(1000, "white", np.random.default_rng(0)), 10.0)
    assert not np.any(out)


@pytest.mark.parametrize("gain_db", [-12.0, -6.0, 0.0, 3.0, 6.0])
def test_gain_is_applied_in_db(gain_db: float):
    waveform = _sine(amplitude=0.1)
    out = apply_gain(waveform, gain_db)
    assert _power_db(out) - _power_db(waveform) == pytest.approx(gain_db, abs=1e-3)


def test_gain_never_pushes_the_peak_past_full_scale():
    loud = _sine(amplitude=0.8)
    assert np.abs(apply_gain(loud, 6.0)).max() == pytest.approx(1.0, abs=1e-6)  # +6 dB lowered to +1.9 dB
    full = _sine(amplitude=1.0)
    np.testing.assert_allclose(apply_gain(full, 6.0), full, atol=1e-6)  # at full scale: unchanged
    hot = _sine(amplitude=1.5)  # a float file above full scale is never made louder, nor clipped
    np.testing.assert_allclose(apply_gain(hot, 6.0), hot, atol=1e-6)
    np.testing.assert_allclose(apply_gain(full, -6.0), full * 10 ** (-6 / 20), atol=1e-6)


def test_composition_is_deterministic_per_seed_and_leaves_the_input_alone():
    augment = WaveformAugment(speed_prob=0.7, noise_prob=0.7, gain_prob=0.7)
    waveform = _sine()
    original = waveform.copy()
    outputs = [augment(waveform, np.random.default_rng([5, epoch])) for epoch in range(8)]
    again = [augment(waveform, np.random.default_rng([5, epoch])) for epoch in range(8)]
    for a, b in zip(outputs, again):
        np.testing.assert_array_equal(a, b)
    assert len({(len(o), round(float(o[:100].sum()), 4)) for o in outputs}) > 4  # the draws differ per seed
    np.testing.assert_array_equal(waveform, original)


def test_all_probabilities_zero_is_a_copy_and_one_augmentation_keeps_the_others_draws():
    waveform = _sine()
    assert not WaveformAugment().enabled
    np.testing.assert_array_equal(WaveformAugment()(waveform, np.random.default_rng(0)), waveform)
    speed_only = WaveformAugment(speed_prob=1.0)(waveform, np.random.default_rng(9))
    with_gain = WaveformAugment(speed_prob=1.0, gain_prob=1.0, gain_db=(-3.0, -3.0))(
        waveform, np.random.default_rng(9)
    )
    np.testing.assert_allclose(with_gain, speed_only * 10 ** (-3 / 20), atol=1e-6)


@pytest.mark.parametrize(
    "arguments",
    [{"speed_prob": 1.5}, {"speeds": ()}, {"snr_db": (20.0, 5.0)}, {"noise_colors": ("blue",)}],
)
def test_bad_arguments_are_refused(arguments: dict):
    with pytest.raises(ValueError):
        WaveformAugment(**arguments)


def test_noise_folder_excerpts_reach_the_snr(tmp_path: Path):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "hum.wav", 0.2 * rng.standard_normal(8000), 8000)  # another rate: resampled
    (tmp_path / "sub").mkdir()
    sf.write(tmp_path / "sub" / "fan.flac", 0.1 * rng.standard_normal(40000), RATE)
    bank = NoiseBank(tmp_path, RATE)
    assert sorted(len(n) for n in bank.noises) == [16000, 40000]
    waveform = _sine(seconds=2.5)  # longer than the first file: it is repeated
    augment = WaveformAugment(noise_prob=1.0, noise_bank=bank, snr_db=(10.0, 10.0))
    for seed in range(4):
        out = augment(waveform, np.random.default_rng(seed))
        assert abs(_power_db(waveform) - _power_db(out.astype(np.float64) - waveform) - 10.0) < 0.1


def test_noise_folder_errors_name_the_folder(tmp_path: Path):
    with pytest.raises(NoAudioFilesError, match="does not exist"):
        NoiseBank(tmp_path / "missing", RATE)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio here")
    with pytest.raises(NoAudioFilesError, match=f"{empty}.*holds no audio file"):
        NoiseBank(empty, RATE)
    silent = tmp_path / "silent"
    silent.mkdir()
    sf.write(silent / "zero.wav", np.zeros(1000), RATE)
    with pytest.raises(NoAudioFilesError, match="silent"):
        NoiseBank(silent, RATE)
    broken = tmp_path / "broken"
    broken.mkdir()
    sf.write(broken / "ok.wav", np.ones(1000) * 0.1, RATE)
    (broken / "bad.wav").write_bytes(b"RIFF0000WAVEnot really audio")
    with pytest.raises(AudioError, match=f"bad.wav: unusable file in noise folder {broken}"):
        NoiseBank(broken, RATE)
