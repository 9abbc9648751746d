"""HTTP replies of facewatch's own endpoints (Slack actions, clip links), with strict headers."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

# Every reply: nothing is cached (links carry signatures, pages carry session tokens), nothing
# leaks through the Referer header, nothing frames or sniffs the content.
SECURITY_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store, private",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
}


class HttpReply(NamedTuple):
    """Immutable (a NamedTuple, not a dataclass: dataclasses cost the Slack front function's
    cold start the import of inspect)."""

    status: int
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = MappingProxyType({})

    def all_headers(self) -> dict[str, str]:
        return {**SECURITY_HEADERS, **self.headers}


class MalformedRequestError(ValueError):
    """A request body that does not decode (answered 400)."""


def request_text(body: str | None, is_base64_encoded: bool) -> str:
    """The body as text: strict base64 when API Gateway encoded it, then strict UTF-8."""
    if not body:
        return ""
    if not is_base64_encoded:
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedRequestError(type(exc).__name__) from None
