"""facewatch's own cfn-lint rules (run with `cfn-lint --append-rules lint_rules`).

cfn-lint 1.x validates SAM templates without expanding them (it merges Globals only), so
each rule reads both the SAM resource (AWS::Serverless::Function with its Policies and
Events) and the plain CloudFormation one.
"""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

# Actions that support no resource-level permission: Resource "*" is what AWS requires.
WILDCARD_ALLOWED_ACTIONS = {
    "kinesis:ListStreams",
    "rekognition:DetectFaces",  # image APIs are not resource-scoped
    "cloudwatch:PutMetricData",  # scoped with a cloudwatch:namespace condition instead
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "servicequotas:GetServiceQuota",
    "sts:GetCallerIdentity",
}
# Logs actions are never among them: every log group can be named. SAM attaches
# AWSLambdaBasicExecutionRole (logs on "*") to the roles it makes; OwnLogGroupOnly (E9006)
# requires the Deny that cuts it to the function's own group.
LOGS_WRITE_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
ALLOWED_MANAGED_POLICIES: set[str] = set()
ENCRYPTION_PROPERTIES = {
    "AWS::Kinesis::Stream": ("StreamEncryption",),
    "AWS::SQS::Queue": ("KmsMasterKeyId", "SqsManagedSseEnabled"),
    "AWS::SNS::Topic": ("KmsMasterKeyId",),
    "AWS::DynamoDB::Table": ("SSESpecification",),
    "AWS::S3::Bucket": ("BucketEncryption",),
    "AWS::Logs::LogGroup": ("KmsKeyId",),
    "AWS::SecretsManager::Secret": ("KmsKeyId",),
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class StreamMappingSafety(CloudFormationLintRule):
    id = "E9001"
    shortdesc = "Stream event source mappings survive poison records"
    description = (
        "Every Kinesis/DynamoDB stream event source mapping has an OnFailure destination, "
        "BisectBatchOnFunctionError, bounded MaximumRetryAttempts and ReportBatchItemFailures"
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html"
    tags = ("facewatch", "lambda")

    def match(self, cfn: Any) -> list[RuleMatch]:
        mappings = [
            (["Resources", name, "Properties"], name, r.get("Properties", {}))
            for name, r in cfn.get_resources(["AWS::Lambda::EventSourceMapping"]).items()
        ]
        for name, function in cfn.get_resources(["AWS::Serverless::Function"]).items():
            for event_name, event in function.get("Properties", {}).get("Events", {}).items():
                if event.get("Type") in ("Kinesis", "DynamoDB"):
                    path = ["Resources", name, "Properties", "Events", event_name, "Properties"]
                    mappings.append((path, f"{name}.{event_name}", event.get("Properties", {})))
        matches = []
        for path, name, props in mappings:
            if "StartingPosition" not in props:  # SQS mappings have no starting position
                continue
            if not props.get("DestinationConfig", {}).get("OnFailure"):
                matches.append(RuleMatch(path, f"{name}: no OnFailure destination"))
            if props.get("BisectBatchOnFunctionError") is not True:
                matches.append(RuleMatch(path, f"{name}: BisectBatchOnFunctionError is not true"))
            retries = props.get("MaximumRetryAttempts")
            if not isinstance(retries, int) or not 0 <= retries <= 100:
                matches.append(RuleMatch(path, f"{name}: MaximumRetryAttempts must be 0..100"))
            if "ReportBatchItemFailures" not in props.get("FunctionResponseTypes", []):
                matches.append(RuleMatch(path, f"{name}: no ReportBatchItemFailures"))
        return matches


class FunctionLogGroup(CloudFormationLintRule):
    id = "E9002"
    shortdesc = "Every function logs to a log group with retention"
    description = (
        "Each AWS::Lambda::Function sets LoggingConfig.LogGroup to a log group with RetentionInDays"
    )
    source_url = (
        "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html"
    )
    tags = (
        "facewatch",
        "logs",
    )

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        groups = cfn.get_resources(["AWS::Logs::LogGroup"])
        functions = cfn.get_resources(["AWS::Lambda::Function", "AWS::Serverless::Function"])
        for name, resource in functions.items():
            target = resource.get("Properties", {}).get("LoggingConfig", {}).get("LogGroup")
            ref = target.get("Ref") if isinstance(target, dict) else None
            group = groups.get(ref) if ref else None
            if group is None:
                matches.append(
                    RuleMatch(
                        ["Resources", name],
                        f"{name}: no LoggingConfig.LogGroup !Ref to a log group",
                    )
                )
            elif "RetentionInDays" not in group.get("Properties", {}):
                matches.append(
                    RuleMatch(["Resources", ref], f"{ref}: log group without RetentionInDays")
                )
        return matches


def _statements(cfn: Any) -> list[tuple[list[Any], dict[str, Any]]]:
    found = []
    for name, function in cfn.get_resources(["AWS::Serverless::Function"]).items():
        policies = function.get("Properties", {}).get("Policies", [])
        for i, policy in enumerate(_as_list(policies)):
            if isinstance(policy, dict) and "Statement" in policy:
                for index, statement in enumerate(_as_list(policy["Statement"])):
                    path = ["Resources", name, "Properties", "Policies", i, "Statement", index]
                    found.append((path, statement))
    for name, resource in cfn.get_resources(
        ["AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"]
    ).items():
        props = resource.get("Properties", {})
        documents = [
            (["Policies", i, "PolicyDocument"], p.get("PolicyDocument", {}))
            for i, p in enumerate(props.get("Policies", []))
        ]
        if "PolicyDocument" in props:
            documents.append((["PolicyDocument"], props["PolicyDocument"]))
        for path, document in documents:
            for index, statement in enumerate(_as_list(document.get("Statement", []))):
                if isinstance(statement, dict):
                    found.append(
                        (["Resources", name, "Properties", *path, "Statement", index], statement)
                    )
    return found


class NoWildcardResource(CloudFormationLintRule):
    id = "E9003"
    shortdesc = "IAM statements name their resources"
    description = (
        'No IAM Allow statement has Resource "*" unless every action supports no resource '
        "scoping (the allow-list above)"
    )
    source_url = "https://docs.aws.amazon.com/service-authorization/latest/reference/"
    tags = (
        "facewatch",
        "iam",
    )

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for path, statement in _statements(cfn):
            if statement.get("Effect") != "Allow" or "*" not in _as_list(
                statement.get("Resource", [])
            ):
                continue
            actions = set(_as_list(statement.get("Action", [])))
            extra = actions - WILDCARD_ALLOWED_ACTIONS
            if extra:
                logs = sorted(a for a in extra if str(a).startswith("logs:"))
                why = f" (logs: name the function's own log group: {logs})" if logs else ""
                matches.append(RuleMatch(path, f'Resource "*" for {sorted(extra)}{why}'))
        for name, function in cfn.get_resources(["AWS::Serverless::Function"]).items():
            for event_name, event in function.get("Properties", {}).get("Events", {}).items():
                if event.get("Type") in ("Kinesis", "DynamoDB"):
                    path = ["Resources", name, "Properties", "Events", event_name]
                    message = (
                        f"{name}.{event_name}: SAM adds a Resource '*' managed policy for "
                        "this event; use AWS::Lambda::EventSourceMapping"
                    )
                    matches.append(RuleMatch(path, message))
            for policy in _as_list(function.get("Properties", {}).get("Policies", [])):
                if isinstance(policy, str) and policy not in ALLOWED_MANAGED_POLICIES:
                    path = ["Resources", name, "Properties", "Policies"]
                    matches.append(RuleMatch(path, f"{name}: managed policy {policy} (too broad)"))
        for name, resource in cfn.get_resources(["AWS::IAM::Role"]).items():
            for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
                text = str(arn)
                if "AWSXrayWriteOnlyAccess" in text or "AWSXRayDaemonWriteAccess" in text:
                    continue  # X-Ray's trace actions support no resource-level permission
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties", "ManagedPolicyArns"],
                        f"{name}: managed policy {text} (too broad)",
                    )
                )
        return matches


