"""The canary: prove a deployed stack works end to end, without waiting for a stranger.

Puts a short burst of synthetic frames of one unknown face for a camera that cannot exist
(``facewatch-canary-<random>``; each record also carries ``"FacewatchCanary": true``) into the
stack's detections stream, waits for the incident in DynamoDB and for its alert event on the
bus (seen through a temporary rule and queue), reports the latencies and removes everything
it created: rule, queue, incident items and camera state. face_events marks the alert
``test: true`` and notifiers skip it, so nobody is paged.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from facewatch.detections.incidents import incident_id_for
from facewatch.detections.records import CANARY_CAMERA_PREFIX, ProcessorRecord
from facewatch_tools.frames import FaceSpec, frame_record

DEFAULT_FRAMES = 5  # when the function's MIN_DETECTIONS cannot be read


class CanaryError(RuntimeError):
    """The canary could not run or did not see its alert in time."""


@dataclass(frozen=True, slots=True)
class CanaryResult:
    camera_id: str
    incident_id: str
    frames: int
    incident_after: float
    alert_after: float
    test_flag: bool


def _outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    # Only "does not exist" means the stack is missing; credentials, region and connection
    # errors propagate, so the command's error handler names them as what they are.
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" not in exc.response.get("Error", {}).get("Message", ""):
            raise
        raise CanaryError(f"stack {stack!r} not found in this account and region") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    missing = {"DetectionsStreamName", "TableName", "EventBusName"} - set(outputs)
    if missing:
        raise CanaryError(f"stack {stack!r} lacks outputs {sorted(missing)}")
    return outputs


def _frames_needed(lambda_client: Any, function_arn: str | None) -> int:
    if not function_arn:
        return DEFAULT_FRAMES
    try:
        config = lambda_client.get_function_configuration(FunctionName=function_arn)
        return max(1, int(config["Environment"]["Variables"]["MIN_DETECTIONS"]))
    except Exception:
        return DEFAULT_FRAMES


class Canary:
    def __init__(
        self,
        client: Callable[[str], Any],
        stack: str,
        *,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._stack = stack
        self._timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self.camera_id = f"{CANARY_CAMERA_PREFIX}{secrets.token_hex(4)}"
        self._rule_created = False
        self._queue_url: str | None = None

    def run(self) -> CanaryResult:
        outputs = _outputs(self._client("cloudformation"), self._stack)
        try:
            return self._run(outputs)
        finally:
            self._cleanup(outputs)

    def _records(self, outputs: dict[str, str], now: float) -> list[dict[str, Any]]:
        sts = self._client("sts").get_caller_identity()
        region = self._client("kinesis").meta.region_name
        stream = f"stream/{self.camera_id}/{int(now * 1000)}"
        arn = f"arn:aws:kinesisvideo:{region}:{sts['Account']}:{stream}"
        count = _frames_needed(self._client("lambda"), outputs.get("FaceEventsFunctionArn"))
        records = []
        for index in range(count):
            record = frame_record(
                self.camera_id, now - (count - index) * 0.5, [FaceSpec()], arn=arn
            )
            record["FacewatchCanary"] = True
            records.append(record)
        return records

    def _watch(self, bus: str) -> None:
        sqs, events = self._client("sqs"), self._client("events")
        self._queue_url = sqs.create_queue(
            QueueName=self.camera_id, Attributes={"MessageRetentionPeriod": "600"}
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        rule_arn = events.put_rule(
            Name=self.camera_id,
            EventBusName=bus,
            EventPattern=json.dumps(
                {"source": ["facewatch"], "detail": {"cameraId": [self.camera_id]}}
            ),
            State="ENABLED",
            Description="facewatch canary (temporary)",
        )["RuleArn"]
        self._rule_created = True
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
        sqs.set_queue_attributes(
            QueueUrl=self._queue_url, Attributes={"Policy": json.dumps(policy)}
        )
        events.put_targets(
            Rule=self.camera_id, EventBusName=bus, Targets=[{"Id": "canary", "Arn": queue_arn}]
        )

    def _run(self, outputs: dict[str, str]) -> CanaryResult:
        self._watch(outputs["EventBusName"])
        started = self._clock()
        records = self._records(outputs, started)
        first = ProcessorRecord.model_validate(records[0])
        incident_id = incident_id_for(self.camera_id, first.frame_key)
        self._client("kinesis").put_records(
            StreamName=outputs["DetectionsStreamName"],
            Records=[
                {"Data": json.dumps(r).encode(), "PartitionKey": self.camera_id} for r in records
            ],
        )
        incident_after: float | None = None
        alert: dict[str, Any] | None = None
        alert_after: float | None = None
        while incident_after is None or alert is None:
            if self._clock() - started > self._timeout:
                seen = "no incident" if incident_after is None else "no alert event"
                raise CanaryError(f"{seen} for {incident_id} after {self._timeout:.0f} s")
            if incident_after is None and self._incident_stored(outputs["TableName"], incident_id):
                incident_after = self._clock() - started
            if alert is None:
                alert = self._alert(incident_id)
                if alert is not None:
                    alert_after = self._clock() - started
            if incident_after is None or alert is None:
                self._sleep(0.25)
        return CanaryResult(
            camera_id=self.camera_id,
            incident_id=incident_id,
            frames=len(records),
            incident_after=incident_after,
            alert_after=alert_after or 0.0,
            test_flag=bool(alert.get("detail", {}).get("test")),
        )

    def _incident_stored(self, table: str, incident_id: str) -> bool:
        item = self._client("dynamodb").get_item(
            TableName=table,
            Key={"PK": {"S": f"INCIDENT#{incident_id}"}, "SK": {"S": "INCIDENT"}},
            ConsistentRead=True,
        )
        return "Item" in item

    def _alert(self, incident_id: str) -> dict[str, Any] | None:
        sqs = self._client("sqs")
        found = sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        for message in found.get("Messages", []):
            sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
            event: dict[str, Any] = json.loads(message["Body"])
            if event.get("detail", {}).get("incidentId") == incident_id:
                return event
        return None

    def _cleanup(self, outputs: dict[str, str]) -> None:
        events, sqs, dynamodb = (
            self._client("events"),
            self._client("sqs"),
            self._client("dynamodb"),
        )
        bus = outputs["EventBusName"]
        if self._rule_created:
            events.remove_targets(Rule=self.camera_id, EventBusName=bus, Ids=["canary"])
            events.delete_rule(Name=self.camera_id, EventBusName=bus)
        if self._queue_url:
            sqs.delete_queue(QueueUrl=self._queue_url)
        table = outputs["TableName"]
        keys = [{"PK": {"S": f"CAMERA#{self.camera_id}"}, "SK": {"S": "STATE"}}]
        paginator = dynamodb.get_paginator("query")
        for page in paginator.paginate(
            TableName=table,
            IndexName="ByCamera",
            KeyConditionExpression="GSI1PK = :c",
            ExpressionAttributeValues={":c": {"S": f"CAMERA#{self.camera_id}"}},
        ):
            for item in page.get("Items", []):
                for trail in dynamodb.query(
                    TableName=table,
                    KeyConditionExpression="PK = :p",
                    ExpressionAttributeValues={":p": item["PK"]},
                    ProjectionExpression="PK, SK",
                )["Items"]:
                    keys.append({"PK": trail["PK"], "SK": trail["SK"]})
        for key in keys:
            dynamodb.delete_item(TableName=table, Key=key)
