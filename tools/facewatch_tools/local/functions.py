"""Run the stack's Lambda functions in this process, each as if in its own container.

A function's module is imported fresh (its cold start) with the environment the stack gives
it, plus what the Lambda runtime adds (function name, region, role credentials) and where AWS
is (``AWS_ENDPOINT_URL``); boto3's default session and Powertools' parameter providers are its
own. Invocations are serialised by one lock: the process environment,
``sys.stdout`` and boto3's default session are process-wide, and each invocation swaps them.
Not emulated: timeouts (a thread cannot be stopped), memory limits, concurrency.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TextIO

import boto3
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

from facewatch_tools.local.deploy import FunctionSpec
from facewatch_tools.local.server import new_session, route_archived_media

_INVOKE_LOCK = threading.RLock()
MAX_LOG_LINES = 5000
_MODULE_PREFIX = "facewatch_local_fn_"  # a handler module's unique name in sys.modules
# Variables of the calling process a function must not inherit (they would point it at real
# AWS or another profile). The runner sets the AWS ones itself.
_SCRUBBED_PREFIXES = ("AWS_", "POWERTOOLS_", "_X_AMZN", "LAMBDA_")


class _OutputRouter(io.TextIOBase):
    """sys.stdout while a function runs: its prints (EMF metrics) and logs go to its log.

    Powertools' Logger keeps the stream it found at import (the cold start, inside an
    invocation), so the router stays the logger's stream for good and sends writes made
    outside an invocation to whatever sys.stdout is then.
    """

    def __init__(self) -> None:
        self.sink: list[str] | None = None
        self.fallback: TextIO = sys.stdout
        self._partial = ""

    def _outside(self) -> TextIO:
        current = sys.stdout
        return current if current is not self else (sys.__stdout__ or self.fallback)

    def write(self, text: str) -> int:
        if self.sink is None:
            return self._outside().write(text)
        data = self._partial + text
        *lines, self._partial = data.split("\n")
        self.sink.extend(lines)
        return len(text)

    def flush(self) -> None:
        if self.sink is None:
            self._outside().flush()


_ROUTER = _OutputRouter()


@dataclass
class LambdaContext:
    """The context object the Lambda runtime passes (the attributes Powertools reads)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    clock: Callable[[], float]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock()) * 1000))


@dataclass
class Invocation:
    function: str
    request_id: str
    started: float
    ended: float = 0.0
    error: str | None = None


