"""Spectral features against librosa 0.11 (the reference the seeds used), plus shapes, batching and configs.

Tolerances below are set from what was measured on this machine (numpy 2.4, torch 2.13 CPU), with margin:
  * mel filterbank: identical to librosa in float64 (max abs diff 0.0);
  * STFT power: relative 1e-12 of the peak in float64 (measured 6e-16);
  * mel power: relative 1e-5 per element (measured 7e-8 in float64, 4e-7 in float32; librosa's mel basis is
    float32, hence not ~1e-15 in float64);
  * MFCC: 1e-4 dB in float64 (measured 1.6e-6), 1e-3 dB in float32 (measured 4.9e-4 on a pure sine, whose
    near-floor bands amplify float32 round-off; 2e-5 on noise);
  * log-mel (natural log): 1e-3 (measured 1.4e-4 in float32, 5e-5 in float64);
  * MFCC on real RAVDESS speech: 1e-4 dB in float64 (measured 1.4e-6); 0.05 dB in float32 (measured 0.018 on c0
    of the first file, 1.5e-3 typical). RAVDESS starts with digital silence, so many mel bands sit just above the
    top_db floor (-80 dB), where float32 FFT round-off is relatively large: librosa multiplies float32 frames by a
    float64 window and so runs its FFT in float64, ours stays float32 (a float64 torch STFT is 5x slower).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.features import (
    FEATURES,
    APCNNSpectrogramConfig,
    LogMelConfig,
    MFCCConfig,
    ThreeChannelLogMelConfig,
    dct_matrix,
    feature_from_dict,
    list_features,
    mel_filterbank,
    mel_spectrogram,
    mfcc,
    power_to_db,
    regression_delta,
    savgol_delta,
    stft_power,
)
from serkit.features.dsp import hz_to_mel, mel_to_hz

librosa = pytest.importorskip(
    "librosa", reason="librosa is the reference implementation (pip install librosa)"
)

SR = 16000
RAVDESS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ravdess" / "audio"


def noise(seconds: float, seed: int = 0, scale: float = 0.1, dtype=np.float64) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(dtype)


def sine(seconds: float, frequency: float = 440.0, dtype=np.float64) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(dtype)


def chirp(seconds: float, seed: int = 1, dtype=np.float64) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t)
    return (tone + 0.01 * np.random.default_rng(seed).standard_normal(t.size)).astype(dtype)


# ---------------------------------------------------------------------------------------------- mel scale


@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("norm", ["slaney", None])
@pytest.mark.parametrize(
    "n_fft, n_mels, fmin, fmax",
    [(2048, 128, 0.0, None), (400, 64, 20.0, None), (512, 40, 0.0, 4000.0), (1024, 80, 50.0, 7600.0)],
)
def test_mel_filterbank_equals_librosa(htk, norm, n_fft, n_mels, fmin, fmax):
    expected = librosa.filters.mel(
        sr=SR, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=np.float64
    )
    ours = mel_filterbank(SR, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    assert ours.shape == (n_mels, n_fft // 2 + 1) and ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("htk", [False, True])
def test_hz_mel_conversions_equal_librosa_and_invert(htk):
    freqs = np.array([0.0, 100.0, 999.0, 1000.0, 1001.0, 4000.0, 8000.0])
    np.testing.assert_allclose(hz_to_mel(freqs, htk=htk), librosa.hz_to_mel(freqs, htk=htk), rtol=1e-12)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs, htk=htk), htk=htk), freqs, atol=1e-9)


def test_mel_filterbank_rejects_bad_range_and_warns_on_empty_bands():
    with pytest.raises(ValueError, match="fmax"):
        mel_filterbank(SR, n_fft=512, n_mels=40, fmin=0.0, fmax=9000.0)
    with pytest.warns(UserWarning, match="empty"):
        mel_filterbank(SR, n_fft=64, n_mels=60)


# ---------------------------------------------------------------------------------------------- STFT and mel power


@pytest.mark.parametrize(
    "options",
    [
        {"n_fft": 2048, "hop_length": 512},
        {"n_fft": 400, "hop_length": 160, "pad_mode": "reflect"},
        {"n_fft": 512, "hop_length": 128, "win_length": 400, "window": "hamming"},
        {"n_fft": 256, "hop_length": 100, "center": False},
    ],
)
def test_stft_power_equals_librosa(options):
    y = noise(0.4)
    expected = np.abs(librosa.stft(y, **options)) ** 2
    ours = stft_power(torch.from_numpy(y), **options).numpy()
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12 * expected.max())


def test_stft_power_magnitude_and_errors():
    y = torch.from_numpy(noise(0.1))
    torch.testing.assert_close(
        stft_power(y, n_fft=256, hop_length=64, power=1.0), stft_power(y, n_fft=256, hop_length=64).sqrt()
    )
    with pytest.raises(ValueError, match="reflect"):
        stft_power(y[:100], n_fft=400, hop_length=160, pad_mode="reflect")
    with pytest.raises(ValueError, match="window"):
        stft_power(y, n_fft=256, hop_length=64, window="kaiser")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make", [noise, sine])
def test_mel_power_equals_librosa_melspectrogram(dtype, make):
    y = make(0.5, dtype=dtype)
    expected = librosa.feature.melspectrogram(y=y, sr=SR)
    config = LogMelConfig(n_fft=2048, hop_length=512, n_mels=128)
    ours = config.mel_power(torch.from_numpy(y)[None])[0].numpy()
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5 * expected.max())


# ---------------------------------------------------------------------------------------------- dB


@pytest.mark.parametrize("ref, top_db", [(1.0, 80.0), (1.0, None), ("max", 80.0), ("max", 40.0), (0.5, 20.0)])
def test_power_to_db_equals_librosa(ref, top_db):
    power = np.random.default_rng(0).exponential(size=(20, 30)) ** 4
    power[0, :5] = 0.0
    expected = librosa.power_to_db(power, ref=np.max if ref == "max" else ref, top_db=top_db)
    ours = power_to_db(torch.from_numpy(power), ref=ref, top_db=top_db)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=0, atol=1e-9)


def test_power_to_db_top_db_and_max_are_per_example_in_a_batch():
    loud = np.random.default_rng(0).exponential(size=(20, 30))
    quiet = 1e-6 * np.random.default_rng(1).exponential(size=(20, 30))  # 60 dB below `loud`
    batch = torch.from_numpy(np.stack([loud, quiet]))
    for ref in (1.0, "max"):
        ours = power_to_db(batch, ref=ref, top_db=30.0)
        for index, example in enumerate((loud, quiet)):
            expected = librosa.power_to_db(example, ref=np.max if ref == "max" else ref, top_db=30.0)
            np.testing.assert_allclose(ours[index].numpy(), expected, atol=1e-9)
    # Over the whole batch (librosa's behaviour on a stacked array) the quiet clip would be flattened to a constant.
    assert ours[1].std() > 1.0


def test_dct_matrix_is_scipy_orthonormal_dct2():
    from scipy.fft import dct

    x = np.random.default_rng(0).standard_normal((16, 5))
    np.testing.assert_allclose(
        (dct_matrix(6, 16) @ torch.from_numpy(x)).numpy(),
        dct(x, type=2, norm="ortho", axis=0)[:6],
        atol=1e-12,
    )
    basis = dct_matrix(16, 16)
    torch.testing.assert_close(basis @ basis.T, torch.eye(16, dtype=torch.float64))


# ---------------------------------------------------------------------------------------------- MFCC


@pytest.mark.parametrize("seconds, frames", [(1.8, 57), (2.0, 63)])
def test_mfcc_glam_shapes(seconds, frames):
    assert MFCCConfig().compute(noise(seconds, dtype=np.float32)).shape == (26, frames)
    assert MFCCConfig().num_frames(int(seconds * SR)) == frames


@pytest.mark.parametrize("make", [noise, sine, chirp])
@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-4), (np.float32, 1e-3)])
@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_mfcc_equals_librosa(make, dtype, atol, pad_mode):
    y = make(1.8, dtype=dtype)
    expected = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=26, pad_mode=pad_mode)
    ours = MFCCConfig(pad_mode=pad_mode).compute(y)
    assert ours.dtype == torch.from_numpy(y).dtype
    np.testing.assert_allclose(ours.numpy(), expected, rtol=0, atol=atol)


def test_dsp_mfcc_and_mel_spectrogram_are_librosa_and_back_the_configs():
    """The pure functions of serkit.features.dsp: librosa's numbers, batched or single, and what the configs compute."""
    y = noise(0.8)
    batch = np.stack([y, chirp(0.8)])
    coefficients = mfcc(batch, sample_rate=SR, n_mfcc=13, n_fft=512, hop_length=160, n_mels=40)
    assert coefficients.shape == (2, 13, 81)
    np.testing.assert_allclose(
        coefficients[0].numpy(),
        librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, n_fft=512, hop_length=160, n_mels=40),
        atol=1e-4,
    )
    single = mfcc(y, sample_rate=SR, n_mfcc=13, n_fft=512, hop_length=160, n_mels=40)
    np.testing.assert_allclose(single.numpy(), coefficients[0].numpy(), atol=1e-9)
    config = MFCCConfig(n_mfcc=13, n_fft=512, hop_length=160, n_mels=40)
    torch.testing.assert_close(config.compute(batch), coefficients, rtol=0, atol=0)
    mel = mel_spectrogram(y, sample_rate=SR, n_fft=400, hop_length=160, n_mels=64, htk=True, fmin=20.0)
    expected = librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=400, hop_length=160, n_mels=64, htk=True, fmin=20.0
    )
    np.testing.assert_allclose(mel.numpy(), expected, rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(
        LogMelConfig(n_mels=64, htk=True, fmin=20.0).mel_power(torch.from_numpy(y)[None])[0],
        mel,
        rtol=0,
        atol=0,
    )


@pytest.mark.realdata
def test_mfcc_equals_librosa_on_real_speech():
    files = sorted(RAVDESS.glob("*.flac"))[:2] if RAVDESS.is_dir() else []
    if not files:
        pytest.skip(f"real corpus {RAVDESS} is not present (it sits beside the checkout in CI)")
    from serkit.audio import load

    for path in files:
        y = load(path, SR)  # read in place, never copied
        np.testing.assert_allclose(
            MFCCConfig().compute(y).numpy(), librosa.feature.mfcc(y=y, sr=SR, n_mfcc=26), atol=0.05
        )
        y64 = y.astype(np.float64)
        np.testing.assert_allclose(
            MFCCConfig().compute(y64).numpy(), librosa.feature.mfcc(y=y64, sr=SR, n_mfcc=26), atol=1e-4
        )


def test_mfcc_librosa_default_pad_mode_is_constant():
    # MFCCConfig follows the installed librosa's default; if librosa changes it, this test says so.
    y = noise(0.5)
    np.testing.assert_allclose(
        MFCCConfig(n_mfcc=13).compute(y).numpy(), librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13), atol=1e-4
    )


