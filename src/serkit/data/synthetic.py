"""A small SYNTHETIC emotional-speech corpus, generated from a seed, so that the whole pipeline runs anywhere.

The signals are not speech: each utterance is a voiced-like source-filter signal — a harmonic source following a
pitch contour, shaped by formant-like resonances that change from "syllable" to "syllable", gated by an
amplitude envelope of syllable-like bursts, plus a little aspiration and background noise. Emotions differ in
prosody the way acted speech tends to (angry: loud, fast, high, bright; sad: quiet, slow, low, falling, dark;
happy: high with wide pitch movement; neutral: flat), and every cue is blurred by per-speaker and per-utterance
variation (a female speaker's sad pitch is above a male speaker's angry pitch), so a classifier has something to
learn but no single threshold solves it.

Layout written by :func:`generate_corpus` (read back by the ``synthetic`` corpus loader)::

    OUT/README.txt                      says the corpus is synthetic and how it was made
    OUT/speakers.csv                    speaker, gender, base_f0_hz, formant_scale
    OUT/dimensions.csv                  utterance, arousal, valence, dominance (1-5, see below)
    OUT/audio/spk03_angry_005.flac      speaker _ emotion _ take (1-based), 16-bit FLAC, mono

Every utterance also gets arousal, valence and dominance ratings on :data:`DIMENSION_RANGE` (1 low, 5 high): the
emotion's prototype (:data:`EMOTION_DIMENSIONS`; angry high arousal, low valence, high dominance), moved as far
from neutral as the speaker's expressiveness moved the prosody, plus what this utterance's own drawn loudness,
rate, pitch and brightness say (louder and faster is more aroused, rising pitch more positive), plus a little
"rater" noise, so the ratings can be learnt from the audio but not read off the emotion label.

Generation is deterministic: the same arguments give byte-identical files (every utterance has its own random
stream derived from ``seed``, speaker, emotion and take, so it does not depend on the order of generation).

Example:
    >>> import tempfile
    >>> root = generate_corpus(tempfile.mkdtemp(), num_speakers=2, utterances_per_emotion=1)
    >>> sorted(p.name for p in (root / "audio").iterdir())[:2]
    ['spk01_angry_001.flac', 'spk01_happy_001.flac']
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit.audio.io import save
from serkit.core.fileio import atomic_open, atomic_write_text
from serkit.data.utterance import CANONICAL_EMOTIONS

__all__ = [
    "DIMENSION_RANGE",
    "EMOTION_DIMENSIONS",
    "EMOTION_PROSODY",
    "EmotionProsody",
    "SpeakerVoice",
    "generate_corpus",
    "utterance_name",
]


@dataclass(frozen=True)
class EmotionProsody:
    """Mean prosody of one emotion; each utterance draws its own values around these.

    Attributes:
        pitch_shift: semitones above (below) the speaker's base F0.
        pitch_range: semitones of slow pitch movement (std of the contour) and of per-syllable accents.
        pitch_slope: semitones of rise (+) or fall (-) from the start to the end of the utterance.
        syllable_rate: syllables per second.
        level_db: loudness relative to neutral.
        spectral_tilt: roll-off of the harmonics in dB per octave; smaller is brighter (more high harmonics).
        breathiness: aspiration noise relative to the voiced part.
        jitter: fast random pitch perturbation in semitones.
    """

    pitch_shift: float
    pitch_range: float
    pitch_slope: float
    syllable_rate: float
    level_db: float
    spectral_tilt: float
    breathiness: float
    jitter: float


#: Prosody per emotion. Adding an emotion to the generator is adding a row here.
EMOTION_PROSODY: dict[str, EmotionProsody] = {
    "neutral": EmotionProsody(0.0, 1.0, -1.0, 4.0, 0.0, 8.0, 0.05, 0.10),
    "calm": EmotionProsody(-1.0, 0.7, -1.5, 3.5, -3.0, 9.0, 0.08, 0.08),
    "happy": EmotionProsody(3.0, 3.0, 1.0, 4.6, 2.0, 6.5, 0.05, 0.15),
    "sad": EmotionProsody(-2.0, 0.6, -4.0, 2.8, -6.0, 11.0, 0.15, 0.10),
    "angry": EmotionProsody(3.5, 2.0, -2.0, 5.5, 6.0, 3.5, 0.04, 0.25),
    "fearful": EmotionProsody(5.0, 2.5, 0.5, 5.2, -1.0, 7.5, 0.12, 0.50),
}

#: (low, high) of the synthetic arousal / valence / dominance ratings (registered in serkit.data.dimensions).
DIMENSION_RANGE = (1.0, 5.0)
#: Prototype (arousal, valence, dominance) per emotion on DIMENSION_RANGE; every emotion of EMOTION_PROSODY has one.
EMOTION_DIMENSIONS: dict[str, tuple[float, float, float]] = {
    "neutral": (3.0, 3.0, 3.0),
    "calm": (2.2, 3.5, 2.8),
    "happy": (3.9, 4.3, 3.3),
    "sad": (1.8, 1.7, 1.9),
    "angry": (4.4, 1.8, 4.2),
    "fearful": (4.0, 1.7, 1.8),
}

# Formant frequencies (Hz) of five vowels /a e i o u/ for an adult male vocal tract; speakers scale them.
_VOWEL_FORMANTS = np.array(
    [
        [730.0, 1090.0, 2440.0],
        [530.0, 1840.0, 2480.0],
        [270.0, 2290.0, 3010.0],
        [570.0, 840.0, 2410.0],
        [300.0, 870.0, 2240.0],
    ]
)
_FORMANT_BANDWIDTHS = np.array([90.0, 110.0, 170.0])
_FORMANT_WEIGHTS = np.array([1.0, 0.6, 0.35])
_HOP_SECONDS = (
    0.005  # control parameters (pitch, envelope, formants) are computed every 5 ms, then interpolated
)
_MAX_HARMONIC_HZ = 5000.0  # speech-like bandwidth; also keeps the harmonic count (and the run time) small
_MAX_HARMONICS = 48
_REFERENCE_RMS = 0.1  # -20 dBFS for a neutral utterance of an average speaker
_NOISE_FLOOR = 10 ** (-60 / 20)  # so pauses are quiet rather than digital zero


@dataclass(frozen=True)
class SpeakerVoice:
    """A synthetic speaker: id, gender, base pitch, vocal-tract scale and habits."""

    speaker: str
    gender: str
    base_f0_hz: float
    formant_scale: float
    level_db: float  # how loud this speaker is overall
    expressiveness: float  # how far this speaker's emotions move away from neutral
    tilt_offset_db: float  # this speaker's own brightness


def utterance_name(speaker: str, emotion: str, take: int) -> str:
    """File name of one utterance, e.g. ``spk03_angry_005.flac`` (take is 1-based)."""
    return f"{speaker}_{emotion}_{take:03d}.flac"


def _make_speaker(index: int, num_speakers: int, seed: int) -> SpeakerVoice:
    """Speaker ``index`` (1-based): odd indices male, even female, so any even count is half and half."""
    rng = np.random.default_rng([seed, 0, index])
    male = index % 2 == 1
    width = max(2, len(str(num_speakers)))
    return SpeakerVoice(
        speaker=f"spk{index:0{width}d}",
        gender="male" if male else "female",
        base_f0_hz=float(rng.uniform(95.0, 140.0) if male else rng.uniform(175.0, 235.0)),
        formant_scale=float(rng.normal(1.0, 0.04) if male else rng.normal(1.16, 0.04)),
        level_db=float(rng.normal(0.0, 2.0)),
        expressiveness=float(rng.uniform(0.6, 1.2)),
        tilt_offset_db=float(rng.normal(0.0, 1.5)),
    )


def _utterance_prosody(mean: EmotionProsody, voice: SpeakerVoice, rng: np.random.Generator) -> EmotionProsody:
    """This utterance's prosody: the emotion's mean, scaled by the speaker's expressiveness, plus noise."""
    neutral = EMOTION_PROSODY["neutral"]

    def toward(field: str) -> float:  # the speaker moves only part (or more) of the way from neutral
        base = getattr(neutral, field)
        return base + voice.expressiveness * (getattr(mean, field) - base)

    return EmotionProsody(
        pitch_shift=toward("pitch_shift") + rng.normal(0.0, 1.5),
        pitch_range=toward("pitch_range") * rng.lognormal(0.0, 0.3),
        pitch_slope=toward("pitch_slope") + rng.normal(0.0, 1.5),
        syllable_rate=toward("syllable_rate") * rng.lognormal(0.0, 0.15),
        level_db=toward("level_db") + voice.level_db + rng.normal(0.0, 2.5),
        spectral_tilt=max(1.0, toward("spectral_tilt") + voice.tilt_offset_db + rng.normal(0.0, 2.0)),
        breathiness=toward("breathiness") * rng.lognormal(0.0, 0.3),
        jitter=toward("jitter") * rng.lognormal(0.0, 0.3),
    )


