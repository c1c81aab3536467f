"""Round-trip edits of YAML and JSON files by dotted key: the values change, comments, key order and layout stay.

* keys are dotted paths, ``train.lr`` or ``protocol.options.val_speakers``; an integer part indexes a list
  (``stages.1.init_from``);
* values are read by :func:`serkit.core.values.parse_value`, the parser of ``--set`` and of recipe files, and a
  file's current values by :func:`serkit.core.values.parse_yaml` (or :mod:`json`), so serkit sees exactly what it
  reads when it loads the file;
* YAML files are edited on a ruamel.yaml round-trip tree, which keeps comments, key order, quoting and flow or
  block style, inside flow mappings too; new values are written as :func:`serkit.core.values.dump_yaml` would
  write them (``5.0e-06``, ``'3'``, ``null``). Lines the edit does not touch keep their exact text even where
  ruamel would re-wrap them (a flow mapping over two lines); the result is re-read to check it holds exactly the
  intended data, and only if it does not is the whole file dumped again, without its comments (the change says
  so);
* JSON files keep their key order and indentation.

This module knows no schema: the checks of what a recipe may hold are done by its callers (``serkit config``).

Example:
    >>> document = EditableFile.from_text("train:\\n  lr: 0.001     # Adam\\n  epochs: 3\\n", "yaml")
    >>> document.set("train.lr", 5e-6)
    (0.001, False)
    >>> print(document.render()[0], end="")  # the comment keeps its column
    train:
      lr: 5.0e-06   # Adam
      epochs: 3
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.representer import RoundTripRepresenter

from serkit.core.errors import ConfigEditError, ConfigError
from serkit.core.registry import closest_names
from serkit.core.values import dump_yaml, format_value, parse_value, parse_yaml

__all__ = ["Change", "ConfigEditError", "EditableFile", "parse_assignment", "split_key"]

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


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
    """``"train.lr=3e-4"`` -> ``("train.lr", 3e-4)``.

    Raises:
        ConfigEditError: not of the form ``key=value``, or the value is not valid YAML.
    """
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigEditError(f"{item!r} is not of the form key.sub=value (for example train.lr=3e-4).")
    try:
        return key.strip(), parse_value(raw)
    except ConfigError as exc:
        raise ConfigEditError(f"{key.strip()}: {exc}") from None


def split_key(key: str) -> list[str]:
    """``"stages.0.name"`` -> ``["stages", "0", "name"]``; an empty part raises ConfigEditError."""
    parts = key.split(".")
    if not all(parts):
        raise ConfigEditError(f"key {key!r} has an empty part; write dotted keys like train.lr.")
    return parts


# -- the ruamel.yaml round trip ----------------------------------------------------------------------------------


class _NewString(str):
    """A string set by an edit: quoted exactly where serkit's own dumper would quote it."""


class _Representer(RoundTripRepresenter):
    """ruamel's round-trip representer, writing new values as :func:`serkit.core.values.dump_yaml` would.

    ruamel reads YAML 1.2 and serkit reads YAML 1.1 plus exponent floats: a new float is written ``5.0e-06`` (which
    both read as a float, where ruamel's own ``5e-06`` is a string to plain PyYAML), a new string is quoted where
    serkit's reader would otherwise take it for something else (``'yes'``, ``'3'``), and null is ``null``.
    """


def _represent_new_string(representer: _Representer, data: _NewString) -> Any:
    text = format_value(str(data))
    style = text[0] if text[:1] in ("'", '"') else None
    return representer.represent_scalar("tag:yaml.org,2002:str", str(data), style=style)


def _represent_float(representer: _Representer, data: float) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:float", format_value(data))