@dataclass
class FunctionRuntime:
    """One function of the stack: its cold start, its invocations, its log."""

    spec: FunctionSpec
    stack_env: Mapping[str, str]  # credentials, region, endpoint
    endpoint_url: str
    overrides: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    log: list[str] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    _module: ModuleType | None = None
    _session: boto3.Session | None = None
    _private: dict[str, ModuleType] = field(default_factory=dict)
    # Powertools' parameter providers (get_secret's client and cache) live in one process-wide
    # dict: each function keeps its own, as in its own container (else one region's function
    # asks another region's Secrets Manager).
    _providers: dict[str, Any] = field(default_factory=dict)

    @property
    def environment(self) -> dict[str, str]:
        """The function's variables, with the caller's settings where the template allows."""
        env = dict(self.spec.environment)
        for key, value in self.overrides.items():
            if key in self.spec.settings and key in env:
                env[key] = value
        return env

    def _runtime_env(self) -> dict[str, str]:
        spec = self.spec
        return {
            **self.environment,
            **self.stack_env,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            # No X-Ray daemon locally: the tracer must not try to reach one.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    @contextmanager
    def _process(self) -> Iterator[None]:
        """Environment, stdout and default boto3 session of this function's container."""
        saved_env = dict(os.environ)
        saved_session = boto3.DEFAULT_SESSION
        saved_stdout = sys.stdout
        inside = {k: v for k, v in saved_env.items() if not k.startswith(_SCRUBBED_PREFIXES)}
        _set_environ({**inside, **self._runtime_env()})
        if self._session is None:
            self._session = new_session()  # reads this function's credentials and region
            route_archived_media(self._session.events, self.endpoint_url)
        boto3.DEFAULT_SESSION = self._session
        saved_providers = dict(DEFAULT_PROVIDERS)
        DEFAULT_PROVIDERS.clear()
        DEFAULT_PROVIDERS.update(self._providers)
        if saved_stdout is not _ROUTER:
            _ROUTER.fallback = saved_stdout
        lines: list[str] = []
        _ROUTER.sink = lines
        sys.stdout = _ROUTER
        try:
            yield
        finally:
            _ROUTER.sink = None
            sys.stdout = saved_stdout
            self._providers = dict(DEFAULT_PROVIDERS)
            DEFAULT_PROVIDERS.clear()
            DEFAULT_PROVIDERS.update(saved_providers)
            boto3.DEFAULT_SESSION = saved_session
            _set_environ(saved_env)
            self.log.extend(lines)
            del self.log[:-MAX_LOG_LINES]

    def _cold_start(self) -> ModuleType:
        module_path, _, _ = self.spec.handler.rpartition(".")
        source = self.spec.code_dir / (module_path.replace(".", "/") + ".py")
        name = f"{_MODULE_PREFIX}{uuid.uuid4().hex[:8]}_{module_path.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(name, source)
        if spec is None or spec.loader is None:
            raise ImportError(f"{self.spec.name}: no handler module at {source}")
        module = importlib.util.module_from_spec(spec)
        # Registered under its unique name: pydantic and dataclasses look classes' modules up.
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _route_stream_handlers()
        return module

    @contextmanager
    def _code_path(self) -> Iterator[None]:
        """The function's directory on sys.path, its own modules in sys.modules, while it runs.

        Sibling modules (``import formatting``) stay private to the function: another function
        may have a module of the same name.
        """
        code_dir = str(self.spec.code_dir)
        sys.path.insert(0, code_dir)
        sys.modules.update(self._private)
        try:
            yield
        finally:
            sys.path.remove(code_dir)
            for name, module in list(sys.modules.items()):
                path = getattr(module, "__file__", None) or ""
                if path.startswith(code_dir + os.sep) and not name.startswith(_MODULE_PREFIX):
                    self._private[name] = sys.modules.pop(name)

    def invoke(self, event: Any) -> Any:
        """Invoke synchronously (RequestResponse); a function error raises."""
        spec = self.spec
        with _INVOKE_LOCK, self._process(), self._code_path():
            now = self.clock()
            request_id = str(uuid.uuid4())
            record = Invocation(spec.name, request_id, now)
            self.invocations.append(record)
            context = LambdaContext(
                function_name=spec.name,
                function_version="$LATEST",
                invoked_function_arn=spec.arn,
                memory_limit_in_mb=spec.memory,
                aws_request_id=request_id,
                log_group_name=spec.log_group,
                log_stream_name=f"local/[$LATEST]{request_id[:8]}",
                deadline=now + spec.timeout,
                clock=self.clock,
            )
            try:
                if self._module is None:
                    self._module = self._cold_start()
                handler = getattr(self._module, spec.handler.rpartition(".")[2])
                result = handler(event, context)
            except Exception as exc:
                record.error = f"{type(exc).__name__}: {exc}"
                _ROUTER.write(
                    json.dumps(
                        {"level": "ERROR", "message": "function error", "error": record.error}
                    )
                    + "\n"
                )
                raise
            finally:
                record.ended = self.clock()
            return result

    def metrics(self) -> dict[str, float]:
        """Sum of every metric the function emitted (CloudWatch EMF lines in its log)."""
        totals: dict[str, float] = {}
        for line in self.log:
            if '"_aws"' not in line:
                continue
            try:
                document = json.loads(line)
            except ValueError:
                continue
            for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
                for metric in directive.get("Metrics", []):
                    value = document.get(metric["Name"])
                    values = value if isinstance(value, list) else [value]
                    totals[metric["Name"]] = totals.get(metric["Name"], 0.0) + sum(
                        float(v) for v in values if isinstance(v, int | float)
                    )
        return totals


def _set_environ(target: Mapping[str, str]) -> None:
    """Change only what differs: other threads (moto's server) read the environment too."""
    for key in [k for k in os.environ if k not in target]:
        del os.environ[key]
    for key, value in target.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _route_stream_handlers() -> None:
    """Loggers created at a cold start write to the real stdout: send them to the router."""
    real = {id(sys.__stdout__), id(_ROUTER.fallback)}
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and id(handler.stream) in real:
                handler.setStream(_ROUTER)
