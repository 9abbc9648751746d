"""moto in server mode on 127.0.0.1, one AWS account per local stack.

Every ``MotoEndpoint`` has its own port and its own account (credentials from STS AssumeRole,
which moto maps to the role's account), so two local stacks in one process never see each
other's resources even though moto keeps its backends in process-wide dictionaries.
"""

from __future__ import annotations

import logging
import secrets
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

LOCAL_REGION = "ap-northeast-2"
_BOOTSTRAP_KEY = "testing"  # moto's own bootstrap credentials, valid only against moto
# Quiet the emulator: request lines and "not supported by moto's CloudFormation" notices are
# noise next to the demo's output (docs/local.md lists what moto skips).
logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
logging.getLogger("moto").setLevel(logging.ERROR)
# Calls moto lacks (KVS GetImages for snapshots) answer 500 and the caller copes (the alert
# goes without a snapshot); Flask would also print the NotImplementedError's traceback.
logging.getLogger("moto.moto_server.werkzeug_app").setLevel(logging.CRITICAL)
warnings.filterwarnings("ignore", message=r"Tried to parse .* not supported", category=UserWarning)


# Service models are large JSON files; one loader (it caches what it read) serves every session.
_LOADER = botocore.loaders.create_loader()


def new_session(**kwargs: str) -> boto3.Session:
    """A boto3 session sharing the process-wide model loader (a new one re-reads the models)."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, **kwargs)


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


class MotoEndpoint:
    """A ThreadedMotoServer on a free port of 127.0.0.1 and an account of its own."""

    def __init__(self, region: str = LOCAL_REGION, account_id: str | None = None) -> None:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - Flask loads only when used

        self.region = region
        self.account_id = account_id or str(secrets.randbelow(9 * 10**11) + 10**11)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._started = False
        self._owner: MotoEndpoint | None = None  # set on a view of another endpoint's server
        self.url = ""
        self.credentials = Credentials("", "", "")
        self._session: boto3.Session | None = None

    def in_region(self, region: str) -> MotoEndpoint:
        """The same server and account seen from another region (one AWS account deployed in
        several regions, one endpoint URL for all). Starting or stopping the view does
        nothing: the endpoint it was made from owns the server. Call after ``start``."""
        if not self.url:
            raise RuntimeError("start the endpoint before viewing it from another region")
        view = MotoEndpoint.__new__(MotoEndpoint)
        view.region, view.account_id = region, self.account_id
        view._server, view._started, view._owner = self._server, False, self
        view.url, view.credentials, view._session = self.url, self.credentials, None
        return view

    def start(self) -> None:
        if self._owner is not None:
            return
        self._server.start()
        self._started = True
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        sts = new_session(
            aws_access_key_id=_BOOTSTRAP_KEY,
            aws_secret_access_key=_BOOTSTRAP_KEY,
            region_name=self.region,
        ).client("sts", endpoint_url=self.url)
        role = f"arn:aws:iam::{self.account_id}:role/facewatch-local-operator"
        found = sts.assume_role(RoleArn=role, RoleSessionName="facewatch-local")["Credentials"]
        self.credentials = Credentials(
            found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"]
        )
        self._session = None  # a new account: a new session

    def stop(self) -> None:
        if self._started and self._owner is None:
            self._server.stop()
            self._started = False

    def detach_mappings(self) -> None:
        """Stop moto from running functions for event source mappings: the runner does.

        moto would start a Docker container for every Kinesis put (and SQS send) on a source
        with a mapping; there is no Docker here, and the runner's pollers apply the mapping's
        real settings. moto offers no API for this, so its in-process backends are edited.
        """
        from moto.kinesis.models import kinesis_backends  # noqa: PLC0415
        from moto.sqs.models import sqs_backends  # noqa: PLC0415

        for stream in kinesis_backends[self.account_id][self.region].streams.values():
            stream.lambda_event_source_mappings.clear()
        for queue in sqs_backends[self.account_id][self.region].queues.values():
            queue.lambda_event_source_mappings.clear()

    def session(self) -> boto3.Session:
        if self._session is None:
            creds = self.credentials
            self._session = new_session(
                aws_access_key_id=creds.access_key_id,
                aws_secret_access_key=creds.secret_access_key,
                aws_session_token=creds.session_token,
                region_name=self.region,
            )
        return self._session

    def client(self, service: str, session: boto3.Session | None = None) -> Any:
        client = (session or self.session()).client(
            service,
            endpoint_url=self.url,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )
        route_archived_media(client.meta.events, self.url)
        return client

    def env(self) -> dict[str, str]:
        """What a function process in this stack sees: its credentials, region and endpoint."""
        return {
            **self.credentials.env(),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.url,
        }


def route_archived_media(events: Any, endpoint_url: str) -> None:
    """Make kinesis-video-archived-media calls reach moto's archived-media backend.

    KVS hands out data endpoints (``https://b-1234.kinesisvideo.<region>.amazonaws.com``) and the
    archived-media API signs as ``kinesisvideo``; moto's server picks the backend from the SigV4
    credential scope, so those calls land on the control-plane backend and get 404. The hook
    sends them to moto and names a scope moto maps to the archived-media backend.
    """

    def _reroute(request: Any, **_: Any) -> None:
        target = urlsplit(endpoint_url)
        url = urlsplit(request.url)
        request.url = urlunsplit((target.scheme, target.netloc, url.path, url.query, ""))
        auth = request.headers.get("Authorization")
        if auth:
            text = auth.decode() if isinstance(auth, bytes) else str(auth)
            request.headers["Authorization"] = text.replace(
                "/kinesisvideo/aws4_request", "/data.kinesisvideo/aws4_request"
            )

    events.register(
        "before-send.kinesis-video-archived-media", _reroute, unique_id="facewatch-local-kvs-am"
    )
