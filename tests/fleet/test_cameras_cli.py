"""`facewatch cameras`: plan/apply against moto CloudFormation (stack CRUD, tags, parameters),
Stubber for Service Quotas and Rekognition (moto has neither for these), moto DynamoDB."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from facewatch.fleet.inventory import Camera, Inventory, Site, load_inventory
from facewatch_tools.cli import build_parser, main
from facewatch_tools.cli.cameras import Clients, run_apply, run_plan, run_status
from facewatch_tools.fleet.stacks import (
    Action,
    CloudFormationEngine,
    DesiredStack,
    MainStack,
    StackState,
    apply,
    desired_stacks,
    plan,
    stack_name_for,
)

from .conftest import (
    INVENTORY,
    REGION,
    TABLE,
    WITH_PROCESSOR,
    load_template,
    table_definition,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Tried to parse AWS"),
]
MAIN = "facewatch-test"

MAIN_TEMPLATE = {
    "Parameters": {"Environment": {"Type": "String"}, "FaceMatchThreshold": {"Type": "Number"}},
    "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    "Outputs": {
        "TableName": {"Value": TABLE},
        "CollectionId": {"Value": "facewatch-employees"},
        "FaceEventsFunctionArn": {
            "Value": "arn:aws:lambda:us-east-1:123456789012:function:fe",
            "Export": {"Name": f"{MAIN}-FaceEventsFunctionArn"},
        },
        "StreamFailureQueueArn": {
            "Value": "arn:aws:sqs:us-east-1:123456789012:failures",
            "Export": {"Name": f"{MAIN}-StreamFailureQueueArn"},
        },
        "ProcessorControlFunctionArn": {
            "Value": "arn:aws:lambda:us-east-1:123456789012:function:pc",
            "Export": {"Name": f"{MAIN}-ProcessorControlFunctionArn"},
        },
        "SamplerFunctionArn": {
            "Value": "arn:aws:lambda:us-east-1:123456789012:function:sampler",
            "Export": {"Name": f"{MAIN}-SamplerFunctionArn"},
        },
    },
}


def stand_in_camera_template() -> str:
    """camera-template.yaml's parameters with a resource moto can create: moto's CloudFormation
    skips KVS and Rekognition resources and then fails on their attributes."""
    real = load_template("camera-template.yaml")
    return json.dumps(
        {
            "Parameters": real["Parameters"],
            "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        }
    )


@pytest.fixture
def fleet(table: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName=MAIN,
        TemplateBody=json.dumps(MAIN_TEMPLATE),
        Parameters=[
            {"ParameterKey": "Environment", "ParameterValue": "dev"},
            {"ParameterKey": "FaceMatchThreshold", "ParameterValue": "85"},
        ],
    )
    template = tmp_path / "camera.json"
    template.write_text(stand_in_camera_template())
    inventory = tmp_path / "cameras.yaml"
    inventory.write_text(WITH_PROCESSOR)
    rek = boto3.client("rekognition", region_name=REGION)
    sq = boto3.client("service-quotas", region_name=REGION)
    lam = boto3.client("lambda", region_name=REGION)  # moto lacks GetAccountSettings
    with Stubber(rek) as rek_stub, Stubber(sq) as sq_stub, Stubber(lam) as lambda_stub:
        clients = Clients(
            cloudformation=cfn,
            rekognition=rek,
            kinesis=boto3.client("kinesis", region_name=REGION),
            service_quotas=sq,
            dynamodb=boto3.resource("dynamodb", region_name=REGION),
            iam=boto3.client("iam", region_name=REGION),
            lambda_=lam,
        )
        yield {
            "clients": clients,
            "cfn": cfn,
            "rek": rek_stub,
            "sq": sq_stub,
            "lambda": lambda_stub,
            "table": table,
            "template": template,
            "inventory": inventory,
        }
        rek_stub.assert_no_pending_responses()
        sq_stub.assert_no_pending_responses()
        lambda_stub.assert_no_pending_responses()


def args(fleet: dict[str, Any], command: str, *extra: str) -> Any:
    return build_parser().parse_args(
        [
            "cameras",
            command,
            "--stack",
            MAIN,
            "--inventory",
            str(fleet["inventory"]),
            "--template",
            str(fleet["template"]),
            *extra,
        ]
    )


def engine(fleet: dict[str, Any]) -> CloudFormationEngine:
    return CloudFormationEngine(fleet["cfn"], sleep=lambda _s: None)


def expect_quotas(
    fleet: dict[str, Any],
    processors_limit: float = 10,
    processors_in_use: int = 0,
    concurrency: float = 1000,
    applied: dict[str, list[dict[str, Any]]] | None = None,
    refused: bool = False,
) -> None:
    """The calls of one quota check, in order: ListStreamProcessors (once, shared with the
    account check), then per service the applied and the default quotas (Service Quotas),
    Lambda's account settings; moto answers Kinesis, CloudFormation and IAM."""
    if refused:
        fleet["rek"].add_client_error(
            "list_stream_processors", "AccessDeniedException", "not available to new customers"
        )
    else:
        fleet["rek"].add_response(
            "list_stream_processors",
            {
                "StreamProcessors": [
                    {"Name": f"other-{i}", "Status": "RUNNING"} for i in range(processors_in_use)
                ]
            },
            {},
        )
    quotas: dict[str, list[dict[str, Any]]] = {
        "rekognition": [
            {
                "ServiceCode": "rekognition",
                "QuotaName": "Stream processors",
                "QuotaCode": "L-5A7E1D3B",
                "Value": processors_limit,
            }
        ],
        "kinesis": [
            {
                "ServiceCode": "kinesis",
                "QuotaName": "Shards per Region",
                "QuotaCode": "L-0DA8A1F2",
                "Value": 500.0,
            }
        ],
        "cloudformation": [],
        "iam": [],
        "lambda": [],
    }
    for service, extra in (applied or {}).items():
        quotas[service] = quotas[service] + extra
    for service, listed in quotas.items():
        fleet["sq"].add_response(
            "list_service_quotas", {"Quotas": listed}, {"ServiceCode": service}
        )
        fleet["sq"].add_response(
            "list_aws_default_service_quotas", {"Quotas": []}, {"ServiceCode": service}
        )
    fleet["lambda"].add_response(
        "get_account_settings",
        {"AccountLimit": {"ConcurrentExecutions": int(concurrency)}},
        {},
    )