def _utterance_dimensions(
    emotion: str, prosody: EmotionProsody, voice: SpeakerVoice, rng: np.random.Generator
) -> tuple[float, float, float]:
    """(arousal, valence, dominance) of one rendered utterance, on DIMENSION_RANGE (see the module docstring)."""
    neutral, mean = EMOTION_PROSODY["neutral"], EMOTION_PROSODY[emotion]

    def expected(field: str) -> float:  # what _utterance_prosody draws around for this speaker and emotion
        base = getattr(neutral, field)
        return base + voice.expressiveness * (getattr(mean, field) - base)

    # This utterance's drawn deviations, each about unit spread, with the speaker's own habits taken out.
    loud = (prosody.level_db - voice.level_db - expected("level_db")) / 2.5
    fast = np.log(prosody.syllable_rate / expected("syllable_rate")) / 0.15
    high = (prosody.pitch_shift - expected("pitch_shift")) / 1.5
    rising = (prosody.pitch_slope - expected("pitch_slope")) / 1.5
    bright = (expected("spectral_tilt") + voice.tilt_offset_db - prosody.spectral_tilt) / 2.0
    cues = np.array(
        [
            0.25 * loud + 0.2 * fast + 0.1 * high,  # arousal
            0.2 * rising + 0.05 * high,  # valence
            0.2 * loud + 0.1 * bright - 0.05 * high,  # dominance
        ]
    )
    centre, prototype = np.array(EMOTION_DIMENSIONS["neutral"]), np.array(EMOTION_DIMENSIONS[emotion])
    values = centre + voice.expressiveness * (prototype - centre) + cues + rng.normal(0.0, 0.15, size=3)
    low, high_end = DIMENSION_RANGE
    return tuple(float(v) for v in np.round(np.clip(values, low, high_end), 2))


