"""Camera stacks on the local stack (moto), deployed as CloudFormation would deploy them.

Local mode only: `facewatch cameras` takes this engine when the main stack has the
``FacewatchLocalStack`` output, which only the local deploy (facewatch_tools.local.deploy)
writes; a stack on AWS never has it and goes through ``CloudFormationEngine`` unchanged.

moto's CloudFormation has no model for ``AWS::KinesisVideo::Stream`` or
``AWS::Scheduler::Schedule`` (it skips them and leaves their ``Ref``/``GetAtt`` unresolved), and
runs a ``Custom::`` resource's function in Docker with a response URL of its own. So, per stack:

1. the parameters (defaults filled in) and conditions are evaluated, as CloudFormation does;
2. a resource moto cannot hold and this module cannot create (``Custom::*``, which needs its
   function to answer a pre-signed S3 URL; ``AWS::Rekognition::*``, which moto lacks) refuses
   the stack in one line, "not emulated locally", and nothing is created;
3. KVS streams are created through the KVS API, before the stack (their Ref and GetAtt become
   literals in the template moto gets);
4. the rest is created by moto's CloudFormation with the stack's parameters and tags, so plan
   and status read it like any stack. A schedule's properties go into the template as an output
   (``Fn::ToJsonString``), so moto resolves their GetAtt, ImportValue and Sub; the schedule is
   then created through the Scheduler API with them;
5. what was made through an API is recorded in the template's ``Metadata`` (``FacewatchLocal``),
   where update and delete read it back.

A failure midway deletes what was made and reports ``CREATE_FAILED`` (moto has no rollback).
Differences from AWS (docs/local.md): no rollback state, so a failed stack is gone rather than
``ROLLBACK_COMPLETE``; moto has no ``UpdateDataRetention``, so a retention change replaces the
local KVS stream (it holds no video locally anyway).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from facewatch_tools.fleet.stacks import CloudFormationEngine, DesiredStack, MainStack
from facewatch_tools.template import parse_template

LOCAL_MARKER_OUTPUT = "FacewatchLocalStack"  # written by facewatch_tools.local.deploy
METADATA_KEY = "FacewatchLocal"
NOT_EMULATED = "NOT_EMULATED_LOCALLY"
STREAM = "AWS::KinesisVideo::Stream"
SCHEDULE = "AWS::Scheduler::Schedule"
_PROPS_OUTPUT = "LocalProps"  # + the schedule's logical id
_WHY = {
    "Custom::StreamProcessor": (
        "a Rekognition stream processor, which moto does not emulate (its function, processor "
        "control, could only fail)"
    ),
}


class LocalTemplateError(RuntimeError):
    """A camera template the local translation cannot deploy (the message says why)."""


def is_local(main: MainStack) -> bool:
    return LOCAL_MARKER_OUTPUT in main.outputs


def local_camera_stacks(
    main: MainStack, cloudformation: Any, echo: Callable[[str], None] = lambda _line: None
) -> LocalCameraStacks | None:
    """The local engine when ``main`` is a local stack, else None (AWS: CloudFormation)."""
    if not is_local(main):
        return None
    meta = cloudformation.meta
    session = boto3.Session(region_name=meta.region_name)  # credentials: the `local env` ones

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=meta.endpoint_url, config=meta.config)

    return LocalCameraStacks(cloudformation, client, echo=echo)


def _not_emulated(kind: str) -> bool:
    return kind.startswith(("Custom::", "AWS::Rekognition::")) or (
        kind == "AWS::CloudFormation::CustomResource"
    )


# ---- the template: parameters, conditions, intrinsics ----------------------------------------
@dataclass
class _Resolver:
    """Values known before the stack exists: parameters, pseudo parameters, conditions."""

    names: dict[str, str]  # parameters and AWS:: pseudo parameters
    conditions: dict[str, Any]
    known: dict[str, str] = field(default_factory=dict)  # "Logical" / "Logical.Attr" -> literal
    _done: dict[str, bool] = field(default_factory=dict)

    def condition(self, name: str) -> bool:
        if name not in self._done:
            if name not in self.conditions:
                raise LocalTemplateError(f"unknown condition {name}")
            self._done[name] = self.truth(self.conditions[name])
        return self._done[name]

    def truth(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((kind, arg),) = node.items()
            if kind == "Fn::Equals":
                return self.text(arg[0]) == self.text(arg[1])
            if kind == "Fn::Not":
                return not self.truth(arg[0])
            if kind == "Fn::And":
                return all(self.truth(a) for a in arg)
            if kind == "Fn::Or":
                return any(self.truth(a) for a in arg)
            if kind == "Condition":
                return self.condition(str(arg))
        raise LocalTemplateError(f"condition not understood: {node!r}")

    def text(self, node: Any) -> str:
        if isinstance(node, str | int | float) and not isinstance(node, bool):
            return str(node)
        if isinstance(node, dict) and len(node) == 1:
            ((kind, arg),) = node.items()
            if kind == "Ref" and str(arg) in {**self.names, **self.known}:
                return {**self.names, **self.known}[str(arg)]
            if kind == "Fn::Sub":
                return self._sub(arg)
            if kind == "Fn::Join":
                return str(arg[0]).join(self.text(p) for p in arg[1])
            if kind == "Fn::If":
                return self.text(arg[1] if self.condition(str(arg[0])) else arg[2])
            if kind == "Fn::GetAtt":
                key = ".".join(arg) if isinstance(arg, list) else str(arg)
                if key in self.known:
                    return self.known[key]
        raise LocalTemplateError(f"not known before the stack is created: {node!r}")

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {**self.names, **self.known, **{k: self.text(v) for k, v in extra.items()}}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise LocalTemplateError(f"not known before the stack is created: ${{{name}}}")
            return values[name]

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def value(self, node: Any) -> Any:
        """A property tree with every intrinsic resolved (for resources made through an API)."""
        if isinstance(node, dict):
            intrinsics = {"Ref", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::GetAtt", "Fn::ImportValue"}
            if len(node) == 1 and next(iter(node)) in intrinsics:
                return self.text(node)
            return {k: self.value(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.value(v) for v in node]
        return node


def _literals(node: Any, refs: dict[str, str], attrs: dict[str, str]) -> Any:
    """Ref/GetAtt/${...} of resources made through an API -> their literal values."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in refs:
            return refs[node["Ref"]]
        if set(node) == {"Fn::GetAtt"}:
            ref = node["Fn::GetAtt"]
            key = ".".join(ref) if isinstance(ref, list) else str(ref)
            if key in attrs:
                return attrs[key]
        if "Fn::Sub" in node:
            arg = node["Fn::Sub"]
            text, extra = (arg, None) if isinstance(arg, str) else (arg[0], arg[1])
            for key, value in {**refs, **attrs}.items():
                text = text.replace("${" + key + "}", value)
            extra = _literals(extra, refs, attrs) if extra is not None else None
            return {"Fn::Sub": text if extra is None else [text, extra]}
        return {k: _literals(v, refs, attrs) for k, v in node.items()}
    if isinstance(node, list):
        return [_literals(v, refs, attrs) for v in node]
    return node


