"""SMS text and Slack Block Kit for alerts and camera health (pure; golden files)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from facewatch.alerts.event import AlertDetail
from facewatch.alerts.slack.messages import (
    ACKNOWLEDGE,
    ESCALATE,
    FALSE_ALARM,
    CameraHealthNotice,
    alert_message,
    health_message,
)
from facewatch.alerts.sms.messages import sms_size, sms_text
from facewatch.alerts.view import ClipLinks, alert_view, format_duration
from facewatch.clips.links import verify_clip_token
from tests.fanout.builders import SEOUL, alert_detail, health_detail
from tests.fanout.goldens import GOLDEN, golden

pytestmark = pytest.mark.usefixtures("no_network")

LINKS = ClipLinks("https://fw.acme.io", lambda: b"test-signing-key", ttl_days=30)
# The default ClipLinkBaseUrl: the HTTP API's execute-api URL (a 14-character region name).
API_LINKS = ClipLinks(
    "https://a1b2c3d4e5.execute-api.ap-northeast-2.amazonaws.com", lambda: b"k" * 64
)
SNAPSHOT = "https://facewatch-dev-snapshots.s3.amazonaws.com/snapshots/2026/11/18/INC-7Q2KX4MZ3B1A.jpg?X-Amz-Signature=abc"


def detail(**kwargs: Any) -> AlertDetail:
    return AlertDetail.model_validate(alert_detail(**kwargs))


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden_files_are_valid_block_kit(path: Path) -> None:
    blocks = json.loads(path.read_text(encoding="utf-8"))["blocks"]
    parsed = Block.parse_all(blocks)
    assert len(parsed) == len(blocks)
    # to_dict() runs slack_sdk's validation (lengths, required fields) on every block.
    assert [block.to_dict() for block in parsed] == blocks


# ---- Slack ---------------------------------------------------------------------------------
def test_full_alert_reads_at_a_glance() -> None:
    alert = detail()
    message = alert_message(alert_view(alert, LINKS.link_for(alert), SNAPSHOT))
    golden("alert_full", {"text": message.text, "blocks": message.blocks})
    header, page, section, image, actions, context = message.blocks
    assert header["text"]["text"] == "🚨 Unknown face at Seoul HQ / Lobby entrance"
    assert page["text"]["text"] == "<!here> high severity"
    fields = "\n".join(f["text"] for f in section["fields"])
    assert "14:03:12 KST" in fields  # 05:03 UTC at a site in Asia/Seoul
    assert "*Last seen*\n14:03:54 KST" in fields
    assert "5 frames with an unknown face over 42 s" in fields
    assert "face found (100%)" in fields  # 99.53: the confidence that a face is there
    assert "possible: EMP-10442 (72%)" in fields
    assert image["image_url"] == SNAPSHOT
    buttons = {b["action_id"]: b for b in actions["elements"]}
    assert {buttons[a]["value"] for a in (ACKNOWLEDGE, FALSE_ALARM, ESCALATE)} == {
        "INC-7Q2KX4MZ3B1A"
    }
    assert buttons["incident_open_clip"]["url"].startswith(
        "https://fw.acme.io/clips/INC-7Q2KX4MZ3B1A"
    )
    assert "INC-7Q2KX4MZ3B1A" in context["elements"][0]["text"]


def test_camera_not_in_registry_shows_its_id_and_utc_and_no_clip() -> None:
    alert = detail(location=None, clip=False, closest=False)
    message = alert_message(alert_view(alert, ClipLinks().link_for(alert)))
    golden("alert_unregistered_no_clip", {"text": message.text, "blocks": message.blocks})
    text = json.dumps(message.blocks)
    assert "Unknown face at seoul-hq-lobby-01" in text
    assert "05:03:12 UTC" in text
    assert "clip unavailable" in text
    assert "incident_open_clip" not in text
    assert "no employee match &gt;= 80%" in text  # Slack shows "&gt;" as ">"
    assert not [b for b in message.blocks if b["type"] == "image"]


def test_without_signing_key_the_alerts_kvs_url_is_the_clip_button() -> None:
    alert = detail()
    blocks = alert_message(alert_view(alert, ClipLinks().link_for(alert))).blocks
    clip = next(b for b in blocks if b["type"] == "actions")["elements"][0]
    assert clip["url"].startswith("https://b-1234abcd.kinesisvideo")


def test_signed_clip_link_verifies_and_lasts_thirty_days_from_the_incident() -> None:
    alert = detail()
    link = LINKS.link_for(alert)
    assert link is not None
    token = link.split("?t=")[1]
    expiry = verify_clip_token("INC-7Q2KX4MZ3B1A", token, b"test-signing-key", now=0)
    thirty_days = int(alert.first_seen.timestamp()) + 30 * 86400
    assert thirty_days <= expiry < thirty_days + 86400  # to the end of that day (UTC)
    assert LINKS.link_for(alert) == link  # a retry makes the same link


def test_display_names_are_escaped_for_mrkdwn() -> None:
    location = {**SEOUL, "siteName": "R&D <Annex>", "displayName": "Door <1>"}
    alert = detail(location=location)
    message = alert_message(alert_view(alert, None))
    blocks = message.blocks
    fields = " ".join(f["text"] for b in blocks if "fields" in b for f in b["fields"])
    assert "R&amp;D &lt;Annex&gt;" in fields
    assert "<Annex>" not in fields
    assert blocks[0]["text"]["text"] == "🚨 Unknown face at R&D <Annex> / Door <1>"  # plain_text
    assert message.text.startswith("Unknown face at R&amp;D &lt;Annex&gt; / Door &lt;1&gt;,")


def test_unknown_time_zone_falls_back_to_utc() -> None:
    alert = detail(location={**SEOUL, "timeZone": "Mars/Olympus_Mons"})
    view = alert_view(alert, None)
    assert view.zone_label == "UTC"
    assert f"{view.started:%H:%M}" == "05:03"


def test_very_long_names_still_make_a_valid_header() -> None:
    alert = detail(location={**SEOUL, "siteName": "S" * 120, "displayName": "C" * 120})
    blocks = alert_message(alert_view(alert, None)).blocks
    assert len(blocks[0]["text"]["text"]) == 150


def test_health_message_goes_to_ops_shape() -> None:
    notice = CameraHealthNotice.model_validate(health_detail())
    message = health_message(notice)
    golden("health_offline", {"text": message.text, "blocks": message.blocks})
    assert message.blocks[0]["text"]["text"] == "📷 Camera offline: seoul-hq / seoul-hq-dock-01"
    assert "ONLINE → OFFLINE" in json.dumps(message.blocks, ensure_ascii=False)
    recovered = health_message(
        CameraHealthNotice.model_validate(health_detail("ONLINE", previousState="OFFLINE"))
    )
    assert recovered.blocks[0]["text"]["text"].startswith("✅")


def test_an_unreadable_link_key_falls_back_to_the_alerts_clip_url() -> None:
    def broken() -> bytes:
        raise RuntimeError("Secrets Manager throttled")

    alert = detail()
    assert ClipLinks("https://fw.acme.io", broken).link_for(alert) == alert.clip.url  # type: ignore[union-attr]


def test_durations_read_naturally() -> None:
    assert format_duration(timedelta(seconds=42.4)) == "42 s"
    assert format_duration(timedelta(seconds=65)) == "1 min 05 s"
    assert format_duration(timedelta(hours=1, minutes=2)) == "1 h 02 min"


# ---- SMS -------------------------------------------------------------------------------------
def test_sms_with_short_signed_link_fits_one_gsm7_part() -> None:
    alert = detail()
    text = sms_text(alert_view(alert, LINKS.link_for(alert)))
    assert text.startswith("Unknown face: Seoul HQ / Lobby entrance, 14:03 KST. ")
    assert "https://fw.acme.io/clips/INC-7Q2KX4MZ3B1A?t=" in text
    size = sms_size(text)
    assert (size.encoding, size.parts) == ("GSM-7", 1)
    assert size.units <= 160


def test_sms_gives_the_incident_id_when_the_link_does_not_fit() -> None:
    alert = detail()
    text = sms_text(alert_view(alert, alert.clip.url + "&x=" + "y" * 60 if alert.clip else None))
    assert text == "Unknown face: Seoul HQ / Lobby entrance, 14:03 KST. INC-7Q2KX4MZ3B1A"


def test_sms_drops_the_camera_name_before_the_link() -> None:
    location = {
        **SEOUL,
        "siteName": "Seoul Headquarters Tower B, Gangnam-daero campus",
        "displayName": "Lobby entrance north revolving door by the security desk",
    }
    alert = detail(location=location)
    text = sms_text(alert_view(alert, API_LINKS.link_for(alert)))
    assert text.startswith("Unknown face: Seoul Headquarters To..., 14:03 KST. https://")
    assert sms_size(text).parts == 1


def test_sms_keeps_full_names_with_the_id_when_even_the_site_and_link_do_not_fit() -> None:
    location = {**SEOUL, "siteName": "Seoul Headquarters Tower B", "displayName": "Lobby north"}
    alert = detail(location=location)
    long_base = ClipLinks("https://" + "x" * 90 + ".example.com", lambda: b"k")
    text = sms_text(alert_view(alert, long_base.link_for(alert)))
    assert text == (
        "Unknown face: Seoul Headquarters Tower B / Lobby north, 14:03 KST. INC-7Q2KX4MZ3B1A"
    )


def test_sms_with_korean_names_is_ucs2_and_still_one_part() -> None:
    location = {**SEOUL, "siteName": "서울 본사", "displayName": "로비 입구"}
    alert = detail(location=location)
    text = sms_text(alert_view(alert, LINKS.link_for(alert)))
    size = sms_size(text)
    assert size.encoding == "UCS-2"
    assert size.parts == 1 and size.units <= 70
    assert "서울 본사 / 로비 입구" in text and "INC-7Q2KX4MZ3B1A" in text  # a link is too long


def test_sms_with_very_long_korean_names_keeps_the_site_and_the_id_in_one_part() -> None:
    location = {**SEOUL, "siteName": "서울 본사 " * 6, "displayName": "로비 입구 " * 6}
    alert = detail(location=location)
    text = sms_text(alert_view(alert, LINKS.link_for(alert)))
    assert text.endswith("14:03 KST. INC-7Q2KX4MZ3B1A") and "로비" not in text
    assert sms_size(text).parts == 1


def test_sms_that_cannot_fit_keeps_everything_and_goes_multipart() -> None:
    location = {**SEOUL, "siteName": "서울 본사 " * 6, "displayName": "로비 입구 " * 6}
    alert = detail(location=location)
    text = sms_text(alert_view(alert, LINKS.link_for(alert)), lead="긴급 " * 20)
    assert "https://fw.acme.io/clips/" in text
    assert sms_size(text).parts > 1


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("[x]" + "a" * 155, "GSM-7", 160, 1),  # [ and ] take two septets each
        ("€" * 81, "GSM-7", 162, 2),
        ("é" * 160, "GSM-7", 160, 1),  # é is in the GSM-7 basic set
        ("가" * 70, "UCS-2", 70, 1),
        ("가" * 71, "UCS-2", 71, 2),
        ("🚨" * 35, "UCS-2", 70, 1),  # a surrogate pair counts as two
    ],
)
def test_sms_size(text: str, encoding: str, units: int, parts: int) -> None:
    size = sms_size(text)
    assert (size.encoding, size.units, size.parts) == (encoding, units, parts)
