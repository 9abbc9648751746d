"""Finding 1: a validly signed click from another team, channel or user group changes nothing."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any
from urllib.parse import quote

import pytest

from facewatch.audit.slack_requests import SlackAllowList
from facewatch_tools.template import load_template, resource
from tests.slack_world import World, payload_of, signed

from .conftest import NOW, table_items

pytestmark = pytest.mark.integration


def _click(
    team: str = "T0FACEWATCH", channel: str = "C0SECURITY", user: str = "U0AUDIT01"
) -> dict[str, Any]:
    event = signed("false_alarm", NOW)
    payload = payload_of(event)
    payload["team"]["id"] = team
    payload["user"]["team_id"] = team
    payload["user"]["id"] = user
    payload["channel"]["id"] = channel
    return signed("false_alarm", NOW, body="payload=" + quote(json.dumps(payload)))


@pytest.mark.parametrize(
    ("team", "channel"),
    [("T0OTHERORG", "C0SECURITY"), ("T0FACEWATCH", "C0RANDOM"), ("T0OTHERORG", "C0OTHER")],
)
def test_other_team_or_channel_is_403_logged_by_id_and_changes_nothing(
    world: World, dynamodb: Any, caplog: pytest.LogCaptureFixture, team: str, channel: str
) -> None:
    before = table_items(dynamodb)
    response = world.call(_click(team=team, channel=channel))
    assert response["statusCode"] == 403
    assert table_items(dynamodb) == before  # no status, no trail, not even the replay guard
    assert world.recorded() == 0 and world.responder.messages == []
    assert world.publisher.published == [] and world.escalation.sent == []
    (record,) = [r for r in caplog.records if r.getMessage() == "Slack click not allowed"]
    assert record.__dict__["teamId"] == team and record.__dict__["channelId"] == channel
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "alice" not in logged and "hooks.slack.com" not in logged


def test_an_empty_allow_list_allows_nobody(world: World) -> None:
    world.allowed[0] = SlackAllowList(team_ids=frozenset(), channel_ids=frozenset())
    assert world.call(_click())["statusCode"] == 403


def test_the_allowed_team_and_channel_still_work(world: World) -> None:
    assert world.call(_click())["statusCode"] == 200
    incident = world.history.get("inc-demo-0001")
    assert incident is not None and incident.status == "false_alarm"


class _Groups:
    def __init__(self, members: dict[str, set[str]]) -> None:
        self._members = members

    def members(self, group_id: str) -> Collection[str]:
        return self._members.get(group_id, set())


def test_user_groups_when_configured_admit_only_their_members(world: World) -> None:
    world.allowed[0] = SlackAllowList.model_validate(
        {"teamIds": "T0FACEWATCH", "channelIds": "C0SECURITY", "userGroupIds": "S0GUARDS"}
    )
    object.__setattr__(world.deps, "user_groups", _Groups({"S0GUARDS": {"U0GUARD"}}))
    assert world.call(_click(user="U0GUEST"))["statusCode"] == 403
    incident = world.history.get("inc-demo-0001")
    assert incident is not None and incident.status == "open"
    assert world.call(_click(user="U0GUARD"))["statusCode"] == 200


def test_user_groups_without_a_directory_fail_closed(world: World) -> None:
    world.allowed[0] = SlackAllowList.model_validate(
        {"teamIds": "T0FACEWATCH", "channelIds": "C0SECURITY", "userGroupIds": "S0GUARDS"}
    )
    assert world.call(_click())["statusCode"] == 403


def test_the_stack_writes_the_allow_list_from_its_parameters_into_a_secret() -> None:
    secret = resource("SlackAllowListSecret")["Properties"]
    assert "KmsKeyId" in secret and "SecretString" in secret
    text = json.dumps(secret["SecretString"])
    for parameter in ("SlackTeamIds", "SlackChannelIds", "SlackUserGroupIds"):
        assert parameter in load_template()["Parameters"] and parameter in text
    front = resource("SlackActionsFunction")["Properties"]["Environment"]["Variables"]
    assert front["SLACK_ALLOW_LIST_SECRET_ARN"] == {"Ref": "SlackAllowListSecret"}