def test_mfcc_htk_and_fmax_options_equal_librosa():
    y = chirp(0.6)
    config = MFCCConfig(n_mfcc=20, n_mels=40, n_fft=512, hop_length=160, htk=True, fmin=20, fmax=4000)
    expected = librosa.feature.mfcc(
        y=y, sr=SR, n_mfcc=20, n_mels=40, n_fft=512, hop_length=160, htk=True, fmin=20, fmax=4000
    )
    np.testing.assert_allclose(config.compute(y).numpy(), expected, atol=1e-4)


# ---------------------------------------------------------------------------------------------- deltas


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("width", [3, 5, 9])
@pytest.mark.parametrize("mode", ["interp", "nearest", "mirror", "constant", "wrap"])
def test_savgol_delta_equals_librosa_delta(order, width, mode):
    x = np.random.default_rng(0).standard_normal((2, 7, 25))
    expected = librosa.feature.delta(x, width=width, order=order, mode=mode)
    np.testing.assert_allclose(
        savgol_delta(torch.from_numpy(x), width=width, order=order, mode=mode).numpy(), expected, atol=1e-10
    )


def test_savgol_delta_other_axis_and_errors():
    x = np.random.default_rng(0).standard_normal((12, 4))
    np.testing.assert_allclose(
        savgol_delta(torch.from_numpy(x), axis=0).numpy(), librosa.feature.delta(x, axis=0), atol=1e-10
    )
    with pytest.raises(ValueError, match="width=9"):
        savgol_delta(torch.zeros(3, 5))  # interp needs at least `width` frames, like librosa
    with pytest.raises(ValueError, match="odd"):
        savgol_delta(torch.zeros(3, 20), width=4)


