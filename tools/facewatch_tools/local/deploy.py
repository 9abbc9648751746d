"""Deploy the project's own SAM template into moto, as ``sam deploy`` would into AWS.

1. Transform with aws-sam-translator (managed-policy names resolve through moto's IAM, offline).
2. Adjust for moto, resource type by resource type (never by name):
   - ``Ref`` of an ``AWS::Events::EventBus`` becomes ``GetAtt .Name`` (CloudFormation's Ref *is*
     the name; moto's Ref yields an object);
   - an ``AWS::Events::Archive`` pattern is passed as JSON text (moto reads only text);
   - rule targets moto cannot deliver (Lambda, SNS: its PutEvents raises NotImplementedError)
     become SQS *relay* queues; moto still matches the pattern and applies Input/InputPath/
     InputTransformer, and the runner delivers each relayed event to the real target;
   - one *tap* rule per bus copies every event to an SQS queue, so the runner observes
     what was published without wrapping any client.
   Before that, reserved concurrency is checked against a new account's (total 10), which
   Lambda refuses and moto does not. An output ``FacewatchLocalStack`` marks the stack as local
   (`facewatch cameras` then deploys camera stacks through facewatch_tools.fleet.local_stacks).
2c. HTTP APIs (``AWS::ApiGatewayV2::Api``, which moto's CloudFormation skips) are served on
   127.0.0.1 by http_api.py: their execute-api URL in the template becomes the local URL.
3. Upload each CodeUri/ContentUri as a zip to a local artifacts bucket; create the stack.
4. Read everything back from the stack and the service APIs: functions (handler, resolved
   environment), event source mappings, relays, taps, outputs.
"""

from __future__ import annotations

import copy
import io
import json
import re
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from facewatch_tools.local.http_api import HttpApiSpec, serve_locally
from facewatch_tools.template import ROOT, load_template, parameter_defaults

# + account id and region: bucket names are global, and one account may deploy in two regions
ARTIFACTS_PREFIX = "facewatch-local-artifacts"
# An output only a local stack has: `facewatch cameras` deploys camera stacks through the local
# translation when it finds it (facewatch_tools.fleet.local_stacks reads the same name).
LOCAL_MARKER_OUTPUT = "FacewatchLocalStack"
# Targets moto's EventBridge delivers itself (SQS queues, log groups, buses, archives).
# Targets moto's EventBridge delivers itself. SQS is relayed too: moto ignores a target's
# Input and InputPath and leaves "account" out of the event it delivers.
_MOTO_DELIVERS = {"logs", "events"}
_TYPE_SERVICE = {
    "AWS::Lambda::Function": "lambda",
    "AWS::Lambda::Alias": "lambda",
    "AWS::Lambda::Version": "lambda",
    "AWS::SNS::Topic": "sns",
    "AWS::SQS::Queue": "sqs",
    "AWS::Logs::LogGroup": "logs",
    "AWS::Events::EventBus": "events",
}
# arn:<partition or ${AWS::Partition}>:<service>:...
_ARN_SERVICE = re.compile(r"^arn:(?:\$\{[^}]*\}|[^:]+):([a-z0-9-]+):")


class DeployError(RuntimeError):
    """The template could not be created in the local emulator; the message says why."""


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    settings: frozenset[str]  # variables set from a template parameter or a literal
    timeout: int
    memory: int
    log_group: str


@dataclass(frozen=True, slots=True)
class MappingSpec:
    uuid: str
    function_arn: str
    source_arn: str
    batch_size: int
    window_seconds: float
    starting_position: str
    bisect: bool
    max_retries: int  # -1: until the record expires
    max_record_age: int  # -1: no limit
    report_item_failures: bool
    on_failure: str | None
    enabled: bool

    @property
    def source_service(self) -> str:
        return self.source_arn.split(":")[2]


@dataclass(frozen=True, slots=True)
class RelaySpec:
    rule: str  # logical id of the rule in the template
    target_id: str
    queue_url: str
    target_arn: str
    options: dict[str, Any] = field(default_factory=dict)  # Input, InputPath, MessageGroupId

    @property
    def target_service(self) -> str:
        return self.target_arn.split(":")[2]


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    rule: str
    expression: str


