"""Bad and unusual input, through the ``serkit`` command and the Python API, as a new user meets it.

Each case asserts the exit code (or exception type), that the message names the file or key at fault, and that
every input file is byte-identical afterwards: serkit never writes over what it reads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from serkit.cli import main
from serkit.core.errors import SerkitError

RATE = 16000
EMOTIONS = {"neutral": 140.0, "happy": 260.0, "sad": 110.0, "angry": 200.0}
SPEAKERS = ("anna", "ben", "carl", "dora")


def _voice(frequency: float, seconds: float, seed: int) -> np.ndarray:
    """A voiced, speech-level signal: harmonics of ``frequency`` with a syllable-like envelope, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * frequency * k * t) / k for k in range(1, 5))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t)
    return (0.2 * wave * envelope + 0.01 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """recordings/<emotion>/<speaker>_<n>.wav, its manifest, a recipe and one trained tiny checkpoint."""
    root = tmp_path_factory.mktemp("bad_inputs")
    for e, (emotion, frequency) in enumerate(EMOTIONS.items()):
        for s, speaker in enumerate(SPEAKERS):
            for n in range(2):
                path = root / "recordings" / emotion / f"{speaker}_{n}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, _voice(frequency * (1 + 0.05 * s), 0.8, seed=100 * e + 10 * s + n), RATE)
    assert (
        main(["corpus", "prepare", "recordings", str(root / "recordings"), "-o", str(root / "rec.csv")]) == 0
    )
    recipe = {
        "name": "tiny_own",
        "corpus": {"name": "recordings", "manifest": str(root / "rec.csv")},
        "protocol": {"name": "auto", "folds": [0]},
        "input": {"window": 0.5, "hop": 0.25, "eval_hop": 0.25},
        "features": {"name": "mfcc", "n_mfcc": 13},
        "model": {"name": "cnn_tiny"},
        "train": {"epochs": 1, "batch_size": 16, "lr": 0.01, "progress": False},
        "seeds": [0],
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    assert main(["train", str(root / "recipe.yaml"), "--out", str(root / "run")]) == 0
    (checkpoint,) = (root / "run" / "runs").glob("*/seed0/best.pt")
    shutil.copy(checkpoint, root / "best.pt")
    (root / "empty_folder").mkdir()
    (root / "notes.txt").write_text("not audio\n", encoding="utf-8")
    return root


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "run" not in p.relative_to(root).parts[:1]
    }


@pytest.fixture
def ws(workspace: Path):
    """The workspace; after the test, every input file must be byte-identical and none may have appeared in the
    corpus folder."""
    before = _digests(workspace)
    yield workspace
    after = _digests(workspace)
    changed = [name for name in before if after.get(name) != before[name]]
    assert not changed, f"inputs changed: {changed}"
    assert not [name for name in after if name not in before and name.startswith("recordings")]


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _refused(capsys, *argv, names: tuple[str, ...]) -> str:
    code, err = _run(capsys, *argv)
    assert code != 0, err
    for name in names:
        assert str(name) in err, (name, err)
    assert len([line for line in err.splitlines() if line.startswith("serkit: error")]) == 1
    return err


# -- never write over an input -------------------------------------------------------------------------------------


def test_prepare_onto_its_input_manifest(ws, capsys):
    err = _refused(
        capsys,
        "corpus",
        "prepare",
        "manifest",
        ws / "rec.csv",
        "-o",
        ws / "rec.csv",
        names=("rec.csv", "refusing"),
    )
    assert "same path" in err


def test_prepare_into_the_corpus_folder(ws, capsys):
    _refused(
        capsys,
        "corpus",
        "prepare",
        "recordings",
        ws / "recordings",
        "-o",
        ws / "recordings" / "m.csv",
        names=("m.csv", str(ws / "recordings")),
    )


def test_prepare_onto_a_symlink_of_the_input(ws, capsys, tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(ws / "rec.csv")
    _refused(
        capsys, "corpus", "prepare", "manifest", ws / "rec.csv", "-o", link, names=("link.csv", "rec.csv")
    )


def test_prepare_onto_a_hard_link_of_the_input(ws, capsys, tmp_path):
    link = tmp_path / "hard.csv"
    os.link(ws / "rec.csv", link)
    _refused(
        capsys, "corpus", "prepare", "manifest", link, "-o", ws / "rec.csv", names=("rec.csv", "hard.csv")
    )


def test_folds_onto_the_manifest(ws, capsys):
    _refused(
        capsys,
        "corpus",
        "folds",
        ws / "rec.csv",
        "--protocol",
        "auto",
        "-o",
        ws / "rec.csv",
        names=("rec.csv",),
    )


def test_predict_onto_the_audio(ws, capsys):
    audio = ws / "recordings" / "sad" / "ben_0.wav"
    _refused(capsys, "predict", ws / "best.pt", audio, "-o", audio, names=("ben_0.wav",))


def test_predict_onto_the_checkpoint(ws, capsys, tmp_path):
    _refused(
        capsys,
        "predict",
        ws / "best.pt",
        ws / "recordings" / "sad" / "ben_0.wav",
        "-o",
        ws / "best.pt",
        names=("best.pt",),
    )


def test_predict_into_the_audio_folder(ws, capsys):
    _refused(
        capsys,
        "predict",
        ws / "best.pt",
        ws / "recordings",
        "-o",
        ws / "recordings" / "p.csv",
        names=("p.csv", "recordings"),
    )


def test_resample_into_its_own_source(ws, capsys):
    _refused(capsys, "audio", "resample", ws / "recordings", ws / "recordings" / "16k", names=("16k",))


def test_normalize_into_a_parent_of_the_source(ws, capsys):
    _refused(
        capsys, "audio", "normalize", ws / "recordings" / "sad", ws / "recordings", names=("recordings",)
    )


def test_train_out_inside_the_corpus(ws, capsys):
    _refused(capsys, "train", ws / "recipe.yaml", "--out", ws / "recordings" / "runs", names=("runs",))


def test_train_out_inside_the_corpus_folder_of_the_recipe(ws, capsys, tmp_path):
    recipe = yaml.safe_load((ws / "recipe.yaml").read_text())
    recipe["corpus"] = {"name": "recordings", "root": str(ws / "recordings")}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    _refused(
        capsys,
        "train",
        tmp_path / "r.yaml",
        "--out",
        ws / "recordings" / "angry" / "run",
        names=("run", str(ws / "recordings")),
    )


# -- bad input gets one clear line ---------------------------------------------------------------------------------


def test_predict_on_a_folder_without_audio(ws, capsys):
    err = _refused(capsys, "predict", ws / "best.pt", ws / "empty_folder", names=("empty_folder", ".wav"))
    assert ".flac" in err


def test_predict_on_a_missing_file(ws, capsys):
    _refused(capsys, "predict", ws / "best.pt", ws / "nope.wav", names=("nope.wav",))


def test_predict_with_a_corrupt_file_among_good_ones(ws, capsys, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage")
    code = main(["predict", str(ws / "best.pt"), str(ws / "recordings" / "sad"), str(bad)])
    captured = capsys.readouterr()
    assert code == 1 and "broken.wav" in captured.err
    assert (
        len([line for line in captured.out.splitlines()[1:] if line.strip()]) == 8
    )  # the good files still run


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("train.epochs", "0"),
        ("train.batch_size", "-1"),
        ("train.lr", "0"),
        ("train.warmup", "1.5"),
        ("input.window", "-0.5"),
        ("input.max_seconds", "-2"),
        ("train.lr", "abc"),
        ("train.epochs", "2.5"),
    ],
)
def test_bad_recipe_values_are_refused_when_read(ws, capsys, tmp_path, key, value):
    _refused(
        capsys, "train", ws / "recipe.yaml", "--set", f"{key}={value}", "--out", tmp_path / "r", names=(key,)
    )
    assert not (tmp_path / "r").exists()


def test_unknown_recipe_key_suggests_the_right_one(ws, capsys, tmp_path):
    err = _refused(
        capsys,
        "train",
        ws / "recipe.yaml",
        "--set",
        "train.epoch=3",
        "--out",
        tmp_path / "r",
        names=("train.epoch",),
    )
    assert "epochs" in err


def test_config_set_checks_the_schema_type(ws, capsys, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    shutil.copy(ws / "recipe.yaml", recipe)
    before = recipe.read_bytes()
    _refused(capsys, "config", "set", recipe, "train.lr=abc", names=("train.lr",))
    assert recipe.read_bytes() == before


def test_set_and_config_set_parse_a_quoted_number_alike(ws, tmp_path):
    from serkit.core.values import apply_overrides, parse_value

    assert apply_overrides({}, ["name='3'"])["name"] == parse_value("'3'") == "3"
    assert apply_overrides({}, ["train.lr=3e-4"])["train"]["lr"] == parse_value("3e-4") == pytest.approx(3e-4)


def _edited_checkpoint(ws: Path, tmp_path: Path, edit) -> Path:
    payload = torch.load(ws / "best.pt", map_location="cpu", weights_only=True)
    edit(payload)
    path = tmp_path / "edited.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p.update(model_name="glam"),
        lambda p: p["feature"].update(n_mfcc=20),
        lambda p: p.update(label_names=p["label_names"][:3]),
        lambda p: p.update(model_name="no_such_model"),
    ],
    ids=["model_name", "n_mfcc", "three_labels", "unknown_model"],
)
def test_checkpoint_that_contradicts_itself(ws, capsys, tmp_path, edit):
    path = _edited_checkpoint(ws, tmp_path, edit)
    code, err = _run(capsys, "predict", path, ws / "recordings" / "sad" / "ben_0.wav")
    assert code != 0 and "edited.pt" in err


