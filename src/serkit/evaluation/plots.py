"""Report figures: confusion matrix, training curves and a t-SNE map of utterance embeddings.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``) rendered by the Agg backend, not
with ``pyplot``: nothing is registered in pyplot's global figure list (so nothing leaks when a report draws
hundreds of figures) and a user's interactive backend is left alone. Each file is written to a temporary file in
the destination folder and renamed over the target (:func:`serkit.core.fileio.atomic_open`), so an interrupted run
never leaves half a PNG. The image format follows the file suffix (``.png``, ``.pdf``, ``.svg``).

The t-SNE map is bounded: at most :data:`TSNE_MAX_POINTS` utterances (a class-stratified subsample drawn with the
seed), reduced by PCA to :data:`TSNE_PCA_DIMS` dimensions first, computed on one thread (for a few thousand points
threads cost more than they save, and on a busy machine far more). A GLAM embedding map of 240 utterances x 23,296
dimensions takes about 2 s instead of 10-20 s on a busy 2-core machine.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from serkit.core.fileio import atomic_open

__all__ = [
    "TSNE_MAX_POINTS",
    "TSNE_PCA_DIMS",
    "plot_confusion_matrix",
    "plot_training_curves",
    "plot_tsne",
    "tsne_embedding",
]

logger = logging.getLogger(__name__)

#: Most utterances a t-SNE map shows (a stratified subsample above that); bounds the time of the figure.
TSNE_MAX_POINTS = 2000
#: Embeddings with more dimensions are reduced by PCA to this many before t-SNE.
TSNE_PCA_DIMS = 50

#: Runs beyond this many are drawn without a legend (it would cover the curves).
_MAX_LEGEND_ENTRIES = 12


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)  # attaches the Agg renderer; no pyplot state involved
    return figure


def _save(figure: Figure, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    path = Path(path)
    image_format = path.suffix.lstrip(".").lower() or "png"
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format=image_format, dpi=dpi)
    figure.clear()  # free the artists now rather than at garbage collection
    return path


def _class_colours(num_classes: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if num_classes <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(num_classes)]


def plot_confusion_matrix(
    matrix: Any, label_names: Sequence[str], path: str | os.PathLike, *, title: str = ""
) -> Path:
    """Draw a row-normalised confusion matrix as an annotated heat map.

    Args:
        matrix: shape ``(num_classes, num_classes)``, rows = true class, columns = predicted class, each row
            a fraction of that class's utterances (``summary["confusion"]["normalized"]``).
        label_names: class names, in the order of the rows.
        path: output image file.
        title: figure title.

    Returns:
        ``path`` as a Path.
    """
    matrix = np.asarray(matrix, dtype=float)
    k = len(label_names)
    if matrix.shape != (k, k):
        raise ValueError(
            f"confusion matrix has shape {matrix.shape} but there are {k} label names; expected ({k}, {k})."
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError("confusion matrix contains NaN or infinity; row-normalise with 0 for empty rows.")
    size = max(3.5, 0.8 * k + 2.0)
    figure = _new_figure(size + 1.0, size)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues", vmin=0.0, vmax=max(1.0, float(matrix.max())))
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    axes.set_xticks(range(k), labels=label_names, rotation=45, ha="right")
    axes.set_yticks(range(k), labels=label_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if title:
        axes.set_title(title)
    threshold = 0.5 * max(1.0, float(matrix.max()))
    for i in range(k):
        for j in range(k):
            value = matrix[i, j]
            # White text on dark cells, black on light ones, so every number stays readable.
            axes.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > threshold else "black",
            )
    return _save(figure, path)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """Epochs and values of ``key`` over the epochs that have it (None or missing = not measured that epoch)."""
    points = [(float(entry["epoch"]), float(entry[key])) for entry in history if entry.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def plot_training_curves(
    histories: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike, *, title: str = ""
) -> Path:
    """Draw loss curves (train solid, validation dashed), validation UA and learning rate per epoch.

    Args:
        histories: run name (e.g. ``"fold0/seed0"``) -> one dict per epoch with ``epoch`` and ``train_loss``,
            and optionally ``val_loss``, ``val_ua`` and ``lr``. The UA and learning-rate panels appear only when
            some run has those values.
        path: output image file.
        title: figure title.

    Returns:
        ``path`` as a Path.
    """
    if not histories:
        raise ValueError("no training history to plot (histories is empty).")
    for name, history in histories.items():
        for index, entry in enumerate(history):
            for key in ("epoch", "train_loss"):
                if key not in entry:
                    raise ValueError(
                        f"history of run {name!r}, entry #{index}, lacks {key!r}; every epoch "
                        "needs epoch and train_loss."
                    )
    has = {
        key: any(entry.get(key) is not None for history in histories.values() for entry in history)
        for key in ("val_ua", "lr")
    }
    panels = ["loss"] + [key for key in ("val_ua", "lr") if has[key]]
    figure = _new_figure(4.2 * len(panels), 3.6)
    axes = dict(zip(panels, figure.subplots(1, len(panels), squeeze=False)[0]))
    colours = _class_colours(len(histories))

    for colour, (name, history) in zip(colours, histories.items()):
        axes["loss"].plot(*_series(history, "train_loss"), color=colour, label=f"{name} train")
        epochs, values = _series(history, "val_loss")
        if epochs:
            axes["loss"].plot(epochs, values, color=colour, linestyle="--", label=f"{name} val")
        if has["val_ua"]:
            axes["val_ua"].plot(*_series(history, "val_ua"), color=colour, label=name)
        if has["lr"]:
            axes["lr"].plot(*_series(history, "lr"), color=colour, label=name)

    axes["loss"].set_ylabel("loss")
    if has["val_ua"]:
        axes["val_ua"].set_ylabel("validation UA")
    if has["lr"]:
        axes["lr"].set_ylabel("learning rate")
        if all(value > 0 for history in histories.values() for value in _series(history, "lr")[1]):
            axes["lr"].set_yscale("log")  # exponential decays read as straight lines
    for panel in axes.values():
        panel.set_xlabel("epoch")
        panel.grid(alpha=0.3)
    if len(histories) <= _MAX_LEGEND_ENTRIES:
        axes["loss"].legend(fontsize=7)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def _subsample(num_items: int, max_points: int, seed: int, labels: Any = None) -> np.ndarray:
    """Sorted indices of at most ``max_points`` of ``num_items`` items, the same for the same seed; with
    ``labels``, each class keeps its share of the points (largest remainders round the shares)."""
    if num_items <= max_points:
        return np.arange(num_items)
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(num_items, size=max_points, replace=False))
    classes, inverse, counts = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)
    shares = counts * max_points / num_items
    quota = np.floor(shares).astype(int)
    quota[np.argsort(quota - shares, kind="stable")[: max_points - quota.sum()]] += 1
    chosen = [rng.choice(np.flatnonzero(inverse == c), size=q, replace=False) for c, q in enumerate(quota)]
    return np.sort(np.concatenate(chosen))


def tsne_embedding(
    embeddings: Any, *, seed: int = 0, max_points: int | None = None, labels: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """2-D t-SNE coordinates of (a deterministic subsample of) ``embeddings``.

    Perplexity is scikit-learn's default 30 when there are enough points and ``(n - 1) / 3`` (at least 1)
    otherwise, because t-SNE needs a perplexity below the number of points; this keeps 5 points working.
    Embeddings with more than :data:`TSNE_PCA_DIMS` dimensions are first projected on as many principal
    components; scikit-learn runs on one thread.

    Args:
        embeddings: shape ``(num_utterances, hidden_dim)``.
        seed: seeds both the subsample and t-SNE; the same seed gives the same map.
        max_points: above this many utterances (default :data:`TSNE_MAX_POINTS`), that many are drawn at
            random (without replacement).
        labels: class of each row; the subsample then keeps each class's share.

    Returns:
        ``(coordinates, indices)``: shape ``(num_points, 2)`` and the rows of ``embeddings`` they belong to
        (sorted).
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    max_points = TSNE_MAX_POINTS if max_points is None else max_points
    data = np.asarray(embeddings, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"embeddings must have shape (num_utterances, hidden_dim); got {data.shape}.")
    if len(data) < 2:
        raise ValueError(f"t-SNE needs at least 2 utterances; got {len(data)}.")
    if not np.all(np.isfinite(data)):
        raise ValueError("embeddings contain NaN or infinity; check the model outputs before plotting.")
    if max_points < 2:
        raise ValueError(f"max_points={max_points}: must be at least 2.")
    indices = _subsample(len(data), max_points, seed, labels)
    points = data[indices]
    if len(np.unique(points, axis=0)) < 2:  # scikit-learn's Barnes-Hut t-SNE crashes on identical points
        raise ValueError(
            "all embeddings are identical (a collapsed or input-blind model): there is no map to draw."
        )
    n = len(points)
    perplexity = min(30.0, max(1.0, (n - 1) / 3.0))
    with threadpool_limits(limits=1):  # BLAS and OpenMP: threads only slow a map of a few thousand points
        if points.shape[1] > TSNE_PCA_DIMS:  # randomized SVD in float32: deterministic for the seed
            pca = PCA(min(TSNE_PCA_DIMS, n), svd_solver="randomized", random_state=seed)
            points = pca.fit_transform(points.astype(np.float32)).astype(np.float64)
        # PCA initialisation (stabler layouts) needs at least 2 points and 2 dimensions.
        init = "pca" if min(points.shape) >= 2 else "random"
        tsne = TSNE(n_components=2, perplexity=perplexity, init=init, random_state=seed)
        return tsne.fit_transform(points), indices