class PutEventsBySource(CloudFormationLintRule):
    id = "E9004"
    shortdesc = "events:PutEvents is limited to our source"
    description = "Every statement allowing events:PutEvents has a condition on events:source"
    source_url = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html"
    tags = (
        "facewatch",
        "iam",
        "events",
    )

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for path, statement in _statements(cfn):
            if "events:PutEvents" not in _as_list(statement.get("Action", [])):
                continue
            condition = statement.get("Condition", {})
            keys = {k for op in condition.values() if isinstance(op, dict) for k in op}
            if "events:source" not in keys:
                matches.append(
                    RuleMatch(path, "events:PutEvents without an events:source condition")
                )
        return matches


class EncryptedAtRest(CloudFormationLintRule):
    id = "E9005"
    shortdesc = "Every stream, queue, topic, table, bucket, log group and secret is encrypted"
    description = "Data stores set their encryption property"
    source_url = "https://docs.aws.amazon.com/kms/latest/developerguide/service-integration.html"
    tags = (
        "facewatch",
        "encryption",
    )

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for resource_type, properties in ENCRYPTION_PROPERTIES.items():
            for name, resource in cfn.get_resources([resource_type]).items():
                props = resource.get("Properties", {})
                if not any(props.get(p) for p in properties):
                    matches.append(
                        RuleMatch(
                            ["Resources", name, "Properties"],
                            f"{name}: not encrypted at rest ({' or '.join(properties)})",
                        )
                    )
        return matches


