"""``Recognizer.from_pretrained``: a model folder, or a Hugging Face hub repository holding one.

>>> Recognizer.from_pretrained("models/ravdess_glam")             # a folder of `serkit export --format folder`  # doctest: +SKIP
>>> Recognizer.from_pretrained("owner/ser-ravdess-glam")           # a hub repository id          # doctest: +SKIP
>>> Recognizer.from_pretrained("hf://owner/ser-ravdess-glam@v1")   # the hub, a revision          # doctest: +SKIP

:func:`resolve_pretrained` turns the name into a local folder: an existing folder is used as it is; otherwise the
name is a hub repository id (``owner/name``, optionally ``hf://`` before it and ``@revision`` after it) and the
repository is downloaded with ``huggingface_hub.snapshot_download`` (JSON, safetensors and the README only: never
pickled weights) into the Hugging Face cache, which works offline once cached (``HF_HUB_OFFLINE=1``).
:func:`folder_kind` tells a serkit model folder from a transformers audio-classification folder
(:class:`serkit.inference.hf_audio.HFAudioRecognizer` runs those).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from serkit.core.errors import ModelFileError
from serkit.inference.model_folder import is_model_folder

__all__ = ["HUB_PREFIX", "PretrainedMixin", "folder_kind", "parse_hub_id", "resolve_pretrained"]

#: Marks a MODEL argument as a hub repository id (``hf://owner/name[@revision]``).
HUB_PREFIX = "hf://"
#: What is downloaded from a hub repository: configs, safetensors weights, the model card.
ALLOW_PATTERNS = ["*.json", "*.safetensors", "README.md", "*.txt"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def parse_hub_id(name: str) -> tuple[str, str | None]:
    """``hf://owner/name@rev`` or ``owner/name`` -> (repo id, revision or None).

    Raises:
        ModelFileError: not a repository id.
    """
    text = name[len(HUB_PREFIX) :] if name.startswith(HUB_PREFIX) else name
    repo_id, at, revision = text.partition("@")
    if not _REPO_ID.match(repo_id) or (at and not revision):
        raise ModelFileError(
            f"{name}: not a hub repository id; write owner/name (hf://owner/name@revision for a revision), or give "
            "an existing local folder."
        )
    return repo_id, revision or None


def _download(repo_id: str, revision: str | None, name: str) -> Path:
    try:
        import huggingface_hub
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        raise ModelFileError(
            f"{name}: downloading from the hub needs huggingface_hub (pip install huggingface_hub, or "
            '"serkit[ssl]"); or give the local folder of the model.'
        ) from None
    try:
        folder = huggingface_hub.snapshot_download(repo_id, revision=revision, allow_patterns=ALLOW_PATTERNS)
    except Exception as exc:  # noqa: BLE001  (offline, unknown repository or revision, HTTP, disk: many types)
        offline = (  # LocalEntryNotFoundError: no connection, and not in the local cache
            os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or isinstance(exc, LocalEntryNotFoundError)
        )
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelFileError(
            f"{name}: not a local folder, and the hub repository {repo_id!r}"
            + (f" at revision {revision!r}" if revision else "")
            + f" could not be downloaded ({type(exc).__name__}: {first}). "
            + (
                "The hub is not reachable (offline) and the model is not in the local cache. "
                if offline
                else ""
            )
            + "Check the id and the network, or pass the local folder (written by `serkit export --format folder`, "
            "or a transformers `save_pretrained` folder) instead."
        ) from None
    return Path(folder)


def resolve_pretrained(name_or_path: str | os.PathLike, *, revision: str | None = None) -> Path:
    """The local folder of a model: ``name_or_path`` itself if it is a folder, else a hub download.

    Args:
        name_or_path: a folder, ``owner/name`` or ``hf://owner/name[@revision]`` (``hf://`` always means the hub).
        revision: a branch, tag or commit of the hub repository (overrides ``@revision``).

    Raises:
        ModelFileError: a file instead of a folder; neither a folder nor a repository id; a failed download
            (offline, unknown repository), saying how to pass a local folder.
    """
    name = os.fspath(name_or_path)
    if not name.startswith(HUB_PREFIX):
        path = Path(name).expanduser()
        if path.is_dir():
            return path
        if path.exists():
            raise ModelFileError(
                f"{name}: a file, not a model folder; give the folder `serkit export --format folder` wrote "
                "(or Recognizer.from_checkpoint for a best.pt)."
            )
    repo_id, parsed = parse_hub_id(name)
    return _download(repo_id, revision or parsed, name)


def folder_kind(folder: Path) -> str | None:
    """``serkit`` (a model folder of ``serkit export --format folder``), ``transformers`` (a ``save_pretrained``
    folder of a transformers model: ``config.json`` with ``model_type``), or None."""
    if is_model_folder(folder):
        return "serkit"
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return "transformers" if isinstance(config, dict) and "model_type" in config else None


class PretrainedMixin:
    """Adds :meth:`from_pretrained` to :class:`serkit.inference.Recognizer` (which has ``from_checkpoint``)."""

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        batch_size: int = 64,
        precision: str | None = None,
        device: str = "cpu",
    ):
        """A recogniser from a model folder (``serkit export --format folder``) or a hub repository holding one.

        Args:
            name_or_path: a local folder, ``owner/name`` or ``hf://owner/name[@revision]``
                (:func:`resolve_pretrained`).
            revision: the hub revision (branch, tag, commit).
            batch_size, precision: as :meth:`~serkit.inference.Recognizer.from_checkpoint`.
            device: ``cpu`` or ``cuda`` (:func:`serkit.inference.device.move_to_device`).

        Raises:
            ModelFileError: not a folder nor a reachable repository, or a folder that is not a serkit model folder
                (a transformers audio-classification model loads with
                :class:`~serkit.inference.hf_audio.HFAudioRecognizer`). CheckpointError: a damaged folder.
        """
        from serkit.inference.device import move_to_device

        folder = resolve_pretrained(name_or_path, revision=revision)
        if folder_kind(folder) != "serkit":
            hint = (
                "it is a transformers model: load it with serkit.inference.hf_audio.HFAudioRecognizer or "
                "`serkit predict`"
                if folder_kind(folder) == "transformers"
                else "export one with `serkit export RUN --format folder -o DIR`"
            )
            raise ModelFileError(f"{name_or_path}: {folder} is not a serkit model folder; {hint}.")
        recognizer = cls.from_checkpoint(folder, batch_size=batch_size, precision=precision)
        return move_to_device(recognizer, device)
