"""AWS credentials for kvssink from the host's default chain, through kvssink's credential file.

kvssink does not use the AWS SDK's default chain: it takes static keys (properties or the
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables, never refreshed), an IoT certificate, or
a credential file that it re-reads before the expiration written in it. The proxy resolves
the host's chain with botocore (environment, profile, SSO, instance or container role, IAM
Roles Anywhere via credential_process), writes ``CREDENTIALS <key id> <expiration> <secret>
<token>`` to a 0600 file, and rewrites it well before that expiration. No key ever appears on
a command line, and temporary credentials keep rotating for pipelines that run for weeks.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

# Written expiration = now + VALIDITY; rewritten every REFRESH. kvssink re-reads the file a
# minute or two before the written expiration, so it always finds a fresh one. botocore
# refreshes temporary credentials at least 10 minutes before they really expire.
VALIDITY = timedelta(minutes=10)
REFRESH = timedelta(minutes=4)
# Variables that would make kvssink ignore the file (it prefers static keys).
STATIC_KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class FrozenCredentials(Protocol):
    @property
    def access_key(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def token(self) -> str | None: ...


class CredentialSource(Protocol):
    def get_frozen_credentials(self) -> FrozenCredentials: ...


class KvsCredentialError(RuntimeError):
    pass


class KvsCredentialFile:
    def __init__(
        self,
        path: Path,
        source: Callable[[], CredentialSource | None],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = path
        self._source = source
        self._now = now

    def write(self) -> None:
        """Resolve the chain now and replace the file atomically (readers never see half)."""
        source = self._source()
        if source is None:
            raise KvsCredentialError(
                "no AWS credentials on this host (default chain: environment, profile, "
                "instance role, ...); kvssink cannot stream"
            )
        frozen = source.get_frozen_credentials()
        if frozen.token:
            expires = (self._now() + VALIDITY).strftime("%Y-%m-%dT%H:%M:%SZ")
            line = f"CREDENTIALS {frozen.access_key} {expires} {frozen.secret_key} {frozen.token}\n"
        else:
            line = f"CREDENTIALS {frozen.access_key} {frozen.secret_key}\n"
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".kvs-credential-")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:  # mkstemp: mode 0600
                handle.write(line)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def child_environment(base: dict[str, str], credential_file: bool) -> dict[str, str]:
    """The environment of the gst children: without static keys when the file is used."""
    if not credential_file:
        return dict(base)
    return {k: v for k, v in base.items() if k not in STATIC_KEY_VARIABLES}