@dataclass(slots=True)
class Deployment:
    stack_name: str
    template: dict[str, Any]  # the CloudFormation template as created (after transform)
    outputs: dict[str, str]
    resources: dict[str, tuple[str, str]]  # logical id -> (type, physical id)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)  # by function name
    mappings: list[MappingSpec] = field(default_factory=list)
    relays: list[RelaySpec] = field(default_factory=list)
    taps: dict[str, str] = field(default_factory=dict)  # bus name -> tap queue url
    schedules: list[ScheduleSpec] = field(default_factory=list)
    apis: dict[str, HttpApiSpec] = field(default_factory=dict)  # HTTP APIs served locally

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id][1]

    def of_type(self, resource_type: str) -> dict[str, str]:
        return {k: v[1] for k, v in self.resources.items() if v[0] == resource_type}

    def function_by_arn(self, arn: str) -> FunctionSpec:
        name = arn.split(":function:", 1)[-1].split(":", 1)[0]
        return self.functions[name]


# ---- 1. transform ------------------------------------------------------------------------------
def transform(
    sam_template: dict[str, Any],
    parameters: dict[str, str],
    region: str,
    iam_client: Any,
    bucket: str,
) -> dict[str, Any]:
    from samtranslator.parser.parser import Parser  # noqa: PLC0415
    from samtranslator.translator.managed_policy_translator import (  # noqa: PLC0415
        ManagedPolicyLoader,
    )
    from samtranslator.translator.translator import Translator  # noqa: PLC0415

    template = copy.deepcopy(sam_template)
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://{bucket}/{props[key].strip('/')}"
    globals_fn = template.get("Globals", {}).get("Function", {})
    if isinstance(globals_fn.get("CodeUri"), str):
        globals_fn["CodeUri"] = f"s3://{bucket}/{globals_fn['CodeUri'].strip('/')}"
    loader = ManagedPolicyLoader(iam_client)
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    result: dict[str, Any] = translator.translate(
        template, parameter_values=dict(parameters), get_managed_policy_map=loader.load
    )
    return result


# ---- 2. moto adjustments -----------------------------------------------------------------------
def _replace_bus_refs(node: Any, buses: set[str]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in buses:
            return {"Fn::GetAtt": [node["Ref"], "Name"]}
        return {k: _replace_bus_refs(v, buses) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_bus_refs(v, buses) for v in node]
    return node


def target_service(arn: Any, resources: dict[str, Any]) -> str:
    """The AWS service a rule target's Arn points at, from a literal ARN or an intrinsic."""
    if isinstance(arn, str):
        found = _ARN_SERVICE.match(arn)
        return found.group(1) if found else ""
    if isinstance(arn, dict):
        if "Fn::GetAtt" in arn:
            ref = arn["Fn::GetAtt"]
            logical = ref[0] if isinstance(ref, list) else str(ref).split(".", 1)[0]
        elif "Ref" in arn:
            logical = arn["Ref"]
        elif "Fn::Sub" in arn:
            text = arn["Fn::Sub"] if isinstance(arn["Fn::Sub"], str) else arn["Fn::Sub"][0]
            found = _ARN_SERVICE.match(text)
            return found.group(1) if found else ""
        else:
            return ""
        kind = resources.get(logical, {}).get("Type", "")
        return _TYPE_SERVICE.get(kind, "")
    return ""


def _queue(name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::SQS::Queue",
        "Properties": {"QueueName": name, "MessageRetentionPeriod": 3600},
    }


def adjust_for_moto(template: dict[str, Any], stack_name: str) -> dict[str, Any]:
    resources: dict[str, Any] = template["Resources"]
    buses = {k for k, v in resources.items() if v["Type"] == "AWS::Events::EventBus"}
    adjusted: dict[str, Any] = _replace_bus_refs(copy.deepcopy(template), buses)
    resources = adjusted["Resources"]
    outputs = adjusted.setdefault("Outputs", {})
    added: dict[str, Any] = {}
    for logical_id, resource in list(resources.items()):
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Events::Archive" and isinstance(
            props.get("EventPattern"), dict
        ):
            props["EventPattern"] = json.dumps(props["EventPattern"])
        if resource["Type"] != "AWS::Events::Rule":
            continue
        if "ScheduleExpression" in props:
            outputs[f"LocalSchedule{logical_id}"] = {"Value": props["ScheduleExpression"]}
        for index, target in enumerate(props.get("Targets") or []):
            if target_service(target.get("Arn"), resources) in _MOTO_DELIVERS:
                continue
            relay = f"LocalRelay{logical_id}{index}"
            added[relay] = _queue(f"{stack_name}-relay-{logical_id}-{index}"[:80])
            # moto resolves the target's intrinsic for us; the runner reads it back from here.
            outputs[relay] = {
                "Value": {"Fn::Join": ["|", [logical_id, target["Id"], target["Arn"]]]}
            }
            options = {
                "Input": target.pop("Input", None),
                "InputPath": target.pop("InputPath", None),
                "MessageGroupId": (target.pop("SqsParameters", None) or {}).get("MessageGroupId"),
                "InputTransformer": "InputTransformer" in target,
            }
            outputs[f"{relay}Options"] = {"Value": json.dumps(options)}
            target["Arn"] = {"Fn::GetAtt": [relay, "Arn"]}
    outputs[LOCAL_MARKER_OUTPUT] = {"Value": "moto (facewatch local mode)"}
    for bus in sorted(buses):
        tap = f"LocalTap{bus}"
        added[f"{tap}Queue"] = _queue(f"{stack_name}-tap-{bus}"[:80])
        added[f"{tap}Rule"] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventBusName": {"Fn::GetAtt": [bus, "Name"]},
                "EventPattern": {"version": ["0"]},  # every event
                "Targets": [{"Id": "tap", "Arn": {"Fn::GetAtt": [f"{tap}Queue", "Arn"]}}],
            },
        }
        outputs[tap] = {
            "Value": {"Fn::Join": ["|", [{"Fn::GetAtt": [bus, "Name"]}, {"Ref": f"{tap}Queue"}]]}
        }
    resources.update(added)
    return adjusted


