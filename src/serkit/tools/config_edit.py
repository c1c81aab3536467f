"""Read and change values of recipe files (YAML or JSON) by dotted key: ``serkit config get / set``.

The replacement of DCNN-BLSTMwA's ``hparams_changer.py``, which edited JSON configs line by line and stored every
value as a quoted string. Here:

* keys are dotted paths, ``train.lr`` or ``protocol.options.val_speakers``; an integer part indexes a list
  (``stages.1.init_from``);
* values are read by :func:`serkit.config.parse_value`, the parser of ``--set`` and of recipe files (``3`` an
  int, ``3e-4`` a float, ``true`` a bool, ``[1, 2]`` a list, ``'3'`` a string); JSON files get the same values
  written as JSON;
* the file's schema is checked before anything is written. A ``.chain.yaml`` file is a ``serkit hubert chain``
  config (:class:`serkit.cpt.chain.ChainConfig`); any other YAML file with a recipe section (``corpus``,
  ``train``, ``model``, ``stages``, ``base``, ...) is a recipe (:class:`serkit.config.ExperimentConfig`); JSON
  files and other YAML files (DCNN-BLSTMwA's JSON hparams, tool configs) have no known schema and only get the
  value parsing. For a known schema each edited key must exist there and its value must have the key's type
  (``train.lr=abc`` fails naming the key, the type and the value), and a file that loaded before the edit must
  still load after it, through the loader ``serkit train`` (or ``serkit hubert chain``) uses;
* an unknown key or file fails naming the file, the key and the keys that do exist there; a new key needs
  ``add=True``; replacing a section (mapping or list) with a single value, or the reverse, needs ``force=True``;
* YAML files keep their comments and layout: the value is rewritten on its own line when the key is in block
  style, and the result is re-read to check it equals the intended data; only otherwise (a key inside a flow
  mapping, a new key, a multi-line value) is the whole file dumped again, without comments, and the change says so;
* files are written atomically (temporary file + rename).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.yaml"
    >>> _ = path.write_text("train:\\n  lr: 0.001  # Adam\\n")
    >>> [str(c) for c in set_values(path, ["train.lr=5e-6"])]
    ['train.lr: 0.001 -> 5.0e-06']
    >>> path.read_text()
    'train:\\n  lr: 5.0e-06  # Adam\\n'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from serkit.config import (
    ConfigError,
    ExperimentConfig,
    check_recipe,
    check_value,
    dump_yaml,
    format_value,
    from_dict,
    parse_value,
    parse_yaml,
)
from serkit.core.errors import SerkitError
from serkit.core.fileio import atomic_write_text
from serkit.core.registry import closest_names

__all__ = ["Change", "ConfigEditError", "format_value", "get_value", "parse_assignment", "parse_value", "set_values"]

_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
_MISSING = object()


class ConfigEditError(SerkitError, ValueError):
    """A file, key or value given to ``serkit config`` is unusable; the message names it and the fix."""


@dataclass(frozen=True)
class Change:
    """One edited key: its old value (``None`` for an added key when ``added``) and its new one."""

    key: str
    old: Any
    new: Any
    added: bool = False
    comments_kept: bool = True

    def __str__(self) -> str:
        old = "(new key)" if self.added else format_value(self.old)
        note = "" if self.comments_kept else "  (file re-written: its comments and layout were not kept)"
        return f"{self.key}: {old} -> {format_value(self.new)}{note}"


def parse_assignment(item: str) -> tuple[str, Any]:
    """``"train.lr=3e-4"`` -> ``("train.lr", 3e-4)``."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigEditError(f"{item!r} is not of the form key.sub=value (for example train.lr=3e-4).")
    try:
        return key.strip(), parse_value(raw)
    except ConfigError as exc:
        raise ConfigEditError(f"{key.strip()}: {exc}") from None


# -- reading and writing files --------------------------------------------------------------------------------


def _format_of(path: Path) -> str:
    if path.suffix.lower() not in _FORMATS:
        raise ConfigEditError(f"{path}: unknown file type {path.suffix!r}; serkit config edits "
                              f"{', '.join(sorted(_FORMATS))} files.")
    return _FORMATS[path.suffix.lower()]


def _read(path: Path) -> tuple[str, Any, str]:
    """(text, data, format) of a recipe file."""
    path = Path(path)
    fmt = _format_of(path)
    if not path.is_file():
        raise ConfigEditError(f"{path}: file not found.")
    text = path.read_text(encoding="utf-8")
    try:
        data = parse_yaml(text) if fmt == "yaml" else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigEditError(f"{path}: not valid {fmt.upper()}: {exc}") from None
    if data is None and fmt == "yaml":
        data = {}
    if not isinstance(data, (dict, list)):
        raise ConfigEditError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}.")
    return text, data, fmt


def _split(key: str) -> list[str]:
    parts = key.split(".")
    if not all(parts):
        raise ConfigEditError(f"key {key!r} has an empty part; write dotted keys like train.lr.")
    return parts


