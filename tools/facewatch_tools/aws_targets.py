"""Where a CLI command finds its AWS resources: an explicit ARN/URL, or a stack's outputs."""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import EndpointConnectionError

DEFAULT_STACK = os.environ.get("FACEWATCH_STACK", "facewatch-dev")


class TargetError(RuntimeError):
    """The resource could not be found (no such stack or output)."""


def add_aws_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack", default=DEFAULT_STACK, help="CloudFormation stack (default: %(default)s)"
    )
    parser.add_argument("--endpoint-url", help="AWS endpoint (the local stack's moto server)")
    parser.add_argument("--region", help="AWS region (default: the SDK's)")


def client(service: str, args: argparse.Namespace) -> Any:
    return boto3.client(service, endpoint_url=args.endpoint_url, region_name=args.region)


def stack_output(args: argparse.Namespace, key: str) -> str:
    stacks = client("cloudformation", args).describe_stacks(StackName=args.stack)["Stacks"]
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == key:
            value: str = output["OutputValue"]
            return value
    raise TargetError(f"stack {args.stack} has no output {key}")


def check_endpoint(endpoint_url: str, timeout: float = 2.0) -> None:
    """Fail in seconds when --endpoint-url names nothing that listens (botocore would retry)."""
    parts = urlsplit(endpoint_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return
    except OSError as exc:
        raise EndpointConnectionError(endpoint_url=endpoint_url) from exc
