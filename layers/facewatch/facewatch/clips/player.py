"""The clip endpoint: a signed facewatch link -> a fresh ON_DEMAND HLS session -> a player page.

``GET /clips/{incidentId}?exp=&sig=`` (``&redirect=1`` answers 302 to the video instead).
The link is checked with ``cliplinks.verify_clip_link`` (403 when expired or tampered); the
incident's stream and time range come from its item; each view gets its own short session URL.
The clip starts at the fragment holding "first detection - pre-roll" (fragments.clip_start).
Once KVS no longer has the video, the archived MP4 parts (archive.py) are served instead, by
presigned URLs as short-lived as an HLS session; 410 only when there is no archive either.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from facewatch.clips.access import CLIP_VIEWED, AccessLog
from facewatch.clips.archive import GONE_ERRORS, ArchiveIncident, ArchiveLedger, ObjectStore
from facewatch.clips.fragments import FragmentSource, clip_start
from facewatch.clips.hls import ClipProvider
from facewatch.clips.links import ClipLinkError, verify_clip_link
from facewatch.observability import MetricUnit, logger, metrics
from facewatch.web import HttpReply

# hls.js pinned by version and by Subresource Integrity (sha384 of the published file).
HLS_JS_URL = "https://cdn.jsdelivr.net/npm/hls.js@1.7.4/dist/hls.light.min.js"
# pragma: allowlist nextline secret
HLS_JS_SRI = "sha384-vpNtFjJmrPAaL9LfqByx3MxTVjqrtQ6Ue6UVNnFeghNrhE0uvpydDr3tkTVcBgDz"
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


class ClipIncident(ArchiveIncident, Protocol):
    """What the player reads of an incident (the audit history's record has it)."""

    @property
    def camera_id(self) -> str: ...
    @property
    def site_id(self) -> str: ...


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
    fragments: FragmentSource | None = None  # aligns the start to a fragment
    archive: ArchiveLedger | None = None  # with ``store``: the MP4s served after KVS retention
    store: ObjectStore | None = None


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
) -> HttpReply:
    try:
        verify_clip_link(incident_id, expires or "", signature or "", deps.link_key(), now)
    except ClipLinkError as exc:
        logger.warning("Clip link refused", extra={"incidentId": incident_id, "reason": str(exc)})
        metrics.add_metric(name="ClipLinkRefused", unit=MetricUnit.Count, value=1)
        return _refuse(403, "This link is not valid or has expired.")
    incident = deps.history.get(incident_id)
    if incident is None:
        metrics.add_metric(name="ClipIncidentMissing", unit=MetricUnit.Count, value=1)
        return _refuse(404, "This incident is no longer on record.")
    start = _start(
        deps, incident.stream_arn, incident.first_seen.timestamp() - deps.pre_roll_seconds
    )
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
            archived = _archived(deps, incident, redirect=redirect)
            if archived is not None:
                _log_view(
                    deps, incident_id, viewer, now, "archive-redirect" if redirect else "archive"
                )
                return archived
            metrics.add_metric(name="ClipGone", unit=MetricUnit.Count, value=1)
            return _refuse(410, "The video of this incident is no longer kept.")
        raise
    metrics.add_metric(name="ClipServed", unit=MetricUnit.Count, value=1)
    _log_view(deps, incident_id, viewer, now, "redirect" if redirect else "player")
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


def _log_view(
    deps: ClipDeps, incident_id: str, viewer: Viewer | None, now: float, mode: str
) -> None:
    if deps.access_log is not None:
        who = viewer or Viewer()
        details = {**who.details(), "mode": mode}
        deps.access_log.record_access(incident_id, CLIP_VIEWED, who.actor, now, details)


def _start(deps: ClipDeps, stream_arn: str, at: float) -> float:
    """The start of the fragment holding ``at``; ``at`` itself if that cannot be found out."""
    if deps.fragments is None:
        return at
    try:
        return clip_start(deps.fragments, stream_arn, at)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        logger.info("Fragments not listed; clip starts at the pre-roll", extra={"code": code})
        return at


