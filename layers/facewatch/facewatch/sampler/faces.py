"""Faces of one frame: DetectFaces finds every face; each face big enough is searched in the
employee collection with SearchFacesByImage on its own crop (SearchFacesByImage searches only
the largest face of the image it is given, so searching the whole frame would miss the others).

The result is the stream processor's FaceSearchResponse: DetectedFace from DetectFaces on the
whole frame (ratios of the frame, as the processor reports them) and MatchedFaces from the search.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image, UnidentifiedImageError

from facewatch.detections.records import (
    Box,
    FaceDetection,
    FaceLandmark,
    FaceMatch,
    FacePose,
    FaceQuality,
    FaceSearchEntry,
    IndexedFace,
)
from facewatch.sampler.motion import UndecodableFrameError
from facewatch.sampler.settings import SamplerSettings

_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "LimitExceededException",
}
# The frame itself is unusable for Rekognition (over 5 MB, or not an image it reads).
_BAD_IMAGE = {"ImageTooLargeException", "InvalidImageFormatException"}


class RekognitionThrottledError(Exception):
    """Rekognition refused a call for throughput (after the client's own retry)."""


@dataclass(slots=True)
class FrameFaces:
    """What one analysed frame produced, with the call counts the cost report needs."""

    entries: list[FaceSearchEntry] = field(default_factory=list)
    detect_calls: int = 0
    search_calls: int = 0
    ignored: int = 0  # too small or too unsure: face_events would ignore them, so not searched
    unsearchable: int = 0


@dataclass(frozen=True, slots=True)
class FaceRules:
    collection_id: str
    face_match_threshold: float = 80.0
    max_matches: int = 5
    min_face_pixels: int = 40
    min_face_size: float = 0.0
    min_face_confidence: float = 0.0
    crop_margin: float = 0.35
    crop_quality: int = 90

    @classmethod
    def from_settings(cls, settings: SamplerSettings) -> FaceRules:
        return cls(
            collection_id=settings.collection_id,
            # search down to the possible-match floor: face_events decides the band
            face_match_threshold=min(settings.possible_match_floor, settings.face_match_threshold),
            max_matches=settings.max_matches,
            min_face_pixels=settings.min_face_pixels,
            min_face_size=settings.min_face_size,
            min_face_confidence=settings.min_face_confidence,
            crop_margin=settings.crop_margin,
        )


class FaceSearcher:
    def __init__(self, rekognition: Any, rules: FaceRules) -> None:
        self._rekognition = rekognition
        self.rules = rules

    def analyse(self, jpeg: bytes) -> FrameFaces:
        """Detect and search every face of a full-resolution frame.

        Raises RekognitionThrottledError: the caller backs off and drops the frame (no partial
        record: a record must list every face the frame has)."""
        result = FrameFaces()
        try:
            image = Image.open(io.BytesIO(jpeg))
            image.load()
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise UndecodableFrameError(str(exc)) from exc
        width, height = image.size
        details = self._call("detect_faces", Image={"Bytes": jpeg}, Attributes=["DEFAULT"])
        result.detect_calls += 1
        for detail in details.get("FaceDetails", []):
            box = detail["BoundingBox"]
            if not self._worth_searching(detail, width, height):
                result.ignored += 1
                continue
            crop = _crop(image, box, self.rules.crop_margin, self.rules.crop_quality)
            try:
                found = self._call(
                    "search_faces_by_image",
                    CollectionId=self.rules.collection_id,
                    Image={"Bytes": crop},
                    MaxFaces=self.rules.max_matches,
                    FaceMatchThreshold=self.rules.face_match_threshold,
                    QualityFilter="NONE",  # size is filtered above; quality is face_events' call
                )
            except ClientError as exc:
                result.search_calls += 1
                if exc.response.get("Error", {}).get("Code") != "InvalidParameterException":
                    raise
                # No face found in the crop: reporting it as "unknown" would be a false alarm.
                result.unsearchable += 1
                continue
            result.search_calls += 1
            result.entries.append(_entry(detail, found.get("FaceMatches", [])))
        return result

    def _worth_searching(self, detail: dict[str, Any], width: int, height: int) -> bool:
        rules, box = self.rules, detail["BoundingBox"]
        return (
            float(detail.get("Confidence", 0.0)) >= rules.min_face_confidence
            and box["Height"] >= rules.min_face_size
            and box["Width"] * width >= rules.min_face_pixels
            and box["Height"] * height >= rules.min_face_pixels
        )

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._rekognition, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _THROTTLED:
                raise RekognitionThrottledError(operation) from exc
            if code in _BAD_IMAGE:
                raise UndecodableFrameError(code) from exc
            raise
        except BotoCoreError as exc:  # timeouts: treat like throttling (back off, try newer)
            raise RekognitionThrottledError(operation) from exc
        return response


def _crop(image: Image.Image, box: dict[str, float], margin: float, quality: int) -> bytes:
    width, height = image.size
    left = (box["Left"] - box["Width"] * margin) * width
    top = (box["Top"] - box["Height"] * margin) * height
    right = (box["Left"] + box["Width"] * (1 + margin)) * width
    bottom = (box["Top"] + box["Height"] * (1 + margin)) * height
    area = (
        max(0, round(left)),
        max(0, round(top)),
        min(width, round(right)),
        min(height, round(bottom)),
    )
    out = io.BytesIO()
    image.crop(area).convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _box(raw: dict[str, float]) -> Box:
    # Rekognition boxes may stick out of the frame; keep them inside the record model's bounds.
    return Box(
        Width=_clamp(raw["Width"], 0.0, 1.0),
        Height=_clamp(raw["Height"], 0.0, 1.0),
        Left=_clamp(raw["Left"], -1.0, 2.0),
        Top=_clamp(raw["Top"], -1.0, 2.0),
    )


def _entry(detail: dict[str, Any], matches: list[dict[str, Any]]) -> FaceSearchEntry:
    pose = detail.get("Pose")
    quality = detail.get("Quality")
    detected = FaceDetection(
        BoundingBox=_box(detail["BoundingBox"]),
        Confidence=_clamp(detail.get("Confidence", 0.0), 0.0, 100.0),
        Landmarks=[
            FaceLandmark(Type=mark["Type"], X=mark["X"], Y=mark["Y"])
            for mark in detail.get("Landmarks", [])
        ],
        Pose=FacePose(Pitch=pose["Pitch"], Roll=pose["Roll"], Yaw=pose["Yaw"]) if pose else None,
        Quality=FaceQuality(Brightness=quality["Brightness"], Sharpness=quality["Sharpness"])
        if quality
        else None,
    )
    return FaceSearchEntry(
        DetectedFace=detected,
        MatchedFaces=[
            FaceMatch(
                Similarity=match["Similarity"],
                Face=IndexedFace(
                    FaceId=match["Face"]["FaceId"],
                    ExternalImageId=match["Face"].get("ExternalImageId"),
                    ImageId=match["Face"].get("ImageId"),
                    Confidence=match["Face"].get("Confidence"),
                    BoundingBox=_box(match["Face"]["BoundingBox"])
                    if "BoundingBox" in match["Face"]
                    else None,
                ),
            )
            for match in matches
        ],
    )
