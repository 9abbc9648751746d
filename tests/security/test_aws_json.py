"""facewatch.aws_json, the Slack front function's AWS client: it sends what botocore sends and
AWS checks it as it checks botocore's (signature, endpoints, errors, certificates).

AWS is a moto server (its IAM mode checks every signature with botocore's signer); TLS is moto
behind werkzeug with test certificates; faults (dropped connections, a bad CRC32) come from a
byte-level proxy in front of moto.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore.auth
import botocore.session
import certifi
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core.authorization import enable_iam_authentication
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from facewatch import aws_json
from facewatch.audit.slack_front import DynamoReplayStore
from facewatch.aws_json import (
    DYNAMODB,
    PARTITIONS,
    SECRETS_MANAGER,
    SQS,
    AwsConnectionError,
    AwsError,
    DynamoDB,
    SecretsManager,
    Sqs,
    endpoint_url,
)
from facewatch.aws_roots import AWS_ROOTS_PEM
from tests.audit.conftest import create_table

pytestmark = pytest.mark.integration
REGION = "ap-northeast-2"
ENDPOINTS = [
    "",
    "https://{h}",
    "https://{h}:443",
    "https://{h}:8443",
    "http://{h}:80",
    "http://{h}:4566",
]
ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
SERVICES = {"dynamodb": DYNAMODB, "sqs": SQS, "secretsmanager": SECRETS_MANAGER}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _env(url: str, **extra: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": REGION,
        **extra,
    }


def _boto(service: str, url: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=url)


# ---- the signature ----------------------------------------------------------------------------
_ascii = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(
    service=st.sampled_from(sorted(SERVICES)),
    operation=st.sampled_from(["PutItem", "SendMessage", "GetSecretValue", "ListQueues"]),
    params=st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=4),
    region=st.sampled_from(["ap-northeast-2", "eu-central-1", "us-east-1", "cn-north-1"]),
    access_key=_ascii,
    secret_key=_ascii,
    token=st.none() | _ascii,
    now=st.integers(min_value=0, max_value=4_102_444_800),
    endpoint=st.sampled_from(
        [
            "",
            "https://{h}",
            "https://{h}:443",
            "https://{h}:8443",
            "http://{h}:80",
            "http://{h}:4566",
        ]
    ),
)
def test_the_signature_is_botocores(
    service: str,
    operation: str,
    params: dict[str, str],
    region: str,
    access_key: str,
    secret_key: str,
    token: str | None,
    now: int,
    endpoint: str,
) -> None:
    spec = SERVICES[service]
    env = {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": region,
        **({"AWS_SESSION_TOKEN": token} if token else {}),
        **({"AWS_ENDPOINT_URL": endpoint.format(h="localhost")} if endpoint else {}),
    }
    client = aws_json.AwsJsonClient(spec, environ=env, clock=lambda: now)
    body = json.dumps(params, separators=(",", ":")).encode()
    ours = client.request_headers(operation, body)
    content = {k: ours[k] for k in ("Content-Type", "X-Amz-Target")}
    request = AWSRequest(method="POST", url=client.endpoint, data=body, headers=content)
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=moment):
        botocore.auth.SigV4Auth(
            BotoCredentials(access_key, secret_key, token), spec.signing_name, region
        ).add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")
    assert content["X-Amz-Target"] == f"{spec.target_prefix}.{operation}"


def test_moto_checks_the_signature_and_accepts_ours(moto_url: str) -> None:
    iam = _boto("iam", moto_url)
    iam.create_user(UserName="front")
    iam.put_user_policy(
        UserName="front",
        PolicyName="all",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [ALLOW_ALL]}),
    )
    key = iam.create_access_key(UserName="front")["AccessKey"]
    create_table(_boto("dynamodb", moto_url), "facewatch-test-signed")
    env = _env(
        moto_url, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"]
    )
    item = {"TableName": "facewatch-test-signed", "Item": {"PK": {"S": "a"}, "SK": {"S": "b"}}}
    with enable_iam_authentication():
        DynamoDB(environ=env).put_item(**item)  # signed as AWS checks it
        wrong = {**env, "AWS_SECRET_ACCESS_KEY": "not-the-key"}  # pragma: allowlist secret
        with pytest.raises(AwsError) as refused:
            DynamoDB(environ=wrong).put_item(**item)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)

        real = aws_json.signed_headers

        def other_body(**kwargs: Any) -> dict[str, str]:
            return real(**{**kwargs, "body": b'{"TableName":"another"}'})

        # the body sent is not the body signed
        with mock.patch.object(aws_json, "signed_headers", other_body), pytest.raises(AwsError):
            DynamoDB(environ=env).put_item(**item)


# ---- endpoints --------------------------------------------------------------------------------
def _botocore_partitions() -> list[dict[str, Any]]:
    path = Path(botocore.__file__).parent / "data" / "partitions.json"
    partitions: list[dict[str, Any]] = json.loads(path.read_text())["partitions"]
    return partitions


def test_partitions_are_botocores() -> None:
    expected = [(p["regionRegex"], p["outputs"]["dnsSuffix"]) for p in _botocore_partitions()]
    assert sorted(PARTITIONS) == sorted(expected)


def test_every_regions_endpoint_is_botocores(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    session = botocore.session.get_session()
    regions = [r for p in _botocore_partitions() for r in p["regions"] if not r.endswith("global")]
    assert "ap-northeast-2" in regions and "cn-north-1" in regions and "us-gov-west-1" in regions
    for region in regions:
        for service, spec in SERVICES.items():
            expected = session.create_client(service, region_name=region).meta.endpoint_url
            assert endpoint_url(spec, region, {}) == expected, (service, region)


def test_a_region_in_no_partition_is_refused_with_what_to_set() -> None:
    with pytest.raises(ValueError, match="AWS_ENDPOINT_URL_SQS"):
        endpoint_url(SQS, "mars-north-1", {})


@pytest.mark.parametrize(
    "env",
    [
        {"AWS_ENDPOINT_URL": "http://localhost:4566"},
        {"AWS_ENDPOINT_URL": "http://localhost:4566", "AWS_ENDPOINT_URL_SQS": "http://sqs:1"},
        # pragma: allowlist nextline secret
        {"AWS_ENDPOINT_URL_SECRETS_MANAGER": "https://secrets.example:8443"},
        {"AWS_ENDPOINT_URL": "http://x:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
    ],
)
def test_configured_endpoints_are_read_as_botocore_reads_them(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    session = botocore.session.get_session()
    for service, spec in SERVICES.items():
        expected = session.create_client(service, region_name=REGION).meta.endpoint_url
        assert endpoint_url(spec, REGION, env).rstrip("/") == expected.rstrip("/"), service


# ---- answers and errors -----------------------------------------------------------------------
def _code(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    except AwsError as exc:
        return str(exc.response["Error"]["Code"])
    raise AssertionError("no error")


def test_answers_and_errors_are_what_botocore_gives(moto_url: str) -> None:
    env = _env(moto_url)
    create_table(_boto("dynamodb", moto_url), "facewatch-test-errors")
    item = {
        "TableName": "facewatch-test-errors",
        "Item": {"PK": {"S": "SLACKSIG#x"}, "SK": {"S": "SLACKSIG"}},
        "ConditionExpression": "attribute_not_exists(PK)",
    }
    ours, theirs = DynamoDB(environ=env), _boto("dynamodb", moto_url)
    ours.put_item(**item)
    assert _code(lambda: ours.put_item(**item)) == _code(lambda: theirs.put_item(**item))
    assert _code(lambda: ours.put_item(**item)) == "ConditionalCheckFailedException"
    missing = {"QueueUrl": f"{moto_url}/123456789012/missing", "MessageBody": "x"}
    sqs_code = _code(lambda: Sqs(environ=env).send_message(**missing))
    assert sqs_code == _code(lambda: _boto("sqs", moto_url).send_message(**missing))
    secret = {"SecretId": "facewatch/test/missing"}  # pragma: allowlist secret
    assert _code(lambda: SecretsManager(environ=env).get_secret_value(**secret)) == _code(
        lambda: _boto("secretsmanager", moto_url).get_secret_value(**secret)
    )
    url = _boto("sqs", moto_url).create_queue(QueueName="facewatch-test-json")["QueueUrl"]
    sent = Sqs(environ=env).send_message(QueueUrl=url, MessageBody="hello")
    # pragma: allowlist nextline secret
    assert sent["MD5OfMessageBody"] == "5d41402abc4b2a76b9719d911017c592"  # md5("hello")
    (message,) = _boto("sqs", moto_url).receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == "hello"


def test_the_replay_store_takes_either_client(moto_url: str) -> None:
    create_table(_boto("dynamodb", moto_url), "facewatch-test-replays")
    clients = {"ours": DynamoDB(environ=_env(moto_url)), "boto3": _boto("dynamodb", moto_url)}
    for name, client in clients.items():
        store = DynamoReplayStore(client, "facewatch-test-replays")
        signature = f"v0={name}"
        assert store.first_use(signature, 1_772_323_260) is True
        assert store.first_use(signature, 1_772_323_260) is False


# ---- faults -----------------------------------------------------------------------------------
class _Proxy:
    """TCP in front of moto: drops the first ``drop`` connections, rewrites answers."""

    def __init__(self, target: str, drop: int = 0, rewrite: Callable[[bytes], bytes] | None = None):
        host, port = target.removeprefix("http://").split(":")
        self._target = (host, int(port))
        self._drop = drop
        self._rewrite = rewrite or (lambda data: data)
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted <= self._drop:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        with client, socket.create_connection(self._target) as upstream:
            request = b""
            while b"\r\n\r\n" not in request:
                request += client.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            while len(body) < length:
                body += client.recv(65536)
            upstream.sendall(head + b"\r\n\r\n" + body)
            answer = b""
            while chunk := upstream.recv(65536):  # moto's server closes after each answer
                answer += chunk
            client.sendall(self._rewrite(answer))

    def close(self) -> None:
        self._listener.close()


def test_a_dropped_connection_is_tried_once_more(moto_url: str) -> None:
    create_table(_boto("dynamodb", moto_url), "facewatch-test-drops")
    proxy = _Proxy(moto_url, drop=1)
    item = {"TableName": "facewatch-test-drops", "Item": {"PK": {"S": "a"}, "SK": {"S": "b"}}}
    try:
        DynamoDB(environ=_env(proxy.url)).put_item(**item)
        assert proxy.accepted == 2
    finally:
        proxy.close()
    proxy = _Proxy(moto_url, drop=10)
    try:
        with pytest.raises(AwsConnectionError):
            DynamoDB(environ=_env(proxy.url)).put_item(**item)
        assert proxy.accepted == 2  # one retry, no more: Slack waits 3 s
    finally:
        proxy.close()


def test_an_answer_whose_crc32_does_not_match_is_not_taken(moto_url: str) -> None:
    create_table(_boto("dynamodb", moto_url), "facewatch-test-crc")

    def corrupt(answer: bytes) -> bytes:
        assert re.search(rb"(?i)x-amz-crc32: \d+", answer), "moto sends DynamoDB's CRC32"
        return re.sub(rb"(?i)(x-amz-crc32: )\d+", rb"\g<1>1", answer)

    proxy = _Proxy(moto_url, rewrite=corrupt)
    try:
        with pytest.raises(AwsConnectionError, match="CRC32"):
            DynamoDB(environ=_env(proxy.url)).put_item(
                TableName="facewatch-test-crc", Item={"PK": {"S": "a"}, "SK": {"S": "b"}}
            )
    finally:
        proxy.close()


# ---- certificates -----------------------------------------------------------------------------
def _pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)


def test_the_aws_roots_are_amazon_trust_services_as_mozilla_ships_them() -> None:
    ours = _pem_blocks(AWS_ROOTS_PEM)
    mozilla = set(_pem_blocks(Path(certifi.where()).read_text()))
    assert len(ours) == 5 and set(ours) <= mozilla
    with warnings.catch_warnings():  # Starfield's root has serial number 0 (from 2009)
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        certs = [x509.load_pem_x509_certificate(p.encode()) for p in ours]
    names = {c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in certs}
    assert names == {
        "Amazon Root CA 1",
        "Amazon Root CA 2",
        "Amazon Root CA 3",
        "Amazon Root CA 4",
        "Starfield Services Root Certificate Authority - G2",
    }
    assert min(c.not_valid_after_utc for c in certs).year >= 2037


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """moto over TLS with its own certificate, plus a certificate nobody uses (untrusted)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = _certificate(directory, "moto")
    other, _ = _certificate(directory, "other")
    app = DomainDispatcherApplication(create_backend_app)
    tls = (str(cert), str(key))
    server = make_server(
        "127.0.0.1", 0, app, True, request_handler=MotoRequestHandler, ssl_context=tls
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert, other
    server.shutdown()
    thread.join()


@pytest.fixture
def fresh_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_json, "_contexts", {})
    monkeypatch.setattr(aws_json, "_aws_roots_failed", set())


