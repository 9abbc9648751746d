from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from facewatch_tools.proxy.health import HealthBoard
from facewatch_tools.proxy.heartbeat import HeartbeatPublisher

pytestmark = pytest.mark.integration
AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="eu-west-1")


def _board() -> HealthBoard:
    board = HealthBoard("hq")
    for camera_id in ("cam-1", "cam-2"):
        board.add(camera_id, "rtsp://x/y")
    board.frame("cam-1", 2500)
    return board


def _values(client: Any, metric: str, dimensions: list[dict[str, str]], stat: str = "Sum") -> float:
    result = client.get_metric_statistics(
        Namespace="Facewatch/Proxy", MetricName=metric, Dimensions=dimensions,
        StartTime=datetime(2026, 11, 25, 11, 0, tzinfo=UTC),
        EndTime=datetime(2026, 11, 25, 13, 0, tzinfo=UTC), Period=3600, Statistics=[stat],
    )  # fmt: skip
    return float(sum(float(p[stat]) for p in result["Datapoints"]))


def test_heartbeat_publishes_site_and_camera_metrics(cloudwatch: Any) -> None:
    board = _board()
    publisher = HeartbeatPublisher(cloudwatch, "hq", board.snapshot, now=lambda: AT)
    assert publisher.publish()
    site = [{"Name": "Site", "Value": "hq"}]
    cam1 = [*site, {"Name": "CameraId", "Value": "cam-1"}]
    cam2 = [*site, {"Name": "CameraId", "Value": "cam-2"}]
    assert _values(cloudwatch, "ProxyHeartbeat", site) == 1
    assert _values(cloudwatch, "CamerasDown", site) == 1
    assert _values(cloudwatch, "CameraUp", cam1) == 1
    assert _values(cloudwatch, "CameraUp", cam2) == 0
    assert _values(cloudwatch, "CameraBitrate", cam1) == 2500 * 8 / board.window
    names = {
        m["MetricName"] for m in cloudwatch.list_metrics(Namespace="Facewatch/Proxy")["Metrics"]
    }
    assert names == {"ProxyHeartbeat", "CamerasDown", "CameraUp", "CameraBitrate", "CameraRestarts"}


def test_restarts_are_sent_as_deltas_and_not_lost_when_a_beat_fails() -> None:
    board = _board()
    client = boto3.client("cloudwatch", region_name="eu-west-1", aws_access_key_id="x",
                          aws_secret_access_key="y")  # fmt: skip
    publisher = HeartbeatPublisher(client, "hq", board.snapshot, now=lambda: AT)

    def restarts_sent(params: dict[str, Any]) -> float:
        return float(next(
            d["Value"] for d in params["MetricData"]
            if d["MetricName"] == "CameraRestarts" and d["Dimensions"][1]["Value"] == "cam-2"
        ))  # fmt: skip

    sent: list[float] = []
    with Stubber(client) as stub:
        board.ended("cam-2", "lost", restarting=True)
        board.ended("cam-2", "lost", restarting=True)
        stub.add_client_error("put_metric_data", "ThrottlingException", http_status_code=400)
        assert not publisher.publish()  # failed beat: the two restarts are kept for the next
        stub.add_response("put_metric_data", {})
        data = publisher.metric_data(board.snapshot())
        sent.append(restarts_sent({"MetricData": data}))
        assert publisher.publish()
        board.ended("cam-2", "lost", restarting=True)
        sent.append(restarts_sent({"MetricData": publisher.metric_data(board.snapshot())}))
        stub.assert_no_pending_responses()
    assert sent == [2, 1]


def test_large_sites_are_sent_in_chunks_of_at_most_1000(cloudwatch: Any) -> None:
    board = HealthBoard("hq")
    for n in range(400):  # 2 + 3 * 400 = 1202 items
        board.add(f"cam-{n}", "rtsp://x/y")
    calls: list[int] = []
    original = cloudwatch.put_metric_data

    def counting(**kwargs: Any) -> Any:
        calls.append(len(kwargs["MetricData"]))
        return original(**kwargs)

    cloudwatch.put_metric_data = counting
    assert HeartbeatPublisher(cloudwatch, "hq", board.snapshot, now=lambda: AT).publish()
    assert calls == [1000, 202]
