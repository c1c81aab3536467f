"""The ``serkit`` command. Thin: parses arguments, calls library functions, prints results.

One module per command group, each with ``add_commands(commands)`` adding its sub-commands (and their ``func``) to
the ``serkit`` parser; :data:`COMMAND_GROUPS` lists them, in the order ``serkit --help`` shows them. A new command
goes into the module of its group, a new group into a new module plus one entry in that list.

============================== ===================================================================
:mod:`serkit.cli.train`        ``demo``, ``train``, ``report``, ``compare``, ``models``
:mod:`serkit.cli.predict`      ``predict``
:mod:`serkit.cli.serve`        ``serve`` (HTTP API and web page, :mod:`serkit.serve`)
:mod:`serkit.cli.export`       ``export`` (ONNX, for the torch-free runtime)
:mod:`serkit.cli.corpus`       ``corpus list | prepare | stats | check | folds``
:mod:`serkit.cli.audio`        ``audio resample | normalize``
:mod:`serkit.cli.config`       ``config get | set``
:mod:`serkit.cli.ensemble`     ``ensemble``
:mod:`serkit.cli.features`     ``features ssl``
:mod:`serkit.cli.cpt`          ``hubert ...`` (the CPT-HuBERT chain)
============================== ===================================================================

Errors that come from bad input (:class:`serkit.core.errors.SerkitError`, unknown names, bad options) are printed as
one line ``serkit: error: ...`` with exit code 2, operating-system errors (disk full, permissions, a folder
where a file is expected) as one line naming the path with exit code 1; ``--debug`` or ``SERKIT_DEBUG=1`` shows
the traceback. Anything else is a bug and keeps its traceback. Path arguments use the types of
:mod:`serkit.cli.paths`, so no command writes over one of its inputs. Process-wide torch settings are the
commands' (or the runner's they call), never the library's.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys

from serkit import __version__
from serkit.cli import audio, config, corpus, cpt, ensemble, export, features, predict, serve, train
from serkit.cli.paths import guard_arguments
from serkit.core.errors import SerkitError
from serkit.core.fileio import protect_inputs

__all__ = ["COMMAND_GROUPS", "build_parser", "main"]

#: The command groups of ``serkit``, in help order; an import error in any of them is an error of ``serkit``.
COMMAND_GROUPS = (train, predict, serve, export, corpus, audio, config, ensemble, features, cpt)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serkit", description="Speech emotion recognition toolkit.")
    parser.add_argument("--version", action="version", version=f"serkit {__version__}")
    parser.add_argument("-v", "--verbose-log", action="store_true", help="debug logging")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (also: environment variable SERKIT_DEBUG=1)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def _os_error_line(exc: OSError) -> str:
    """``path: reason`` for an OS error, plus the fix for the common ones."""
    where = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
    reason = exc.strerror or str(exc)
    hints = {
        errno.ENOSPC: "free some space or write elsewhere; no partial file was left behind",
        errno.EACCES: "check the permissions, or write elsewhere",
        errno.EROFS: "the file system is read-only; write elsewhere",
        errno.EISDIR: "give a file name, not a folder",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.ENOENT: "check the path",
    }
    # our own messages (atomic_open's) already say what to do; the system's terse ones get the hint
    hint = hints.get(exc.errno) if exc.errno is not None and reason == os.strerror(exc.errno) else None
    return f"{where + ': ' if where else ''}{reason}{f' ({hint})' if hint else ''}"


def main(argv: list[str] | None = None) -> int:
    """Run ``serkit``; bad input ends as one ``serkit: error: ...`` line and exit code 2 (1 for an OS error).

    ``--debug`` or the environment variable ``SERKIT_DEBUG=1`` shows the traceback instead.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("SERKIT_DEBUG", "") not in ("", "0")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose_log else logging.INFO, format="%(levelname)s: %(message)s"
    )
    try:
        inputs, corpora = guard_arguments(args)
        with protect_inputs(inputs, corpora):
            return args.func(args)
    except BrokenPipeError:  # output piped into `head` and closed early
        return 0
    except (SerkitError, KeyError, ValueError, OSError) as exc:
        if debug:
            raise
        if isinstance(exc, SerkitError) or not isinstance(exc, OSError):
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            code = 2
        else:
            message, code = _os_error_line(exc), 1
        print(f"serkit: error: {message}", file=sys.stderr)
        return code
