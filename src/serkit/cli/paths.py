"""Path argument types of the ``serkit`` command, so that no command can write over its own inputs.

Every command declares its path arguments with one of these types instead of ``Path``::

    prepare.add_argument("root", type=CorpusPath)            # a corpus folder: nothing is written inside it
    folds.add_argument("manifest", type=ManifestPath)       # nor inside the folder of the audio it lists
    export.add_argument("model", type=ModelPath)             # a checkpoint or run folder: nothing written inside
    prepare.add_argument("-o", "--output", type=OutputPath)  # refused if it is an input or inside a corpus

:func:`guard_arguments` (called by ``serkit``'s ``main`` before the command runs) collects them from the parsed
arguments, refuses a bad output before any work, and returns the inputs for :func:`serkit.core.fileio.protect_inputs`,
which makes the atomic writer refuse them too. A new command gets the check by using the types.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from serkit.core.fileio import check_outputs, corpus_folder

__all__ = [
    "CorpusPath",
    "InputPath",
    "ManifestPath",
    "ModelPath",
    "OutputPath",
    "OutputTree",
    "guard_arguments",
    "manifest_corpus",
]

_PathBase = type(Path())  # PosixPath or WindowsPath: Path itself cannot be subclassed before Python 3.12


class InputPath(_PathBase):
    """A file (or folder) the command reads: no output may be this path."""


class CorpusPath(InputPath):
    """A corpus folder or audio folder the command reads: no output may lie inside it."""


class ModelPath(CorpusPath):
    """A trained model the command reads, a checkpoint file or a run / model folder: no output may be it or lie
    inside it (so an output cannot land on the checkpoint a run folder holds)."""


class ManifestPath(InputPath):
    """A manifest CSV the command reads: no output may lie inside the folder of the audio it lists."""


class OutputPath(_PathBase):
    """A file or folder the command writes."""


class OutputTree(OutputPath):
    """A folder that mirrors an input tree: it may not contain an input folder either."""


def _values(args: argparse.Namespace):
    for value in vars(args).values():
        yield from value if isinstance(value, (list, tuple)) else (value,)


def manifest_corpus(manifest: Path) -> list[Path]:
    """The corpus folder of the audio a manifest lists; [] if it cannot be read (the command then says why)."""
    from serkit.core.errors import SerkitError
    from serkit.data.utterance import read_manifest

    try:
        return corpus_folder(u.path for u in read_manifest(manifest))
    except (SerkitError, OSError, ValueError):
        return []


def guard_arguments(args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """Refuse outputs that are inputs (or lie inside a corpus read); return (input paths, corpus folders).

    Raises:
        serkit.core.errors.OutputOverwritesInputError: naming both paths.
    """
    values = [value for value in _values(args) if isinstance(value, Path)]
    inputs = [value for value in values if isinstance(value, InputPath)]
    corpora = [value for value in values if isinstance(value, CorpusPath) and value.is_dir()]
    for manifest in (value for value in values if isinstance(value, ManifestPath)):
        corpora += manifest_corpus(manifest)
    outputs = [value for value in values if isinstance(value, OutputPath)]
    check_outputs(outputs, inputs=inputs, read_folders=corpora)
    check_outputs(
        [value for value in outputs if isinstance(value, OutputTree)],
        inputs=inputs,
        read_folders=corpora,
        trees=True,
    )
    return inputs, corpora
