"""``serkit config get FILE KEY`` and ``serkit config set FILE KEY=VALUE ...``: read or change recipe values.

Thin wrappers over :mod:`serkit.tools.config_edit` (YAML and JSON files, dotted keys, YAML-typed values, atomic
writes, comments kept where possible). ``set`` prints every change as ``key: old -> new``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from serkit.cli.paths import InputPath

__all__ = ["add_commands"]


def _cmd_get(args: argparse.Namespace) -> int:
    from serkit.tools.config_edit import format_value, get_value

    for key in args.keys:
        value = format_value(get_value(args.file, key))
        print(f"{key}: {value}" if len(args.keys) > 1 else value)
    return 0


def _cmd_set(args: argparse.Namespace) -> int:
    from serkit.tools.config_edit import set_values

    for change in set_values(args.file, args.assignments, add=args.add, force=args.force, dry_run=args.dry_run):
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
    set_.add_argument("assignments", nargs="+", metavar="KEY=VALUE",
                      help="dotted key and a YAML value (3, 5e-6, true, [1, 2], 'text')")
    set_.add_argument("--add", action="store_true", help="allow keys that do not exist yet")
    set_.add_argument("--force", action="store_true", help="allow replacing a section by a value or the reverse")
    set_.add_argument("--dry-run", action="store_true", help="print the changes without writing")
    set_.set_defaults(func=_cmd_set)