def plot_tsne(
    embeddings: Any,
    labels: Any,
    label_names: Sequence[str],
    path: str | os.PathLike,
    *,
    seed: int = 0,
    max_points: int | None = None,
    title: str = "",
) -> Path:
    """Scatter a t-SNE map of utterance embeddings, coloured by class.

    Args:
        embeddings: shape ``(num_utterances, hidden_dim)``, e.g. the pooled features before the classifier.
        labels: class indices into ``label_names``, shape ``(num_utterances,)``.
        label_names: ordered class names.
        path: output image file.
        seed: seeds the subsample and t-SNE (see :func:`tsne_embedding`).
        max_points: largest number of utterances drawn (default :data:`TSNE_MAX_POINTS`), each class keeping
            its share.
        title: figure title.

    Returns:
        ``path`` as a Path.
    """
    labels = np.asarray(labels)
    data = np.asarray(embeddings)
    if labels.ndim != 1 or len(labels) != len(data):
        raise ValueError(
            f"labels must have shape ({len(data)},), one class index per embedding row; got {labels.shape}."
        )
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= len(label_names):
        raise ValueError(
            f"labels must be integer indices in 0..{len(label_names) - 1} "
            f"(positions in label_names {list(label_names)})."
        )
    started = time.monotonic()
    coordinates, indices = tsne_embedding(data, seed=seed, max_points=max_points, labels=labels)
    logger.info(
        "t-SNE of %d of %d utterances (%d dimensions) in %.1f s",
        len(indices),
        len(data),
        data.shape[1],
        time.monotonic() - started,
    )
    shown = labels[indices]
    figure = _new_figure(5.5, 4.8)
    axes = figure.add_subplot()
    for index, (name, colour) in enumerate(zip(label_names, _class_colours(len(label_names)))):
        mask = shown == index
        if mask.any():
            axes.scatter(coordinates[mask, 0], coordinates[mask, 1], s=8, color=colour, label=name, alpha=0.8)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.legend(fontsize=7, markerscale=2)
    subtitle = f"t-SNE of {len(indices)}" + (f" of {len(data)}" if len(indices) < len(data) else "")
    axes.set_title((f"{title}\n" if title else "") + f"{subtitle} utterances (seed {seed})", fontsize=9)
    return _save(figure, path)
