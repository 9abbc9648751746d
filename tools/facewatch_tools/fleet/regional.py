"""The regions of a deployment: which regions a command covers and each region's endpoint
(what a region can run is fleet/regions.py's generated table).

facewatch is one main stack per region (the same template, the same stack name), each with its
own table, collection, streams and alerts; the commands loop over the regions the inventory's
sites name (docs/regions.md). Nothing here moves data between regions.
"""

from __future__ import annotations

from collections.abc import Sequence

from facewatch.fleet.inventory import Inventory

DEFAULT_LABEL = "(default)"  # how output names the SDK's region (an inventory naming none)


def label(region: str | None) -> str:
    return region or DEFAULT_LABEL


def named(region_label: str) -> str | None:
    """The region a label names; None for the SDK's default region."""
    return None if region_label == DEFAULT_LABEL else region_label


class RegionError(ValueError):
    """The regions asked for do not fit the inventory (the message says what to do)."""


def target_regions(
    inventory: Inventory, only: Sequence[str] | None, *, shared_endpoint: bool = False
) -> list[str | None]:
    """The regions a command covers: ``--region`` (repeatable) or every region the sites name.

    ``None`` stands for the SDK's default region: an inventory whose sites name no region is a
    single-region deployment, and so is one endpoint for everything (``AWS_ENDPOINT_URL``:
    `facewatch local up` runs one local stack in one region).
    """
    if shared_endpoint and not only:
        return [None]
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
