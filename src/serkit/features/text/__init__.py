"""Text inputs of fusion models: transcripts -> per-utterance token ids or frozen token embeddings.

* :mod:`~serkit.features.text.base`: the :class:`TextInput` contract and the :data:`TEXT_INPUTS` registry;
* :mod:`~serkit.features.text.vocab`: ``word_vocab`` (MAT / MNT word ids: tokenisation, training-split
  vocabulary, word vectors);
* :mod:`~serkit.features.text.encoders`: ``hf_encoder`` (frozen BERT-style token embeddings).

Each implementation registers itself where it is defined (``@register_text_input``); importing this package imports
them, which fills the registry.

Example:
    >>> sorted(list_text_inputs())
    ['hf_encoder', 'word_vocab']
"""

from serkit.features.text import encoders, vocab  # noqa: F401  (register hf_encoder and word_vocab)
from serkit.features.text.base import (
    TEXT_INPUTS,
    TextInput,
    list_text_inputs,
    register_text_input,
    text_input_from_dict,
    text_input_from_state,
)

__all__ = [
    "TEXT_INPUTS",
    "TextInput",
    "list_text_inputs",
    "register_text_input",
    "text_input_from_dict",
    "text_input_from_state",
]
