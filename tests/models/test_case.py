"""CASE and its baselines: the poster's parameter counts, padding invariance of the fixed defaults (and the
original behaviour behind options), contrastive terms with gradients, the KEMDy20 metrics, and a KEMDy20 fake
tree (CP949 transcripts) through loader, split, frozen encoders, training and report with the shipped recipe."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_tone

from serkit.evaluation.metrics import classification_metrics, constant_prediction_metrics
from serkit.models import count_parameters, create_model
from serkit.models.losses import pairwise_contrastive, supervised_contrastive

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1] / "data" / "corpora")
)  # the KEMDy20 fake-tree format
from fake_trees import write_bytes
from test_kemdy20 import HEADER, SUB_HEADER

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "case"
FUSION = ("case_compressing", "case_attention", "concat", "mmm")
TINY = {"num_features": 12, "text_dim": 10, "hidden_dim": 8, "audio_max_len": 30, "text_max_len": 9}


def _tiny(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    args = {**TINY, **overrides}
    if name == "case_attention":
        args.pop("audio_max_len")
    if name == "text_only":
        args = {k: args[k] for k in ("text_dim", "hidden_dim")} | {k: v for k, v in overrides.items()}
    if name == "speech_only":
        args = {k: args[k] for k in ("num_features", "hidden_dim")} | {k: v for k, v in overrides.items()}
    return create_model(name, num_classes=7, **args).eval()


def _batch(batch: int = 3, frames: int = 25, tokens: int = 7):
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(batch, frames, TINY["num_features"], generator=generator)
    text = torch.randn(batch, tokens, TINY["text_dim"], generator=generator)
    return features, torch.tensor([frames, 17, 6])[:batch], text, torch.tensor([tokens, 4, 2])[:batch]


def test_trainable_parameters_match_the_poster():
    counts = {
        name: count_parameters(create_model(name, num_classes=7), trainable_only=True)
        for name in ("case_compressing", "case_attention", "mmm")
    }
    assert counts == {"case_compressing": 593_031, "case_attention": 527_367, "mmm": 1_547_527}
    # the original-behaviour options change no parameter
    for name, options in (
        ("case_compressing", {"pooling": "mean", "mask_padding": False}),
        ("case_attention", {"attention": "unscaled_unmasked"}),
        ("mmm", {"mixer_norm": "original"}),
    ):
        assert count_parameters(create_model(name, num_classes=7, **options)) == counts[name]


def _garbage_padding(features, lengths, text, text_lengths, extra_frames=6, extra_tokens=3):
    """The same batch with more padding, filled with large values instead of zeros."""
    more_audio = torch.cat([features, torch.zeros(features.shape[0], extra_frames, features.shape[2])], dim=1)
    more_text = torch.cat([text, torch.zeros(text.shape[0], extra_tokens, text.shape[2])], dim=1)
    audio_pad = ~(torch.arange(more_audio.shape[1])[None] < lengths[:, None])
    text_pad = ~(torch.arange(more_text.shape[1])[None] < text_lengths[:, None])
    more_audio[audio_pad] = 50.0
    more_text[text_pad] = -50.0
    return more_audio, lengths, more_text, text_lengths


@pytest.mark.parametrize("name", [*FUSION, "text_only", "speech_only"])
def test_padding_content_and_amount_do_not_change_the_outputs(name):
    model = _tiny(name)
    inputs = _batch()
    with torch.no_grad():
        reference = model(*inputs[:2], text=inputs[2], text_lengths=inputs[3])
        features, lengths, text, text_lengths = _garbage_padding(*inputs)
        padded = model(features, lengths, text=text, text_lengths=text_lengths)
    torch.testing.assert_close(padded, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "name, options",
    [
        ("case_attention", {"attention": "unscaled_unmasked", "pooling": "mean"}),
        ("speech_only", {"pooling": "mean"}),
    ],
)
def test_original_behaviour_depends_on_padding(name, options):
    """The original's unmasked attention / mean over padding: extra zero padding changes the prediction."""
    model = _tiny(name, **options)
    features, lengths, text, text_lengths = _batch()
    with torch.no_grad():
        reference = model(features, lengths, text=text, text_lengths=text_lengths)
        more = torch.cat([features, torch.zeros(3, 5, features.shape[2])], dim=1)
        padded = model(more, lengths, text=text, text_lengths=text_lengths)
    assert not torch.allclose(padded, reference, atol=1e-4)


