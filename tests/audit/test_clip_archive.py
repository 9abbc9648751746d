"""Clips true to KVS: fragment-aligned starts (ListFragments), the MP4 archive (GetClip -> S3),
the clip endpoint after the stream's retention, and alerts that spend no HLS session.

KVS calls go through botocore's Stubber (moto has no ListFragments, and its GetClip returns a
placeholder), so every request is checked against the real service model; S3, DynamoDB and SQS
are moto. The stubbed GetClip also refuses what KVS refuses (end not after start, over 24 h).
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from facewatch.audit.history import IncidentHistory, IncidentRecord
from facewatch.clips.archive import (
    MAX_PART_FRAGMENTS,
    ArchiveTiming,
    ClipArchiver,
    DynamoArchiveLedger,
    KvsClips,
    S3ObjectStore,
    SqsRechecks,
    _parts,
    archive_once,
)
from facewatch.clips.fragments import Fragment, KvsFragments, clip_start, containing
from facewatch.clips.hls import KvsClipProvider
from facewatch.clips.links import sign_clip_link
from facewatch.clips.player import ClipDeps, serve_clip
from facewatch.detections.store import DynamoIncidentStore
from facewatch.timestamps import to_datetime

from .conftest import REGION, T0, TABLE, incident_item, incident_state, stream_arn

pytestmark = pytest.mark.integration
BUCKET = "facewatch-test-snapshots"
ARN = stream_arn("hq-lobby-1")
ENDPOINT = "https://b-1234.kinesisvideo.ap-northeast-2.amazonaws.com"
KEY = b"test-clip-link-key"
FRAGMENT = 2.0  # seconds: a key frame every 2 s


def fragments_between(first: float, last: float, length: float = FRAGMENT) -> list[Fragment]:
    count = round((last - first) / length) + 1
    return [
        Fragment(number=str(91343852333181432392682062600000 + i), start=first + i * length,
                 length=length, size=400_000)
        for i in range(count)
    ]  # fmt: skip


def listed(fragments: list[Fragment]) -> dict[str, Any]:
    """A ListFragments page: fragments in no particular order, as KVS returns them."""
    items = [
        {
            "FragmentNumber": f.number,
            "FragmentSizeInBytes": f.size,
            "ProducerTimestamp": to_datetime(f.start),
            "ServerTimestamp": to_datetime(f.start + 0.4),
            "FragmentLengthInMilliseconds": int(f.length * 1000),
        }
        for f in fragments
    ]
    random.Random(len(items)).shuffle(items)
    return {"Fragments": items}


def list_request(start: float, end: float) -> dict[str, Any]:
    return {
        "StreamARN": ARN,
        "MaxResults": 1000,
        "FragmentSelector": {
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {
                "StartTimestamp": to_datetime(start),
                "EndTimestamp": to_datetime(end),
            },
        },
    }


@dataclass
class Kvs:
    """Stubbed kinesisvideo (GetDataEndpoint) and archived-media clients."""

    control: Any
    media: Any
    control_stub: Stubber
    media_stub: Stubber
    clips: list[tuple[float, float]] = field(default_factory=list)

    def endpoint(self, api: str) -> None:
        self.control_stub.add_response(
            "get_data_endpoint", {"DataEndpoint": ENDPOINT}, {"StreamARN": ARN, "APIName": api}
        )

    def expect_list(self, start: float, end: float, fragments: list[Fragment]) -> None:
        self.media_stub.add_response("list_fragments", listed(fragments), list_request(start, end))

    def expect_clip(self, start: float, end: float, body: bytes) -> None:
        # KVS: the end must be after the start and within 24 h of it
        assert start < end <= start + 24 * 3600
        self.clips.append((start, end))
        self.media_stub.add_response(
            "get_clip",
            {"ContentType": "video/mp4", "Payload": StreamingBody(io.BytesIO(body), len(body))},
            {
                "StreamARN": ARN,
                "ClipFragmentSelector": {
                    "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                    "TimestampRange": {
                        "StartTimestamp": to_datetime(start),
                        "EndTimestamp": to_datetime(end),
                    },
                },
            },
        )


@pytest.fixture
def kvs() -> Iterator[Kvs]:
    control = boto3.client("kinesisvideo", region_name=REGION)
    media = boto3.client("kinesis-video-archived-media", region_name=REGION, endpoint_url=ENDPOINT)
    with Stubber(control) as control_stub, Stubber(media) as media_stub:
        yield Kvs(control, media, control_stub, media_stub)
        control_stub.assert_no_pending_responses()
        media_stub.assert_no_pending_responses()


@pytest.fixture
def table(dynamodb: Any) -> Any:
    store = DynamoIncidentStore(dynamodb, TABLE, retention_days=400)
    incident = incident_state("inc-1", "hq-lobby-1", T0, T0 + 12)
    dynamodb.put_item(TableName=TABLE, Item=incident_item(store, incident, "hq"))
    return dynamodb


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


def record(table: Any) -> IncidentRecord:
    found = IncidentHistory(table, TABLE).get("inc-1")
    assert found is not None
    return found


def archiver(kvs: Kvs, table: Any, s3: Any) -> ClipArchiver:
    return ClipArchiver(
        KvsFragments(kvs.control, lambda _url: kvs.media),
        KvsClips(kvs.control, lambda _url: kvs.media),
        S3ObjectStore(s3, BUCKET),
        DynamoArchiveLedger(table, TABLE),
        ArchiveTiming(pre_roll_seconds=5, post_roll_seconds=5, window_seconds=60),
    )


# ---- item 8: the clip starts at the fragment holding the pre-roll point --------------------------
def test_containing_picks_the_fragment_that_holds_the_instant() -> None:
    frags = fragments_between(T0 - 20, T0 + 10, length=4.0)  # starts ... T0-8, T0-4, T0 ...
    assert containing(frags, T0 - 5) == frags[3]  # [T0-8, T0-4)
    assert containing(frags, T0 - 4) == frags[4]  # a fragment boundary belongs to the next
    gap = [f for f in frags if f.start != T0 - 8]
    assert containing(gap, T0 - 5) is None  # no video there: nothing to move back to


def test_the_player_starts_hls_at_the_fragment_holding_the_pre_roll(kvs: Kvs, table: Any) -> None:
    pre_roll = T0 - 5
    kvs.endpoint("LIST_FRAGMENTS")
    # 10 s fragments: asking KVS for T0-5 would start at T0 itself, after the first detection
    kvs.expect_list(pre_roll - 30, pre_roll, fragments_between(T0 - 30, T0 - 10, length=10.0))
    kvs.endpoint("GET_HLS_STREAMING_SESSION_URL")
    kvs.media_stub.add_response(
        "get_hls_streaming_session_url",
        {"HLSStreamingSessionURL": f"{ENDPOINT}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=x"},
        {
            "StreamARN": ARN,
            "PlaybackMode": "ON_DEMAND",
            "HLSFragmentSelector": {
                "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                "TimestampRange": {
                    "StartTimestamp": to_datetime(T0 - 10),
                    "EndTimestamp": to_datetime(T0 + 12 + 5),
                },
            },
            "Expires": 900,
        },
    )
    deps = ClipDeps(
        history=IncidentHistory(table, TABLE),
        clips=KvsClipProvider(kvs.control, lambda _url: kvs.media),
        link_key=lambda: KEY,
        fragments=KvsFragments(kvs.control, lambda _url: kvs.media),
    )
    reply = _view(deps, now=T0 + 3600)
    assert reply.status == 200


def test_list_fragments_pages_are_all_read(kvs: Kvs) -> None:
    frags = fragments_between(T0 - 30, T0, length=1.0)
    kvs.endpoint("LIST_FRAGMENTS")
    first = listed(frags[:20]) | {"NextToken": "page-2"}
    kvs.media_stub.add_response("list_fragments", first, list_request(T0 - 34.5, T0 - 4.5))
    kvs.media_stub.add_response(
        "list_fragments",
        listed(frags[20:]),
        list_request(T0 - 34.5, T0 - 4.5) | {"NextToken": "page-2"},
    )
    source = KvsFragments(kvs.control, lambda _url: kvs.media)
    assert clip_start(source, ARN, T0 - 4.5) == T0 - 5


# ---- item 6: the archive -----------------------------------------------------------------------
def test_an_alert_archives_its_clip_and_the_archive_grows_until_the_visit_ends(
    kvs: Kvs, table: Any, s3: Any
) -> None:
    video = fragments_between(T0 - 12, T0 + 60)  # a fragment every 2 s
    now = T0 + 20  # the alert: first seen T0, last seen T0 + 12
    kvs.endpoint("LIST_FRAGMENTS")
    kvs.expect_list(T0 - 5 - 30, T0 + 10, [f for f in video if f.start <= T0 + 10])
    kvs.endpoint("GET_CLIP")
    kvs.expect_clip(T0 - 6, T0 + 10.001, b"mp4-part-0")  # T0-6 holds the pre-roll point T0-5
    clips = archiver(kvs, table, s3)  # one container: endpoints fetched once per stream and API
    first = clips.archive(record(table), now)
    assert [p.key for p in first.added] == ["clips/inc-1/000.mp4"]
    assert first.added[0].fragments == 9
    assert first.recheck_in == pytest.approx(T0 + 12 + 5 + 60 - now)
    body = s3.get_object(Bucket=BUCKET, Key="clips/inc-1/000.mp4")
    assert body["Body"].read() == b"mp4-part-0" and body["ContentType"] == "video/mp4"
    assert body["ServerSideEncryption"] == "aws:kms"

    # the visit went on to T0 + 30; the next look, after it ended, adds only the new fragments
    table.update_item(
        TableName=TABLE,
        Key={"PK": {"S": "INCIDENT#inc-1"}, "SK": {"S": "INCIDENT"}},
        UpdateExpression="SET lastSeen = :l",
        ExpressionAttributeValues={":l": {"S": "2026-03-01T00:00:30.000Z"}},
    )
    later = T0 + 100
    kvs.expect_list(T0 + 10, T0 + 35, [f for f in video if T0 + 10 <= f.start <= T0 + 35])
    kvs.expect_clip(T0 + 12, T0 + 34.001, b"mp4-part-1")
    second = clips.archive(record(table), later)
    assert [p.key for p in second.added] == ["clips/inc-1/001.mp4"]
    assert second.recheck_in is None  # quiet for the window: done

    archived = DynamoArchiveLedger(table, TABLE).load("inc-1")
    assert [(p.start, p.end) for p in archived.parts] == [(T0 - 6, T0 + 12), (T0 + 12, T0 + 36)]
    trail = [e for e in IncidentHistory(table, TABLE).trail("inc-1") if e.kind == "clip-archived"]
    assert [e.details["keys"] for e in trail] == [["clips/inc-1/000.mp4"], ["clips/inc-1/001.mp4"]]

    # nothing new: no GetClip (the stubber would refuse an unexpected call)
    kvs.expect_list(T0 + 34, T0 + 35, [f for f in video if T0 + 34 <= f.start <= T0 + 35])
    third = clips.archive(record(table), later + 60)
    assert third.added == [] and third.recheck_in is None


def test_parts_respect_getclips_200_fragment_and_size_limits() -> None:
    many = fragments_between(T0, T0 + 449 * FRAGMENT)
    assert [len(p) for p in _parts(many)] == [MAX_PART_FRAGMENTS, MAX_PART_FRAGMENTS, 50]
    big = [Fragment(str(i), T0 + i, 1.0, 40 * 1024 * 1024) for i in range(5)]
    assert [len(p) for p in _parts(big)] == [2, 2, 1]  # 90 MB a part, under GetClip's 100 MB


@pytest.fixture
def queue(aws: None) -> str:
    url: str = boto3.client("sqs", region_name=REGION).create_queue(QueueName="archive")["QueueUrl"]
    return url


def test_archive_once_schedules_the_next_look_on_its_queue(
    kvs: Kvs, table: Any, s3: Any, queue: str
) -> None:
    kvs.endpoint("LIST_FRAGMENTS")
    kvs.expect_list(T0 - 35, T0 + 10, [])  # fragments not listed yet: nothing to copy
    sqs = boto3.client("sqs", region_name=REGION)
    outcome = archive_once(
        "inc-1", IncidentHistory(table, TABLE), archiver(kvs, table, s3),
        SqsRechecks(sqs, queue), T0 + 20,
    )  # fmt: skip
    assert outcome is not None and outcome.added == []
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_video_gone_before_archiving_is_dropped_not_retried(
    kvs: Kvs, table: Any, s3: Any, queue: str
) -> None:
    kvs.endpoint("LIST_FRAGMENTS")
    kvs.media_stub.add_client_error(
        "list_fragments", service_error_code="ResourceNotFoundException", http_status_code=404
    )
    sqs = boto3.client("sqs", region_name=REGION)
    assert archive_once(
        "inc-1", IncidentHistory(table, TABLE), archiver(kvs, table, s3),
        SqsRechecks(sqs, queue), T0 + 20,
    ) is None  # fmt: skip


def test_a_throttled_getclip_is_retried(kvs: Kvs, table: Any, s3: Any, queue: str) -> None:
    kvs.endpoint("LIST_FRAGMENTS")
    kvs.expect_list(T0 - 35, T0 + 10, fragments_between(T0 - 6, T0 + 10))
    kvs.endpoint("GET_CLIP")
    kvs.media_stub.add_client_error(
        "get_clip", service_error_code="ClientLimitExceededException", http_status_code=400
    )
    sqs = boto3.client("sqs", region_name=REGION)
    with pytest.raises(Exception, match="ClientLimitExceeded"):
        archive_once(
            "inc-1", IncidentHistory(table, TABLE), archiver(kvs, table, s3),
            SqsRechecks(sqs, queue), T0 + 20,
        )  # fmt: skip
    assert DynamoArchiveLedger(table, TABLE).load("inc-1").parts == ()


# ---- the clip endpoint after KVS retention -----------------------------------------------------
def _view(deps: ClipDeps, now: float, redirect: bool = False) -> Any:
    expires = int(now + 3600)
    sig = sign_clip_link("https://x", "inc-1", expires, KEY).rsplit("sig=", 1)[1]
    return serve_clip("inc-1", str(expires), sig, redirect=redirect, deps=deps, now=now)


def _gone(kvs: Kvs) -> None:
    kvs.endpoint("GET_HLS_STREAMING_SESSION_URL")
    kvs.media_stub.add_client_error(
        "get_hls_streaming_session_url",
        service_error_code="ResourceNotFoundException",
        service_message="No fragments found in the stream for the streaming request.",
        http_status_code=404,
        expected_params={"StreamARN": ARN, "PlaybackMode": "ON_DEMAND",
                         "HLSFragmentSelector": ANY, "Expires": 900},
    )  # fmt: skip


def test_after_retention_the_endpoint_serves_the_archived_mp4(
    kvs: Kvs, table: Any, s3: Any
) -> None:
    kvs.endpoint("LIST_FRAGMENTS")
    kvs.expect_list(T0 - 35, T0 + 10, fragments_between(T0 - 6, T0 + 10))
    kvs.endpoint("GET_CLIP")
    kvs.expect_clip(T0 - 6, T0 + 10.001, b"mp4")
    archiver(kvs, table, s3).archive(record(table), T0 + 20)
    _gone(kvs)
    deps = ClipDeps(
        history=IncidentHistory(table, TABLE),
        clips=KvsClipProvider(kvs.control, lambda _url: kvs.media),
        link_key=lambda: KEY,
        archive=DynamoArchiveLedger(table, TABLE),
        store=S3ObjectStore(s3, BUCKET),
    )
    reply = _view(deps, now=T0 + 40 * 86400)  # a month on: KVS has dropped the video
    assert reply.status == 200
    assert 'src="https://' in reply.body and "clips/inc-1/000.mp4" in reply.body
    assert "X-Amz-Expires=900" in reply.body  # as short-lived as an HLS session
    assert "media-src https://" in reply.headers["Content-Security-Policy"]
    assert "<script" not in reply.body


def test_without_an_archive_the_gone_video_is_410(kvs: Kvs, table: Any, s3: Any) -> None:
    _gone(kvs)
    deps = ClipDeps(
        history=IncidentHistory(table, TABLE),
        clips=KvsClipProvider(kvs.control, lambda _url: kvs.media),
        link_key=lambda: KEY,
        archive=DynamoArchiveLedger(table, TABLE),
        store=S3ObjectStore(s3, BUCKET),
    )
    assert _view(deps, now=T0 + 40 * 86400).status == 410


def test_the_archiver_handler_takes_alert_events_and_its_own_rechecks(
    kvs: Kvs, table: Any, s3: Any, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import load_function  # noqa: PLC0415

    env = {"TABLE_NAME": TABLE, "ARCHIVE_BUCKET_NAME": BUCKET, "ARCHIVE_QUEUE_URL": queue}
    app = load_function("clip_archiver", env | {"POWERTOOLS_METRICS_NAMESPACE": "T"}, monkeypatch)
    monkeypatch.setattr(app, "clock", lambda: T0 + 20)
    kvs.endpoint("LIST_FRAGMENTS")
    for _ in range(2):
        kvs.expect_list(T0 - 35, T0 + 10, [])
    alert = {"detail-type": "Unknown Face Detected", "detail": {"incidentId": "inc-1"}}
    records = [
        {"messageId": str(i), "receiptHandle": "r", "body": json.dumps(body),
         "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
         "eventSourceARN": "arn:aws:sqs:ap-northeast-2:123456789012:archive",
         "awsRegion": REGION}
        for i, body in enumerate([alert, {"incidentId": "inc-1"}])
    ]  # fmt: skip
    deps = (IncidentHistory(table, TABLE), archiver(kvs, table, s3), SqsRechecks(
        boto3.client("sqs", region_name=REGION), queue))  # fmt: skip

    class Context:
        function_name = "clip-archiver"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:x"
        aws_request_id = "req-1"

    response = app.lambda_handler({"Records": records}, Context(), deps=deps)
    assert response == {"batchItemFailures": []}