def camera_stacks(cfn: Any) -> dict[str, dict[str, Any]]:
    stacks = cfn.describe_stacks()["Stacks"]
    return {s["StackName"]: s for s in stacks if s["StackName"] != MAIN}


def test_plan_shows_every_camera_before_acting(fleet: dict[str, Any], capsys: Any) -> None:
    expect_quotas(fleet)
    assert run_plan(args(fleet, "plan"), fleet["clients"], engine(fleet)) == 0
    out = capsys.readouterr().out
    assert out.count(" create ") == 3 and "registry: 5 item(s) to write" in out
    assert "quota ok: Rekognition stream processors: 1 of 10" in out
    assert camera_stacks(fleet["cfn"]) == {}  # plan changes nothing


def test_apply_is_idempotent(fleet: dict[str, Any], capsys: Any) -> None:
    expect_quotas(fleet)
    assert run_apply(args(fleet, "apply", "--yes"), fleet["clients"], engine(fleet)) == 0
    stacks = camera_stacks(fleet["cfn"])
    assert sorted(stacks) == sorted(
        stack_name_for(MAIN, c)
        for c in ("seoul-hq-lobby-01", "seoul-hq-dock-01", "berlin-reception-01")
    )
    lobby = stacks[f"{MAIN}-cam-seoul-hq-lobby-01"]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in lobby["Parameters"]}
    assert params["Detector"] == "stream-processor" and params["FaceMatchThreshold"] == "85"
    assert params["ProcessorName"].startswith("facewatch-dev-seoul-hq-lobby-01-")
    item = fleet["table"].get_item(Key={"PK": "CAMERA#seoul-hq-lobby-01", "SK": "REGISTRY"})
    assert item["Item"]["processor_name"] == params["ProcessorName"]
    capsys.readouterr()

    assert run_apply(args(fleet, "apply", "--yes"), fleet["clients"], engine(fleet)) == 0
    assert "nothing to do" in capsys.readouterr().out
    again = camera_stacks(fleet["cfn"])
    assert all(s["StackStatus"] == "CREATE_COMPLETE" for s in again.values())  # no updates


