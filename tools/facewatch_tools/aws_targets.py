"""Where a CLI command finds its AWS resources: an explicit ARN/URL, or a stack's outputs."""

from __future__ import annotations

import argparse
import os
from typing import Any

import boto3

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