def test_original_compression_treats_padding_as_content():
    """``mask_padding=False, pooling=mean``: the projected zero padding (= the projection bias) enters the time
    compression and the pooled mean; it only differs from the default when an utterance is shorter than the fixed
    lengths."""
    fixed, original = _tiny("case_compressing"), _tiny("case_compressing", mask_padding=False, pooling="mean")
    features, lengths, text, text_lengths = _batch()
    with torch.no_grad():
        assert not torch.allclose(
            fixed(features, lengths, text=text, text_lengths=text_lengths),
            original(features, lengths, text=text, text_lengths=text_lengths),
            atol=1e-4,
        )
        full = torch.randn(2, TINY["audio_max_len"], TINY["num_features"])
        words = torch.randn(2, TINY["text_max_len"], TINY["text_dim"])
        audio_lengths, text_lengths = (
            torch.full((2,), TINY["audio_max_len"]),
            torch.full((2,), TINY["text_max_len"]),
        )
        torch.testing.assert_close(
            fixed(full, audio_lengths, text=words, text_lengths=text_lengths),
            original(full, audio_lengths, text=words, text_lengths=text_lengths),
        )


def test_attention_is_scaled_and_masked():
    model = _tiny("case_attention")
    features, lengths, text, text_lengths = _batch()
    words, _ = model.project(text, text_lengths, model.text_projection, model.text_max_len)
    audio, valid = model.project(features, lengths, model.audio_projection, None)
    scores = words @ audio.transpose(1, 2) / np.sqrt(model.hidden_dim)
    scores = scores.masked_fill(~valid[:, None], float("-inf"))
    expected = model.norm(words + scores.softmax(-1) @ audio)
    sequence, _ = model.fuse(features, lengths, text, text_lengths)
    torch.testing.assert_close(sequence, expected)


@pytest.mark.parametrize("name", ["case_compressing", "case_attention"])
def test_concat_fusion_doubles_the_positions(name):
    model = _tiny(name, fusion="concat")
    features, lengths, text, text_lengths = _batch()
    sequence, valid = model.fuse(features, lengths, text, text_lengths)
    assert sequence.shape == (3, 2 * TINY["text_max_len"], TINY["hidden_dim"])
    assert valid.shape == sequence.shape[:2]
    assert model(features, lengths, text=text, text_lengths=text_lengths).shape == (3, 7)


def test_mixer_norm_options_differ():
    features, lengths, text, text_lengths = _batch()
    outputs = [
        _tiny("mmm", mixer_norm=norm)(features, lengths, text=text, text_lengths=text_lengths)
        for norm in ("input", "original")
    ]
    assert not torch.allclose(*outputs)


def test_bad_options_and_missing_text_are_refused():
    for name, options, match in (
        ("case_compressing", {"fusion": "mul"}, "fusion="),
        ("case_attention", {"attention": "softer"}, "attention="),
        ("mmm", {"mixer_norm": "x"}, "mixer_norm="),
        ("concat", {"pooling": "max"}, "pooling="),
        ("text_only", {"pooling": "max"}, "pooling="),
    ):
        with pytest.raises(ValueError, match=match):
            _tiny(name, **options)
    features, lengths, _, _ = _batch()
    with pytest.raises(ValueError, match="text="):
        _tiny("case_compressing")(features, lengths)
    assert _tiny("speech_only")(features, lengths).shape == (3, 7)  # speech-only needs no text


@pytest.mark.parametrize("loss", [supervised_contrastive, pairwise_contrastive])
def test_contrastive_terms_train_the_fusion(loss):
    model = _tiny("case_compressing").train()
    features, lengths, text, text_lengths = _batch(batch=3)
    targets = torch.tensor([0, 0, 1])
    embedding = model.forward_features(features, lengths, text=text, text_lengths=text_lengths)
    value = loss(embedding, targets)
    assert value.requires_grad and torch.isfinite(value)
    value.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if "classifier" not in n}
    assert all(g is not None for g in grads.values())
    assert (
        sum(float(g.abs().sum()) for g in grads.values()) > 0
    )  # the original's detached term gave exactly 0


def test_case_pairwise_term_is_bce_on_cosine_pairs():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    targets = torch.tensor([2, 2, 5])
    cos = torch.nn.functional.cosine_similarity(z[:, None], z[None], dim=-1)
    pairs = [(i, j) for i in range(3) for j in range(3) if i != j]
    logits = torch.stack([cos[i, j] / 0.05 for i, j in pairs])
    same = torch.tensor([float(targets[i] == targets[j]) for i, j in pairs])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, same)
    torch.testing.assert_close(pairwise_contrastive(z, targets, temperature=0.05), expected)


def test_kemdy20_metrics_and_the_always_neutral_reference():
    names = ["angry", "neutral", "sad", "happy", "disgust", "surprised", "fearful"]
    true = [1, 1, 1, 1, 0, 2, 3, 3]
    pred = [1, 1, 0, 1, 0, 1, 3, 2]
    metrics = classification_metrics(true, pred, names)
    assert metrics["micro_f1_non_neutral"] == pytest.approx(
        2 / 4
    )  # angry ok, sad -> neutral, happy ok, happy -> sad
    # scikit-learn micro-F1 without the neutral class over all utterances: TP 2, FP 2 (neutral->angry, happy->sad)
    assert metrics["micro_f1_without_neutral"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 2))
    reference = constant_prediction_metrics(true, names)
    assert reference["wa"] == pytest.approx(4 / 8) and reference["micro_f1_non_neutral"] == 0.0
    assert reference["macro_f1"] == pytest.approx(
        2 / 3 / 4
    )  # F1 of neutral 2/3, averaged over 4 seen classes
    assert "micro_f1_non_neutral" not in classification_metrics([0, 1], [0, 1], ["happy", "sad"])
    with pytest.raises(ValueError, match="not one of"):
        constant_prediction_metrics(true, ["happy", "sad", "x", "y", "z", "u", "v"])


