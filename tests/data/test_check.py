"""`serkit corpus check`: one generated trap corpus per check, the real RAVDESS (clean) and the 2-s EmoDB copy."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import shared_corpus

from serkit.cli import main
from serkit.data.check import check_corpus, check_metadata, precheck
from serkit.data.utterance import Utterance, read_manifest

RATE = 16000
EMOTIONS = ("neutral", "happy", "sad")


def _voice(rng: np.random.Generator, seconds: float, rate: int = RATE) -> np.ndarray:
    """A speech-like signal: harmonic 'syllables' of random pitch and timing over faint noise."""
    t = np.arange(int(seconds * rate)) / rate
    envelope, position = np.zeros_like(t), rng.uniform(0.1, 0.2)
    while position < seconds - 0.15:
        length = rng.uniform(0.08, 0.3)
        inside = (t >= position) & (t < position + length)
        envelope[inside] = np.hanning(inside.sum()) * rng.uniform(0.3, 1.0)
        position += length + rng.uniform(0.03, 0.2)
    pitch = rng.uniform(100, 250) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    signal = sum(np.sin(k * phase) / k for k in range(1, 6)) * envelope
    signal = 0.3 * signal / np.abs(signal).max() + 1e-3 * rng.standard_normal(len(t))
    return signal.astype(np.float32)


def _specs(speakers: int = 4, per_emotion: int = 3, seed: int = 0, fixed: float | None = None) -> list[dict]:
    """A clean corpus: every speaker says every emotion equally often, durations 1-2 s."""
    rng = np.random.default_rng(seed)
    return [
        {
            "id": f"s{s}_{emotion}_{k}",
            "speaker": f"s{s}",
            "emotion": emotion,
            "audio": _voice(rng, fixed or rng.uniform(1.0, 2.0)),
            "rate": RATE,
            "text": "",
        }
        for s in range(speakers)
        for emotion in EMOTIONS
        for k in range(per_emotion)
    ]


def _write(root: Path, specs: list[dict]) -> Path:
    (root / "audio").mkdir(parents=True)
    with open(root / "manifest.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["utt_id", "path", "speaker", "emotion", "text"])
        for spec in specs:
            path = root / "audio" / f"{spec['id']}.wav"
            if "copy_of" in spec:  # byte-identical copy
                path.write_bytes((root / "audio" / f"{spec['copy_of']}.wav").read_bytes())
            else:
                sf.write(path, spec["audio"], spec["rate"], subtype="PCM_16")
            writer.writerow(
                [spec["id"], f"audio/{path.name}", spec["speaker"], spec["emotion"], spec["text"]]
            )
    return root


def _check(root: Path, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "check_out"
    code = main(["corpus", "check", str(root), "-o", str(out), *extra])
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert findings["exit_code"] == code
    return code, {f["id"]: f for f in findings["findings"]}


def _problems(found: dict) -> set[str]:
    return {i for i, f in found.items() if f["level"] != "info"}


def test_clean_generated_corpus_exits_0_and_writes_the_report(tmp_path: Path):
    code, found = _check(_write(tmp_path / "c", _specs()), tmp_path)
    assert code == 0 and _problems(found) == set()
    assert found["speaker_confounding"]["numbers"]["one_emotion_speakers"] == 0
    out = tmp_path / "check_out"
    for name in ("report.md", "findings.json", "duration_histogram.png", "speaker_emotion.png"):
        assert (out / name).is_file(), name
    assert "Verdict: clean" in (out / "report.md").read_text(encoding="utf-8")


def test_one_emotion_speakers_are_an_error_naming_another_protocol(tmp_path: Path):
    specs = [dict(spec, speaker=f"p{EMOTIONS.index(spec['emotion'])}{spec['speaker']}") for spec in _specs()]
    code, found = _check(_write(tmp_path / "c", specs), tmp_path, "--no-audio")
    finding = found["speaker_confounding"]
    assert code == 2 and finding["level"] == "error"
    assert finding["numbers"]["one_emotion_share"] == 1.0 and finding["numbers"]["cramers_v"] == 1.0
    assert finding["numbers"]["speaker_only_accuracy"] == 1.0
    assert "collapses to chance" in finding["message"] and "cross-corpus" in finding["fix"]


def test_exact_duplicate_across_labels_is_an_error(tmp_path: Path):
    specs = _specs()
    specs.append(dict(specs[0], id="copy", emotion="happy", copy_of=specs[0]["id"]))
    code, found = _check(_write(tmp_path / "c", specs), tmp_path)
    assert code == 2 and found["duplicate_across_labels"]["level"] == "error"
    assert found["duplicate_across_labels"]["examples"] == [f"copy = {specs[0]['id']}"]
    assert "near_duplicate_across_labels" not in found  # a byte-identical pair is not reported twice


def test_gain_changed_trimmed_copy_is_a_near_duplicate(tmp_path: Path):
    specs = _specs()
    louder = np.clip(specs[0]["audio"][800:] * 2.5, -1, 1)
    specs.append(dict(specs[0], id="louder", speaker="s1", audio=louder))
    specs.append(dict(specs[4], id="quieter", emotion="sad", audio=specs[4]["audio"] * 0.5))
    code, found = _check(_write(tmp_path / "c", specs), tmp_path)
    assert found["near_duplicate_across_speakers"]["examples"] == [f"louder = {specs[0]['id']}"]
    assert found["near_duplicate_across_labels"]["examples"] == [f"quieter = {specs[4]['id']}"]
    assert found["near_duplicate_across_labels"]["level"] == "error" and code == 2
    assert _problems(found) == {"near_duplicate_across_speakers", "near_duplicate_across_labels"}


def test_resampled_copy_at_another_rate_is_a_near_duplicate(tmp_path: Path):
    from serkit.audio.io import resample

    specs = _specs()
    specs.append(dict(specs[0], id="at22k", audio=resample(specs[0]["audio"], RATE, 22050), rate=22050))
    code, found = _check(_write(tmp_path / "c", specs), tmp_path)
    assert found["near_duplicate_same_speaker"]["level"] == "warning"
    assert {"near_duplicate_same_speaker", "sample_rate_mixture"} == _problems(found) and code == 1


def test_clipped_and_silent_files_warn(tmp_path: Path):
    specs = _specs()
    specs[1]["audio"] = np.clip(specs[1]["audio"] * 20, -1, 1)
    specs[2]["audio"] = np.zeros_like(specs[2]["audio"])
    code, found = _check(_write(tmp_path / "c", specs), tmp_path)
    assert code == 1 and _problems(found) == {"clipping", "silent_audio"}
    assert found["clipping"]["examples"] == [specs[1]["id"]]
    assert found["silent_audio"]["examples"] == [specs[2]["id"]]


def test_constant_durations_warn_even_without_audio(tmp_path: Path):
    code, found = _check(_write(tmp_path / "c", _specs(fixed=1.5)), tmp_path, "--no-audio")
    assert code == 1 and _problems(found) == {"duration_constant"}
    assert found["duration_constant"]["numbers"]["most_common_share"] == 1.0
    assert "clipping" not in found  # --no-audio reads headers only


def test_mixed_rates_and_channels_warn(tmp_path: Path):
    specs = _specs()
    specs[3]["rate"] = 22050
    specs[5]["audio"] = np.stack([specs[5]["audio"], specs[5]["audio"]], axis=1)
    code, found = _check(_write(tmp_path / "c", specs), tmp_path, "--no-audio")
    assert code == 1 and _problems(found) == {"sample_rate_mixture", "channels_mixture"}
    assert found["sample_rate_mixture"]["examples"] == [specs[3]["id"]]


def test_imbalanced_labels_warn():
    utts = [
        Utterance(
            id=f"u{s}_{i}", path="x.wav", speaker=f"s{s}", emotion=emotion, duration=1 + i / 37 + s / 11
        )
        for s in range(4)
        for i, emotion in enumerate(["sad"] * 8 + ["happy", "angry"])
    ]
    found = {f.id: f for f in check_metadata(utts)}
    assert (
        found["label_imbalance"].level == "warning" and found["label_imbalance"].numbers["max_min_ratio"] == 8
    )
    assert {f.id for f in found.values() if f.level != "info"} == {"label_imbalance"}


def test_a_single_emotion_or_none_is_not_called_confounding():
    """Speakers with one emotion are a trap only when the corpus has several (a regression corpus may have none)."""
    for emotion in ("sad", ""):
        utts = [
            Utterance(id=f"u{s}_{i}", path="x.wav", speaker=f"s{s}", emotion=emotion, duration=1 + i / 7)
            for s in range(3)
            for i in range(4)
        ]
        found = {f.id: f for f in check_metadata(utts)}
        assert found["speaker_confounding" if emotion else "no_labels"].level == "info", emotion
        assert not [f.id for f in found.values() if f.level != "info"], emotion


def test_text_that_predicts_emotion_warns_but_shared_sentences_do_not(tmp_path: Path):
    sentences = {e: [f"the {e} sentence number {k}" for k in range(2)] for e in EMOTIONS}
    scripted = [dict(spec, text=sentences[spec["emotion"]][i % 2]) for i, spec in enumerate(_specs())]
    code, found = _check(_write(tmp_path / "scripted", scripted), tmp_path, "--no-audio")
    assert code == 1 and _problems(found) == {"text_predicts_emotion"}
    assert found["text_predicts_emotion"]["numbers"]["text_only_accuracy"] == 1.0
    shared = [
        dict(spec, text=("kids are talking", "dogs are sitting")[i % 2]) for i, spec in enumerate(_specs())
    ]
    code, found = _check(_write(tmp_path / "shared", shared), tmp_path / "2", "--no-audio")
    assert code == 0 and found["text_barely_predicts_emotion"]["level"] == "info"


def test_output_inside_the_corpus_is_refused(tmp_path: Path, capsys):
    root = _write(tmp_path / "c", _specs(speakers=2, per_emotion=1))
    for target in (root, root / "manifest.csv"):
        assert main(["corpus", "check", str(target), "-o", str(root / "out")]) == 2
        assert "refusing to write" in capsys.readouterr().err and not (root / "out").exists()


def test_corpus_name_and_root_are_loaded_like_prepare(tmp_path: Path):
    root = tmp_path / "ravdess_like"
    root.mkdir()
    rng = np.random.default_rng(1)
    for actor in (1, 2):
        for emotion in ("01", "03", "04"):
            name = f"03-01-{emotion}-01-01-01-{actor:02d}.wav"
            sf.write(root / name, _voice(rng, rng.uniform(1, 2)), RATE)
    out = tmp_path / "out"
    assert main(["corpus", "check", "ravdess", str(root), "-o", str(out)]) == 0
    assert json.loads((out / "findings.json").read_text())["speakers"] == ["Actor_01", "Actor_02"]


def test_precheck_logs_or_refuses(caplog):
    utts = [Utterance(id=f"u{i}", path="x.wav", speaker=f"s{i}", emotion=EMOTIONS[i % 3]) for i in range(6)]
    with caplog.at_level("WARNING"):
        findings = precheck(utts, where="train")
    assert "speaker_confounding" in caplog.text and any(f.level == "error" for f in findings)
    with pytest.raises(Exception, match="(?s)strict: true refuses.*speaker_confounding"):
        precheck(utts, strict=True, where="train")


def test_real_ravdess_is_clean(tmp_path: Path):
    code, found = _check(shared_corpus("ravdess"), tmp_path)
    assert code == 0, {i: found[i]["message"] for i in _problems(found)}
    assert found["duplicate_same_speaker"]["examples"] == ["03-01-03-01-02-01-07 = 03-01-03-01-02-02-07"]
    assert found["text_barely_predicts_emotion"]["numbers"]["distinct_texts"] == 2


def test_emodb_copy_cut_to_2s_warns_about_durations():
    result = check_corpus(read_manifest(shared_corpus("emodb_trunc2s") / "manifest.csv"), audio=False)
    assert result.exit_code == 1 and [f.id for f in result.problems()] == ["duration_constant"]
    assert "truncated" in result.problems()[0].message
