"""Processor records in the exact stream-processor format, for the simulator, tests and bench."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from facewatch.detections.bands import PROCESSOR_MIN_THRESHOLD
from facewatch.detections.records import ProcessorRecord

ACCOUNT = "111122223333"
REGION = "ap-northeast-2"
STREAM_CREATED_MS = 1764000000000


def stream_arn(camera_id: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:kinesisvideo:{region}:{account}:stream/{camera_id}/{STREAM_CREATED_MS}"


@dataclass(frozen=True, slots=True)
class FaceSpec:
    """A face in a frame: who (employee id or None for a stranger) and how it looks."""

    employee_id: str | None = None
    similarity: float = 99.0  # of the best match, when employee_id is set
    confidence: float = 99.5
    left: float = 0.4
    top: float = 0.25
    width: float = 0.1
    height: float = 0.16
    yaw: float = 0.0


def _landmarks(face: FaceSpec) -> list[dict[str, Any]]:
    cx, cy = face.left + face.width / 2, face.top + face.height / 2
    dx, dy = face.width * 0.18, face.height * 0.15
    points = {
        "eyeLeft": (cx - dx, cy - dy),
        "eyeRight": (cx + dx, cy - dy),
        "nose": (cx, cy + dy * 0.4),
        "mouthLeft": (cx - dx * 0.8, cy + dy * 1.5),
        "mouthRight": (cx + dx * 0.8, cy + dy * 1.5),
    }
    return [{"Type": k, "X": round(x, 4), "Y": round(y, 4)} for k, (x, y) in points.items()]


def _uuid_like(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"


def face_entry(face: FaceSpec) -> dict[str, Any]:
    detected = {
        "BoundingBox": {
            "Width": face.width,
            "Height": face.height,
            "Left": face.left,
            "Top": face.top,
        },
        "Confidence": face.confidence,
        "Landmarks": _landmarks(face),
        "Pose": {"Pitch": -3.1, "Roll": 1.7, "Yaw": face.yaw},
        "Quality": {"Brightness": 52.0, "Sharpness": 88.0},
    }
    matches: list[dict[str, Any]] = []
    if face.employee_id is not None:
        seed = hashlib.sha256(face.employee_id.encode()).hexdigest()
        face_id, image_id = _uuid_like(seed[:32]), _uuid_like(seed[32:])
        matches.append(
            {
                "Similarity": face.similarity,
                "Face": {
                    "BoundingBox": {"Width": 0.41, "Height": 0.52, "Left": 0.27, "Top": 0.18},
                    "FaceId": face_id,
                    "Confidence": 99.98,
                    "ImageId": image_id,
                    "ExternalImageId": face.employee_id,
                },
            }
        )
    return {"DetectedFace": detected, "MatchedFaces": matches}


def frame_record(
    camera_id: str,
    frame_time: float,
    faces: list[FaceSpec] | tuple[FaceSpec, ...] = (),
    *,
    arn: str | None = None,
    fragment_seconds: float = 2.0,
) -> dict[str, Any]:
    """A record for the frame at ``frame_time``: fragments start every ``fragment_seconds``."""
    producer = frame_time - (frame_time % fragment_seconds)
    offset = round(frame_time - producer, 3)
    fragment = 91343852333181902899028673905925406775303508000 + int(producer * 10)
    return {
        "InputInformation": {
            "KinesisVideo": {
                "StreamArn": arn or stream_arn(camera_id),
                "FragmentNumber": str(fragment),
                "ServerTimestamp": round(producer + 0.31, 3),
                "ProducerTimestamp": round(producer, 3),
                "FrameOffsetInSeconds": offset,
            }
        },
        "StreamProcessorInformation": {"Status": "RUNNING"},
        "FaceSearchResponse": [face_entry(f) for f in faces],
    }


# ---- what Rekognition can produce ----------------------------------------------------------------
# The stream processor's documented record (Developer Guide, "Reference: Kinesis face recognition
# record") and the limits of its face search: every record the simulator, a fixture or a test
# double writes must pass, so nothing works locally that AWS could never send.
LANDMARK_TYPES = frozenset({"eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"})
MAX_FACES_PER_FRAME = 100  # DetectFaces: the 100 largest faces
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_EXTERNAL_IMAGE_ID = re.compile(r"^[a-zA-Z0-9_.\-:]{1,255}$")


class ImpossibleRecordError(ValueError):
    """A record no stream processor (or the sampler, with its floor) could have written."""


def _box_problems(where: str, box: dict[str, Any]) -> list[str]:
    width, height, left, top = (float(box[k]) for k in ("Width", "Height", "Left", "Top"))
    problems = []
    if not (0 < width <= 1 and 0 < height <= 1):
        problems.append(f"{where}: Width and Height are ratios of the frame in (0, 1]")
    # A face cut by the frame's edge may start left of or above it (AWS: negative Left/Top),
    # but the box always overlaps the frame.
    if not (left < 1 and top < 1 and left + width > 0 and top + height > 0):
        problems.append(f"{where}: the box lies outside the frame [0, 1]")
    return problems


def _face_problems(where: str, entry: dict[str, Any], min_similarity: float) -> list[str]:
    face = entry["DetectedFace"]
    problems = _box_problems(where, face["BoundingBox"])
    kinds = [landmark["Type"] for landmark in face.get("Landmarks", [])]
    if set(kinds) - LANDMARK_TYPES or len(kinds) != len(set(kinds)):
        problems.append(f"{where}: landmarks are the five documented types, each once")
    pose = face.get("Pose") or {}
    if any(abs(float(pose[k])) > 180 for k in ("Pitch", "Roll", "Yaw") if k in pose):
        problems.append(f"{where}: pose angles are within +-180 degrees")
    similarities = [float(m["Similarity"]) for m in entry.get("MatchedFaces", [])]
    if any(s < min_similarity for s in similarities):
        problems.append(
            f"{where}: a match below {min_similarity:g}: Rekognition returns only matches at or "
            "above the search threshold (a stream processor's is at least 80)"
        )
    if similarities != sorted(similarities, reverse=True):
        problems.append(f"{where}: matches come sorted by Similarity, highest first")
    for match in entry.get("MatchedFaces", []):
        indexed = match["Face"]
        if not _UUID.match(str(indexed.get("FaceId", ""))):
            problems.append(f"{where}: FaceId is a UUID")
        external = indexed.get("ExternalImageId")
        if external is not None and not _EXTERNAL_IMAGE_ID.match(str(external)):
            problems.append(f"{where}: ExternalImageId is 1-255 of [a-zA-Z0-9_.-:]")
        if indexed.get("BoundingBox"):
            problems += _box_problems(f"{where} match", indexed["BoundingBox"])
    return problems


def record_problems(
    record: dict[str, Any], *, min_similarity: float = PROCESSOR_MIN_THRESHOLD
) -> list[str]:
    """Why Rekognition could not have written ``record`` (empty: it could).

    ``min_similarity``: the search threshold of the detector, 80 or more for a stream processor
    (AWS raises lower values), POSSIBLE_MATCH_FLOOR for the sampler."""
    try:
        parsed = ProcessorRecord.model_validate(record)
    except ValidationError as exc:
        return [f"not a processor record: {exc.error_count()} field errors"]
    problems = []
    info = record.get("StreamProcessorInformation") or {}
    if info.get("Status") != "RUNNING":
        problems.append('StreamProcessorInformation.Status is "RUNNING" (the only documented one)')
    faces = record.get("FaceSearchResponse") or []
    if len(parsed.faces) > MAX_FACES_PER_FRAME:
        problems.append(f"at most {MAX_FACES_PER_FRAME} faces a frame")
    for index, entry in enumerate(faces):
        problems += _face_problems(f"face {index}", entry, min_similarity)
    return problems


def check_record(
    record: dict[str, Any], *, min_similarity: float = PROCESSOR_MIN_THRESHOLD
) -> dict[str, Any]:
    """``record`` unchanged, or ImpossibleRecordError naming every problem."""
    problems = record_problems(record, min_similarity=min_similarity)
    if problems:
        raise ImpossibleRecordError("; ".join(problems))
    return record
