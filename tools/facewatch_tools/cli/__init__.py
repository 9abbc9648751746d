"""The `facewatch` command: one entry point, one subcommand module per area.

Every command answers an ordinary mistake (credentials, region, endpoint, missing stack or file,
bad setting, AWS error) with one line naming the problem and the fix (``cli/errors.py``);
``--debug`` shows the traceback. Exit codes: 0 ok, 1 runtime error, 2 usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from facewatch_tools.aws_targets import check_endpoint
from facewatch_tools.cli.errors import EXIT_RUNTIME, explain

# Each module exposes `register(subparsers)`; it adds its subcommand(s) and sets `func`.
COMMANDS: tuple[str, ...] = (
    "cameras",
    "employees",
    "proxy",
    "subscribers",
    "dlq",
    "audit",
    "local",
    "local_mode",
    "consent",
    "privacy",
    "completion",
)


def _version() -> str:
    try:
        return version("facewatch")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without install
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facewatch", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"facewatch {_version()}")
    parser.add_argument(
        "--profile", help="AWS named profile for every AWS call (default: AWS_PROFILE)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"facewatch_tools.cli.{name}").register(subparsers)
    return parser


def _fail_fast() -> None:
    """Connection failures answer within seconds, not after botocore's legacy 5 retries."""
    os.environ.setdefault("AWS_RETRY_MODE", "standard")
    os.environ.setdefault("AWS_MAX_ATTEMPTS", "3")


def _global_options(argv: Sequence[str]) -> tuple[list[str], str | None, bool]:
    """--profile and --debug may stand anywhere on the line (before or after the command)."""
    rest: list[str] = []
    profile: str | None = None
    debug = False
    items = iter(argv)
    for item in items:
        if item == "--debug":
            debug = True
        elif item == "--profile":
            profile = next(items, "")
        elif item.startswith("--profile="):
            profile = item.partition("=")[2]
        else:
            rest.append(item)
    return rest, profile, debug


def _shared_endpoints(value: str | list[str] | None) -> list[str]:
    """--endpoint-url values every region uses; a REGION=URL one is checked by the region's own
    step, so one region down is named while the others answer (docs/regions.md)."""
    if isinstance(value, str):
        return [value]
    return [v for v in value or [] if "=" not in v]


def main(argv: Sequence[str] | None = None) -> int:
    rest, profile, debug = _global_options(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if profile == "":
        parser.error("--profile needs a profile name")
    args = parser.parse_args(rest)
    args.debug, args.profile, args.root_parser = debug, profile, parser
    if profile:
        os.environ["AWS_PROFILE"] = profile
    _fail_fast()
    try:
        for url in _shared_endpoints(getattr(args, "endpoint_url", None)):
            check_endpoint(url)
        result: int = args.func(args)
    except SystemExit as exc:
        if not isinstance(exc.code, str):
            raise
        print(f"facewatch {args.command}: {exc.code}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        print("facewatch: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        local = bool(getattr(args, "endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL"))
        line = explain(exc, local=local)
        if line is None or args.debug:
            if args.debug:
                traceback.print_exc()
                return EXIT_RUNTIME
            raise
        print(f"facewatch {args.command}: {line} (--debug for details)", file=sys.stderr)
        return EXIT_RUNTIME
    return result
