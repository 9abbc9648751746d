"""HTTP replies of facewatch's own endpoints (Slack actions, clip links), with strict headers."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def all_headers(self) -> dict[str, str]:
        return {**SECURITY_HEADERS, **self.headers}
