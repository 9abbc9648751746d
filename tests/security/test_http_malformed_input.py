"""Finding 4: both HTTP handlers answer 4xx to every malformed or unauthenticated request.

Examples from the review first (each was a 500), then a hypothesis fuzz over both handlers:
no 5xx, and nothing changes (no table item, no recorded click, no message, no HLS session).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facewatch.audit.history import IncidentHistory
from facewatch.clips.hls import ClipLink
from facewatch.clips.player import ClipDeps
from tests.audit.conftest import TABLE
from tests.conftest import load_event, load_function
from tests.slack_world import Context, World, signed

from .conftest import NOW, table_items

pytestmark = pytest.mark.integration
FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SLACK_4XX = {400, 401, 403, 413}


def _with(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    headers = {**event["headers"], **changes.pop("headers", {})}
    return {**event, **changes, "headers": headers}


@pytest.mark.parametrize(
    "changes",
    [
        {"headers": {"x-slack-request-timestamp": "²"}},  # isdigit() but not int()
        {"headers": {"x-slack-request-timestamp": "1" * 4301}},  # over int()'s digit limit
        {"headers": {"x-slack-request-timestamp": "١٧٧٢٣٢٣٣٨٠"}},  # Arabic-Indic digits
        {"headers": {"x-slack-signature": "v0=" + "é" * 64}},  # compare_digest: TypeError
        {"body": base64.b64encode(b"payload=\xff\xfe").decode(), "isBase64Encoded": True},
        {"body": "not base64 at all!", "isBase64Encoded": True},
    ],
    ids=["superscript", "4301-digits", "arabic-digits", "non-ascii-sig", "bad-utf8", "not-b64"],
)
def test_review_examples_are_4xx_not_500(
    world: World, dynamodb: Any, changes: dict[str, Any]
) -> None:
    before = table_items(dynamodb)
    response = world.call(_with(signed("acknowledge", NOW), **changes))
    assert response["statusCode"] in (400, 401)
    assert table_items(dynamodb) == before and world.recorded() == 0


_text = st.text(st.characters(codec="utf-8"), max_size=80)
_header_value = st.one_of(
    _text,
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["", "²", "1" * 4301, "v0=" + "0" * 64, "v0=" + "é" * 64, str(int(NOW))]),
)


@FUZZ
@given(
    timestamp=st.none() | _header_value,
    signature=st.none() | _header_value,
    body=st.one_of(_text, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
    base64_flag=st.booleans(),
    encode=st.booleans(),
)
def test_fuzz_slack_front_door_never_5xx_and_changes_nothing(
    world: World,
    dynamodb: Any,
    timestamp: str | None,
    signature: str | None,
    body: str,
    base64_flag: bool,
    encode: bool,
) -> None:
    event = load_event("slack_actions_acknowledge.json")
    headers = {k: v for k, v in event["headers"].items() if not k.startswith("x-slack")}
    if timestamp is not None:
        headers["x-slack-request-timestamp"] = timestamp
    if signature is not None:
        headers["x-slack-signature"] = signature
    if encode:
        body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    before = table_items(dynamodb)
    response = world.call(
        {**event, "headers": headers, "body": body, "isBase64Encoded": base64_flag}
    )
    assert response["statusCode"] in SLACK_4XX
    assert table_items(dynamodb) == before
    assert world.recorded() == 0 and world.responder.messages == []
    assert world.publisher.published == [] and world.escalation.sent == []


# ---- the clip endpoint ------------------------------------------------------------------------
@dataclass
class _CountingClips:
    calls: list[str] = field(default_factory=list)

    def hls_url(self, stream_arn: str, start: float, end: float | None, **_: Any) -> ClipLink:
        self.calls.append(stream_arn)
        raise AssertionError("an unauthenticated request reached KVS")


@dataclass
class ClipWorld:
    app: ModuleType
    deps: ClipDeps
    clips: _CountingClips


@pytest.fixture
def clip_world(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClipWorld]:
    clips = _CountingClips()
    deps = ClipDeps(history=IncidentHistory(dynamodb, TABLE), clips=clips, link_key=lambda: b"k")
    env = {
        "TABLE_NAME": TABLE,
        # pragma: allowlist nextline secret
        "CLIP_LINK_KEY_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-2:1:secret:link",
        "POWERTOOLS_METRICS_NAMESPACE": "FacewatchTest",
    }
    app = load_function("clip_links", env, monkeypatch)
    monkeypatch.setattr(app, "clock", lambda: NOW)
    yield ClipWorld(app, deps, clips)


@FUZZ
@given(
    incident_id=_text.filter(lambda s: s and "/" not in s),
    query=st.dictionaries(st.sampled_from(["exp", "sig", "redirect"]), _header_value, max_size=3),
)
def test_fuzz_clip_links_never_5xx_and_never_reach_kvs(
    clip_world: ClipWorld, incident_id: str, query: dict[str, str]
) -> None:
    event = load_event("clip_link.json")
    event["rawPath"] = f"/clips/{incident_id}"
    event["requestContext"]["http"]["path"] = event["rawPath"]
    event["pathParameters"] = {"incidentId": incident_id}
    event["queryStringParameters"] = query or None
    response = clip_world.app.lambda_handler(event, Context(), deps=clip_world.deps)
    assert 400 <= response["statusCode"] < 500
    assert clip_world.clips.calls == []
