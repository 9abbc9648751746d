"""The Rekognition face-search stream-processor output record (one Kinesis record per frame).

Tolerant of fields AWS may add (``extra="allow"``), strict on the fields facewatch uses.
Numbers written in exponent form (``1.795E9``) are plain JSON numbers and parse as floats.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

Ratio = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
# Rekognition returns boxes that stick out of the frame for faces at the edge (negative Left,
# Left + Width > 1): bounded, but not to 0..1.
Offset = Annotated[float, Field(ge=-1.0, le=2.0, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
MAX_FRAGMENT_SECONDS = 20.0

# Model classes are named apart from AWS's field names: pydantic breaks on `X: X | None = None`.
_LOOSE = ConfigDict(extra="allow", frozen=True)


class Box(BaseModel):
    model_config = _LOOSE
    Width: Ratio
    Height: Ratio
    Left: Offset
    Top: Offset


class FaceLandmark(BaseModel):
    model_config = _LOOSE
    Type: str
    X: Finite
    Y: Finite


class FacePose(BaseModel):
    model_config = _LOOSE
    Pitch: Finite
    Roll: Finite
    Yaw: Finite


class FaceQuality(BaseModel):
    model_config = _LOOSE
    Brightness: Percent
    Sharpness: Percent


class FaceDetection(BaseModel):
    model_config = _LOOSE
    BoundingBox: Box
    Confidence: Percent
    Landmarks: list[FaceLandmark] = Field(default_factory=list, max_length=64)
    Pose: FacePose | None = None
    Quality: FaceQuality | None = None


class IndexedFace(BaseModel):
    model_config = _LOOSE
    FaceId: str = Field(min_length=1, max_length=64)
    ExternalImageId: str | None = Field(default=None, max_length=255)
    ImageId: str | None = Field(default=None, max_length=64)
    Confidence: Percent | None = None
    BoundingBox: Box | None = None


class FaceMatch(BaseModel):
    model_config = _LOOSE
    Similarity: Percent
    Face: IndexedFace


class FaceSearchEntry(BaseModel):
    model_config = _LOOSE
    DetectedFace: FaceDetection
    MatchedFaces: list[FaceMatch] = Field(default_factory=list, max_length=4096)


class KinesisVideoInfo(BaseModel):
    model_config = _LOOSE
    StreamArn: str = Field(
        pattern=r"^arn:aws[a-z-]*:kinesisvideo:[a-z0-9-]+:\d{12}:stream/[a-zA-Z0-9_.-]{1,256}/\d+$"
    )
    FragmentNumber: str = Field(pattern=r"^\d{1,128}$")
    ServerTimestamp: Finite
    ProducerTimestamp: Finite
    # Inside its fragment, and no KVS fragment is longer than 20 s.
    FrameOffsetInSeconds: Annotated[
        float, Field(ge=0.0, le=MAX_FRAGMENT_SECONDS, allow_inf_nan=False)
    ]


class InputInfo(BaseModel):
    model_config = _LOOSE
    KinesisVideo: KinesisVideoInfo


class ProcessorInfo(BaseModel):
    model_config = _LOOSE
    Status: str | None = None


class ProcessorRecord(BaseModel):
    """One analysed frame. ``FaceSearchResponse`` may be empty or missing (a frame with no face)."""

    model_config = _LOOSE
    InputInformation: InputInfo
    StreamProcessorInformation: ProcessorInfo | None = None
    FaceSearchResponse: list[FaceSearchEntry] | None = Field(default=None, max_length=100)

    @field_validator("FaceSearchResponse", mode="after")
    @classmethod
    def _none_is_empty(cls, value: list[FaceSearchEntry] | None) -> list[FaceSearchEntry]:
        return value or []

    @property
    def video(self) -> KinesisVideoInfo:
        return self.InputInformation.KinesisVideo

    @property
    def faces(self) -> list[FaceSearchEntry]:
        return self.FaceSearchResponse or []

    @property
    def stream_arn(self) -> str:
        return self.video.StreamArn

    @property
    def camera_id(self) -> str:
        return camera_id_from_stream_arn(self.video.StreamArn)

    @property
    def frame_time(self) -> float:
        """Frame time in Unix seconds: fragment start (producer clock) + offset in the fragment."""
        return self.video.ProducerTimestamp + self.video.FrameOffsetInSeconds

    @property
    def frame_key(self) -> str:
        """Identifies the frame across redeliveries and detectors."""
        return f"{self.video.FragmentNumber}:{self.video.FrameOffsetInSeconds:.3f}"


# The canary's synthetic camera ids: alerts for them are tests (AlertDetail.test), never pages.
CANARY_CAMERA_PREFIX = "facewatch-canary-"


def is_canary_camera(camera_id: str) -> bool:
    return camera_id.startswith(CANARY_CAMERA_PREFIX)


def camera_id_from_stream_arn(stream_arn: str) -> str:
    """The camera id is the KVS stream name: ``arn:...:stream/NAME/CREATION_MS`` -> ``NAME``."""
    resource = stream_arn.split(":", 5)[-1]
    parts = resource.split("/")
    if len(parts) < 2 or parts[0] != "stream" or not parts[1]:
        raise ValueError("not a Kinesis Video stream ARN")
    return parts[1]