def test_changed_camera_is_updated_and_removed_camera_needs_prune(
    fleet: dict[str, Any], capsys: Any
) -> None:
    expect_quotas(fleet)
    run_apply(args(fleet, "apply", "--yes"), fleet["clients"], engine(fleet))
    text = fleet["inventory"].read_text()
    text = text.replace(
        "    detector: sampler\n    schedule:", "    detector: stream-processor\n    schedule:"
    ).split("  - id: berlin-reception-01")[0]
    fleet["inventory"].write_text(text)
    capsys.readouterr()
    expect_quotas(fleet)
    assert run_plan(args(fleet, "plan"), fleet["clients"], engine(fleet)) == 0
    out = capsys.readouterr().out
    assert "seoul-hq-dock-01     update" in out
    assert "Detector: 'sampler' -> 'stream-processor'" in out
    assert "berlin-reception-01  keep" in out and "--prune deletes it" in out

    expect_quotas(fleet)
    assert run_apply(args(fleet, "apply", "--yes"), fleet["clients"], engine(fleet)) == 0
    assert f"{MAIN}-cam-berlin-reception-01" in camera_stacks(fleet["cfn"])  # kept
    expect_quotas(fleet)
    assert run_apply(args(fleet, "apply", "--yes", "--prune"), fleet["clients"], engine(fleet)) == 0
    assert f"{MAIN}-cam-berlin-reception-01" not in camera_stacks(fleet["cfn"])
    assert "Item" not in fleet["table"].get_item(
        Key={"PK": "CAMERA#berlin-reception-01", "SK": "REGISTRY"}
    )
    dock = camera_stacks(fleet["cfn"])[f"{MAIN}-cam-seoul-hq-dock-01"]
    assert dock["StackStatus"] == "UPDATE_COMPLETE"


def test_quota_shortage_is_reported_with_what_to_raise(fleet: dict[str, Any], capsys: Any) -> None:
    expect_quotas(fleet, processors_limit=10, processors_in_use=10)
    assert run_plan(args(fleet, "plan"), fleet["clients"], engine(fleet)) == 1
    out = capsys.readouterr().out
    assert "RAISE Rekognition stream processors: 11 needed, limit 10" in out
    assert "--service-code rekognition --quota-code L-5A7E1D3B --desired-value 11" in out
    expect_quotas(fleet, processors_limit=10, processors_in_use=10)
    assert run_apply(args(fleet, "apply", "--yes"), fleet["clients"], engine(fleet)) == 1
    assert "refusing to apply" in capsys.readouterr().out
    assert camera_stacks(fleet["cfn"]) == {}


def test_every_quota_that_grows_with_cameras_is_checked(fleet: dict[str, Any], capsys: Any) -> None:
    """A new account: total concurrency 10, 5 DetectFaces TPS; the plan says what to raise."""
    (fleet["inventory"]).write_text(INVENTORY)  # three sampler cameras
    expect_quotas(
        fleet,
        concurrency=10,
        applied={
            "rekognition": [
                {
                    "ServiceCode": "rekognition",
                    "QuotaName": "Transactions per second per account for the Amazon "
                    "Rekognition Image operation SearchFacesByImage",
                    "QuotaCode": "L-SEARCH01",
                    "Value": 5.0,
                }
            ]
        },
    )
    assert run_plan(args(fleet, "plan"), fleet["clients"], engine(fleet)) == 1
    out = capsys.readouterr().out
    for title in (
        "Rekognition stream processors",
        "Kinesis shards per Region",
        "CloudFormation stacks: 4 of 2000",  # the main stack + 3
        "IAM roles (one a camera): 3 of 1000",
        "KVS GetImages TPS per stream",
        "KVS GetHLSStreamingSessionURL TPS per stream",
        "Rekognition DetectFaces TPS (sampler cameras at peak): 3 of 5",
    ):
        assert title in out, title
    assert (
        "RAISE Lambda concurrent executions (one a camera + the main stack's): 18 needed, "
        "limit 10" in out
    )
    assert "--service-code lambda --quota-code L-B99A9384 --desired-value 18" in out
    assert "RAISE Rekognition SearchFacesByImage TPS (sampler cameras at peak): 6 needed" in out
    assert "--quota-code L-SEARCH01 --desired-value 6" in out


