from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from facewatch.observability import metrics

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

FACE_EVENTS_ENV = {
    "TABLE_NAME": "facewatch-test-incidents",
    "EVENT_BUS_NAME": "facewatch-test",
    "REJECTED_QUEUE_URL": "https://sqs.ap-northeast-2.amazonaws.com/123456789012/facewatch-test-rejected-records",
    "POWERTOOLS_METRICS_NAMESPACE": "FacewatchTest",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
    "ALERT_HLS_URL": "true",  # these tests cover the optional HLS URL in the alert too
}


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """The CLI sets AWS_PROFILE, AWS_RETRY_MODE, ... in its own process: a test that runs it
    in-process must not leave them for the next tests."""
    saved = dict(os.environ)
    boto3.DEFAULT_SESSION = None  # it caches the credentials an earlier test resolved
    yield
    os.environ.clear()
    os.environ.update(saved)
    boto3.DEFAULT_SESSION = None


@pytest.fixture(autouse=True)
def _metrics_buffer_empty() -> Iterator[None]:
    """Powertools keeps unflushed metrics in one process-wide buffer. In Lambda every function
    is its own process; here a test that drives the domain without the handler's flush would
    leave its counts for the next function to flush (the load test once counted another test's
    3 deliberate rejects as its own)."""
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture(autouse=True)
def _aws_test_environment(monkeypatch: pytest.MonkeyPatch, _environment_restored: None) -> None:
    """No real credentials can leak into a test; everything is in one region."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests of pure logic: any socket connection is a bug."""

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("network access in a unit test")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def sample_record(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "records" / name).read_text())
    return data


def load_function(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import functions/<name>/app.py fresh, with the given environment (its cold start)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    module_name = f"facewatch_fn_{name}"
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def face_events_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    yield load_function("face_events", FACE_EVENTS_ENV, monkeypatch)
