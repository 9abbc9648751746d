"""Quota check before `cameras apply`: every quota that grows with the number of cameras.

Per camera the fleet adds a CloudFormation stack, an IAM role (the processor's or the sampler
schedule's), one concurrent Lambda execution (face_events on the camera's own shard, or the
sampler run that serves it all minute long), and either a stream processor and a Kinesis shard
or Rekognition Image calls (DetectFaces, SearchFacesByImage) and KVS GetImages calls. Clip links
call GetHLSStreamingSessionURL per stream. Limits come from Service Quotas (the account's applied
value, else AWS's default), Lambda's GetAccountSettings for concurrency (the value Lambda
enforces), else the documented defaults below; usage from the services themselves. The plan says
which quota to raise, to what, before CloudFormation fails half-way through a fleet.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from facewatch_tools.fleet.stacks import Action, Plan

# Documented defaults, used where Service Quotas has no entry (aws-facts §3, service guides).
DEFAULT_STREAM_PROCESSORS = 10.0
DEFAULT_SHARDS = 200.0
DEFAULT_STACKS = 2000.0  # CloudFormation stacks per Region
DEFAULT_ROLES = 1000.0  # IAM roles per account
DEFAULT_IMAGE_TPS = 5.0  # Rekognition Image TPS: the smallest regional default (larger elsewhere)
GET_IMAGES_TPS_PER_STREAM = 5.0  # KVS archived media, per stream (not raisable)
HLS_SESSION_TPS_PER_STREAM = 1.0  # sustained, per stream (aws-constraints: 5 burst, 1 sustained)

# What one camera needs, at peak.
MAIN_STACK_CONCURRENCY = 15  # face_events on the on-demand stream (4 shards), notifiers 2 + 5,
# watchdog, sweeper, Slack actions, clip links, processor control: one each
SAMPLER_ANALYSIS_FPS = 1.0  # SAMPLER_MAX_ANALYSIS_FPS: DetectFaces on at most one frame a second
PEAK_FACES_PER_FRAME = 2.0  # SearchFacesByImage per face crop; an assumption, see docs/deploy.md
SAMPLER_GET_IMAGES_TPS = 2.0  # one gate call a cycle (1 s) + one full-size frame a second
CLIP_LINK_TPS_PER_STREAM = 0.2  # a clip-link click is a session; a burst of viewers, rarely more


@dataclass(frozen=True)
class QuotaCheck:
    title: str
    service_code: str
    quota_code: str | None
    limit: float
    in_use: int
    needed: float  # after apply: in use + what the plan adds (or the fleet's peak rate)
    source: str
    raisable: bool = True

    @property
    def ok(self) -> bool:
        return self.needed <= self.limit

    def _amount(self) -> str:
        return f"{self.needed:g}"

    def advice(self) -> str:
        if self.ok:
            return f"{self.title}: {self._amount()} of {self.limit:g} after apply ({self.source})"
        if not self.raisable:
            return (
                f"OVER {self.title}: {self._amount()} needed, limit {self.limit:g} "
                f"({self.source}); it cannot be raised: use fewer cameras per stream or the "
                "other detector"
            )
        code = self.quota_code or "<quota code>"
        desired = int(-(-self.needed // 1))  # ceil
        return (
            f"RAISE {self.title}: {self._amount()} needed, limit {self.limit:g} "
            f"({self.in_use} in use; {self.source}). Request at least {desired}: "
            f"aws service-quotas request-service-quota-increase --service-code "
            f"{self.service_code} --quota-code {code} --desired-value {desired}"
        )


class ServiceQuotas:
    """The quotas of one service by name: applied values over AWS's defaults (one listing each)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._cache: dict[str, list[tuple[str, str, float, str]]] = {}

    def _listing(self, service: str) -> list[tuple[str, str, float, str]]:
        if service not in self._cache:
            found: list[tuple[str, str, float, str]] = []
            for operation, source in (
                ("list_service_quotas", "Service Quotas"),
                ("list_aws_default_service_quotas", "Service Quotas default"),
            ):
                for page in self._client.get_paginator(operation).paginate(ServiceCode=service):
                    found.extend(
                        (q.get("QuotaName", ""), q["QuotaCode"], float(q["Value"]), source)
                        for q in page.get("Quotas", [])
                    )
            self._cache[service] = found
        return self._cache[service]

    def find(self, service: str, pattern: str) -> tuple[str, float, str] | None:
        """(code, value, source) of the first quota whose name matches, applied first."""
        regex = re.compile(pattern, re.IGNORECASE)
        for name, code, value, source in self._listing(service):
            if regex.search(name):
                return code, value, source
        return None


@dataclass(frozen=True)
class Fleet:
    """What the inventory asks for, and what the plan adds to what exists."""

    cameras: int
    processor_cameras: int
    sampler_cameras: int
    new_stacks: int
    new_roles: int  # video-only cameras (recognition off) have no role
    new_processors: int

    @classmethod
    def from_plan(cls, plan: Plan) -> Fleet:
        wanted = [c for c in plan.changes if c.desired is not None]
        processors = [c for c in wanted if c.detector == "stream-processor"]
        new_processors = sum(
            1
            for c in processors
            if c.action in {Action.CREATE, Action.REPLACE}
            # sampler -> stream-processor; a settings change replaces old-first: no extra
            or (c.action is Action.UPDATE and any(r.startswith("Detector") for r in c.reasons))
        )
        creates = plan.by_action(Action.CREATE)
        return cls(
            cameras=len(wanted),
            processor_cameras=len(processors),
            sampler_cameras=sum(1 for c in wanted if c.detector == "sampler"),
            new_stacks=len(creates),
            new_roles=sum(1 for c in creates if c.detector in {"sampler", "stream-processor"}),
            new_processors=new_processors,
        )

    @property
    def recognising(self) -> int:
        return self.processor_cameras + self.sampler_cameras


