"""Per-camera progress and ownership, in the table item PK=CAMERA#<cam> SK=SAMPLER.

- ``lastFrameMs``: every frame up to this producer time is decided (gated out, analysed and its
  record written or queued in ``pending``, or counted as a gap). The next invocation continues
  right after it: no gap, no frame twice.
- ``pending``: encoded records whose PutRecords failed after retries; sent first next cycle.
- ``gateRef``, ``lastAnalysedMs``, ``lastFacesMs``: the motion gate's reference and presence
  state, so a handover does not re-analyse an unchanged scene.
- ``clockSkewMs``, ``clockOff``, ``clockCheckedMs``: the producer clock's measured skew, whether
  it was reported off (``Camera Health Changed``), when it was last measured.
- ``tracks``: the face tracks (JSON), so a handover neither searches a known face again nor
  forgets an unknown one.
- ``looks``: the frames noted for the next look and the faceless-motion state (JSON,
  facewatch.sampler.looks), so a handover neither skips those frames nor looks sooner.
- ``leaseOwner``/``leaseUntilMs``: one invocation serves a camera at a time (EventBridge may
  deliver a schedule twice; a slow invocation may overlap the next). Every write is conditional
  on holding the lease; an expired lease (crashed holder) can be taken over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from facewatch.timestamps import iso

SORT_KEY = "SAMPLER"
# The item holds face data while records wait (``pending``) and a thumbnail-sized grey image
# (``gateRef``): it expires (table TTL ``expiresAt``) a week after a camera stops being served.
TTL_SECONDS = 7 * 24 * 3600
_TO_DYNAMODB = TypeSerializer()
_FROM_DYNAMODB = TypeDeserializer()


def item_key(camera_id: str) -> dict[str, str]:
    return {"PK": f"CAMERA#{camera_id}", "SK": SORT_KEY}


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _TO_DYNAMODB.serialize(value) for name, value in values.items()}


@dataclass(slots=True)
class Checkpoint:
    camera_id: str
    last_frame_ms: int | None = None
    last_analysed_ms: int | None = None
    last_faces_ms: int | None = None
    gate_ref: bytes | None = None
    pending: list[bytes] = field(default_factory=list)
    clock_skew_ms: int = 0
    clock_off: bool = False
    clock_checked_ms: int | None = None
    tracks: str | None = None
    looks: str | None = None


class CheckpointStore:
    """``dynamodb`` is a boto3 DynamoDB client (clients are thread-safe; resources are not, and
    cameras are served from a thread pool)."""

    def __init__(self, dynamodb: Any, table_name: str, owner: str) -> None:
        self._dynamodb = dynamodb
        self._table_name = table_name
        self.owner = owner

    def acquire(self, camera_id: str, now_ms: int, until_ms: int) -> Checkpoint | None:
        """Takes (or renews) the camera's lease; None while another invocation holds it."""
        try:
            response = self._dynamodb.update_item(
                TableName=self._table_name,
                Key=_typed(item_key(camera_id)),
                UpdateExpression=(
                    "SET leaseOwner = :me, leaseUntilMs = :until, updatedAt = :at,"
                    " expiresAt = :expires"
                ),
                ConditionExpression=(
                    "attribute_not_exists(leaseUntilMs) OR leaseUntilMs < :now OR leaseOwner = :me"
                ),
                ExpressionAttributeValues=_typed(
                    {
                        ":me": self.owner,
                        ":until": until_ms,
                        ":now": now_ms,
                        ":at": iso(now_ms / 1000.0),
                        ":expires": now_ms // 1000 + TTL_SECONDS,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _conditional(exc):
                return None
            raise
        attributes = response.get("Attributes", {})
        item = {name: _FROM_DYNAMODB.deserialize(value) for name, value in attributes.items()}
        return _checkpoint(camera_id, item)

    def save(
        self, checkpoint: Checkpoint, now_ms: int, until_ms: int, release: bool = False
    ) -> bool:
        """Stores the checkpoint if this invocation still holds the lease; ``release`` hands the
        camera over. False when the lease was lost (another invocation took the camera)."""
        sets = ["updatedAt = :at", "expiresAt = :expires", "#pending = :pending"]
        removes: list[str] = []
        values: dict[str, Any] = {
            ":me": self.owner,
            ":at": iso(now_ms / 1000.0),
            ":expires": now_ms // 1000 + TTL_SECONDS,
            ":pending": list(checkpoint.pending),
        }
        for attribute, value in (
            ("lastFrameMs", checkpoint.last_frame_ms),
            ("lastAnalysedMs", checkpoint.last_analysed_ms),
            ("lastFacesMs", checkpoint.last_faces_ms),
            ("gateRef", checkpoint.gate_ref),
            ("clockSkewMs", checkpoint.clock_skew_ms),
            ("clockOff", checkpoint.clock_off),
            ("clockCheckedMs", checkpoint.clock_checked_ms),
            ("tracks", checkpoint.tracks),
            ("looks", checkpoint.looks),
        ):
            if value is None:
                removes.append(attribute)
            else:
                sets.append(f"{attribute} = :{attribute}")
                values[f":{attribute}"] = value
        if release:
            removes += ["leaseOwner", "leaseUntilMs"]
        else:
            sets.append("leaseUntilMs = :until")
            values[":until"] = until_ms
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            self._dynamodb.update_item(
                TableName=self._table_name,
                Key=_typed(item_key(checkpoint.camera_id)),
                UpdateExpression=expression,
                ConditionExpression="leaseOwner = :me",
                ExpressionAttributeNames={"#pending": "pending"},
                ExpressionAttributeValues=_typed(values),
            )
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True


def _conditional(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _bytes(value: Any) -> bytes:
    return bytes(getattr(value, "value", value))


def _checkpoint(camera_id: str, item: dict[str, Any]) -> Checkpoint:
    ref = item.get("gateRef")
    return Checkpoint(
        camera_id=camera_id,
        last_frame_ms=_int(item.get("lastFrameMs")),
        last_analysed_ms=_int(item.get("lastAnalysedMs")),
        last_faces_ms=_int(item.get("lastFacesMs")),
        gate_ref=_bytes(ref) if ref is not None else None,
        pending=[_bytes(p) for p in item.get("pending", [])],
        clock_skew_ms=_int(item.get("clockSkewMs")) or 0,
        clock_off=bool(item.get("clockOff", False)),
        clock_checked_ms=_int(item.get("clockCheckedMs")),
        tracks=item.get("tracks"),
        looks=item.get("looks"),
    )
