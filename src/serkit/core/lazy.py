"""Lazy public names of a package: imported from their module when first asked for, so importing the package
stays cheap (``import serkit`` and the CLI import no torch)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, names: Mapping[str, str], public: list[str]) -> tuple[Callable, Callable]:
    """The module ``__getattr__`` and ``__dir__`` of a package whose ``names`` (name -> module) load lazily.

    Usage, in a package's ``__init__``: ``__getattr__, __dir__ = lazy_names(__name__, _API, __all__)``.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(public)

    return __getattr__, __dir__