@dataclass
class Translation:
    """A camera template split into what moto's CloudFormation creates and what is made here."""

    template: dict[str, Any]  # parsed, with parameter defaults
    resolver: _Resolver
    streams: dict[str, dict[str, Any]]  # logical id -> resolved properties
    schedules: dict[str, Any]  # logical id -> properties as written (moto resolves them)
    refused: list[tuple[str, str]]  # (logical id, type) this module cannot emulate

    def refusal(self, stack_name: str) -> str:
        logical, kind = self.refused[0]
        why = _WHY.get(kind, "a resource type moto's CloudFormation cannot run")
        return (
            f"{stack_name}: not emulated locally: {logical} ({kind}) is {why}; nothing was "
            "created (a camera with detector: sampler deploys fully)"
        )

    def for_moto(self, made: dict[str, dict[str, str]]) -> dict[str, Any]:
        """The template moto gets: API-made resources as literals, schedules' properties as
        outputs, the record of what was made in Metadata."""
        refs = {k: v["Ref"] for k, v in made.items()}
        attrs = {f"{k}.Arn": m["Arn"] for k, m in made.items()}
        gone = set(self.streams) | set(self.schedules) | {k for k, _ in self.refused}
        gone |= {
            k
            for k, r in self.template.get("Resources", {}).items()
            if r["Type"] in {STREAM, SCHEDULE} or _not_emulated(r["Type"])
        }  # also those whose condition is false: moto must not try them
        body = copy.deepcopy(self.template)
        resources = {k: v for k, v in body.get("Resources", {}).items() if k not in gone}
        for resource in resources.values():
            depends = resource.get("DependsOn")
            if isinstance(depends, str) and depends in gone:
                del resource["DependsOn"]
            elif isinstance(depends, list):
                resource["DependsOn"] = [d for d in depends if d not in gone]
        body["Resources"] = resources
        outputs = body.setdefault("Outputs", {})
        for logical, props in self.schedules.items():
            outputs[f"{_PROPS_OUTPUT}{logical}"] = {"Value": {"Fn::ToJsonString": props}}
        moto: dict[str, Any] = _literals(body, refs, attrs)
        moto.setdefault("Metadata", {})[METADATA_KEY] = {
            "note": "camera stack deployed by facewatch local mode (facewatch_tools.fleet."
            "local_stacks); these resources were made through their APIs",
            "made": made,
        }
        return moto


