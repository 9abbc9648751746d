"""A smaller run of bench/local_load_bench.py in the suite: many cameras at once through the
local stack's real pipeline, as fast as it goes: zero loss, zero duplicates."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from facewatch.alerts.event import ALERT_DETAIL_TYPE
from facewatch.fleet.inventory import Camera, Inventory, Severity, Site
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.local.stack import LocalStack

pytestmark = pytest.mark.integration
CAMERAS, RATE, SECONDS = 50, 2, 10
VISITED = {f"load-cam-{i:03d}" for i in range(0, CAMERAS, 10)}  # 5 visitors


def test_many_cameras_lose_nothing_and_alert_once() -> None:
    with LocalStack() as stack:
        stack.subscribe_phones(["+821055501234"])
        # high severity: every alert texts as well (normal cameras alert in Slack only)
        cameras = [
            Camera(id=c, site="load", display_name=c, severity=Severity.HIGH)
            for c in (f"load-cam-{i:03d}" for i in range(CAMERAS))
        ]
        stack.load_registry(Inventory(sites=[Site(id="load", name="Load")], cameras=cameras))
        start = time.time() - SECONDS - 5
        records = []
        for camera in (f"load-cam-{i:03d}" for i in range(CAMERAS)):
            arn = stack.video_stream_arn(camera)
            for tick in range(SECONDS * RATE):
                faces = [FaceSpec(employee_id="EMP-00001", left=0.1)] if tick % 3 == 0 else []
                if camera in VISITED:
                    faces.append(FaceSpec())
                record = frame_record(camera, start + tick / RATE, faces, arn=arn)
                records.append((json.dumps(record).encode(), camera))
        stack.put_records(records)
        stack.pump()
        face_events = next(r for n, r in stack.runtimes.items() if n.endswith("face-events"))
        metrics = face_events.metrics()
        # Every record processed at least once; a batch the runner redelivers (a slow machine,
        # a version conflict between shards) is counted again, and the counts still reconcile.
        assert len(records) == CAMERAS * RATE * SECONDS
        assert metrics["RecordsProcessed"] >= len(records)
        assert metrics["RecordsIn"] == (
            metrics["RecordsProcessed"] + metrics["RecordsRejected"] + metrics["RecordsRetried"]
        )
        assert metrics["RecordsRejected"] == 0
        alerts = [e for e in stack.alert_events() if e.detail_type == ALERT_DETAIL_TYPE]
        assert sorted(e.detail["cameraId"] for e in alerts) == sorted(VISITED)
        slack = Counter(p.text().split("incident ")[-1].rstrip(")") for p in stack.slack.posts)
        sms = Counter(text.rsplit(" ", 1)[-1] for _, text in stack.sms_messages())
        assert len(slack) == len(sms) == len(VISITED)
        assert set(slack.values()) == set(sms.values()) == {1}
