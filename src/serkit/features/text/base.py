"""The text-input contract: :class:`TextInput`, the :data:`TEXT_INPUTS` registry and how recipes build them.

Text inputs of fusion models turn transcripts into token ids or frozen token embeddings, per utterance.

A recipe's ``text:`` section names a registered text input and its options (``text: {name: word_vocab,
max_tokens: 60}``); an empty section means the model takes no text. For every fold the runner

1. builds the text input from its options (:func:`text_input_from_dict`),
2. calls :meth:`TextInput.fit` with the fold's **training** utterances only, so that a vocabulary never sees the
   words of validation or test transcripts,
3. encodes every utterance's transcript with :meth:`TextInput.encode`: ``(tokens,)`` int64 ids or
   ``(tokens, dim)`` float32 embeddings, which batches pad to ``text (batch, tokens[, dim])`` with
   ``text_lengths (batch,)``,
4. passes :meth:`TextInput.model_args` to the model factory (for the keywords it accepts, such as ``vocab_size``)
   and, when the model has ``init_text_embeddings(matrix)``, calls it with :meth:`TextInput.embedding_matrix`,
5. stores :meth:`TextInput.state` in the checkpoint, so :meth:`TextInput.from_state` tokenises new text for
   prediction exactly as in training.

Implementations register themselves with ``@register_text_input(name)`` in their own module
(:mod:`~serkit.features.text.vocab`: ``word_vocab``; :mod:`~serkit.features.text.encoders`: ``hf_encoder``);
importing :mod:`serkit.features.text` imports them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from serkit.core.options import call_with_options
from serkit.core.registry import Registry

__all__ = [
    "TEXT_INPUTS",
    "TextInput",
    "list_text_inputs",
    "register_text_input",
    "text_input_from_dict",
    "text_input_from_state",
]

#: Text input name -> TextInput subclass.
TEXT_INPUTS: Registry[type[TextInput]] = Registry("text input")


def register_text_input(name: str):
    """Class decorator: register a :class:`TextInput` subclass under ``name`` (also set as its ``name``)."""

    def decorator(cls: type[TextInput]) -> type[TextInput]:
        cls.name = name
        TEXT_INPUTS.register(name)(cls)
        return cls

    return decorator


class TextInput:
    """Base class. Subclasses take their options as keyword-only ``__init__`` arguments."""

    name: ClassVar[str] = ""
    #: Whether :meth:`fit` learns from the training utterances (a vocabulary): then each fold needs its own fitted
    #: input; False (frozen encoders) lets the runner encode every transcript once for all folds.
    learns_from_data: ClassVar[bool] = True

    def fit(self, utterances: Sequence[Any]) -> None:
        """Learn what depends on data (a vocabulary) from the training utterances; frozen encoders do nothing."""

    def encode(self, text: str) -> np.ndarray:
        """One transcript -> ``(tokens,)`` int64 ids or ``(tokens, dim)`` float32 embeddings (at least 1 token)."""
        raise NotImplementedError

    def encode_many(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Several transcripts; encoders that batch (neural text models) override this for speed."""
        return [self.encode(text) for text in texts]

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted input: options and learned data (lists, str, numbers)."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TextInput:
        raise NotImplementedError

    def model_args(self) -> dict[str, Any]:
        """Keyword arguments for the model factory (used only for the keywords the model accepts)."""
        return {}

    def embedding_matrix(self) -> np.ndarray | None:
        """Initial word embeddings ``(vocab_size, dim)`` for models with ``init_text_embeddings``, or None."""
        return None


def text_input_from_dict(spec: Mapping[str, Any]) -> TextInput:
    """Build a text input from a recipe mapping such as ``{"name": "word_vocab", "max_tokens": 60}``.

    Raises:
        KeyError: unknown name (with the closest registered ones). ValueError: an unknown or bad option.
    """
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ValueError(
            f"the text section needs a 'name' (one of {', '.join(TEXT_INPUTS.names()) or 'none yet'}), "
            f"got {spec!r}."
        )
    cls = TEXT_INPUTS.get(str(spec["name"]))
    options = {k: v for k, v in spec.items() if k != "name"}
    return call_with_options(cls, options=options, what=f"option of text input {spec['name']!r}")


def text_input_from_state(state: Mapping[str, Any]) -> TextInput:
    """Rebuild a fitted text input from :meth:`TextInput.state` (which includes its ``name``)."""
    return TEXT_INPUTS.get(str(state["name"])).from_state(state)


def list_text_inputs() -> list[str]:
    return TEXT_INPUTS.names()