def test_an_account_without_stream_processors_is_told_to_use_the_sampler(
    fleet: dict[str, Any], capsys: Any
) -> None:
    expect_quotas(fleet, refused=True)
    assert run_plan(args(fleet, "plan"), fleet["clients"], engine(fleet)) == 1
    out = capsys.readouterr().out
    assert "stream processors: NOT available" in out and "use `detector: sampler`" in out
    fleet["rek"].add_client_error("list_stream_processors", "AccessDeniedException", "no")
    assert run_apply(args(fleet, "apply", "--yes"), fleet["clients"], engine(fleet)) == 1
    assert "cannot run where they are" in capsys.readouterr().out
    assert camera_stacks(fleet["cfn"]) == {}


def test_a_new_account_gets_a_warning_not_a_refusal(fleet: dict[str, Any], capsys: Any) -> None:
    expect_quotas(fleet, processors_in_use=0)
    assert run_plan(args(fleet, "plan"), fleet["clients"], engine(fleet)) == 0
    assert "WARNING stream processors: probably not available" in capsys.readouterr().out


def test_a_stream_processor_camera_in_a_region_without_them_is_refused(
    table: Any, tmp_path: Path, capsys: Any
) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName=MAIN,
        TemplateBody=json.dumps(MAIN_TEMPLATE),
        Parameters=[
            {"ParameterKey": "Environment", "ParameterValue": "dev"},
            {"ParameterKey": "FaceMatchThreshold", "ParameterValue": "85"},
        ],
    )
    template = tmp_path / "camera.json"
    template.write_text(stand_in_camera_template())
    inventory = tmp_path / "cameras.yaml"
    inventory.write_text(WITH_PROCESSOR)
    clients = Clients(
        cloudformation=cfn,
        rekognition=boto3.client("rekognition", region_name="ap-northeast-2"),  # Seoul
        kinesis=None,
        service_quotas=None,
        dynamodb=boto3.resource("dynamodb", region_name=REGION),
    )
    fleet = {"inventory": inventory, "template": template, "cfn": cfn}
    # a local endpoint: no account or quota calls, only the Region table
    extra = ("--endpoint-url", "http://127.0.0.1:9")
    assert run_plan(args(fleet, "plan", *extra), clients, engine(fleet)) == 1
    out = capsys.readouterr().out
    assert "REFUSED camera seoul-hq-lobby-01: ap-northeast-2 cannot run the stream-processor" in out
    assert "use `detector: sampler`" in out and "seoul-hq-dock-01:" not in out
    assert run_apply(args(fleet, "apply", "--yes", *extra), clients, engine(fleet)) == 1
    assert camera_stacks(cfn) == {}


def test_status_lists_stack_processor_and_health(fleet: dict[str, Any], capsys: Any) -> None:
    expect_quotas(fleet)
    run_apply(args(fleet, "apply", "--yes"), fleet["clients"], engine(fleet))
    stacks = camera_stacks(fleet["cfn"])
    name = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in stacks[f"{MAIN}-cam-seoul-hq-lobby-01"]["Parameters"]
    }["ProcessorName"]
    fleet["rek"].add_response(
        "describe_stream_processor", {"Name": name, "Status": "RUNNING"}, {"Name": name}
    )
    fleet["table"].put_item(
        Item={
            "PK": "CAMERA#seoul-hq-dock-01",
            "SK": "HEALTH",
            "health": {"status": "DOWN", "reason": "no video fragment for 15 min"},
        }
    )
    capsys.readouterr()
    assert run_status(args(fleet, "status"), fleet["clients"], engine(fleet)) == 0
    out = capsys.readouterr().out
    assert "RUNNING" in out and "DOWN    no video fragment for 15 min" in out


