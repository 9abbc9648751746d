"""A better snapshot when one comes: the Slack message's image follows the incident's best face.

The real pipeline and Slack notifier on moto (table, bucket, stream), GetImages through Stubber
(tests/fanout/snapshot_world.py), the local Slack Web API sink. A face that scores at least
BETTER_SNAPSHOT_MARGIN (1.5) times the one the shown snapshot was taken for gets one new
snapshot at its frame; anything less, a failure, an older item or a recognition-off site keeps
the snapshot, and the update goes out regardless.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from facewatch.alerts.event import AlertDetail
from facewatch.alerts.fanout import Outcome
from facewatch.alerts.slack.messages import Lifecycle, alert_message
from facewatch.alerts.snapshots import (
    RETENTION_TAG,
    SnapshotPolicy,
    snapshot_key,
)
from facewatch.alerts.view import ClipLinks, alert_view
from facewatch.detections.classification import ClassifiedFace, FaceClass
from facewatch.detections.incidents import CameraState, Detection, group, watermark_key
from facewatch.fleet.profiles import BUILTIN_PROFILES, snapshot_policy
from facewatch.timestamps import iso
from tests.fanout.builders import alert_detail
from tests.fanout.goldens import golden
from tests.fanout.snapshot_world import (
    BUCKET,
    CLEAR,
    CLEARER,
    INTERVAL,
    MARGINAL,
    T0,
    TABLE,
    World,
    at,
    image_of,
    jpeg,
    snapshot_world,
)

FIRST, BETTER = jpeg(1), jpeg(2)


@pytest.fixture
def world() -> Iterator[World]:
    with snapshot_world() as built:
        yield built


def alerted(world: World) -> None:
    """Two small faces at T0 and T0+1: the alert, posted with the first detection's frame."""
    world.expect_frame(0, FIRST)
    assert world.frames(0, 1) == ["Unknown Face Detected"]
    assert world.notify() == [Outcome.SENT]
    first = image_of(world.message.versions[0])
    assert first is not None and snapshot_key(world.incident_id, at(0)) in first["image_url"]


@pytest.mark.integration
def test_a_clearly_better_face_gets_one_new_snapshot_and_the_message_shows_it(
    world: World,
) -> None:
    alerted(world)
    world.now[0] = T0 + 5
    world.expect_frame(2, BETTER)  # GetImages at the better face's own frame
    assert world.frames(2, face=CLEAR) == ["Incident Updated"]
    assert world.notify() == [Outcome.SENT]
    first, second = (image_of(v) for v in world.message.versions)
    assert first is not None and second is not None
    assert snapshot_key(world.incident_id, at(2)) in second["image_url"]
    # the camera is not in the registry here: UTC
    assert second["title"]["text"] == "Clearest face so far, 11:06:42 UTC"
    assert "clearest face" in second["alt_text"]
    assert requests.get(second["image_url"], timeout=5).content == BETTER  # what Slack fetches
    assert requests.get(first["image_url"], timeout=5).content == FIRST  # the old version's
    item = world.item()
    assert item["slackSnapshotAt"]["S"] == iso(T0 + 2)
    assert item["bestFaceAt"]["S"] == iso(T0 + 2)
    assert world.get_images == [at(0), at(2)]

    world.now[0] = T0 + 16  # the same face again: the message grows, the snapshot stays
    assert world.frames(3, face=CLEAR) == ["Incident Updated"]
    assert world.notify() == [Outcome.SENT]
    third = image_of(world.message.versions[-1])
    assert third is not None and third["image_url"] == second["image_url"]
    assert "4 frames" in world.message.current.text()
    assert world.get_images == [at(0), at(2)]
    world.stubber.assert_no_pending_responses()


@pytest.mark.integration
def test_a_marginally_better_face_takes_no_snapshot(world: World) -> None:
    alerted(world)
    world.now[0] = T0 + 5
    assert world.frames(2, face=MARGINAL) == ["Incident Updated"]  # 1.38x: under the margin
    assert world.notify() == [Outcome.SENT]
    first, second = (image_of(v) for v in world.message.versions)
    assert first == second  # the same image, alt text and all
    assert "3 frames" in world.message.current.text()
    assert world.get_images == [at(0)]
    assert "slackSnapshotAt" not in world.item()


