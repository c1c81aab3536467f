"""The model protocol: what the runner, the training strategies and the recogniser may ask of any model.

Every registered model is a :class:`SERModel`, an ``nn.Module`` whose capabilities are declared here as documented
attributes with defaults, so that code above the models reads ``model.fits_in_closed_form`` instead of probing
with ``getattr``/``hasattr``. A family overrides only what differs from the defaults:

======================== ====================== ==================================================================
attribute                default                meaning
======================== ====================== ==================================================================
``input_spec``           frames, any feature    what ``features`` holds (:class:`InputSpec`): frames, images or
                                                waveforms, the feature it was designed for, the sample rate
``input_shape``          None                   fixed ``(num_features, frames)`` of every segment (GLAM and the
                                                CNN baselines); None = any number of frames, ``lengths`` used
``takes_text_ids``       False                  takes ``text (batch, tokens)`` int64 word ids + ``text_lengths``
``takes_text_embeddings`` False                 takes ``text (batch, tokens, text_dim)`` token embeddings
``fits_in_closed_form``  False                  trained by :meth:`fit_chunks` (scikit-learn), not by gradients
``predicts_dimensions``  False                  a closed-form model fitting emotion dimensions, not classes
``initial_weight_args``  ()                     factory arguments that only load starting weights (a file); a
                                                checkpoint's state dict supersedes them when the model is rebuilt
``init_note``            ""                     how the weights were initialised, for reports ("" = default)
``init_from_stage()``    ``load_state_dict``    start a later stage from an earlier stage's selected weights
``init_text_embeddings`` does nothing           receive the text input's initial word vectors
``for_inference()``      the model itself       an evaluation-only copy computing the same function faster (GLAM
                                                folds its batch norms and shortcuts into the convolutions)
``example_input()``      random frames          a random batch of this model's input, for tests
======================== ====================== ==================================================================

The forward contract (STYLE.md rule 3): ``forward_features(features, lengths, **text) -> (batch, hidden_dim)``,
``forward_head(embedding) -> (batch, num_classes)`` and ``forward`` = head of features. Nothing here owns
parameters or buffers, so a model's ``state_dict`` is exactly that of its own layers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn

__all__ = ["INPUT_KINDS", "ChunkData", "InputSpec", "SERModel"]

#: What a model's ``features`` argument can hold.
INPUT_KINDS = ("frames", "images", "waveform")

#: Valid frames of the random examples of variable-length models (cycled over the batch).
_EXAMPLE_FRAMES = (20, 15, 7)


@dataclass(frozen=True)
class InputSpec:
    """The input a model expects (timm's ``default_cfg``, torchaudio's ``bundle.sample_rate``).

    Attributes:
        kind: ``frames`` = ``features (batch, frames, num_features)``; ``images`` = ``(batch, frames, 3, height,
            width)`` (DCNN's segment images); ``waveform`` = ``(batch, samples)``. ``lengths (batch,)`` counts
            frames or samples.
        feature: the registered feature the model was designed for (``mfcc``, ``egemaps``, ...); "" = any
            feature of its kind.
        sample_rate: the rate (Hz) its inputs must be computed at; None = any.
    """

    kind: str = "frames"
    feature: str = ""
    sample_rate: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"InputSpec.kind={self.kind!r}: use one of {', '.join(INPUT_KINDS)}.")


class ChunkData(Protocol):
    """What closed-form fitting reads from a chunk set (``serkit.training.data.ChunkSet`` is one).

    Attributes:
        chunks: arrays (frames, *feature_shape). chunk_utterance: (num_chunks,) owner utterance of each chunk.
        targets: (num_utterances,) class indices. utterance_ids: ids in utterance-index order.
    """

    chunks: Sequence[np.ndarray]
    chunk_utterance: np.ndarray
    targets: np.ndarray
    utterance_ids: Sequence[str]

    @property
    def num_utterances(self) -> int: ...

    def __len__(self) -> int: ...


class SERModel(nn.Module):
    """Base class of every registered model: the declared capabilities (see the module docstring).

    Attributes set by every model: ``num_classes`` (outputs) and ``hidden_dim`` (size of the
    :meth:`forward_features` embedding); frame models also ``num_features``. :func:`serkit.models.create_model`
    sets ``model_name`` and ``model_args`` (the registry name and the arguments it was built with).
    """

    #: What ``features`` holds (kind, designed-for feature, sample rate).
    input_spec: ClassVar[InputSpec] = InputSpec()
    #: Fixed ``(num_features, frames)`` of every segment, or None for variable-length inputs (set per instance).
    input_shape: tuple[int, int] | None = None
    #: Fusion models on word ids: ``text (batch, tokens)`` int64 and ``text_lengths (batch,)``.
    takes_text_ids: ClassVar[bool] = False
    #: Fusion models on frozen token embeddings: ``text (batch, tokens, text_dim)`` and ``text_lengths (batch,)``.
    takes_text_embeddings: ClassVar[bool] = False
    #: Trained by :meth:`fit_chunks` in one closed-form fit instead of the gradient loop.
    fits_in_closed_form: ClassVar[bool] = False
    #: A closed-form model that regresses emotion dimensions (``task: regression``) instead of classifying.
    predicts_dimensions: ClassVar[bool] = False
    #: Factory arguments that only choose starting weights (e.g. an ImageNet file): left out when a checkpoint
    #: rebuilds the model, since its state dict replaces them and the file need not exist there.
    initial_weight_args: ClassVar[tuple[str, ...]] = ()
    #: How the weights were initialised, copied into reports ("" = the default initialisation).
    init_note: str = ""
    #: Registry name, set by ``create_model``.
    model_name: str = ""

    num_classes: int
    hidden_dim: int
    model_args: dict[str, Any]

    # -- the forward contract ------------------------------------------------------------------------------------

    def forward_features(
        self, features: torch.Tensor, lengths: torch.Tensor, **text: torch.Tensor
    ) -> torch.Tensor:
        """features (batch, ...) as :attr:`input_spec` says, lengths (batch,) -> embedding (batch, hidden_dim)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward_features")

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, hidden_dim) -> logits (batch, num_classes)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward_head")

    # -- initialisation hooks ------------------------------------------------------------------------------------

    def init_from_stage(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Start from the selected weights of an earlier stage of the same (fold, seed); by default all of them."""
        self.load_state_dict(state_dict)

    def init_text_embeddings(self, matrix: torch.Tensor) -> None:
        """Initial word vectors ``(vocab_size, word_dim)`` from the text input; models without a word embedding
        table ignore them."""

    # -- evaluation ----------------------------------------------------------------------------------------------

    def for_inference(self) -> SERModel:
        """A model in eval mode with the same outputs (up to float rounding) for evaluation and prediction, possibly
        faster. By default the model itself; a family that fuses layers (exact in eval mode only) returns a new
        model built from the current weights, a snapshot: call again after the weights change."""
        return self.eval()

    # -- closed-form fitting -------------------------------------------------------------------------------------

    def fit_chunks(
        self, train_set: ChunkData, val_set: ChunkData | None = None, *, seed: int = 0
    ) -> dict[str, Any]:
        """Fit in closed form (models with :attr:`fits_in_closed_form`); returns a JSON-serialisable report whose
        numbers go into the run's history."""
        raise NotImplementedError(
            f"{type(self).__name__} is trained by gradients, not by fit_chunks (fits_in_closed_form is False)"
        )

    # -- tests ---------------------------------------------------------------------------------------------------

    def example_input(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch for tests: features (batch, frames, num_features) and lengths (batch,).

        Fixed-shape models get complete segments of :attr:`input_shape`; others 20, 15 and 7 valid frames
        (cycled) padded to 20. Models of another :attr:`input_spec` kind override this.
        """
        if self.input_shape is not None:
            num_features, frames = self.input_shape
            return torch.randn(batch, frames, num_features), torch.full((batch,), frames)
        lengths = torch.tensor([_EXAMPLE_FRAMES[i % len(_EXAMPLE_FRAMES)] for i in range(batch)])
        return torch.randn(batch, max(_EXAMPLE_FRAMES), self.num_features), lengths
