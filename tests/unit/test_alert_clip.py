"""The alert's clip is the signed link: by default an alert spends none of the stream's HLS
sessions (KVS keeps few active sessions per stream and revokes the oldest)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from facewatch.detections.pipeline import Adapters, run_batch
from facewatch.settings import FaceEventsSettings
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.kinesis_events import kinesis_event
from tests.fakes import FakeClips, FakeMetrics, FakePublisher, FakeRejects, FakeStore

pytestmark = pytest.mark.usefixtures("no_network")
BASE = {"TABLE_NAME": "t", "EVENT_BUS_NAME": "b", "REJECTED_QUEUE_URL": "q"}
NOW = 1795000100.0


def alert(env: dict[str, str]) -> tuple[dict[str, Any], FakeClips]:
    settings = FaceEventsSettings.model_validate(BASE | env)
    clips, publisher = FakeClips(), FakePublisher()
    adapters = Adapters(
        store=FakeStore(),
        publisher=publisher,
        clips=clips,
        rejects=FakeRejects(),
        clock=lambda: NOW,
        metrics=FakeMetrics(),
    )
    records = [frame_record("cam-1", 100.0 + i, [FaceSpec()]) for i in range(2)]
    processor = BatchProcessor(EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    run_batch(kinesis_event(records), None, settings, adapters, processor)
    [event] = publisher.published
    return event.detail.model_dump(by_alias=True, mode="json"), clips


def test_by_default_an_alert_carries_no_hls_session() -> None:
    detail, clips = alert({})
    assert clips.calls == 0  # no GetHLSStreamingSessionURL at all
    assert detail["clip"] is None and detail["clipUnavailableReason"] is None


def test_an_hls_url_when_asked_for_is_short_lived() -> None:
    detail, clips = alert({"ALERT_HLS_URL": "true"})
    assert clips.calls == 1
    expires = detail["clip"]["expiresAt"]
    assert expires == "2026-11-18T11:13:20.000Z"  # NOW + 300 s, not 12 h
