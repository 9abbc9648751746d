"""Which detector a Region can run: a table generated from cfn-lint's resource schemas.

cfn-lint ships, per Region, the CloudFormation resource types that Region has. The table
(``region_capabilities.json`` next to this module) keeps, for every Region, which of the
resource types facewatch's stacks need are present. It is generated, never typed:

    python -m facewatch_tools.fleet.regions --write

and a test regenerates it from the installed cfn-lint and compares. `cameras plan` refuses a
camera whose Region cannot run its detector and says what to do instead.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from facewatch.fleet.inventory import Detector

TABLE_PATH = Path(__file__).with_name("region_capabilities.json")
STREAM_PROCESSOR = "AWS::Rekognition::StreamProcessor"
COLLECTION = "AWS::Rekognition::Collection"
VIDEO_STREAM = "AWS::KinesisVideo::Stream"
DATA_STREAM = "AWS::Kinesis::Stream"
SCHEDULE = "AWS::Scheduler::Schedule"
# The types a camera's detector needs in its Region (camera stack + the main stack's collection).
VIDEO_ONLY_NEEDS = (VIDEO_STREAM,)  # a camera whose site has recognition off
NEEDS: dict[Detector, tuple[str, ...]] = {
    Detector.STREAM_PROCESSOR: (VIDEO_STREAM, DATA_STREAM, STREAM_PROCESSOR, COLLECTION),
    Detector.SAMPLER: (VIDEO_STREAM, SCHEDULE, COLLECTION),
}
# Every type the table records: the detector types plus the rest of the main stack's.
TYPES = tuple(
    sorted(
        {t for needed in NEEDS.values() for t in needed}
        | {
            "AWS::CloudWatch::Alarm",
            "AWS::DynamoDB::Table",
            "AWS::Events::Archive",
            "AWS::Events::EventBus",
            "AWS::Events::Rule",
            "AWS::IAM::Role",
            "AWS::KMS::Key",
            "AWS::Lambda::EventSourceMapping",
            "AWS::Lambda::Function",
            "AWS::Lambda::LayerVersion",
            "AWS::Logs::LogGroup",
            "AWS::S3::Bucket",
            "AWS::SNS::Topic",
            "AWS::SQS::Queue",
            "AWS::SecretsManager::Secret",
            "AWS::ApiGatewayV2::Api",
        }
    )
)
_NOT_REGIONS = {"sam"}  # sam.json is the SAM resource specification, not a Region


def generate() -> dict[str, Any]:
    """The table from the installed cfn-lint's per-Region provider schema lists."""
    from importlib.metadata import version  # noqa: PLC0415

    # cfn-lint is a development dependency, needed only to regenerate
    providers = resources.files("cfnlint") / "data" / "schemas" / "providers"
    regions: dict[str, list[str]] = {}
    for entry in sorted(providers.iterdir(), key=lambda e: e.name):
        region = entry.name.removesuffix(".json")
        if not entry.name.endswith(".json") or region in _NOT_REGIONS:
            continue
        present = json.loads(entry.read_text(encoding="utf-8"))
        regions[region] = [t for t in TYPES if t in present]
    return {
        "generated_from": f"cfn-lint {version('cfn-lint')} provider schemas",
        "regenerate": "python -m facewatch_tools.fleet.regions --write",
        "types": list(TYPES),
        "regions": regions,
    }


def render(table: dict[str, Any]) -> str:
    """JSON with one line per Region (reviewable diffs when cfn-lint adds a type somewhere)."""
    head = {k: v for k, v in table.items() if k != "regions"}
    lines = [f"  {json.dumps(r)}: {json.dumps(t)}" for r, t in sorted(table["regions"].items())]
    body = json.dumps(head, indent=1, sort_keys=True)[:-2]
    return body + ',\n "regions": {\n' + ",\n".join(lines) + "\n }\n}\n"


@cache
def capability_table() -> dict[str, frozenset[str]]:
    data = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return {region: frozenset(types) for region, types in data["regions"].items()}


@dataclass(frozen=True)
class RegionRefusal:
    camera_id: str
    region: str
    detector: Detector | None  # None: video only (recognition off)
    missing: tuple[str, ...]
    advice: str

    def message(self) -> str:
        what = f"the {self.detector.value} detector" if self.detector else "a video stream"
        return (
            f"camera {self.camera_id}: {self.region} cannot run {what} "
            f"(no {', '.join(self.missing)} there); {self.advice}"
        )


