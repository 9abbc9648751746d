"""The proxy's heartbeat: CloudWatch metrics the fleet watchdog and alarms can read.

Namespace ``Facewatch/Proxy`` (configurable). Every interval:
  ProxyHeartbeat  {Site}            1           (missing data = the proxy or its link is down)
  CamerasDown     {Site}            count
  CameraUp        {Site, CameraId}  1 or 0
  CameraBitrate   {Site, CameraId}  bits/second
  CameraRestarts  {Site, CameraId}  restarts since the previous beat
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from facewatch_tools.proxy.health import CameraSnapshot

logger = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "Facewatch/Proxy"
# PutMetricData accepts up to 1000 metric data items per request.
MAX_ITEMS_PER_CALL = 1000


class CloudWatchClient(Protocol):
    def put_metric_data(self, **kwargs: Any) -> Any: ...


class HeartbeatPublisher:
    def __init__(
        self,
        client: CloudWatchClient,
        site: str,
        snapshot: Callable[[], list[CameraSnapshot]],
        namespace: str = DEFAULT_NAMESPACE,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._site = site
        self._snapshot = snapshot
        self._namespace = namespace
        self._now = now
        self._restarts_seen: dict[str, int] = {}

    def metric_data(self, cameras: list[CameraSnapshot]) -> list[dict[str, Any]]:
        at = self._now()
        site = [{"Name": "Site", "Value": self._site}]
        data: list[dict[str, Any]] = [
            {"MetricName": "ProxyHeartbeat", "Dimensions": site, "Timestamp": at,
             "Value": 1.0, "Unit": "Count"},
            {"MetricName": "CamerasDown", "Dimensions": site, "Timestamp": at,
             "Value": float(sum(not c.up for c in cameras)), "Unit": "Count"},
        ]  # fmt: skip
        for cam in cameras:
            dims = [*site, {"Name": "CameraId", "Value": cam.camera_id}]
            restarts = cam.restarts - self._restarts_seen.get(cam.camera_id, 0)
            data += [
                {"MetricName": "CameraUp", "Dimensions": dims, "Timestamp": at,
                 "Value": float(cam.up), "Unit": "Count"},
                {"MetricName": "CameraBitrate", "Dimensions": dims, "Timestamp": at,
                 "Value": cam.bitrate_bps, "Unit": "Bits/Second"},
                {"MetricName": "CameraRestarts", "Dimensions": dims, "Timestamp": at,
                 "Value": float(restarts), "Unit": "Count"},
            ]  # fmt: skip
        return data

    def publish(self) -> bool:
        """One beat. Failures are logged and retried at the next beat (never fatal: streaming
        matters more than reporting). Restart deltas are only consumed once sent."""
        cameras = self._snapshot()
        data = self.metric_data(cameras)
        try:
            for start in range(0, len(data), MAX_ITEMS_PER_CALL):
                self._client.put_metric_data(
                    Namespace=self._namespace, MetricData=data[start : start + MAX_ITEMS_PER_CALL]
                )
        except Exception as exc:  # botocore errors and connection failures alike
            logger.warning("heartbeat not published (will retry next beat): %s", exc)
            return False
        self._restarts_seen = {c.camera_id: c.restarts for c in cameras}
        return True
