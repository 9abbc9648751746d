"""Erasure by place and time against an oracle written from the definition: exactly the
incidents of that camera first seen in [since, until) go (item, trail, objects, grouping
state), every other one stays whole; a second run deletes nothing. moto, generated cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from facewatch.alerts.snapshots import snapshot_key
from facewatch.detections.incidents import CameraState
from facewatch.detections.store import DynamoIncidentStore, to_item
from facewatch.privacy.consent import ConsentLedger
from facewatch.privacy.erasure import Eraser, PrivacyStores
from facewatch_tools.template import resource
from tests.audit.conftest import REGION, T0, TABLE, create_table, incident_item, incident_state

BUCKET = "snapshots"
CONSENT = "consent"
CAMERAS = ("cam-a", "cam-b")

incidents = st.lists(
    st.tuples(st.sampled_from(CAMERAS), st.integers(min_value=0, max_value=100)),
    min_size=1,
    max_size=8,
    unique=True,
)


def world() -> tuple[Any, Any, PrivacyStores]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb)
    props = resource("ConsentTable")["Properties"]
    ddb.create_table(
        TableName=CONSENT,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    table = boto3.resource("dynamodb", region_name=REGION).Table(CONSENT)
    stores = PrivacyStores(
        dynamodb=ddb,
        incidents_table=TABLE,
        consent=ConsentLedger(table),
        s3=s3,
        buckets=(BUCKET,),
        sqs=boto3.client("sqs", region_name=REGION),
        queues=(),
        region=REGION,
    )
    return ddb, s3, stores


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seeded=incidents,
    camera=st.sampled_from(CAMERAS),
    since=st.integers(min_value=0, max_value=100),
    span=st.integers(min_value=1, max_value=60),
)
def test_erase_by_place_and_time_takes_exactly_the_range(
    seeded: list[tuple[str, int]], camera: str, since: int, span: int
) -> None:
    with mock_aws():
        ddb, s3, stores = world()
        store = DynamoIncidentStore(ddb, TABLE, retention_days=400)
        states: dict[str, list[Any]] = {c: [] for c in CAMERAS}
        ids = {}
        for cam, minute in seeded:
            first = T0 + minute * 60
            incident = incident_state(f"INC-{cam}-{minute:03d}", cam, first, first + 20)
            ids[(cam, minute)] = incident.incident_id
            ddb.put_item(TableName=TABLE, Item=incident_item(store, incident, "hq"))
            ddb.put_item(TableName=TABLE, Item=store._trail(incident, "opened"))
            when = datetime.fromtimestamp(first, UTC)
            s3.put_object(Bucket=BUCKET, Key=snapshot_key(incident.incident_id, when), Body=b"x")
            states[cam].append(incident)
        for cam, kept in states.items():
            state = CameraState(camera_id=cam, version=1, incidents=tuple(kept))
            ddb.put_item(
                TableName=TABLE,
                Item=to_item(
                    {
                        "PK": f"CAMERA#{cam}",
                        "SK": "STATE",
                        "version": 1,
                        "state": state.model_dump_json(),
                    }
                ),
            )
        start, end = T0 + since * 60, T0 + (since + span) * 60
        certificate = Eraser(
            stores, "arn:aws:iam::1:user/dpo", clock=lambda: T0 + 9e6
        ).erase_place_and_time(camera, start, end)
        # the oracle: by the definition, not by the code's queries
        gone = {ids[k] for k in ids if k[0] == camera and start <= T0 + k[1] * 60 < end}
        for key, incident_id in ids.items():
            items = ddb.query(
                TableName=TABLE,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": f"INCIDENT#{incident_id}"}},
            )["Items"]
            sks = {i["SK"]["S"] for i in items}
            objects = s3.list_object_versions(Bucket=BUCKET, Prefix="snapshots/").get(
                "Versions", []
            )
            has_object = any(incident_id in o["Key"] for o in objects)
            if incident_id in gone:
                assert sks == {"ERASED"}, (key, sks)
                assert not has_object
            else:
                assert "INCIDENT" in sks and any(s.startswith("EVENT#") for s in sks)
                assert has_object
        state_text = ddb.get_item(
            TableName=TABLE, Key=to_item({"PK": f"CAMERA#{camera}", "SK": "STATE"})
        )["Item"]["state"]["S"]
        assert not any(i in state_text for i in gone)
        assert certificate.total >= 2 * len(gone)  # item + trail at least, per incident
        again = Eraser(stores, "arn:aws:iam::1:user/dpo").erase_place_and_time(camera, start, end)
        assert again.total == 0
