"""A disk cache of computed features, keyed by the audio file's content and the feature config.

Layout: ``<root>/<config_key>/<digest[:2]>/<digest>.npy`` where ``digest`` is the SHA-1 of the audio file's
bytes (:func:`serkit.core.fileio.file_digest`) and ``config_key`` is :meth:`FeatureConfig.key`. Keying by content,
not by path, means a renamed or copied file still hits, and an edited file (same path, new bytes) misses.

Hashing every file on every epoch would read the whole corpus each time, so digests are remembered in memory,
per cache object, under ``(resolved path, size, mtime_ns)``: a file that is rewritten in place changes its size
or modification time and is hashed again. (A rewrite that keeps both identical, e.g. by restoring the mtime,
is not noticed within one process; a new process always hashes afresh.)

Entries are written atomically (temporary file + rename, :func:`serkit.core.fileio.atomic_open`), so a killed run
never leaves half an entry under the final name. An entry that cannot be read back (truncated, damaged
header, not an .npy file) is logged as a warning, deleted and recomputed. Entries are loaded with
``allow_pickle=False``: a cache file can never run code.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from serkit.core.fileio import atomic_open, file_digest

__all__ = ["FeatureCache"]

logger = logging.getLogger(__name__)

_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class FeatureCache:
    """Features on disk under ``root``; see the module docstring for the layout and the guarantees.

    Usage::

        cache = FeatureCache(run_dir / "features")
        mfcc = cache.get_or_compute(path, config.key(), lambda: config.compute(serkit.audio.load(path)))

    Attributes:
        root: the cache folder (created on first write).
        hits: entries served from disk by this object.
        misses: entries computed (and written) by this object, corrupt entries included.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self._digests: dict[tuple[str, int, int], str] = {}

    def digest(self, audio_path: str | os.PathLike) -> str:
        """SHA-1 of the file's bytes, remembered per (path, size, mtime_ns) for the life of this object."""
        path = Path(audio_path).resolve()
        stat = path.stat()  # FileNotFoundError names the path
        memo_key = (str(path), stat.st_size, stat.st_mtime_ns)
        if memo_key not in self._digests:
            self._digests[memo_key] = file_digest(path)
        return self._digests[memo_key]

    def path_for(self, audio_path: str | os.PathLike, config_key: str) -> Path:
        """Where the features of ``audio_path`` under ``config_key`` are (or would be) stored."""
        return self._entry(self.digest(audio_path), config_key)

    def _entry(self, digest: str, config_key: str) -> Path:
        if not isinstance(config_key, str) or not _SAFE_KEY.match(config_key):
            raise ValueError(
                f"config_key {config_key!r} must be a non-empty file name of letters, digits, '.', "
                "'_' and '-' (use FeatureConfig.key())."
            )
        return self.root / config_key / digest[:2] / f"{digest}.npy"

    def load(self, digest: str, config_key: str, *, source: str = "") -> np.ndarray | None:
        """The entry stored for content ``digest`` (a hex SHA-1 of what the features come from: audio bytes, a
        transcript) under ``config_key``, or None (also after deleting an unreadable entry)."""
        target = self._entry(digest, config_key)
        cached = self._load(target, source or digest) if target.exists() else None
        if cached is not None:
            self.hits += 1
        return cached

    def store(self, digest: str, config_key: str, value: np.ndarray | torch.Tensor) -> np.ndarray:
        """Write an entry atomically (numbers only: never a pickle) and return it as a numpy array."""
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        if array.dtype == object:
            raise TypeError(
                f"features for {digest} are an object array; store numbers (a numpy array or a torch "
                "tensor) so that they can be cached without pickle."
            )
        self.misses += 1
        with atomic_open(self._entry(digest, config_key), "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        return array

    def get_or_compute(
        self,
        audio_path: str | os.PathLike,
        config_key: str,
        compute: Callable[[], np.ndarray | torch.Tensor],
    ) -> np.ndarray:
        """The cached features of ``audio_path`` under ``config_key``, computing and storing them on a miss.

        Args:
            audio_path: the audio file the features come from (only its bytes are read here, to hash them).
            config_key: the feature config's :meth:`~serkit.features.base.FeatureConfig.key`.
            compute: called with no arguments on a miss; returns the features (numpy or torch, any shape).

        Returns:
            the features as a numpy array (torch results are moved to the CPU and converted).
        """
        digest = self.digest(audio_path)
        cached = self.load(digest, config_key, source=str(audio_path))
        return cached if cached is not None else self.store(digest, config_key, compute())

    def _load(self, target: Path, audio_path: str | os.PathLike) -> np.ndarray | None:
        """The stored array, or None after deleting an unreadable entry."""
        try:
            return np.load(target, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            logger.warning(
                "feature cache entry %s (for %s) is unreadable (%s); deleting it and recomputing.",
                target,
                audio_path,
                exc,
            )
            target.unlink(missing_ok=True)
            return None
