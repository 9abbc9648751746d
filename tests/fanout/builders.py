"""Alert details, EventBridge envelopes and SQS events shaped as AWS delivers them."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "111122223333"
REGION = "ap-northeast-2"
STREAM_ARN = f"arn:aws:kinesisvideo:{REGION}:{ACCOUNT}:stream/seoul-hq-lobby-01/1764000000000"
SEOUL = {
    "siteId": "seoul-hq",
    "siteName": "Seoul HQ",
    "zone": "Lobby",
    "displayName": "Lobby entrance",
    "timeZone": "Asia/Seoul",
    "severity": "high",  # texts too (the scenario's lobby camera)
}


def alert_detail(
    incident_id: str = "INC-7Q2KX4MZ3B1A",
    *,
    location: dict[str, Any] | None = SEOUL,
    clip: bool = True,
    closest: bool = True,
    test: bool = False,
    detections: int = 5,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "schemaVersion": "1.0",
        "incidentId": incident_id,
        "cameraId": "seoul-hq-lobby-01",
        "streamArn": STREAM_ARN,
        "firstSeen": "2026-11-18T05:03:12.400Z",
        "lastSeen": "2026-11-18T05:03:54.400Z",
        "detections": detections,
        "bestFace": {
            "boundingBox": {"width": 0.08, "height": 0.14, "left": 0.41, "top": 0.22},
            "confidence": 99.53,
            "quality": {"brightness": 52.0, "sharpness": 88.0},
        },
        "closestEmployee": ({"employeeId": "EMP-10442", "similarity": 72.4} if closest else None),
        "clip": (
            {
                "url": "https://b-1234abcd.kinesisvideo.ap-northeast-2.amazonaws.com/hls/v1/"
                "getHLSMasterPlaylist.m3u8?SessionToken=CiA-example",
                "expiresAt": "2026-11-18T17:03:20.000Z",
                "start": "2026-11-18T05:03:07.400Z",
            }
            if clip
            else None
        ),
        "clipUnavailableReason": None if clip else "NoDataRetentionException",
        "location": location,
        "test": test,
    }
    return detail


def health_detail(state: str = "OFFLINE", **overrides: Any) -> dict[str, Any]:
    detail = {
        "cameraId": "seoul-hq-dock-01",
        "siteId": "seoul-hq",
        "state": state,
        "previousState": "ONLINE",
        "reason": "No fragments for 300 s (PutMedia stopped)",
        "at": "2026-11-18T05:10:00.000Z",
    }
    detail.update(overrides)
    return detail


def envelope(detail: dict[str, Any], detail_type: str = "Unknown Face Detected") -> dict[str, Any]:
    seed = json.dumps(detail, sort_keys=True).encode()
    return {
        "version": "0",
        "id": str(uuid.UUID(hashlib.md5(seed).hexdigest())),
        "detail-type": detail_type,
        "source": "facewatch",
        "account": ACCOUNT,
        "time": "2026-11-18T05:03:20Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def sqs_record(body: str, message_id: str, queue: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795410200000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1795410200100",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:facewatch-dev-{queue}",
        "awsRegion": REGION,
    }


def sqs_event(
    bodies: Sequence[dict[str, Any] | str], queue: str = "slack-alerts"
) -> dict[str, Any]:
    return {
        "Records": [
            sqs_record(
                body if isinstance(body, str) else json.dumps(body),
                f"00000000-0000-4000-8000-{index:012d}",
                queue,
            )
            for index, body in enumerate(bodies)
        ]
    }


@dataclass
class InMemoryOnce:
    """Fake of facewatch.alerts.fanout.Once (our interface): keys that completed."""

    done: set[str] = field(default_factory=set)

    def run(self, key: str, action: Callable[[], None]) -> bool:
        if key in self.done:
            return False
        action()
        self.done.add(key)
        return True

    def register(self, context: Any) -> None:
        return None


@dataclass
class FakeContext:
    """What run_notifier_batch and Powertools read from the Lambda context."""

    remaining_ms: int = 60_000
    function_name: str = "facewatch-test-slack-notifier"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:facewatch-test-slack-notifier"
    )
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