def translate(body: str, parameters: dict[str, str], pseudo: dict[str, str]) -> Translation:
    template = parse_template(body)
    declared = template.get("Parameters") or {}
    names = {k: str(v["Default"]) for k, v in declared.items() if "Default" in v}
    names.update({k: v for k, v in parameters.items() if k in declared})
    missing = sorted(set(declared) - set(names))
    if missing:
        raise LocalTemplateError(f"parameters without a value: {', '.join(missing)}")
    resolver = _Resolver({**names, **pseudo}, template.get("Conditions") or {})
    streams: dict[str, dict[str, Any]] = {}
    schedules: dict[str, Any] = {}
    refused: list[tuple[str, str]] = []
    for logical, resource in (template.get("Resources") or {}).items():
        condition = resource.get("Condition")
        if condition and not resolver.condition(str(condition)):
            continue
        kind, props = resource["Type"], resource.get("Properties") or {}
        if kind == STREAM:
            streams[logical] = resolver.value(props)
        elif kind == SCHEDULE:
            schedules[logical] = props
        elif _not_emulated(kind):
            refused.append((logical, kind))
    return Translation(template, resolver, streams, schedules, refused)


# ---- the engine --------------------------------------------------------------------------------
def _tags(props: dict[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in props.get("Tags") or []}


class LocalCameraStacks(CloudFormationEngine):
    """``StackEngine`` for the local stack: moto's CloudFormation plus the APIs (see above)."""

    def __init__(
        self,
        cloudformation: Any,
        client: Callable[[str], Any],
        *,
        echo: Callable[[str], None] = lambda _line: None,
    ) -> None:
        super().__init__(cloudformation, echo=echo, first_delay=0.2, max_delay=1.0)
        self._client = client
        self._say = echo
        self._outcome: dict[str, str] = {}  # stacks refused or failed here, for wait()
        self._account: str | None = None

    # ---- what the stacks are made of --------------------------------------------------------
    def _pseudo(self, stack_name: str) -> dict[str, str]:
        if self._account is None:
            self._account = str(self._client("sts").get_caller_identity()["Account"])
        return {
            "AWS::StackName": stack_name,
            "AWS::Region": str(self._cfn.meta.region_name),
            "AWS::AccountId": self._account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def _translate(self, stack: DesiredStack, body: str) -> Translation:
        return translate(body, stack.parameters, self._pseudo(stack.stack_name))

    def _schedule_name(self, stack_name: str, logical: str, props: dict[str, Any]) -> str:
        if isinstance(props.get("Name"), str):
            return str(props["Name"])
        # As CloudFormation names it: <stack>-<logical id>-<random>, at most 64 characters.
        suffix = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(12))
        return f"{stack_name}-{logical}"[: 64 - 13] + f"-{suffix}"

    def _schedule_record(
        self, stack_name: str, logical: str, props: dict[str, Any]
    ) -> dict[str, str]:
        pseudo = self._pseudo(stack_name)
        name = self._schedule_name(stack_name, logical, props)
        group = str(props.get("GroupName") or "default")
        arn = (
            f"arn:{pseudo['AWS::Partition']}:scheduler:{pseudo['AWS::Region']}:"
            f"{pseudo['AWS::AccountId']}:schedule/{group}/{name}"
        )
        return {"Type": SCHEDULE, "Ref": name, "Arn": arn, "GroupName": group}

    def _make_stream(self, props: dict[str, Any]) -> dict[str, str]:
        name = str(props["Name"])
        options: dict[str, Any] = {
            "StreamName": name,
            "DataRetentionInHours": int(props.get("DataRetentionInHours", 0)),
            "Tags": _tags(props),
        }
        for key in ("MediaType", "KmsKeyId", "DeviceName"):
            if props.get(key):
                options[key] = str(props[key])
        arn = str(self._client("kinesisvideo").create_stream(**options)["StreamARN"])
        return {"Type": STREAM, "Ref": name, "Arn": arn, "Props": json.dumps(props, sort_keys=True)}

    def _put_schedule(self, record: dict[str, str], props: dict[str, Any], *, new: bool) -> None:
        scheduler = self._client("scheduler")
        options = {k: v for k, v in props.items() if k not in {"Name", "GroupName"}}
        call = scheduler.create_schedule if new else scheduler.update_schedule
        call(Name=record["Ref"], GroupName=record["GroupName"], **options)

    def _unmake(self, made: dict[str, dict[str, str]]) -> None:
        """Delete what was made through the APIs; what is already gone is fine."""
        for record in made.values():
            try:
                if record["Type"] == SCHEDULE:
                    self._client("scheduler").delete_schedule(
                        Name=record["Ref"], GroupName=record["GroupName"]
                    )
                elif record["Type"] == STREAM:
                    self._client("kinesisvideo").delete_stream(StreamARN=record["Arn"])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise

    def _made(self, stack_name: str) -> dict[str, dict[str, str]]:
        """The record of what was made through the APIs, from the stack's template."""
        try:
            found = self._cfn.get_template(StackName=stack_name)["TemplateBody"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return {}
            raise
        body = json.loads(found) if isinstance(found, str) else found
        made: dict[str, dict[str, str]] = (
            (body.get("Metadata") or {}).get(METADATA_KEY, {}).get("made", {})
        )
        return made

    def _outputs(self, stack_name: str) -> dict[str, str]:
        stack = self._cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def _schedule_props(self, outputs: dict[str, str], logical: str) -> dict[str, Any]:
        text = outputs.get(f"{_PROPS_OUTPUT}{logical}")
        if text is None:
            raise LocalTemplateError(f"moto did not resolve the properties of {logical}")
        props: dict[str, Any] = json.loads(text)
        return props

    # ---- StackEngine ------------------------------------------------------------------------
    def create(self, stack: DesiredStack, body: str) -> None:
        translation = self._translate(stack, body)
        if translation.refused:
            self._refuse(stack.stack_name, translation)
            return
        made: dict[str, dict[str, str]] = {}
        created = False
        try:
            for logical, props in translation.streams.items():
                made[logical] = self._make_stream(props)
            for logical, props in translation.schedules.items():
                made[logical] = self._schedule_record(stack.stack_name, logical, props)
            super().create(stack, json.dumps(translation.for_moto(made)))
            created = True
            outputs = self._outputs(stack.stack_name)
            for logical in translation.schedules:
                props = self._schedule_props(outputs, logical)
                self._put_schedule(made[logical], props, new=True)
        except (ClientError, LocalTemplateError) as exc:
            self._unmake(made)
            if created:
                self._cfn.delete_stack(StackName=stack.stack_name)
            self._fail(stack.stack_name, "CREATE_FAILED", exc)

    def update(self, stack: DesiredStack, body: str) -> bool:
        translation = self._translate(stack, body)
        if translation.refused:
            self._refuse(stack.stack_name, translation)
            return True
        before = self._made(stack.stack_name)
        made: dict[str, dict[str, str]] = {}
        try:
            for logical, props in translation.streams.items():
                old = before.get(logical)
                if old is not None and old["Props"] == json.dumps(props, sort_keys=True):
                    made[logical] = old
                    continue
                if old is not None:  # moto has no UpdateDataRetention: the stream is replaced
                    self._unmake({logical: old})
                made[logical] = self._make_stream(props)
            for logical, props in translation.schedules.items():
                old = before.get(logical)
                made[logical] = old or self._schedule_record(stack.stack_name, logical, props)
            changed = super().update(stack, json.dumps(translation.for_moto(made)))
            outputs = self._outputs(stack.stack_name)
            for logical in translation.schedules:
                props = self._schedule_props(outputs, logical)
                self._put_schedule(made[logical], props, new=logical not in before)
            self._unmake({k: v for k, v in before.items() if k not in made})
        except (ClientError, LocalTemplateError) as exc:
            self._fail(stack.stack_name, "UPDATE_FAILED", exc)
            return True
        return changed or made != before

    def delete(self, stack_name: str) -> None:
        self._unmake(self._made(stack_name))
        super().delete(stack_name)

    def wait(self, stack_names: Sequence[str]) -> dict[str, str]:
        decided = {n: self._outcome.pop(n) for n in stack_names if n in self._outcome}
        rest = [n for n in stack_names if n not in decided]
        return {**decided, **(super().wait(rest) if rest else {})}

    def _refuse(self, stack_name: str, translation: Translation) -> None:
        self._say(f"  {translation.refusal(stack_name)}")
        self._outcome[stack_name] = NOT_EMULATED

    def _fail(self, stack_name: str, status: str, exc: Exception) -> None:
        self._say(f"  {stack_name}: {status} locally: {exc}")
        self._outcome[stack_name] = status
