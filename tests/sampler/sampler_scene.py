"""A synthetic camera scene served through the real boto3 clients, for the sampler's tests and
benchmark.

- Frames are JPEGs drawn with Pillow: a textured background; each person is a body plus a face
  whose colour encodes who it is (an employee of the collection, or a stranger).
- DetectFaces finds faces in the pixels it is given (any image: a frame, a crop, a mosaic of
  crops), as Rekognition does: a face is a patch of a face colour; half of it the side of the
  head is a turned face. SearchFacesByImage reads who it is from its crop's colour.
- GetImages and the Rekognition calls are answered by botocore's Stubber: each call's parameters
  are validated by the client against the service model and each response by the Stubber against
  the output shape. Responses are queued just in time (on ``provide-client-params``) from what
  the request asks for, so a whole hour of video needs no precomputed queue.
- ``SimClock`` is the time of the scene: ``sleep`` and the stand-ins' modelled latencies move it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore import xform_name
from botocore.stub import Stubber
from PIL import Image, ImageChops, ImageDraw

WIDTH, HEIGHT = 640, 360
EMPLOYEE_COLOURS = {
    "EMP-10442": (200, 40, 40),
    "EMP-20001": (40, 40, 200),
    "EMP-30003": (210, 210, 40),
    "EMP-40004": (200, 40, 200),
}
STRANGER_COLOUR = (40, 200, 40)
HAIR_COLOUR = (50, 35, 20)  # the back of a head: DetectFaces finds no face
TURNED_YAW = 55.0  # a face detected at the edge of a turn: searched, it matches poorly
TURNED_SIMILARITY = 72.0  # an employee's turned face: below the default threshold of 80


class SimClock:
    """The scene's time: it moves only when the code sleeps or a stand-in models an AWS call's
    latency (``advance``), so a run repeats exactly."""

    def __init__(self, start: float) -> None:
        self._sim = start
        self.slept = 0.0

    def now(self) -> float:
        return self._sim

    def sleep(self, seconds: float) -> None:
        self._sim += seconds
        self.slept += seconds

    def advance(self, seconds: float) -> None:
        self._sim += seconds

    def rewind(self, to: float) -> None:
        """Back to ``to``: the scene replays for another camera."""
        self._sim = to


@dataclass(frozen=True)
class Visit:
    """Someone in view from ``enter`` to ``leave`` (Unix seconds), moving from ``start_x`` to
    ``end_x`` (the face box's left edge, ratio of the frame; default: left to right across).

    ``facing``: the intervals (absolute seconds) in which the face is towards the camera; None:
    the whole visit. Outside them only the back of the head is seen (no face). Within
    ``turn_seconds`` of an interval's edges the face is seen turned (yaw 55): detected, but an
    employee's turned face matches below the threshold. ``sway``: a seated person's head moves
    this fraction of the frame back and forth (period 6 s)."""

    enter: float
    leave: float
    who: str | None = None  # employee id, or None for a stranger
    face_height: float = 0.3  # fraction of the frame height
    start_x: float = 0.1
    end_x: float | None = None
    top: float = 0.15
    facing: tuple[tuple[float, float], ...] | None = None
    turn_seconds: float = 0.0
    sway: float = 0.0

    def box(self, t: float) -> tuple[float, float, float, float] | None:
        """(left, top, width, height) of the face, as ratios of the frame, at time t."""
        if not self.enter <= t < self.leave:
            return None
        progress = (t - self.enter) / max(self.leave - self.enter, 1e-6)
        h = self.face_height
        w = h * HEIGHT / WIDTH * 0.8
        end = 0.8 - w if self.end_x is None else self.end_x
        left = self.start_x + progress * (end - self.start_x)
        if self.sway:
            left += self.sway * math.sin(2 * math.pi * (t - self.enter) / 6.0)
        return (left, self.top, w, h)

    def pose(self, t: float) -> str | None:
        """ "front", "turned" (detected, matches poorly) or None (no face seen) at time t."""
        if not self.enter <= t < self.leave:
            return None
        intervals = self.facing if self.facing is not None else ((self.enter, self.leave),)
        for a, b in intervals:
            if a <= t < b:
                inner_a = a + self.turn_seconds if a > self.enter else a
                inner_b = b - self.turn_seconds if b < self.leave else b
                return "front" if inner_a <= t < inner_b else "turned"
        return None

    @property
    def colour(self) -> tuple[int, int, int]:
        return EMPLOYEE_COLOURS[self.who] if self.who else STRANGER_COLOUR


@dataclass(frozen=True)
class Lighting:
    """A lighting change: ``kind`` "switch" (the whole frame times ``gain`` from ``start`` to
    ``end``), "cloud" (the whole frame dims smoothly to ``gain`` and back over the interval) or
    "door" (a light patch ``area`` (x0, y0, x1, y1) on the floor times ``gain``)."""

    kind: str
    start: float
    end: float
    gain: float
    area: tuple[float, float, float, float] = (0.45, 0.72, 0.98, 1.0)

    def factor(self, t: float) -> float:
        if not self.start <= t < self.end:
            return 1.0
        if self.kind == "cloud":
            phase = (t - self.start) / (self.end - self.start)
            return 1.0 - (1.0 - self.gain) * math.sin(math.pi * phase)
        return self.gain


@dataclass(frozen=True)
class SeenFace:
    """A face DetectFaces finds in a rendered frame: its box, yaw and who it is."""

    box: tuple[float, float, float, float]
    yaw: float
    who: str | None


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
    lighting: list[Lighting] = field(default_factory=list)
    # The producer's clock minus true time (-8: the office host's clock is 8 s slow). Frames
    # are stamped, and asked for, by producer time; KVS's server clock is true time.
    producer_offset: float = 0.0
    _times: dict[str, float] = field(default_factory=dict)  # full-size frame -> its true time
    last_full_time: float | None = None  # the newest full-size frame GetImages returned

    def available_at(self, t: float) -> float:
        fragment = math.floor(t / self.fragment_seconds)
        jitter = self.upload_jitter * random.Random(fragment).random() if self.upload_jitter else 0
        return (fragment + 1) * self.fragment_seconds + self.upload_seconds + jitter

    def people(self, t: float) -> list[tuple[Visit, tuple[float, float, float, float]]]:
        """Everyone in view at t with their face box, farthest (smallest face) first."""
        found = []
        for visit in self.visits:
            box = visit.box(t)
            if box:
                found.append((visit, box))
        return sorted(found, key=lambda item: item[0].face_height)

    def seen_faces(self, t: float) -> list[SeenFace]:
        """The faces a detector finds at t (front or turned), as DetectFaces reports them."""
        faces = []
        for visit, box in self.people(t):
            pose = visit.pose(t)
            if pose:
                faces.append(SeenFace(box, 0.0 if pose == "front" else TURNED_YAW, visit.who))
        return faces

    def is_offline(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.offline)

    def render(self, t: float, size: tuple[int, int]) -> bytes:
        width, height = size
        image = Image.new("RGB", size, (128, 128, 128))
        draw = ImageDraw.Draw(image)
        for i in range(0, width, max(1, width // 16)):  # static texture: a wall with panels
            draw.line([(i, 0), (i, height)], fill=(110, 110, 110), width=1)
        for visit, (left, top, w, h) in self.people(t):
            x0, y0 = left * width, top * height
            draw.rectangle(
                [x0 - w * width * 0.3, y0 + h * height, x0 + w * width * 1.3, height - 1],
                fill=(60, 60, 90),
            )
            pose = visit.pose(t)
            face = [x0, y0, x0 + w * width, y0 + h * height]
            draw.ellipse(face, fill=visit.colour if pose else HAIR_COLOUR)
            if pose == "turned":  # half the face is the side of the head
                draw.chord(face, 90, 270, fill=HAIR_COLOUR)
        for light in self.lighting:
            gain = light.factor(t)
            if gain == 1.0:
                continue
            if light.kind == "door":
                x0, y0, x1, y1 = light.area
                area = (
                    round(x0 * width),
                    round(y0 * height),
                    round(x1 * width),
                    round(y1 * height),
                )
                patch = image.crop(area).point(lambda v, g=gain: min(255, round(v * g)))
                image.paste(patch, area[:2])
            else:
                image = image.point(lambda v, g=gain: min(255, round(v * g)))
        if self.noise:
            grain = Image.effect_noise(size, self.noise).convert("RGB")
            image = ImageChops.add(image, grain, scale=1.0, offset=-128)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=85)
        jpeg = out.getvalue()
        if size == self.full_size:
            digest = hashlib.sha1(jpeg).hexdigest()
            self._times[digest] = t
            self.last_full_time = t
        return jpeg

    def time_of(self, jpeg: bytes) -> float | None:
        """The true time of a full-size frame this scene rendered (None: not one of them)."""
        return self._times.get(hashlib.sha1(jpeg).hexdigest())


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
        # Pages of at most 25 images, whatever MaxResults (1-100) says.
        page = times[offset : offset + min(25, params.get("MaxResults", 25))]
        images: list[dict[str, Any]] = []
        for t_ms in page:
            stamp = datetime.fromtimestamp(t_ms / 1000.0, tz=params["StartTimestamp"].tzinfo)
            t = t_ms / 1000.0 - scene.producer_offset  # the true time of that producer time
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


def list_fragments_responder(scene: Scene) -> Callable[[dict[str, Any]], Any]:
    """ListFragments by SERVER_TIMESTAMP: fragments KVS has received in the range, with the
    producer's start time (its clock) and the server's (true time, plus 0.2 s upload of the
    first frame)."""

    def respond(params: dict[str, Any]) -> dict[str, Any]:
        selector = params["FragmentSelector"]
        assert selector["FragmentSelectorType"] == "SERVER_TIMESTAMP"
        window = selector["TimestampRange"]
        start, end = _ms(window["StartTimestamp"]), _ms(window["EndTimestamp"])
        length = scene.fragment_seconds
        now = scene.clock.now()
        fragments = []
        k = math.ceil((start / 1000.0 - 0.2) / length)
        while (k * length + 0.2) * 1000 <= min(end, now * 1000):
            t = k * length
            if not scene.is_offline(t):
                tz = window["StartTimestamp"].tzinfo
                fragments.append(
                    {
                        "FragmentNumber": str(91343852333181432392682062 + k),
                        "FragmentSizeInBytes": 250_000,
                        "ProducerTimestamp": datetime.fromtimestamp(
                            t + scene.producer_offset, tz=tz
                        ),
                        "ServerTimestamp": datetime.fromtimestamp(t + 0.2, tz=tz),
                        "FragmentLengthInMilliseconds": round(length * 1000),
                    }
                )
            k += 1
        return {"Fragments": fragments[-params.get("MaxResults", 1000) :]}

    return respond


# Face colours as Pillow's HSV hue (0-255) ranges, with gaps between them: where two faces touch,
# JPEG's blurred edge falls in a gap and the faces stay apart. Saturation and value floors keep
# out grey walls, bodies (60, 60, 90) and hair (50, 35, 20), also in a dimmed room.
_FACE_HUES = ((0, 12), (243, 255), (30, 54), (73, 97), (158, 182), (200, 224))
_FACE_SATURATION, _FACE_VALUE = 110, 50
_MIN_FACE_AREA = 30  # pixels: JPEG noise specks are no face
# "To be detected, a face must be no smaller than 40x40 pixels in an image with 1920X1080
# pixels. Images with dimensions higher than 1920X1080 pixels will need a larger minimum face
# size proportionally." (Rekognition guidelines and quotas)
_DETECT_FLOOR, _FLOOR_IMAGE = 40, (1920, 1080)
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # Rekognition Image: image bytes passed to the API


@dataclass(frozen=True)
class FoundFace:
    """A face DetectFaces finds in an image: its box in pixels, and whether it is turned."""

    left: int
    top: int
    width: int
    height: int
    turned: bool


def _face_classes(image: Image.Image) -> bytes:
    """One byte a pixel: 0, or which face colour the pixel has (1-5)."""
    hue, saturation, value = image.convert("HSV").split()
    table = [0] * 256
    for i, (a, b) in enumerate(_FACE_HUES):
        for h in range(a, b + 1):
            table[h] = 1 if i < 2 else i  # red wraps around 0
    classes = hue.point(table)
    mask = ImageChops.multiply(
        saturation.point(lambda v: 255 if v > _FACE_SATURATION else 0),
        value.point(lambda v: 255 if v > _FACE_VALUE else 0),
    )
    out = Image.new("L", image.size, 0)
    out.paste(classes, (0, 0), mask)
    return out.tobytes()


def find_faces(image: Image.Image) -> list[FoundFace]:
    """The faces of an image: connected patches of one face colour. A patch much narrower than
    a face (about half: the side of the head covers the rest) is a turned face, its box the
    whole head's."""
    width, height = image.size
    data = bytearray(_face_classes(image.convert("RGB")))
    scale = max(1.0, width / _FLOOR_IMAGE[0], height / _FLOOR_IMAGE[1])
    found = []
    for start in [i for i, c in enumerate(data) if c]:
        colour = data[start]
        if not colour:
            continue  # taken by an earlier patch
        data[start] = 0
        stack, area = [start], 0
        x0 = x1 = start % width
        y0 = y1 = start // width
        while stack:
            p = stack.pop()
            area += 1
            x, y = p % width, p // width
            x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
            for q, inside in ((p + 1, x + 1 < width), (p - 1, x > 0), (p + width, y + 1 < height),
                              (p - width, y > 0)):  # fmt: skip
                if inside and data[q] == colour:
                    data[q] = 0
                    stack.append(q)
        w, h = x1 - x0 + 1, y1 - y0 + 1
        if area < _MIN_FACE_AREA:
            continue
        turned = w < 0.6 * h  # a whole face is 0.8 as wide as tall
        if turned:  # the colour is the face's right half
            x0, w = x1 + 1 - 2 * w, 2 * w
        if min(w, h) < _DETECT_FLOOR * scale and scale > 1.0:
            continue
        found.append(FoundFace(x0, y0, w, h, turned))
    return found


def _image_error(data: bytes) -> tuple[str, str] | None:
    """Rekognition's refusals of an image: over 5 MB, not a JPEG or PNG, under 80 x 80 px."""
    if len(data) > MAX_IMAGE_BYTES:
        return ("error", "ImageTooLargeException")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in {"JPEG", "PNG"}:
                return ("error", "InvalidImageFormatException")
            if image.width < 80 or image.height < 80:
                return ("error", "InvalidParameterException")
    except (OSError, ValueError):
        return ("error", "InvalidImageFormatException")
    return None


def detect_faces_responder(scene: Scene | None = None) -> Callable[[dict[str, Any]], Any]:
    """DetectFaces on the pixels of the image given (``scene`` is not consulted: a crop or a
    mosaic is answered like a frame). Boxes and landmarks are ratios of that image."""

    def respond(params: dict[str, Any]) -> Any:
        data = params["Image"]["Bytes"]
        refused = _image_error(data)
        if refused:
            return refused
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            faces = find_faces(image)
        details = []
        for face in faces:
            left, top = face.left / width, face.top / height
            w, h = face.width / width, face.height / height
            details.append(
                {
                    "BoundingBox": {"Width": w, "Height": h, "Left": left, "Top": top},
                    "Confidence": 99.5,
                    "Landmarks": [
                        {"Type": "eyeLeft", "X": left + w * 0.3, "Y": top + h * 0.4},
                        {"Type": "eyeRight", "X": left + w * 0.7, "Y": top + h * 0.4},
                        {"Type": "nose", "X": left + w * 0.5, "Y": top + h * 0.6},
                    ],
                    "Pose": {"Roll": 1.0, "Yaw": TURNED_YAW if face.turned else -2.0,
                             "Pitch": 3.0},
                    "Quality": {"Brightness": 60.0, "Sharpness": 45.0 if face.turned else 80.0},
                }
            )  # fmt: skip
        return {"FaceDetails": details}

    return respond


def _face_colour(colour: tuple[int, ...]) -> str | bool | None:
    """Employee id, None for a stranger, False for no face colour."""

    def chroma(c: tuple[int, ...]) -> tuple[float, ...]:
        total = max(1, sum(c[:3]))
        return tuple(v / total for v in c[:3])

    def distance(reference: tuple[int, int, int]) -> float:
        # By chromaticity: a face in a dimmed room is still that face.
        return sum(abs(a - b) for a, b in zip(chroma(colour), chroma(reference), strict=True))

    best = min([*EMPLOYEE_COLOURS.items(), (None, STRANGER_COLOUR)], key=lambda i: distance(i[1]))
    if distance(best[1]) > 0.2 or sum(colour[:3]) < 60:
        return False
    return best[0]


def _mean(image: Image.Image, x: float, y: float) -> tuple[int, ...]:
    """The mean colour of a small patch around (x, y) (ratios): one pixel is too noisy."""
    r = max(1, round(0.04 * image.width))
    cx, cy = round(x * image.width), round(y * image.height)
    patch = image.crop((cx - r, cy - r, cx + r + 1, cy + r + 1)).resize(
        (1, 1), Image.Resampling.BOX
    )
    colour = patch.getpixel((0, 0))
    assert isinstance(colour, tuple)
    return colour


def _who(crop: bytes) -> tuple[str | bool | None, bool]:
    """(employee id / None for a stranger / False for no face, turned) of a face crop: right of
    centre a turned face still shows its colour; left of centre it shows the side of the head."""
    with Image.open(io.BytesIO(crop)) as image:
        rgb = image.convert("RGB")
        right, left = _mean(rgb, 0.6, 0.5), _mean(rgb, 0.35, 0.5)
    who = _face_colour(right)
    return who, who is not False and _face_colour(left) is False


def search_responder(
    threshold_seen: list[float] | None = None, scene: Scene | None = None
) -> Callable[[dict[str, Any]], Any]:
    """SearchFacesByImage as AWS answers it: an image under 80 x 80 px, or one without a face,
    is an InvalidParameterException; matches below FaceMatchThreshold are not returned. With a
    ``scene``, an employee's turned face matches at TURNED_SIMILARITY."""

    def respond(params: dict[str, Any]) -> Any:
        if threshold_seen is not None:
            threshold_seen.append(params["FaceMatchThreshold"])
        refused = _image_error(params["Image"]["Bytes"])
        if refused:
            return refused
        who, turned = _who(params["Image"]["Bytes"])
        if who is False:
            return ("error", "InvalidParameterException")
        box = {"Width": 0.5, "Height": 0.6, "Left": 0.25, "Top": 0.2}
        matches = []
        similarity = 98.7
        if who and turned and scene is not None:
            similarity = TURNED_SIMILARITY
        if similarity < params["FaceMatchThreshold"]:
            who = None
        if who:
            matches.append(
                {
                    "Similarity": similarity,
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
