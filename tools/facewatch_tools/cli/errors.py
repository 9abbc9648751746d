"""Ordinary mistakes as one line naming the problem and the fix (``--debug`` for the traceback).

Exit codes of every command: 0 ok, 1 runtime error (AWS, files, settings, data), 2 usage
(argparse). A command may also exit 3 where its help says so (``audit set-status``: conflict).
"""

from __future__ import annotations

import re

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from botocore.parsers import ResponseParserError
from pydantic import ValidationError

from facewatch.fleet.inventory import InventoryError
from facewatch.settings import SettingsError
from facewatch_tools.audit.browser import BrowserMissingError
from facewatch_tools.aws_targets import TargetError
from facewatch_tools.canary import CanaryError
from facewatch_tools.local.session import NotRunningError

# Errors whose message already is the one line (it names the problem and the fix).
_PLAIN = (InventoryError, TargetError, CanaryError, NotRunningError, BrowserMissingError)

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2

_STACK_MISSING = re.compile(r"Stack with id (?P<stack>\S+) does not exist")


def explain(exc: BaseException, *, local: bool = False) -> str | None:
    """The one line for an ordinary mistake, or None for a bug (shown as a traceback).

    ``local``: the command talks to a local endpoint (moto), where a 500 means "not emulated".
    """
    if isinstance(exc, _PLAIN):
        return str(exc).strip().replace("\n", "; ")
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if local and status in {500, 501}:
            return f"{exc.operation_name} {_NOT_EMULATED}"
        return _client_error(exc)
    if local and isinstance(exc, ResponseParserError):
        return f"this {_NOT_EMULATED}"
    return _sdk_error(exc) or _input_error(exc)


_NOT_EMULATED = "is not emulated locally (moto answered 500); try it against a real AWS account"


def _sdk_error(exc: BaseException) -> str | None:  # noqa: PLR0911 - one answer per kind
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials: run `aws configure` (or `aws sso login`), pass --profile, or "
            "use the local stack (`facewatch local up`, then the exports it prints)"
        )
    if isinstance(exc, UnauthorizedSSOTokenError | TokenRetrievalError):
        return "the AWS SSO session has expired: run `aws sso login` and try again"
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: check --profile / AWS_PROFILE against ~/.aws/config"
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION (e.g. export AWS_REGION=us-east-1)"
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint")
        return (
            f"cannot reach {url}: check --endpoint-url, or start the local stack "
            "(`facewatch local up`); for AWS check the network and --region"
        )
    if isinstance(exc, ReadTimeoutError):
        return f"AWS did not answer in time ({exc}); try again"
    return None


def _input_error(exc: BaseException) -> str | None:
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        name = exc.filename or str(exc)
        return f"no such file: {name} (check the path; paths are relative to where you run)"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}"
    if isinstance(exc, SettingsError):  # it names each variable and what is wrong with it
        return f"bad setting: {exc} (fix or unset the variable)"
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or exc.title
        return f"bad setting {where}: {first['msg']}"
    return None


def _client_error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Error"))
    message = str(error.get("Message", ""))
    operation = exc.operation_name
    missing = _STACK_MISSING.search(message)
    if missing:
        stack = missing.group("stack")
        return (
            f"stack {stack} does not exist in this account and region: deploy it "
            "(docs/deploy.md), pass --stack / set FACEWATCH_STACK, or check --region"
        )
    if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
        return f"AWS refused {operation}: {message} (your IAM identity lacks this permission)"
    if code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
        return "the AWS credentials have expired: refresh them (`aws sso login`) and try again"
    if code in {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException"}:
        return "AWS does not know these credentials: check --profile / AWS_PROFILE"
    if code == "ResourceNotFoundException":
        return (
            f"AWS {operation} failed: {code}: {message or 'not found'} "
            "(is the stack deployed in this region? check --stack and --region)"
        )
    return f"AWS {operation} failed: {code}: {message}"
