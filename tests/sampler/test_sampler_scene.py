"""The Rekognition stand-in answers from the pixels it is given (a frame, a crop, a mosaic),
the way Rekognition does, and refuses what Rekognition refuses."""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from tests.sampler.sampler_rig import COLLECTION, REGION
from tests.sampler.sampler_scene import (
    HEIGHT,
    WIDTH,
    JitStub,
    Lighting,
    Scene,
    SimClock,
    Visit,
    detect_faces_responder,
    find_faces,
    search_responder,
)

Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def office() -> Scene:
    """A seated employee (a 40 px face), a stranger walking, an employee who turns away."""
    return Scene(
        clock=SimClock(0.0),
        visits=[
            Visit(
                0,
                100,
                "EMP-30003",
                face_height=0.14,
                start_x=0.04,
                end_x=0.04,
                top=0.32,
                sway=0.006,
            ),
            Visit(0, 100, None, 0.22, 0.15, 0.3),
            Visit(
                0, 100, "EMP-10442", 0.3, 0.75, 0.55, facing=((0, 40), (60, 100)), turn_seconds=5
            ),
        ],
        lighting=[Lighting("switch", 50, 70, 0.55)],
    )


def frame(scene: Scene, t: float) -> Image.Image:
    return Image.open(io.BytesIO(scene.render(t, (WIDTH, HEIGHT)))).convert("RGB")


def ratios(found: list, size: tuple[int, int]) -> list[tuple[Box, bool]]:  # type: ignore[type-arg]
    w, h = size
    return [((f.left / w, f.top / h, f.width / w, f.height / h), f.turned) for f in found]


class TestDetectFromPixels:
    @pytest.mark.parametrize("t", [1.0, 37.0, 55.0, 62.0, 90.0])  # front, turned, dimmed
    def test_the_faces_found_are_the_faces_drawn(self, t: float) -> None:
        scene = office()
        got = ratios(find_faces(frame(scene, t)), (WIDTH, HEIGHT))
        truth = scene.seen_faces(t)
        assert len(got) == len(truth)
        for face in truth:
            box, turned = max(got, key=lambda g: iou(g[0], face.box))
            assert iou(box, face.box) >= 0.8
            assert turned == (face.yaw != 0.0)

    def test_the_40_px_face_is_reported_at_least_40_px(self) -> None:
        scene = office()
        for t in (0.0, 1.5, 3.0, 4.5):
            [seated] = [f for f in find_faces(frame(scene, t)) if f.top > 100]
            assert seated.width >= 40

    def test_a_mosaic_of_crops_is_answered_like_frames(self) -> None:
        scene = office()
        # Whole faces in each crop: the stranger at 1 s, the employee at 90 s.
        a = frame(scene, 1.0).crop((80, 30, 280, 330))
        b = frame(scene, 90.0).crop((340, 30, 540, 330))
        mosaic = Image.new("RGB", (420, 300), (128, 128, 128))
        mosaic.paste(a, (0, 0))
        mosaic.paste(b, (220, 0))
        found = sorted(find_faces(mosaic), key=lambda f: f.left)
        assert len(found) == 2
        for face, (tile_x, crop_x, t, visit) in zip(
            found, [(0, 80, 1.0, 1), (220, 340, 90.0, 2)], strict=True
        ):
            true = scene.visits[visit].box(t)
            assert true is not None
            box = ((face.left - tile_x + crop_x) / WIDTH, (face.top + 30) / HEIGHT,
                   face.width / WIDTH, face.height / HEIGHT)  # fmt: skip
            assert iou(box, true) >= 0.8

    def test_a_face_hidden_behind_another_is_not_found(self) -> None:
        scene = Scene(
            clock=SimClock(0.0),
            visits=[
                Visit(0, 10, None, 0.2, 0.31, 0.31, top=0.15),
                Visit(0, 10, "EMP-10442", 0.3, 0.3, 0.3, top=0.15),
            ],
        )
        [face] = find_faces(frame(scene, 1.0))
        assert face.height > 0.25 * HEIGHT  # the employee in front only


class TestRefusals:
    @pytest.fixture
    def client(self, aws: None) -> object:
        client = boto3.client("rekognition", region_name=REGION)
        JitStub(
            client,
            {
                "DetectFaces": detect_faces_responder(),
                "SearchFacesByImage": search_responder(scene=office()),
            },
        )
        return client

    @pytest.mark.parametrize(
        ("image", "code"),
        [
            (Image.new("RGB", (79, 200)), "InvalidParameterException"),
            (Image.new("RGB", (200, 200)).convert("P"), "InvalidImageFormatException"),  # GIF
        ],
    )
    def test_what_rekognition_refuses(self, client: object, image: Image.Image, code: str) -> None:
        out = io.BytesIO()
        image.save(out, format="GIF" if image.mode == "P" else "JPEG")
        with pytest.raises(ClientError) as error:
            client.detect_faces(Image={"Bytes": out.getvalue()})  # type: ignore[attr-defined]
        assert error.value.response["Error"]["Code"] == code

    def test_an_image_over_5_mb_is_refused(self, client: object) -> None:
        with pytest.raises(ClientError) as error:
            client.detect_faces(Image={"Bytes": b"\xff" * (5 * 1024 * 1024 + 1)})  # type: ignore[attr-defined]
        assert error.value.response["Error"]["Code"] == "ImageTooLargeException"

    def test_a_turned_employee_matches_below_the_threshold(self, client: object) -> None:
        scene = office()
        whole = frame(scene, 37.0)  # EMP-10442 turned
        [turned] = [f for f in find_faces(whole) if f.turned]
        crop = whole.crop(
            (turned.left - 20, turned.top - 20, turned.left + turned.width + 20,
             turned.top + turned.height + 20)
        )  # fmt: skip
        out = io.BytesIO()
        crop.save(out, format="JPEG")
        found = client.search_faces_by_image(  # type: ignore[attr-defined]
            CollectionId=COLLECTION, Image={"Bytes": out.getvalue()}, FaceMatchThreshold=80
        )
        assert found["FaceMatches"] == []
        found = client.search_faces_by_image(  # type: ignore[attr-defined]
            CollectionId=COLLECTION, Image={"Bytes": out.getvalue()}, FaceMatchThreshold=70
        )
        assert [m["Face"]["ExternalImageId"] for m in found["FaceMatches"]] == ["EMP-10442"]
