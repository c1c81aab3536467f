"""Model folders (``serkit export --format folder``), ``Recognizer.from_pretrained`` (local folders and the hub,
whose download is replaced here: no hub is reachable in tests), and ``--device``.

The folder must predict what its checkpoint predicts (to 1e-6) on generated audio and on real RAVDESS files (skipped
when ../shared/data/ravdess is absent); the model card is read from a tiny trained run folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_batching import SETUPS, _checkpoint, _speechlike  # tests/inference/ is on sys.path (rootdir mode)

from serkit.cli import main
from serkit.core.errors import ExportError, ModelFileError, OutputOverwritesInputError, SerkitError
from serkit.inference import Recognizer
from serkit.inference.model_card import CORPORA, describe_run, render_card
from serkit.inference.model_folder import export_folder, is_model_folder
from serkit.inference.pretrained import parse_hub_id, resolve_pretrained
from serkit.recipe import load_experiment
from serkit.training.checkpoint import CheckpointError
from serkit.training.runner import run_experiment

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1] / "training")
)  # the tiny corpus of the runner tests
from tiny_runs import tiny_corpus, tiny_recipe  # noqa: E402

RAVDESS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ravdess"
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("audio")
    paths = [folder / f"clip{i}.wav" for i in range(5)]
    for i, (path, seconds) in enumerate(zip(paths, (1.3, 2.5, 0.6, 4.2, 1.0))):
        sf.write(path, _speechlike(seconds, i), 16000)
    return paths


@pytest.fixture(scope="module", params=["glam_segments", "cnn_utterance"])
def checkpoint(request, audio, tmp_path_factory) -> Path:
    """Random weights (non-trivial probabilities), a fitted standardizer: the format `serkit train` writes."""
    model, args, inputs = SETUPS[request.param]
    return _checkpoint(tmp_path_factory.mktemp("ckpt"), audio, model, args, inputs)


@pytest.fixture(scope="module")
def folder(checkpoint, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "model"
    config, difference = export_folder(checkpoint, out)
    assert difference <= TOLERANCE
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A trained run folder (cnn_tiny, 1 fold x seeds 0 and 1, one epoch): config.yaml, folds.json, summary.json."""
    corpus = tiny_corpus(tmp_path_factory.mktemp("synthetic"))
    recipe = tiny_recipe(corpus, train={"epochs": 1, "threads": 1, "mixup_alpha": 0.0})
    recipe["protocol"]["folds"] = [0]
    out = tmp_path_factory.mktemp("run")
    run_experiment(load_experiment(base=recipe), out)
    return out


def test_folder_holds_safetensors_json_and_a_card(folder, checkpoint):
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    stored = torch.load(checkpoint, weights_only=True)
    for key in ("model_name", "label_names", "feature", "standardizer", "serkit_version"):
        assert config[key] == stored[key]
    assert config["format"] == "serkit-model-folder" and is_model_folder(folder)
    assert not list(folder.parent.glob(".*"))  # no temporary folder left behind
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: serkit\n")
    assert "- audio-classification\n- speech-emotion-recognition\n" in card.split("---")[1]


def test_folder_predicts_what_the_checkpoint_predicts(folder, checkpoint, audio):
    expected = Recognizer.from_checkpoint(checkpoint).predict_proba(audio)
    got = Recognizer.from_pretrained(folder).predict_proba(audio)
    assert 0.01 < expected.max() < 0.99  # random weights: the comparison is not between one-hot rows
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


def test_folder_on_real_ravdess_files(folder, checkpoint):
    if not RAVDESS.is_dir():
        pytest.skip(f"real corpus {RAVDESS} is not present")
    files = sorted((RAVDESS / "audio").glob("*.flac"))[::120][:12]
    expected = Recognizer.from_checkpoint(checkpoint).predict_proba(files)
    got = Recognizer.from_pretrained(str(folder)).predict_proba(files)
    assert np.abs(got - expected).max() <= TOLERANCE