def _get(env: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    # pragma: allowlist nextline secret
    return SecretsManager(environ=env, **kwargs).get_secret_value(SecretId="facewatch/test/tls")


@pytest.fixture(scope="module")
def tls_secret(tls_moto: tuple[str, Path, Path]) -> None:
    url, cert, _ = tls_moto
    secrets = boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=url,
        verify=str(cert),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # pragma: allowlist secret
    )
    secrets.create_secret(Name="facewatch/test/tls", SecretString="s")


@pytest.mark.usefixtures("fresh_trust", "tls_secret")
def test_aws_roots_are_tried_first_and_the_system_roots_not_loaded(
    tls_moto: tuple[str, Path, Path],
) -> None:
    url, cert, _ = tls_moto
    assert _get(_env(url), aws_roots=cert.read_text())["SecretString"] == "s"
    assert (None, None) not in aws_json._contexts  # the system's ~150 roots: never loaded


@pytest.mark.usefixtures("fresh_trust", "tls_secret")
def test_the_system_roots_verify_what_aws_roots_do_not(
    tls_moto: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert, _ = tls_moto
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the "system" store trusts moto's cert
    assert _get(_env(url))["SecretString"] == "s"  # AWS's roots do not: the system's do
    assert aws_json._aws_roots_failed == {"127.0.0.1"}
    assert _get(_env(url))["SecretString"] == "s"  # and that is remembered


@pytest.mark.usefixtures("fresh_trust", "tls_secret")
def test_a_certificate_nobody_trusts_gets_no_request(
    tls_moto: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, other = tls_moto
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    with pytest.raises(AwsConnectionError, match="SSLCertVerificationError"):
        _get(_env(url))


@pytest.mark.usefixtures("fresh_trust", "tls_secret")
def test_aws_ca_bundle_replaces_every_other_root(
    tls_moto: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert, other = tls_moto
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted by the system store, but ...
    with pytest.raises(AwsConnectionError, match="SSLCertVerificationError"):
        _get(_env(url, AWS_CA_BUNDLE=str(other)), aws_roots=cert.read_text())
    assert _get(_env(url, AWS_CA_BUNDLE=str(cert)))["SecretString"] == "s"


def test_tls_needs_12_or_later() -> None:
    context = aws_json._tls(cadata=AWS_ROOTS_PEM)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