_OTHER_PARTITIONS = ("cn-", "us-gov-", "us-iso", "eu-isoe-", "eusc-")


def _needs(detector: Detector | None) -> tuple[str, ...]:
    return NEEDS[detector] if detector else VIDEO_ONLY_NEEDS


def regions_running(detector: Detector | None) -> list[str]:
    """Commercial Regions (partition aws) with every type the detector needs."""
    return sorted(
        r
        for r, types in capability_table().items()
        if set(_needs(detector)) <= types and not r.startswith(_OTHER_PARTITIONS)
    )


def check_region(camera_id: str, detector: Detector | None, region: str) -> RegionRefusal | None:
    """None when ``region`` has every type the detector (None: video only) needs; else what to
    do instead."""
    table = capability_table()
    if region not in table:
        return RegionRefusal(
            camera_id,
            region,
            detector,
            ("any known resource type",),
            "check the Region name (regenerate the table after upgrading cfn-lint)",
        )
    missing = tuple(t for t in _needs(detector) if t not in table[region])
    if not missing:
        return None
    other = Detector.SAMPLER if detector is Detector.STREAM_PROCESSOR else None
    if other is not None and set(NEEDS[other]) <= table[region]:
        advice = f"use `detector: {other.value}` for this camera (it runs in {region})"
    else:
        near = ", ".join(regions_running(detector)[:8])
        advice = f"put the camera in a Region that has them, e.g. {near}"
    return RegionRefusal(camera_id, region, detector, missing, advice)


# ---- the account: can it create stream processors at all? -------------------------------------
CLOSED_SINCE = "2026-04-30"  # Rekognition streaming video analysis closed to new customers


@dataclass(frozen=True)
class ProcessorAccess:
    """Whether this account can create stream processors, and how that was found out."""

    can_create: bool | None  # None: not known (no processor yet, no refusal either)
    reason: str
    processors_in_use: int | None = None

    def advice(self) -> str:
        if self.can_create:
            return f"stream processors: available ({self.reason})"
        verdict = "NOT available" if self.can_create is False else "probably not available"
        return (
            f"stream processors: {verdict} ({self.reason}). Rekognition streaming video "
            f"analysis is closed to accounts that had not used it before {CLOSED_SINCE}: "
            "use `detector: sampler` (Rekognition Image on KVS frames) for these cameras"
        )


def stream_processor_access(rekognition: Any) -> ProcessorAccess:
    """One ListStreamProcessors: an account that has processors kept the feature; a refusal
    means it cannot use it here; an empty list is most likely a new account, which cannot."""
    try:
        count = sum(
            len(page.get("StreamProcessors", []))
            for page in rekognition.get_paginator("list_stream_processors").paginate()
        )
    except rekognition.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        return ProcessorAccess(
            False,
            f"ListStreamProcessors refused: {error.get('Code')}: {error.get('Message', '')}"
            " (or these credentials lack rekognition:ListStreamProcessors)",
            processors_in_use=0,
        )
    if count:
        return ProcessorAccess(True, f"{count} processor(s) in this account and Region", count)
    return ProcessorAccess(
        None, "this account has no stream processor in this Region", processors_in_use=0
    )


# ---- the Regions `make validate` lints both templates in ---------------------------------------
ALWAYS_LINTED = ("ap-northeast-2", "eu-central-1", "us-east-1")
_REGION_WORD = re.compile(r"\b[a-z]{2}(?:-[a-z]+)+-\d\b")


def named_regions(root: Path) -> list[str]:
    """Every Region the shipped inventory and the docs name, plus the three always linted (a
    Region with stream processors, one without, and the default)."""
    texts = [root / "cameras.yaml", root / "README.md", *sorted((root / "docs").glob("*.md"))]
    known = capability_table()
    found = set(ALWAYS_LINTED)
    for path in texts:
        if path.exists():
            found |= {w for w in _REGION_WORD.findall(path.read_text("utf-8")) if w in known}
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {TABLE_PATH.name}")
    parser.add_argument(
        "--named", type=Path, metavar="ROOT", help="print the Regions ROOT's inventory/docs name"
    )
    args = parser.parse_args(argv)
    if args.named:
        print(" ".join(named_regions(args.named)))
        return 0
    text = render(generate())
    if args.write:
        TABLE_PATH.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
