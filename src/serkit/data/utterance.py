"""The ``Utterance`` record and the manifest CSV that stores a list of them.

Manifest columns (UTF-8 CSV with header): ``utt_id, path, speaker, session, gender, emotion, label, text,
duration_s, corpus, content_hash`` and then any corpus-specific extra columns (``intensity``, ``subset``,
``split``, ``sentiment``, ...). Only ``utt_id`` and ``path`` are required when reading; ``path`` may be
relative, in which case it is resolved against the manifest's own folder (this is how the manifests shipped with
the corpora in ``../shared/data`` are written, and how :func:`write_manifest` writes them).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from serkit.core.errors import ManifestError
from serkit.core.fileio import atomic_open

__all__ = [
    "CANONICAL_EMOTIONS",
    "MANIFEST_COLUMNS",
    "Utterance",
    "read_manifest",
    "write_manifest",
]

#: Canonical lower-case emotion words. Corpora map their own codes onto these; ``""`` means "no agreed label"
#: (e.g. IEMOCAP ``xxx``) or "unlabelled" (files to predict on, sentiment-only corpora).
CANONICAL_EMOTIONS = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
    "calm",
    "boredom",
    "excited",
    "frustrated",
    "contempt",
    "other",
)

#: Core columns of a manifest, in order. Extra columns follow, sorted by name.
MANIFEST_COLUMNS = (
    "utt_id",
    "path",
    "speaker",
    "session",
    "gender",
    "emotion",
    "label",
    "text",
    "duration_s",
    "corpus",
    "content_hash",
)
_GENDERS = ("", "male", "female")


@dataclass(frozen=True)
class Utterance:
    """One labelled utterance. Loaders create these from a corpus layout without reading audio samples.

    Attributes:
        id: unique id within the corpus (usually the file stem).
        path: absolute path of the audio file.
        speaker: speaker id as the corpus writes it (``Actor_01``, ``Ses01F``, ``1001``).
        emotion: canonical emotion (see ``CANONICAL_EMOTIONS``) or ``""`` when there is no agreed label.
        label: the corpus's own label code (``ang``, ``W``, ``05``, ``ANG``), kept for traceability.
        session: recording session where the corpus has them (IEMOCAP ``Ses01``, KEMDy20 ``Sess01``), else ``""``.
        gender: ``male``, ``female`` or ``""``.
        text: transcript where the corpus has one.
        duration: seconds, from the audio header; ``None`` if not measured.
        corpus: registry name of the corpus that produced the record.
        content_hash: SHA-1 of the file bytes (filled by ``serkit corpus prepare``), used to keep identical audio on
            one side of a split.
        extra: corpus-specific string fields (``intensity``, ``subset``, ``split``, ``sentiment``, ...).
    """

    id: str
    path: str
    speaker: str = ""
    emotion: str = ""
    label: str = ""
    session: str = ""
    gender: str = ""
    text: str = ""
    duration: float | None = None
    corpus: str = ""
    content_hash: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError(f"utterance with path {self.path!r} has an empty id.")
        if self.emotion not in CANONICAL_EMOTIONS and self.emotion != "":
            raise ValueError(
                f"utterance {self.id!r}: emotion {self.emotion!r} is not canonical; use one of "
                f"{', '.join(CANONICAL_EMOTIONS)} (or '' for unlabelled) and keep the corpus code in `label`."
            )
        if self.gender not in _GENDERS:
            raise ValueError(f"utterance {self.id!r}: gender {self.gender!r} must be 'male', 'female' or ''.")

    def with_(self, **changes: object) -> Utterance:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)


def _row_of(utt: Utterance, base: Path | None) -> dict[str, str]:
    path = utt.path
    if base is not None:
        try:
            path = os.path.relpath(utt.path, base)
        except ValueError:  # different drive on Windows
            path = utt.path
    row = {
        "utt_id": utt.id,
        "path": path,
        "speaker": utt.speaker,
        "session": utt.session,
        "gender": utt.gender,
        "emotion": utt.emotion,
        "label": utt.label,
        "text": utt.text,
        "duration_s": "" if utt.duration is None else f"{utt.duration:.4f}",
        "corpus": utt.corpus,
        "content_hash": utt.content_hash,
    }
    row.update(utt.extra)
    return row


def write_manifest(
    utterances: Iterable[Utterance], path: str | os.PathLike, *, relative: bool = True
) -> Path:
    """Write ``utterances`` to a manifest CSV atomically.

    Args:
        relative: store audio paths relative to the manifest's folder (portable when the corpus and the manifest
            move together); ``False`` stores absolute paths.
    """
    path = Path(path)
    utterances = list(utterances)
    extra_columns = sorted({key for utt in utterances for key in utt.extra} - set(MANIFEST_COLUMNS))
    base = path.parent.resolve() if relative else None
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*MANIFEST_COLUMNS, *extra_columns], restval="")
        writer.writeheader()
        for utt in utterances:
            writer.writerow(_row_of(utt, base))
    return path


def read_manifest(path: str | os.PathLike, *, corpus: str = "") -> list[Utterance]:
    """Read a manifest CSV (ours, or any CSV with at least ``utt_id`` and ``path`` columns).

    Unknown columns become ``extra`` fields; ``duration_s`` is parsed as float. ``corpus`` fills the corpus field
    where the file has no ``corpus`` column.

    Raises:
        ManifestError: missing file or required column, a row with the wrong number of fields, an empty id or path,
            a non-numeric duration, a non-canonical emotion, or a duplicate id — naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(
            f"{path}: manifest not found; create one with `serkit corpus prepare NAME ROOT -o {path}`."
        )
    base = path.parent.resolve()
    known = {f.name for f in fields(Utterance)}
    utterances: list[Utterance] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise ManifestError(
                f"{path}: file is empty; expected a header line starting with 'utt_id,path'."
            ) from None
        missing = [name for name in ("utt_id", "path") if name not in header]
        if missing:
            raise ManifestError(
                f"{path}: header {header} lacks required column(s) {missing}; a manifest needs at "
                "least 'utt_id' and 'path' (see `serkit corpus prepare`)."
            )
        for line_no, values in enumerate(reader, start=2):
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise ManifestError(
                    f"{path}:{line_no}: row has {len(values)} field(s) but the header has "
                    f"{len(header)}; quote fields that contain commas and fix the row."
                )
            row = dict(zip(header, values))
            utt_id, audio = row.pop("utt_id").strip(), row.pop("path").strip()
            if not utt_id or not audio:
                raise ManifestError(f"{path}:{line_no}: empty utt_id or path; every row needs both.")
            if utt_id in seen:
                raise ManifestError(
                    f"{path}:{line_no}: duplicate utt_id {utt_id!r} (first on line {seen[utt_id]}); "
                    "ids must be unique."
                )
            seen[utt_id] = line_no
            duration_text = row.pop("duration_s", "").strip()
            try:
                duration = float(duration_text) if duration_text else None
            except ValueError:
                raise ManifestError(
                    f"{path}:{line_no}: duration_s {duration_text!r} is not a number."
                ) from None
            audio_path = Path(audio)
            if not audio_path.is_absolute():
                audio_path = Path(os.path.normpath(base / audio_path))
            core = {key: row.pop(key).strip() for key in list(row) if key in known and key != "extra"}
            core.setdefault("corpus", corpus)
            try:
                utterances.append(
                    Utterance(id=utt_id, path=str(audio_path), duration=duration, extra=row, **core)
                )
            except ValueError as exc:
                raise ManifestError(f"{path}:{line_no}: {exc}") from None
    return utterances
