"""``serkit config get FILE KEY`` and ``serkit config set FILE KEY=VALUE ...``: read or change recipe values.

The replacement of DCNN-BLSTMwA's ``hparams_changer.py``, which edited JSON configs line by line and stored every
value as a quoted string. The file editing itself (dotted keys, YAML-typed values, comments and key order kept,
JSON indentation kept) is :mod:`serkit.core.yaml_edit`; this module adds what the file's schema allows:

* a ``.chain.yaml`` file is a ``serkit hubert chain`` config (:class:`serkit.cpt.chain.ChainConfig`); any other YAML
  file with a recipe section (``corpus``, ``train``, ``model``, ``stages``, ``base``, ...) is a recipe
  (:class:`serkit.config.ExperimentConfig`); JSON files and other YAML files (DCNN-BLSTMwA's JSON hparams, tool
  configs) have no known schema and only get the value parsing. For a known schema each edited key must exist
  there and its value must have the key's type (``train.lr=abc`` fails naming the key, the type and the value),
  and a file that loaded before the edit must still load after it, through the loader ``serkit train`` (or
  ``serkit hubert chain``) uses;
* an unknown key or file fails naming the file, the key and the keys that do exist there; a new key needs
  ``add=True``; replacing a section (mapping or list) with a single value, or the reverse, needs ``force=True``;
* all assignments are applied or none, and the file is written atomically (temporary file + rename).

``set`` prints every change as ``key: old -> new``.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.yaml"
    >>> _ = path.write_text("train:\\n  lr: 0.001  # Adam\\n")
    >>> [str(c) for c in set_values(path, ["train.lr=5e-6"])]
    ['train.lr: 0.001 -> 5.0e-06']
    >>> path.read_text()
    'train:\\n  lr: 5.0e-06 # Adam\\n'
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serkit.cli.paths import InputPath
from serkit.config import ConfigError, ExperimentConfig, check_value, from_dict
from serkit.core.errors import ConfigEditError
from serkit.core.fileio import atomic_write_text
from serkit.core.values import format_value

if TYPE_CHECKING:  # ruamel.yaml is imported by the commands that edit files, not by every `serkit` command
    from serkit.core.yaml_edit import Change, EditableFile

__all__ = ["ConfigEditError", "add_commands", "get_value", "set_values"]


@dataclass(frozen=True)
class _Schema:
    """What a file holds: the dataclass that types its keys and the loader that reads the whole file."""

    name: str
    cls: type
    load: Callable[[Any], Any]  # raises ConfigError when the data would not load
    extra_keys: dict[str, str] = field(
        default_factory=dict
    )  # top-level string keys read before the dataclass


#: Top-level keys that make a YAML file a recipe (``name``/``notes`` alone are too common to tell).
_RECIPE_SECTIONS = (
    "base",
    "corpus",
    "labels",
    "protocol",
    "input",
    "features",
    "model",
    "train",
    "text",
    "stages",
    "seeds",
)


def _schema_of(path: Path, document: EditableFile) -> _Schema | None:
    """The schema of a file, or None when it has none serkit knows (JSON hparams, tool configs)."""
    if document.format != "yaml" or not isinstance(document.data, dict):
        return None
    if path.name.endswith((".chain.yaml", ".chain.yml")):
        from serkit.cpt.chain import ChainConfig

        return _Schema("chain config", ChainConfig, lambda d: from_dict(ChainConfig, d))
    if any(key in document.data for key in _RECIPE_SECTIONS):
        from serkit.recipe import check_recipe  # the registries: imported only for a recipe file

        return _Schema(
            "recipe",
            ExperimentConfig,
            lambda d: check_recipe(d, path),
            {"base": "the path of the recipe this one inherits from"},
        )
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
        raise ConfigEditError(
            f"{path}: {exc} ({path.name} is a {schema.name}; nothing was written.)"
        ) from None


def _loads(schema: _Schema, data: Any) -> ConfigError | None:
    """The error loading ``data`` through the schema's loader gives, or None when it loads."""
    try:
        schema.load(data)
    except ConfigError as exc:
        return exc
    return None


def get_value(path: str | Path, key: str) -> Any:
    """The value at dotted ``key`` in the YAML or JSON file ``path``.

    Raises:
        ConfigEditError: no such file or key (naming the keys that exist at that level).
    """
    from serkit.core.yaml_edit import EditableFile

    return EditableFile.read(path).get(key)


def set_values(
    path: str | Path,
    assignments: Sequence[str],
    *,
    add: bool = False,
    force: bool = False,
    dry_run: bool = False,
) -> list[Change]:
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
    from serkit.core.yaml_edit import Change, EditableFile, parse_assignment

    path = Path(path)
    if not assignments:
        raise ConfigEditError("give at least one key.sub=value to set.")
    document = EditableFile.read(path)
    schema = _schema_of(path, document)
    # a file that already fails to load may be mid-repair: then only the edited keys are checked
    loaded_before = schema is not None and _loads(schema, document.data) is None
    edits = []
    for item in assignments:
        key, value = parse_assignment(item)
        old, added = document.set(key, value, add=add, force=force)
        if schema is not None:
            _check_key(schema, path, key, value)
        edits.append((key, old, value, added))
    error = _loads(schema, document.data) if loaded_before else None
    if error is not None:
        raise ConfigEditError(
            f"{path}: after this change the {schema.name} would not load: {error} Nothing was written."
        )
    text, kept = document.render()
    if not dry_run:
        atomic_write_text(path, text)
    return [Change(key, old, new, added=added, comments_kept=kept) for key, old, new, added in edits]


def _cmd_get(args: argparse.Namespace) -> int:
    for key in args.keys:
        value = format_value(get_value(args.file, key))
        print(f"{key}: {value}" if len(args.keys) > 1 else value)
    return 0


def _cmd_set(args: argparse.Namespace) -> int:
    for change in set_values(
        args.file, args.assignments, add=args.add, force=args.force, dry_run=args.dry_run
    ):
        print(change)
    if args.dry_run:
        print(f"(dry run: {args.file} not changed)")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    config = commands.add_parser("config", help="read or change values of a recipe file (YAML or JSON)")
    config_cmds = config.add_subparsers(dest="config_command", required=True)

    get = config_cmds.add_parser("get", help="print the value of dotted keys (train.lr, stages.0.name)")
    get.add_argument("file", type=InputPath, help="recipe file (.yaml, .yml or .json)")
    get.add_argument("keys", nargs="+", metavar="KEY", help="dotted key")
    get.set_defaults(func=_cmd_get)

    set_ = config_cmds.add_parser("set", help="change values in place and print old -> new")
    set_.add_argument("file", type=Path, help="recipe file (.yaml, .yml or .json)")
    set_.add_argument(
        "assignments",
        nargs="+",
        metavar="KEY=VALUE",
        help="dotted key and a YAML value (3, 5e-6, true, [1, 2], 'text')",
    )
    set_.add_argument("--add", action="store_true", help="allow keys that do not exist yet")
    set_.add_argument(
        "--force", action="store_true", help="allow replacing a section by a value or the reverse"
    )
    set_.add_argument("--dry-run", action="store_true", help="print the changes without writing")
    set_.set_defaults(func=_cmd_set)
