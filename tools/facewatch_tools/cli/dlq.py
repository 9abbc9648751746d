"""`facewatch dlq replay NAME`: resend what a dead-letter queue holds, once the cause is fixed.

NAME is `slack` or `sms` (the stack's fan-out DLQs) or a queue name or URL. By default each
message goes back to the queue that feeds the DLQ (its redrive source), so only that channel
sees it again; `--to-bus` puts the events back on the event bus instead (every rule sees them).
The notifiers' idempotency makes either safe: an incident already sent is not sent again.
A message is deleted from the DLQ only after it was resent; messages that are not EventBridge
events stay where they are and are reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from facewatch_tools.aws_targets import TargetError, add_aws_arguments, client, stack_output

CHANNEL_OUTPUTS = {
    "slack": "SlackAlertsDeadLetterQueueUrl",
    "sms": "SmsAlertsDeadLetterQueueUrl",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dlq", help="dead-letter queues of the fan-out")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    replay = actions.add_parser("replay", help="resend a DLQ's events", description=__doc__)
    replay.add_argument("name", help="slack, sms, or a queue name or URL")
    replay.add_argument("--to-bus", metavar="BUS", help="put the events on this event bus")
    replay.add_argument("--max", type=int, default=10_000, help="stop after this many messages")
    add_aws_arguments(replay)
    parser.set_defaults(func=run)


def _queue_url(sqs: Any, args: argparse.Namespace) -> str:
    name: str = args.name
    if name in CHANNEL_OUTPUTS:
        return stack_output(args, CHANNEL_OUTPUTS[name])
    if name.startswith(("https://", "http://")):
        return name
    url: str = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return url


def _source_queue(sqs: Any, dlq_url: str) -> str:
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    if len(sources) != 1:
        raise TargetError(
            f"{dlq_url} is the DLQ of {len(sources)} queues; say where to resend with --to-bus"
        )
    source: str = sources[0]
    return source


def _event_entry(body: str, bus: str) -> dict[str, str] | None:
    try:
        event = json.loads(body)
        return {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "EventBusName": bus,
        }
    except (ValueError, KeyError, TypeError):
        return None


def _resend(
    sqs: Any, events: Any, args: argparse.Namespace, target: str, batch: list[Any]
) -> set[str]:
    """Resend a batch; return the receipt handles of the messages that were resent."""
    entries = {m["ReceiptHandle"]: _event_entry(m["Body"], args.to_bus or "") for m in batch}
    valid = [m for m in batch if entries[m["ReceiptHandle"]] is not None]
    for message in batch:
        if entries[message["ReceiptHandle"]] is None:
            print(f"kept {message['MessageId']}: not an EventBridge event", file=sys.stderr)
    if not valid:
        return set()
    if args.to_bus:
        response = events.put_events(Entries=[entries[m["ReceiptHandle"]] for m in valid])
        results = response["Entries"]
        return {m["ReceiptHandle"] for m, r in zip(valid, results, strict=True) if "EventId" in r}
    response = sqs.send_message_batch(
        QueueUrl=target,
        Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(valid)],
    )
    return {valid[int(ok["Id"])]["ReceiptHandle"] for ok in response.get("Successful", [])}


def run(args: argparse.Namespace) -> int:
    sqs = client("sqs", args)
    events = client("events", args)
    try:
        dlq_url = _queue_url(sqs, args)
        target = args.to_bus or _source_queue(sqs, dlq_url)
    except (TargetError, sqs.exceptions.QueueDoesNotExist) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    resent = kept = 0
    while resent + kept < args.max:
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(10, args.max - resent - kept),
            WaitTimeSeconds=0,
            VisibilityTimeout=300,  # messages not resent reappear in the DLQ after this
        ).get("Messages", [])
        if not batch:
            break
        done = _resend(sqs, events, args, target, batch)
        if done:
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(done)],
            )
        resent += len(done)
        kept += len(batch) - len(done)
    print(f"resent {resent} message(s) to {target}; {kept} kept in the DLQ")
    return 0 if kept == 0 else 1
