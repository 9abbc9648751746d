"""Where a deployed stack keeps data: every table, bucket and queue, from its resources."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from facewatch.fleet.employees import AuditLog, EmployeeCollection
from facewatch.privacy.consent import ConsentLedger
from facewatch.privacy.erasure import PrivacyStores


@dataclass(frozen=True)
class StackResources:
    outputs: dict[str, str]
    physical: dict[str, tuple[str, str]]  # logical id -> (type, physical id)

    def of_type(self, resource_type: str) -> dict[str, str]:
        return {k: p for k, (t, p) in self.physical.items() if t == resource_type}

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise SystemExit(
                f"the stack has no {key} output: deploy the current template"
            ) from None


def read_stack(cloudformation: Any, stack_name: str) -> StackResources:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    physical: dict[str, tuple[str, str]] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page.get("StackResourceSummaries", []):
            physical[resource["LogicalResourceId"]] = (
                resource["ResourceType"],
                resource.get("PhysicalResourceId", ""),
            )
    return StackResources(outputs, physical)


@dataclass
class PrivacyClients:
    """The AWS clients the privacy and consent commands use (tests pass moto-backed ones)."""

    cloudformation: Any
    dynamodb: Any  # low-level client
    dynamodb_resource: Any
    s3: Any
    sqs: Any
    rekognition: Any
    kinesisvideo: Any
    sts: Any
    region: str
    sns: Any | None = None


def stores_for(
    clients: PrivacyClients, stack: StackResources, actor: str, collection_id: str | None = None
) -> PrivacyStores:
    table = stack.output("TableName")
    collection = None
    collection_id = collection_id or stack.outputs.get("CollectionId")
    if collection_id:
        collection = EmployeeCollection(
            clients.rekognition,
            collection_id,
            AuditLog(clients.dynamodb_resource.Table(table)),
            actor,
        )
    return PrivacyStores(
        dynamodb=clients.dynamodb,
        incidents_table=table,
        consent=ledger_for(clients, stack),
        s3=clients.s3,
        buckets=tuple(sorted(stack.of_type("AWS::S3::Bucket").values())),
        sqs=clients.sqs,
        queues=tuple(sorted(stack.of_type("AWS::SQS::Queue").values())),
        region=clients.region,
        collection=collection,
        kvs=clients.kinesisvideo,
        idempotency_table=stack.outputs.get("IdempotencyTableName"),
    )


def ledger_for(clients: PrivacyClients, stack: StackResources) -> ConsentLedger:
    return ConsentLedger(clients.dynamodb_resource.Table(stack.output("ConsentTableName")))


def caller(clients: PrivacyClients) -> Callable[[], str]:
    return lambda: str(clients.sts.get_caller_identity()["Arn"])
