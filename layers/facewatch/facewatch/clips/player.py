"""The clip endpoint: a signed facewatch link -> a fresh ON_DEMAND HLS session -> a player page.

``GET /clips/{incidentId}?exp=&sig=`` (``&redirect=1`` answers 302 to the HLS URL instead).
The link is checked with ``cliplinks.verify_clip_link`` (403 when expired or tampered); the
incident's stream and time range come from its item; each view gets its own short session URL.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from facewatch.clips.access import CLIP_VIEWED, AccessLog
from facewatch.clips.hls import ClipProvider
from facewatch.clips.links import ClipLinkError, verify_clip_link, verify_clip_token
from facewatch.observability import MetricUnit, logger, metrics
from facewatch.web import HttpReply

# hls.js pinned by version and by Subresource Integrity (sha384 of the published file).
HLS_JS_URL = "https://cdn.jsdelivr.net/npm/hls.js@1.7.4/dist/hls.light.min.js"
# pragma: allowlist nextline secret
HLS_JS_SRI = "sha384-vpNtFjJmrPAaL9LfqByx3MxTVjqrtQ6Ue6UVNnFeghNrhE0uvpydDr3tkTVcBgDz"
# KVS returns ResourceNotFound when the range has no fragments left (retention passed).
GONE_ERRORS = frozenset({"ResourceNotFoundException", "NoDataRetentionException"})
MAX_ON_DEMAND_SECONDS = 24 * 3600  # KVS: ON_DEMAND end within 24 h of start

# The page's only script and style, allowed by hash in the CSP (no 'unsafe-inline').
_SCRIPT = """
const video = document.getElementById("clip");
const src = video.dataset.src;
if (window.Hls && window.Hls.isSupported()) {
  const hls = new window.Hls();
  hls.loadSource(src);
  hls.attachMedia(video);
} else if (video.canPlayType("application/vnd.apple.mpegurl")) {
  video.src = src;
} else {
  document.getElementById("note").textContent = "This browser cannot play HLS video.";
}
"""
_STYLE = """
body { font: 15px system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; }
video { width: 100%; max-width: 960px; background: #000; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


class ClipIncident(Protocol):
    """What the player reads of an incident (the audit history's record has it)."""

    @property
    def incident_id(self) -> str: ...
    @property
    def camera_id(self) -> str: ...
    @property
    def site_id(self) -> str: ...
    @property
    def stream_arn(self) -> str: ...
    @property
    def first_seen(self) -> datetime: ...
    @property
    def last_seen(self) -> datetime: ...


class IncidentLookup(Protocol):
    """The incident by id, or None; clips sit below audit, so the history is passed in."""

    def get(self, incident_id: str) -> ClipIncident | None: ...


@dataclass(frozen=True, slots=True)
class ClipDeps:
    history: IncidentLookup
    clips: ClipProvider
    link_key: Callable[[], bytes]
    pre_roll_seconds: float = 5.0
    post_roll_seconds: float = 5.0
    session_seconds: int = 900
    access_log: AccessLog | None = None


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who opened the link, as far as the request tells: a clip link is a bearer link."""

    actor: str = "clip-link"  # an IAM principal or Slack user id when the caller is known
    source_ip: str | None = None
    user_agent: str | None = None

    def details(self) -> dict[str, str]:
        found = {"sourceIp": self.source_ip, "userAgent": (self.user_agent or "")[:200]}
        return {k: v for k, v in found.items() if v}


def _refuse(status: int, message: str) -> HttpReply:
    return HttpReply(status=status, body=message)


def serve_clip(
    incident_id: str,
    expires: str | None,
    signature: str | None,
    *,
    redirect: bool,
    deps: ClipDeps,
    now: float,
    viewer: Viewer | None = None,
    token: str | None = None,
) -> HttpReply:
    try:
        if token:  # the short SMS form (?t=)
            verify_clip_token(incident_id, token, deps.link_key(), now)
        else:
            verify_clip_link(incident_id, expires or "", signature or "", deps.link_key(), now)
    except ClipLinkError as exc:
        logger.warning("Clip link refused", extra={"incidentId": incident_id, "reason": str(exc)})
        metrics.add_metric(name="ClipLinkRefused", unit=MetricUnit.Count, value=1)
        return _refuse(403, "This link is not valid or has expired.")
    incident = deps.history.get(incident_id)
    if incident is None:
        metrics.add_metric(name="ClipIncidentMissing", unit=MetricUnit.Count, value=1)
        return _refuse(404, "This incident is no longer on record.")
    start = incident.first_seen.timestamp() - deps.pre_roll_seconds
    end = min(
        incident.last_seen.timestamp() + deps.post_roll_seconds, now, start + MAX_ON_DEMAND_SECONDS
    )
    try:
        link = deps.clips.hls_url(
            incident.stream_arn,
            start,
            end,
            mode="ON_DEMAND",
            expires_in=deps.session_seconds,
            now=now,
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in GONE_ERRORS:
            logger.info(
                "Clip no longer in the stream", extra={"incidentId": incident_id, "code": code}
            )
            metrics.add_metric(name="ClipGone", unit=MetricUnit.Count, value=1)
            return _refuse(410, "The video of this incident is no longer kept.")
        raise
    metrics.add_metric(name="ClipServed", unit=MetricUnit.Count, value=1)
    if deps.access_log is not None:
        who = viewer or Viewer()
        details = {**who.details(), "mode": "redirect" if redirect else "player"}
        deps.access_log.record_access(incident_id, CLIP_VIEWED, who.actor, now, details)
    if redirect:
        return HttpReply(status=302, headers={"Location": link.url})
    return player_page(
        link.url,
        incident_id=incident.incident_id,
        camera_id=incident.camera_id,
        site_id=incident.site_id,
        first=incident.first_seen.isoformat(),
        last=incident.last_seen.isoformat(),
    )


def player_page(
    hls_url: str, *, incident_id: str, camera_id: str, site_id: str, first: str, last: str
) -> HttpReply:
    origin = urlparse(hls_url)
    media_host = f"{origin.scheme}://{origin.netloc}"
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {HLS_JS_URL} {_csp_hash(_SCRIPT)}",
            f"style-src {_csp_hash(_STYLE)}",
            f"connect-src {media_host}",  # playlists and fragments (hls.js fetches them)
            f"media-src blob: {media_host}",  # MSE blobs, or Safari's native HLS
            "worker-src blob:",  # hls.js's transmuxing worker
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    e = html.escape
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>facewatch incident {e(incident_id)}</title>
<style>{_STYLE}</style>
<script src="{HLS_JS_URL}" integrity="{HLS_JS_SRI}" crossorigin="anonymous"></script>
</head><body>
<h1>Incident {e(incident_id)}</h1>
<dl><dt>Site</dt><dd>{e(site_id)}</dd><dt>Camera</dt><dd>{e(camera_id)}</dd>
<dt>First seen</dt><dd>{e(first)}</dd><dt>Last seen</dt><dd>{e(last)}</dd></dl>
<video id="clip" controls playsinline data-src="{e(hls_url)}"></video>
<p id="note">This page holds a private playback session; do not forward it.</p>
<script>{_SCRIPT}</script>
</body></html>
"""
    return HttpReply(
        status=200,
        body=body,
        content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": csp},
    )
