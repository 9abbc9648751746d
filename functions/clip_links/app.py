"""clip_links: a signed facewatch clip link -> a fresh ON_DEMAND HLS session and a player page
(the archived MP4 once KVS no longer has the video)."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from facewatch.audit.history import IncidentHistory
from facewatch.clips.archive import DynamoArchiveLedger, S3ObjectStore
from facewatch.clips.fragments import KvsFragments
from facewatch.clips.hls import KvsClipProvider
from facewatch.clips.player import ClipDeps, Viewer, serve_clip
from facewatch.observability import logger, metrics, tracer
from facewatch.settings import ClipLinksSettings

settings = ClipLinksSettings.from_env()  # fails the cold start with a clear message
app = APIGatewayHttpResolver()
clock = time.time  # tests pass their own
_retries = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5
)


def _media(url: str) -> Any:
    return boto3.client("kinesis-video-archived-media", endpoint_url=url, config=_retries)


@cache
def default_deps() -> ClipDeps:
    kvs = boto3.client("kinesisvideo", config=_retries)
    dynamodb = boto3.client("dynamodb", config=_retries)
    bucket = settings.archive_bucket_name
    history = IncidentHistory(dynamodb, settings.table_name)
    return ClipDeps(
        history=history,
        access_log=history,  # every view is a "clip-viewed" trail item
        clips=KvsClipProvider(kvs, _media),
        link_key=lambda: parameters.get_secret(
            settings.clip_link_key_secret_arn, max_age=settings.secret_max_age_seconds
        ).encode(),
        pre_roll_seconds=settings.clip_pre_roll_seconds,
        post_roll_seconds=settings.clip_post_roll_seconds,
        session_seconds=settings.clip_session_seconds,
        fragments=KvsFragments(kvs, _media),
        archive=DynamoArchiveLedger(dynamodb, settings.table_name) if bucket else None,
        store=S3ObjectStore(boto3.client("s3", config=_retries), bucket) if bucket else None,
    )


@app.get("/clips/<incident_id>")
def clip(incident_id: str) -> Response[str]:
    event = app.current_event
    reply = serve_clip(
        incident_id,
        event.get_query_string_value("exp"),
        event.get_query_string_value("sig"),
        redirect=event.get_query_string_value("redirect") == "1",
        deps=app.context["deps"],
        now=clock(),
        viewer=Viewer(
            source_ip=event.request_context.http.source_ip,
            user_agent=event.request_context.http.user_agent,
        ),
    )
    return Response(reply.status, reply.content_type, reply.body, reply.all_headers())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: ClipDeps | None = None
) -> dict[str, Any]:
    app.context["deps"] = deps or default_deps()
    return app.resolve(event, context)