# -- KEMDy20 end to end -------------------------------------------------------------------------------------------

#: KEMDy20 label -> (transcript with transcription tags, tone frequency): text and audio both carry the label.
_LABELS = {
    "neutral": ("n/ 안녕 하세요", 200),
    "happy": ("정말 좋아 l/", 330),
    "sad": ("i am so sad (울음)", 250),
    "angry": ("angry you c/", 440),
    "disqust": ("싫어 */", 290),
    "surprise": ("어머 (놀람)", 520),
    "fear": ("무서워 b/", 380),
}


def build_kemdy20_sessions(root: Path, sessions: int = 10) -> Path:
    """A KEMDy20 release tree: per session one utterance of each emotion and two more neutral ones, annotation
    CSVs with the sub-header, CP949 transcripts, 0.3 s tones."""
    for s in range(1, sessions + 1):
        rows = []
        labels = [*_LABELS, "neutral", "neutral"]
        for turn, label in enumerate(labels, start=1):
            speaker = f"User{2 * s - 1 + turn % 2:03d}{'F' if turn % 2 else 'M'}"
            segment = f"Sess{s:02d}_script01_{speaker}_{turn:03d}"
            rows.append(f"{turn},1.0,2.5,{segment},{label},3,3,{label},3,3,{label},3,3\n")
            text, frequency = _LABELS[label]
            folder = root / "wav" / f"Session{s:02d}"
            write_tone(folder / f"{segment}.wav", seconds=0.3, frequency=frequency + 7 * s)
            write_bytes(folder / f"{segment}.txt", text + "\r\n", encoding="cp949")
        write_bytes(root / "annotation" / f"Sess{s:02d}_eval.csv", HEADER + SUB_HEADER + "".join(rows))
    return root


@pytest.fixture(scope="module")
def encoders(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("transformers")
    from tiny_hf import save_tiny_bert, save_tiny_wav2vec2

    root = tmp_path_factory.mktemp("hf")
    return {"audio": save_tiny_wav2vec2(root / "wav2vec2"), "text": save_tiny_bert(root / "bert")}


def test_kemdy20_recipe_end_to_end(encoders, tmp_path):
    from serkit.recipe import load_experiment
    from serkit.training.runner import run_experiment

    root = build_kemdy20_sessions(tmp_path / "KEMDy20_v1_1")
    config = load_experiment(
        RECIPES / "kemdy20_case_compressing.yaml",
        overrides=[
            f"corpus.root={root}",
            f"features.model={encoders['audio']}",
            f"text.model={encoders['text']}",
            "protocol.options.train_sessions=8",
            "protocol.options.val_sessions=2",
            "model.args.hidden_dim=8",
            "model.args.audio_max_len=64",
            "model.args.text_max_len=12",
            "train.epochs=2",
            "train.batch_size=16",
            "train.lr=0.001",
            "train.contrastive_weight=0.1",
            "train.threads=1",
            "train.progress=false",
            "seeds=[0]",
        ],
    )
    summary = run_experiment(config, tmp_path / "out")
    run = tmp_path / "out" / "runs" / summary["runs"][0]["fold"] / "seed0"
    record = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert (record["num_train"], record["num_val"], record["num_test"]) == (54, 18, 18)  # 6 / 2 / 2 sessions
    for key in ("macro_f1", "weighted_f1", "micro_f1_non_neutral"):
        assert 0.0 <= record["metrics"][key] <= 1.0
    folds = json.loads((tmp_path / "out" / "folds.json").read_text(encoding="utf-8"))
    parts = folds["folds"][0] if "folds" in folds else folds[0]
    sessions = {part: {i.split("_")[0] for i in parts[part]} for part in ("train", "val", "test")}
    assert not (sessions["train"] & sessions["test"]) and not (sessions["val"] & sessions["test"])
    assert not (sessions["train"] & sessions["val"]) and len(sessions["test"]) == 2
    with open(run / "predictions.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = summary["label_names"]
    true = [names.index(row["true"]) for row in rows]
    neutral = constant_prediction_metrics(true, names)
    assert neutral["wa"] == pytest.approx(6 / 18) and neutral["micro_f1_non_neutral"] == 0.0
    checkpoint = torch.load(run / "best.pt", weights_only=True)
    assert checkpoint["text"]["name"] == "hf_encoder" and checkpoint["model_args"]["text_dim"] == 16
