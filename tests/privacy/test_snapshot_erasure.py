"""Erasing an incident deletes every snapshot of it: the alert's, each better one the Slack
message took later (snapshots/<incident>/...), and one under the older dated key; every version,
nothing of another incident. moto (versioned bucket), the real pipeline and notifier."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from facewatch.alerts.snapshots import snapshot_key, snapshot_prefix
from facewatch.privacy.consent import ConsentLedger
from facewatch.privacy.erasure import Eraser, PrivacyStores
from facewatch_tools.template import resource
from tests.aws import REGION
from tests.fanout.snapshot_world import BUCKET, CLEAR, CLEARER, T0, TABLE, World, at, jpeg
from tests.fanout.snapshot_world import snapshot_world as built_world

pytestmark = pytest.mark.integration
OTHER = "INC-OTHERVISIT01"


def stores(world: World) -> PrivacyStores:
    props = resource("ConsentTable")["Properties"]
    world.dynamodb.create_table(
        TableName="consent",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    return PrivacyStores(
        dynamodb=world.dynamodb,
        incidents_table=TABLE,
        consent=ConsentLedger(boto3.resource("dynamodb", region_name=REGION).Table("consent")),
        s3=world.s3,
        buckets=(BUCKET,),
        sqs=boto3.client("sqs", region_name=REGION),
        queues=(),
        region=REGION,
    )


def versions(world: World) -> list[dict[str, Any]]:
    listed = world.s3.list_object_versions(Bucket=BUCKET, Prefix="snapshots/")
    return [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]


def test_erasure_removes_every_snapshot_of_the_incident() -> None:
    with built_world() as world:
        world.expect_frame(0, jpeg(1))
        world.frames(0, 1)
        world.notify()  # the alert's snapshot
        for offset, now, face in ((2, 5, CLEAR), (4, 16, CLEARER)):
            world.now[0] = T0 + now
            world.expect_frame(offset, jpeg(offset))
            assert world.frames(offset, face=face) == ["Incident Updated"]
            world.notify()  # a better snapshot each time
        incident = world.incident_id
        mine = {snapshot_key(incident, at(t)) for t in (0, 2, 4)}
        assert set(world.object_keys()) == mine
        legacy = f"snapshots/{at(0):%Y/%m/%d}/{incident}.jpg"  # the layout before 2026-12
        world.s3.put_object(Bucket=BUCKET, Key=legacy, Body=b"old")
        world.s3.put_object(Bucket=BUCKET, Key=legacy, Body=b"older version")
        theirs = {snapshot_key(OTHER, at(0)), f"snapshots/{at(0):%Y/%m/%d}/{OTHER}.jpg"}
        for key in theirs:
            world.s3.put_object(Bucket=BUCKET, Key=key, Body=b"not this one")
        world.s3.delete_object(Bucket=BUCKET, Key=snapshot_key(incident, at(2)))  # a marker too

        eraser = Eraser(stores(world), "arn:aws:iam::1:user/dpo")
        certificate = eraser.erase_incident(incident)

        left = {v["Key"] for v in versions(world)}
        assert not {k for k in left if incident in k}, left  # every version and marker
        assert left == theirs
        assert not world.s3.list_objects_v2(Bucket=BUCKET, Prefix=snapshot_prefix(incident)).get(
            "Contents"
        )
        [objects] = [d for d in certificate.deleted if d.store == f"s3:{BUCKET}"]
        assert objects.count == len(mine) + 2 + 1  # 3 snapshots, 2 legacy versions, 1 marker
        again = eraser.erase_incident(incident)  # idempotent: nothing left to find
        assert [d.count for d in again.deleted if d.store == f"s3:{BUCKET}"] == [0]