def test_pickled_checkpoint_refused_without_the_unsafe_hint(ws, capsys, tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, path)
    code, err = _run(capsys, "predict", path, ws / "recordings" / "sad" / "ben_0.wav")
    assert code != 0 and "pickled.pt" in err and "weights_only=False" not in err


def test_truncated_checkpoint(ws, capsys, tmp_path):
    path = tmp_path / "cut.pt"
    path.write_bytes((ws / "best.pt").read_bytes()[:500])
    code, err = _run(capsys, "predict", path, ws / "recordings" / "sad" / "ben_0.wav")
    assert code != 0 and "cut.pt" in err


def test_out_under_a_regular_file(ws, capsys):
    code, err = _run(
        capsys, "corpus", "folds", ws / "rec.csv", "--protocol", "auto", "-o", ws / "notes.txt" / "folds.json"
    )
    assert code == 1 and "notes.txt" in err and "not a folder" in err


def test_output_onto_a_folder(ws, capsys, tmp_path):
    code, err = _run(capsys, "corpus", "folds", ws / "rec.csv", "--protocol", "auto", "-o", tmp_path)
    assert code == 1 and str(tmp_path) in err and ".tmp" not in err and "file name" in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(ws, capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, err = _run(
            capsys, "corpus", "folds", ws / "rec.csv", "--protocol", "auto", "-o", locked / "f.json"
        )
    finally:
        locked.chmod(0o700)
    assert code == 1 and "locked" in err


def test_disk_full_names_the_output_and_leaves_nothing(ws, capsys, tmp_path, monkeypatch):
    import errno

    import serkit.core.fileio

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(serkit.core.fileio.os, "fsync", full)
    code, err = _run(
        capsys, "corpus", "folds", ws / "rec.csv", "--protocol", "auto", "-o", tmp_path / "f.json"
    )
    assert code == 1 and "f.json" in err and "space" in err
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary file


def test_debug_shows_the_traceback(ws, capsys, monkeypatch):
    monkeypatch.setenv("SERKIT_DEBUG", "1")
    with pytest.raises(OSError):
        main(
            [
                "corpus",
                "folds",
                str(ws / "rec.csv"),
                "--protocol",
                "auto",
                "-o",
                str(ws / "notes.txt" / "f.json"),
            ]
        )


def test_manifest_without_required_columns(ws, capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,emotion\na.wav,sad\n")
    _refused(capsys, "corpus", "stats", bad, names=("bad.csv", "utt_id"))


def test_recordings_folder_with_an_unknown_emotion(ws, capsys, tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(ws / "recordings" / "sad", folder / "melancholic")
    _refused(
        capsys,
        "corpus",
        "prepare",
        "recordings",
        folder,
        "-o",
        tmp_path / "m.csv",
        names=("melancholic", "neutral"),
    )


def test_recordings_csv_without_a_speaker_column(ws, capsys, tmp_path):
    table = tmp_path / "list.csv"
    table.write_text(f"path,emotion\n{ws / 'recordings' / 'sad' / 'ben_0.wav'},sad\n")
    _refused(
        capsys,
        "corpus",
        "prepare",
        "recordings",
        table,
        "-o",
        tmp_path / "m.csv",
        names=("list.csv", "speaker"),
    )


def test_unknown_corpus_name(ws, capsys, tmp_path):
    err = _refused(
        capsys,
        "corpus",
        "prepare",
        "recording",
        ws / "recordings",
        "-o",
        tmp_path / "m.csv",
        names=("recording",),
    )
    assert "recordings" in err


def test_changed_recipe_in_an_existing_run_folder(ws, capsys, tmp_path):
    shutil.copytree(ws / "run", tmp_path / "run")
    err = _refused(
        capsys,
        "train",
        ws / "recipe.yaml",
        "--set",
        "train.lr=0.02",
        "--out",
        tmp_path / "run",
        names=("train.lr", "--restart"),
    )
    assert "0.01" in err and "0.02" in err


def test_rerun_of_a_finished_run_resumes(ws, capsys, tmp_path):
    shutil.copytree(ws / "run", tmp_path / "run")
    code, _ = _run(capsys, "train", ws / "recipe.yaml", "--out", tmp_path / "run")
    assert code == 0


# -- the Python API ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recognizer(workspace: Path):
    from serkit.inference.recognizer import Recognizer

    return Recognizer.from_checkpoint(workspace / "best.pt")


def test_predict_takes_one_path_as_a_string(ws, recognizer):
    path = ws / "recordings" / "sad" / "ben_0.wav"
    assert len(recognizer.predict(str(path))) == 1
    assert recognizer.predict(path) == recognizer.predict([path])


def test_predict_waveform_refuses_nan(recognizer):
    wave = _voice(150.0, 1.0, seed=3)
    wave[100] = np.nan
    with pytest.raises(SerkitError, match="(?i)nan|finite"):
        recognizer.predict_waveform(wave)


def test_predict_waveform_converts_int16(recognizer):
    wave = _voice(150.0, 1.0, seed=3)
    as_int = np.round(wave * 32767).astype(np.int16)
    np.testing.assert_allclose(
        recognizer.predict_waveform(as_int), recognizer.predict_waveform(wave), atol=1e-3
    )


def test_predict_waveform_resamples(recognizer):
    from serkit.audio.io import resample

    wave = _voice(150.0, 1.0, seed=3)
    at_8k = resample(wave, RATE, 8000)
    probabilities = recognizer.predict_waveform(at_8k, sample_rate=8000)
    assert probabilities.shape == (len(recognizer.classes_),) and np.isfinite(probabilities).all()


def test_silence_is_flagged_not_classified(ws, recognizer, tmp_path):
    from serkit.inference.recognizer import NO_SPEECH

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(RATE, dtype=np.float32), RATE)
    labels = recognizer.predict([silent, ws / "recordings" / "sad" / "ben_0.wav"])
    assert labels[0] == NO_SPEECH and labels[1] in recognizer.classes_
