"""Status changes: appended trail items, the status projection, concurrent operators."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from facewatch.alerts.event import CameraLocation
from facewatch.audit.history import IncidentHistory, IncidentNotFoundError
from facewatch.audit.lifecycle import Actor
from facewatch.detections.incidents import CameraState
from facewatch.detections.store import Changes, Claim, DynamoIncidentStore, to_item

from .conftest import DAY, T0, TABLE, incident_item, incident_state

pytestmark = pytest.mark.integration
SLACK = Actor(id="U042", name="alice", channel="slack", origin="slack:T1/C1")
BOB = Actor(id="U043", name="bob", channel="slack", origin="slack:T1/C1")


def ids(records: Any) -> list[str]:
    return [r.incident_id for r in records]


def test_boundaries_include_since_and_exclude_until(dynamodb: Any) -> None:
    store = DynamoIncidentStore(dynamodb, TABLE, retention_days=400)
    for n, first in enumerate((T0 - 0.001, T0, T0 + DAY - 0.001, T0 + DAY)):
        item = incident_item(store, incident_state(f"b{n}", "cam", first), "hq")
        dynamodb.put_item(TableName=TABLE, Item=item)
    got = IncidentHistory(dynamodb, TABLE).incidents(site="hq", since=T0, until=T0 + DAY)
    assert ids(got) == ["b1", "b2"]


# ---- status changes ------------------------------------------------------------------------
@pytest.fixture
def one_incident(dynamodb: Any) -> IncidentHistory:
    store = DynamoIncidentStore(dynamodb, TABLE, retention_days=400)
    incident = incident_state("inc-1", "hq-cam0", T0)
    # What face_events writes: the incident and its "opened" trail item, then "alerted".
    state = CameraState(camera_id="hq-cam0", version=1)
    claim = Claim(token="test-invocation", until=T0 + 60)
    changes = Changes(new_alerts=[incident], locations={"hq-cam0": CameraLocation(site_id="hq")})
    store.commit(0, state, changes, claim)
    assert store.settle(incident, "alert", claim.token, "sent", at=T0 + 2, clip_status="ok")
    return IncidentHistory(dynamodb, TABLE)


def test_status_change_appends_a_trail_item_and_moves_the_projection(
    one_incident: IncidentHistory,
) -> None:
    change = one_incident.change_status("inc-1", "acknowledged", SLACK, T0 + 60)
    assert change.applied and change.previous == "open"
    stored = one_incident.get("inc-1")
    assert stored is not None and stored.status == "acknowledged"
    assert stored.first_response_by == "alice"
    assert stored.first_response_at is not None
    assert ids(one_incident.incidents(status="acknowledged")) == ["inc-1"]
    assert ids(one_incident.incidents(status="open")) == []
    trail = list(one_incident.trail("inc-1"))
    assert [t.kind for t in trail] == ["opened", "alerted", "status-acknowledged"]
    last = trail[-1]
    assert last.actor == "U042"
    assert last.details["fromStatus"] == "open" and last.details["toStatus"] == "acknowledged"
    assert last.details["origin"] == "slack:T1/C1" and last.details["channel"] == "slack"


def test_status_trail_items_expire_with_their_incident(
    dynamodb: Any, one_incident: IncidentHistory
) -> None:
    one_incident.change_status("inc-1", "acknowledged", SLACK, T0 + 60)
    items = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "INCIDENT#inc-1"}},
    )["Items"]
    expiries = {item["SK"]["S"]: int(item["expiresAt"]["N"]) for item in items}
    assert len(expiries) == 4 and len(set(expiries.values())) == 1
    assert set(expiries.values()) == {int(T0) + 400 * DAY}


def test_second_change_keeps_the_first_response_and_the_whole_trail(
    one_incident: IncidentHistory,
) -> None:
    one_incident.change_status("inc-1", "escalated", SLACK, T0 + 60)
    one_incident.change_status("inc-1", "false_alarm", BOB, T0 + 600)
    stored = one_incident.get("inc-1")
    assert stored is not None
    assert (stored.status, stored.status_changed_by, stored.first_response_by) == (
        "false_alarm",
        "bob",
        "alice",
    )
    kinds = [t.kind for t in one_incident.trail("inc-1")]
    assert kinds == ["opened", "alerted", "status-escalated", "status-false_alarm"]


def test_same_status_again_is_not_a_change(one_incident: IncidentHistory) -> None:
    one_incident.change_status("inc-1", "acknowledged", SLACK, T0 + 60)
    again = one_incident.change_status("inc-1", "acknowledged", BOB, T0 + 61)
    assert not again.applied and not again.conflict
    assert again.incident.status_changed_by == "alice"
    assert len(list(one_incident.trail("inc-1"))) == 3


def test_two_operators_at_once_get_one_change_and_one_clean_conflict(
    dynamodb: Any, one_incident: IncidentHistory
) -> None:
    # Bob's click lands between Alice's read and Alice's write.
    def bob_first(**_: Any) -> None:
        dynamodb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", bob_first)
        IncidentHistory(dynamodb, TABLE).change_status("inc-1", "false_alarm", BOB, T0 + 59)

    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", bob_first)
    alice = one_incident.change_status("inc-1", "acknowledged", SLACK, T0 + 60)
    assert not alice.applied and alice.conflict
    assert alice.incident.status == "false_alarm" and alice.incident.status_changed_by == "bob"
    kinds = [t.kind for t in one_incident.trail("inc-1")]
    assert kinds == ["opened", "alerted", "status-false_alarm"]  # Alice's write left no trace


def test_unknown_incident_raises(one_incident: IncidentHistory) -> None:
    with pytest.raises(IncidentNotFoundError):
        one_incident.change_status("nope", "acknowledged", SLACK, T0)


def test_employee_events_in_range(dynamodb: Any) -> None:
    for n, (action, at) in enumerate(
        (
            ("enrolled", "2026-03-02T10:00:00.000Z"),
            ("removed", "2026-03-05T10:00:00.000Z"),
            ("enrolled", "2026-04-05T10:00:00.000Z"),
        )
    ):
        dynamodb.put_item(
            TableName=TABLE,
            Item=to_item(
                {
                    "PK": f"EMPLOYEE#e{n}",
                    "SK": f"EVENT#{at}",
                    "GSI1PK": "EMPLOYEES",
                    "GSI1SK": f"{at}#e{n}",
                    "action": action,
                    "actor": "hr-admin",
                }
            ),
        )
    events = list(IncidentHistory(dynamodb, TABLE).employee_events(T0, T0 + 30 * DAY))
    assert [(e.employee_id, e.action, e.actor) for e in events] == [
        ("e0", "enrolled", "hr-admin"),
        ("e1", "removed", "hr-admin"),
    ]


def test_other_items_in_a_camera_partition_are_not_incidents(dynamodb: Any) -> None:
    store = DynamoIncidentStore(dynamodb, TABLE, retention_days=400)
    dynamodb.put_item(
        TableName=TABLE, Item=incident_item(store, incident_state("i1", "cam", T0), "hq")
    )
    dynamodb.put_item(
        TableName=TABLE,
        Item=to_item(
            {"PK": "CAMERA#cam", "SK": "REGISTRY", "GSI1PK": "CAMERA#cam", "GSI1SK": "REGISTRY"}
        ),
    )
    assert ids(IncidentHistory(dynamodb, TABLE).incidents(camera="cam")) == ["i1"]


def test_trail_values_come_out_as_plain_json(dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=TABLE,
        Item=to_item(
            {
                "PK": "INCIDENT#x",
                "SK": "EVENT#2026-03-01T00:00:00.000Z#note",
                "kind": "note",
                "at": "2026-03-01T00:00:00.000Z",
                "actor": "facewatch",
                "count": 3,
                "ratio": Decimal("0.5"),
                "tags": {"b", "a"},
                "nested": {"n": [1, 2]},
                "blob": b"\x00\x01",
            }
        ),
    )
    (entry,) = IncidentHistory(dynamodb, TABLE).trail("x")
    assert entry.details == {
        "count": 3,
        "ratio": 0.5,
        "tags": ["a", "b"],
        "nested": {"n": [1, 2]},
        "blob": "AAE=",
    }
    json.dumps(entry.model_dump(mode="json"))
