"""A synthetic camera scene served through the real boto3 clients, for the sampler's tests and
benchmark.

- Frames are JPEGs drawn with Pillow: a textured background; each person is a body plus a face
  whose colour encodes who it is (an employee of the collection, or a stranger).
- GetImages and the Rekognition calls are answered by botocore's Stubber: each call's parameters
  are validated by the client against the service model and each response by the Stubber against
  the output shape. Responses are queued just in time (on ``provide-client-params``) from what
  the request asks for, so a whole hour of video needs no precomputed queue.
- ``SimClock`` is the time of the scene: ``sleep`` advances it; ``real_work`` also adds the wall
  time the code under test spent (the benchmark's "own work" latency).
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore import xform_name
from botocore.stub import Stubber
from PIL import Image, ImageChops, ImageDraw

WIDTH, HEIGHT = 640, 360
EMPLOYEE_COLOURS = {"EMP-10442": (200, 40, 40), "EMP-20001": (40, 40, 200)}
STRANGER_COLOUR = (40, 200, 40)


class SimClock:
    def __init__(self, start: float, real_work: bool = False) -> None:
        self._sim = start
        self._real_work = real_work
        self._real_start = time.perf_counter()
        self.slept = 0.0

    def now(self) -> float:
        if self._real_work:
            return self._sim + (time.perf_counter() - self._real_start)
        return self._sim

    def sleep(self, seconds: float) -> None:
        self._sim += seconds
        self.slept += seconds

    def advance(self, seconds: float) -> None:
        self._sim += seconds


@dataclass(frozen=True)
class Visit:
    """Someone crossing the frame from ``enter`` to ``leave`` (Unix seconds)."""

    enter: float
    leave: float
    who: str | None = None  # employee id, or None for a stranger
    face_height: float = 0.3  # fraction of the frame height

    def box(self, t: float) -> tuple[float, float, float, float] | None:
        """(left, top, width, height) of the face, as ratios of the frame, at time t."""
        if not self.enter <= t < self.leave:
            return None
        progress = (t - self.enter) / max(self.leave - self.enter, 1e-6)
        h = self.face_height
        w = h * HEIGHT / WIDTH * 0.8
        left = 0.1 + progress * (0.8 - w)
        return (left, 0.15, w, h)

    @property
    def colour(self) -> tuple[int, int, int]:
        return EMPLOYEE_COLOURS[self.who] if self.who else STRANGER_COLOUR


@dataclass
class Scene:
    clock: SimClock
    visits: list[Visit] = field(default_factory=list)
    offline: list[tuple[float, float]] = field(default_factory=list)
    media_errors: set[int] = field(default_factory=set)  # frame times (ms) that fail
    # KVS makes a frame readable once its fragment is in: fragments of ``fragment_seconds``
    # (the producer's key-frame interval) plus ``upload_seconds`` to send one.
    fragment_seconds: float = 1.0
    upload_seconds: float = 0.5
    upload_jitter: float = 0.0  # + up to this much, different for each fragment (seeded)
    full_size: tuple[int, int] = (WIDTH, HEIGHT)
    noise: float = 6.0  # sensor noise, grey levels (sigma); JPEG artefacts come on top
    _faces: dict[str, list[tuple[float, float, float, float]]] = field(default_factory=dict)

    def available_at(self, t: float) -> float:
        fragment = math.floor(t / self.fragment_seconds)
        jitter = self.upload_jitter * random.Random(fragment).random() if self.upload_jitter else 0
        return (fragment + 1) * self.fragment_seconds + self.upload_seconds + jitter

    def people(self, t: float) -> list[tuple[Visit, tuple[float, float, float, float]]]:
        found = []
        for visit in self.visits:
            box = visit.box(t)
            if box:
                found.append((visit, box))
        return found

    def is_offline(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.offline)

    def render(self, t: float, size: tuple[int, int]) -> bytes:
        width, height = size
        image = Image.new("RGB", size, (128, 128, 128))
        draw = ImageDraw.Draw(image)
        for i in range(0, width, max(1, width // 16)):  # static texture: a wall with panels
            draw.line([(i, 0), (i, height)], fill=(110, 110, 110), width=1)
        boxes = []
        for visit, (left, top, w, h) in self.people(t):
            x0, y0 = left * width, top * height
            draw.rectangle(
                [x0 - w * width * 0.3, y0 + h * height, x0 + w * width * 1.3, height - 1],
                fill=(60, 60, 90),
            )
            draw.ellipse([x0, y0, x0 + w * width, y0 + h * height], fill=visit.colour)
            boxes.append((left, top, w, h))
        if self.noise:
            grain = Image.effect_noise(size, self.noise).convert("RGB")
            image = ImageChops.add(image, grain, scale=1.0, offset=-128)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=85)
        jpeg = out.getvalue()
        if size == self.full_size:
            self._faces[hashlib.sha1(jpeg).hexdigest()] = boxes
        return jpeg

    def faces_in(self, jpeg: bytes) -> list[tuple[float, float, float, float]]:
        return self._faces.get(hashlib.sha1(jpeg).hexdigest(), [])


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


class JitStub:
    """Stubber fed just in time: ``responders[operation](params)`` returns the response dict, or
    ``("error", code)`` for a service error. Every request still passes the client's parameter
    validation; every response passes the Stubber's output-shape validation."""

    def __init__(
        self,
        client: Any,
        responders: dict[str, Callable[[dict[str, Any]], Any]],
        latency: dict[str, float] | None = None,
        clock: SimClock | None = None,
    ) -> None:
        self.client = client
        self.stubber = Stubber(client)
        self.responders = responders
        self.latency = latency or {}
        self.clock = clock
        self.calls: dict[str, int] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        service = client.meta.service_model.service_id.hyphenize()
        for operation in responders:
            client.meta.events.register(
                f"provide-client-params.{service}.{operation}", self._provide
            )
        self.stubber.activate()

    def _provide(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        self.calls[name] = self.calls.get(name, 0) + 1
        self.requests.append((name, params))
        if self.clock and name in self.latency:
            self.clock.advance(self.latency[name])
        result = self.responders[name](params)
        method = xform_name(name)
        if isinstance(result, tuple) and result[0] == "error":
            self.stubber.add_client_error(
                method, service_error_code=result[1], service_message=result[1]
            )
        else:
            self.stubber.add_response(method, result)


def get_images_responder(scene: Scene) -> Callable[[dict[str, Any]], Any]:
    def respond(params: dict[str, Any]) -> dict[str, Any]:
        start, end = _ms(params["StartTimestamp"]), _ms(params["EndTimestamp"])
        interval = params["SamplingInterval"]
        assert params["ImageSelectorType"] == "PRODUCER_TIMESTAMP"
        assert interval >= 200
        assert end - start <= 300_000
        offset = int(params.get("NextToken", "0"))
        size = (
            (params["WidthPixels"], params["HeightPixels"])
            if "WidthPixels" in params
            else scene.full_size
        )
        now = scene.clock.now()
        times = list(range(start, end + 1, interval)) or [start]
        page = times[offset : offset + params.get("MaxResults", 25)]
        images: list[dict[str, Any]] = []
        for t_ms in page:
            t = t_ms / 1000.0
            stamp = datetime.fromtimestamp(t, tz=params["StartTimestamp"].tzinfo)
            if scene.available_at(t) > now or scene.is_offline(t):
                images.append({"TimeStamp": stamp, "Error": "NO_MEDIA"})
            elif t_ms in scene.media_errors:
                images.append({"TimeStamp": stamp, "Error": "MEDIA_ERROR"})
            else:
                content = base64.b64encode(scene.render(t, size)).decode()
                images.append({"TimeStamp": stamp, "ImageContent": content})
        response: dict[str, Any] = {"Images": images}
        if offset + len(page) < len(times):
            response["NextToken"] = str(offset + len(page))
        return response

    return respond


def detect_faces_responder(scene: Scene) -> Callable[[dict[str, Any]], Any]:
    def respond(params: dict[str, Any]) -> dict[str, Any]:
        details = []
        for left, top, w, h in scene.faces_in(params["Image"]["Bytes"]):
            details.append(
                {
                    "BoundingBox": {"Width": w, "Height": h, "Left": left, "Top": top},
                    "Confidence": 99.5,
                    "Landmarks": [
                        {"Type": "eyeLeft", "X": left + w * 0.3, "Y": top + h * 0.4},
                        {"Type": "eyeRight", "X": left + w * 0.7, "Y": top + h * 0.4},
                        {"Type": "nose", "X": left + w * 0.5, "Y": top + h * 0.6},
                    ],
                    "Pose": {"Roll": 1.0, "Yaw": -2.0, "Pitch": 3.0},
                    "Quality": {"Brightness": 60.0, "Sharpness": 80.0},
                }
            )
        return {"FaceDetails": details}

    return respond


def _who(crop: bytes) -> str | bool | None:
    """Employee id, None for a stranger, False when there is no face in the crop."""
    with Image.open(io.BytesIO(crop)) as image:
        rgb = image.convert("RGB")
        centre = rgb.getpixel((rgb.width // 2, rgb.height // 2))
    assert isinstance(centre, tuple)

    def distance(colour: tuple[int, int, int]) -> int:
        return sum(abs(int(a) - int(b)) for a, b in zip(centre, colour, strict=False))

    best = min([*EMPLOYEE_COLOURS.items(), (None, STRANGER_COLOUR)], key=lambda i: distance(i[1]))
    if distance(best[1]) > 90:
        return False
    return best[0]


def search_responder(threshold_seen: list[float] | None = None) -> Callable[[dict[str, Any]], Any]:
    def respond(params: dict[str, Any]) -> Any:
        if threshold_seen is not None:
            threshold_seen.append(params["FaceMatchThreshold"])
        who = _who(params["Image"]["Bytes"])
        if who is False:
            return ("error", "InvalidParameterException")
        box = {"Width": 0.5, "Height": 0.6, "Left": 0.25, "Top": 0.2}
        matches = []
        if who:
            matches.append(
                {
                    "Similarity": 98.7,
                    "Face": {
                        "FaceId": "6c1f4e0a-93d2-4c55-9b0e-2f7f0d1a9e11",
                        "BoundingBox": box,
                        "ImageId": "b7d0c2aa-1f3e-4e9b-8a51-7c2d9e4f6a30",
                        "ExternalImageId": who,
                        "Confidence": 99.9,
                    },
                }
            )
        return {
            "SearchedFaceBoundingBox": box,
            "SearchedFaceConfidence": 99.0,
            "FaceMatches": matches,
            "FaceModelVersion": "7.0",
        }

    return respond