def _represent_null(representer: _Representer, data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


_Representer.add_representer(_NewString, _represent_new_string)
_Representer.add_representer(float, _represent_float)  # values read from the file are ruamel's ScalarFloat
_Representer.add_representer(type(None), _represent_null)


def _indentation(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) of a YAML text's block style, as ruamel's ``indent`` takes them.

    Read from the first nested mapping and the first block sequence under a key, e.g. ``stages:\\n  - name: x`` is
    a sequence indent of 4 with the dash at offset 2; the defaults are 2, 2, 0.
    """
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping = sequence = offset = None
    for line, following in zip(lines, lines[1:]):
        stripped = line.strip()
        if not re.fullmatch(r"[^\s#'\"][^#]*:(\s+#.*)?", stripped) or stripped.startswith("- "):
            continue  # only a line `key:` with nothing after it opens a block
        indent = len(line) - len(line.lstrip(" "))
        child = len(following) - len(following.lstrip(" "))
        if following.lstrip().startswith("- ") and offset is None and child >= indent:
            offset = child - indent
            sequence = offset + 2
        elif not following.lstrip().startswith("- ") and mapping is None and child > indent:
            mapping = child - indent
    return mapping or 2, sequence or 2, offset or 0


def _round_trip(text: str) -> YAML:
    round_trip = YAML(typ="rt")
    round_trip.Representer = _Representer
    round_trip.preserve_quotes = True
    round_trip.allow_duplicate_keys = True  # as PyYAML, which keeps the last one
    round_trip.width = 4096  # never fold a long line that was one line
    mapping, sequence, offset = _indentation(text)
    round_trip.indent(mapping=mapping, sequence=sequence, offset=offset)
    round_trip.explicit_start = text.lstrip().startswith("---")
    return round_trip


def _to_tree(value: Any, *, flow: bool) -> Any:
    """``value`` as ruamel nodes: mappings and lists in flow (``[1, 2]``) or block style, strings as _NewString."""
    if isinstance(value, dict):
        node: CommentedBase = CommentedMap((key, _to_tree(item, flow=flow)) for key, item in value.items())
    elif isinstance(value, (list, tuple)):
        node = CommentedSeq(_to_tree(item, flow=flow) for item in value)
    elif isinstance(value, str):
        return _NewString(value)
    else:
        return value
    if flow:
        node.fa.set_flow_style()
    else:
        node.fa.set_block_style()
    return node


def _dump(round_trip: YAML, tree: Any) -> str:
    stream = io.StringIO()
    round_trip.dump(tree, stream)
    return stream.getvalue()


def _merge_edit(original: str, before: str, after: str) -> str:
    """``original`` with the changes from ``before`` to ``after``: a three-way merge on lines, base ``before``.

    ``before`` is ``original`` through ruamel's round trip without the edit, ``after`` with it. The lines the edit
    changed are taken from ``after``, all others from ``original``, so a flow mapping that ruamel would join onto
    one line stays as it was written unless the edit is inside it.
    """
    base, ours, edited = (text.splitlines(keepends=True) for text in (before, original, after))
    hunks = sorted(
        (i1, i2, side, lines[j1:j2])
        for side, lines in (("ours", ours), ("edited", edited))
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, base, lines, autojunk=False).get_opcodes()
        if tag != "equal"
    )
    clusters: list[list[tuple[int, int, str, list[str]]]] = []  # hunks over overlapping lines of `before`
    for hunk in hunks:
        if clusters:
            start, end = clusters[-1][0][0], max(h[1] for h in clusters[-1])
            if hunk[0] < end or hunk[0] == hunk[1] == start == end:
                clusters[-1].append(hunk)
                continue
        clusters.append([hunk])
    merged: list[str] = []
    cursor = 0
    for cluster in clusters:
        start, end = cluster[0][0], max(h[1] for h in cluster)
        side = (
            "edited" if any(h[2] == "edited" for h in cluster) else "ours"
        )  # where both changed, the edit wins
        merged += base[cursor:start]
        at = start
        for i1, i2, hunk_side, lines in cluster:
            if hunk_side == side:
                merged += base[at:i1] + lines
                at = i2
        merged += base[at:end]
        cursor = end
    return "".join(merged + base[cursor:])


def _same(a: Any, b: Any) -> bool:
    """Equal with equal types all the way down (``1``, ``1.0`` and ``True`` differ; NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


# -- an editable file --------------------------------------------------------------------------------------------


class EditableFile:
    """A YAML or JSON file open for edits by dotted key.

    ``data`` is what serkit reads from the file (plain dicts, lists and scalars), changed by :meth:`set`;
    :meth:`render` gives the text of the edited file.
    """

    def __init__(self, text: str, data: Any, fmt: str, path: Path | None = None) -> None:
        self.text, self.data, self.format, self.path = text, data, fmt, path
        self._tree: Any = None
        self._before = ""  # the text of the unedited tree
        self._tree_in_step = fmt == "yaml"  # False once an edit could not be made on the round-trip tree
        self._edited = False

    @classmethod
    def from_text(cls, text: str, fmt: str, path: Path | None = None) -> EditableFile:
        """The file with content ``text`` in format ``fmt`` (``yaml`` or ``json``).

        Raises:
            ConfigEditError: not valid YAML/JSON, or not a mapping or list at the top level.
        """
        where = path if path is not None else "text"
        try:
            data = parse_yaml(text) if fmt == "yaml" else json.loads(text)
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise ConfigEditError(f"{where}: not valid {fmt.upper()}: {exc}") from None
        if data is None and fmt == "yaml":
            data = {}
        if not isinstance(data, (dict, list)):
            raise ConfigEditError(
                f"{where}: expected a mapping of keys at the top level, got {type(data).__name__}."
            )
        return cls(text, data, fmt, path)

    @classmethod
    def read(cls, path: str | Path) -> EditableFile:
        """Open ``path`` (``.yaml``, ``.yml`` or ``.json``).

        Raises:
            ConfigEditError: unknown file type, no such file, or a file :meth:`from_text` refuses.
        """
        path = Path(path)
        if path.suffix.lower() not in FORMATS:
            raise ConfigEditError(
                f"{path}: unknown file type {path.suffix!r}; serkit config edits "
                f"{', '.join(sorted(FORMATS))} files."
            )
        if not path.is_file():
            raise ConfigEditError(f"{path}: file not found.")
        return cls.from_text(path.read_text(encoding="utf-8"), FORMATS[path.suffix.lower()], path)

    @property
    def _where(self) -> str:
        return str(self.path) if self.path is not None else "text"

    def _index(self, node: list, part: str, where: str) -> int:
        if not re.fullmatch(r"-?\d+", part) or not -len(node) <= int(part) < len(node):
            raise ConfigEditError(
                f"{self._where}: {where or 'the top level'} is a list of {len(node)} item(s); "
                f"{part!r} is not an index in 0..{len(node) - 1}."
            )
        return int(part)

    def _missing_key(self, where: str, part: str, node: dict, *, hint_add: bool) -> ConfigEditError:
        keys = [str(k) for k in node]
        close = closest_names(part, keys)
        message = f"{self._where}: no key {(where + '.' if where else '') + part!r}"
        message += f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        message += f"; keys {'under ' + repr(where) if where else 'at the top level'}: {', '.join(keys) or '(none)'}."
        if isinstance(self.data, dict) and "base" in self.data:
            message += f" This recipe inherits from {self.data['base']!r}: the key may be set there."
        if hint_add:
            message += " To create it, use --add."
        return ConfigEditError(message)

    def _lookup(self, parts: list[str]) -> Any:
        node, where = self.data, ""
        for part in parts:
            if isinstance(node, dict):
                if part not in node:
                    raise self._missing_key(where, part, node, hint_add=False)
                node = node[part]
            elif isinstance(node, list):
                node = node[self._index(node, part, where)]
            else:
                raise ConfigEditError(
                    f"{self._where}: {where!r} is a value ({format_value(node)}), not a section; "
                    f"it has no key {part!r}."
                )
            where = f"{where}.{part}" if where else part
        return node

    def get(self, key: str) -> Any:
        """The value at dotted ``key``.

        Raises:
            ConfigEditError: no such key (naming the keys that exist at that level).
        """
        return self._lookup(split_key(key))

    def set(self, key: str, value: Any, *, add: bool = False, force: bool = False) -> tuple[Any, bool]:
        """Set dotted ``key`` to ``value``; returns (old value, whether the key was added).

        Args:
            add: allow a key that does not exist yet (its parent section must exist).
            force: allow replacing a section (mapping or list) with a single value, or the reverse.

        Raises:
            ConfigEditError: no such key (without ``add``), or a change of kind without ``force``.
        """
        parts = split_key(key)
        parent = self._lookup(parts[:-1])
        where, last = ".".join(parts[:-1]), parts[-1]
        if isinstance(parent, list):
            position: int | str = self._index(parent, last, where)
            old, added = parent[position], False
        elif isinstance(parent, dict):
            if last not in parent and not add:
                raise self._missing_key(where, last, parent, hint_add=True)
            position, old, added = last, parent.get(last), last not in parent
        else:
            raise ConfigEditError(
                f"{self._where}: {where!r} is a value ({format_value(parent)}), not a section."
            )
        section_old, section_new = isinstance(old, (dict, list)), isinstance(value, (dict, list))
        if not added and section_old != section_new and not force:
            kind = "a section" if section_old else "a single value"
            raise ConfigEditError(
                f"{self._where}: {key} is {kind} ({format_value(old)}); replacing it with "
                f"{format_value(value)} changes its kind. Use --force if that is intended."
            )
        parent[position] = value
        self._edited = True
        if self._tree_in_step:
            self._tree_in_step = self._set_in_tree(parts, value)
        return old, added

    def _set_in_tree(self, parts: list[str], value: Any) -> bool:
        """Mirror an edit on the round-trip tree; False when the tree cannot take it (then :meth:`render` dumps)."""
        try:
            if self._tree is None:
                round_trip = _round_trip(self.text)
                self._tree = round_trip.load(self.text)
                self._before = _dump(round_trip, self._tree)
            node = self._tree
            for part in parts[:-1]:
                node = node[int(part)] if isinstance(node, list) else node[part]
            last: int | str = int(parts[-1]) if isinstance(node, list) else parts[-1]
            old = node[last] if isinstance(node, list) or last in node else None
        except (RuamelError, KeyError, IndexError, TypeError, ValueError):
            return False
        if not isinstance(node, (CommentedMap, CommentedSeq)):
            return False
        # a new collection keeps the style of the one it replaces; anything else is written in flow style, on the
        # key's own line, as `serkit config set` always wrote a value
        flow = not isinstance(old, CommentedBase) or old.fa.flow_style() is not False
        node[last] = _to_tree(value, flow=flow)
        return True

    def render(self) -> tuple[str, bool]:
        """(text of the edited file, whether its comments and layout were kept).

        YAML comes from the round-trip tree when its text reads back as exactly the edited data; otherwise the data
        is dumped afresh (comments lost). JSON keeps the file's indentation and key order.
        """
        if not self._edited:
            return self.text, True
        if self.format == "json":
            indent = re.search(r"\n([ \t]+)\S", self.text)
            return json.dumps(
                self.data, indent=indent.group(1) if indent else 2, ensure_ascii=False
            ) + "\n", True
        if self._tree_in_step:
            try:
                after = _dump(_round_trip(self.text), self._tree)
                for text in (_merge_edit(self.text, self._before, after), after):
                    if _same(parse_yaml(text), self.data):
                        return text, True
            except (RuamelError, yaml.YAMLError):
                pass
        return dump_yaml(self.data, default_flow_style=False, width=120), False