# ---- reconciler logic with an in-memory engine (our own interface) ----------------------------
class FlakyEngine:
    """Stacks in memory; the first create of `fail_once` ends in ROLLBACK_COMPLETE."""

    def __init__(self, fail_once: set[str]) -> None:
        self.stacks: dict[str, StackState] = {}
        self.fail_once = set(fail_once)
        self.calls: list[tuple[str, str]] = []

    def camera_stacks(self, main_stack: str) -> dict[str, StackState]:
        return {s.camera_id: s for s in self.stacks.values()}

    def create(self, stack: DesiredStack, body: str) -> None:
        self.calls.append(("create", stack.stack_name))
        status = "CREATE_COMPLETE"
        if stack.stack_name in self.fail_once:
            self.fail_once.discard(stack.stack_name)
            status = "ROLLBACK_COMPLETE"
        self.stacks[stack.stack_name] = StackState(
            stack.stack_name, status, stack.parameters, stack.tags
        )

    def update(self, stack: DesiredStack, body: str) -> bool:
        self.calls.append(("update", stack.stack_name))
        self.stacks[stack.stack_name] = StackState(
            stack.stack_name, "UPDATE_COMPLETE", stack.parameters, stack.tags
        )
        return True

    def delete(self, stack_name: str) -> None:
        self.calls.append(("delete", stack_name))
        del self.stacks[stack_name]

    def wait(self, stack_names: Sequence[str]) -> dict[str, str]:
        return {n: self.stacks[n].status if n in self.stacks else "DELETED" for n in stack_names}


def test_partial_failure_is_fixed_by_running_apply_again(tmp_path: Path) -> None:
    path = tmp_path / "cameras.yaml"
    path.write_text(WITH_PROCESSOR)
    main = MainStack(MAIN, "dev", "facewatch-employees", "80")
    desired = desired_stacks(load_inventory(path), main, "body", 72)
    failing = stack_name_for(MAIN, "seoul-hq-lobby-01")
    eng = FlakyEngine({failing})

    def make_plan() -> Any:
        return plan(desired, eng.camera_stacks(MAIN), prune=False)

    first = apply(make_plan, eng, "body", echo=lambda _m: None)
    assert first.failed == {failing: "ROLLBACK_COMPLETE"} and len(first.done) == 2
    assert make_plan().by_action(Action.REPLACE)[0].stack_name == failing
    eng.calls.clear()
    second = apply(make_plan, eng, "body", echo=lambda _m: None)
    assert second.ok and eng.calls == [("delete", failing), ("create", failing)]
    eng.calls.clear()
    third = apply(make_plan, eng, "body", echo=lambda _m: None)
    assert third.ok and eng.calls == [] and third.unchanged == 3


def test_in_progress_stacks_are_waited_for_and_template_changes_update() -> None:
    inv = Inventory(
        sites=[Site(id="s", name="S")], cameras=[Camera(id="cam", site="s", display_name="C")]
    )
    main = MainStack(MAIN, "dev", "c", "80")
    (old,) = desired_stacks(inv, main, "old body", 72)
    (new,) = desired_stacks(inv, main, "new body", 72)
    busy = {"cam": StackState(old.stack_name, "UPDATE_IN_PROGRESS", old.parameters, old.tags)}
    assert plan([new], busy, prune=False).changes[0].action is Action.WAIT
    done = {"cam": StackState(old.stack_name, "UPDATE_COMPLETE", old.parameters, old.tags)}
    (change,) = plan([new], done, prune=False).changes
    assert change.action is Action.UPDATE and change.reasons == ("camera template changed",)
    long = Camera(id="c" * 101, site="s", display_name="C")
    (bad,) = desired_stacks(Inventory(sites=inv.sites, cameras=[long]), main, "b", 72)
    assert plan([bad], {}, prune=False).changes[0].action is Action.INVALID


def test_stack_names_are_valid_for_any_camera_id() -> None:
    assert stack_name_for("fw", "lobby-01") == "fw-cam-lobby-01"
    odd = stack_name_for("fw", "lobby.01_a")
    assert odd.startswith("fw-cam-lobby-01-a-") and len(odd) <= 128
    assert odd != stack_name_for("fw", "lobby-01-a")  # the hash keeps them apart
    assert len(stack_name_for("fw" * 10, "x" * 100)) <= 128


def test_cloudformation_waits_through_throttling_with_backoff() -> None:
    cfn = boto3.client(
        "cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    slept: list[float] = []
    lines: list[str] = []
    eng = CloudFormationEngine(cfn, sleep=slept.append, clock=lambda: sum(slept), echo=lines.append)
    with Stubber(cfn) as stub:
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "a",
                        "StackStatus": "CREATE_IN_PROGRESS",
                        "CreationTime": "2026-11-25T09:00:00Z",
                    }
                ]
            },
            {"StackName": "a"},
        )
        stub.add_client_error(
            "describe_stacks", "Throttling", "Rate exceeded", expected_params={"StackName": "a"}
        )
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "a",
                        "StackStatus": "CREATE_COMPLETE",
                        "CreationTime": "2026-11-25T09:00:00Z",
                    }
                ]
            },
            {"StackName": "a"},
        )
        assert eng.wait(["a"]) == {"a": "CREATE_COMPLETE"}
    assert slept == [5.0, 7.5]
    # progress: one line a status change, with N/M and the time waited (clock injected)
    assert lines == ["  [0/1] a: CREATE_IN_PROGRESS (0 s)", "  [1/1] a: CREATE_COMPLETE (12 s)"]