def test_hub_id_downloads_the_folder(folder, monkeypatch, audio):
    import huggingface_hub

    calls = []

    def fake_download(repo_id, *, revision=None, allow_patterns=None):
        calls.append((repo_id, revision, tuple(allow_patterns)))
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    recognizer = Recognizer.from_pretrained("someone/ser-model", revision="v1")
    assert calls[0][:2] == ("someone/ser-model", "v1") and "*.safetensors" in calls[0][2]
    assert "*.bin" not in calls[0][2] and "*.pt" not in calls[0][2]  # never pickled weights
    assert resolve_pretrained("hf://someone/ser-model@main") == folder and calls[-1][1] == "main"
    local = Recognizer.from_pretrained(folder)
    np.testing.assert_array_equal(recognizer.predict_proba(audio[:2]), local.predict_proba(audio[:2]))
    main(["predict", "hf://someone/ser-model", str(audio[0]), "--format", "csv"])  # the CLI's hub syntax


def test_unreachable_hub_says_so_and_how_to_pass_a_folder(monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(repo_id, **options):
        raise LocalEntryNotFoundError("Cannot reach the hub and the files are not in the cache")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ModelFileError, match=r"someone/model.*offline.*local folder"):
        Recognizer.from_pretrained("someone/model")
    with pytest.raises(ModelFileError, match="not a hub repository id"):
        Recognizer.from_pretrained(str(tmp_path / "missing" / "deep" / "folder"))
    with pytest.raises(ModelFileError, match="not a hub repository id"):
        parse_hub_id("hf://owner/name@")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="not a serkit model folder"):
        Recognizer.from_pretrained(tmp_path / "empty")


def test_export_is_atomic_and_never_writes_over_inputs(checkpoint, run_dir, tmp_path):
    with pytest.raises(OutputOverwritesInputError):
        export_folder(checkpoint, checkpoint.parent)  # the folder holding the input
    with pytest.raises(OutputOverwritesInputError):
        export_folder(run_dir, run_dir)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not a serkit model folder"):
        export_folder(checkpoint, other)
    assert (other / "keep.txt").read_text() == "mine"
    out = tmp_path / "model"
    export_folder(checkpoint, out)
    export_folder(checkpoint, out)  # an earlier export is replaced as a whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "notes"]
    (out / "model.safetensors").write_bytes(b"damaged")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        Recognizer.from_pretrained(out)


def test_card_of_a_run_folder(run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), "--format", "folder", "-o", str(tmp_path / "m")]) == 0
    assert "README.md" in capsys.readouterr().out
    card = (tmp_path / "m" / "README.md").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    ua = summary["metrics"]["ua"]
    assert f"| ua | {ua['mean']:.4f} ± {ua['std']:.4f} | 2 |" in card
    for text in (
        "## Task",
        "## Labels",
        "## Training corpus and licence",
        "## Protocol",
        "## Metrics",
        "## Intended use and limits",
        "speaker-independent",
        "inductive",
        "unknown: check the corpus terms",
        "decisions about people",
    ):
        assert text in card
    # one run's checkpoint: its own metrics.json, no spread
    best = next(run_dir.glob("runs/*/seed0/best.pt"))
    facts = describe_run(best, best)
    assert all(std is None for _, std, _ in facts.metrics.values()) and facts.speaker_independent


def test_card_names_known_corpus_licences(run_dir):
    best = next(run_dir.glob("runs/*/seed0/best.pt"))
    facts = describe_run(run_dir, best)
    config = {**torch.load(best, weights_only=True), "source": str(best)}
    config.pop("state_dict")
    facts.corpus = "ravdess"
    card = render_card(config, facts)
    assert "license: cc-by-nc-sa-4.0" in card and "CC BY-NC-SA 4.0" in card and "- en" in card
    assert "not for commercial use" in card
    assert {"ravdess", "emodb", "iemocap", "meld", "crema_d"} <= set(CORPORA)
    assert CORPORA["meld"].licence == "GPL-3.0" and CORPORA["crema_d"].hub_licence == "odbl"


def test_device_cpu_and_a_clear_cuda_error(folder, audio, monkeypatch, capsys):
    assert main(["predict", str(folder), str(audio[0]), "--device", "cpu", "--format", "csv"]) == 0
    assert "p_neutral" in capsys.readouterr().out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SerkitError, match="CUDA is not available"):
        Recognizer.from_pretrained(folder, device="cuda")
    assert main(["predict", str(folder), str(audio[0]), "--device", "cuda"]) != 0
    assert "CUDA is not available" in capsys.readouterr().err