@dataclass(frozen=True)
class _Syllables:
    """Syllable slots of one utterance, one entry per slot (arrays of equal length)."""

    start: np.ndarray  # seconds
    length: np.ndarray  # seconds
    voiced: np.ndarray  # share of the slot that is voiced (the rest is a gap)
    amplitude: np.ndarray  # 0 for a pause
    vowel: np.ndarray  # row of _VOWEL_FORMANTS
    accent: np.ndarray  # pitch accent in units of the utterance's pitch range
    end: float  # seconds; nothing is voiced after this


def _syllables(num_seconds: float, rate: float, rng: np.random.Generator) -> _Syllables:
    """Syllable slots covering ``[lead, num_seconds - trail]`` at about ``rate`` per second."""
    lead, trail = rng.uniform(0.05, 0.2, size=2)
    span = max(num_seconds - lead - trail, 0.1)
    count = int(np.ceil(span * rate * 2)) + 2  # more than enough; the surplus is cut below
    lengths = rng.lognormal(0.0, 0.25, size=count) / rate
    starts = lead + np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    keep = starts < lead + span
    pause = rng.random(count) < 0.12  # ~12% of slots are pauses, but never the first: no utterance is silent
    pause[0] = False
    amplitude = np.where(pause, 0.0, rng.uniform(0.5, 1.0, size=count))
    return _Syllables(
        start=starts[keep],
        length=lengths[keep],
        voiced=rng.uniform(0.55, 0.85, size=count)[keep],
        amplitude=amplitude[keep],
        vowel=rng.integers(0, len(_VOWEL_FORMANTS), size=count)[keep],
        accent=rng.normal(0.0, 0.5, size=count)[keep],
        end=float(lead + span),
    )