@pytest.mark.integration
def test_a_failed_get_images_keeps_the_old_snapshot_and_the_update_still_goes_out(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    alerted(world)
    caplog.clear()
    world.now[0] = T0 + 5
    world.expect_no_media(2)
    assert world.frames(2, face=CLEAR) == ["Incident Updated"]
    assert world.notify() == [Outcome.SENT]
    first, second = (image_of(v) for v in world.message.versions)
    assert first == second
    assert "3 frames" in world.message.current.text()
    assert "slackSnapshotAt" not in world.item()
    [warning] = [r for r in caplog.records if r.getMessage() == "better snapshot not taken"]
    assert warning.levelname == "WARNING"
    assert getattr(warning, "incident_id", None) == world.incident_id
    assert "NO_MEDIA" in str(getattr(warning, "reason", ""))
    logged = " ".join(str(vars(r)) for r in caplog.records)
    for face_data in ("ounding", "Landmarks", "/9j/", "X-Amz-Signature", "'width'"):
        assert face_data not in logged  # no box, no frame, no snapshot URL

    world.now[0] = T0 + 16  # the next claimed update tries the frame again, and gets it
    world.expect_frame(2, BETTER)
    assert world.frames(3) == ["Incident Updated"]
    assert world.notify() == [Outcome.SENT]
    third = image_of(world.message.versions[-1])
    assert third is not None and snapshot_key(world.incident_id, at(2)) in third["image_url"]
    world.stubber.assert_no_pending_responses()


@pytest.mark.integration
def test_a_get_images_error_never_fails_the_update(world: World) -> None:
    alerted(world)
    world.now[0] = T0 + 5
    world.stubber.add_client_error(
        "get_images", "ClientLimitExceededException", "slow down", http_status_code=400
    )
    assert world.frames(2, face=CLEAR) == ["Incident Updated"]
    assert world.notify() == [Outcome.SENT]
    assert len(world.message.versions) == 2
    assert image_of(world.message.versions[0]) == image_of(world.message.versions[1])


@pytest.mark.integration
def test_at_most_one_new_snapshot_per_message_per_interval(world: World) -> None:
    alerted(world)
    world.now[0] = T0 + 5
    world.expect_frame(2, BETTER)
    world.frames(2, face=CLEAR)
    world.notify()
    world.now[0] = T0 + 8  # a clearer face 3 s later: face_events holds its update back
    assert world.frames(4, face=CLEARER) == []
    assert world.threads.reconcile(world.incident_id, world.now[0]) == "throttled"
    world.now[0] = T0 + 16  # the ticker's minute: text up to date, no video reach, no snapshot
    assert world.ticker.reconcile(world.incident_id, world.now[0]) == "updated"
    latest = image_of(world.message.versions[-1])
    assert latest is not None and snapshot_key(world.incident_id, at(2)) in latest["image_url"]
    assert world.get_images == [at(0), at(2)]
    world.now[0] = T0 + 27  # the notifier's next claimed update takes it
    world.expect_frame(4, jpeg(3))
    assert world.threads.reconcile(world.incident_id, world.now[0]) == "updated"
    latest = image_of(world.message.versions[-1])
    assert latest is not None and snapshot_key(world.incident_id, at(4)) in latest["image_url"]
    times = world.message.changed_at[1:]  # the updates (the first version is the post)
    assert all(b - a >= INTERVAL for a, b in itertools.pairwise(times))
    world.stubber.assert_no_pending_responses()


@pytest.mark.integration
def test_an_item_without_the_best_face_time_keeps_its_snapshot() -> None:
    """Migrate-on-read: a best face written before its frame time was kept names no frame."""
    with snapshot_world() as world:
        alerted(world)
        world.now[0] = T0 + 5
        world.frames(2, face=CLEAR)  # the clear face, as an older face_events wrote it:
        _forget_frame_times(world)  # no frame time in the state (the item's is now stale)
        world.now[0] = T0 + 16
        assert world.frames(3) == ["Incident Updated"]  # a small face: the clear one stays best
        assert "bestFaceAt" not in world.item()  # removed, never the frame of another face
        world.notify()
        versions = world.message.versions
        assert image_of(versions[0]) == image_of(versions[-1])
        assert "4 frames" in world.message.current.text()
        assert world.get_images == [at(0)]
        world.stubber.assert_no_pending_responses()


def _forget_frame_times(world: World) -> None:
    def strip(text: str) -> str:
        data = json.loads(text)
        for incident in data.get("incidents", [data]):
            for face in ("best_face", "first_face"):
                incident[face].pop("frame_time", None)
        return json.dumps(data)

    ddb = world.dynamodb
    key = {"PK": {"S": "CAMERA#seoul-hq-lobby-01"}, "SK": {"S": "STATE"}}
    state = ddb.get_item(TableName=TABLE, Key=key)["Item"]["state"]["S"]
    ddb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":s": {"S": strip(state)}},
    )
    incident = {"PK": {"S": f"INCIDENT#{world.incident_id}"}, "SK": {"S": "INCIDENT"}}
    ddb.update_item(
        TableName=TABLE,
        Key=incident,
        UpdateExpression="SET incident = :i",
        ExpressionAttributeValues={":i": {"S": strip(world.item()["incident"]["S"])}},
    )


