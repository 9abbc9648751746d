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


# ---- where it changed: motion regions that could be a person ----------------------------------

# More of the frame than this changed at once: lighting (lights, sun) or the camera, not people.
WHOLE_FRAME_SHARE = 0.5


def gain_normalised(sig: bytes, ref: bytes) -> bytes:
    """``ref`` scaled to ``sig``'s overall brightness (medians), so that lights switched or a
    cloud dimming the room does not read as change everywhere."""
    a, b = sorted(sig), sorted(ref)
    median_sig, median_ref = a[len(a) // 2], b[len(b) // 2]
    if median_ref in {0, median_sig}:
        return ref
    gain = median_sig / median_ref
    table = [min(255, round(v * gain)) for v in range(256)]
    return bytes(table[v] for v in ref)


def person_regions(
    sig: bytes,
    ref: bytes | None,
    grid: tuple[int, int],
    pixel_delta: int,
    *,
    min_cells: int = 4,
    min_rows: int = 3,
) -> list[tuple[float, float, float, float]]:
    """Regions (left, top, width, height as ratios of the frame) where ``sig`` moved from
    ``ref`` and the change could be a person: connected changed cells, at least ``min_rows``
    tall and not much wider than tall. A light patch on the floor (a door opened) is wide and
    low; a change over most of the frame is lighting; both are no region."""
    width, height = grid
    if ref is None or len(ref) != len(sig) or len(sig) != width * height:
        return [(0.0, 0.0, 1.0, 1.0)]  # nothing to compare with: look at everything
    ref = gain_normalised(sig, ref)
    changed = [abs(x - y) > pixel_delta for x, y in zip(sig, ref, strict=True)]
    if sum(changed) > WHOLE_FRAME_SHARE * len(changed):
        return []
    seen = [False] * len(changed)
    regions = []
    for start, on in enumerate(changed):
        if not on or seen[start]:
            continue
        stack, cells = [start], []
        seen[start] = True
        while stack:
            cell = stack.pop()
            cells.append(cell)
            x, y = cell % width, cell // width
            for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if 0 <= nx < width and 0 <= ny < height:
                    n = ny * width + nx
                    if changed[n] and not seen[n]:
                        seen[n] = True
                        stack.append(n)
        xs = [c % width for c in cells]
        ys = [c // width for c in cells]
        cols, rows = max(xs) - min(xs) + 1, max(ys) - min(ys) + 1
        if len(cells) < min_cells or rows < min_rows or cols > 1.5 * rows:
            continue
        regions.append((min(xs) / width, min(ys) / height, cols / width, rows / height))
    return regions
