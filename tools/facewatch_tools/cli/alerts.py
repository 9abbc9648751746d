"""`facewatch alerts test --site S`: a marked test alert through the site's real routes.

The deployed notifiers' own settings (their function environment) and the site as the registry
holds it (`facewatch cameras apply`: its name, time zone and Slack route) say where alerts go;
this command sends one test alert there, the way they would, and reports what was sent and
what Slack answered: the Slack app's channel and message ts (or the webhook route), and the SNS
message id of the text the site's phones (and the org-wide ones) get. The header and the SMS
say TEST. The canary skips the notifiers; this does not.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import boto3

from facewatch.alerts.event import AlertDetail, BestFace, CameraLocation, FaceBox, FaceQualityOut
from facewatch.alerts.slack.app import SlackAppConfig, SlackWebApi
from facewatch.alerts.slack.messages import Lifecycle, alert_message
from facewatch.alerts.slack.webhooks import SlackPoster, WebhookRoutes
from facewatch.alerts.sms.messages import sms_text
from facewatch.alerts.sms.notifier import SnsTopic
from facewatch.alerts.view import alert_view
from facewatch.fleet.registry import RegistryReader, SiteInfo
from facewatch.timestamps import to_datetime
from facewatch_tools.aws_targets import TargetError, add_aws_arguments, client, stack_output
from facewatch_tools.cli.subscribers import site_id


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("alerts", help="alert routes", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    test = actions.add_parser("test", help="send a marked test alert through a site's routes")
    test.add_argument("--site", required=True, type=site_id, help="the site id (cameras.yaml)")
    test.add_argument("--slack-function", help="the Slack notifier (default: the stack's output)")
    test.add_argument("--sms-function", help="the SMS notifier (default: the stack's output)")
    test.add_argument(
        "--table", help="the table holding the registry (default: the stack's output)"
    )
    add_aws_arguments(test)
    parser.set_defaults(func=run)


def registered_site(args: argparse.Namespace, site: str) -> SiteInfo:
    """The site as the notifiers see it (face_events puts the registry's site on each alert)."""
    name = args.table or stack_output(args, "TableName")
    dynamodb = boto3.resource("dynamodb", endpoint_url=args.endpoint_url, region_name=args.region)
    for info in RegistryReader(dynamodb.Table(name)).sites():
        if info.site_id == site:
            return info
    raise TargetError(f"site {site} is not in the registry ({name}): `facewatch cameras apply`")


def test_alert(site: SiteInfo, region: str, now: float) -> AlertDetail:
    return AlertDetail(
        incident_id=f"TEST-{int(now)}",
        camera_id=f"{site.site_id}-test",
        stream_arn=f"arn:aws:kinesisvideo:{region}:000000000000:stream/{site.site_id}-test/0",
        first_seen=to_datetime(now),
        last_seen=to_datetime(now),
        detections=1,
        best_face=BestFace(
            bounding_box=FaceBox(width=0.1, height=0.1, left=0.45, top=0.45),
            confidence=99.0,
            quality=FaceQualityOut(),
        ),
        location=CameraLocation(
            site_id=site.site_id,
            site_name=site.name,
            display_name="facewatch test",
            time_zone=site.time_zone,
            slack_route=site.slack_route,
            severity="high",
        ),
        test=True,
    )


def _environment(args: argparse.Namespace, output: str) -> dict[str, str]:
    given = args.slack_function if output.startswith("Slack") else args.sms_function
    arn = given or stack_output(args, output)
    found = client("lambda", args).get_function_configuration(FunctionName=arn)
    variables: dict[str, str] = found.get("Environment", {}).get("Variables", {})
    return variables


def _secret(args: argparse.Namespace, arn: str) -> Any:
    return json.loads(client("secretsmanager", args).get_secret_value(SecretId=arn)["SecretString"])


def send_slack(args: argparse.Namespace, detail: AlertDetail, env: dict[str, str]) -> str:
    message = alert_message(alert_view(detail, None), Lifecycle(mention=""))
    keys = detail.location.slack_keys if detail.location else []
    app_arn = env.get("SLACK_APP_SECRET_ARN")
    app = SlackAppConfig.from_secret(_secret(args, app_arn)) if app_arn else None
    if app is not None:
        route, channel = app.channel_for(keys)
        api = SlackWebApi(base_url=env.get("SLACK_API_URL") or "https://slack.com/api/")
        posted = api.post(app.bot_token, channel, message)
        return f"Slack app, route {route}: ok, channel {posted.channel}, ts {posted.ts}"
    webhooks = WebhookRoutes(lambda: _secret(args, env["SLACK_WEBHOOK_SECRET_ARN"]))
    route, url = webhooks.url_for(keys)
    SlackPoster().post(url, message, route)
    return f"Slack webhook, route {route}: ok"


def send_sms(args: argparse.Namespace, detail: AlertDetail, env: dict[str, str]) -> str:
    text = sms_text(alert_view(detail, None))
    attributes = {"site": detail.location.site_id if detail.location else "", "kind": "test"}
    attributes["severity"] = "high"  # a test reaches every phone of the site, scoped or not
    message_id = SnsTopic(client("sns", args), env["ALERTS_TOPIC_ARN"]).publish(text, attributes)
    return f"SMS to the site's and the org-wide phones: {text!r} (SNS message {message_id})"


def run(args: argparse.Namespace) -> int:
    region = args.region or client("sts", args).meta.region_name
    detail = test_alert(registered_site(args, args.site), region, time.time())
    routes = (("SlackNotifierFunctionArn", send_slack), ("SmsNotifierFunctionArn", send_sms))
    failures = 0
    # Where each route goes. No credentials, region or stack fails every route the same way:
    # that is the command's error, one line from the CLI's handler.
    environments: dict[str, dict[str, str]] = {}
    for output, _send in routes:
        try:
            environments[output] = _environment(args, output)
        except TargetError as exc:
            print(f"  {output}: not configured ({exc})", file=sys.stderr)
            failures += 1
    print(f"test alert {detail.incident_id} for site {args.site}")
    for output, send in routes:
        if output not in environments:
            continue
        try:
            print("  " + send(args, detail, environments[output]))
        except KeyError as exc:
            print(f"  {output}: not configured ({exc})", file=sys.stderr)
            failures += 1
        except Exception as exc:  # report what Slack or SNS said, then go on to the next route
            print(f"  {output}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failures += 1
    return 1 if failures else 0
