"""Tiny random Hugging Face models saved to folders, so tests load them through the same ``from_pretrained`` code a
user runs with a real model folder (no hub access here)."""

from __future__ import annotations

from pathlib import Path

#: A WordPiece vocabulary for the tiny BERT: special tokens, some English and Korean pieces, single letters.
VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "i",
    "am",
    "so",
    "happy",
    "sad",
    "angry",
    "you",
    "are",
    "hello",
    "there",
    "안녕",
    "하세요",
    "좋아",
    "정말",
    "싫어",
    "무서워",
    "어머",
    "##s",
    "##ed",
    ".",
    ",",
    "!",
    "?",
    *"abcdefghijklmnopqrstuvwxyz",
]


def save_tiny_wav2vec2(folder: Path, *, layer_norm: bool = True) -> Path:
    """A 2-layer, 32-dim wav2vec2 (layer-norm front end: takes attention masks) + its feature extractor.

    Front end: kernels (10, 3), strides (5, 2): 16000 samples -> 1599 frames.
    """
    from transformers import Wav2Vec2Model

    config = _tiny_wav2vec2_config(layer_norm, intermediate_size=64, conv_kernel=(10, 3), conv_stride=(5, 2))
    Wav2Vec2Model(config).save_pretrained(folder)
    _save_feature_extractor(folder, layer_norm)
    return folder


def _tiny_wav2vec2_config(layer_norm: bool, **sizes):
    """A 2-layer, 32-dim wav2vec2 config with a 2-layer front end; ``sizes``: intermediate size, kernels, strides,
    labels."""
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        conv_dim=(32, 32),
        num_feat_extract_layers=2,
        feat_extract_norm="layer" if layer_norm else "group",
        do_stable_layer_norm=layer_norm,
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4,
        vocab_size=8,
        **sizes,
    )


def _save_feature_extractor(folder: Path, attention_mask: bool) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=attention_mask,
    ).save_pretrained(folder)


def save_tiny_hubert(folder: Path) -> Path:
    """A 2-layer, 24-dim HuBERT with a group-norm front end (no attention mask, as hubert-base)."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    config = HubertConfig(
        hidden_size=24,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        conv_dim=(16, 16),
        conv_kernel=(10, 4),
        conv_stride=(5, 4),
        num_feat_extract_layers=2,
        feat_extract_norm="group",
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4,
        vocab_size=8,
    )
    HubertModel(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, do_normalize=False, return_attention_mask=False
    ).save_pretrained(folder)
    return folder


def save_tiny_bert(folder: Path) -> Path:
    """A 2-layer, 16-dim BERT with a WordPiece tokenizer over :data:`VOCAB`."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def save_tiny_audio_classifier(
    folder: Path, *, layer_norm: bool = True, labels=("neu", "hap", "sad", "ang")
) -> Path:
    """A random 2-layer, 32-dim ``Wav2Vec2ForSequenceClassification`` with ``id2label`` + its feature extractor:
    what ``save_pretrained`` writes for a Hugging Face audio-classification model (``AutoModelForAudioClassification``).

    Front end: kernels (8, 8), strides (4, 4): a frame needs 36 samples. ``layer_norm`` False gives a group-norm front
    end whose feature extractor takes no attention mask (as wav2vec2-base).
    """
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    torch.manual_seed(0)
    config = _tiny_wav2vec2_config(
        layer_norm,
        intermediate_size=37,
        conv_kernel=(8, 8),
        conv_stride=(4, 4),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    _save_feature_extractor(folder, layer_norm)
    return folder
