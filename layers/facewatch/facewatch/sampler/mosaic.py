"""Several frames' regions in one DetectFaces call.

A DetectFaces call costs the same for one 640 x 360 frame as for one image holding the regions
that could be a person in six frames. So when a look covers several frames (someone walking by
turned away, a stranger followed every few seconds), the regions of interest of each frame are
cropped from the full-resolution frames at their own size and packed, newest first, into one
mosaic; the faces DetectFaces finds are mapped back, tile by tile, to their frame.

Rekognition's rules that shape it (Guidelines and quotas, Rekognition Image):
- a face is detected from 40 x 40 px "in an image with 1920 x 1080 pixels"; larger images need
  proportionally larger faces. A mosaic is therefore at most 1920 x 1080 and tiles are never
  scaled: a face keeps the pixels it had in its frame, so the 40 px floor is the frame's;
- images are at least 80 x 80 px and at most 5 MB (a mosaic is padded up to 80 px; a JPEG of
  1920 x 1080 is well under 5 MB);
- JPEG or PNG: the mosaic is a JPEG.
Tiles are separated by a grey gap, so no face spans two tiles. A face touching a tile's cut edge
(not the frame's own edge) is only part of a face: it is left out (counted), not reported with a
wrong box or pose.

Pure: Pillow only, no AWS.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

Box = tuple[float, float, float, float]  # left, top, width, height (ratios of the frame)
Crop = tuple[int, int, int, int]  # left, top, right, bottom (pixels of the frame)

MAX_SIZE = (1920, 1080)
MIN_SIZE = 80
GAP = 16
EDGE = 2  # px: a face this close to a tile's cut edge is cut by it
QUALITY = 90


@dataclass(frozen=True, slots=True)
class Tile:
    time_ms: int
    crop: Crop  # in its frame
    at: tuple[int, int]  # its top-left corner in the mosaic

    @property
    def size(self) -> tuple[int, int]:
        return self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]


@dataclass(frozen=True, slots=True)
class Layout:
    tiles: list[Tile]
    size: tuple[int, int]
    dropped: int  # regions that did not fit (the oldest)


def motion_crop(region: Box, frame: tuple[int, int], cell: tuple[float, float]) -> Crop:
    """A motion region's crop: half its height more above (the head is at the top of a moving
    person: when only the body's edges changed, the head is above them), one cell more on the
    other sides, and at least a
    person's width (0.6 of its height in pixels, centred): a person walking slowly changes
    only at the edges of their body, and the face between them must be in the tile whole."""
    _, top, w, h = region
    cw, ch = cell
    width, height = frame
    w = max(w + 2 * cw, 0.6 * (h + ch) * height / width)
    centre = region[0] + region[2] / 2
    return _pixels((centre - w / 2, top - h / 2 - ch, w, h * 3 / 2 + 2 * ch), frame)


def face_crop(box: Box, frame: tuple[int, int]) -> Crop:
    """A tracked face's crop: the face with most of a face around it (where it will have moved
    to, or someone just behind it)."""
    left, top, w, h = box
    return _pixels((left - 0.8 * w, top - 0.6 * h, 2.6 * w, 2.2 * h), frame)


def merge(crops: Sequence[Crop]) -> list[Crop]:
    """Overlapping crops of one frame become their union (a face in one tile only)."""
    out: list[Crop] = []
    for crop in sorted(crops):
        for i, other in enumerate(out):
            if (
                crop[0] < other[2]
                and other[0] < crop[2]
                and crop[1] < other[3]
                and other[1] < crop[3]
            ):
                out[i] = (
                    min(crop[0], other[0]),
                    min(crop[1], other[1]),
                    max(crop[2], other[2]),
                    max(crop[3], other[3]),
                )
                break
        else:
            out.append(crop)
    return out if len(out) == len(crops) else merge(out)


def pack(regions: Sequence[tuple[int, Crop]], limit: tuple[int, int] = MAX_SIZE) -> Layout:
    """Shelf-packs (frame time, crop) regions newest first into rows of at most ``limit``; the
    regions that do not fit (the oldest) are dropped."""
    tiles: list[Tile] = []
    x = y = row = width = bottom = 0
    ordered = sorted(regions, key=lambda r: -r[0])
    for index, (time_ms, crop) in enumerate(ordered):
        w, h = crop[2] - crop[0], crop[3] - crop[1]
        if w > limit[0] or h > limit[1] or w <= 0 or h <= 0:
            continue  # never larger than a frame; empty crops are nothing
        if x and x + w > limit[0]:
            x, y, row = 0, y + row + GAP, 0
        if y + h > limit[1]:
            return Layout(tiles, _padded(width, bottom), len(ordered) - index)
        tiles.append(Tile(time_ms, crop, (x, y)))
        width, bottom = max(width, x + w), max(bottom, y + h)
        x += w + GAP
        row = max(row, h)
    return Layout(tiles, _padded(width, bottom), 0)


def compose(layout: Layout, frames: Mapping[int, Image.Image]) -> bytes:
    """The mosaic's JPEG: each tile cropped from its frame, on a grey ground."""
    mosaic = Image.new("RGB", layout.size, (128, 128, 128))
    for tile in layout.tiles:
        mosaic.paste(frames[tile.time_ms].crop(tile.crop).convert("RGB"), tile.at)
    out = io.BytesIO()
    mosaic.save(out, format="JPEG", quality=QUALITY)
    return out.getvalue()