# ---- 2a. what Lambda refuses and moto accepts: reserved concurrency ---------------------------
NEW_ACCOUNT_CONCURRENCY = 10  # a new account's total concurrency (raised by quota request)
UNRESERVED_MINIMUM = 100  # Lambda keeps this much unreserved, or all of it below 100


def check_concurrency(template: dict[str, Any], account_concurrency: int) -> None:
    """Refuse reservations the way Lambda does: the account must keep its minimum unreserved
    concurrency (``min(100, total)``), so an account with a total of 10 accepts none."""
    minimum = min(UNRESERVED_MINIMUM, account_concurrency)
    unreserved = account_concurrency
    default = ((template.get("Globals") or {}).get("Function") or {}).get(
        "ReservedConcurrentExecutions"
    )  # a SAM template before its transform
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in {"AWS::Lambda::Function", "AWS::Serverless::Function"}:
            continue
        props = resource.get("Properties") or {}
        reserved = props.get("ReservedConcurrentExecutions", default)
        if reserved is None:
            continue
        unreserved -= int(reserved)
        if unreserved < minimum:
            raise DeployError(
                f"{logical_id}: Specified ReservedConcurrentExecutions for function decreases "
                "account's UnreservedConcurrentExecution below its minimum value of "
                f"[{minimum}] (an account with total concurrency {account_concurrency})"
            )


# ---- 2b. what moto's CloudFormation cannot create: through the service APIs --------------------
def _resolve_sub(arg: Any, parameters: dict[str, str]) -> str | None:
    text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
    names = {**parameters, **{k: resolve_text(v, parameters) for k, v in extra.items()}}
    if any(names.get(n) is None for n in re.findall(r"\$\{([^}!]+)\}", text)):
        return None
    return re.sub(r"\$\{([^}!]+)\}", lambda m: str(names[m.group(1)]), text)


def _resolve_join(arg: Any, parameters: dict[str, str]) -> str | None:
    parts = [resolve_text(p, parameters) for p in arg[1]]
    return None if any(p is None for p in parts) else str(arg[0]).join(p or "" for p in parts)


def resolve_text(value: Any, parameters: dict[str, str]) -> str | None:
    """A name given as a literal, a parameter Ref, a Sub or a Join of those; None otherwise."""
    if isinstance(value, str | int | float):
        return str(value)
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((kind, arg),) = value.items()
    resolvers = {
        "Ref": lambda a, p: p.get(str(a)),
        "Fn::Sub": _resolve_sub,
        "Fn::Join": _resolve_join,
    }
    resolver = resolvers.get(kind)
    return resolver(arg, parameters) if resolver else None


def _substitute(node: Any, refs: dict[str, str], attrs: dict[tuple[str, str], str]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in refs:
            return refs[node["Ref"]]
        if set(node) == {"Fn::GetAtt"}:
            ref = node["Fn::GetAtt"]
            key = tuple(ref) if isinstance(ref, list) else tuple(str(ref).split(".", 1))
            if key in attrs:
                return attrs[key]
        if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
            text = node["Fn::Sub"]
            for logical, value in refs.items():
                text = text.replace("${" + logical + "}", value)
            return {"Fn::Sub": text}
        return {k: _substitute(v, refs, attrs) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, refs, attrs) for v in node]
    return node


