"""SMS text for an alert: one message part where it can be (160 GSM-7 characters, or 70 UCS-2).

A single character outside GSM-7 (a Korean site name, an emoji) makes the whole message UCS-2,
so the budget is chosen from the text itself. Information gives way in a fixed order until the
text fits one part: long names are shortened, then the camera's name, then the link gives way to
the incident id. If even that does not fit, the full text goes out and SNS splits it (up to
1,600 characters).

The text carries no detection count: an SMS goes out once, when the incident alerts (at
MIN_DETECTIONS), and is never updated; Slack shows how the incident grows. The link is the
short signed form (clips/links.py), so the default alert with the default execute-api URL fits
one GSM-7 part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facewatch.alerts.view import AlertView

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")  # two septets each (escape + character)
SINGLE_PART = {"GSM-7": 160, "UCS-2": 70}
MULTI_PART = {"GSM-7": 153, "UCS-2": 67}  # each part of a long message carries a header
NAME_LIMIT = 24


@dataclass(frozen=True, slots=True)
class SmsSize:
    encoding: Literal["GSM-7", "UCS-2"]
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2

    @property
    def parts(self) -> int:
        if self.units <= SINGLE_PART[self.encoding]:
            return 1
        per_part = MULTI_PART[self.encoding]
        return -(-self.units // per_part)


def sms_size(text: str) -> SmsSize:
    septets = 0
    for char in text:
        if char in GSM7_BASIC:
            septets += 1
        elif char in GSM7_EXTENDED:
            septets += 2
        else:
            return SmsSize("UCS-2", len(text.encode("utf-16-le")) // 2)
    return SmsSize("GSM-7", septets)


def _shorten(name: str, limit: int = NAME_LIMIT) -> str:
    return name if len(name) <= limit else name[: limit - 3].rstrip() + "..."


def _text(view: AlertView, place: str, reference: str, lead: str) -> str:
    when = f"{view.started:%H:%M} {view.zone_label}"
    test = "TEST " if view.test else ""
    return f"{test}{lead}: {place}, {when}. {reference}"


def sms_text(view: AlertView, lead: str = "Unknown face") -> str:
    """``lead`` names the message: "Unknown face", or "ESCALATED, no answer in 5 min"."""
    places = [view.place]
    if view.site:
        places += [f"{_shorten(view.site)} / {_shorten(view.camera)}", _shorten(view.site)]
    else:
        places.append(_shorten(view.camera))
    places = list(dict.fromkeys(places))
    # A tappable clip link is worth more on a phone than the full names.
    references = [view.clip_link, view.incident_id] if view.clip_link else [view.incident_id]
    candidates = [
        _text(view, place, reference, lead) for reference in references for place in places
    ]
    for text in candidates:
        if sms_size(text).parts == 1:
            return text
    return candidates[0]
