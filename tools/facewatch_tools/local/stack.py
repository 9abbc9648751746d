"""The local stack: moto + the project's template + the runner that does what moto does not.

with LocalStack() as stack:
    stack.put_records(...)      # or the simulator
    stack.pump()                # run mappings, relays and taps until nothing moves
    stack.incidents(), stack.alert_events(), stack.slack.posts, stack.sms_messages()
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, Self

from facewatch.clips.links import sign_clip_link
from facewatch.fleet.inventory import Inventory
from facewatch.fleet.registry import Registry
from facewatch.timestamps import iso
from facewatch_tools.local.deploy import Deployment, DeployRequest, deploy
from facewatch_tools.local.eventbridge import BusEvent, FailedDelivery, Relay, Tap
from facewatch_tools.local.functions import FunctionRuntime
from facewatch_tools.local.http_api import LocalHttpApi
from facewatch_tools.local.outcome import IncidentRow, list_incidents
from facewatch_tools.local.poller import KinesisPoller, SqsPoller
from facewatch_tools.local.server import LOCAL_REGION, MotoEndpoint
from facewatch_tools.local.slack_sink import SlackSink
from facewatch_tools.template import ROOT

DEFAULT_STACK_NAME = "facewatch-dev"
SLACK_ROUTES = ("default", "ops")


class _Pollable(Protocol):
    def poll(self, *, drain: bool = False) -> int: ...


class LocalStack:
    def __init__(
        self,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        parameters: Mapping[str, str] | None = None,
        overrides: Mapping[str, str] | None = None,
        template_path: Path = ROOT / "template.yaml",
        root: Path | None = None,
        slack_routes: Iterable[str] = (),
        slack_app: bool = True,
        clock: Callable[[], float] = time.time,
        region: str = LOCAL_REGION,
        endpoint: MotoEndpoint | None = None,
    ) -> None:
        self.stack_name = stack_name
        self.parameters = {"Environment": "dev", **(parameters or {})}
        self.overrides = dict(overrides or {})
        self.template_path = template_path
        self.root = root or template_path.parent  # CodeUri paths are relative to it
        self.slack_routes = tuple(dict.fromkeys((*SLACK_ROUTES, *slack_routes)))
        self.clock = clock
        # ``endpoint``: another stack's server seen from this region (MotoEndpoint.in_region),
        # for one account in several regions behind one URL (`facewatch local up`).
        self.endpoint = endpoint or MotoEndpoint(region)
        self.slack = SlackSink(clock=clock)
        self.slack_app = slack_app  # app mode (chat.postMessage/update) or incoming webhooks
        self.deployment: Deployment | None = None
        self.runtimes: dict[str, FunctionRuntime] = {}
        self.pollers: list[KinesisPoller | SqsPoller] = []
        self.relays: list[Relay] = []
        self.taps: list[Tap] = []
        self.apis: dict[str, LocalHttpApi] = {}  # the template's HTTP APIs, by logical id
        self._clients: dict[str, Any] = {}
        self._sms_taps: list[tuple[str, str]] = []  # (topic arn, tap queue url)
        self._phones: list[str] = []
        self._topic_sms: list[tuple[str, str]] = []
        self._pump_lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._stopping = threading.Event()

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Self:
        try:
            self.endpoint.start()
            self.slack.start()
            self.overrides.setdefault("SLACK_API_URL", self.slack.api_url)
            self.deployment = deploy(
                DeployRequest(
                    self.stack_name, self.parameters, self.account_id, self.template_path, self.root
                ),
                self.client,
                self.endpoint.region,
                serve_api=self._serve_api,
            )
            self.endpoint.detach_mappings()
            self._store_slack_secret()
            self._publish_overrides()
            self._wire()
            self._tap_topics()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.stop_background()
        for api in self.apis.values():
            api.stop()
        self.slack.stop()
        self.endpoint.stop()
        self._clients.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def deployed(self) -> Deployment:
        if self.deployment is None:
            raise RuntimeError("the local stack is not started")
        return self.deployment

    @property
    def account_id(self) -> str:
        return self.endpoint.account_id

    @property
    def region(self) -> str:
        return self.endpoint.region

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.endpoint.client(service)
        return self._clients[service]

    def slack_channel(self, route: str) -> str:
        """The local channel id of a route in app mode ("seoul" -> "CSEOUL")."""
        return "C" + "".join(c for c in route.upper() if c.isalnum())

    def _store_slack_secret(self) -> None:
        """The Slack secrets point at the local sink: webhook URLs, and (app mode) the sink's
        bot token with a channel per route; without app mode the app secret has no token."""
        secrets = self.deployed.of_type("AWS::SecretsManager::Secret")
        webhooks = json.dumps({route: self.slack.url(route) for route in self.slack_routes})
        channels = {route: self.slack_channel(route) for route in self.slack_routes}
        app = {"botToken": self.slack.token if self.slack_app else "", "channels": channels}
        for logical_id, secret_id in secrets.items():
            name = f"{logical_id} {secret_id}".lower()
            value = None
            if "slack" in name and "webhook" in name:
                value = webhooks
            elif logical_id == "SlackAppSecret":
                value = json.dumps(app)
            if value is not None:
                self.client("secretsmanager").put_secret_value(
                    SecretId=secret_id, SecretString=value
                )

    def _publish_overrides(self) -> None:
        """Write the settings the runner overrides (SLACK_API_URL: the local sink) into the
        functions' configuration too, so commands in another process that read it (`facewatch
        alerts test`) reach the same sink the in-process functions do."""
        lambda_client = self.client("lambda")
        for spec in self.deployed.functions.values():
            changed = {
                k: v
                for k, v in self.overrides.items()
                if k in spec.settings and spec.environment.get(k, v) != v
            }
            if changed:
                lambda_client.update_function_configuration(
                    FunctionName=spec.name,
                    Environment={"Variables": {**spec.environment, **changed}},
                )

    def _wire(self) -> None:
        deployment = self.deployed
        stack_env = self.endpoint.env()
        for name, spec in deployment.functions.items():
            self.runtimes[name] = FunctionRuntime(
                spec, stack_env, self.endpoint.url, self.overrides, self.clock
            )
        for mapping in deployment.mappings:
            runtime = self.runtimes[deployment.function_by_arn(mapping.function_arn).name]
            poller: KinesisPoller | SqsPoller
            if mapping.source_service == "kinesis":
                role = f"arn:aws:iam::{self.account_id}:role/{runtime.spec.name}"
                poller = KinesisPoller(
                    mapping,
                    self.client("kinesis"),
                    self.client("sqs"),
                    runtime.invoke,
                    clock=self.clock,
                    identity_arn=role,
                )
            elif mapping.source_service == "sqs":
                poller = SqsPoller(mapping, self.client("sqs"), runtime.invoke, self.region)
            else:
                continue  # DynamoDB streams and others: not used by facewatch
            poller.start()
            self.pollers.append(poller)
        for relay in deployment.relays:
            self.relays.append(
                Relay(
                    relay,
                    self.client("sqs"),
                    self.client("sns"),
                    self._invoke_arn,
                    account_id=self.account_id,
                )
            )
        for bus, url in deployment.taps.items():
            self.taps.append(Tap(bus, url, self.client("sqs"), self.clock, self.account_id))
        by_logical = {r.spec.logical_id: r.invoke for r in self.runtimes.values()}
        for logical_id, api in deployment.apis.items():
            self.apis[logical_id].connect(api, self.account_id, by_logical)

    def _serve_api(self, logical_id: str) -> str:
        """A local server for an HTTP API of the template (started before the stack is
        created: its URL goes into the template where the execute-api URL would be)."""
        api = self.apis.get(logical_id) or LocalHttpApi(logical_id).start()
        self.apis[logical_id] = api
        return api.url

    @property
    def clip_base_url(self) -> str | None:
        """Where the stack's clip links point (its ClipLinkBaseUrl output): a local API."""
        return self.deployed.outputs.get("ClipLinkBaseUrl")

    def clip_link(self, incident_id: str, expires_at: float | None = None) -> str | None:
        """A signed clip link as the notifiers make them (the stack's key and base URL; valid
        ClipLinkTtlDays unless ``expires_at`` says otherwise); None without a clip endpoint."""
        base = self.clip_base_url
        secret = self.deployed.outputs.get("ClipLinkKeySecretArn")
        if not base or not secret:
            return None
        key = self.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
        if expires_at is None:
            declared = self.deployed.template.get("Parameters", {}).get("ClipLinkTtlDays", {})
            days = int(self.parameters.get("ClipLinkTtlDays") or declared.get("Default", 30))
            expires_at = self.clock() + days * 86_400
        return sign_clip_link(base, incident_id, int(expires_at), str(key).encode())

    def _invoke_arn(self, arn: str, event: Any) -> None:
        self.runtimes[self.deployed.function_by_arn(arn).name].invoke(event)

    def load_registry(self, inventory: Inventory) -> None:
        """What `facewatch cameras apply` writes: sites and cameras, so alerts carry names and
        local time. Written through the registry's own code, into the stack's table."""
        table = self.endpoint.session().resource("dynamodb", endpoint_url=self.endpoint.url)
        registry = Registry(table.Table(self.deployed.outputs["TableName"]))
        registry.apply(registry.plan(inventory, {}, prune=False))

    def subscribe_phones(
        self, phones: Iterable[str], filter_policy: Mapping[str, list[str]] | None = None
    ) -> None:
        """`facewatch subscribers add` for each phone, on every SNS topic of the stack
        (``filter_policy``: what `--site`/`--severity` set; None = org-wide)."""
        sns = self.client("sns")
        phones = [str(p) for p in phones]
        self._phones += phones
        attributes = {"FilterPolicy": json.dumps(dict(filter_policy))} if filter_policy else {}
        for topic_arn in self.deployed.of_type("AWS::SNS::Topic").values():
            for phone in phones:
                sns.subscribe(
                    TopicArn=topic_arn, Protocol="sms", Endpoint=phone, Attributes=attributes
                )

    def _tap_topics(self) -> None:
        """moto does not deliver topic messages to phones: a queue on each topic records what
        the subscribed phones would get (see sms_messages)."""
        sns, sqs = self.client("sns"), self.client("sqs")
        for logical_id, topic_arn in self.deployed.of_type("AWS::SNS::Topic").items():
            url = sqs.create_queue(QueueName=f"local-sms-{logical_id}"[:80])["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            sns.subscribe(
                TopicArn=topic_arn,
                Protocol="sqs",
                Endpoint=arn["Attributes"]["QueueArn"],
                Attributes={"RawMessageDelivery": "true"},
            )
            self._sms_taps.append((topic_arn, url))

    # ---- running --------------------------------------------------------------------------------
    def invoke(self, function: str, event: Any) -> Any:
        """Invoke a function of the stack by name or logical id (a schedule run on demand)."""
        for runtime in self.runtimes.values():
            if function in (runtime.spec.name, runtime.spec.logical_id):
                return runtime.invoke(event)
        raise KeyError(function)

    def run_schedule(self, rule: str, at: float | None = None) -> int:
        """Fire a schedule rule once (moto runs no schedules): each target gets the Scheduled
        Event EventBridge would send (``time``: ``at``, default now). ``rule`` is the rule's
        logical id; returns the targets."""
        name = self.deployed.physical_id(rule)
        event = json.dumps(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": self.account_id,
                "time": iso(self.clock() if at is None else at).replace(".000Z", "Z"),
                "region": self.region,
                "resources": [f"arn:aws:events:{self.region}:{self.account_id}:rule/{name}"],
                "detail": {},
            }
        )
        relays = [r for r in self.relays if r.spec.rule == rule]
        for relay in relays:
            relay.deliver(event)
        return len(relays)

    def pump(self, *, drain: bool = True, max_rounds: int = 500) -> int:
        """Run every mapping, relay and tap until a whole round moves nothing."""
        moved = 0
        with self._pump_lock:
            parts: list[_Pollable] = [*self.pollers, *self.relays, *self.taps]
            for _ in range(max_rounds):
                step = sum(part.poll(drain=drain) for part in parts)
                moved += step
                if not step and not (drain and any(p.backlog() for p in self.pollers)):
                    break
        return moved

    def start_background(self, interval: float = 0.05) -> None:
        """Real time: poll like Lambda does (batching windows apply) until stop_background."""

        def loop() -> None:
            while not self._stopping.wait(interval):
                self.pump(drain=False, max_rounds=1)

        self._stopping.clear()
        self._background = threading.Thread(target=loop, name="facewatch-local-runner", daemon=True)
        self._background.start()

    def stop_background(self) -> None:
        if self._background is not None:
            self._stopping.set()
            self._background.join(timeout=30)
            self._background = None

    # ---- input ----------------------------------------------------------------------------------
    @property
    def detections_stream(self) -> str:
        return self.deployed.outputs["DetectionsStreamName"]

    def put_records(self, records: Iterable[tuple[bytes, str]], stream: str | None = None) -> int:
        """Put (data, partition key) pairs in order, 500 a call; return how many went in."""
        kinesis = self.client("kinesis")
        pending = list(records)
        for start in range(0, len(pending), 500):
            chunk = pending[start : start + 500]
            response = kinesis.put_records(
                StreamName=stream or self.detections_stream,
                Records=[{"Data": data, "PartitionKey": key} for data, key in chunk],
            )
            if response.get("FailedRecordCount"):
                raise RuntimeError(f"{response['FailedRecordCount']} records were not accepted")
        return len(pending)

    def video_stream_arn(self, camera_id: str) -> str:
        """The camera's KVS stream (moto's CloudFormation skips AWS::KinesisVideo::Stream)."""
        kvs = self.client("kinesisvideo")
        try:
            arn: str = kvs.describe_stream(StreamName=camera_id)["StreamInfo"]["StreamARN"]
        except kvs.exceptions.ResourceNotFoundException:
            arn = kvs.create_stream(StreamName=camera_id, DataRetentionInHours=24)["StreamARN"]
        return arn

    # ---- what happened --------------------------------------------------------------------------
    def alert_events(self) -> list[BusEvent]:
        return [e for tap in self.taps for e in tap.events]

    def failed_deliveries(self) -> list[FailedDelivery]:
        return [f for relay in self.relays for f in relay.failures]

    def incidents(self) -> list[IncidentRow]:
        table = self.deployed.outputs["TableName"]
        return list_incidents(self.client("dynamodb"), table, self.alert_events())

    def sms_messages(self) -> list[tuple[str, str]]:
        """SMS sent through SNS, one (phone, text) per phone that gets it: to a phone directly
        (moto keeps them in its backend, in this process) or to a topic the phones subscribe to
        (read from the topic's local queue; each phone's filter policy decides, as in SNS)."""
        from moto.sns.models import sns_backends  # noqa: PLC0415

        sqs = self.client("sqs")
        for topic_arn, url in self._sms_taps:
            while True:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
                ).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    attributes = message.get("MessageAttributes", {})
                    phones = self._sms_recipients(topic_arn, attributes)
                    self._topic_sms += [(phone, message["Body"]) for phone in phones]
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        backend = sns_backends[self.account_id][self.region]
        direct = [(phone, message) for phone, message in backend.sms_messages.values()]
        return direct + self._topic_sms

    def _sms_recipients(self, topic_arn: str, attributes: dict[str, Any]) -> list[str]:
        """The topic's phones whose subscription filter policy matches (moto's own matcher)."""
        from moto.sns.utils import FilterPolicyMatcher  # noqa: PLC0415

        sns = self.client("sns")
        as_published = {
            name: {"Type": value["DataType"], "Value": value.get("StringValue")}
            for name, value in attributes.items()
        }
        phones: list[str] = []
        pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        for page in pages:
            for sub in page["Subscriptions"]:
                if sub["Protocol"] != "sms":
                    continue
                found = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
                policy = json.loads(found["Attributes"].get("FilterPolicy") or "{}")
                if not policy or FilterPolicyMatcher(policy, None).matches(as_published, ""):
                    phones.append(sub["Endpoint"])
        return phones

    def notifier_functions(self, channel: str) -> list[str]:
        """The stack's functions named for a channel ("slack", "sms")."""
        return sorted(n for n in self.runtimes if channel in n.lower())
