"""Custom::ProcessorControl: starts a camera stack's stream processor, stops it before delete."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from facewatch.fleet.processors import (
    CustomResourceRequest,
    StreamProcessors,
    control_processor,
    send_response,
)

logger = Logger()
SAFETY_MARGIN_SECONDS = 30  # time left to answer CloudFormation after waiting


@cache
def processors() -> StreamProcessors:
    return StreamProcessors(
        boto3.client("rekognition", config=Config(retries={"mode": "adaptive", "max_attempts": 8}))
    )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = CustomResourceRequest.model_validate(event)
    wait = max(10.0, context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS)
    outcome = control_processor(request, processors(), wait_seconds=wait)
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
