"""The Region capability table is generated from cfn-lint's schemas, and `cameras plan` uses it
and the account's stream-processor access to refuse what cannot run."""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from facewatch.fleet.inventory import Detector
from facewatch_tools.fleet.regions import (
    STREAM_PROCESSOR,
    TABLE_PATH,
    check_region,
    generate,
    regions_running,
    render,
    stream_processor_access,
)

pytestmark = pytest.mark.usefixtures("no_network")


def test_the_committed_table_is_what_regenerating_gives() -> None:
    assert TABLE_PATH.read_text(encoding="utf-8") == render(generate()), (
        "cfn-lint changed: python -m facewatch_tools.fleet.regions --write"
    )


def test_the_table_knows_where_stream_processors_are() -> None:
    """What cfn-lint 1.58's schemas say (aws-constraints): seven commercial Regions."""
    assert regions_running(Detector.STREAM_PROCESSOR) == [
        "ap-northeast-1",
        "ap-south-1",
        "eu-central-1",
        "eu-west-1",
        "us-east-1",
        "us-east-2",
        "us-west-2",
    ]
    assert STREAM_PROCESSOR in generate()["types"]


def test_a_stream_processor_camera_in_seoul_is_refused_with_the_sampler_as_the_way_out() -> None:
    refusal = check_region("seoul-lobby", Detector.STREAM_PROCESSOR, "ap-northeast-2")
    assert refusal is not None
    assert "AWS::Rekognition::StreamProcessor" in refusal.message()
    assert "use `detector: sampler`" in refusal.advice
    assert check_region("seoul-lobby", Detector.SAMPLER, "ap-northeast-2") is None
    assert check_region("berlin", Detector.STREAM_PROCESSOR, "eu-central-1") is None


def test_a_region_without_video_streams_is_refused_for_both_detectors() -> None:
    for detector in Detector:
        refusal = check_region("cam", detector, "eu-north-1")
        assert refusal is not None and "AWS::KinesisVideo::Stream" in refusal.missing
        assert "put the camera in a Region" in refusal.advice
        assert "us-iso" not in refusal.advice  # only commercial Regions are suggested
    assert check_region("cam", Detector.SAMPLER, "xx-nowhere-1") is not None


def rekognition() -> Any:
    return boto3.client(
        "rekognition", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_an_account_with_processors_kept_the_feature() -> None:
    client = rekognition()
    with Stubber(client) as stub:
        stub.add_response(
            "list_stream_processors", {"StreamProcessors": [{"Name": "p", "Status": "RUNNING"}]}
        )
        access = stream_processor_access(client)
    assert access.can_create is True and access.processors_in_use == 1


def test_an_empty_account_is_told_to_use_the_sampler() -> None:
    client = rekognition()
    with Stubber(client) as stub:
        stub.add_response("list_stream_processors", {"StreamProcessors": []})
        access = stream_processor_access(client)
    assert access.can_create is None
    assert "2026-04-30" in access.advice() and "detector: sampler" in access.advice()


def test_a_refusal_means_no_processors() -> None:
    client = rekognition()
    with Stubber(client) as stub:
        stub.add_client_error(
            "list_stream_processors", "AccessDeniedException", "not available to new customers"
        )
        access = stream_processor_access(client)
    assert access.can_create is False and "NOT available" in access.advice()
    assert "AccessDeniedException" in access.reason and access.processors_in_use == 0


def test_make_validate_lints_in_every_named_region() -> None:
    import subprocess  # noqa: PLC0415

    from facewatch_tools.fleet.regions import named_regions  # noqa: PLC0415
    from facewatch_tools.template import ROOT  # noqa: PLC0415

    named = named_regions(ROOT)
    assert {"ap-northeast-2", "eu-central-1", "us-east-1"} <= set(named)
    dry = subprocess.run(
        ["make", "-n", "-o", ".tools/.installed", "-o", ".venv/.installed", "validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (lint,) = [line for line in dry.splitlines() if "cfn-lint" in line]
    assert f"--regions {' '.join(named)} " in lint
    assert "template.yaml camera-template.yaml" in lint


def test_named_regions_include_what_the_inventory_names(tmp_path: Any) -> None:
    from facewatch_tools.fleet.regions import named_regions  # noqa: PLC0415

    (tmp_path / "cameras.yaml").write_text("cameras:\n  - id: x\n    region: ap-southeast-2\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "deploy to eu-west-1, not to no-such-1 nor to eu-north-1 (no KVS there)"
    )
    assert named_regions(tmp_path) == [
        "ap-northeast-2",
        "ap-southeast-2",
        "eu-central-1",
        "eu-west-1",
        "us-east-1",
    ]


def test_the_deploy_guide_region_table_agrees_with_the_generated_one() -> None:
    from facewatch_tools.template import ROOT  # noqa: PLC0415

    text = (ROOT / "docs" / "deploy.md").read_text()
    rows = [line.split("|")[1:4] for line in text.splitlines() if line.startswith("| ")]
    checked = 0
    for cells in rows:
        regions = re.findall(r"\b[a-z]{2}-[a-z]+-\d(?:/\d)*\b", cells[0])
        if len(cells) < 3 or not regions or cells[1].strip() not in {"yes", "no"}:
            continue
        for group in regions:
            base, _, more = group.partition("/")
            stem = base.rsplit("-", 1)[0]
            for region in [base, *(f"{stem}-{n}" for n in more.split("/") if n)]:
                for detector, cell in zip(Detector, cells[1:3], strict=True):
                    runs = check_region("c", detector, region) is None
                    assert runs is (cell.strip() == "yes"), (region, detector, cell)
                    checked += 1
    assert checked >= 30


@pytest.mark.integration
def test_the_camera_template_lints_in_a_region_without_stream_processors() -> None:
    """No AWS::Rekognition::StreamProcessor in the template (the processor is a custom
    resource): sampler cameras deploy in Seoul, where that type does not exist."""
    from cfnlint.api import ManualArgs, lint_file  # noqa: PLC0415 - slow import, only here

    from facewatch_tools.template import ROOT  # noqa: PLC0415

    matches = lint_file(ROOT / "camera-template.yaml", ManualArgs(regions=["ap-northeast-2"]))
    assert [str(m) for m in matches] == []
