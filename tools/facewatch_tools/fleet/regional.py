"""The regions of a deployment: which regions a command covers, each region's endpoint, and
whether a region can run a camera's detector.

facewatch is one main stack per region (the same template, the same stack name), each with its
own table, collection, streams and alerts; the commands loop over the regions the inventory's
sites name (docs/regions.md). Nothing here moves data between regions.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from facewatch.fleet.inventory import Detector, Inventory

# The CloudFormation resource type each detector needs in its region (camera-template.yaml).
DETECTOR_RESOURCES = {
    Detector.STREAM_PROCESSOR: ("AWS::Rekognition::StreamProcessor", "AWS::KinesisVideo::Stream"),
    Detector.SAMPLER: ("AWS::KinesisVideo::Stream",),
}


class RegionError(ValueError):
    """The regions asked for do not fit the inventory (the message says what to do)."""


def target_regions(inventory: Inventory, only: Sequence[str] | None) -> list[str | None]:
    """The regions a command covers: ``--region`` (repeatable) or every region the sites name.

    ``None`` stands for the SDK's default region: an inventory whose sites name no region is a
    single-region deployment.
    """
    named = inventory.regions
    if named == [None]:
        if only and len(set(only)) > 1:
            raise RegionError(
                "no site in the inventory names a region: give one --region (or add `region:` "
                "to every site for a multi-region deployment)"
            )
        return [only[0]] if only else [None]
    return list(dict.fromkeys(only)) if only else list(named)


def endpoint_for(endpoints: Sequence[str] | None, region: str | None) -> str | None:
    """``--endpoint-url`` values: ``URL`` (every region) or ``REGION=URL`` (that region; local
    mode runs one moto server per region). A region-specific entry wins."""
    default = None
    for entry in endpoints or ():
        name, sep, url = entry.partition("=")
        if not sep:
            default = entry
        elif name == region:
            return url
    return default


class RegionCapabilities(Protocol):
    def refusal(self, region: str, detector: Detector) -> str | None:
        """Why ``region`` cannot run ``detector`` (with what to do instead), or None."""


class SchemaCapabilities:
    """What a region can create, from cfn-lint's bundled per-region resource schema lists.

    The deploy helpers' generated region table replaces this once it lands; the interface
    (``refusal``) stays. Without cfn-lint installed nothing is refused (plan says so).
    """

    def __init__(self, providers: Path | None = None) -> None:
        self._providers = providers if providers is not None else _cfn_lint_providers()

    @functools.cache  # noqa: B019 - a few regions, one instance per command
    def _types(self, region: str) -> frozenset[str] | None:
        if self._providers is None:
            return None
        path = self._providers / f"{region}.json"
        if not path.is_file():
            return None
        return frozenset(json.loads(path.read_text(encoding="utf-8")))

    def refusal(self, region: str, detector: Detector) -> str | None:
        types = self._types(region)
        if types is None:
            return None
        missing = [t for t in DETECTOR_RESOURCES[detector] if t not in types]
        if not missing:
            return None
        if detector is Detector.STREAM_PROCESSOR and "AWS::KinesisVideo::Stream" in types:
            return f"{region} has no Rekognition stream processors: use detector: sampler"
        return (
            f"{region} cannot create {', '.join(missing)}: put the site in a region that can "
            "(docs/regions.md)"
        )


def _cfn_lint_providers() -> Path | None:
    try:
        import cfnlint  # noqa: PLC0415 - a dev tool; the check is skipped without it
    except ImportError:
        return None
    path = Path(cfnlint.__file__).parent / "data" / "schemas" / "providers"
    return path if path.is_dir() else None
