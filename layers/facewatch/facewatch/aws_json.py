"""A small AWS client for the JSON protocols (DynamoDB, SQS, Secrets Manager) over http.client.

Only the Slack front function uses it, for its cold start: botocore's import and three clients
take about 0.4 CPU-seconds (service models and endpoint rules parsed from JSON on every cold
start), which is 2.7 s at 256 MB (14.5% of a vCPU) before the first call; Slack waits 3 s for
everything (docs/benchmarks.md). This module costs the stdlib's ssl and http.client.

What it does, as botocore does it: Signature Version 4 (tests check it against botocore's
signer and moto's signature check), the regional endpoint of each partition (checked against
botocore's partitions.json), ``AWS_ENDPOINT_URL[_<SERVICE>]`` and ``AWS_CA_BUNDLE``,
certificates verified against Amazon Trust Services' roots first (facewatch.aws_roots: 1 ms
instead of 35 ms of CPU for the system's ~150 roots, which are tried when those fail),
DynamoDB's CRC32, one retry on a connection failure, a 5xx or throttling, and errors shaped
like botocore's ClientError (``exc.response["Error"]["Code"]``), so one adapter takes either
client. Nothing is logged: requests and responses carry secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import ssl
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from facewatch.aws_roots import AWS_ROOTS_PEM

# botocore's partitions.json (regionRegex -> dnsSuffix); a test keeps this equal to it.
PARTITIONS: tuple[tuple[str, str], ...] = (
    (r"^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$", "amazonaws.com"),
    (r"^cn\-\w+\-\d+$", "amazonaws.com.cn"),
    (r"^eusc\-(de)\-\w+\-\d+$", "amazonaws.eu"),
    (r"^us\-iso\-\w+\-\d+$", "c2s.ic.gov"),
    (r"^us\-isob\-\w+\-\d+$", "sc2s.sgov.gov"),
    (r"^eu\-isoe\-\w+\-\d+$", "cloud.adc-e.uk"),
    (r"^us\-isof\-\w+\-\d+$", "csp.hci.ic.gov"),
    (r"^us\-gov\-\w+\-\d+$", "amazonaws.com"),
)
# botocore's standard retry mode: these codes are worth one more try.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
_USER_AGENT = "facewatch-slack-front"


class JsonService(NamedTuple):
    endpoint_prefix: str
    signing_name: str
    json_version: str
    target_prefix: str
    env_id: str  # botocore's AWS_ENDPOINT_URL_<env_id>


DYNAMODB = JsonService("dynamodb", "dynamodb", "1.0", "DynamoDB_20120810", "DYNAMODB")
SQS = JsonService("sqs", "sqs", "1.0", "AmazonSQS", "SQS")
SECRETS_MANAGER = JsonService(
    "secretsmanager", "secretsmanager", "1.1", "secretsmanager", "SECRETS_MANAGER"
)


class Credentials(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None = None


class AwsError(Exception):
    """An AWS error answer, shaped like botocore's ClientError."""

    def __init__(self, operation: str, status: int, code: str, message: str, request_id: str):
        super().__init__(
            f"An error occurred ({code}) when calling the {operation} operation: {message}"
        )
        self.operation_name = operation
        self.code = code
        self.response: dict[str, Any] = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": request_id},
        }


class AwsConnectionError(ConnectionError):
    """No answer from AWS after the retry (connection refused, reset, timed out, bad CRC32)."""


def region_from(environ: Mapping[str, str]) -> str:
    region = environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION")
    if not region:
        raise ValueError("no AWS region: set AWS_DEFAULT_REGION or AWS_REGION")
    return region


