"""Folds files and reports: :func:`write_folds`, :func:`read_folds` and the :func:`describe_folds` table."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from serkit.core.errors import ManifestError
from serkit.core.fileio import atomic_write_json, file_digest
from serkit.data.protocols.base import PARTS, Fold, protocol_info
from serkit.data.stats import format_table
from serkit.data.utterance import Utterance

__all__ = ["describe_folds", "read_folds", "write_folds"]


def write_folds(
    folds: Sequence[Fold],
    path: str | os.PathLike,
    *,
    protocol: str,
    seed: int,
    manifest: str | os.PathLike | None = None,
    options: Mapping[str, Any] | None = None,
) -> Path:
    """Write folds as JSON (atomically) with the protocol, its guarantees, the seed and per-fold counts.

    Args:
        manifest: the manifest the folds were made from; its path and SHA-1 are recorded.
        options: the protocol options used (``null`` in the file when not given).
    """
    from serkit import __version__  # imported here: serkit/__init__ imports this module

    info = protocol_info(protocol)
    manifest_sha1 = file_digest(manifest) if manifest is not None and Path(manifest).is_file() else None
    document = {
        "serkit_version": __version__,
        "protocol": info.name,
        "info": info.to_dict(),
        "seed": seed,
        "options": None if options is None else {key: _jsonable(value) for key, value in options.items()},
        "manifest": None if manifest is None else str(manifest),
        "manifest_sha1": manifest_sha1,
        "folds": [
            {
                "name": f.name,
                "held_out": list(f.held_out),
                "selection": f.selection,
                "counts": {part: len(getattr(f, part)) for part in PARTS},
                **{part: list(getattr(f, part)) for part in PARTS},
            }
            for f in folds
        ],
    }
    atomic_write_json(path, document)
    return Path(path)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def read_folds(path: str | os.PathLike) -> list[Fold]:
    """Folds from a JSON file written by :func:`write_folds`.

    Raises:
        ManifestError: missing file, invalid JSON, no ``folds`` list, or a malformed fold — naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(
            f"{path}: folds file not found; write one with `serkit corpus folds MANIFEST -o {path}`."
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"{path}: not valid JSON ({exc}); regenerate it with `serkit corpus folds`."
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("folds"), list) or not document["folds"]:
        raise ManifestError(
            f"{path}: expected a JSON object with a non-empty 'folds' list (as written by "
            "`serkit corpus folds`)."
        )
    folds = []
    for number, entry in enumerate(document["folds"], start=1):
        try:
            folds.append(Fold.from_dict(entry))
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"{path}: fold {number}: {exc}") from None
    return folds


def _short_list(items: Sequence[str], limit: int = 3) -> str:
    if not items:
        return "-"
    shown = ", ".join(items[:limit])
    return shown + (f" +{len(items) - limit}" if len(items) > limit else "")


def describe_folds(folds: Sequence[Fold], utterances: Sequence[Utterance] | None = None) -> str:
    """A compact table: fold, held-out groups, utterance counts per part, and what selection uses.

    Args:
        utterances: when given, the number of speakers in each part is shown too (``1152 (18 spk)``).
    """
    speaker_of = {u.id: u.speaker for u in utterances} if utterances is not None else None

    def cell(ids: Sequence[str]) -> str:
        if speaker_of is None:
            return str(len(ids))
        speakers = {speaker_of.get(i, "") for i in ids} - {""}
        return f"{len(ids)} ({len(speakers)} spk)"

    rows = [
        [f.name, _short_list(list(f.held_out)), cell(f.train), cell(f.val), cell(f.test), f.selection]
        for f in folds
    ]
    table = format_table(["fold", "held out", "train", "val", "test", "selection"], rows)
    notes = []
    if any(f.selection == "test" for f in folds):
        notes.append("NOTE: validation equals test in some folds: results are selected on the test data.")
    if any(f.selection == "none" for f in folds):
        notes.append("NOTE: some folds have no validation set: nothing may be selected on held-out data.")
    return "\n".join([table, *notes])