def _index(node: list, part: str, where: str, path: Path) -> int:
    if not re.fullmatch(r"-?\d+", part) or not -len(node) <= int(part) < len(node):
        raise ConfigEditError(f"{path}: {where or 'the top level'} is a list of {len(node)} item(s); {part!r} is not "
                              f"an index in 0..{len(node) - 1}.")
    return int(part)


def _missing_key(path: Path, data: Any, where: str, part: str, node: dict, *, hint_add: bool) -> ConfigEditError:
    keys = [str(k) for k in node]
    close = closest_names(part, keys)
    message = f"{path}: no key {(where + '.' if where else '') + part!r}"
    message += f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    message += f"; keys {'under ' + repr(where) if where else 'at the top level'}: {', '.join(keys) or '(none)'}."
    if isinstance(data, dict) and "base" in data:
        message += f" This recipe inherits from {data['base']!r}: the key may be set there."
    if hint_add:
        message += " To create it, use --add."
    return ConfigEditError(message)


def _lookup(data: Any, parts: list[str], path: Path) -> Any:
    node, where = data, ""
    for part in parts:
        if isinstance(node, dict):
            if part not in node:
                raise _missing_key(path, data, where, part, node, hint_add=False)
            node = node[part]
        elif isinstance(node, list):
            node = node[_index(node, part, where, path)]
        else:
            raise ConfigEditError(f"{path}: {where!r} is a value ({format_value(node)}), not a section; it has no "
                                  f"key {part!r}.")
        where = f"{where}.{part}" if where else part
    return node


def get_value(path: str | Path, key: str) -> Any:
    """The value at dotted ``key`` in the YAML or JSON file ``path``.

    Raises:
        ConfigEditError: no such file or key (naming the keys that exist at that level).
    """
    path = Path(path)
    _, data, _ = _read(path)
    return _lookup(data, _split(key), path)


def _assign(data: Any, parts: list[str], value: Any, path: Path, *, add: bool, force: bool) -> tuple[Any, bool]:
    """Set ``value`` in ``data`` (in place); returns (old value, whether the key was added)."""
    parent = _lookup(data, parts[:-1], path) if len(parts) > 1 else data
    where, last = ".".join(parts[:-1]), parts[-1]
    if isinstance(parent, list):
        position = _index(parent, last, where, path)
        old, added = parent[position], False
    elif isinstance(parent, dict):
        if last not in parent and not add:
            raise _missing_key(path, data, where, last, parent, hint_add=True)
        old, added = parent.get(last), last not in parent
    else:
        raise ConfigEditError(f"{path}: {where!r} is a value ({format_value(parent)}), not a section.")
    section_old, section_new = isinstance(old, (dict, list)), isinstance(value, (dict, list))
    if not added and section_old != section_new and not force:
        kind = "a section" if section_old else "a single value"
        raise ConfigEditError(f"{path}: {'.'.join(parts)} is {kind} ({format_value(old)}); replacing it with "
                              f"{format_value(value)} changes its kind. Use --force if that is intended.")
    if isinstance(parent, list):
        parent[position] = value
    else:
        parent[last] = value
    return old, added


# -- the schema of a file ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Schema:
    """What a file holds: the dataclass that types its keys and the loader that reads the whole file."""

    name: str
    cls: type
    load: Callable[[Any], Any]  # raises ConfigError when the data would not load
    extra_keys: dict[str, str] = field(default_factory=dict)  # top-level string keys read before the dataclass


#: Top-level keys that make a YAML file a recipe (``name``/``notes`` alone are too common to tell).
_RECIPE_SECTIONS = ("base", "corpus", "labels", "protocol", "input", "features", "model", "train", "text", "stages",
                    "seeds")


def _schema_of(path: Path, data: Any, fmt: str) -> _Schema | None:
    """The schema of a file, or None when it has none serkit knows (JSON hparams, tool configs)."""
    if fmt != "yaml" or not isinstance(data, dict):
        return None
    if path.name.endswith((".chain.yaml", ".chain.yml")):
        from serkit.cpt.chain import ChainConfig

        return _Schema("chain config", ChainConfig, lambda d: from_dict(ChainConfig, d))
    if any(key in data for key in _RECIPE_SECTIONS):
        return _Schema("recipe", ExperimentConfig, lambda d: check_recipe(d, path),
                       {"base": "the path of the recipe this one inherits from"})
    return None


def _check_key(schema: _Schema, path: Path, key: str, value: Any) -> None:
    """Refuse a key the schema lacks or a value of the wrong type, naming the key, the type and the value."""
    try:
        if key in schema.extra_keys:
            if not isinstance(value, str):
                raise ConfigError(f"{key}: expected a string ({schema.extra_keys[key]}), got {value!r}.")
        else:
            check_value(schema.cls, key, value)
    except ConfigError as exc:
        raise ConfigEditError(f"{path}: {exc} ({path.name} is a {schema.name}; nothing was written.)") from None


def _loads(schema: _Schema, data: Any) -> ConfigError | None:
    """The error loading ``data`` through the schema's loader gives, or None when it loads."""
    try:
        schema.load(data)
    except ConfigError as exc:
        return exc
    return None