def test_regression_delta_torchaudio_formula_by_hand():
    x = torch.tensor([[0.0, 1.0, 4.0, 9.0, 16.0]])
    # N = 2, denominator 10; edges replicate: padded [0, 0, 0, 1, 4, 9, 16, 16, 16].
    expected = torch.tensor(
        [
            [
                (1 * 1 + 2 * 4) / 10,
                (1 * 4 + 2 * 9) / 10,
                (1 * 8 + 2 * 16) / 10,
                (1 * 12 + 2 * 15) / 10,
                (1 * 7 + 2 * 12) / 10,
            ]
        ]
    )
    torch.testing.assert_close(regression_delta(x, win_length=5), expected)


def test_regression_delta_equals_librosa_nearest_mode():
    x = np.random.default_rng(0).standard_normal((3, 10, 40))
    for win in (3, 5, 7):
        np.testing.assert_allclose(
            regression_delta(torch.from_numpy(x), win_length=win).numpy(),
            librosa.feature.delta(x, width=win, mode="nearest"),
            atol=1e-12,
        )


# ---------------------------------------------------------------------------------------------- DCNN log-mel image


def _dcnn_reference(y: np.ndarray) -> np.ndarray:
    """The DCNN image from librosa pieces: same pre-emphasis, offset, HTK mel, reflect padding, log, deltas."""
    emphasised = np.concatenate([y[:1], y[1:] - 0.97 * y[:-1]]) + 1e-8
    mel = librosa.feature.melspectrogram(
        y=emphasised,
        sr=SR,
        n_fft=400,
        hop_length=160,
        n_mels=64,
        fmin=20.0,
        htk=True,
        norm="slaney",
        pad_mode="reflect",
    )
    static = np.log(mel + 1e-10)
    delta = librosa.feature.delta(static, width=5, mode="nearest")
    return np.stack([static, delta, librosa.feature.delta(delta, width=5, mode="nearest")])


