"""`facewatch local up | env | down`: a local stack that stays up for every other command.

facewatch local up --detach      # moto + template.yaml in each region of cameras.yaml
eval "$(facewatch local env)"    # AWS_ENDPOINT_URL, credentials, region, FACEWATCH_STACK
facewatch audit incidents        # ... any command now talks to the local stack
facewatch local down
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from facewatch_tools.local.session import (
    LocalSession,
    NotRunningError,
    alive,
    down,
    serve,
    state_path,
    stop_on_signals,
)

START_TIMEOUT_SECONDS = 180.0


def _print_ready(session: LocalSession) -> None:
    regions = session.regions or {session.region: session.clip_url}
    clips = ", ".join(f"{url or '-'}/clips/... ({region})" for region, url in regions.items())
    print(
        f"local stack {session.stack_name} up at {session.endpoint_url} in "
        f"{', '.join(regions)} (pid {session.pid}); Slack messages go to {session.slack_url}; "
        f"clip links open at {clips}\n"
        'in another shell: eval "$(facewatch local env)", then any facewatch command; '
        "`facewatch local down` stops it",
        flush=True,
    )


def run_up(args: argparse.Namespace) -> int:
    path = state_path()
    running = LocalSession.load(path)
    if running is not None:
        print(f"a local stack is already running (pid {running.pid}):")
        print(running.exports(), end="")
        return 0
    inventory = None if args.no_inventory else Path(args.inventory)
    if inventory is not None and not inventory.is_file():
        raise FileNotFoundError(2, "no such inventory", str(inventory))
    if args.detach:
        return _detach(args, path)
    stop = threading.Event()
    stop_on_signals(stop)
    serve(inventory, path, _print_ready, stop)
    print("local stack stopped")
    return 0


def _detach(args: argparse.Namespace, path: Path) -> int:
    log = path.with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "facewatch_tools.cli", "local", "up"]
    command += ["--no-inventory"] if args.no_inventory else ["--inventory", args.inventory]
    with log.open("w", encoding="utf-8") as out:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        session = LocalSession.load(path)
        if session is not None and session.pid == child.pid:
            _print_ready(session)
            return 0
        if child.poll() is not None:
            raise NotRunningError(f"the local stack did not start: see {log}")
        time.sleep(0.2)  # waiting for a child process to come up, not a test
    child.terminate()
    raise NotRunningError(f"the local stack did not start in {START_TIMEOUT_SECONDS:.0f} s: {log}")


def run_env(args: argparse.Namespace) -> int:
    session = LocalSession.load(state_path())
    if session is None:
        raise NotRunningError("no local stack is running (start one with `facewatch local up`)")
    print(session.exports(), end="")
    return 0


def _wait_for_exit(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)  # the process is shutting its servers down
    return False


def run_down(args: argparse.Namespace) -> int:
    session = down(state_path(), _wait_for_exit)
    print(f"local stack {session.stack_name} (pid {session.pid}) stopped")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local", help="a local stack (moto) that stays up for every command", description=__doc__
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start the local stack (Ctrl-C, or `local down`, stops it)")
    up.add_argument("--inventory", default="cameras.yaml", help="cameras.yaml to load")
    up.add_argument("--no-inventory", action="store_true", help="start with no cameras")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.set_defaults(func=run_up)
    env = actions.add_parser("env", help="print the exports that point commands at it")
    env.set_defaults(func=run_env)
    stop = actions.add_parser("down", help="stop the running local stack")
    stop.set_defaults(func=run_down)