def create_unsupported(
    template: dict[str, Any], parameters: dict[str, str], client: Any
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """Create Secrets Manager secrets and KVS streams through their APIs (moto's CloudFormation
    skips them), then write their Ref/GetAtt values into the template as literals.
    Returns the template and what was created (logical id -> (type, physical id))."""
    refs: dict[str, str] = {}
    attrs: dict[tuple[str, str], str] = {}
    created: dict[str, tuple[str, str]] = {}
    resources = template["Resources"]
    for logical_id, resource in list(resources.items()):
        props = resource.get("Properties") or {}
        kind = resource["Type"]
        if kind == "AWS::SecretsManager::Secret":
            name = resolve_text(props.get("Name"), parameters) or f"{logical_id}-local"
            value = props.get("SecretString")
            if not isinstance(value, str):
                value = secrets.token_urlsafe(32) if "GenerateSecretString" in props else "{}"
            arn = client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
            refs[logical_id] = arn
            attrs[(logical_id, "Id")] = arn
        elif kind == "AWS::KinesisVideo::Stream":
            name = resolve_text(props.get("Name"), parameters) or logical_id
            arn = client("kinesisvideo").create_stream(
                StreamName=name, DataRetentionInHours=int(props.get("DataRetentionInHours", 24))
            )["StreamARN"]
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = arn
        else:
            continue
        created[logical_id] = (kind, refs[logical_id])
        del resources[logical_id]
    adjusted: dict[str, Any] = _substitute(template, refs, attrs)
    for resource in adjusted["Resources"].values():
        depends = resource.get("DependsOn")
        if isinstance(depends, str) and depends in created:
            del resource["DependsOn"]
        elif isinstance(depends, list):
            resource["DependsOn"] = [d for d in depends if d not in created]
    return adjusted, created


# ---- 3. artifacts and stack --------------------------------------------------------------------
def _zip_dir(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, file.relative_to(path).as_posix())
    return buffer.getvalue()


def _code_keys(template: dict[str, Any], bucket: str) -> set[str]:
    keys = set()
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        for location in (props.get("Code"), props.get("Content")):
            if isinstance(location, dict) and location.get("S3Bucket") == bucket:
                keys.add(str(location["S3Key"]))
    return keys


def upload_artifacts(
    s3: Any, template: dict[str, Any], region: str, root: Path, bucket: str
) -> None:
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    for key in sorted(_code_keys(template, bucket)):
        source = root / key
        body = _zip_dir(source) if source.is_dir() else b""
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def create_stack(
    cloudformation: Any, stack_name: str, template: dict[str, Any], parameters: dict[str, str]
) -> dict[str, Any]:
    declared = template.get("Parameters", {})
    try:
        cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(template),
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v}
                for k, v in parameters.items()
                if k in declared
            ],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    except Exception as exc:
        raise DeployError(f"moto could not create the stack: {exc}") from exc
    stack: dict[str, Any] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise DeployError(
            f"stack {stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}"
        )
    return stack


# ---- 4. read back ------------------------------------------------------------------------------
def _setting_names(variables: dict[str, Any], parameters: dict[str, Any]) -> frozenset[str]:
    """Variables a caller may override: literals and values taken from a template parameter."""
    names = set()
    for key, value in variables.items():
        if not isinstance(value, dict) or (set(value) == {"Ref"} and value["Ref"] in parameters):
            names.add(key)
    return frozenset(names)


