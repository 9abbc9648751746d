"""`--output table|json|csv` on every listing command: the same rows in all three formats.

A listing command prints rows of one shape, one per thing it lists (facewatch_tools/listing.py).
The contract test walks the real argparse tree: every command is classified here, a listing has
``--output table|json|csv`` (table by default), and a command that is not a listing has none.
Each listing is then run through ``facewatch`` (``main``) in the three formats on moto.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.server import ThreadedMotoServer
from pydantic.alias_generators import to_camel

from facewatch.privacy.consent import ConsentLedger, ConsentMethod
from facewatch_tools.cli import build_parser, main
from facewatch_tools.cli import employees as employees_cli
from facewatch_tools.listing import Column, write_rows
from facewatch_tools.template import resource
from tests.audit.conftest import create_table, seed
from tests.fleet.conftest import INVENTORY, table_definition
from tests.fleet.test_cameras_cli import MAIN, MAIN_TEMPLATE, stand_in_camera_template

ROOT = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-2"  # the tests' default region (tests/conftest.py)
FORMATS = ("table", "json", "csv")
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")

LISTINGS = {
    "audit incidents",
    "cameras plan",
    "cameras status",
    "cameras cost",
    "employees list",
    "subscribers list",
    "consent list",
}
# Why each other command is not a listing (a new command must be classified to pass).
NOT_LISTINGS = {
    "cameras apply": "acts (prints the plan, then progress)",
    "employees enroll": "acts, one line per photo",
    "employees enroll-dir": "acts, one line per photo (N/M)",
    "employees sync": "acts: drift and what it changed",
    "employees remove": "acts: an erasure per region",
    "employees check": "one photo's verdict",
    "proxy run": "a long-running service",
    "proxy check": "a diagnostic report of one site",
    "subscribers add": "acts",
    "subscribers remove": "acts",
    "alerts test": "acts: what each route answered",
    "dlq replay": "acts: a count",
    "audit show": "one document (--output text|json)",
    "audit set-status": "acts",
    "audit report": "writes an HTML (and PDF) file",
    "demo": "runs a scenario, writes a report",
    "replay": "one document (--output text|json)",
    "canary": "one verdict line",
    "local up": "a service",
    "local env": "shell exports",
    "local down": "acts",
    "consent record": "acts",
    "consent withdraw": "acts: an erasure certificate",
    "privacy erase-employee": "an erasure certificate (--output text|json)",
    "privacy erase-incident": "an erasure certificate (--output text|json)",
    "privacy erase": "an erasure certificate (--output text|json)",
    "privacy export-subject": "one JSON document",
    "privacy report": "writes files per site",
    "completion": "a shell script",
}


def leaf_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield " ".join(path), parser
    for action in subcommands:  # argparse has no public walk of its tree
        for name, sub in action.choices.items():
            yield from leaf_commands(sub, (*path, name))


def output_option(parser: argparse.ArgumentParser) -> argparse.Action | None:
    return next((a for a in parser._actions if "--output" in a.option_strings), None)


def test_every_command_is_classified() -> None:
    commands = {path for path, _ in leaf_commands(build_parser())}
    assert commands - LISTINGS - set(NOT_LISTINGS) == set(), "classify the new command here"
    assert (LISTINGS | set(NOT_LISTINGS)) - commands == set(), "no such command any more"


@pytest.mark.parametrize("path", sorted(LISTINGS))
def test_every_listing_takes_output_table_json_csv(path: str) -> None:
    parser = dict(leaf_commands(build_parser()))[path]
    option = output_option(parser)
    assert option is not None, f"{path} lists rows but has no --output"
    assert tuple(option.choices or ()) == FORMATS and option.default == "table"


def test_no_other_command_prints_csv() -> None:
    for path, parser in leaf_commands(build_parser()):
        option = output_option(parser)
        if path not in LISTINGS and option is not None:
            assert "csv" not in (option.choices or ()), f"{path} lists rows: add it to LISTINGS"


# ---- the rows in each format -------------------------------------------------------------------
def parse_json(out: str) -> list[dict[str, Any]]:
    rows = json.loads(out)
    assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    return rows


def same_cell(value: Any, cell: str) -> bool:
    """A JSON value and its CSV cell (a text that starts like a formula gets a leading ')."""
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == str(value).lower()
    if isinstance(value, int | float):
        return float(cell) == value
    if isinstance(value, list):
        return cell == "; ".join(map(str, value))
    return cell in (value, "'" + value)


def table_rows(out: str, keys: list[str], count: int) -> tuple[list[str], list[list[str]]]:
    """The first table whose headings all name JSON keys: its heading keys and next rows."""
    lines = out.splitlines()
    for at, line in enumerate(lines):
        headings = [to_camel(h.lower()) for h in line.split()]
        if headings and all(h in keys for h in headings):
            body = [re.split(r"\s{2,}", row.strip()) for row in lines[at + 1 : at + 1 + count]]
            return headings, body
    raise AssertionError(f"no table with headings from {keys} in:\n{out}")


def check_same_rows(outputs: dict[str, str], minimum: int) -> list[dict[str, Any]]:
    rows = parse_json(outputs["json"])
    assert len(rows) >= minimum
    keys = list(rows[0])
    assert all(CAMEL.match(k) for k in keys), keys
    assert all(list(r) == keys for r in rows)  # one shape
    found = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert next(csv.reader(io.StringIO(outputs["csv"]))) == keys  # the header row
    assert len(found) == len(rows)
    for value_row, cell_row in zip(rows, found, strict=True):
        assert all(same_cell(value_row[k], cell_row[k]) for k in keys), (value_row, cell_row)
    headings, body = table_rows(outputs["table"], keys, len(rows))
    assert len(body) == len(rows)
    for value_row, cells in zip(rows, body, strict=True):
        assert len(cells) == len(headings), cells
        for key, cell in zip(headings, cells, strict=True):
            value = value_row[key]
            assert cell == "-" if value in (None, "", []) else same_cell(value, cell), (key, cell)
    return rows


def run_formats(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, str]:
    outputs = {}
    for fmt in FORMATS:
        assert main([*argv, "--output", fmt]) == 0, capsys.readouterr().err
        outputs[fmt] = capsys.readouterr().out
    return outputs


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_audit_incidents(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    seeded = seed(client, 12)
    argv = ["audit", "incidents", "--table", "facewatch-test-incidents", "--region", REGION]
    rows = check_same_rows(run_formats(capsys, argv), 12)
    assert sorted(r["incidentId"] for r in rows) == sorted(i["id"] for i in seeded.incidents)
    assert {"streamArn", "firstResponseBy", "region"} <= set(rows[0])


def test_cameras_cost(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["cameras", "cost", "--inventory", str(ROOT / "cameras.yaml")]
    outputs = run_formats(capsys, argv)
    rows = check_same_rows(outputs, 3)
    assert [r["cameraId"] for r in rows][:1] == ["seoul-hq-lobby-01"]
    total = sum(r["totalUsd"] for r in rows)
    assert (
        f"all cameras: ${total:.2f}/month (the rows' sum)" in outputs["table"]
    )  # the table view's footer


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def fleet_argv(moto_server: str, tmp_path: Path) -> list[str]:
    """A main stack and its table on a moto server (quotas and processors are not asked there)."""
    cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=moto_server)
    if not cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]:
        cfn.create_stack(
            StackName=MAIN,
            TemplateBody=json.dumps(MAIN_TEMPLATE),
            Parameters=[
                {"ParameterKey": "Environment", "ParameterValue": "dev"},
                {"ParameterKey": "FaceMatchThreshold", "ParameterValue": "80"},
            ],
        )
        dynamodb = boto3.resource("dynamodb", region_name=REGION, endpoint_url=moto_server)
        table = dynamodb.create_table(**table_definition())
        table.put_item(
            Item={
                "PK": "CAMERA#seoul-hq-dock-01",
                "SK": "HEALTH",
                "health": {"status": "DOWN", "reason": "no video fragment for 15 min"},
            }
        )
    template = tmp_path / "camera.json"
    template.write_text(stand_in_camera_template())
    inventory = tmp_path / "cameras.yaml"
    inventory.write_text(INVENTORY)
    return ["--stack", MAIN, "--inventory", str(inventory), "--template", str(template),
            "--endpoint-url", moto_server]  # fmt: skip


def test_cameras_plan(fleet_argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    outputs = run_formats(capsys, ["cameras", "plan", *fleet_argv])
    rows = check_same_rows(outputs, 3)
    assert {r["action"] for r in rows} == {"create"}
    assert "registry:" in outputs["table"]  # the summary: on stdout in the table view only
    assert main(["cameras", "plan", *fleet_argv, "--output", "json"]) == 0
    assert "registry:" in capsys.readouterr().err


def test_cameras_status(fleet_argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rows = check_same_rows(run_formats(capsys, ["cameras", "status", *fleet_argv]), 3)
    dock = next(r for r in rows if r["cameraId"] == "seoul-hq-dock-01")
    assert (dock["health"], dock["healthReason"]) == ("DOWN", "no video fragment for 15 min")
    assert {r["stackStatus"] for r in rows} == {"NOT DEPLOYED"}


def test_employees_list(
    aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Rekognition's ListFaces is not in moto: a Stubber answers it, moto the rest."""
    monkeypatch.chdir(tmp_path)  # no cameras.yaml: the --region is the only region
    boto3.client("dynamodb", region_name=REGION).create_table(**table_definition())
    rekognition = boto3.client("rekognition", region_name=REGION)
    faces = {
        "Faces": [
            {"FaceId": f"{n:08d}-0000-0000-0000-000000000000", "ExternalImageId": employee}
            for n, employee in enumerate(["EMP-1", "EMP-2", "EMP-2", "EMP-3"])
        ]
    }

    def clients(_args: argparse.Namespace, _region: str | None = None) -> employees_cli.Clients:
        return employees_cli.Clients(
            rekognition=rekognition,
            sts=boto3.client("sts", region_name=REGION),
            cloudformation=boto3.client("cloudformation", region_name=REGION),
            dynamodb=boto3.resource("dynamodb", region_name=REGION),
        )

    monkeypatch.setattr(employees_cli.Clients, "from_args", staticmethod(clients))
    argv = ["employees", "list", "--collection-id", "staff", "--table",
            "facewatch-test-incidents", "--region", REGION]  # fmt: skip
    with Stubber(rekognition) as stub:
        for _ in FORMATS:
            stub.add_response("list_faces", faces, {"CollectionId": "staff", "MaxResults": 4096})
        rows = check_same_rows(run_formats(capsys, argv), 3)
    assert [(r["employeeId"], r["faces"]) for r in rows] == [
        ("EMP-1", 1),
        ("EMP-2", 2),
        ("EMP-3", 1),
    ]


def test_subscribers_list(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="ops")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+821012345678")
    sns.subscribe(
        TopicArn=topic,
        Protocol="sms",
        Endpoint="+4915112345678",
        Attributes={"FilterPolicy": json.dumps({"site": ["berlin"], "severity": ["high"]})},
    )
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@acme.example")
    argv = ["subscribers", "list", "--ops", "--topic-arn", topic, "--region", REGION]
    outputs = run_formats(capsys, argv)
    rows = check_same_rows(outputs, 3)
    berlin = next(r for r in rows if r["endpoint"] == "+4915112345678")
    assert (berlin["sites"], berlin["severities"], berlin["protocol"]) == (
        ["berlin"],
        ["high"],
        "sms",
    )
    assert "'+4915112345678" in outputs["csv"]  # a leading + is a formula to a spreadsheet


def test_consent_list(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    props = resource("ConsentTable")["Properties"]
    dynamodb = boto3.resource("dynamodb", region_name=REGION)
    table = dynamodb.create_table(
        TableName="facewatch-test-consent",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="facewatch-test",
        TemplateBody=json.dumps({
            "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {
                "ConsentTableName": {"Value": "facewatch-test-consent"},
                "TableName": {"Value": "facewatch-test-incidents"},
            },
        }),
    )  # fmt: skip
    times = iter(datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=n) for n in range(10))
    ledger = ConsentLedger(table, clock=lambda: next(times))
    actor = "arn:aws:iam::123456789012:user/hr"
    ledger.record("EMP-1", ConsentMethod.PAPER, "FORM-1", actor)
    ledger.record("EMP-2", ConsentMethod.E_SIGN, "=cmd|calc", actor)  # a formula-like document
    ledger.withdraw("EMP-1", actor)
    argv = ["consent", "list", "--stack", "facewatch-test", "--region", REGION]
    outputs = run_formats(capsys, argv)
    rows = check_same_rows(outputs, 2)
    assert [(r["employeeId"], r["status"]) for r in rows] == [
        ("EMP-1", "withdrawn"),
        ("EMP-2", "given"),
    ]
    assert "1 given, 1 withdrawn" in outputs["table"]


# ---- the renderer itself -----------------------------------------------------------------------
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")))
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    _TEXT.filter(lambda s: s.strip() == s),
    st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), max_size=3),
)
_COLUMNS = [Column("someId"), Column("value"), Column("hidden", table=False)]


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.lists(st.fixed_dictionaries({c.key: _VALUES for c in _COLUMNS}), max_size=6))
def test_any_rows_are_the_same_rows_in_every_format(rows: list[dict[str, Any]]) -> None:
    outputs: dict[str, str] = {}
    for fmt in FORMATS:
        out = io.StringIO()
        assert write_rows(rows, _COLUMNS, fmt, out) == len(rows)
        outputs[fmt] = out.getvalue()
    assert parse_json(outputs["json"]) == rows
    found = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert len(found) == len(rows)
    for row, cells in zip(rows, found, strict=True):
        assert all(same_cell(row[k], cells[k]) for k in row), (row, cells)
    lines = outputs["table"].splitlines()
    assert lines[0].split() == ["SOME_ID", "VALUE"] and len(lines) == len(rows) + 1


