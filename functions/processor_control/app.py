"""Custom::StreamProcessor: creates, starts, replaces (old one first), stops and deletes a camera
stack's Rekognition stream processor."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from facewatch.fleet.processors import (
    CustomResourceRequest,
    HealthNotices,
    StreamProcessors,
    control_processor,
    send_response,
)
from facewatch.fleet.watchdog import DynamoHealthStore, EventBridgeHealthPublisher

logger = Logger()
SAFETY_MARGIN_SECONDS = 30  # time left to answer CloudFormation after waiting
RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 8})


@cache
def processors() -> StreamProcessors:
    return StreamProcessors(boto3.client("rekognition", config=RETRIES))


def notices() -> HealthNotices:
    """Per request: a replacement's two events carry the state between them."""
    return HealthNotices(
        EventBridgeHealthPublisher(
            boto3.client("events", config=RETRIES), os.environ["EVENT_BUS_NAME"]
        ),
        DynamoHealthStore(boto3.resource("dynamodb", config=RETRIES), os.environ["TABLE_NAME"]),
        log=logger.warning,
    )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = CustomResourceRequest.model_validate(event)
    wait = max(10.0, context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS)
    outcome = control_processor(request, processors(), wait_seconds=wait, notices=notices())
    logger.info(
        "processor control",
        extra={
            "request_type": request.RequestType,
            "status": outcome.status,
            "reason": outcome.reason,
        },
    )
    send_response(request, outcome)
    return outcome.model_dump()
