"""template.yaml's clip archive agrees with facewatch.clips.archive and its function."""

from __future__ import annotations

from typing import Any

from facewatch.alerts.event import ALERT_DETAIL_TYPE
from facewatch.clips.archive import ARCHIVE_PREFIX
from facewatch.settings import ClipArchiverSettings
from facewatch_tools.template import parameter_defaults, resource

CAMERA_STREAMS = {
    "Fn::Sub": "arn:${AWS::Partition}:kinesisvideo:${AWS::Region}:${AWS::AccountId}:stream/*/*"
}


def _statements(name: str) -> dict[str, dict[str, Any]]:
    props = resource(name)["Properties"]
    return {s["Sid"]: s for p in props["Policies"] for s in p["Statement"]}


def test_the_archiver_gets_every_setting_and_only_what_it_needs() -> None:
    props = resource("ClipArchiverFunction")["Properties"]
    env = props["Environment"]["Variables"]
    required = {f.alias for f in ClipArchiverSettings.model_fields.values() if f.is_required()}
    assert required <= set(env)
    statements = _statements("ClipArchiverFunction")
    video = statements["CameraVideo"]
    assert set(video["Action"]) == {
        "kinesisvideo:GetDataEndpoint",
        "kinesisvideo:ListFragments",
        "kinesisvideo:GetClip",
    }
    assert video["Resource"] == CAMERA_STREAMS  # the camera streams, not "*"
    write = statements["WriteArchive"]
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == {"Fn::Sub": f"${{SnapshotBucket.Arn}}/{ARCHIVE_PREFIX}*"}
    assert all(s["Resource"] != "*" for s in statements.values())


def test_alerts_reach_the_archive_queue_and_canaries_do_not() -> None:
    rule = resource("ClipArchiveRule")["Properties"]
    assert rule["EventPattern"] == {
        "source": ["facewatch"],
        "detail-type": [ALERT_DETAIL_TYPE],
        "detail": {"test": [False]},
    }
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["ClipArchiveQueue", "Arn"]}
    assert "DeadLetterConfig" in target
    queue = resource("ClipArchiveQueue")["Properties"]
    assert queue["KmsMasterKeyId"] == {"Ref": "DataKey"}
    # SQS DelaySeconds (the re-check) and a day of retries fit in the queue's retention
    assert queue["MessageRetentionPeriod"] >= 86400
    assert (
        queue["VisibilityTimeout"] >= 6 * resource("ClipArchiverFunction")["Properties"]["Timeout"]
    )


def test_archived_clips_expire_by_their_own_lifecycle_rule() -> None:
    rules = resource("SnapshotBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    [clips] = [r for r in rules if r.get("Prefix") == ARCHIVE_PREFIX]
    assert clips["Status"] == "Enabled"
    assert clips["ExpirationInDays"] == {"Ref": "ClipArchiveRetentionDays"}
    defaults = parameter_defaults()
    # a clip plays as long as its link by default (docs/audit.md, "How long a clip plays")
    assert int(defaults["ClipArchiveRetentionDays"]) >= int(defaults["ClipLinkTtlDays"])
    assert int(defaults["SnapshotRetentionDays"]) >= int(defaults["ClipLinkTtlDays"])


def test_the_clip_endpoint_can_serve_the_archive_and_align_clips() -> None:
    props = resource("ClipLinksFunction")["Properties"]
    assert props["Environment"]["Variables"]["ARCHIVE_BUCKET_NAME"] == {"Ref": "SnapshotBucket"}
    statements = _statements("ClipLinksFunction")
    assert "kinesisvideo:ListFragments" in statements["ClipUrls"]["Action"]
    read = statements["ArchivedClips"]
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"] == {"Fn::Sub": f"${{SnapshotBucket.Arn}}/{ARCHIVE_PREFIX}*"}


def test_alerts_spend_no_hls_session_by_default() -> None:
    defaults = parameter_defaults()
    assert defaults["AlertHlsUrl"] == "false"
    assert int(defaults["ClipUrlTtlSeconds"]) == 300