class OwnLogGroupOnly(CloudFormationLintRule):
    id = "E9006"
    shortdesc = "Every function writes only its own log group"
    description = (
        "A SAM function (SAM attaches AWSLambdaBasicExecutionRole: logs on *) carries a Deny of "
        "logs:CreateLogGroup/CreateLogStream/PutLogEvents with NotResource its own log group"
    )
    source_url = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html"
    tags = ("facewatch", "iam", "logs")

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for name, function in cfn.get_resources(["AWS::Serverless::Function"]).items():
            props = function.get("Properties", {})
            if "Role" in props:
                continue  # an explicit role: E9003 checks its statements
            target = props.get("LoggingConfig", {}).get("LogGroup")
            group = target.get("Ref") if isinstance(target, dict) else None
            if not group or not any(
                self._scopes(statement, group)
                for policy in _as_list(props.get("Policies", []))
                if isinstance(policy, dict)
                for statement in _as_list(policy.get("Statement", []))
                if isinstance(statement, dict)
            ):
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties", "Policies"],
                        f"{name}: no Deny of {list(LOGS_WRITE_ACTIONS)} outside its own log "
                        "group (SAM's basic execution role allows every log group)",
                    )
                )
        return matches

    @staticmethod
    def _scopes(statement: dict[str, Any], group: str) -> bool:
        if statement.get("Effect") != "Deny":
            return False
        if not set(LOGS_WRITE_ACTIONS) <= set(_as_list(statement.get("Action", []))):
            return False
        names = [str(r.get("Fn::Sub", "")) if isinstance(r, dict) else str(r)
                 for r in _as_list(statement.get("NotResource", []))]  # fmt: skip
        own = f"log-group:${{{group}}}"
        return bool(names) and all(own in n for n in names)


class AlarmHasAction(CloudFormationLintRule):
    """An alarm that notifies nobody is not an alarm: every one needs an action."""

    id = "E9020"
    shortdesc = "Every alarm notifies someone"
    description = (
        "Every AWS::CloudWatch::Alarm and CompositeAlarm has a non-empty AlarmActions list "
        "and does not switch its actions off (ActionsEnabled false)"
    )
    source_url = (
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html"
    )
    tags = ("facewatch", "cloudwatch")

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        kinds = ["AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"]
        for name, resource in cfn.get_resources(kinds).items():
            props = resource.get("Properties", {})
            path = ["Resources", name, "Properties"]
            if not _as_list(props.get("AlarmActions") or []):
                matches.append(RuleMatch(path, f"{name}: no AlarmActions (it notifies nobody)"))
            elif props.get("ActionsEnabled") is False:
                matches.append(RuleMatch(path, f"{name}: ActionsEnabled is false"))
        return matches
