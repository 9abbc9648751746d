"""clip_archiver: alert events (SQS from EventBridge) and its own re-checks -> MP4 in S3."""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from facewatch.audit.history import IncidentHistory
from facewatch.clips.archive import (
    ArchiveTiming,
    ClipArchiver,
    DynamoArchiveLedger,
    KvsClips,
    S3ObjectStore,
    SqsRechecks,
    archive_once,
)
from facewatch.clips.fragments import KvsFragments
from facewatch.observability import logger, metrics, tracer
from facewatch.settings import ClipArchiverSettings

settings = ClipArchiverSettings.from_env()  # fails the cold start with a clear message
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
clock = time.time  # tests pass their own
_aws = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=30)


@cache
def default_deps() -> tuple[IncidentHistory, ClipArchiver, SqsRechecks]:
    kvs = boto3.client("kinesisvideo", config=_aws)

    def media(url: str) -> Any:
        return boto3.client("kinesis-video-archived-media", endpoint_url=url, config=_aws)

    dynamodb = boto3.client("dynamodb", config=_aws)
    archiver = ClipArchiver(
        KvsFragments(kvs, media),
        KvsClips(kvs, media),
        S3ObjectStore(boto3.client("s3", config=_aws), settings.archive_bucket_name),
        DynamoArchiveLedger(dynamodb, settings.table_name),
        ArchiveTiming(
            pre_roll_seconds=settings.clip_pre_roll_seconds,
            post_roll_seconds=settings.clip_post_roll_seconds,
            window_seconds=settings.incident_window_seconds,
        ),
    )
    rechecks = SqsRechecks(boto3.client("sqs", config=_aws), settings.archive_queue_url)
    return IncidentHistory(dynamodb, settings.table_name), archiver, rechecks


def incident_id_of(body: str) -> str:
    """An alert event as the rule delivers it, or the archiver's own {"incidentId"} re-check."""
    message = json.loads(body)
    detail = message.get("detail", message)
    return str(detail["incidentId"])


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any],
    context: LambdaContext,
    deps: tuple[IncidentHistory, ClipArchiver, SqsRechecks] | None = None,
) -> PartialItemFailureResponse:
    history, archiver, rechecks = deps or default_deps()

    def handle(record: SQSRecord) -> None:
        archive_once(incident_id_of(record.body), history, archiver, rechecks, clock())

    return process_partial_response(event, handle, processor, context)
