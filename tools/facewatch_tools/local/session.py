"""A local stack that keeps running between commands: ``facewatch local up | env | down``.

``up`` starts moto, deploys template.yaml, loads cameras.yaml into the registry and runs the
event source mappings in the background until stopped. Its state file names the process, the
endpoint and the account's credentials, so ``env`` prints the exports that point every other
command (``audit``, ``cameras``, ``subscribers``, ``dlq``, ``canary`` ...) at it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facewatch.fleet.inventory import load_inventory
from facewatch_tools.local.server import LOCAL_REGION
from facewatch_tools.local.stack import DEFAULT_STACK_NAME, LocalStack


def state_path() -> Path:
    """Where a running local stack is described (one a user; XDG_STATE_HOME is honoured)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "facewatch" / "local.json"


@dataclass(frozen=True, slots=True)
class LocalSession:
    pid: int
    stack_name: str
    region: str
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    slack_url: str
    clip_url: str = ""  # the local clip endpoint (the HTTP API's URL) the clip links open
    # every region with a stack (one account, one endpoint URL): region -> its clip endpoint
    regions: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The environment that sends the AWS SDK (and so every command) to the local stack."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "FACEWATCH_STACK": self.stack_name,
        }

    def exports(self) -> str:
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.env().items())

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only: it holds the (local, throwaway) account's credentials.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(self), out)

    @classmethod
    def load(cls, path: Path) -> LocalSession | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        session = cls(**data)
        return session if alive(session.pid) else None


def alive(pid: int) -> bool:
    """Running (a zombie no parent has reaped yet has stopped: it is not alive)."""
    try:
        if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return False
    except OSError:
        pass  # no /proc (macOS): ask the kernel below
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process with that pid
        return True
    return True


class NotRunningError(RuntimeError):
    """No local stack is running."""


def describe(stacks: Mapping[str, LocalStack], pid: int) -> LocalSession:
    stack = next(iter(stacks.values()))  # the first region: the exported AWS_REGION
    creds = stack.endpoint.credentials
    return LocalSession(
        pid=pid,
        stack_name=stack.stack_name,
        region=stack.region,
        endpoint_url=stack.endpoint.url,
        access_key_id=creds.access_key_id,
        secret_access_key=creds.secret_access_key,
        session_token=creds.session_token,
        slack_url=stack.slack.url("default"),
        clip_url=stack.clip_base_url or "",
        regions={region: s.clip_base_url or "" for region, s in stacks.items()},
    )


def serve(
    inventory: Path | None,
    path: Path,
    ready: Callable[[LocalSession], None],
    stop: threading.Event,
    *,
    parameters: Mapping[str, str] | None = None,
) -> None:
    """Run the local stack until ``stop`` is set (SIGINT/SIGTERM set it in ``up``): one main
    stack in each region the inventory's sites name, all in one account behind one endpoint
    URL (as one AWS account deployed in several regions), so `facewatch cameras` reaches every
    region with the exports `facewatch local env` prints."""
    loaded = load_inventory(inventory) if inventory is not None else None
    named = loaded.regions if loaded is not None else [None]
    regions = list(dict.fromkeys(r or LOCAL_REGION for r in named))
    routes = [s.slack_route for s in loaded.sites if s.slack_route] if loaded is not None else []
    with ExitStack() as running:
        stacks: dict[str, LocalStack] = {}
        for region in regions:
            first = next(iter(stacks.values()), None)
            stacks[region] = running.enter_context(
                LocalStack(
                    stack_name=DEFAULT_STACK_NAME,
                    parameters=parameters,
                    region=region,
                    slack_routes=routes,  # a channel per route of cameras.yaml (app mode)
                    endpoint=first.endpoint.in_region(region) if first else None,
                )
            )
        for region, stack in stacks.items():
            if loaded is not None:
                for name in named:  # sites without a region live in the default one
                    if (name or LOCAL_REGION) == region:
                        stack.load_registry(loaded.in_region(name))
            # Polls four times a second: an idle stack left running costs little CPU.
            stack.start_background(interval=0.25)
        session = describe(stacks, os.getpid())
        session.save(path)
        try:
            ready(session)
            stop.wait()
        finally:
            path.unlink(missing_ok=True)


def stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())


def down(path: Path, wait: Callable[[int], bool]) -> LocalSession:
    """Ask the running stack to stop; ``wait(pid)`` says whether it exited in time."""
    session = LocalSession.load(path)
    if session is None:
        path.unlink(missing_ok=True)
        raise NotRunningError("no local stack is running (start one with `facewatch local up`)")
    os.kill(session.pid, signal.SIGTERM)
    if not wait(session.pid):
        # moto's servers are in-memory and throwaway: nothing is lost by not waiting longer
        os.kill(session.pid, signal.SIGKILL)
        if not wait(session.pid):
            raise NotRunningError(f"the local stack (pid {session.pid}) did not stop; kill it")
    path.unlink(missing_ok=True)
    return session
