"""`replay --json` lists absorbed incidents with the survivor they were merged into."""

from __future__ import annotations

import boto3
from moto import mock_aws

from facewatch.detections.incidents import CameraState, Merge
from facewatch.detections.store import to_item
from facewatch_tools.local.outcome import list_incidents
from tests.aws import REGION, create_table_from_template


def test_absorbed_incidents_are_listed_with_merged_into() -> None:
    with mock_aws():
        create_table_from_template("t")
        client = boto3.client("dynamodb", region_name=REGION)
        state = CameraState(
            camera_id="cam",
            merges=(Merge(incident_id="INC-B", merged_into="INC-A", alerted=False),),
        )
        client.put_item(
            TableName="t",
            Item=to_item({"PK": "CAMERA#cam", "SK": "STATE", "state": state.model_dump_json()}),
        )
        client.put_item(
            TableName="t",
            Item=to_item(
                {
                    "PK": "INCIDENT#INC-C",
                    "SK": "INCIDENT",
                    "incidentId": "INC-C",
                    "cameraId": "cam",
                    "firstSeen": "2026-11-18T11:06:40.400Z",
                    "lastSeen": "2026-11-18T11:06:41.400Z",
                    "detections": 2,
                    "status": "merged",
                    "mergedInto": "INC-A",
                }
            ),
        )
        rows = {r.incident_id: r.as_json() for r in list_incidents(client, "t", [])}
    assert rows["INC-B"]["mergedInto"] == "INC-A"
    assert rows["INC-C"]["mergedInto"] == "INC-A"
