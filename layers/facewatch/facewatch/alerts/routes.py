"""Which channels an alert takes, from the camera's severity and the incident's match band.

| severity | SMS (alerts topic)  | Slack | @-mention |
|----------|---------------------|-------|-----------|
| high     | yes                 | yes   | yes       |
| normal   | only by escalation  | yes   | yes       |
| low      | only by escalation  | yes   | no        |
| possible employee (any severity) | no | yes, as a hint | no |

A camera not in the registry has no severity: it is treated as ``normal`` (Slack, no SMS).
"""

from __future__ import annotations

from dataclasses import dataclass

from facewatch.alerts.event import AlertDetail, Severity

DEFAULT_SEVERITY: Severity = "normal"


@dataclass(frozen=True, slots=True)
class AlertRoute:
    severity: Severity
    sms: bool
    mention: bool
    hint: bool  # a possible employee: shown as a low-priority hint, never paged

    @property
    def slack(self) -> bool:
        return True  # every alert reaches Slack; severity only adds or removes paging


def severity_of(detail: AlertDetail) -> Severity:
    location = detail.location
    return location.severity if location and location.severity else DEFAULT_SEVERITY


def is_possible_employee(detail: AlertDetail) -> bool:
    """A possible incident sent as a hint (POSSIBLE_MATCH_ACTION=hint: ``page`` false). With the
    action ``alert`` it is paged like any unknown face of its camera."""
    return detail.band == "possible" and not detail.page


def route_for(severity: Severity, possible_employee: bool = False) -> AlertRoute:
    if possible_employee:
        return AlertRoute(severity, sms=False, mention=False, hint=True)
    return AlertRoute(severity, sms=severity == "high", mention=severity != "low", hint=False)


def alert_route(detail: AlertDetail) -> AlertRoute:
    return route_for(severity_of(detail), is_possible_employee(detail))
