"""Name -> factory registries, shared by corpora, protocols, label maps and (later) models and features.

A registry maps a lower-case name to a callable. Registering a name twice is an error, and looking up an
unknown name raises ``KeyError`` listing the closest valid names, so a typo in a recipe or on the command
line tells the user what they probably meant.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry", "closest_names"]


def closest_names(name: str, valid: list[str], n: int = 3) -> list[str]:
    """The up to ``n`` entries of ``valid`` that look most like ``name`` (for 'did you mean' messages)."""
    return difflib.get_close_matches(name, valid, n=n, cutoff=0.4)


class Registry(Generic[T]):
    """A named collection of factories.

    Example:
        >>> corpora = Registry("corpus")
        >>> @corpora.register("toy")
        ... def load_toy(root):
        ...     return []
        >>> corpora.get("toy") is load_toy
        True
        >>> "toy" in corpora
        True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register the object under ``name`` (default: the function's own name)."""

        def decorator(obj: T) -> T:
            key = (name or obj.__name__).lower()
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice; pick another name.")
            self._entries[key] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        key = name.lower()
        if key not in self._entries:
            hint = closest_names(key, self.names())
            did_you_mean = f" Did you mean {', '.join(map(repr, hint))}?" if hint else ""
            raise KeyError(
                f"unknown {self.kind} {name!r}.{did_you_mean} Valid names: {', '.join(self.names())}."
            )
        return self._entries[key]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
