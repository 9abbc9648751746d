"""The clip endpoint through the real handler, on moto KVS: valid 200, expired/tampered 403."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.stub import Stubber

from facewatch.audit.history import IncidentHistory
from facewatch.clips.hls import KvsClipProvider
from facewatch.clips.links import sign_clip_link
from facewatch.clips.player import HLS_JS_SRI, HLS_JS_URL, ClipDeps
from facewatch.detections.store import DynamoIncidentStore
from tests.conftest import load_event, load_function

from .conftest import REGION, T0, TABLE, incident_item, incident_state

pytestmark = pytest.mark.integration
KEY = b"test-clip-link-key"
NOW = T0 + 40 * 86400  # a month and more after the incident: the alert's KVS URL is long dead
ENV = {
    "TABLE_NAME": TABLE,
    # pragma: allowlist nextline secret
    "CLIP_LINK_KEY_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:link",
    "POWERTOOLS_METRICS_NAMESPACE": "FacewatchTest",
}


class _Context:
    function_name = "facewatch-test-clip-links"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:x"
    aws_request_id = "req-1"


@dataclass
class World:
    app: ModuleType
    deps: ClipDeps
    media_calls: list[dict[str, Any]]

    def get(self, incident_id: str, exp: int | str, sig: str, **extra: str) -> dict[str, Any]:
        event = load_event("clip_link.json")
        event["rawPath"] = f"/clips/{incident_id}"
        event["pathParameters"] = {"incidentId": incident_id}
        event["queryStringParameters"] = {"exp": str(exp), "sig": sig, **extra}
        result: dict[str, Any] = self.app.lambda_handler(event, _Context(), deps=self.deps)
        return result

    def signed(self, incident_id: str, expires: float, **extra: str) -> dict[str, Any]:
        query = parse_qs(
            urlparse(sign_clip_link("https://x", incident_id, int(expires), KEY)).query
        )
        return self.get(incident_id, query["exp"][0], query["sig"][0], **extra)


@pytest.fixture
def world(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    kvs = boto3.client("kinesisvideo", region_name=REGION)
    arn = kvs.create_stream(StreamName="hq-lobby-1", DataRetentionInHours=24 * 90)["StreamARN"]
    store = DynamoIncidentStore(dynamodb, TABLE, retention_days=400)
    incident = incident_state("inc-1", "hq-lobby-1", T0, T0 + 42).model_copy(
        update={"stream_arn": arn}
    )
    dynamodb.put_item(TableName=TABLE, Item=incident_item(store, incident, "hq"))
    calls: list[dict[str, Any]] = []

    def media_client(endpoint: str) -> Any:
        client = boto3.client(
            "kinesis-video-archived-media", region_name=REGION, endpoint_url=endpoint
        )
        client.meta.events.register(
            "provide-client-params.kinesis-video-archived-media.GetHLSStreamingSessionURL",
            lambda params, **_: calls.append(params),
        )
        return client

    deps = ClipDeps(
        history=IncidentHistory(dynamodb, TABLE),
        clips=KvsClipProvider(kvs, media_client),
        link_key=lambda: KEY,
        pre_roll_seconds=5,
        post_roll_seconds=5,
        session_seconds=900,
    )
    app = load_function("clip_links", ENV, monkeypatch)
    monkeypatch.setattr(app, "clock", lambda: NOW)
    yield World(app, deps, calls)


def test_valid_link_serves_a_player_with_a_fresh_on_demand_session(world: World) -> None:
    response = world.signed("inc-1", NOW + 3600)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/html")
    (call,) = world.media_calls
    assert call["PlaybackMode"] == "ON_DEMAND"
    assert call["Expires"] == 900
    selector = call["HLSFragmentSelector"]
    assert selector["FragmentSelectorType"] == "PRODUCER_TIMESTAMP"
    span = selector["TimestampRange"]
    assert span["StartTimestamp"].timestamp() == T0 - 5  # pre-roll
    assert span["EndTimestamp"].timestamp() == T0 + 42 + 5  # last seen + post-roll
    page = response["body"]
    url = re.search(r'data-src="([^"]+)"', page)
    assert url and url[1].startswith("https://")
    assert f'src="{HLS_JS_URL}" integrity="{HLS_JS_SRI}" crossorigin="anonymous"' in page


def test_player_page_headers_are_strict(world: World) -> None:
    response = world.signed("inc-1", NOW + 3600)
    headers = response["headers"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"].startswith("no-store")
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp
    media_host = urlparse(re.search(r'data-src="([^"]+)"', response["body"])[1])  # type: ignore[index]
    assert f"connect-src https://{media_host.netloc}" in csp
    # The inline script is allowed by its hash, and only that script.
    script = re.search(r"<script>(.*?)</script>", response["body"], re.S)
    assert script is not None
    digest = b64encode(hashlib.sha256(script[1].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp


def test_redirect_mode_answers_302_to_the_session_url(world: World) -> None:
    response = world.signed("inc-1", NOW + 3600, redirect="1")
    assert response["statusCode"] == 302
    assert response["headers"]["Location"].startswith("https://")
    assert response["headers"]["Referrer-Policy"] == "no-referrer"


def test_expired_link_is_403_and_makes_no_session(world: World) -> None:
    response = world.signed("inc-1", NOW - 1)
    assert response["statusCode"] == 403
    assert world.media_calls == []


def test_tampered_links_are_403(world: World) -> None:
    good = parse_qs(urlparse(sign_clip_link("https://x", "inc-1", int(NOW + 3600), KEY)).query)
    exp, sig = good["exp"][0], good["sig"][0]
    assert world.get("inc-1", int(exp) + 86400, sig)["statusCode"] == 403  # longer life
    assert world.get("inc-1", exp, sig[:-1] + ("0" if sig[-1] != "0" else "1"))["statusCode"] == 403
    assert world.get("inc-2", exp, sig)["statusCode"] == 403  # another incident
    assert world.get("inc-1", "soon", sig)["statusCode"] == 403
    assert world.media_calls == []


def test_link_to_an_expired_incident_is_404(world: World) -> None:
    assert world.signed("inc-gone", NOW + 3600)["statusCode"] == 404


def test_video_past_the_stream_retention_is_410(world: World) -> None:
    media = boto3.client(
        "kinesis-video-archived-media", region_name=REGION, endpoint_url="https://b-1.example"
    )
    stubber = Stubber(media)
    stubber.add_client_error(
        "get_hls_streaming_session_url",
        service_error_code="ResourceNotFoundException",
        service_message="No fragments found in the stream for the streaming request.",
        http_status_code=404,
    )
    kvs = boto3.client("kinesisvideo", region_name=REGION)
    deps = ClipDeps(
        history=world.deps.history,
        clips=KvsClipProvider(kvs, lambda _endpoint: media),
        link_key=lambda: KEY,
    )
    world.deps = deps
    with stubber:
        response = world.signed("inc-1", NOW + 3600)
    assert response["statusCode"] == 410


def test_non_ascii_signature_is_a_bad_signature() -> None:
    import pytest as _pytest  # noqa: PLC0415

    from facewatch.clips.links import ClipLinkError, verify_clip_link  # noqa: PLC0415

    with _pytest.raises(ClipLinkError, match="bad signature"):
        verify_clip_link("INC-1", "9999999999", "sig\u00e9", b"key", now=0)


def test_every_clip_view_is_in_the_incident_trail_with_who_and_when(
    world: World, dynamodb: Any
) -> None:
    history = IncidentHistory(dynamodb, TABLE)
    world.deps = dataclasses.replace(world.deps, access_log=history)
    assert world.signed("inc-1", NOW + 3600)["statusCode"] == 200
    assert world.signed("inc-1", NOW + 3600, redirect="1")["statusCode"] == 302
    assert world.signed("inc-1", NOW - 1)["statusCode"] == 403  # refused: not a view
    views = [t for t in history.trail("inc-1") if t.kind == "clip-viewed"]
    # both at NOW: two views in one millisecond are both kept (a random suffix keeps them apart)
    assert sorted(v.details["mode"] for v in views) == ["player", "redirect"]
    assert all(v.at.timestamp() == NOW and v.actor == "clip-link" for v in views)
    assert all(v.details["sourceIp"] for v in views)  # from the API Gateway request context
    record = history.get("inc-1")
    items = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues={":pk": {"S": "INCIDENT#inc-1"}, ":sk": {"S": "EVENT#"}},
    )["Items"]
    assert record is not None
    assert {int(i["expiresAt"]["N"]) for i in items if "clip-viewed" in i["SK"]["S"]} == {
        record.expires_at
    }
