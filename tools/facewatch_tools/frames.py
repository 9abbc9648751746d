"""Processor records in the exact stream-processor format, for the simulator, tests and bench."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

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
