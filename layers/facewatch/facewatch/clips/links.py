"""Signed clip links that still play next month.

A KVS HLS URL expires within 12 hours, so SMS and Slack carry a facewatch link instead:
``{base}/clips/{incident_id}?exp={unix}&sig={hmac}``. The clip endpoint checks the HMAC-SHA256
(key in Secrets Manager) and the expiry, then makes a fresh ON_DEMAND URL from the incident's
stored stream and time range.

The short form ``{base}/clips/{incident_id}?t={token}`` is for SMS, where 160 characters must
hold the text and the link: the token is 11 base64url characters of the HMAC (64 bits; the
endpoint is throttled, so guessing is hopeless) followed by the expiry day in base 36. The link
then lasts to the end of its expiry day (UTC). Both forms stay valid, so links already sent work.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from urllib.parse import quote

DAY = 86400
SHORT_SIGNATURE_CHARS = 11  # base64url of 8 bytes, no padding
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


def _short_signature(incident_id: str, expiry_day: int, key: bytes) -> str:
    message = f"clip2|{incident_id}|{expiry_day}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:8]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if not value:
            return out


def clip_token(incident_id: str, expires_at: int, key: bytes) -> str:
    """The short token: signature then expiry day (the day that contains ``expires_at``)."""
    day = -(-expires_at // DAY)
    return _short_signature(incident_id, day, key) + _base36(day)


def sign_short_clip_link(base_url: str, incident_id: str, expires_at: int, key: bytes) -> str:
    path = f"/clips/{quote(incident_id, safe='')}"
    return f"{base_url.rstrip('/')}{path}?t={clip_token(incident_id, expires_at, key)}"


def verify_clip_token(incident_id: str, token: str, key: bytes, now: float) -> int:
    """Return the expiry (unix seconds) of a genuine, current short token; else ClipLinkError."""
    signature, day_text = token[:SHORT_SIGNATURE_CHARS], token[SHORT_SIGNATURE_CHARS:]
    if not token.isascii() or not 1 <= len(day_text) <= 6 or not day_text.isalnum():
        raise ClipLinkError("malformed token")
    try:
        day = int(day_text, 36)
        base64.urlsafe_b64decode(signature + "=")
    except (ValueError, binascii.Error) as exc:
        raise ClipLinkError("malformed token") from exc
    if _base36(day) != day_text:  # one spelling per token: no "0", upper case or padding
        raise ClipLinkError("malformed token")
    if not hmac.compare_digest(_short_signature(incident_id, day, key), signature):
        raise ClipLinkError("bad signature")
    expiry = day * DAY
    if expiry < now:
        raise ClipLinkError("link expired")
    return expiry
