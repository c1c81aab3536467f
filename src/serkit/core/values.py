"""The one value parser: recipe files, ``--set key=value`` and ``serkit config set`` read values the same way.

YAML with the safe loader, where ``3e-4`` is a float (plain PyYAML reads it as a string) and a quoted ``'3'`` stays
the string '3', so the same text gives the same value everywhere; :func:`dump_yaml` writes text that
:func:`parse_yaml` reads back as the same values.

Example:
    >>> parse_value("3e-4"), parse_value("'3'"), parse_value("[1, 2]")
    (0.0003, '3', [1, 2])
    >>> format_value(3e-4), format_value("3e-4")
    ('0.0003', "'3e-4'")
    >>> apply_overrides({"train": {"lr": 0.1}}, ["train.lr=3e-4", "seeds=[0, 1]"])
    {'train': {'lr': 0.0003}, 'seeds': [0, 1]}
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from serkit.core.errors import ConfigError
from serkit.core.fileio import atomic_write_text

__all__ = [
    "apply_overrides",
    "describe_value",
    "dump_yaml",
    "format_value",
    "parse_value",
    "parse_yaml",
    "read_yaml",
    "to_dict",
    "write_yaml",
]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2 floats: ``3e-4``, ``1e5`` and ``1.0e5`` are numbers, not strings."""


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper; knows the loader's extra floats, so the string ``'3e-4'`` is written quoted."""


# PyYAML (YAML 1.1) reads a float only with a dot and a signed exponent, so `lr: 3e-4` was the string '3e-4'.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
for _yaml_class in (_Loader, _Dumper):
    _yaml_class.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def parse_yaml(text: str) -> Any:
    """YAML text read as serkit reads recipes (safe loader; ``3e-4`` is a float)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def dump_yaml(data: Any, **options: Any) -> str:
    """YAML text of plain data that :func:`parse_yaml` reads back as the same values (options go to yaml.dump)."""
    return yaml.dump(data, Dumper=_Dumper, **{"sort_keys": False, "allow_unicode": True, **options})


def format_value(value: Any) -> str:
    """A value as one line of YAML flow style (``0.001``, ``[1, 2]``, ``{a: 1}``, ``'3'``, ``null``)."""
    text = dump_yaml(value, default_flow_style=True, width=10**9).strip()
    return text[:-4].rstrip() if text.endswith("\n...") else text.removesuffix("...").rstrip()


def parse_value(raw: str) -> Any:
    """The value of a ``key=value`` assignment (``--set``, ``serkit config set``), read as a recipe file reads it.

    ``3`` is an int, ``3e-4`` and ``0.5`` floats, ``true`` a bool, ``null`` None, ``[1, 2]`` a list, ``'3'`` (quoted)
    the string '3', anything else a string; an empty value is the empty string.

    Raises:
        ConfigError: the value is not valid YAML.
    """
    if not raw.strip():
        return ""
    try:
        return parse_yaml(raw)
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise ConfigError(
            f"value {raw!r} is not valid YAML ({problem}); quote strings that contain ': ' or ' #', e.g. key='a: b'."
        ) from None


def describe_value(value: Any) -> str:
    """``'abc' (a string)``: a value and what the parser made of it, for type errors.

    A quoted number says so: ``'3' (a string); without quotes it would be read as 3``.
    """
    kinds = {
        bool: "true/false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        tuple: "a list",
        dict: "a mapping",
        type(None): "null",
    }
    got = f"{value!r} ({kinds.get(type(value), type(value).__name__)})"
    if isinstance(value, str):
        try:
            unquoted = parse_value(value)
        except ConfigError:
            unquoted = value
        if isinstance(unquoted, (int, float)):  # '3' in quotes: the quotes made it a string
            got += "; without quotes it would be read as " + format_value(unquoted)
    return got


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping (safe loader only), with errors naming the file.

    Raises:
        ConfigError: the file is missing, is not valid YAML, or does not hold a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe file not found.")
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}."
        )
    return data


def apply_overrides(data: Mapping[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values read by :func:`parse_value`) to a nested dict copy.

    Key validity and value types are checked afterwards by :func:`serkit.config.from_dict`, which knows the schema.

    Raises:
        ConfigError: an override is not ``key.sub=value``, its value is not valid YAML, or it sets a key inside a
            value.
    """
    result = _deep_copy(data)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r} is not of the form key.sub=value (for example --set train.lr=3e-4)."
            )
        try:
            value = parse_value(raw)
        except ConfigError as exc:
            raise ConfigError(f"--set {item!r}: {exc}") from None
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is a value, not a section.")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def to_dict(config: Any) -> Any:
    """Plain dict/list/scalar form of a config (tuples become lists), ready for YAML or JSON."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    return config


def write_yaml(path: str | Path, data: Any) -> None:
    """Write a config (dataclass or dict) as YAML, atomically."""
    atomic_write_text(path, dump_yaml(to_dict(data)))
