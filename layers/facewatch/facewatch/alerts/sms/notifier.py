"""The SMS channel: one text per incident, published to the alerts topic phones subscribe to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from facewatch.alerts.event import ALERT_DETAIL_TYPE, AlertDetail
from facewatch.alerts.fanout import BusEnvelope, Once, Outcome, UnsupportedEventError
from facewatch.alerts.sms.messages import sms_size, sms_text
from facewatch.alerts.view import ClipLinks, alert_view
from facewatch.observability import logger


class SnsTopic:
    def __init__(
        self,
        client: Any,
        topic_arn: str,
        sms_type: Literal["Transactional", "Promotional"] = "Transactional",
    ) -> None:
        self._client = client
        self._topic_arn = topic_arn
        self._sms_type = sms_type

    def publish(self, text: str) -> str:
        response = self._client.publish(
            TopicArn=self._topic_arn,
            Message=text,
            MessageAttributes={
                # Transactional: delivered ahead of marketing traffic, also to DND numbers.
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": self._sms_type},
            },
        )
        message_id: str = response["MessageId"]
        return message_id


@dataclass(slots=True)
class SmsAdapters:
    topic: SnsTopic
    once: Once
    clip_links: ClipLinks


class SmsNotifier:
    name = "sms"

    def __init__(self, adapters: SmsAdapters) -> None:
        self._adapters = adapters

    def deliver(self, envelope: BusEnvelope) -> Outcome:
        if envelope.detail_type != ALERT_DETAIL_TYPE:
            raise UnsupportedEventError(f"no SMS for detail-type {envelope.detail_type!r}")
        detail = AlertDetail.model_validate(envelope.detail)
        if not detail.page:  # a possible incident's hint (POSSIBLE_MATCH_ACTION): Slack only
            logger.info("hint not paged", extra={"incident_id": detail.incident_id})
            return Outcome.NOT_PAGED
        sent = self._adapters.once.run(f"alert#{detail.incident_id}", lambda: self._send(detail))
        if not sent:
            logger.info("SMS already sent", extra={"incident_id": detail.incident_id})
        return Outcome.SENT if sent else Outcome.DUPLICATE

    def _send(self, detail: AlertDetail) -> None:
        text = sms_text(alert_view(detail, self._adapters.clip_links.link_for(detail)))
        size = sms_size(text)
        message_id = self._adapters.topic.publish(text)
        logger.info(
            "alert sent by SMS",
            extra={
                "incident_id": detail.incident_id,
                "message_id": message_id,
                "encoding": size.encoding,
                "parts": size.parts,
            },
        )
