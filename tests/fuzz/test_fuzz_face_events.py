"""Hostile input through the parser and the whole face_events batch: never an unhandled
exception, never a stuck shard (no record handed back for bad input), every rejection with a
reason, counts reconcile."""

from __future__ import annotations

import base64
import contextlib
import json
import math
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from facewatch.detections.pipeline import Adapters, run_batch
from facewatch.detections.records import ProcessorRecord
from facewatch.settings import FaceEventsSettings
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.kinesis_events import kinesis_record
from tests.fakes import FakeClips, FakeMetrics, FakePublisher, FakeRejects, FakeStore

pytestmark = pytest.mark.usefixtures("no_network")
SETTINGS = FaceEventsSettings.model_validate(
    {"TABLE_NAME": "t", "EVENT_BUS_NAME": "b", "REJECTED_QUEUE_URL": "q"}
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

faces = st.builds(
    FaceSpec,
    employee_id=st.one_of(st.none(), st.from_regex(r"EMP-[0-9]{5}", fullmatch=True)),
    similarity=st.floats(0, 100),
    confidence=st.floats(0, 100),
    left=st.floats(0, 0.9),
    top=st.floats(0, 0.9),
    width=st.floats(0.01, 0.1),
    height=st.floats(0.01, 0.1),
)
valid_records = st.builds(
    frame_record,
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    st.floats(1.6e9, 2.0e9),
    st.lists(faces, max_size=4),
)
junk_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(-float("inf")),
    st.text(max_size=20),
    st.just("x" * 1_000_000),
    st.lists(st.integers(), min_size=5000, max_size=5000),
    st.recursive(st.none(), lambda inner: st.lists(inner, max_size=1), max_leaves=200),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    record = draw(valid_records)
    kind = draw(st.sampled_from(["delete", "replace", "raw", "duplicate", "utf8", "deep"]))
    paths = _paths(record)
    if kind in ("delete", "replace"):
        path = draw(st.sampled_from(paths))
        parent: Any = record
        for key in path[:-1]:
            parent = parent[key]
        if kind == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(junk_values)
        return json.dumps(record, allow_nan=True).encode()
    text = json.dumps(record)
    if kind == "duplicate":  # the later key wins in JSON parsers; the value must still validate
        return text.replace('"Confidence":', '"Confidence": "dup", "Confidence":', 1).encode()
    if kind == "utf8":
        return (
            text.encode()[: draw(st.integers(1, 200))] + b"\xff\xfe\xc3\x28" + text.encode()[200:]
        )
    if kind == "deep":
        return ("[" * 5000 + "]" * 5000).encode()
    return draw(st.binary(max_size=300))


def _event(payloads: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            kinesis_record(p, str(10**20 + i), partition_key=f"k{i}")
            for i, p in enumerate(payloads)
        ]
    }


def _run(payloads: list[str]) -> tuple[dict[str, Any], FakeRejects, FakeMetrics]:
    rejects, metrics = FakeRejects(), FakeMetrics()
    adapters = Adapters(
        store=FakeStore(),
        publisher=FakePublisher(),
        clips=FakeClips(),
        rejects=rejects,
        clock=lambda: 1.8e9,
        metrics=metrics,
    )
    processor = BatchProcessor(EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    return dict(run_batch(_event(payloads), None, SETTINGS, adapters, processor)), rejects, metrics


@FUZZ
@given(valid_records)
def test_valid_records_always_parse(record: dict[str, Any]) -> None:
    parsed = ProcessorRecord.model_validate_json(json.dumps(record))
    assert math.isfinite(parsed.frame_time)


@FUZZ
@given(mutated_payloads())
def test_parser_rejects_cleanly(payload: bytes) -> None:
    with contextlib.suppress(ValidationError):  # the only way the parser may refuse
        ProcessorRecord.model_validate_json(payload)


@FUZZ
@given(
    st.lists(
        st.one_of(
            valid_records.map(lambda r: base64.b64encode(json.dumps(r).encode()).decode()),
            mutated_payloads().map(lambda b: base64.b64encode(b).decode()),
            st.text(max_size=50),  # base64 garbage
        ),
        min_size=1,
        max_size=20,
    )
)
def test_whole_handler_never_crashes_and_never_blocks_the_shard(payloads: list[str]) -> None:
    response, rejects, metrics = _run(payloads)
    assert response["batchItemFailures"] == []  # bad input is never redelivered
    values = metrics.values
    assert values["RecordsIn"] == len(payloads)
    assert values["RecordsIn"] == values["RecordsProcessed"] + values["RecordsRejected"]
    assert len(rejects.kept) == values["RecordsRejected"]
    for rejected in rejects.kept:
        assert rejected.reason
        assert len(rejected.reason) < 600
