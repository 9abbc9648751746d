"""Quota check before `cameras apply`: Rekognition stream processors and Kinesis shards.

Limits come from Service Quotas (the account's applied value, else AWS's default); usage from
the services themselves. The plan says which quota to raise, and by how much, before CloudFormation
fails half-way through a fleet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from facewatch_tools.fleet.stacks import Action, Plan

# Where Service Quotas has no entry: the documented defaults (aws-facts §3, Kinesis docs).
DEFAULT_STREAM_PROCESSORS = 10.0
DEFAULT_SHARDS = 200.0


@dataclass(frozen=True)
class QuotaCheck:
    title: str
    service_code: str
    quota_code: str | None
    limit: float
    in_use: int
    needed: int  # peak after apply: in use + new (replacements exist next to the old ones)
    source: str

    @property
    def ok(self) -> bool:
        return self.needed <= self.limit

    def advice(self) -> str:
        if self.ok:
            return f"{self.title}: {self.needed} of {self.limit:.0f} after apply ({self.source})"
        code = self.quota_code or "<quota code>"
        return (
            f"RAISE {self.title}: {self.needed} needed, limit {self.limit:.0f} "
            f"({self.in_use} in use; {self.source}). Request at least {self.needed}: "
            f"aws service-quotas request-service-quota-increase --service-code "
            f"{self.service_code} --quota-code {code} --desired-value {self.needed}"
            " (or use the sampler detector for some cameras)"
        )


def _quota(sq: Any, service: str, pattern: str) -> tuple[str, float] | None:
    """(code, value) of the first quota whose name matches; applied value first, then default."""
    regex = re.compile(pattern, re.IGNORECASE)
    for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
        for page in sq.get_paginator(operation).paginate(ServiceCode=service):
            for quota in page.get("Quotas", []):
                if regex.search(quota.get("QuotaName", "")):
                    return quota["QuotaCode"], float(quota["Value"])
    return None


def _new_processors(plan: Plan) -> int:
    count = 0
    for change in plan.changes:
        if change.detector != "stream-processor":
            continue
        if change.action is Action.CREATE:
            count += 1
        elif change.action is Action.UPDATE and any(
            r.startswith("ProcessorName") or r.startswith("Detector") for r in change.reasons
        ):
            count += 1  # the replacement exists next to the old processor for a while
    return count


def check_quotas(
    plan: Plan, service_quotas: Any, rekognition: Any, kinesis: Any
) -> list[QuotaCheck]:
    new = _new_processors(plan)
    processors = sum(
        len(page.get("StreamProcessors", []))
        for page in rekognition.get_paginator("list_stream_processors").paginate()
    )
    found = _quota(service_quotas, "rekognition", r"stream processor")
    sp_code, sp_limit = found if found else (None, DEFAULT_STREAM_PROCESSORS)
    limits = kinesis.describe_limits()
    shards_found = _quota(service_quotas, "kinesis", r"shards per region")
    shard_code, shard_limit = (
        shards_found if shards_found else (None, float(limits.get("ShardLimit", DEFAULT_SHARDS)))
    )
    open_shards = int(limits.get("OpenShardCount", 0))
    return [
        QuotaCheck(
            "Rekognition stream processors",
            "rekognition",
            sp_code,
            sp_limit,
            processors,
            processors + new,
            "Service Quotas" if found else "default; not listed in Service Quotas",
        ),
        QuotaCheck(
            "Kinesis shards per Region",
            "kinesis",
            shard_code,
            shard_limit,
            open_shards,
            open_shards + new,
            "Service Quotas" if shards_found else "Kinesis DescribeLimits",
        ),
    ]
