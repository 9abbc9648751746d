"""The `facewatch` command: one entry point, one subcommand module per area."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

# Each module exposes `register(subparsers)`; it adds its subcommand(s) and sets `func`.
COMMANDS: tuple[str, ...] = (
    "cameras",
    "employees",
    "proxy",
    "subscribers",
    "dlq",
    "audit",
    "local",
    "consent",
    "privacy",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facewatch", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"facewatch_tools.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