@pytest.mark.parametrize("seconds, frames", [(3.0, 301), (4.0, 401)])
def test_three_channel_logmel_dcnn_shapes(seconds, frames):
    config = ThreeChannelLogMelConfig()
    assert config.compute(noise(seconds, dtype=np.float32)).shape == (3, 64, frames)
    assert config.num_frames(int(seconds * SR)) == frames and config.feature_shape == (3, 64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_three_channel_logmel_equals_librosa_pipeline(dtype):
    y = chirp(0.5, dtype=dtype)
    ours = ThreeChannelLogMelConfig().compute(y).numpy()
    np.testing.assert_allclose(ours, _dcnn_reference(y.astype(np.float64)), atol=1e-3)


def test_three_channel_logmel_minmax_and_silence():
    image = ThreeChannelLogMelConfig(minmax_normalize=True).compute(chirp(0.5))
    np.testing.assert_allclose(image.amin(dim=(-2, -1)).numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(image.amax(dim=(-2, -1)).numpy(), 1.0, atol=1e-12)
    silent = ThreeChannelLogMelConfig().compute(np.zeros(SR, dtype=np.float32))
    assert torch.isfinite(silent).all()  # the floor keeps digital silence finite


def test_log_mel_scales_and_floor():
    y = noise(0.3)
    natural = LogMelConfig(log_scale="natural").compute(y)
    torch.testing.assert_close(LogMelConfig(log_scale="log10").compute(y), natural / np.log(10))
    torch.testing.assert_close(LogMelConfig(log_scale="db").compute(y), 10 * natural / np.log(10))
    assert natural.shape == (80, 31)
    floored = LogMelConfig(floor=1.0).compute(np.zeros(4800))
    torch.testing.assert_close(floored, torch.zeros_like(floored))  # log(0 + 1) = 0


def test_log_mel_equals_librosa_log10_melspectrogram():
    # GLAM's `melspectrogram` feature: log10(librosa.feature.melspectrogram(n_fft=800, hop_length=400)).
    y = noise(0.5)
    expected = np.log10(librosa.feature.melspectrogram(y=y, sr=SR, n_fft=800, hop_length=400))
    config = LogMelConfig(n_fft=800, hop_length=400, n_mels=128, log_scale="log10", floor=0.0)
    np.testing.assert_allclose(config.compute(y).numpy(), expected, atol=1e-4)


# ---------------------------------------------------------------------------------------------- APCNN spectrogram


def _apcnn_reference(y: np.ndarray) -> np.ndarray:
    """python_speech_features 0.6 framesig(640, 160) + logpowspec(NFFT=3198), transposed, first 400 bins."""
    n = len(y)
    frames = 1 if n <= 640 else 1 + int(np.ceil((n - 640) / 160))
    padded = np.concatenate([y, np.zeros((frames - 1) * 160 + 640 - n)])
    framed = np.stack([padded[i * 160 : i * 160 + 640] for i in range(frames)])
    power = np.abs(np.fft.rfft(framed, 3198)) ** 2 / 3198
    power[power <= 1e-30] = 1e-30
    log_power = 10 * np.log10(power)
    return (log_power - log_power.max()).T[:400]


def test_apcnn_spectrogram_shape_and_reference():
    y = noise(2.0)
    ours = APCNNSpectrogramConfig().compute(y)
    assert ours.shape == (400, 197)
    np.testing.assert_allclose(ours.numpy(), _apcnn_reference(y), atol=1e-8)
    short = noise(0.03)  # shorter than one 640-sample frame: one zero-padded frame
    np.testing.assert_allclose(
        APCNNSpectrogramConfig().compute(short).numpy(), _apcnn_reference(short), atol=1e-8
    )


# ---------------------------------------------------------------------------------------------- batches


ALL_CONFIGS = [MFCCConfig(), LogMelConfig(), ThreeChannelLogMelConfig(), APCNNSpectrogramConfig()]


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=lambda c: c.name)
def test_batch_of_three_equals_each_clip_alone(config):
    clips = np.stack([noise(0.6), 1e-3 * sine(0.6), chirp(0.6)]).astype(np.float32)  # very different levels
    batch = config.compute(clips)
    assert batch.shape == (3, *config.feature_shape, config.num_frames(clips.shape[1]))
    for index in range(3):
        torch.testing.assert_close(batch[index], config.compute(clips[index]), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=lambda c: c.name)
def test_lengths_make_padded_examples_equal_their_unpadded_computation(config):
    lengths = [9600, 4000, 7000]
    clips = np.zeros((3, 9600), dtype=np.float32)
    for index, length in enumerate(lengths):
        clips[index, :length] = chirp(length / SR, seed=index, dtype=np.float32)
    batch = config.compute(clips, lengths=lengths)
    frame_lengths = config.frame_lengths(lengths)
    assert frame_lengths.tolist() == [config.num_frames(n) for n in lengths]
    for index, length in enumerate(lengths):
        valid = int(frame_lengths[index])
        torch.testing.assert_close(
            batch[index, ..., :valid], config.compute(clips[index, :length]), rtol=1e-5, atol=1e-4
        )
        assert not batch[index, ..., valid:].any()


def test_lengths_errors():
    with pytest.raises(ValueError, match="lengths must be in"):
        MFCCConfig().compute(np.zeros((2, 100)), lengths=[100, 101])
    with pytest.raises(ValueError, match="shape"):
        MFCCConfig().compute(np.zeros((2, 100)), lengths=[100])


def test_dtypes_follow_the_input():
    assert MFCCConfig().compute(np.zeros(2000, dtype=np.float32)).dtype == torch.float32
    assert MFCCConfig().compute(np.zeros(2000, dtype=np.float64)).dtype == torch.float64
    assert MFCCConfig().compute(np.zeros(2000, dtype=np.int16)).dtype == torch.float32
    with pytest.raises(ValueError, match="mono"):
        MFCCConfig().compute(np.zeros((1, 2, 2000)))


# ---------------------------------------------------------------------------------------------- configs and registry


def test_registry_lists_the_features():
    assert {"apcnn_spectrogram", "log_mel", "mfcc", "three_channel_logmel"} <= set(list_features())
    assert FEATURES.get("mfcc") is MFCCConfig
    assert MFCCConfig.from_dict(MFCCConfig(n_mfcc=13).to_dict()) == MFCCConfig(n_mfcc=13)
    with pytest.raises(ValueError, match="feature_from_dict"):
        MFCCConfig.from_dict({"name": "log_mel"})


def test_recipe_dict_round_trip_and_stable_key():
    config = feature_from_dict({"name": "mfcc", "n_mfcc": 26})
    assert config == MFCCConfig()
    as_dict = config.to_dict()
    assert as_dict["name"] == "mfcc" and as_dict["n_mfcc"] == 26 and as_dict["pad_mode"] == "constant"
    assert all(isinstance(v, (int, float, str, bool, type(None))) for v in as_dict.values())
    assert feature_from_dict(as_dict) == config and feature_from_dict(as_dict).key() == config.key()
    assert config.key() == MFCCConfig(n_mfcc=26).key()
    assert config.key().startswith("mfcc-v1-")
    assert MFCCConfig(n_mfcc=13).key() != config.key()
    assert MFCCConfig(pad_mode="reflect").key() != config.key()


def test_integer_for_float_option_gives_the_same_key():
    # YAML writes `fmin: 20` for 20.0; both must be the same config and cache entry.
    assert ThreeChannelLogMelConfig(fmin=20).key() == ThreeChannelLogMelConfig(fmin=20.0).key()
    assert isinstance(ThreeChannelLogMelConfig(fmin=20).fmin, float)


def test_version_bump_changes_key():
    @dataclasses.dataclass(frozen=True)
    class Bumped(MFCCConfig):
        version = 2

    assert Bumped().key() != MFCCConfig().key() and Bumped().key().startswith("mfcc-v2-")


def test_unknown_option_names_the_closest_valid_one():
    with pytest.raises(ValueError, match="Did you mean 'n_mfcc'"):
        feature_from_dict({"name": "mfcc", "n_mfc": 26})


def test_unknown_feature_name_and_missing_name():
    with pytest.raises(KeyError, match="Did you mean 'mfcc'"):
        feature_from_dict({"name": "mfccs"})
    with pytest.raises(ValueError, match="'name'"):
        feature_from_dict({"n_mfcc": 26})


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_mfcc": "26"}, "must be int"),
        ({"n_mfcc": 26.0}, "must be int"),
        ({"htk": 1}, "must be bool"),
        ({"fmin": True}, "must be float"),
        ({"n_mfcc": 200}, "cannot exceed n_mels"),
        ({"pad_mode": "edge"}, "pad_mode"),
        ({"fmax": 9000}, "fmax"),
        ({"top_db": -1}, "top_db"),
    ],
)
def test_bad_values_fail_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        feature_from_dict({"name": "mfcc", **options})


def test_config_is_frozen_and_hashable():
    config = LogMelConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_mels = 40  # type: ignore[misc]
    assert len({LogMelConfig(), LogMelConfig(), LogMelConfig(n_mels=40)}) == 2