def _smooth_contour(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A slow random contour with unit standard deviation: three sinusoids of 0.3-2 Hz."""
    freqs = rng.uniform(0.3, 2.0, size=3)
    phases = rng.uniform(0.0, 2 * np.pi, size=3)
    return np.sin(2 * np.pi * freqs * times[:, None] + phases).sum(axis=1) / np.sqrt(1.5)


def _harmonic_sines(phase: np.ndarray, num_harmonics: int) -> np.ndarray:
    """``sin(k * phase)`` for k = 1..num_harmonics, shape (num_harmonics, samples).

    Uses sin((k+1)x) = 2 cos(x) sin(kx) - sin((k-1)x): two multiply-adds per value instead of a sine, which
    makes the whole default corpus several times faster to generate.
    """
    sines = np.empty((num_harmonics, len(phase)), dtype=np.float32)
    sines[0] = np.sin(phase)
    twice_cos = 2 * np.cos(phase)
    if num_harmonics > 1:
        sines[1] = twice_cos * sines[0]
    for k in range(2, num_harmonics):
        np.multiply(twice_cos, sines[k - 1], out=sines[k])
        sines[k] -= sines[k - 2]
    return sines


def _synthesize(
    voice: SpeakerVoice,
    prosody: EmotionProsody,
    num_seconds: float,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One utterance: (samples,) float32 in [-1, 1]."""
    num_samples = round(num_seconds * sample_rate)
    hop = max(1, round(_HOP_SECONDS * sample_rate))
    num_blocks = -(-num_samples // hop)  # samples are synthesised in blocks of `hop`, then trimmed
    control_times = np.arange(num_blocks + 1) * hop / sample_rate  # block edges, where controls are defined

    # Which syllable each control point falls in, and how far into it.
    syl = _syllables(num_seconds, prosody.syllable_rate, rng)
    index = np.clip(np.searchsorted(syl.start, control_times, side="right") - 1, 0, len(syl.start) - 1)
    position = (control_times - syl.start[index]) / syl.length[index]
    voiced = (position >= 0) & (position < syl.voiced[index]) & (control_times < syl.end)
    bump = np.sin(np.pi * np.clip(position / syl.voiced[index], 0.0, 1.0)) ** 0.7
    envelope = np.where(voiced, syl.amplitude[index] * bump, 0.0)

    # Pitch: emotion shift + overall rise/fall + slow movement + per-syllable accent + fast jitter.
    relative_time = control_times / num_seconds - 0.5
    semitones = (
        prosody.pitch_shift
        + prosody.pitch_slope * relative_time
        + prosody.pitch_range * (_smooth_contour(control_times, rng) + syl.accent[index])
        + prosody.jitter * rng.standard_normal(len(control_times))
    )
    f0 = np.clip(voice.base_f0_hz * 2.0 ** (semitones / 12.0), 60.0, 500.0)  # (blocks + 1,)

    # Harmonic amplitudes per control point: spectral tilt times formant-like resonances of the syllable's vowel.
    top_hz = min(_MAX_HARMONIC_HZ, 0.45 * sample_rate)
    num_harmonics = int(min(_MAX_HARMONICS, top_hz // f0.min()))
    harmonics = np.arange(1, num_harmonics + 1)
    harmonic_hz = f0[:, None] * harmonics  # (blocks + 1, harmonics)
    formants = _VOWEL_FORMANTS[syl.vowel[index]] * voice.formant_scale  # (blocks + 1, 3)
    bandwidths = _FORMANT_BANDWIDTHS * (1.0 + prosody.breathiness)
    distance = (harmonic_hz[:, :, None] - formants[:, None, :]) / (
        bandwidths / 2
    )  # (blocks + 1, harmonics, 3)
    resonance = 0.05 + (_FORMANT_WEIGHTS / np.sqrt(1.0 + distance**2)).sum(axis=2)
    tilt = harmonics ** (-prosody.spectral_tilt / (20 * np.log10(2)))
    amplitudes = np.where(harmonic_hz < top_hz, resonance * tilt, 0.0).astype(np.float32)

    # Sum of harmonics with amplitudes interpolated linearly across each block:
    # out[b, h] = (1 - w_h) * sum_k A[b, k] sin_k[b, h] + w_h * sum_k A[b + 1, k] sin_k[b, h].
    sample_index = np.arange(num_blocks * hop)
    sample_f0 = np.interp(sample_index / hop, np.arange(num_blocks + 1), f0)
    phase = np.mod(2 * np.pi * np.cumsum(sample_f0) / sample_rate, 2 * np.pi).astype(np.float32)
    sines = _harmonic_sines(phase, num_harmonics).reshape(num_harmonics, num_blocks, hop).transpose(1, 0, 2)
    at_start = np.matmul(amplitudes[:-1, None, :], sines)[:, 0]  # (blocks, hop)
    at_end = np.matmul(amplitudes[1:, None, :], sines)[:, 0]
    weight = (np.arange(hop, dtype=np.float32) / hop)[None, :]
    voice_signal = ((1 - weight) * at_start + weight * at_end).reshape(-1)[:num_samples]
    sample_envelope = np.interp(sample_index[:num_samples] / hop, np.arange(num_blocks + 1), envelope)
    voice_signal *= sample_envelope.astype(np.float32)

    # Loudness: scale the active part to the utterance's level, add breath and a noise floor, limit softly.
    active = sample_envelope > 0.1
    rms = float(np.sqrt(np.mean(voice_signal[active] ** 2))) if active.any() else 1.0
    voice_signal /= max(rms, 1e-8)
    breath = np.diff(rng.standard_normal(num_samples + 1)) / np.sqrt(2)  # white -> high-pass, like aspiration
    signal = voice_signal + prosody.breathiness * breath * sample_envelope  # breath 16-28 dB below the voice
    signal = signal * (_REFERENCE_RMS * 10 ** (prosody.level_db / 20)) + _NOISE_FLOOR * rng.standard_normal(
        num_samples
    )
    return (0.98 * np.tanh(signal / 0.98)).astype(np.float32)


def _check_arguments(
    num_speakers: int,
    utterances_per_emotion: int,
    emotions: tuple[str, ...],
    duration_range: tuple[float, float],
    sample_rate: int,
    seed: int,
) -> None:
    if num_speakers < 1:
        raise ValueError(
            f"num_speakers={num_speakers}: need at least 1 (use an even number for a gender balance)."
        )
    if utterances_per_emotion < 1:
        raise ValueError(f"utterances_per_emotion={utterances_per_emotion}: need at least 1.")
    if not emotions or len(set(emotions)) != len(emotions):
        raise ValueError(f"emotions={list(emotions)}: give a non-empty list without repeats.")
    unknown = [e for e in emotions if e not in EMOTION_PROSODY or e not in EMOTION_DIMENSIONS]
    if unknown:
        raise ValueError(
            f"emotions {unknown} have no synthetic prosody; use some of {', '.join(EMOTION_PROSODY)} "
            "(or add a row to serkit.data.synthetic.EMOTION_PROSODY and EMOTION_DIMENSIONS)."
        )
    low, high = duration_range
    if not 0.3 <= low <= high:
        raise ValueError(f"duration_range={duration_range}: need 0.3 <= min <= max (seconds).")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate={sample_rate}: need at least 8000 Hz for the formants to fit.")
    if seed < 0:
        raise ValueError(f"seed={seed}: use a non-negative integer (0 is fine).")


_README = """\
SYNTHETIC emotional-speech corpus generated by serkit (serkit.data.synthetic.generate_corpus).

This is NOT recorded speech. Every file is a voiced-like signal (harmonic source with a pitch contour,
formant-like resonances, syllable-like amplitude bursts and a little noise) whose prosody differs by
emotion: angry is louder, faster, higher and brighter; sad quieter, slower, lower and falling; happy high
with wide pitch movement; neutral flat. Results on it say the pipeline works, not how well a model
recognises emotion in people.

Generated with: num_speakers={num_speakers}, utterances_per_emotion={utterances_per_emotion},
emotions={emotions}, duration_range={duration_range}, sample_rate={sample_rate}, seed={seed}
Files: {num_files} in audio/ named SPEAKER_EMOTION_TAKE.flac; speakers.csv gives each speaker's gender;
dimensions.csv gives each utterance's arousal, valence and dominance (1-5, from its emotion and rendered prosody).
Load it with serkit.load_corpus("synthetic", "<this folder>") or `serkit corpus prepare synthetic <this folder>`.
"""


def generate_corpus(
    out_dir: str | os.PathLike,
    *,
    num_speakers: int = 6,
    utterances_per_emotion: int = 8,
    emotions: tuple[str, ...] = ("neutral", "happy", "sad", "angry"),
    duration_range: tuple[float, float] = (1.0, 3.0),
    sample_rate: int = 16000,
    seed: int = 0,
) -> Path:
    """Write a synthetic emotional-speech corpus (layout in the module docstring) and return its folder.

    Args:
        out_dir: folder to create or reuse; re-running with the same arguments rewrites identical files.
        num_speakers: speakers ``spk01..``; odd numbers are male, even female.
        utterances_per_emotion: takes per speaker and emotion.
        emotions: emotions to generate, each a key of :data:`EMOTION_PROSODY`.
        duration_range: (min, max) utterance length in seconds, drawn uniformly.
        sample_rate: Hz.
        seed: makes the corpus reproducible; 0 is a valid seed.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ValueError: a bad argument, or ``out_dir/audio`` holding files this call would not write (use an empty
            folder, so the corpus never mixes two generations).
    """
    emotions = tuple(emotions)
    _check_arguments(num_speakers, utterances_per_emotion, emotions, duration_range, sample_rate, seed)
    out_dir = Path(out_dir)
    audio_dir = out_dir / "audio"
    voices = {index: _make_speaker(index, num_speakers, seed) for index in range(1, num_speakers + 1)}
    plan = [
        (index, emotion, take)
        for index in voices
        for emotion in emotions
        for take in range(1, utterances_per_emotion + 1)
    ]
    names = {utterance_name(voices[index].speaker, emotion, take) for index, emotion, take in plan}
    if audio_dir.is_dir():
        stale = sorted(
            p.name for p in audio_dir.iterdir() if p.name not in names and not p.name.startswith(".")
        )
        if stale:
            raise ValueError(
                f"{audio_dir} already holds {len(stale)} file(s) this corpus would not write "
                f"(e.g. {stale[0]}); generate into an empty folder or delete {out_dir} first."
            )

    dimensions = []
    for index, emotion, take in plan:
        voice = voices[index]
        # An independent stream per utterance: the corpus does not depend on generation order.
        stream = [seed, 1, index, CANONICAL_EMOTIONS.index(emotion), take]
        rng = np.random.default_rng(stream)
        prosody = _utterance_prosody(EMOTION_PROSODY[emotion], voice, rng)
        num_seconds = float(rng.uniform(*duration_range))
        waveform = _synthesize(voice, prosody, num_seconds, sample_rate, rng)
        name = utterance_name(voice.speaker, emotion, take)
        save(audio_dir / name, waveform, sample_rate, subtype="PCM_16")
        # The ratings' noise has its own stream, so adding them left every audio file as it was.
        ratings = _utterance_dimensions(emotion, prosody, voice, np.random.default_rng([*stream, 2]))
        dimensions.append([Path(name).stem, *(f"{value:.2f}" for value in ratings)])

    with atomic_open(out_dir / "speakers.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["speaker", "gender", "base_f0_hz", "formant_scale"])
        for voice in voices.values():
            writer.writerow(
                [voice.speaker, voice.gender, f"{voice.base_f0_hz:.1f}", f"{voice.formant_scale:.3f}"]
            )
    with atomic_open(out_dir / "dimensions.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["utterance", "arousal", "valence", "dominance"])
        writer.writerows(dimensions)
    atomic_write_text(
        out_dir / "README.txt",
        _README.format(
            num_speakers=num_speakers,
            utterances_per_emotion=utterances_per_emotion,
            emotions=list(emotions),
            duration_range=tuple(duration_range),
            sample_rate=sample_rate,
            seed=seed,
            num_files=len(plan),
        ),
    )
    return out_dir
