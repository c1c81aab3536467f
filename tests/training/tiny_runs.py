"""Shared by the runner tests: a tiny synthetic corpus and a recipe that trains on it in seconds."""

from __future__ import annotations

from pathlib import Path

from serkit.data.synthetic import generate_corpus


def tiny_corpus(root: Path) -> Path:
    """4 synthetic speakers x 4 emotions x 3 utterances of 0.6-1.2 s."""
    generate_corpus(root, num_speakers=4, utterances_per_emotion=3, duration_range=(0.6, 1.2), seed=1)
    return root


def tiny_recipe(corpus: Path, *, train: dict | None = None, **sections) -> dict:
    """cnn_tiny on 13 MFCCs of 0.5 s segments, 2 speaker folds with a validation speaker, seeds 0 and 1."""
    return {
        "name": "tiny",
        "corpus": {"name": "synthetic", "root": str(corpus)},
        "labels": {"labels": ["neutral", "happy", "sad", "angry"]},
        "protocol": {"name": "speaker_kfold", "options": {"k": 2, "val_speakers": 1}},
        "input": {"window": 0.5, "hop": 0.25, "eval_hop": 0.25},
        "features": {"name": "mfcc", "n_mfcc": 13},
        "model": {"name": "cnn_tiny"},
        "train": {
            "epochs": 3,
            "batch_size": 16,
            "lr": 0.01,
            "progress": False,
            "mixup_alpha": 0.2,
            **(train or {}),
        },
        "seeds": [0, 1],
        **sections,
    }
