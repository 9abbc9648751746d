"""Faces of one frame: DetectFaces finds every face; each face big enough is searched in the
employee collection with SearchFacesByImage on its own crop (SearchFacesByImage searches only
the largest face of the image it is given, so searching the whole frame would miss the others).

The result is the stream processor's FaceSearchResponse: DetectedFace from DetectFaces on the
whole frame (ratios of the frame, as the processor reports them) and MatchedFaces from the search.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
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
from facewatch.sampler import mosaic
from facewatch.sampler.motion import UndecodableFrameError
from facewatch.sampler.settings import SamplerSettings

_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "LimitExceededException",
}
# The frame itself is unusable for Rekognition (over 5 MB, or not an image it reads).
_BAD_IMAGE = {"ImageTooLargeException", "InvalidImageFormatException"}
# Rekognition Image refuses images under 80 x 80 px (InvalidParameterException): a crop is
# never smaller. A face of SAMPLER_MIN_FACE_PIXELS (40, Rekognition's face floor) with the
# 35 % margin is a 68 px crop: such crops are upscaled, not padded with more of the frame,
# because padding can bring in a larger neighbouring face and SearchFacesByImage searches the
# largest face of its image.
MIN_IMAGE_PIXELS = 80


class RekognitionThrottledError(Exception):
    """Rekognition refused a call for throughput (after the client's own retry)."""


@dataclass(slots=True)
class FrameFaces:
    """What one analysed frame produced, with the call counts the cost report needs."""

    entries: list[FaceSearchEntry] = field(default_factory=list)
    detect_calls: int = 0
    search_calls: int = 0
    ignored: int = 0  # too unsure or too small for face_events: it would ignore them
    too_small: int = 0  # under SAMPLER_MIN_FACE_PIXELS: Rekognition cannot search them
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


@dataclass(slots=True)
class DetectedFrame:
    """A decoded frame and the faces DetectFaces found in it worth searching."""

    image: Image.Image
    details: list[dict[str, Any]] = field(default_factory=list)
    ignored: int = 0
    too_small: int = 0


class FaceSearcher:
    def __init__(self, rekognition: Any, rules: FaceRules) -> None:
        self._rekognition = rekognition
        self.rules = rules

    def analyse(self, jpeg: bytes) -> FrameFaces:
        """Detect and search every face of a full-resolution frame (no tracking).

        Raises RekognitionThrottledError: the caller backs off and drops the frame (no partial
        record: a record must list every face the frame has)."""
        frame = self.detect(jpeg)
        result = FrameFaces(detect_calls=1, ignored=frame.ignored, too_small=frame.too_small)
        for detail in frame.details:
            matches = self.search(frame, detail)
            result.search_calls += 1
            if matches is None:
                result.unsearchable += 1
                continue
            result.entries.append(entry(detail, matches))
        return result

    def detect(self, jpeg: bytes) -> DetectedFrame:
        """DetectFaces on the frame; the faces face_events would keep and Rekognition can
        search (the others counted)."""
        image = decode(jpeg)
        response = self._call("detect_faces", Image={"Bytes": jpeg}, Attributes=["DEFAULT"])
        return self._kept(image, response.get("FaceDetails", []))

    def detect_tiles(
        self, layout: mosaic.Layout, frames: Mapping[int, Image.Image]
    ) -> tuple[dict[int, DetectedFrame], int]:
        """One DetectFaces on the mosaic of ``layout``'s tiles; each frame's faces (as ratios of
        the frame), and how many faces a tile's edge cut (left out)."""
        size = next(iter(frames.values())).size
        response = self._call(
            "detect_faces",
            Image={"Bytes": mosaic.compose(layout, frames)},
            Attributes=["DEFAULT"],
        )
        per_frame, cut = mosaic.split(response.get("FaceDetails", []), layout, size)
        return {t: self._kept(frames[t], details) for t, details in per_frame.items()}, cut

    def _kept(self, image: Image.Image, details: Sequence[dict[str, Any]]) -> DetectedFrame:
        width, height = image.size
        frame = DetectedFrame(image)
        rules = self.rules
        for detail in details:
            box = detail["BoundingBox"]
            if (
                float(detail.get("Confidence", 0.0)) < rules.min_face_confidence
                or box["Height"] < rules.min_face_size
            ):
                frame.ignored += 1
            elif min(box["Width"] * width, box["Height"] * height) < rules.min_face_pixels:
                frame.too_small += 1
            else:
                frame.details.append(detail)
        return frame

    def search(self, frame: DetectedFrame, detail: dict[str, Any]) -> list[dict[str, Any]] | None:
        """FaceMatches of one face's crop; None when Rekognition finds no face in it
        (InvalidParameterException: reporting it as "unknown" would be a false alarm)."""
        crop = _crop(
            frame.image, detail["BoundingBox"], self.rules.crop_margin, self.rules.crop_quality
        )
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
            if exc.response.get("Error", {}).get("Code") != "InvalidParameterException":
                raise
            return None
        matches: list[dict[str, Any]] = found.get("FaceMatches", [])
        return matches

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


def decode(jpeg: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(jpeg))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UndecodableFrameError(str(exc)) from exc
    return image


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
    crop = image.crop(area).convert("RGB")
    short = min(crop.size)
    if short < MIN_IMAGE_PIXELS:
        scale = MIN_IMAGE_PIXELS / max(short, 1)
        size = (math.ceil(crop.width * scale), math.ceil(crop.height * scale))
        crop = crop.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    crop.save(out, format="JPEG", quality=quality)
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


def entry(detail: dict[str, Any], matches: list[dict[str, Any]]) -> FaceSearchEntry:
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
