"""The access log port: who was given which face image or video of an incident, and when.

Every clip view and every snapshot URL issued is one "clip-viewed" / "snapshot-issued" item in
the incident's trail (``audit.history.IncidentHistory.record_access`` writes it), so
``facewatch audit show`` lists them next to the status changes (EU AI Act Art. 26 logs).
"""

from __future__ import annotations

from typing import Protocol

CLIP_VIEWED = "clip-viewed"
SNAPSHOT_ISSUED = "snapshot-issued"


class AccessLog(Protocol):
    def record_access(
        self, incident_id: str, kind: str, actor: str, at: float, details: dict[str, str]
    ) -> None:
        """Append one access entry; never raises for a missing (erased or expired) incident."""
        ...
