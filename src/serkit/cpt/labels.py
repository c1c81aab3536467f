"""Stage ``labels``: the nearest centroid of every frame, as the pseudo-label list of pre-training.

A label list is a UTF-8 text file: a ``#`` header line naming the features and the k-means, then one utterance per
line, ``id<TAB>path<TAB>num_samples<TAB>l0 l1 l2 ...`` with one cluster id per encoder frame (the original wrote
the ids alone, one line per utterance, in a file named ``.pt``). Frame ``t`` is the encoder frame whose receptive
field starts at sample ``t * stride`` (HuBERT base: 400-sample kernel, 320-sample stride at 16 kHz), so
``len(labels) == frame_lengths(config, num_samples)``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit.core.errors import ManifestError, SerkitError
from serkit.core.fileio import atomic_write_text
from serkit.cpt.features import FeatureStore
from serkit.cpt.kmeans import load_centroids

__all__ = ["LabelledUtterance", "assign_labels", "nearest_centroids", "read_label_list"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledUtterance:
    """One line of a label list. ``labels``: (frames,) int64 cluster ids."""

    id: str
    path: str
    num_samples: int
    labels: np.ndarray


def nearest_centroids(frames: np.ndarray, centroids: np.ndarray, *, block: int = 65536) -> np.ndarray:
    """frames (n, dim), centroids (k, dim) -> (n,) int64 index of the nearest centroid (squared Euclidean)."""
    squared = (centroids.astype(np.float64) ** 2).sum(1)
    result = np.empty(len(frames), dtype=np.int64)
    for start in range(0, len(frames), block):
        part = frames[start : start + block].astype(np.float64)
        distances = squared[None, :] - 2.0 * part @ centroids.T.astype(np.float64)  # + |x|^2, same for all k
        result[start : start + block] = distances.argmin(1)
    return result


def assign_labels(
    features: str | Path | FeatureStore,
    kmeans_dir: str | Path,
    out_path: str | Path,
    *,
    ids: Sequence[str] | None = None,
) -> Path:
    """Write the label list of ``ids`` (default: every utterance of the feature folder).

    An existing list made from the same features and centroids for the same ids is kept.
    """
    store = features if isinstance(features, FeatureStore) else FeatureStore(features)
    centroids = load_centroids(kmeans_dir)
    if centroids.shape[1] != store.hidden_dim:
        raise SerkitError(
            f"{kmeans_dir}: centroids have {centroids.shape[1]} dimensions but the features in "
            f"{store.root} have {store.hidden_dim}; cluster features of the same model and layer."
        )
    chosen = list(store.ids if ids is None else ids)
    digest = hashlib.sha1(centroids.tobytes()).hexdigest()[:16]
    header = f"# features={store.root.resolve()} kmeans={Path(kmeans_dir).resolve()} centroids_sha1={digest}"
    out_path = Path(out_path)
    if out_path.is_file():
        lines = out_path.read_text(encoding="utf-8").splitlines()
        if lines and lines[0] == header and [line.split("\t", 1)[0] for line in lines[1:]] == chosen:
            logger.info("labels: %s already done", out_path)
            return out_path
    rows = [header]
    for utt_id, frames in store.iter_frames(chosen):
        entry = store.entry(utt_id)
        labels = nearest_centroids(frames, centroids)
        rows.append(f"{utt_id}\t{entry.path}\t{entry.num_samples}\t{' '.join(map(str, labels.tolist()))}")
    atomic_write_text(out_path, "\n".join(rows) + "\n")
    return out_path


def read_label_list(path: str | Path) -> list[LabelledUtterance]:
    """Read a label list (see the module docstring).

    Raises:
        ManifestError: missing file or a malformed line (named with its number).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: label list not found; run `serkit hubert labels` first.")
    result = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 4:
            raise ManifestError(
                f"{path}:{number}: expected id, path, num_samples and labels separated by tabs."
            )
        try:
            labels = np.array([int(x) for x in parts[3].split()], dtype=np.int64)
            result.append(LabelledUtterance(parts[0], parts[1], int(parts[2]), labels))
        except ValueError:
            raise ManifestError(f"{path}:{number}: num_samples and labels must be integers.") from None
    return result