def test_plan_refuses_a_main_stack_without_the_exports(fleet: dict[str, Any], capsys: Any) -> None:
    cfn = fleet["cfn"]
    cfn.update_stack(
        StackName=MAIN,
        TemplateBody=json.dumps({**MAIN_TEMPLATE, "Outputs": {"TableName": {"Value": TABLE}}}),
        Parameters=[
            {"ParameterKey": "Environment", "ParameterValue": "dev"},
            {"ParameterKey": "FaceMatchThreshold", "ParameterValue": "85"},
        ],
    )
    expect_quotas(fleet)
    assert run_plan(args(fleet, "plan"), fleet["clients"], engine(fleet)) == 1
    assert (
        "lacks exported outputs FaceEventsFunctionArn, StreamFailureQueueArn"
        in capsys.readouterr().out
    )
    assert run_apply(args(fleet, "apply", "--yes"), fleet["clients"], engine(fleet)) == 1
    assert camera_stacks(cfn) == {}


def test_sampler_cameras_need_the_sampler_export_not_just_the_output(
    fleet: dict[str, Any], capsys: Any
) -> None:
    """A main stack from before the export has the SamplerFunctionArn output but no export:
    a sampler camera stack's import would fail, so plan and apply refuse first."""
    cfn = fleet["cfn"]
    outputs = dict(MAIN_TEMPLATE["Outputs"])  # type: ignore[call-overload]
    outputs["SamplerFunctionArn"] = {"Value": outputs["SamplerFunctionArn"]["Value"]}
    cfn.update_stack(
        StackName=MAIN,
        TemplateBody=json.dumps({**MAIN_TEMPLATE, "Outputs": outputs}),
        Parameters=[
            {"ParameterKey": "Environment", "ParameterValue": "dev"},
            {"ParameterKey": "FaceMatchThreshold", "ParameterValue": "85"},
        ],
    )
    expect_quotas(fleet)
    assert run_plan(args(fleet, "plan"), fleet["clients"], engine(fleet)) == 1
    assert "lacks exported outputs SamplerFunctionArn:" in capsys.readouterr().out
    assert run_apply(args(fleet, "apply", "--yes"), fleet["clients"], engine(fleet)) == 1
    assert camera_stacks(cfn) == {}


def test_cli_against_a_local_moto_server(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    """--endpoint-url wiring end to end: a moto server on 127.0.0.1, the real argparse CLI."""

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=url)
        cfn.create_stack(
            StackName=MAIN,
            TemplateBody=json.dumps(MAIN_TEMPLATE),
            Parameters=[
                {"ParameterKey": "Environment", "ParameterValue": "dev"},
                {"ParameterKey": "FaceMatchThreshold", "ParameterValue": "80"},
            ],
        )
        boto3.client("dynamodb", region_name=REGION, endpoint_url=url).create_table(
            **table_definition()
        )
        template = tmp_path / "camera.json"
        template.write_text(stand_in_camera_template())
        inventory = tmp_path / "cameras.yaml"
        inventory.write_text(WITH_PROCESSOR)
        common = [
            "--stack",
            MAIN,
            "--inventory",
            str(inventory),
            "--template",
            str(template),
            "--endpoint-url",
            url,
        ]
        assert main(["cameras", "apply", "--yes", *common]) == 0
        first = capsys.readouterr().out
        assert "quotas: not checked against a local endpoint" in first
        assert "stacks: 3 changed" in first and "registry: wrote 5" in first
        assert main(["cameras", "apply", "--yes", *common]) == 0
        assert "nothing to do" in capsys.readouterr().out
        assert main(["cameras", "status", *common]) == 0
        status = capsys.readouterr().out
        assert "seoul-hq-lobby-01" in status and "CREATE_COMPLETE" in status and "n/a" in status
    finally:
        server.stop()
