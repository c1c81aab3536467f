"""The MOSI/MOSEI MAT recipes end to end on a small fake MMSA-style tree: sentiment classes and multi-label emotions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tone

from serkit.cli import main

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "mat"
TINY = [
    "model.args.hidden_dim=8",
    "model.args.ff_dim=12",
    "model.args.num_heads=2",
    "model.args.num_layers=1",
    "model.args.word_dim=6",
    "features.n_mels=16",
    "train.epochs=2",
    "train.batch_size=8",
    "train.lr=0.003",
    "train.progress=false",
    "train.threads=1",
    "seeds=[0, 1]",
]
WORDS = ["great", "awful", "movie", "really", "not", "good", "boring", "fun", "i", "liked", "it", "the"]
#: split -> clips; scores avoid 0 so that the binary task keeps every clip.
SPLITS = {"train": 16, "valid": 6, "test": 6}


@pytest.fixture(scope="module")
def mosei(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mosei")
    rng = np.random.default_rng(0)
    rows = []
    for split, count in SPLITS.items():
        for i in range(count):
            video, clip = f"{split}vid{i // 3}", str(i % 3)
            score = float(rng.choice([-2.4, -1.2, -0.4, 0.6, 1.4, 2.8]))
            text = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 8))))
            emotions = {
                name: f"{float(rng.choice([0.0, 0.0, 0.33, 1.0])):.2f}"
                for name in ("happy", "sad", "anger", "surprise", "disgust", "fear")
            }
            rows.append(
                {
                    "video_id": video,
                    "clip_id": clip,
                    "text": text,
                    "label": f"{score}",
                    "annotation": "Positive" if score > 0 else "Negative",
                    "mode": split,
                    **emotions,
                }
            )
            write_tone(root / "Raw" / video / f"{clip}.wav", seconds=0.2, frequency=150 + 17 * len(rows))
    with open(root / "label.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.mark.parametrize(
    ("recipe", "num_outputs", "multi_label"),
    [("mosei_emotions_mat", 6, True), ("mosei_mat_7class", 7, False), ("mosi_mnt", 2, False)],
)
def test_mmsa_recipes_train_and_ensemble(
    mosei: Path, tmp_path: Path, recipe: str, num_outputs: int, multi_label: bool, capsys
):
    out = tmp_path / "run"
    corpus = "corpus.name=mosi" if recipe.startswith("mosi_") else "corpus.name=mosei"
    overrides = [f"corpus.root={mosei}", corpus, *TINY]
    assert (
        main(
            [
                "train",
                str(RECIPES / f"{recipe}.yaml"),
                "--out",
                str(out),
                *[item for o in overrides for item in ("--set", o)],
            ]
        )
        == 0
    )
    run = out / "runs" / "official" / "seed0"
    with np.load(run / "outputs.npz", allow_pickle=False) as outputs:
        assert outputs["test_logits"].shape == (SPLITS["test"], num_outputs)
        assert outputs["test_targets"].ndim == (2 if multi_label else 1)
    capsys.readouterr()
    metric = ["--metric", "macro_f1"] if multi_label else []
    assert main(["ensemble", str(out), *metric]) == 0
    record = json.loads((out / "ensemble" / "ensemble.json").read_text(encoding="utf-8"))
    fold = record["folds"][0]
    assert fold["multilabel"] is multi_label and fold["size_chosen_on"] == "validation"
    assert len(fold["members"]) == 2
    if multi_label:
        assert "subset_accuracy" in fold["test_metrics"] and "precision" in capsys.readouterr().out
