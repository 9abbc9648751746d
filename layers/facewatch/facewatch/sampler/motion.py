"""The cheap change gate run before any Rekognition call.

Why Pillow and not JPEG sizes or byte histograms: a JPEG's size moves with noise and with the
encoder's rate control, and its bytes are entropy-coded, so neither tells *where* the picture
changed; a person entering a corner changes a few percent of the picture and a few percent of
the size, the same as sensor noise does. Decoding a 128x72 JPEG that KVS already scaled down
costs well under a millisecond with Pillow (``draft`` decodes at reduced DCT scale), and the
face crops need Pillow anyway.

The signature is the frame in grey, box-averaged onto a small grid (which smooths compression
noise). A frame is *changed* when enough grid cells differ by more than a grey-level delta from
the reference: the signature of the last frame that was analysed (not the previous frame), so
slow movement accumulates until it is seen.
"""

from __future__ import annotations

import io

from PIL import Image, ImageChops, UnidentifiedImageError


class UndecodableFrameError(ValueError):
    """The bytes are not an image Pillow can decode."""


def signature(jpeg: bytes, grid: tuple[int, int]) -> bytes:
    """Grey levels of the frame on a ``grid`` (width, height), row-major, one byte a cell."""
    try:
        with Image.open(io.BytesIO(jpeg)) as image:
            image.draft("L", grid)
            grey = image.convert("L")
            return grey.resize(grid, Image.Resampling.BOX).tobytes()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UndecodableFrameError(str(exc)) from exc


def changed_fraction(a: bytes, b: bytes, grid: tuple[int, int], pixel_delta: int) -> float:
    """Share of grid cells whose grey level differs by more than ``pixel_delta``."""
    if len(a) != len(b) or len(a) != grid[0] * grid[1]:
        return 1.0  # different grids (settings changed): treat as changed
    diff = ImageChops.difference(Image.frombytes("L", grid, a), Image.frombytes("L", grid, b))
    histogram = diff.histogram()
    return sum(histogram[pixel_delta + 1 :]) / len(a)


class MotionGate:
    """Decides whether a frame differs from the reference enough to be worth analysing."""

    def __init__(
        self,
        grid: tuple[int, int],
        pixel_delta: int,
        area: float,
        reference: bytes | None = None,
    ) -> None:
        self.grid = grid
        self.pixel_delta = pixel_delta
        self.area = area
        self.reference = reference

    def signature(self, jpeg: bytes) -> bytes:
        return signature(jpeg, self.grid)

    def changed(self, sig: bytes) -> bool:
        if self.reference is None:
            return True
        return changed_fraction(sig, self.reference, self.grid, self.pixel_delta) >= self.area

    def accept(self, sig: bytes) -> None:
        """The frame with this signature was analysed: it becomes the reference."""
        self.reference = sig
