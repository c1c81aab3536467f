"""Stage ``kmeans``: cluster the frames of a list of utterances (SEEDS.md 5.3a/e).

scikit-learn ``MiniBatchKMeans`` with the settings of the original (fairseq's ``learn_kmeans.py``): k-means++,
``max_iter`` 100, ``batch_size`` 10000, ``tol`` 0, ``n_init`` 20, ``max_no_improvement`` 100,
``reassignment_ratio`` 0, ``random_state`` 1337, fitted on all frames of the list (``fraction`` 1, the original
``--percent -1``). Output folder::

    centroids.npy        (clusters, hidden_dim) float32: all later stages need (no pickle)
    kmeans.json          settings, the utterance ids used, frame count, inertia

A k-means model trained elsewhere (fairseq's ``hubert_base_ls960_L9_km500.bin`` is a joblib pickle of a
MiniBatchKMeans) is read only by :func:`import_kmeans` with ``trust_pickle=True``: unpickling runs code from the
file, so only files from a source you trust. Its centroids are then stored like ours.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.fileio import atomic_open, atomic_write_json
from serkit.cpt.features import FeatureStore

__all__ = ["fit_kmeans", "import_kmeans", "load_centroids"]

logger = logging.getLogger(__name__)


def _write_centroids(out_dir: Path, centroids: np.ndarray, info: dict) -> Path:
    with atomic_open(out_dir / "centroids.npy", "wb") as handle:
        np.save(handle, np.ascontiguousarray(centroids, dtype=np.float32), allow_pickle=False)
    atomic_write_json(out_dir / "kmeans.json", info)  # last: marks the folder finished
    return out_dir


def fit_kmeans(
    features: str | Path | FeatureStore,
    out_dir: str | Path,
    *,
    clusters: int,
    ids: Sequence[str] | None = None,
    n_init: int = 20,
    batch_size: int = 10000,
    max_iter: int = 100,
    max_no_improvement: int = 100,
    seed: int = 1337,
    fraction: float = 1.0,
) -> Path:
    """Fit MiniBatchKMeans on the frames of ``ids`` (default: every utterance of the feature folder).

    A finished folder with the same settings and ids is kept (resume); different ones raise.

    Args:
        features: feature folder (:mod:`serkit.cpt.features`).
        clusters: k (TAPT 500, emotion clustering 50).
        ids: the utterances whose frames are clustered: a fold's pre-training list, never its test part.
        fraction: of those utterances, chosen with ``seed`` (the original ``--percent``; 1 = all).
    """
    from sklearn.cluster import MiniBatchKMeans

    store = features if isinstance(features, FeatureStore) else FeatureStore(features)
    out_dir = Path(out_dir)
    chosen = list(store.ids if ids is None else ids)
    if not chosen:
        raise SerkitError("kmeans: no utterances to cluster.")
    if not 0 < fraction <= 1:
        raise ValueError(f"kmeans: fraction={fraction} must be in (0, 1].")
    if fraction < 1:
        rng = np.random.default_rng(seed)
        keep = max(1, round(fraction * len(chosen)))
        chosen = sorted(rng.choice(chosen, size=keep, replace=False).tolist())
    settings = {
        "clusters": clusters,
        "n_init": n_init,
        "batch_size": batch_size,
        "max_iter": max_iter,
        "max_no_improvement": max_no_improvement,
        "seed": seed,
        "fraction": fraction,
        "features": str(store.root.resolve()),
    }
    done = out_dir / "kmeans.json"
    if done.is_file():
        old = json.loads(done.read_text(encoding="utf-8"))
        if old.get("settings") == settings and old.get("ids") == chosen:
            logger.info("kmeans: %s already done", out_dir)
            return out_dir
        raise SerkitError(
            f"{out_dir} holds another k-means (other settings or utterances); use another folder "
            "or delete it."
        )
    frames = np.concatenate([array for _, array in store.iter_frames(chosen)], axis=0)
    if len(frames) < clusters:
        raise SerkitError(
            f"kmeans: {len(frames)} frames cannot make {clusters} clusters; lower --clusters or "
            "cluster more audio."
        )
    model = MiniBatchKMeans(
        n_clusters=clusters,
        init="k-means++",
        max_iter=max_iter,
        batch_size=batch_size,
        tol=0.0,
        n_init=n_init,
        max_no_improvement=max_no_improvement,
        reassignment_ratio=0.0,
        random_state=seed,
        compute_labels=False,
    )
    model.fit(frames)
    inertia = float(-model.score(frames))  # sum of squared distances to the nearest centroid
    logger.info(
        "kmeans: %d clusters on %d frames of %d utterances, inertia per frame %.4g",
        clusters,
        len(frames),
        len(chosen),
        inertia / len(frames),
    )
    return _write_centroids(
        out_dir,
        model.cluster_centers_,
        {
            "settings": settings,
            "ids": chosen,
            "num_frames": len(frames),
            "inertia": inertia,
            "source": "fitted",
        },
    )


def import_kmeans(model_file: str | Path, out_dir: str | Path, *, trust_pickle: bool = False) -> Path:
    """Store the centroids of a pickled scikit-learn k-means (fairseq ``*_km500.bin``) as ``centroids.npy``.

    Raises:
        SerkitError: ``trust_pickle`` is False (unpickling can run arbitrary code), or the file holds no
            ``cluster_centers_``.
    """
    model_file = Path(model_file)
    if not trust_pickle:
        raise SerkitError(
            f"{model_file}: a k-means model file is a pickle, and loading it runs code from the file. "
            "Pass --trust-pickle (trust_pickle=True) only for a file from a source you trust, e.g. "
            "fairseq's hubert_base_ls960_L9_km500.bin."
        )
    if not model_file.is_file():
        raise SerkitError(f"{model_file}: k-means model file not found.")
    import joblib

    # unpickling runs code from the file: reached only with trust_pickle=True (--trust-pickle), checked above
    model = joblib.load(model_file)
    centroids = getattr(model, "cluster_centers_", None)
    if centroids is None:
        raise SerkitError(
            f"{model_file}: holds a {type(model).__name__}, not a fitted k-means (no cluster_centers_)."
        )
    centroids = np.asarray(centroids, dtype=np.float32)
    return _write_centroids(
        Path(out_dir),
        centroids,
        {
            "settings": {"clusters": len(centroids)},
            "ids": [],
            "num_frames": 0,
            "inertia": None,
            "source": f"imported from {model_file.resolve()} (trusted pickle)",
        },
    )


def load_centroids(kmeans_dir: str | Path) -> np.ndarray:
    """(clusters, hidden_dim) float32 centroids of a finished k-means folder."""
    kmeans_dir = Path(kmeans_dir)
    if not (kmeans_dir / "kmeans.json").is_file():
        raise SerkitError(f"{kmeans_dir}: not a finished k-means folder; run `serkit hubert kmeans` first.")
    return np.load(kmeans_dir / "centroids.npy", allow_pickle=False)