@pytest.mark.integration
def test_a_recognition_off_site_takes_no_snapshot_at_all() -> None:
    with snapshot_world(snapshot_policy(BUILTIN_PROFILES["recognition-off"])) as world:
        assert world.frames(0, 1) == ["Unknown Face Detected"]
        world.notify()
        world.now[0] = T0 + 5
        world.frames(2, face=CLEAR)
        assert world.notify() == [Outcome.SENT]
        assert [image_of(v) for v in world.message.versions] == [None, None]
        assert "no snapshot" in world.message.current.text()
        assert world.get_images == [] and world.object_keys() == []


@pytest.mark.integration
def test_the_better_snapshot_has_the_site_policy_blur_and_retention() -> None:
    with snapshot_world(SnapshotPolicy(blur_faces=True, retention_days=7)) as world:
        alerted(world)
        world.now[0] = T0 + 5
        world.expect_frame(2, BETTER)
        world.frames(2, face=CLEAR)
        world.notify()
        key = snapshot_key(world.incident_id, at(2))
        stored = world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert stored != BETTER  # re-encoded with the clear face's box pixelated
        tags = world.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
        assert tags == [{"Key": RETENTION_TAG, "Value": "7"}]


# ---- the image block ---------------------------------------------------------------------------
@pytest.mark.usefixtures("no_network")
def test_the_better_snapshot_image_block_golden_and_valid_block_kit() -> None:
    detail = AlertDetail.model_validate({**alert_detail(), "detections": 14})
    links = ClipLinks("https://fw.acme.io", lambda: b"test-signing-key", ttl_days=30)
    url = (
        "https://facewatch-dev-snapshots.s3.amazonaws.com/snapshots/INC-7Q2KX4MZ3B1A/"
        "20261118T050331.200Z.jpg?X-Amz-Signature=abc"
    )
    view = alert_view(detail, links.link_for(detail), url)
    when = detail.first_seen + timedelta(seconds=18.8)
    message = alert_message(view, Lifecycle(), snapshot_at=when)
    payload = {"text": message.text, "blocks": message.blocks}
    golden("state_better_snapshot", payload)
    [image] = [b for b in message.blocks if b["type"] == "image"]
    assert image["title"]["text"] == "Clearest face so far, 14:03:31 KST"
    parsed = Block.parse_all(message.blocks)
    assert [block.to_dict() for block in parsed] == message.blocks  # slack_sdk validates
    first = alert_message(view, Lifecycle())  # the alert's own snapshot: as before
    [image] = [b for b in first.blocks if b["type"] == "image"]
    assert "title" not in image and "first detection" in image["alt_text"]


# ---- the incident knows its best face's frame ------------------------------------------------
CAMERA = "lobby-01"
SHARD = watermark_key("arn:aws:kinesis:eu-west-1:111122223333:stream/d", "shardId-0")


def _detection(t: float, width: float, sequence: int) -> Detection:
    face = ClassifiedFace(FaceClass.UNKNOWN, 99.0, width, 0.2, 0.4, 0.3, 50.0, 80.0)
    return Detection(
        camera_id=CAMERA,
        stream_arn=f"arn:aws:kinesisvideo:eu-west-1:111122223333:stream/{CAMERA}/1",
        frame_time=t,
        frame_key=f"frag:{t}",
        shard_key=SHARD,
        sequence_number=str(sequence),
        face=face,
        closest=None,
    )


@given(
    frames=st.dictionaries(
        st.integers(min_value=0, max_value=60).map(lambda i: T0 + i * 5.0),
        st.sampled_from([0.05, 0.1, 0.15, 0.2, 0.3]),
        min_size=1,
        max_size=14,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=14), max_size=4),
    order=st.randoms(use_true_random=False),
)
@settings(max_examples=80, deadline=None, derandomize=True)
def test_each_incident_keeps_the_frame_time_of_its_best_face(
    frames: dict[float, float], cuts: list[int], order: random.Random
) -> None:
    """Whatever the batches and their order (merges included): an incident's best face has
    the top score of its frames, and its frame time is a frame with that face."""
    times = list(frames)
    order.shuffle(times)
    bounds = sorted({0, len(times), *(c for c in cuts if c < len(times))})
    state, sequence = CameraState(camera_id=CAMERA), 1
    for start, end in itertools.pairwise(bounds):
        batch = []
        for t in times[start:end]:
            batch.append(_detection(t, frames[t], sequence))
            sequence += 1
        state = group(state, batch, window_seconds=60, min_detections=2).state
    for incident in state.incidents:
        mine = {t: w for t, w in frames.items() if incident.first_seen <= t <= incident.last_seen}
        best_width = max(mine.values())
        assert incident.best_face.width == best_width
        assert incident.best_face.frame_time in mine
        assert mine[incident.best_face.frame_time] == best_width
        assert incident.first_face.frame_time == incident.first_seen
