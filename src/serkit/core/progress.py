"""Whether to draw progress bars: only for a person watching a terminal (or a notebook).

A tqdm bar redraws its line with carriage returns many times a second. In a log file, a CI log, ``nohup.out`` or a
captured test run that is thousands of lines of noise, so code that shows a bar asks :func:`progress_enabled`
first and, when it says no, logs one line per unit of work (an epoch) or a summary at the end instead.
``SERKIT_PROGRESS=0`` in the environment turns every bar off (the worker processes of ``--jobs`` set it: several
bars on one terminal would overwrite each other).

Example:
    >>> import io, sys
    >>> sys.stderr, saved = io.StringIO(), sys.stderr  # like a log file: not a terminal
    >>> progress_enabled(True)
    False
    >>> sys.stderr = saved
"""

from __future__ import annotations

import os
import sys

__all__ = ["progress_enabled"]


def _in_notebook() -> bool:
    """A Jupyter kernel: its stderr is no terminal, but tqdm.auto draws a widget there, not carriage returns."""
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    return get_ipython is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell"


def progress_enabled(requested: bool) -> bool:
    """True when a bar was asked for and stderr (where tqdm draws) is a terminal or a notebook."""
    if not requested or os.environ.get("SERKIT_PROGRESS", "").strip() == "0":
        return False
    try:
        interactive = sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        interactive = False
    return interactive or _in_notebook()