def read_functions(
    lambda_client: Any,
    template: dict[str, Any],
    physical: dict[str, tuple[str, str]],
    root: Path,
    bucket: str,
) -> dict[str, FunctionSpec]:
    functions = {}
    parameters = template.get("Parameters", {})
    for logical_id, (kind, name) in physical.items():
        if kind != "AWS::Lambda::Function":
            continue
        props = template["Resources"][logical_id]["Properties"]
        code = props.get("Code", {})
        if code.get("S3Bucket") != bucket:
            continue  # inline code (ZipFile) is not ours to run
        config = lambda_client.get_function_configuration(FunctionName=name)
        variables = config.get("Environment", {}).get("Variables", {})
        declared = (props.get("Environment") or {}).get("Variables") or {}
        logging_config = config.get("LoggingConfig") or {}
        functions[name] = FunctionSpec(
            logical_id=logical_id,
            name=name,
            arn=config["FunctionArn"],
            code_dir=root / code["S3Key"],
            handler=config["Handler"],
            environment={k: _text(v) for k, v in variables.items()},
            settings=_setting_names(declared, parameters),
            timeout=int(config.get("Timeout", 3)),
            memory=int(config.get("MemorySize", 128)),
            log_group=logging_config.get("LogGroup", f"/aws/lambda/{name}"),
        )
    return functions


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_mappings(lambda_client: Any, functions: dict[str, FunctionSpec]) -> list[MappingSpec]:
    mappings = []
    for function in functions.values():
        found = lambda_client.list_event_source_mappings(FunctionName=function.name)
        for esm in found.get("EventSourceMappings", []):
            mappings.append(
                MappingSpec(
                    uuid=esm["UUID"],
                    function_arn=esm["FunctionArn"],
                    source_arn=esm["EventSourceArn"],
                    batch_size=int(esm.get("BatchSize") or 100),
                    window_seconds=float(esm.get("MaximumBatchingWindowInSeconds") or 0),
                    starting_position=esm.get("StartingPosition") or "LATEST",
                    bisect=bool(esm.get("BisectBatchOnFunctionError")),
                    max_retries=int(esm.get("MaximumRetryAttempts", -1)),
                    max_record_age=int(esm.get("MaximumRecordAgeInSeconds", -1)),
                    report_item_failures="ReportBatchItemFailures"
                    in (esm.get("FunctionResponseTypes") or []),
                    on_failure=(esm.get("DestinationConfig") or {})
                    .get("OnFailure", {})
                    .get("Destination"),
                    enabled=esm.get("State", "Enabled") == "Enabled",
                )
            )
    return mappings


@dataclass(frozen=True, slots=True)
class DeployRequest:
    stack_name: str
    parameters: dict[str, str]
    account_id: str
    template_path: Path = ROOT / "template.yaml"
    root: Path = ROOT
    # The smallest account the stack must deploy to: a new one.
    account_concurrency: int = NEW_ACCOUNT_CONCURRENCY

    def bucket(self, region: str) -> str:
        return f"{ARTIFACTS_PREFIX}-{self.account_id}-{region}"


def _no_api(logical_id: str) -> str:
    raise DeployError(f"{logical_id}: the template has an HTTP API and no local server was given")


def deploy(
    request: DeployRequest,
    client: Any,
    region: str,
    serve_api: Callable[[str], str] = _no_api,
) -> Deployment:
    """``client(service)`` builds a client on the local endpoint; ``serve_api(logical_id)``
    starts a local server for an HTTP API of the template and returns its URL."""
    sam = load_template(request.template_path)
    parameters = {**parameter_defaults(sam), **request.parameters}
    pseudo = {
        "AWS::StackName": request.stack_name,
        "AWS::Region": region,
        "AWS::AccountId": request.account_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    bucket = request.bucket(region)
    transformed = transform(sam, parameters, region, client("iam"), bucket)
    check_concurrency(transformed, request.account_concurrency)
    declared = adjust_for_moto(transformed, request.stack_name)
    without_apis, apis = serve_locally(declared, serve_api)
    cfn_template, created = create_unsupported(without_apis, {**parameters, **pseudo}, client)
    created.update({k: ("AWS::ApiGatewayV2::Api", api.api_id) for k, api in apis.items()})
    upload_artifacts(client("s3"), cfn_template, region, request.root, bucket)
    cloudformation = client("cloudformation")
    stack = create_stack(cloudformation, request.stack_name, cfn_template, parameters)
    summaries = cloudformation.get_paginator("list_stack_resources").paginate(
        StackName=request.stack_name
    )
    resources = {
        r["LogicalResourceId"]: (r["ResourceType"], r.get("PhysicalResourceId", ""))
        for page in summaries
        for r in page["StackResourceSummaries"]
    }
    resources.update(created)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    deployment = Deployment(request.stack_name, cfn_template, outputs, resources, apis=apis)
    # Which variables are settings is read from the template as written (before the literals
    # of create_unsupported replaced references).
    deployment.functions = read_functions(
        client("lambda"), declared, resources, request.root, bucket
    )
    deployment.mappings = read_mappings(client("lambda"), deployment.functions)
    for key, value in outputs.items():
        if key.startswith("LocalRelay") and not key.endswith("Options"):
            rule, target_id, target_arn = value.split("|", 2)
            options = json.loads(outputs[f"{key}Options"])
            # the output is named like the relay queue; a queue's physical id is its URL
            deployment.relays.append(
                RelaySpec(rule, target_id, resources[key][1], target_arn, options)
            )
        elif key.startswith("LocalTap"):
            bus, queue_url = value.split("|", 1)
            deployment.taps[bus] = queue_url
        elif key.startswith("LocalSchedule"):
            deployment.schedules.append(ScheduleSpec(key.removeprefix("LocalSchedule"), value))
    return deployment
