"""moto table built from template.yaml's own IncidentsTable, and a fast history seeder."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from facewatch.alerts.event import CameraLocation
from facewatch.detections.incidents import FaceSummary, IncidentState
from facewatch.detections.store import DynamoIncidentStore, to_item
from facewatch.timestamps import iso
from facewatch_tools.template import resource

TABLE = "facewatch-test-incidents"
REGION = "ap-northeast-2"
# 2026-03-01T00:00:00Z: the seeded month starts here.
T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
DAY = 86400
FACE = FaceSummary(confidence=99.0, width=0.1, height=0.2, left=0.4, top=0.3)
SITES = ("hq", "lab", "warehouse", "dock", "annex")


def create_table(client: Any, name: str = TABLE) -> None:
    """The template's key schema and indexes, so the tests cannot drift from the stack."""
    props = resource("IncidentsTable")["Properties"]
    client.create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    return client


def stream_arn(camera: str) -> str:
    return f"arn:aws:kinesisvideo:{REGION}:123456789012:stream/{camera}/1700000000000"


def incident_state(
    incident_id: str, camera: str, first: float, last: float | None = None
) -> IncidentState:
    return IncidentState(
        incident_id=incident_id,
        camera_id=camera,
        stream_arn=stream_arn(camera),
        first_seen=first,
        last_seen=last if last is not None else first + 20,
        detections=4,
        first_frame_key="k",
        best_face=FACE,
        first_face=FACE,
    )


@dataclass
class Seeded:
    """What was written, to compute the expected answers independently of the queries."""

    incidents: list[dict[str, Any]] = field(default_factory=list)

    def where(self, **criteria: Any) -> list[dict[str, Any]]:
        since = criteria.pop("since", None)
        until = criteria.pop("until", None)
        return [
            i
            for i in self.incidents
            if all(i[k] == v for k, v in criteria.items())
            and (since is None or i["first"] >= since)
            and (until is None or i["first"] < until)
        ]


def incident_item(
    store: DynamoIncidentStore,
    incident: IncidentState,
    site: str,
    status: str = "open",
    **extra: Any,
) -> dict[str, Any]:
    """An incident item exactly as face_events writes it, then moved to ``status``."""
    item = store.incident_item(incident, CameraLocation(site_id=site))
    if status != "open":
        item["status"] = {"S": status}
        item["GSI3PK"] = {"S": f"STATUS#{status}"}
    item.update(to_item(extra))
    return item


def seed(client: Any, count: int, *, seed_value: int = 7, table: str = TABLE) -> Seeded:
    """``count`` incidents over 30 days, 5 sites x 4 cameras, mixed statuses (batch writes)."""
    rng = random.Random(seed_value)
    store = DynamoIncidentStore(client, table, retention_days=400)
    seeded = Seeded()
    requests: list[dict[str, Any]] = []
    for n in range(count):
        site = rng.choice(SITES)
        camera = f"{site}-cam{rng.randrange(4)}"
        first = T0 + rng.uniform(0, 30 * DAY)
        status = rng.choices(
            ("open", "acknowledged", "false_alarm", "escalated"), weights=(3, 5, 2, 1)
        )[0]
        incident_id = f"inc-{n:05d}"
        extra: dict[str, Any] = {"alertState": "sent", "alertedAt": iso(first + 2)}
        response = None
        if status != "open":
            response = rng.uniform(10, 3600)
            extra |= {"firstResponseAt": iso(first + 2 + response), "firstResponseBy": "U1"}
        item = incident_item(
            store, incident_state(incident_id, camera, first), site, status, **extra
        )
        requests.append({"PutRequest": {"Item": item}})
        seeded.incidents.append(
            {
                "id": incident_id,
                "site": site,
                "camera": camera,
                "status": status,
                "first": first,
                "response": response,
            }
        )
    for start in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[start : start + 25]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return seeded
