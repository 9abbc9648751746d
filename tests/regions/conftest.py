"""Two regions on one moto server (moto keeps each region's resources apart), reset per test.

The CLI reaches them as it reaches local mode: ``--endpoint-url REGION=URL`` for each region.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from facewatch_tools import template as facewatch_template
from facewatch_tools.privacy.stores import PrivacyClients

ROOT = Path(__file__).resolve().parents[2]
SEOUL, FRANKFURT = "ap-northeast-2", "eu-central-1"
REGIONS = (SEOUL, FRANKFURT)
MAIN = "facewatch-dev"
TABLE = "facewatch-dev-incidents"
COLLECTION = "facewatch-dev-employees"
CONSENT = "facewatch-dev-consent"
# A port nothing listens on: a region that cannot be reached.
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def regions(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Both regions empty, then a main stack (and its tables) in each."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", SEOUL)
    reset = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    for region in REGIONS:
        dynamodb = client(moto_url, "dynamodb", region)
        dynamodb.create_table(**table_definition())
        dynamodb.create_table(**table_definition("ConsentTable", CONSENT))
        client(moto_url, "cloudformation", region).create_stack(
            StackName=MAIN,
            TemplateBody=json.dumps(main_template(region)),
            Parameters=[
                {"ParameterKey": "Environment", "ParameterValue": "dev"},
                {"ParameterKey": "FaceMatchThreshold", "ParameterValue": "85"},
            ],
        )
    yield {"url": moto_url, "endpoints": [f"--endpoint-url={r}={moto_url}" for r in REGIONS]}


@pytest.fixture
def world(regions: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The privacy and consent commands' clients per region (moto; Stubber for Rekognition,
    which moto lacks ListFaces for); a region in ``down`` answers nothing, as one unreachable."""
    url = regions["url"]
    rekognition = {r: client(url, "rekognition", r) for r in (SEOUL, FRANKFURT)}
    stubs = {r: Stubber(c) for r, c in rekognition.items()}
    for stub in stubs.values():
        stub.activate()
    down: set[str] = set()

    def clients(region: str | None) -> PrivacyClients:
        assert region is not None
        at, attempts = (UNREACHABLE, 1) if region in down else (url, 3)

        def of(service: str) -> Any:
            return (
                rekognition[region]
                if service == "rekognition" and region not in down
                else client(at, service, region, attempts=attempts)
            )

        return PrivacyClients(
            cloudformation=of("cloudformation"),
            dynamodb=of("dynamodb"),
            dynamodb_resource=resource(at, region),
            s3=of("s3"),
            sqs=of("sqs"),
            rekognition=of("rekognition"),
            kinesisvideo=of("kinesisvideo"),
            sts=of("sts"),
            region=region,
        )

    inventory = two_region_inventory(tmp_path / "cameras.yaml")
    yield {"clients": clients, "stubs": stubs, "down": down, "inventory": inventory, "url": url}
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def client(url: str, service: str, region: str, attempts: int = 3) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        config=Config(retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=2),
    )


def resource(url: str, region: str) -> Any:
    return boto3.resource("dynamodb", region_name=region, endpoint_url=url)


def table_definition(logical_id: str = "IncidentsTable", name: str = TABLE) -> dict[str, Any]:
    props = facewatch_template.load_template(ROOT / "template.yaml")["Resources"][logical_id][
        "Properties"
    ]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"],
    }


def main_template(region: str) -> dict[str, Any]:
    """The main stack's outputs camera stacks import (moto cannot run template.yaml here)."""
    arn = f"arn:aws:lambda:{region}:123456789012:function"

    def exported(name: str, value: str) -> dict[str, Any]:
        return {"Value": value, "Export": {"Name": f"{MAIN}-{name}"}}

    return {
        "Parameters": {
            "Environment": {"Type": "String"},
            "FaceMatchThreshold": {"Type": "Number"},
        },
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            "TableName": {"Value": TABLE},
            "CollectionId": {"Value": COLLECTION},
            "ConsentTableName": {"Value": CONSENT},
            "FaceEventsFunctionArn": exported("FaceEventsFunctionArn", f"{arn}:fe"),
            "StreamFailureQueueArn": exported(
                "StreamFailureQueueArn", f"arn:aws:sqs:{region}:123456789012:failures"
            ),
            "ProcessorControlFunctionArn": exported("ProcessorControlFunctionArn", f"{arn}:pc"),
            "SamplerFunctionArn": exported("SamplerFunctionArn", f"{arn}:sampler"),
        },
    }


def stand_in_camera_template(path: Path) -> Path:
    """camera-template.yaml's parameters around a resource moto can create (moto's
    CloudFormation skips KVS and Rekognition resources and then fails on their attributes)."""
    real = facewatch_template.load_template(ROOT / "camera-template.yaml")
    path.write_text(
        json.dumps(
            {
                "Parameters": real["Parameters"],
                "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            }
        )
    )
    return path


TWO_REGIONS = """\
sites:
  - {id: seoul-hq, name: Seoul HQ, time_zone: Asia/Seoul, region: ap-northeast-2}
  - {id: frankfurt, name: Frankfurt office, time_zone: Europe/Berlin, region: eu-central-1}
cameras:
  - {id: seoul-hq-lobby-01, site: seoul-hq, display_name: Lobby, detector: sampler}
  - {id: seoul-hq-door-02, site: seoul-hq, display_name: Side door, detector: SEOUL_DOOR}
  - {id: frankfurt-lobby-01, site: frankfurt, display_name: Lobby, detector: stream-processor}
"""


def two_region_inventory(path: Path, seoul_door: str = "sampler") -> Path:
    path.write_text(TWO_REGIONS.replace("SEOUL_DOOR", seoul_door))
    return path
