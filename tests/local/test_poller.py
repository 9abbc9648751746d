"""Kinesis event source mapping semantics, against moto's Kinesis, with an injected clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from facewatch_tools.local import LocalStack
from facewatch_tools.local.deploy import MappingSpec
from facewatch_tools.local.poller import KinesisPoller

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as local:
        yield local


class Clock:
    def __init__(self) -> None:
        self.now = 1795000000.0

    def __call__(self) -> float:
        return self.now


class Function:
    """A stand-in function: records batches; fails as told."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.fail_items: set[str] = set()  # payloads reported as failed (once each)
        self.raise_times = 0

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        import base64  # noqa: PLC0415

        payloads = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        self.batches.append(payloads)
        if self.raise_times:
            self.raise_times -= 1
            raise RuntimeError("function error")
        failed = [
            {"itemIdentifier": r["kinesis"]["sequenceNumber"]}
            for r, p in zip(event["Records"], payloads, strict=True)
            if p in self.fail_items
        ]
        self.fail_items -= {p for p in payloads}
        return {"batchItemFailures": failed}


_stream_count = 0


def _poller(
    stack: LocalStack, clock: Clock, function: Function, **settings: Any
) -> tuple[KinesisPoller, str]:
    global _stream_count  # noqa: PLW0603
    _stream_count += 1
    name = f"poller-test-{_stream_count}"
    kinesis = stack.client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    failures = stack.client("sqs").create_queue(QueueName=f"{name}-failures")["QueueUrl"]
    failure_arn = f"arn:aws:sqs:{stack.region}:{stack.account_id}:{name}-failures"
    spec = MappingSpec(
        uuid="test",
        function_arn="arn:aws:lambda:ap-northeast-2:1:function:f",
        source_arn=arn,
        batch_size=10,
        window_seconds=1.0,
        starting_position="LATEST",
        bisect=False,
        max_retries=2,
        max_record_age=-1,
        report_item_failures=True,
        on_failure=failure_arn,
        enabled=True,
    )
    poller = KinesisPoller(
        replace(spec, **settings),
        kinesis,
        stack.client("sqs"),
        function,
        clock=clock,
        identity_arn="role",
    )
    poller.start()
    return poller, failures


def _put(stack: LocalStack, poller: KinesisPoller, payloads: list[str]) -> None:
    name = poller.spec.source_arn.rsplit("/", 1)[1]
    for p in payloads:
        stack.client("kinesis").put_record(StreamName=name, Data=p.encode(), PartitionKey="k")


def test_the_batching_window_holds_a_small_batch(stack: LocalStack) -> None:
    clock, function = Clock(), Function()
    poller, _ = _poller(stack, clock, function)
    _put(stack, poller, ["a", "b"])
    assert poller.poll() == 0  # first seen now: the window is open
    clock.now += 0.5
    assert poller.poll() == 0
    clock.now += 0.6
    assert poller.poll() == 2
    assert function.batches == [["a", "b"]]


def test_a_full_batch_goes_at_once_in_batch_size_chunks(stack: LocalStack) -> None:
    clock, function = Clock(), Function()
    poller, _ = _poller(stack, clock, function, batch_size=3)
    _put(stack, poller, [str(i) for i in range(7)])
    poller.poll()
    poller.poll()
    assert function.batches == [["0", "1", "2"], ["3", "4", "5"]]
    poller.poll(drain=True)
    assert function.batches[-1] == ["6"]


def test_partial_failure_resumes_from_the_lowest_failed_record(stack: LocalStack) -> None:
    clock, function = Clock(), Function()
    poller, _ = _poller(stack, clock, function)
    function.fail_items = {"c", "e"}
    _put(stack, poller, ["a", "b", "c", "d", "e"])
    poller.poll(drain=True)
    poller.poll(drain=True)
    assert function.batches == [["a", "b", "c", "d", "e"], ["c", "d", "e"]]
    assert poller.backlog() == 0


def test_function_errors_bisect_then_give_up_to_the_failure_queue(stack: LocalStack) -> None:
    clock, function = Clock(), Function()
    poller, failures = _poller(stack, clock, function, bisect=True, max_retries=2)
    function.raise_times = 3
    _put(stack, poller, ["a", "b", "c", "d"])
    for _ in range(4):
        poller.poll(drain=True)
    assert function.batches[:3] == [["a", "b", "c", "d"], ["a", "b"], ["a"]]
    [message] = stack.client("sqs").receive_message(QueueUrl=failures)["Messages"]
    body = json.loads(message["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["responseContext"]["functionError"] == "Unhandled"
    info = body["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["streamArn"] == poller.spec.source_arn
    assert function.batches[3] == ["b", "c", "d"]  # the shard moved on past the bad record


def test_records_older_than_the_maximum_age_are_skipped(stack: LocalStack) -> None:
    clock, function = Clock(), Function()
    poller, failures = _poller(stack, clock, function, max_record_age=60)
    _put(stack, poller, ["old"])
    clock.now = 10**10  # far past the records' arrival
    poller.poll(drain=True)
    assert function.batches == []
    [message] = stack.client("sqs").receive_message(QueueUrl=failures)["Messages"]
    assert json.loads(message["Body"])["requestContext"]["condition"] == "RecordAgeExceeded"
