"""How fast alerts are turned into Slack Block Kit (validated) and SMS text, on one core.

Run: .venv/bin/python bench/fanout_bench.py  (prints numbers; asserts nothing)
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from facewatch.alerts.event import (
    AlertDetail,
    BestFace,
    CameraLocation,
    ClosestEmployee,
    FaceBox,
    FaceQualityOut,
)
from facewatch.alerts.slack.messages import alert_message
from facewatch.alerts.sms.messages import sms_size, sms_text
from facewatch.alerts.view import ClipLinks, alert_view

N = 5_000


def detail(n: int) -> AlertDetail:
    first = datetime(2026, 11, 18, 5, 3, 12, tzinfo=UTC) + timedelta(seconds=n)
    return AlertDetail(
        incident_id=f"INC-BENCH{n:07d}",
        camera_id="seoul-hq-lobby-01",
        stream_arn="arn:aws:kinesisvideo:ap-northeast-2:111122223333:stream/seoul-hq-lobby-01/1",
        first_seen=first,
        last_seen=first + timedelta(seconds=42),
        detections=5,
        best_face=BestFace(
            bounding_box=FaceBox(width=0.08, height=0.14, left=0.41, top=0.22),
            confidence=99.5,
            quality=FaceQualityOut(brightness=52.0, sharpness=88.0),
        ),
        closest_employee=ClosestEmployee(employee_id="EMP-10442", similarity=72.4),
        location=CameraLocation(
            site_id="seoul-hq",
            site_name="Seoul HQ",
            zone="Lobby",
            display_name="Lobby entrance",
            time_zone="Asia/Seoul",
        ),
    )


def main() -> None:
    links = ClipLinks("https://fw.acme.io", lambda: b"bench-key", 30)
    details = [detail(n) for n in range(N)]
    started = time.perf_counter()
    for alert in details:
        alert_message(alert_view(alert, links.link_for(alert), "https://s3.example/x.jpg"))
    slack = N / (time.perf_counter() - started)
    started = time.perf_counter()
    parts = 0
    for alert in details:
        parts += sms_size(sms_text(alert_view(alert, links.link_for(alert)))).parts
    sms = N / (time.perf_counter() - started)
    print(f"slack block kit (validated): {slack:,.0f} alerts/s")
    print(f"sms text:                    {sms:,.0f} alerts/s ({parts / N:.2f} parts each)")


if __name__ == "__main__":
    main()
