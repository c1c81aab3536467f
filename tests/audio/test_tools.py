"""serkit.audio.tools: mirrored resampling / normalisation of a tree, resume, failures, refusal to touch the source."""

from __future__ import annotations

import io
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import tree_state, write_tone

from serkit.audio.io import info, load, load_multichannel
from serkit.audio.tools import TreeReport, normalize_tree, resample_tree
from serkit.cli import main
from serkit.core.fileio import file_digest

# relative path -> (sample rate, channels, subtype written); the subtype must survive resampling.
SOURCE_FILES = {
    "a/x.wav": (8000, 1, "PCM_16"),
    "a/b/y.flac": (48000, 2, "PCM_24"),
    "z.ogg": (22050, 1, "VORBIS"),
    "m.mp3": (44100, 1, "MPEG_LAYER_III"),
}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for relative, (rate, channels, subtype) in SOURCE_FILES.items():
        write_tone(
            root / relative,
            seconds=0.5,
            sample_rate=rate,
            channels=channels,
            frequency=440.0,
            subtype=subtype,
        )
    (root / "a" / "notes.txt").write_text("not audio; must be ignored")
    return root


def audio_outputs(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# -------------------------------------------------------------------------------------------------- resample


def test_resample_tree_mirrors_the_tree_at_the_new_rate(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "dst"
    report = resample_tree(source, target, sample_rate=16000, progress=False)
    assert report == TreeReport(done=4, skipped=0, failed=[])
    assert audio_outputs(target) == sorted(SOURCE_FILES)  # notes.txt is not audio and is not copied
    for relative, (_rate, channels, subtype) in SOURCE_FILES.items():
        header = info(target / relative)
        assert (header.sample_rate, header.channels, header.subtype) == (16000, channels, subtype), relative
        assert header.frames == pytest.approx(0.5 * 16000, abs=2), relative
    waveform = load(target / "a" / "x.wav", None)
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    assert np.argmax(spectrum) * 16000 / len(waveform) == pytest.approx(440.0, abs=4.0)


def test_resample_tree_keeps_each_channel(source: Path, tmp_path: Path) -> None:
    resample_tree(source, tmp_path / "dst", sample_rate=16000, progress=False)
    stereo, _ = load_multichannel(tmp_path / "dst" / "a" / "b" / "y.flac")
    # write_tone makes channel c (c+1)/channels loud, so the right channel is twice the left.
    middle = slice(1000, -1000)
    assert np.abs(stereo[middle, 1]).max() == pytest.approx(2 * np.abs(stereo[middle, 0]).max(), rel=0.01)


@pytest.mark.parametrize(
    "tool, options", [(resample_tree, {"sample_rate": 16000}), (normalize_tree, {"peak": 0.9})]
)
def test_tools_never_modify_the_source(source: Path, tmp_path: Path, tool, options: dict) -> None:
    (source / "a" / "broken.wav").write_text("not audio")
    before = tree_state(source)
    tool(source, tmp_path / "dst", progress=False, **options)
    tool(source, tmp_path / "dst", progress=False, **options)  # a rerun too
    assert tree_state(source) == before


def test_rerun_skips_finished_files_and_resumes(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "dst"
    resample_tree(source, target, sample_rate=16000, progress=False)
    outputs = tree_state(target)
    assert resample_tree(source, target, sample_rate=16000, progress=False) == TreeReport(done=0, skipped=4)
    assert tree_state(target) == outputs  # skipped files were not rewritten
    (target / "z.ogg").unlink()  # as if the first run had been killed before this file
    assert resample_tree(source, target, sample_rate=16000, progress=False) == TreeReport(done=1, skipped=3)
    assert info(target / "z.ogg").sample_rate == 16000


def test_a_bad_file_in_the_middle_is_reported_and_the_others_done(source: Path, tmp_path: Path) -> None:
    broken = source / "a" / "broken.wav"  # sorted between a/b/y.flac and a/x.wav
    broken.write_text("this is not audio")
    empty = source / "a" / "empty.flac"
    empty.touch()
    target = tmp_path / "dst"
    report = resample_tree(source, target, sample_rate=16000, progress=False)
    assert report.done == 4 and report.skipped == 0
    assert [path for path, _ in report.failed] == [str(broken.resolve()), str(empty.resolve())]
    reasons = dict(report.failed)
    assert "not a readable audio file" in reasons[str(broken.resolve())]
    assert "empty" in reasons[str(empty.resolve())]
    assert audio_outputs(target) == sorted(SOURCE_FILES)  # nothing written for the bad files, no temporaries


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_overlapping_trees_are_refused(source: Path, where: str) -> None:
    target = {"same": source, "inside": source / "a" / "out", "contains": source.parent}[where]
    before = tree_state(source)
    with pytest.raises(
        ValueError,
        match={"same": "is the source", "inside": "inside the source", "contains": "contains the source"}[
            where
        ],
    ):
        resample_tree(source, target, sample_rate=16000, progress=False)
    assert tree_state(source) == before and not (source / "a" / "out").exists()


def test_same_folder_is_refused_even_when_spelled_differently(source: Path) -> None:
    with pytest.raises(ValueError, match="is the source"):
        normalize_tree(source, source / "a" / "..", progress=False)


def test_missing_source_and_bad_options_are_refused(tmp_path: Path, source: Path) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        resample_tree(tmp_path / "nope", tmp_path / "dst", sample_rate=16000, progress=False)
    with pytest.raises(ValueError, match="sample_rate"):
        resample_tree(source, tmp_path / "dst", sample_rate=0, progress=False)
    for peak in (0.0, 1.5):
        with pytest.raises(ValueError, match="peak"):
            normalize_tree(source, tmp_path / "dst", peak=peak, progress=False)


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_bar_only_when_asked_and_on_a_terminal(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="serkit.audio.tools")
    resample_tree(source, tmp_path / "quiet", sample_rate=16000, progress=False)
    assert capsys.readouterr().err == "" and not caplog.records
    # asked for, but stderr is captured (as in a log file or CI): no bar, one summary line
    resample_tree(source, tmp_path / "log", sample_rate=16000, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err
    (summary,) = [record.getMessage() for record in caplog.records]
    assert "4/4 files" in summary and "4 written, 0 already done, 0 failed" in summary
    # on a terminal: the bar, redrawn with carriage returns
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    caplog.clear()
    resample_tree(source, tmp_path / "tty", sample_rate=16000, progress=True)
    assert "4/4" in terminal.getvalue() and "\r" in terminal.getvalue() and not caplog.records


def test_progress_lines_in_a_log_are_rate_limited(
    source: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import serkit.audio.tools as tools

    caplog.set_level(logging.INFO, logger="serkit.audio.tools")
    monkeypatch.setattr(tools, "LOG_EVERY", 1e9)
    resample_tree(source, tmp_path / "a", sample_rate=16000, progress=True)
    assert len(caplog.records) == 1  # the summary only
    caplog.clear()
    monkeypatch.setattr(tools, "LOG_EVERY", 0.0)
    resample_tree(source, tmp_path / "b", sample_rate=16000, progress=True)
    assert len(caplog.records) == 5 and "0/4 files" in caplog.records[0].getMessage()  # 4 files + the summary


# ------------------------------------------------------------------------------------------------- normalize


def write_samples(path: Path, data: np.ndarray, subtype: str, sample_rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, sample_rate, subtype=subtype)
    return path


def test_normalize_scales_float_files_to_the_peak(tmp_path: Path) -> None:
    data = np.array([0.0, 0.1, -0.25, 0.2, 0.05], dtype=np.float32)
    write_samples(tmp_path / "src" / "f.wav", data, "FLOAT")
    report = normalize_tree(tmp_path / "src", tmp_path / "dst", peak=0.5, progress=False)
    assert report == TreeReport(done=1)
    out, rate = load_multichannel(tmp_path / "dst" / "f.wav")
    assert rate == 16000 and info(tmp_path / "dst" / "f.wav").subtype == "FLOAT"
    np.testing.assert_allclose(out[:, 0], data * 2.0, atol=1e-7)  # peak 0.25 -> 0.5


@pytest.mark.parametrize("sign", [1, -1])
def test_full_scale_pcm16_neither_wraps_nor_flips(tmp_path: Path, sign: int) -> None:
    rng = np.random.default_rng(0)
    data = (rng.uniform(-0.2, 0.2, 4000)).astype(np.float32)
    data[1234] = sign * 0.3  # the peak, positive or negative
    write_samples(tmp_path / "src" / "p.flac", data, "PCM_16")
    normalize_tree(tmp_path / "src", tmp_path / "dst", peak=1.0, progress=False)
    assert info(tmp_path / "dst" / "p.flac").subtype == "PCM_16"
    out_ints, _ = sf.read(tmp_path / "dst" / "p.flac", dtype="int16")
    assert int(out_ints[1234]) == (32767 if sign > 0 else -32768)  # full scale, same sign
    assert np.abs(out_ints.astype(np.int32)).max() == abs(int(out_ints[1234]))  # nothing wrapped past it
    source_float, _ = load_multichannel(tmp_path / "src" / "p.flac")
    out_float, _ = load_multichannel(tmp_path / "dst" / "p.flac")
    # One gain for every sample, to within one 16-bit step (+1.0 itself is stored as 32767/32768).
    np.testing.assert_allclose(out_float, source_float / np.abs(source_float).max(), atol=1.01 / 32768)


def test_normalize_uses_one_gain_for_all_channels(tmp_path: Path) -> None:
    data = np.stack([np.full(100, 0.1), np.full(100, -0.4)], axis=1).astype(np.float32)
    write_samples(tmp_path / "src" / "s.wav", data, "FLOAT")
    normalize_tree(tmp_path / "src", tmp_path / "dst", progress=False)
    out, _ = load_multichannel(tmp_path / "dst" / "s.wav")
    np.testing.assert_allclose(out[0], [0.25, -1.0], atol=1e-7)


def test_silent_file_is_copied_unchanged_and_counted_done(tmp_path: Path) -> None:
    silent = write_samples(tmp_path / "src" / "quiet" / "zero.wav", np.zeros(800, dtype=np.float32), "PCM_16")
    write_tone(tmp_path / "src" / "tone.wav", seconds=0.1)
    report = normalize_tree(tmp_path / "src", tmp_path / "dst", progress=False)
    assert report == TreeReport(done=2)
    assert file_digest(tmp_path / "dst" / "quiet" / "zero.wav") == file_digest(silent)
    assert np.abs(load(tmp_path / "dst" / "tone.wav")).max() == pytest.approx(1.0, abs=1e-4)


def test_normalize_reports_non_finite_files(tmp_path: Path) -> None:
    data = np.array([0.1, np.nan, 0.2], dtype=np.float32)
    bad = write_samples(tmp_path / "src" / "nan.wav", data, "FLOAT")
    write_tone(tmp_path / "src" / "ok.flac", seconds=0.1)
    report = normalize_tree(tmp_path / "src", tmp_path / "dst", progress=False)
    assert report.done == 1 and report.failed[0][0] == str(bad.resolve())
    assert "NaN" in report.failed[0][1]


# ------------------------------------------------------------------------------------------------------- CLI


def test_cli_resample_exit_codes(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["audio", "resample", str(source), str(tmp_path / "ok"), "--sr", "16000", "-q"]) == 0
    assert "4 written" in capsys.readouterr().out

    (source / "a" / "broken.wav").write_text("not audio")
    assert main(["audio", "resample", str(source), str(tmp_path / "bad"), "--sr", "16000", "-q"]) == 1
    captured = capsys.readouterr()
    assert "1 failed" in captured.out and "FAILED" in captured.err and "broken.wav" in captured.err

    assert main(["audio", "resample", str(source), str(source), "--sr", "16000", "-q"]) == 2
    assert "serkit: error:" in capsys.readouterr().err


def test_cli_normalize(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["audio", "normalize", str(source), str(tmp_path / "norm"), "--peak", "0.5", "-q"]) == 0
    assert "4 written" in capsys.readouterr().out
    peak = float(np.abs(load_multichannel(tmp_path / "norm" / "a" / "b" / "y.flac")[0]).max())
    assert peak == pytest.approx(0.5, abs=1e-4)


def test_relative_paths_work(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = resample_tree(Path("src"), Path("dst"), sample_rate=16000, progress=False)
    assert report.done == 4 and os.path.isfile(tmp_path / "dst" / "a" / "x.wav")
