"""Atomic file writes, the never-over-an-input guard, and content digests: used for every file serkit writes.

A write goes to a temporary file in the destination folder and is renamed over the target only when complete,
so a killed process or a full disk leaves either the old file or the new one, never half of one.

Inputs are never written over. :func:`check_outputs` refuses, before any work, an output path that is one of the
command's input files (the same file, symlinks and hard links included) or lies inside a folder the command reads
(a corpus); the ``serkit`` command runs it on every argument declared as an input or output path. Inside
:func:`protect_inputs` the atomic writer itself refuses those paths too, so a command that discovers further
inputs while it runs (a recipe's corpus folder) is covered as well.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from serkit.core.errors import OutputOverwritesInputError

__all__ = [
    "atomic_folder",
    "atomic_open",
    "atomic_write_json",
    "atomic_write_text",
    "check_outputs",
    "corpus_folder",
    "file_digest",
    "protect_inputs",
]

PathLike = str | os.PathLike

#: The inputs of the running command (files, folders), refused as write targets by :func:`atomic_open`.
_PROTECTED: contextvars.ContextVar[tuple[tuple[Path, ...], tuple[Path, ...]]] = contextvars.ContextVar(
    "serkit_protected_inputs", default=((), ())
)


def _real(path: PathLike) -> Path:
    # realpath resolves symlinks even when the last parts do not exist yet (an output about to be created)
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _same_file(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_outputs(
    outputs: Iterable[PathLike | None],
    *,
    inputs: Iterable[PathLike | None] = (),
    read_folders: Iterable[PathLike | None] = (),
    trees: bool = False,
) -> None:
    """Refuse outputs that would write over an input, before any work is done.

    Args:
        outputs: files or folders the command will write (``None`` entries are ignored).
        inputs: files (or folders) the command reads: an output may not be one of them.
        read_folders: corpus folders the command reads: nothing may be written inside them.
        trees: the outputs are folders that mirror a whole input tree (``audio resample SRC DST``), so an output
            folder that contains an input is refused as well.

    Raises:
        OutputOverwritesInputError: naming the output and the input it would overwrite.
    """
    files = [_real(f) for f in inputs if f is not None]
    folders = [_real(f) for f in read_folders if f is not None]
    for output in outputs:
        if output is None:
            continue
        target = _real(output)
        for source in files:
            if _same_file(target, source):
                raise OutputOverwritesInputError(
                    f"refusing to write {output}: it is the input {source} of this command (the same path); "
                    "choose another output path."
                )
        for folder in folders:
            if _inside(target, folder):
                raise OutputOverwritesInputError(
                    f"refusing to write {output}: it lies inside {folder}, a folder this command reads "
                    "(input corpora are never modified); write it somewhere else."
                )
            if trees and _inside(folder, target):
                raise OutputOverwritesInputError(
                    f"refusing to write into {output}: it contains {folder}, a folder this command reads, so "
                    "outputs could land on inputs; choose an output folder outside it."
                )


def corpus_folder(audio_paths: Iterable[PathLike]) -> list[Path]:
    """The folder(s) holding a list of audio files (a manifest's corpus), as ``read_folders`` for the guard.

    Their common folder when that is a real corpus folder; when the files are spread so widely that the common
    folder is the file system root, the home folder or holds the working directory, each file's own folder.
    """
    parents = sorted({_real(path).parent for path in audio_paths})
    if not parents:
        return []
    common = Path(os.path.commonpath(parents))
    too_wide = {Path(common.anchor), _real(Path.home())}
    if common in too_wide or _inside(_real(Path.cwd()), common):
        return parents
    return [common]


@contextlib.contextmanager
def protect_inputs(
    inputs: Iterable[PathLike | None] = (), read_folders: Iterable[PathLike | None] = ()
) -> Iterator[None]:
    """Within the block, :func:`atomic_open` refuses to write over these inputs or inside these folders.

    Nested blocks add to the outer ones. Checks the paths only when a file is written, so call
    :func:`check_outputs` as well to refuse before any work.
    """
    files, folders = _PROTECTED.get()
    new_files = [Path(p) for p in inputs if p is not None]
    new_folders = [Path(p) for p in read_folders if p is not None]
    token = _PROTECTED.set((files + tuple(new_files), folders + tuple(new_folders)))
    try:
        yield
    finally:
        _PROTECTED.reset(token)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` when the block succeeds.

    Raises:
        OSError: naming ``path`` (not the temporary file), e.g. a full disk, a folder at ``path``, or a part of
            its folder that is a file; nothing is left behind.
        OutputOverwritesInputError: ``path`` is protected by :func:`protect_inputs`.
    """
    path = Path(path)
    files, folders = _PROTECTED.get()
    if files or folders:
        check_outputs([path], inputs=files, read_folders=folders)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, expected a file name", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a part of the folder path is a regular file
        raise NotADirectoryError(
            errno.ENOTDIR, "a part of this path is a file, not a folder", str(path)
        ) from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # read-only or special folder: name the output, not the temporary file
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the result the usual permissions
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None or exc.filename == tmp:  # say which output failed, not its temporary name
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling folder to fill in the block; renamed onto ``path`` when the block succeeds.

    A folder already at ``path`` is replaced as a whole (moved aside, the new one renamed in, the old one deleted),
    so readers see the old folder or the new one, never a mix; if the block fails, the temporary folder is removed
    and ``path`` is left as it was.

    Raises:
        NotADirectoryError: ``path`` is a file. OutputOverwritesInputError: ``path`` is, or contains, an input
            protected by :func:`protect_inputs`.
    """
    path = Path(path)
    files, folders = _PROTECTED.get()
    if files or folders:
        check_outputs([path], inputs=files, read_folders=folders, trees=True)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "is a file, expected a folder name", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders; give the result the usual permissions
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def file_digest(path: str | os.PathLike, algorithm: str = "sha1") -> str:
    """Hex digest of the file's bytes (used to find byte-identical audio that must not straddle a split)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
