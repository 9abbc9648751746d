"""`facewatch subscribers add|remove|list`: the phones that get alert SMS (the alerts topic),
and with `--ops` the e-mail addresses and phones the stack's alarms notify (the ops alarm topic).

Numbers are E.164 (+8210..., +4917...). A new account is in the SMS sandbox: only numbers
verified in End User Messaging SMS receive anything until production access is granted. An
e-mail subscriber confirms through the link AWS mails them before they receive anything.

`add PHONE --site seoul-hq [--site ...] [--severity high]` scopes a phone: an SNS filter policy
on the ``site`` and ``severity`` message attributes every alert SMS carries, so it gets only its
sites' texts (of that severity or above). Without ``--site`` a phone is org-wide and gets every
text, as before. Adding a subscribed phone again sets its scope to the new flags.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from facewatch_tools.aws_targets import TargetError, add_aws_arguments, client, stack_output
from facewatch_tools.listing import Column, add_output_argument, write_rows

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SITE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # the inventory's site id rule
SEVERITIES = ("low", "normal", "high")  # ascending


def phone_number(value: str) -> str:
    """argparse type: E.164 after removing spaces, dashes, dots and brackets."""
    number = re.sub(r"[\s\-.()]", "", value)
    if not E164.fullmatch(number):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an E.164 number (a +, the country code, then the number)"
        )
    return number


def subscriber(value: str) -> str:
    """argparse type: an e-mail address (ops only) or an E.164 phone number."""
    if "@" in value:
        if not EMAIL.fullmatch(value.strip()):
            raise argparse.ArgumentTypeError(f"{value!r} is not an e-mail address")
        return value.strip()
    return phone_number(value)


def protocol_of(endpoint: str) -> str:
    return "email" if "@" in endpoint else "sms"


def site_id(value: str) -> str:
    if not SITE_ID.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a site id (as in cameras.yaml)")
    return value


def filter_policy(sites: list[str], severity: str | None) -> dict[str, list[str]]:
    """The subscription's filter policy; empty for an org-wide phone that takes everything."""
    policy: dict[str, list[str]] = {}
    if sites:
        policy["site"] = sorted(set(sites))
    if severity:
        policy["severity"] = list(SEVERITIES[SEVERITIES.index(severity) :])
    return policy


def describe_policy(policy: dict[str, Any]) -> str:
    if not policy:
        return "org-wide"
    parts = []
    if policy.get("site"):
        parts.append("sites " + ", ".join(policy["site"]))
    if policy.get("severity"):
        parts.append("severity " + "/".join(policy["severity"]))
    return "; ".join(parts)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "subscribers",
        help="phones that receive alert SMS; --ops: who the alarms notify",
        description=__doc__,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("add", "subscribe a phone"), ("remove", "unsubscribe a phone")):
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "phone",
            type=subscriber,
            metavar="PHONE|EMAIL",
            help="E.164, e.g. +821012345678; an e-mail address with --ops",
        )
    add = actions.choices["add"]
    add.add_argument(
        "--site",
        action="append",
        default=[],
        type=site_id,
        help="only this site's alerts (repeat for several); default: every site (org-wide)",
    )
    add.add_argument("--severity", choices=SEVERITIES, help="only alerts of this severity or above")
    listing = actions.add_parser("list", help="list the subscribers and their scope")
    add_output_argument(listing)
    for action in actions.choices.values():
        add_aws_arguments(action)
        action.add_argument(
            "--ops",
            action="store_true",
            help="the ops alarm topic (every CloudWatch alarm of the stack) instead of alerts",
        )
        action.add_argument(
            "--topic-arn", help="the topic (default: the stack's AlertsTopicArn/OpsAlarmTopicArn)"
        )
    parser.set_defaults(func=run)


def _subscriptions(sns: Any, topic_arn: str, protocols: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for sub in page["Subscriptions"]:
            if sub["Protocol"] in protocols:
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
    phone = getattr(args, "phone", "")
    if protocol_of(phone or "") == "email" and not args.ops:
        print("error: alerts go by SMS only; e-mail addresses are for --ops", file=sys.stderr)
        return 2
    sns = client("sns", args)
    try:
        output = "OpsAlarmTopicArn" if args.ops else "AlertsTopicArn"
        topic_arn = args.topic_arn or stack_output(args, output)
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    subscribed = _subscriptions(sns, topic_arn, {"sms", "email"} if args.ops else {"sms"})
    if args.action == "list":
        rows = [
            _row(endpoint, _policy(sns, subscribed[endpoint])) for endpoint in sorted(subscribed)
        ]
        write_rows(rows, COLUMNS, args.output, sys.stdout)
        return 0
    if args.action == "add":
        return _add(sns, topic_arn, subscribed, phone, filter_policy(args.site, args.severity))
    arn = subscribed.get(phone)
    if arn is None:
        print(f"error: {phone} is not subscribed", file=sys.stderr)
        return 1
    sns.unsubscribe(SubscriptionArn=arn)
    print(f"{phone} unsubscribed")
    return 0


COLUMNS = (
    Column("endpoint"),  # E.164 phone or e-mail address
    Column("protocol"),
    Column("scope"),
    Column("sites", table=False),  # null: every site (org-wide)
    Column("severities", table=False),  # null: every severity
)


def _row(endpoint: str, policy: dict[str, Any]) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "protocol": protocol_of(endpoint),
        "scope": describe_policy(policy),
        "sites": policy.get("site") or None,
        "severities": policy.get("severity") or None,
    }


def _policy(sns: Any, subscription_arn: str) -> dict[str, Any]:
    if not subscription_arn.startswith("arn:"):  # "PendingConfirmation" (e-mail): no attributes
        return {}
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    policy: dict[str, Any] = json.loads(attributes.get("FilterPolicy") or "{}")
    return policy


def _add(
    sns: Any,
    topic_arn: str,
    subscribed: dict[str, str],
    endpoint: str,
    policy: dict[str, list[str]],
) -> int:
    scope = describe_policy(policy)
    if endpoint in subscribed:
        arn = subscribed[endpoint]
        if _policy(sns, arn) == policy:
            print(f"{endpoint} is already subscribed ({scope})")
            return 0
        # "{}" removes a filter policy (SNS): the phone becomes org-wide.
        sns.set_subscription_attributes(
            SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=json.dumps(policy)
        )
        print(f"{endpoint} now {scope}")
        return 0
    protocol = protocol_of(endpoint)
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol=protocol,
        Endpoint=endpoint,
        ReturnSubscriptionArn=True,
        Attributes={"FilterPolicy": json.dumps(policy)} if policy else {},
    )
    if protocol == "email":
        print(f"{endpoint} subscribed: AWS mails a confirmation link; nothing arrives before")
    else:
        print(f"{endpoint} subscribed ({scope})")
        _warn_if_sandboxed(sns)
    return 0