def _archived(deps: ClipDeps, incident: ClipIncident, *, redirect: bool) -> HttpReply | None:
    if deps.archive is None or deps.store is None:
        return None
    parts = deps.archive.load(incident.incident_id).parts
    if not parts:
        return None
    urls = [deps.store.presigned_url(p.key, deps.session_seconds) for p in parts]
    metrics.add_metric(name="ClipServedFromArchive", unit=MetricUnit.Count, value=1)
    if redirect:
        return HttpReply(status=302, headers={"Location": urls[0]})
    return archive_page(
        urls,
        incident_id=incident.incident_id,
        camera_id=incident.camera_id,
        site_id=incident.site_id,
        first=incident.first_seen.isoformat(),
        last=incident.last_seen.isoformat(),
    )


def _page(
    *, incident_id: str, camera_id: str, site_id: str, first: str, last: str,
    head: str, content: str, csp: list[str],
) -> HttpReply:  # fmt: skip
    """The page around a clip: the incident's details, strict headers (CSP from ``csp``)."""
    e = html.escape
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>facewatch incident {e(incident_id)}</title>
<style>{_STYLE}</style>{head}
</head><body>
<h1>Incident {e(incident_id)}</h1>
<dl><dt>Site</dt><dd>{e(site_id)}</dd><dt>Camera</dt><dd>{e(camera_id)}</dd>
<dt>First seen</dt><dd>{e(first)}</dd><dt>Last seen</dt><dd>{e(last)}</dd></dl>
{content}
</body></html>
"""
    always = ["default-src 'none'", f"style-src {_csp_hash(_STYLE)}", "base-uri 'none'"]
    policy = [*always, *csp, "form-action 'none'", "frame-ancestors 'none'"]
    return HttpReply(
        status=200,
        body=body,
        content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": "; ".join(policy)},
    )


def archive_page(
    mp4_urls: list[str], *, incident_id: str, camera_id: str, site_id: str, first: str, last: str
) -> HttpReply:
    """The archived clip: one plain <video> per MP4 part, no script at all."""
    hosts = sorted({f"{urlparse(u).scheme}://{urlparse(u).netloc}" for u in mp4_urls})
    e = html.escape
    videos = "\n".join(
        f'<video controls playsinline preload="metadata" src="{e(u)}"></video>' for u in mp4_urls
    )
    note = """<p id="note">Archived video (the camera stream no longer holds it). This page holds
private links that expire shortly; do not forward it.</p>"""
    return _page(
        incident_id=incident_id, camera_id=camera_id, site_id=site_id, first=first, last=last,
        head="", content=f"{videos}\n{note}", csp=[f"media-src {' '.join(hosts)}"],
    )  # fmt: skip


def player_page(
    hls_url: str, *, incident_id: str, camera_id: str, site_id: str, first: str, last: str
) -> HttpReply:
    origin = urlparse(hls_url)
    media_host = f"{origin.scheme}://{origin.netloc}"
    csp = [
        f"script-src {HLS_JS_URL} {_csp_hash(_SCRIPT)}",
        f"connect-src {media_host}",  # playlists and fragments (hls.js fetches them)
        f"media-src blob: {media_host}",  # MSE blobs, or Safari's native HLS
        "worker-src blob:",  # hls.js's transmuxing worker
        "img-src data:",
    ]
    e = html.escape
    head = f"""
<script src="{HLS_JS_URL}" integrity="{HLS_JS_SRI}" crossorigin="anonymous"></script>"""
    content = f"""<video id="clip" controls playsinline data-src="{e(hls_url)}"></video>
<p id="note">This page holds a private playback session; do not forward it.</p>
<script>{_SCRIPT}</script>"""
    return _page(
        incident_id=incident_id, camera_id=camera_id, site_id=site_id, first=first, last=last,
        head=head, content=content, csp=csp,
    )  # fmt: skip
