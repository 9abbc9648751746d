"""What the next look covers: the frames since the last look whose motion is worth one.

A look is one DetectFaces call. Between looks each gate frame's regions worth a look (motion
that could be a person, except an employee keeping still at a desk) are noted here; the next
look crops them from the full-resolution frames into one mosaic (facewatch.sampler.mosaic), so
a slower look rate still sees every frame: someone walking by turned away who shows their face
for 2 s between two looks is found at the next look, with a record for every frame it showed.

Also kept: faceless motion (person-like motion no track explains, analysed, no face found):
since when, and how many looks found no face (walk-by suppression: looked at less often, never
skipped). Saved in the checkpoint (``looks``, JSON) so a handover keeps it.

Pure: no AWS, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]  # left, top, width, height (ratios of the frame)
MAX_SPAN_FRAMES = 24  # 12 s at 2 fps: more than any look interval; older frames fall out


@dataclass(slots=True)
class LookState:
    span: list[tuple[int, list[Box]]] = field(default_factory=list)
    faceless_since: int | None = None
    faceless_looks: int = 0  # looks at the faceless motion that found no face
    unexplained_ms: int = 0  # the last frame with motion no track explains
    dropped: int = 0  # frames that fell out of the span before a look (counted, not kept)

    def note(self, at_ms: int, regions: list[Box]) -> None:
        if not regions:
            return
        self.span.append((at_ms, list(regions)))
        overflow = len(self.span) - MAX_SPAN_FRAMES
        if overflow > 0:
            del self.span[:overflow]
            self.dropped += overflow

    def take(self) -> list[tuple[int, list[Box]]]:
        """The span for a look (it starts again empty)."""
        span, self.span = self.span, []
        return span

    def faceless(self, at_ms: int) -> None:
        """A look at unexplained motion found no new face."""
        self.faceless_since = self.faceless_since if self.faceless_since is not None else at_ms
        self.faceless_looks += 1

    def face_found(self) -> None:
        self.faceless_since, self.faceless_looks = None, 0

    def motion(self, at_ms: int, unexplained: bool, quiet_ms: int) -> None:
        """Unexplained motion seen at ``at_ms`` (or not): faceless motion ends once there has
        been none for ``quiet_ms``."""
        if unexplained:
            self.unexplained_ms = at_ms
        elif self.faceless_since is not None and at_ms - self.unexplained_ms > quiet_ms:
            self.face_found()  # gone, not found: the next motion is a first sight again

    def dumps(self) -> str:
        return json.dumps(
            {
                "span": [[t, [list(b) for b in boxes]] for t, boxes in self.span],
                "facelessSince": self.faceless_since,
                "facelessLooks": self.faceless_looks,
                "unexplainedMs": self.unexplained_ms,
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str | None) -> LookState:
        if not text:
            return cls()
        document = json.loads(text)
        return cls(
            span=[
                (int(t), [(b[0], b[1], b[2], b[3]) for b in boxes])
                for t, boxes in document.get("span", [])
            ],
            faceless_since=document.get("facelessSince"),
            faceless_looks=int(document.get("facelessLooks", 0)),
            unexplained_ms=int(document.get("unexplainedMs", 0)),
        )
