"""Signed clip links that still play next month.

A KVS HLS URL expires within 12 hours, so SMS and Slack carry a facewatch link instead:
``{base}/clips/{incident_id}?exp={unix}&sig={hmac}``. The clip endpoint checks the HMAC-SHA256
(key in Secrets Manager) and the expiry, then makes a fresh ON_DEMAND URL from the incident's
stored stream and time range.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote

# The expiry as sign_clip_link writes it: ASCII digits, no sign, no leading zero, bounded. int()
# would also take "+N", "0N", " N", "1_0" and non-ASCII digits: one signature, many spellings.
_CANONICAL_EXPIRY = re.compile(r"(?:0|[1-9][0-9]{0,11})")


class ClipLinkError(ValueError):
    """The link is expired or was not signed by us (the endpoint answers 403)."""


def _signature(incident_id: str, expires_at: int, key: bytes) -> str:
    message = f"clip|{incident_id}|{expires_at}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def sign_clip_link(base_url: str, incident_id: str, expires_at: int, key: bytes) -> str:
    signature = _signature(incident_id, expires_at, key)
    path = f"/clips/{quote(incident_id, safe='')}"
    return f"{base_url.rstrip('/')}{path}?exp={expires_at}&sig={signature}"


def verify_clip_link(
    incident_id: str, expires_at: str, signature: str, key: bytes, now: float
) -> int:
    """Return the expiry if the link is genuine and current; raise ClipLinkError otherwise."""
    if not _CANONICAL_EXPIRY.fullmatch(expires_at):
        raise ClipLinkError("malformed expiry")
    expiry = int(expires_at)
    # compare_digest raises on non-ASCII str: a mangled link is a bad signature, not a crash
    if not signature.isascii() or not hmac.compare_digest(
        _signature(incident_id, expiry, key), signature
    ):
        raise ClipLinkError("bad signature")
    if expiry < now:
        raise ClipLinkError("link expired")
    return expiry
