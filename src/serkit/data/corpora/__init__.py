"""Corpus loaders: one module per corpus, each registering a loader with :func:`register_corpus`.

A loader reads the corpus's *original* folder layout and file names and returns :class:`Utterance` records.
Contract (see any module here for an example):

* signature ``load_<name>(root: str | Path, *, <options with defaults>) -> list[Utterance]``; options are keyword-only
  with type annotations (the CLI converts ``--opt key=value`` strings by those annotations);
* the docstring documents the folder layout the loader expects and what each option does;
* no audio samples are read; durations may be left ``None`` (``load_corpus`` fills them from the headers);
* nothing inside ``root`` is ever written, renamed or deleted;
* a missing folder or a file name that does not follow the corpus's scheme raises :class:`CorpusLayoutError`
  naming the path and the expected layout.

Modules in this package are imported automatically, so adding a corpus is adding one file.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from serkit.audio import io as audio_io
from serkit.audio.io import find_audio
from serkit.core.errors import AudioError, CorpusLayoutError
from serkit.core.fileio import file_digest
from serkit.core.options import call_with_options
from serkit.core.registry import Registry
from serkit.data.utterance import Utterance

__all__ = [
    "CORPORA",
    "fill_content_hashes",
    "fill_durations",
    "find_audio",
    "find_file",
    "list_corpora",
    "load_corpus",
    "register_corpus",
    "report_missing_audio",
    "require_dir",
]

logger = logging.getLogger(__name__)

CORPORA: Registry[Callable[..., list[Utterance]]] = Registry("corpus")
register_corpus = CORPORA.register


def list_corpora() -> list[str]:
    """Registered corpus names."""
    return CORPORA.names()


def require_dir(root: str | Path, corpus: str, layout: str) -> Path:
    """``root`` as a resolved Path, or CorpusLayoutError explaining the layout ``corpus`` expects."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise CorpusLayoutError(f"{corpus}: {path} is not a folder. Expected layout: {layout}")
    return path.resolve()


def find_file(folder: Path, names: Iterable[str], listings: dict[Path, dict[str, Path]]) -> Path | None:
    """The first of ``names`` in ``folder``, matched without regard to case.

    ``listings`` is a cache the caller keeps across calls, so each folder is listed once even for corpora with
    tens of thousands of files.
    """
    if folder not in listings:
        listings[folder] = (
            {p.name.lower(): p for p in folder.iterdir() if not p.name.startswith(".")}
            if folder.is_dir()
            else {}
        )
    listing = listings[folder]
    return next((listing[name.lower()] for name in names if name.lower() in listing), None)


def report_missing_audio(
    corpus: str, missing: Sequence[str], policy: str, *, items: str, expected: str, hint: str = ""
) -> None:
    """What a loader does with labelled ``items`` (``segment(s)``, ``clip(s)``) whose audio file is missing, by its
    ``missing_audio`` option (``policy``): ``error`` raises CorpusLayoutError naming them, where they were looked for
    (``expected``) and the fix (``hint`` first, e.g. how to extract audio from videos); ``skip`` (left out) and
    ``keep`` (kept with their expected path, for label- or text-only use) log a warning."""
    if not missing:
        return
    examples = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
    if policy == "error":
        raise CorpusLayoutError(
            f"{corpus}: no audio for {len(missing)} {items} ({examples}); looked for {expected}. {hint}"
            "Complete the copy, or pass missing_audio=skip (leave them out) or missing_audio=keep (label- or "
            "text-only use)."
        )
    action = "left out" if policy == "skip" else "kept with their expected path"
    logger.warning(
        "%s: %d %s have no audio file and were %s (e.g. %s).", corpus, len(missing), items, action, examples
    )


def fill_durations(utterances: list[Utterance], *, skip_unreadable: bool = False) -> list[Utterance]:
    """Fill missing durations from the audio headers.

    Raises:
        CorpusLayoutError: unreadable or missing files (all of them listed), unless ``skip_unreadable``; then they
            are dropped with a warning.
    """
    result, problems = [], []
    for utt in utterances:
        if utt.duration is not None:
            result.append(utt)
            continue
        try:
            result.append(utt.with_(duration=audio_io.duration(utt.path)))
        except AudioError as exc:
            problems.append(str(exc))
    if problems:
        listing = "\n  ".join(problems[:20]) + (
            f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        )
        if not skip_unreadable:
            raise CorpusLayoutError(
                f"{len(problems)} audio file(s) could not be read:\n  {listing}\n"
                "Fix or remove them, or pass --skip-unreadable to leave them out of the manifest."
            )
        logger.warning("left out %d unreadable audio file(s):\n  %s", len(problems), listing)
    return result


def fill_content_hashes(utterances: list[Utterance]) -> list[Utterance]:
    """Set ``content_hash`` (SHA-1 of the file bytes) where missing; protocols keep equal hashes on one side.

    Files that do not exist (text-only use of a corpus without its audio) keep an empty hash.
    """
    return [
        u if u.content_hash or not Path(u.path).is_file() else u.with_(content_hash=file_digest(u.path))
        for u in utterances
    ]


def load_corpus(
    name: str,
    root: str | Path,
    *,
    options: Mapping[str, Any] | None = None,
    durations: bool = True,
    content_hashes: bool = False,
    skip_unreadable: bool = False,
) -> list[Utterance]:
    """Load corpus ``name`` from ``root`` with loader ``options`` (strings are converted by type).

    Args:
        durations: fill missing durations from audio headers.
        content_hashes: fill ``content_hash`` from file bytes (``serkit corpus prepare`` does this by default).
        skip_unreadable: drop unreadable files with a warning instead of failing.

    Raises:
        KeyError: unknown corpus name (with close matches). ValueError: unknown option.
        CorpusLayoutError: the folder does not follow the corpus layout.
    """
    loader = CORPORA.get(name)
    utterances = call_with_options(loader, root, options=options, what=f"option of corpus {name!r}")
    if not utterances:
        raise CorpusLayoutError(
            f"{name}: no utterances found under {root}. Check the folder against the layout "
            f"documented in `serkit corpus list --verbose` / serkit.data.corpora.{name}."
        )
    seen: set[str] = set()
    duplicates = [u.id for u in utterances if u.id in seen or seen.add(u.id)]
    if duplicates:
        raise CorpusLayoutError(
            f"{name}: {len(duplicates)} utterance id(s) occur twice under {root} (e.g. "
            f"{duplicates[:3]}); the folder probably holds two copies of the corpus (say .wav and "
            ".flac): point ROOT at one copy."
        )
    utterances = [u if u.corpus else u.with_(corpus=name) for u in utterances]
    if durations:
        utterances = fill_durations(utterances, skip_unreadable=skip_unreadable)
    if content_hashes:
        utterances = fill_content_hashes(utterances)
    return utterances


def _import_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_import_all()
