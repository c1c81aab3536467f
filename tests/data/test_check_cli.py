"""The corpus checks at the start of `serkit train` and `serkit corpus folds`: logged, or refused with strict."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from serkit.cli import main
from serkit.core.errors import SerkitError
from serkit.data.corpora import load_corpus
from serkit.data.synthetic import generate_corpus
from serkit.data.utterance import read_manifest, write_manifest
from serkit.recipe import load_experiment
from serkit.training.resume import check_resumable
from serkit.training.runner import run_experiment


@pytest.fixture(scope="module")
def constant_corpus(tmp_path_factory) -> Path:
    """4 synthetic speakers x 4 emotions x 3 utterances, every one exactly 1 s long (the duration trap)."""
    root = tmp_path_factory.mktemp("constant")
    return generate_corpus(root, num_speakers=4, utterances_per_emotion=3, duration_range=(1.0, 1.0), seed=1)


def _recipe(corpus: Path, **top) -> dict:
    return {
        "name": "trap",
        "corpus": {"name": "synthetic", "root": str(corpus)},
        "protocol": {"name": "speaker_kfold", "options": {"k": 2, "val_speakers": 1}},
        "input": {"window": 0.5, "hop": 0.25, "eval_hop": 0.25},
        "features": {"name": "mfcc", "n_mfcc": 13},
        "model": {"name": "cnn_tiny"},
        "train": {"epochs": 1, "batch_size": 16, "progress": False, "tsne": False},
        "seeds": [0],
        **top,
    }


def test_strict_training_refuses_a_trap_corpus(constant_corpus: Path, tmp_path: Path):
    with pytest.raises(SerkitError, match="(?s)strict: true refuses.*duration_constant.*strict: false"):
        run_experiment(load_experiment(base=_recipe(constant_corpus, strict=True)), tmp_path)
    assert not (tmp_path / "runs").exists()


def test_training_without_strict_only_warns(constant_corpus: Path, tmp_path: Path, caplog):
    with caplog.at_level(logging.WARNING, logger="serkit.data.check"):
        summary = run_experiment(load_experiment(base=_recipe(constant_corpus)), tmp_path)
    assert summary["n_runs"] == 2
    assert "train: corpus check [warning] duration_constant" in caplog.text
    # strict only gates: switching it on for the finished folder is no change of recipe
    check_resumable(load_experiment(base=_recipe(constant_corpus, strict=True)), tmp_path)


def test_folds_warn_or_refuse_with_strict(constant_corpus: Path, tmp_path: Path, caplog):
    manifest = write_manifest(load_corpus("synthetic", constant_corpus), tmp_path / "m.csv")
    out = tmp_path / "folds.json"
    with caplog.at_level(logging.WARNING, logger="serkit.data.check"):
        assert main(["corpus", "folds", str(manifest), "--protocol", "auto", "-o", str(out)]) == 0
    assert "corpus folds: corpus check [warning] duration_constant" in caplog.text and out.is_file()
    out.unlink()
    assert main(["corpus", "folds", str(manifest), "--protocol", "auto", "-o", str(out), "--strict"]) == 2
    assert not out.exists()


def test_check_reads_a_written_manifest(constant_corpus: Path, tmp_path: Path):
    manifest = write_manifest(load_corpus("synthetic", constant_corpus), tmp_path / "m.csv")
    assert len(read_manifest(manifest)) == 48
    out = tmp_path / "report"
    assert main(["corpus", "check", str(manifest), "-o", str(out), "--no-audio"]) == 1
    assert "duration_constant" in (out / "report.md").read_text(encoding="utf-8")
