"""Calling registered functions with options given as strings (``--opt key=value`` on the command line).

Values are converted to the type annotated on the keyword-only parameter (bool, int, float, str, tuples of str);
an unknown key fails with the closest valid names.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from serkit.core.registry import closest_names

__all__ = ["call_with_options", "option_names", "parse_key_values"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_key_values(items: list[str] | None, *, what: str = "--opt") -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a malformed item raises ValueError naming it."""
    result: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(
                f"{what} {item!r} is not of the form key=value (for example {what} subset=improvised)."
            )
        result[key.strip()] = value.strip()
    return result


def option_names(function: Callable) -> list[str]:
    """The keyword-only parameter names of ``function`` (the options a user may set)."""
    return [p.name for p in inspect.signature(function).parameters.values() if p.kind is p.KEYWORD_ONLY]


def _convert(raw: Any, annotation: Any, key: str) -> Any:
    if not isinstance(raw, str):
        return raw
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if raw.lower() in ("none", "null", ""):
            return None
        return _convert(raw, args[0], key) if len(args) == 1 else raw
    if annotation is bool or annotation == "bool":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f"option {key}={raw!r}: expected true or false.")
    if annotation in (int, float) or annotation in ("int", "float"):
        cast = int if annotation in (int, "int") else float
        try:
            return cast(raw)
        except ValueError:
            raise ValueError(
                f"option {key}={raw!r}: expected a{'n integer' if cast is int else ' number'}."
            ) from None
    if origin in (tuple, list) or annotation in (tuple, list):
        parts = [part.strip() for part in raw.strip("()[]").split(",") if part.strip()]
        if not args:
            return tuple(parts)
        if len(args) == 1 or args[-1] is Ellipsis:  # tuple[int, ...] / list[float]
            item_types = [args[0]] * len(parts)
        elif len(args) == len(parts):  # tuple[int, int]
            item_types = list(args)
        else:
            raise ValueError(f"option {key}={raw!r}: expected {len(args)} comma-separated values.")
        return tuple(_convert(part, item_type, key) for part, item_type in zip(parts, item_types))
    return raw


def call_with_options(
    function: Callable,
    *args: Any,
    options: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    what: str = "option",
) -> Any:
    """Call ``function(*args, **fixed, **options)`` after checking the option names and converting string values.

    ``fixed`` holds keyword arguments the caller supplies itself (a seed, ``num_classes``): they are passed as they
    are and are not offered to the user as options.

    Raises:
        ValueError: an option the function does not take (with the closest valid names), or a bad value.
    """
    hints = typing.get_type_hints(function.__init__ if isinstance(function, type) else function)
    fixed = dict(fixed or {})
    valid = [name for name in option_names(function) if name not in fixed]
    converted = {}
    for key, raw in (options or {}).items():
        if key not in valid:
            hint = closest_names(key, valid)
            did_you_mean = f" Did you mean {', '.join(map(repr, hint))}?" if hint else ""
            raise ValueError(
                f"unknown {what} {key!r} for {function.__name__}.{did_you_mean} "
                f"Valid: {', '.join(valid) or '(none)'}."
            )
        converted[key] = _convert(raw, hints.get(key, str), key)
    return function(*args, **fixed, **converted)