@dataclass
class QuotaClients:
    service_quotas: Any
    rekognition: Any
    kinesis: Any
    cloudformation: Any | None = None
    iam: Any | None = None
    lambda_: Any | None = None


def _count_stacks(cloudformation: Any) -> int:
    live = [
        s
        for page in cloudformation.get_paginator("list_stacks").paginate()
        for s in page.get("StackSummaries", [])
        if s.get("StackStatus") != "DELETE_COMPLETE"
    ]
    return len(live)


def count_stream_processors(rekognition: Any) -> int:
    return sum(
        len(page.get("StreamProcessors", []))
        for page in rekognition.get_paginator("list_stream_processors").paginate()
    )


def check_quotas(
    plan: Plan, clients: QuotaClients, processors_in_use: int | None = None
) -> list[QuotaCheck]:
    """``processors_in_use``: when the caller has already listed them (one ListStreamProcessors)."""
    fleet = Fleet.from_plan(plan)
    sq = ServiceQuotas(clients.service_quotas)
    checks: list[QuotaCheck] = []

    def quota(  # noqa: PLR0917 - one row of the table
        title: str,
        service: str,
        pattern: str,
        default: float,
        in_use: int,
        needed: float,
        default_source: str,
    ) -> None:
        found = sq.find(service, pattern)
        code, limit, source = found if found else (None, default, default_source)
        checks.append(QuotaCheck(title, service, code, limit, in_use, needed, source))

    in_use = (
        count_stream_processors(clients.rekognition)
        if processors_in_use is None
        else processors_in_use
    )
    quota(
        "Rekognition stream processors",
        "rekognition",
        r"stream processor",
        DEFAULT_STREAM_PROCESSORS,
        in_use,
        in_use + fleet.new_processors,
        "default; not listed in Service Quotas",
    )
    limits = clients.kinesis.describe_limits()
    open_shards = int(limits.get("OpenShardCount", 0))
    quota(
        "Kinesis shards per Region",
        "kinesis",
        r"shards per region",
        float(limits.get("ShardLimit", DEFAULT_SHARDS)),
        open_shards,
        open_shards + fleet.new_processors,
        "Kinesis DescribeLimits",
    )
    if clients.cloudformation is not None:
        stacks = _count_stacks(clients.cloudformation)
        quota(
            "CloudFormation stacks",
            "cloudformation",
            r"^stack count",
            DEFAULT_STACKS,
            stacks,
            stacks + fleet.new_stacks,
            "documented default",
        )
    if clients.iam is not None:
        roles = int(clients.iam.get_account_summary()["SummaryMap"].get("Roles", 0))
        quota(
            "IAM roles (one a camera)",
            "iam",
            r"^roles per account",
            DEFAULT_ROLES,
            roles,
            roles + fleet.new_roles,
            "documented default",
        )
    if clients.lambda_ is not None:
        account = clients.lambda_.get_account_settings()["AccountLimit"]
        found = sq.find("lambda", r"^concurrent executions")
        checks.append(
            QuotaCheck(
                "Lambda concurrent executions (one a camera + the main stack's)",
                "lambda",
                found[0] if found else "L-B99A9384",
                float(account["ConcurrentExecutions"]),
                0,
                float(MAIN_STACK_CONCURRENCY + fleet.recognising),
                "Lambda GetAccountSettings",
            )
        )
    sampler_rate = fleet.sampler_cameras * SAMPLER_ANALYSIS_FPS
    for api, rate in (
        ("DetectFaces", sampler_rate),
        ("SearchFacesByImage", sampler_rate * PEAK_FACES_PER_FRAME),
    ):
        quota(
            f"Rekognition {api} TPS (sampler cameras at peak)",
            "rekognition",
            rf"\b{api}\b",
            DEFAULT_IMAGE_TPS,
            0,
            rate,
            "smallest regional default; not listed in Service Quotas",
        )
    per_stream: list[tuple[str, float, float, bool]] = [
        ("KVS GetImages TPS per stream", SAMPLER_GET_IMAGES_TPS, GET_IMAGES_TPS_PER_STREAM, True),
        (
            "KVS GetHLSStreamingSessionURL TPS per stream",
            CLIP_LINK_TPS_PER_STREAM,
            HLS_SESSION_TPS_PER_STREAM,
            False,
        ),
    ]
    for title, rate, limit, sampler_only in per_stream:
        if sampler_only and not fleet.sampler_cameras:
            continue
        checks.append(
            QuotaCheck(
                title,
                "kinesisvideo",
                None,
                limit,
                0,
                rate,
                "documented per-stream limit; does not grow with cameras",
                raisable=False,
            )
        )
    return checks


def report(checks: list[QuotaCheck], echo: Callable[[str], None] = print) -> bool:
    for check in checks:
        echo(("quota ok: " if check.ok else "quota ") + check.advice())
    return all(c.ok for c in checks)
