"""Typed dataclasses from plain mappings: type checks, range checks and dotted-key lookups, for any schema.

:func:`from_dict` builds a (frozen) dataclass from a mapping read from YAML or JSON: unknown keys fail with the
closest valid names, every value is checked against its annotation (``int`` -> ``float`` and list -> tuple are the
only conversions) and nested dataclasses are built recursively. A dataclass checks its ranges in
``__post_init__`` with :func:`require` (or raises :class:`FieldError`), whose message already names the dotted key.
:func:`schema_type` and :func:`check_value` look up and check a single dotted key (``train.lr``, ``stages.0.name``).

This module knows no schema: :mod:`serkit.config` defines the recipe's, :mod:`serkit.cpt.pretrain_config` another.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Point:
    ...     x: float = 0.0
    >>> from_dict(Point, {"x": 1})
    Point(x=1.0)
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from serkit.core.errors import ConfigError
from serkit.core.registry import closest_names
from serkit.core.values import describe_value

__all__ = ["FieldError", "check_value", "deep_copy", "from_dict", "require", "schema_type", "type_name"]

T = TypeVar("T")


def unknown_key(key: str, valid: list[str], where: str) -> ConfigError:
    """The error for an unknown ``key`` under dotted prefix ``where``, naming the closest of the ``valid`` keys."""
    hint = closest_names(key, valid)
    did_you_mean = f" Did you mean {', '.join(repr(f'{where}{h}') for h in hint)}?" if hint else ""
    return ConfigError(
        f"unknown config key {where + key!r}.{did_you_mean} Valid keys here: {', '.join(valid)}."
    )


def type_name(annotation: Any) -> str:
    """``int`` for ``int``; the annotation's text for anything without a name."""
    return getattr(annotation, "__name__", str(annotation))


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against ``annotation`` (converting int->float, list->tuple) or raise ConfigError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(errors) == 1:  # `float | None`: the one real type's message says what is expected
            raise ConfigError(errors[0])
        raise ConfigError(
            f"{key}: expected {' | '.join(type_name(a) for a in args)}, got {describe_value(value)}."
        )
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"{key}: expected a mapping of {annotation.__name__} fields, got {describe_value(value)}."
            )
        return from_dict(annotation, value, prefix=f"{key}.")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {describe_value(value)}.")
        item_type = args[0] if args else Any
        return tuple(coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {describe_value(value)}.")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {describe_value(value)}.")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {describe_value(value)}.")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {describe_value(value)}.")
    if annotation is str:
        if isinstance(value, str):
            return value
        hint = (
            "; quote it to keep it as text" if isinstance(value, (int, float, bool)) or value is None else ""
        )
        raise ConfigError(f"{key}: expected a string, got {describe_value(value)}{hint}.")
    return value


class FieldError(ValueError):
    """A value check whose message already names the full dotted key (``train.epochs=0 ...``)."""


def require(key: str, value: Any, ok: bool, allowed: str) -> None:
    """Raise :class:`FieldError` ``<key>=<value> is out of range: <allowed>.`` unless ``ok``."""
    # callers pass comparisons such as `x > 0` or `0 <= x <= 1`, which are False for NaN: NaN fails too
    if not ok:
        raise FieldError(f"{key}={value!r} is out of range: {allowed}.")


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in data:
        if key not in valid:
            raise unknown_key(key, valid, prefix)
    values = {key: coerce(value, hints[key], f"{prefix}{key}") for key, value in data.items()}
    try:
        return cls(**values)
    except FieldError as exc:
        raise ConfigError(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from None


def schema_type(cls: type, key: str) -> Any:
    """The annotation of dotted ``key`` (``train.lr``, ``stages.0.name``) in dataclass ``cls``.

    Keys inside a free-form mapping (``model.args.dropout``, ``features.n_mfcc``) give ``Any``: those are checked
    by the validation of the whole recipe (the model's or feature's own arguments).

    Raises:
        ConfigError: ``key`` is not in the schema (naming the closest valid keys).
    """
    annotation: Any = cls
    parts = key.split(".")
    for position, part in enumerate(parts):
        where = ".".join(parts[:position])
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]  # `X | None`: the schema below is X's
        if dataclasses.is_dataclass(annotation):
            valid = [f.name for f in dataclasses.fields(annotation) if f.init]
            if part not in valid:
                raise unknown_key(part, valid, f"{where}." if where else "")
            annotation = typing.get_type_hints(annotation)[part]
        elif typing.get_origin(annotation) in (tuple, list):
            if not re.fullmatch(r"-?\d+", part):
                raise ConfigError(
                    f"{where} is a list; {part!r} is not an index (write {where}.0 for its first item)."
                )
            annotation = typing.get_args(annotation)[0] if typing.get_args(annotation) else Any
        else:
            return Any
    return annotation


def check_value(cls: type, key: str, value: Any) -> Any:
    """``value`` converted to the schema type of dotted ``key`` in ``cls`` (int -> float, list -> tuple).

    Raises:
        ConfigError: unknown key, or a value of the wrong type: ``train.lr: expected a number, got 'abc' (a
            string).``
    """
    return coerce(value, schema_type(cls, key), key)


def deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    """Nested mappings copied as dicts (other values shared)."""
    return {k: deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}