def test_nothing_reaches_stdout_before_the_first_row() -> None:
    """A listing that fails while reading prints its one error line, not half a document."""

    def failing() -> Iterator[dict[str, Any]]:
        raise RuntimeError("the region stopped answering")
        yield {}  # pragma: no cover

    for fmt in FORMATS:
        out = io.StringIO()
        with pytest.raises(RuntimeError):
            write_rows(failing(), _COLUMNS, fmt, out)
        assert out.getvalue() == ""
    empty = {fmt: io.StringIO() for fmt in FORMATS}
    for fmt, out in empty.items():
        write_rows([], _COLUMNS, fmt, out)
    assert json.loads(empty["json"].getvalue()) == []
    assert empty["csv"].getvalue() == "someId,value,hidden\n"
    assert empty["table"].getvalue() == "SOME_ID  VALUE\n"


# ---- docs/cli.md and the one --stack default ----------------------------------------------------
def listing_columns() -> dict[str, tuple[Column, ...]]:
    from facewatch_tools.cli import audit, cameras, consent, employees, subscribers  # noqa: PLC0415

    return {
        "audit incidents": audit.COLUMNS,
        "cameras plan": cameras.PLAN_COLUMNS,
        "cameras status": cameras.STATUS_COLUMNS,
        "cameras cost": cameras.COST_COLUMNS,
        "employees list": employees.LIST_COLUMNS,
        "subscribers list": subscribers.COLUMNS,
        "consent list": consent.COLUMNS,
    }


def test_docs_list_every_listing_and_its_columns() -> None:
    rows = re.findall(r"^\| `([a-z -]+)` \| (.+) \|$", (ROOT / "docs/cli.md").read_text(), re.M)
    documented = {name: [c.strip() for c in columns.split(",")] for name, columns in rows}
    expected = {
        name: [c.key + ("" if c.table else "*") for c in columns]
        for name, columns in listing_columns().items()
    }
    assert set(expected) == LISTINGS
    assert documented == expected


def test_every_stack_option_defaults_to_FACEWATCH_STACK() -> None:
    probe = (
        "import argparse, json\n"
        "from facewatch_tools.cli import build_parser\n"
        "from tests.cli.test_listing_output import leaf_commands\n"
        "print(json.dumps({path: next((a.default for a in p._actions if '--stack' in "
        "a.option_strings), None) for path, p in leaf_commands(build_parser())}))\n"
    )
    env = dict(os.environ, FACEWATCH_STACK="acme-prod")
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT,
        check=True, timeout=120,
    )  # fmt: skip
    defaults = {path: d for path, d in json.loads(done.stdout).items() if d is not None}
    assert len(defaults) > 20  # every AWS-backed command has one
    assert {path for path, d in defaults.items() if d != "acme-prod"} == set()
