"""face_events: Rekognition face-search records from Kinesis -> incidents -> alert events."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from facewatch.detections.adapters import build_adapters
from facewatch.detections.pipeline import Adapters, run_batch
from facewatch.observability import logger, metrics, tracer
from facewatch.settings import FaceEventsSettings

settings = FaceEventsSettings.from_env()  # fails the cold start with a clear message
# A batch whose every record failed is reported like any partial failure: same retry, and no
# bisecting of a batch that failed for one cause (a throttled table), not for one bad record.
processor = BatchProcessor(EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


@cache
def default_adapters() -> Adapters:
    return build_adapters(settings)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, adapters: Adapters | None = None
) -> PartialItemFailureResponse:
    return run_batch(event, context, settings, adapters or default_adapters(), processor)
