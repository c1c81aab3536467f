"""AlexNet, stage 1 ("DCNN") of DCNN-BLSTMwA (:mod:`serkit.models.dcnn_blstm` describes both stages).

``alexnet`` classifies single segment images (:mod:`serkit.features.dcnn`, ``(batch, segments, 3, 227, 227)``)
with the utterance's label. Our own code, with state-dict keys identical to torchvision's ``AlexNet``
(``features.0/3/6/8/10``, ``classifier.1/4/6``), so the ImageNet checkpoint torchvision distributes
(``alexnet-owt-7be5be79.pth``) loads from a local file with ``weights: PATH`` (:func:`read_state_dict`,
:func:`load_alexnet_weights`); its 1000-class ``classifier.6`` is replaced by a freshly initialised one for our
classes, as the original did. Without ``weights`` the network starts from random weights;
:attr:`AlexNet.init_note` says which, for checkpoints and reports. 57,020,228 parameters with 4 classes.

Given several frames (segments) per utterance, AlexNet averages their logits (padding excluded), so it can
classify whole utterances too. ``alexnet_small`` has the same structure with narrow layers, for tests and smoke
runs. AlexNet's geometry needs images of at least 63 x 63 pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from serkit.features.dcnn import resize_images
from serkit.models import register_model
from serkit.models.base import InputSpec, SERModel
from serkit.models.layers import lengths_to_mask, masked_mean

__all__ = [
    "ALEXNET_WIDTHS",
    "AlexNet",
    "alexnet",
    "alexnet_small",
    "load_alexnet_weights",
    "read_state_dict",
]

#: Output channels of AlexNet's five convolutions (torchvision / Krizhevsky's one-GPU variant).
ALEXNET_WIDTHS = (64, 192, 384, 256, 256)
#: Narrow widths of the ``_small`` variants.
SMALL_WIDTHS = (16, 32, 48, 32, 32)
#: Smallest image AlexNet's strides and pools accept (the last max-pool needs a 3 x 3 map).
MIN_IMAGE_SIZE = 63
#: Key prefix of the layer that is replaced for a new number of classes.
_CLASSIFIER_OUT = "classifier.6."


def _check_images(features: torch.Tensor, lengths: torch.Tensor, *, model: str) -> None:
    if features.ndim != 5 or features.shape[2] != 3:
        raise ValueError(
            f"{model}: features must be (batch, frames, 3, height, width) images (feature "
            f"dcnn_segments), got shape {tuple(features.shape)}."
        )
    if lengths.shape != (features.shape[0],):
        raise ValueError(
            f"{model}: lengths must have shape (batch,) = ({features.shape[0]},), got {tuple(lengths.shape)}."
        )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: a PyTorch state dict (``.pth`` / ``.pt``, loaded with ``weights_only=True``),
    a dict holding one under ``state_dict`` (serkit checkpoints), or a ``.safetensors`` file.

    Raises:
        FileNotFoundError: no such file. ValueError: the file holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: weights file not found; give the path of a torchvision AlexNet checkpoint "
            "(alexnet-owt-7be5be79.pth) or leave the option empty for random initialisation."
        )
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ValueError(
                f"{path}: reading .safetensors needs the safetensors package (pip install "
                "safetensors), or save the weights with torch.save as a .pth file."
            ) from None
        return load_file(str(path))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch raises many types for truncated or foreign files)
        raise ValueError(
            f"{path}: not a weights-only PyTorch file ({exc}); save a state dict "
            "(torch.save(model.state_dict(), path))."
        ) from None
    if isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{path}: expected a state dict (parameter name -> tensor).")
    return dict(data)


def load_alexnet_weights(
    module: AlexNet, state_dict: Mapping[str, torch.Tensor], *, source: str
) -> list[str]:
    """Load torchvision-format AlexNet weights into ``module``, keeping its own last layer where they differ.

    ``classifier.6`` (the class layer) is skipped when its shape differs from ``module``'s (ImageNet's 1000 classes)
    or when ``module`` has none (the DCNN-BLSTMwA extractor); every other parameter must be present with the
    right shape.

    Returns:
        the names of the skipped parameters.

    Raises:
        ValueError: a missing, unexpected or differently shaped parameter, naming it and ``source``.
    """
    own = module.state_dict()
    skipped = [
        k
        for k, v in state_dict.items()
        if k.startswith(_CLASSIFIER_OUT) and (k not in own or own[k].shape != v.shape)
    ]
    kept = {k: v for k, v in state_dict.items() if k not in skipped}
    missing = [k for k in own if k not in kept and not k.startswith(_CLASSIFIER_OUT)]
    unexpected = [k for k in kept if k not in own]
    wrong = [
        f"{k} {tuple(kept[k].shape)} vs {tuple(own[k].shape)}"
        for k in kept
        if k in own and kept[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{source}: not AlexNet weights of this size (missing {missing[:4]}, unexpected "
            f"{unexpected[:4]}, different shapes {wrong[:4]}); stage 1 and stage 2 must use matching "
            "sizes (alexnet with dcnn_blstm, alexnet_small with dcnn_blstm_small)."
        )
    module.load_state_dict(kept, strict=False)
    return skipped


class AlexNet(SERModel):
    """AlexNet with torchvision's layout, classifying each segment image; utterance logits = mean over segments.

    Args:
        num_classes: outputs of ``classifier.6``; 0 builds the network without it (a feature extractor).
        widths: output channels of the five convolutions.
        hidden_dim: width of the two fully connected layers (fc6, fc7).
        dropout: before fc6 and fc7.
        resize_to: resize incoming images to ``resize_to x resize_to`` first (0 = take them as they are); lets the
            feature cache hold 64 x 64 segments instead of 227 x 227 ones.

    Shapes:
        features (batch, frames, 3, height, width), lengths (batch,) -> logits (batch, num_classes).
    """

    input_spec = InputSpec(kind="images", feature="dcnn_segments")
    #: ``alexnet(weights=...)`` only loads ImageNet weights: a checkpoint's state dict replaces them.
    initial_weight_args = ("weights",)

    def __init__(
        self,
        *,
        num_classes: int,
        widths: Sequence[int] = ALEXNET_WIDTHS,
        hidden_dim: int = 4096,
        dropout: float = 0.5,
        resize_to: int = 0,
        name: str = "alexnet",
    ) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) != 5 or min(widths) < 1:
            raise ValueError(f"{name}: widths must be five positive channel counts, got {widths!r}.")
        if hidden_dim < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"{name}: need hidden_dim >= 1 and 0 <= dropout < 1, got {hidden_dim}, {dropout}."
            )
        if resize_to and resize_to < MIN_IMAGE_SIZE:
            raise ValueError(
                f"{name}: resize_to={resize_to} is below AlexNet's minimum {MIN_IMAGE_SIZE} (0 = off)."
            )
        self.name = name
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.resize_to = resize_to
        self.init_note = "random initialisation (no weights file given)"
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(c5 * 6 * 6, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, num_classes) if num_classes else nn.Identity(),
        )

    # -- single images -----------------------------------------------------------------------------------------

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        if self.resize_to:
            images = resize_images(images, self.resize_to)
        if min(images.shape[-2:]) < MIN_IMAGE_SIZE:
            raise ValueError(
                f"{self.name}: images of {tuple(images.shape[-2:])} pixels are too small; AlexNet needs "
                f"at least {MIN_IMAGE_SIZE} x {MIN_IMAGE_SIZE} (features.image_size, or resize_to)."
            )
        return images

    def fc7(self, images: torch.Tensor) -> torch.Tensor:
        """images (n, 3, height, width) -> the second fully connected layer before its ReLU (n, hidden_dim).

        This is ``classifier.4`` of torchvision's AlexNet, DCNN-BLSTMwA's segment feature.
        """
        x = self.avgpool(self.features(self._prepare(images))).flatten(1)  # (n, widths[4] * 36)
        return self.classifier[:5](x)  # dropout, fc6, relu, dropout, fc7

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        """images (n, 3, height, width) -> (n, hidden_dim): the input of the class layer (ReLU of fc7)."""
        return F.relu(self.fc7(images))

    # -- the model contract ------------------------------------------------------------------------------------

    def forward_features(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, 3, height, width), lengths (batch,) -> embedding (batch, hidden_dim).

        The mean over valid frames of the per-segment embeddings; since the class layer is linear, the logits of
        this mean equal the mean of the per-segment logits. Padded frames are never computed.
        """
        _check_images(features, lengths, model=self.name)
        mask = lengths_to_mask(lengths, features.shape[1])  # (batch, frames)
        embedded = self.image_embedding(features[mask])  # (valid frames, hidden_dim)
        per_frame = embedded.new_zeros((*mask.shape, embedded.shape[-1]))  # (batch, frames, hidden_dim)
        per_frame[mask] = embedded
        return masked_mean(per_frame, lengths)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, hidden_dim) -> logits (batch, num_classes)."""
        return self.classifier[6](embedding)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(features, lengths))

    def example_input(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch for tests: features (batch, 3, 3, 64, 64) and lengths counting down from 3."""
        lengths = torch.tensor([max(1, 3 - i % 3) for i in range(batch)])
        return torch.randn(batch, 3, 3, 64, 64), lengths

    def load_weights(self, path: str | Path) -> None:
        """Load a torchvision-format AlexNet checkpoint (ImageNet) from a local file; see :func:`load_alexnet_weights`."""
        skipped = load_alexnet_weights(self, read_state_dict(path), source=str(path))
        note = (
            f" ({', '.join(sorted({k.rsplit('.', 1)[0] for k in skipped}))} initialised anew)"
            if skipped
            else ""
        )
        self.init_note = f"weights from {path}{note}"


@register_model()
def alexnet(
    *,
    num_classes: int,
    dropout: float = 0.5,
    weights: str = "",
    resize_to: int = 0,
    widths: tuple[int, ...] = ALEXNET_WIDTHS,
    hidden_dim: int = 4096,
) -> AlexNet:
    """DCNN stage 1: AlexNet on single segments (57,020,228 parameters with 4 classes).

    ``weights``: a local torchvision AlexNet checkpoint (ImageNet, ``alexnet-owt-7be5be79.pth``) to start from;
    empty = random initialisation (``init_note`` records which).
    """
    model = AlexNet(
        num_classes=num_classes, widths=widths, hidden_dim=hidden_dim, dropout=dropout, resize_to=resize_to
    )
    if weights:
        model.load_weights(weights)
    return model


@register_model()
def alexnet_small(*, num_classes: int, dropout: float = 0.5, resize_to: int = 0) -> AlexNet:
    """AlexNet's structure with narrow layers (widths 16-48, fc 64) for tests and smoke runs."""
    return AlexNet(
        num_classes=num_classes,
        widths=SMALL_WIDTHS,
        hidden_dim=64,
        dropout=dropout,
        resize_to=resize_to,
        name="alexnet_small",
    )
