"""Keep RTSP credentials out of every log line, metric and error message."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# scheme://user:pass@host or scheme://user@host: the userinfo part of any URL.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^@/\s]*)@")
# gst-launch properties that carry a secret (rtspsrc user-id/user-pw, kvssink keys).
_SECRET_PROPERTY = re.compile(
    r"\b(?P<name>user-id|user-pw|access-key|secret-key|session-token)=(?P<value>\"[^\"]*\"|\S+)"
)
MASK = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without URL userinfo, secret-bearing properties or any of ``secrets``."""
    # Known secrets first (whole, longest first): the patterns below stop at a space, and a
    # password may contain one.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return _SECRET_PROPERTY.sub(lambda m: f"{m['name']}={MASK}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the final message of every record passing a handler.

    Installed on the handler (not a logger) so that records from any library are covered.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = {s for s in secrets if s}

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = redact(message, self._secrets)
        record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        return True