def split(
    details: Sequence[dict[str, Any]], layout: Layout, frame: tuple[int, int]
) -> tuple[dict[int, list[dict[str, Any]]], int]:
    """DetectFaces' FaceDetails on the mosaic, per frame time, with boxes and landmarks as ratios
    of the frame (as DetectFaces on the frame would give them). Returns them and the number of
    faces left out because a tile's cut edge cuts them."""
    mw, mh = layout.size
    fw, fh = frame
    out: dict[int, list[dict[str, Any]]] = {tile.time_ms: [] for tile in layout.tiles}
    cut = 0
    for detail in details:
        box = detail["BoundingBox"]
        x0, y0 = box["Left"] * mw, box["Top"] * mh
        x1, y1 = x0 + box["Width"] * mw, y0 + box["Height"] * mh
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        tile = next(
            (
                t
                for t in layout.tiles
                if t.at[0] <= cx < t.at[0] + t.size[0] and t.at[1] <= cy < t.at[1] + t.size[1]
            ),
            None,
        )
        if tile is None:
            continue  # in a gap: nothing of a frame
        if _cut(tile, (x0, y0, x1, y1), frame):
            cut += 1
            continue
        dx, dy = tile.crop[0] - tile.at[0], tile.crop[1] - tile.at[1]

        def fx(v: float, dx: float = dx) -> float:
            return (v * mw + dx) / fw

        def fy(v: float, dy: float = dy) -> float:
            return (v * mh + dy) / fh

        mapped = dict(detail)
        mapped["BoundingBox"] = {
            "Width": box["Width"] * mw / fw,
            "Height": box["Height"] * mh / fh,
            "Left": fx(box["Left"]),
            "Top": fy(box["Top"]),
        }
        if "Landmarks" in detail:
            mapped["Landmarks"] = [
                {**mark, "X": fx(mark["X"]), "Y": fy(mark["Y"])} for mark in detail["Landmarks"]
            ]
        out[tile.time_ms].append(mapped)
    return out, cut


def _cut(tile: Tile, face: tuple[float, float, float, float], frame: tuple[int, int]) -> bool:
    left, top, right, bottom = tile.crop
    x0, y0 = tile.at
    x1, y1 = x0 + tile.size[0], y0 + tile.size[1]
    return (
        (left > 0 and face[0] <= x0 + EDGE)
        or (top > 0 and face[1] <= y0 + EDGE)
        or (right < frame[0] and face[2] >= x1 - EDGE)
        or (bottom < frame[1] and face[3] >= y1 - EDGE)
    )


def _pixels(box: Box, frame: tuple[int, int]) -> Crop:
    width, height = frame
    left, top, w, h = box
    return (
        max(0, round(left * width)),
        max(0, round(top * height)),
        min(width, round((left + w) * width)),
        min(height, round((top + h) * height)),
    )


def _padded(width: int, height: int) -> tuple[int, int]:
    return max(MIN_SIZE, width), max(MIN_SIZE, height)
