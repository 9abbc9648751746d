"""moto helpers: resources built from template.yaml's own definitions, so tests cannot drift."""

from __future__ import annotations

import json
from typing import Any

import boto3

from facewatch_tools.template import resource

REGION = "ap-northeast-2"


def create_table_from_template(name: str, logical_id: str = "IncidentsTable") -> Any:
    props = resource(logical_id)["Properties"]
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props.get("GlobalSecondaryIndexes", []),
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return client


def capture_bus(bus_name: str, detail_type: str | None = None) -> str:
    """Create the bus and an SQS target for every facewatch event; return the queue URL."""
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=bus_name)
    queue_url: str = sqs.create_queue(QueueName=f"{bus_name}-capture")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern: dict[str, Any] = {"source": ["facewatch"]}
    if detail_type:
        pattern["detail-type"] = [detail_type]
    events.put_rule(Name="capture", EventBusName=bus_name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="capture", EventBusName=bus_name, Targets=[{"Id": "q", "Arn": arn}])
    return queue_url


def drain(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
