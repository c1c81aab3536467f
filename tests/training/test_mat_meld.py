"""MAT / MNT end to end on real MELD transcripts with generated audio: MELD loader, training, serkit ensemble.

The first rows of MELD's real train / dev / test CSVs (``../shared/data/meld_text``) are copied into a temporary
MELD.Raw-like folder, and a short tone (pitch from the utterance id, not from its label) is written for every
utterance, so the audio carries no emotion information and the run exercises the whole audio + text path.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_corpus, write_tone

from serkit.cli import main
from serkit.data.corpora.meld import decode_csv
from serkit.features.text.vocab import tokenize

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "mat"
ROWS = {"train": 36, "dev": 12, "test": 12}
TINY = [
    "model.args.hidden_dim=8",
    "model.args.ff_dim=12",
    "model.args.num_heads=2",
    "model.args.num_layers=1",
    "model.args.word_dim=6",
    "features.n_mels=16",
    "train.epochs=3",
    "train.batch_size=8",
    "train.lr=0.003",
    "train.progress=false",
    "train.threads=1",
    "input.max_seconds=0.3",
]


@pytest.fixture(scope="module")
def meld_copy(tmp_path_factory) -> Path:
    source = shared_corpus("meld_text") / "MELD"
    root = tmp_path_factory.mktemp("meld")
    for split, count in ROWS.items():
        reader = csv.reader(io.StringIO(decode_csv((source / f"{split}_sent_emo.csv").read_bytes())))
        header, rows = next(reader), [row for _, row in zip(range(count), reader)]
        with open(root / f"{split}_sent_emo.csv", "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
        for row in rows:
            stem = f"dia{row[header.index('Dialogue_ID')]}_utt{row[header.index('Utterance_ID')]}"
            key = zlib.crc32(f"{split}/{stem}".encode())  # by utterance, not by label; every file differs
            write_tone(
                root / "audio" / split / f"{stem}.wav", seconds=0.25, frequency=120 + key % 100_000 / 400
            )
    return root


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("recipe", "model", "num_classes", "seeds"),
    [("meld_mat", "mat", 7, (0, 1)), ("meld_mnt", "mnt", 7, (0,)), ("meld_sentiment_mat", "mat", 3, (0,))],
)
def test_meld_recipe_trains_and_ensembles(
    meld_copy: Path, tmp_path: Path, recipe: str, model: str, num_classes: int, seeds: tuple[int, ...], capsys
):
    out = tmp_path / "run"
    overrides = [f"corpus.root={meld_copy}", "corpus.options.audio_dir=audio", f"seeds={list(seeds)}", *TINY]
    args = ["train", str(RECIPES / f"{recipe}.yaml"), "--out", str(out)]
    assert main([*args, *[item for o in overrides for item in ("--set", o)]]) == 0
    for seed in seeds:
        run = out / "runs" / "official" / f"seed{seed}"
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["num_test"] == ROWS["test"] and metrics["num_val"] == ROWS["dev"]
        assert metrics["selection"] == "validation"
        with np.load(run / "outputs.npz", allow_pickle=False) as outputs:
            assert outputs["test_logits"].shape == (ROWS["test"], num_classes)
    checkpoint = torch.load(out / "runs" / "official" / "seed0" / "best.pt", weights_only=True)
    assert checkpoint["model_name"] == model
    # the vocabulary holds training words only
    train_tokens = _tokens(meld_copy / "train_sent_emo.csv")
    words = checkpoint["text"]["words"]
    assert set(words) <= train_tokens and len(words) == len(train_tokens)
    assert checkpoint["model_args"]["vocab_size"] == len(words) + 2
    capsys.readouterr()

    assert main(["ensemble", str(out)]) == 0
    report = capsys.readouterr().out
    record = json.loads((out / "ensemble" / "ensemble.json").read_text(encoding="utf-8"))
    fold = record["folds"][0]
    assert fold["size_chosen_on"] == "validation" and len(fold["members"]) == len(seeds)
    assert record["summary"]["selection"] == "validation" and "WARNING" not in report
    assert "weighted avg" in report and fold["test_metrics"]["num_utterances"] == ROWS["test"]


def _tokens(path: Path) -> set[str]:
    reader = csv.DictReader(io.StringIO(decode_csv(path.read_bytes())))
    return {token for row in reader for token in tokenize(row["Utterance"])}