# -- keeping a YAML file's comments -----------------------------------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _block_key_line(lines: list[str], parts: list[str]) -> tuple[int, str] | None:
    """The line of a key path written in block style, as (index, the line with list dashes blanked), else None.

    Mapping keys are ``<indent><key>:`` lines; an integer part picks the n-th ``<indent>- `` item of a block list,
    whose first key sits on the dash line itself (blanking the dash makes it an ordinary key line).
    """
    view = list(lines)
    start, end, parent_indent, found = 0, len(view), -1, None
    for part in parts:
        found, child_indent, items = None, None, -1
        for number in range(start, end):
            line = view[number]
            if not _is_content(line):
                continue
            indent = _indent(line)
            if indent <= parent_indent:
                break
            child_indent = indent if child_indent is None else child_indent
            if indent != child_indent:
                continue
            if part.isdigit() and line.lstrip().startswith("- "):
                items += 1
                if items == int(part):
                    found = number
                    view[number] = line.replace("- ", "  ", 1)
                    break
            elif re.match(rf"{re.escape(part)}\s*:(\s|$)", line.strip()):
                found = number
                break
        if found is None:
            return None
        if part.isdigit():  # the item's keys start on its own (blanked) line, two columns further in
            start, parent_indent = found, child_indent
        else:
            start, parent_indent = found + 1, child_indent
        end = next((n for n in range(start + 1, len(view))
                    if _is_content(view[n]) and _indent(view[n]) <= child_indent), len(view))
    return (found, view[found]) if not parts[-1].isdigit() else None


def _edit_yaml_line(text: str, parts: list[str], value: Any) -> str | None:
    """The text with the value of ``parts`` rewritten in place (comments kept), or None if that is not possible."""
    lines = text.splitlines(keepends=True)
    located = _block_key_line(lines, parts)
    if located is None:
        return None
    number, view = located
    following = next((lines[n] for n in range(number + 1, len(lines)) if _is_content(lines[n])), "")
    if following and _indent(following) > _indent(view) and not following.lstrip().startswith("#"):
        return None  # a block value over several lines: re-dump instead
    line = lines[number]
    ending = line[len(line.rstrip("\r\n")):]
    body = line.rstrip("\r\n")
    head = len(re.match(rf"(\s*{re.escape(parts[-1])}\s*:)", view).group(1))
    rest = body[head:]
    # A comment starts at " #" outside quotes; trying each candidate and keeping the first whose value part parses
    # avoids writing a quote-aware scanner.
    comment = ""
    for match in re.finditer(r"\s+#", rest):
        try:
            parse_yaml(rest[:match.start()] or "null")
        except yaml.YAMLError:
            continue
        comment = rest[match.start():]
        break
    lines[number] = f"{body[:head]} {format_value(value)}{comment}{ending}"
    return "".join(lines)


def _render(data: Any, fmt: str, original: str) -> str:
    if fmt == "json":
        indent = re.search(r"\n([ \t]+)\S", original)
        return json.dumps(data, indent=indent.group(1) if indent else 2, ensure_ascii=False) + "\n"
    return dump_yaml(data, default_flow_style=False, width=120)


def set_values(path: str | Path, assignments: Sequence[str], *, add: bool = False, force: bool = False,
               dry_run: bool = False) -> list[Change]:
    """Apply ``key.sub=value`` assignments to the YAML or JSON file ``path`` (all or none) and write it atomically.

    Args:
        assignments: ``["train.lr=5e-6", "model.name=dcnn_blstm"]``; values are parsed as YAML.
        add: allow keys that do not exist yet (their parent section must exist).
        force: allow replacing a section with a single value or the reverse.
        dry_run: compute and return the changes without writing.

    Returns:
        one :class:`Change` per assignment, in order.

    Raises:
        ConfigEditError: no such file or key, a malformed assignment or value, a change of kind without force, a
            key or value the file's schema does not allow, or an edit after which a recipe would no longer load.
            Nothing is written then.
    """
    path = Path(path)
    if not assignments:
        raise ConfigEditError("give at least one key.sub=value to set.")
    text, data, fmt = _read(path)
    schema = _schema_of(path, data, fmt)
    # a file that already fails to load may be mid-repair: then only the edited keys are checked
    loaded_before = schema is not None and _loads(schema, data) is None
    changes = []
    for item in assignments:
        key, value = parse_assignment(item)
        old, added = _assign(data, _split(key), value, path, add=add, force=force)
        if schema is not None:
            _check_key(schema, path, key, value)
        kept = True
        if fmt == "yaml":
            edited = None if added else _edit_yaml_line(text, _split(key), value)
            if edited is not None and parse_yaml(edited) == data:
                text = edited
            else:  # flow mapping, new key or multi-line value: dump the whole data
                text, kept = _render(data, fmt, text), False
        changes.append(Change(key, old, value, added=added, comments_kept=kept))
    if fmt == "json":
        text = _render(data, fmt, text)
    error = _loads(schema, data) if loaded_before else None
    if error is not None:
        raise ConfigEditError(f"{path}: after this change the {schema.name} would not load: {error} "
                              "Nothing was written.")
    if not dry_run:
        atomic_write_text(path, text)
    return changes