def credentials_from(environ: Mapping[str, str]) -> Credentials:
    """Lambda puts the role's credentials in the environment for the container's lifetime."""
    access_key = environ.get("AWS_ACCESS_KEY_ID")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
    if not access_key or not secret_key:
        raise ValueError("no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    return Credentials(access_key, secret_key, environ.get("AWS_SESSION_TOKEN") or None)


def endpoint_url(service: JsonService, region: str, environ: Mapping[str, str]) -> str:
    """As botocore resolves it for these services: a configured endpoint, else regional."""
    if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        configured = environ.get(f"AWS_ENDPOINT_URL_{service.env_id}") or environ.get(
            "AWS_ENDPOINT_URL"
        )
        if configured:
            return configured
    for pattern, dns_suffix in PARTITIONS:
        if re.match(pattern, region):
            return f"https://{service.endpoint_prefix}.{region}.{dns_suffix}"
    raise ValueError(
        f"region {region!r} is in no known partition: set AWS_ENDPOINT_URL_{service.env_id}"
    )


def signed_headers(
    *,
    host: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    service: str,
    region: str,
    credentials: Credentials,
    now: float,
) -> dict[str, str]:
    """``headers`` plus X-Amz-Date, X-Amz-Security-Token and Authorization (SigV4, POST).

    Every header given is signed, Host included; the path is sent as is (``/`` here)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    out = {"Host": host, **headers, "X-Amz-Date": stamp}
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    canonical = {k.lower(): " ".join(v.split()) for k, v in out.items()}
    names = ";".join(sorted(canonical))
    request = "\n".join(
        [
            "POST",
            path,
            "",
            "".join(f"{k}:{canonical[k]}\n" for k in sorted(canonical)),
            names,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
    key = f"AWS4{credentials.secret_key}".encode()
    for part in (stamp[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={names}, Signature={signature}"
    )
    return out


_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_aws_roots_failed: set[str] = set()  # hosts whose certificate AWS's roots did not verify


def _tls(cafile: str | None = None, cadata: str | None = None) -> ssl.SSLContext:
    """One context per trust source and process (none given: the system's roots)."""
    key = (cafile, cadata)
    if key not in _contexts:
        _contexts[key] = ssl.create_default_context(cafile=cafile, cadata=cadata)
    return _contexts[key]


class AwsJsonClient:
    """One service's JSON API on one kept-alive connection (not thread-safe: one per thread)."""

    def __init__(
        self,
        service: JsonService,
        *,
        environ: Mapping[str, str] | None = None,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.time,
        aws_roots: str = AWS_ROOTS_PEM,
    ) -> None:
        env = os.environ if environ is None else environ
        self._service = service
        self._region = region_from(env)
        self._credentials = credentials_from(env)
        url = urlsplit(endpoint_url(service, self._region, env))
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError(f"not an endpoint URL: {url.geturl()!r}")
        self._https = url.scheme == "https"
        self._hostname = url.hostname
        self._port = url.port
        default_port = 443 if self._https else 80
        # As botocore's _host_from_url: the port only when it is not the scheme's default.
        port = f":{url.port}" if url.port not in (None, default_port) else ""
        self._host = url.hostname + port
        self._path = url.path or "/"
        # AWS_CA_BUNDLE (as botocore reads it) replaces every other root.
        self._ca_bundle = env.get("AWS_CA_BUNDLE") or None
        self._aws_roots = aws_roots
        self._timeout = timeout
        self._clock = clock
        self._connection: http.client.HTTPConnection | None = None

    @property
    def endpoint(self) -> str:
        return f"{'https' if self._https else 'http'}://{self._host}{self._path}"

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps(params, separators=(",", ":")).encode()
        failure: Exception | None = None
        for _attempt in range(2):
            try:
                status, headers, data = self._send(operation, body)
            except (OSError, http.client.HTTPException) as exc:  # a timeout is an OSError
                self.close()
                failure = exc
                continue
            crc = headers.get("x-amz-crc32")
            if crc is not None and crc.isdigit() and zlib.crc32(data) != int(crc):
                failure = AwsConnectionError(f"{operation}: response CRC32 mismatch")
                continue
            if status == 200:
                result: dict[str, Any] = json.loads(data) if data else {}
                return result
            error = _error(operation, status, headers, data)
            retryable = status in RETRYABLE_STATUS or error.code in RETRYABLE_CODES
            if not retryable:
                raise error
            failure = error
        if isinstance(failure, AwsError):
            raise failure
        raise AwsConnectionError(f"{operation}: {type(failure).__name__}: {failure}") from failure

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if not self._https:  # a local endpoint (moto, `facewatch local up`)
                self._connection = http.client.HTTPConnection(
                    self._hostname, self._port, timeout=self._timeout
                )
            elif self._ca_bundle is not None:
                self._connection = self._tls_connection(_tls(cafile=self._ca_bundle))
            elif self._hostname in _aws_roots_failed:
                self._connection = self._tls_connection(_tls())
            else:
                self._connection = self._aws_or_system()
        return self._connection

    def _tls_connection(self, context: ssl.SSLContext) -> http.client.HTTPSConnection:
        connection = http.client.HTTPSConnection(
            self._hostname, self._port, timeout=self._timeout, context=context
        )
        connection.connect()  # the handshake here, so a failed verification is seen here
        return connection

    def _aws_or_system(self) -> http.client.HTTPSConnection:
        """AWS's roots first; the system's when they do not verify the endpoint's chain."""
        try:
            return self._tls_connection(_tls(cadata=self._aws_roots))
        except ssl.SSLCertVerificationError:
            _aws_roots_failed.add(self._hostname)
            return self._tls_connection(_tls())

    def request_headers(self, operation: str, body: bytes) -> dict[str, str]:
        """The signed headers of one POST of ``body`` to this endpoint."""
        service = self._service
        headers = signed_headers(
            host=self._host,
            path=self._path,
            headers={
                "Content-Type": f"application/x-amz-json-{service.json_version}",
                "X-Amz-Target": f"{service.target_prefix}.{operation}",
            },
            body=body,
            service=service.signing_name,
            region=self._region,
            credentials=self._credentials,
            now=self._clock(),
        )
        headers["User-Agent"] = _USER_AGENT  # not signed (botocore does not sign it either)
        return headers

    def _send(self, operation: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = self.request_headers(operation, body)
        connection = self._connect()
        connection.request("POST", self._path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.will_close:
            self.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def _error(operation: str, status: int, headers: Mapping[str, str], data: bytes) -> AwsError:
    """The JSON protocols' error: ``__type`` (``namespace#Code``) or ``x-amzn-errortype``;
    SQS (awsQueryCompatible) names its query-API code in ``x-amzn-query-error``."""
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    code = str(parsed.get("__type") or headers.get("x-amzn-errortype") or "")
    code = code.split(":", 1)[0].rsplit("#", 1)[-1] or f"HTTP{status}"
    if query_error := headers.get("x-amzn-query-error"):
        code = query_error.split(";", 1)[0] or code
    message = str(parsed.get("message") or parsed.get("Message") or "")
    return AwsError(operation, status, code, message, headers.get("x-amzn-requestid", ""))


class DynamoDB(AwsJsonClient):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(DYNAMODB, **kwargs)

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self.call("PutItem", params)


class Sqs(AwsJsonClient):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(SQS, **kwargs)

    def send_message(self, **params: Any) -> dict[str, Any]:
        return self.call("SendMessage", params)


class SecretsManager(AwsJsonClient):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(SECRETS_MANAGER, **kwargs)

    def get_secret_value(self, **params: Any) -> dict[str, Any]:
        return self.call("GetSecretValue", params)
