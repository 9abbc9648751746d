"""`facewatch subscribers add|remove|list`: the phones that get alert SMS (the alerts topic).

Numbers are E.164 (+8210..., +4917...). A new account is in the SMS sandbox: only numbers
verified in End User Messaging SMS receive anything until production access is granted.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from facewatch_tools.aws_targets import TargetError, add_aws_arguments, client, stack_output

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def phone_number(value: str) -> str:
    """argparse type: E.164 after removing spaces, dashes, dots and brackets."""
    number = re.sub(r"[\s\-.()]", "", value)
    if not E164.fullmatch(number):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an E.164 number (a +, the country code, then the number)"
        )
    return number


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "subscribers", help="phones that receive alert SMS", description=__doc__
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("add", "subscribe a phone"), ("remove", "unsubscribe a phone")):
        action = actions.add_parser(name, help=text)
        action.add_argument("phone", type=phone_number, help="E.164, e.g. +821012345678")
    actions.add_parser("list", help="list the subscribed phones")
    for action in actions.choices.values():
        add_aws_arguments(action)
        action.add_argument("--topic-arn", help="the alerts topic (default: the stack's output)")
    parser.set_defaults(func=run)


def _sms_subscriptions(sns: Any, topic_arn: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for sub in page["Subscriptions"]:
            if sub["Protocol"] == "sms":
                found[sub["Endpoint"]] = sub["SubscriptionArn"]
    return found


def _warn_if_sandboxed(sns: Any) -> None:
    try:
        sandboxed = sns.get_sms_sandbox_account_status()["IsInSandbox"]
    except Exception:  # not every endpoint (or permission set) answers this: it is only a hint
        return
    if sandboxed:
        print(
            "note: this account is in the SMS sandbox; only verified numbers receive SMS "
            "(aws sns create-sms-sandbox-phone-number), see docs/fanout.md",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    sns = client("sns", args)
    try:
        topic_arn = args.topic_arn or stack_output(args, "AlertsTopicArn")
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    subscribed = _sms_subscriptions(sns, topic_arn)
    if args.action == "list":
        for number in sorted(subscribed):
            print(number)
        return 0
    if args.action == "add":
        if args.phone in subscribed:
            print(f"{args.phone} is already subscribed")
            return 0
        sns.subscribe(
            TopicArn=topic_arn, Protocol="sms", Endpoint=args.phone, ReturnSubscriptionArn=True
        )
        print(f"{args.phone} subscribed")
        _warn_if_sandboxed(sns)
        return 0
    arn = subscribed.get(args.phone)
    if arn is None:
        print(f"error: {args.phone} is not subscribed", file=sys.stderr)
        return 1
    sns.unsubscribe(SubscriptionArn=arn)
    print(f"{args.phone} unsubscribed")
    return 0
