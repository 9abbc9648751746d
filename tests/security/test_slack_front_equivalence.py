"""The Slack front function checks without pydantic what the worker checks with it.

The front (facewatch.audit.slack_front) decides on the payload's ids and records the click;
the worker (slack_clicks) parses the record with the pydantic models (slack_requests). If the
front accepted what the models refuse, a click would be answered 200 and then dropped; if it
read other ids, the allow-list would judge someone else. So, with the models as the oracle:
the same payloads accepted with the same ids, the same allow-lists, the same settings, a
record the worker reads back, and the metrics document Powertools writes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from facewatch.audit.slack_front import (
    Click,
    EmfMetrics,
    FrontSettings,
    FrontSettingsError,
    PayloadError,
    click_ids,
    parse_allow_list,
)
from facewatch.audit.slack_requests import (
    BlockActionsPayload,
    SlackAllowList,
    click_from_message,
)
from facewatch.settings import SettingsError, SlackActionsSettings
from tests.conftest import load_event

PROPERTY = settings(max_examples=400, derandomize=True, deadline=None)
_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.lists(st.integers(min_value=0, max_value=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(min_value=0, max_value=3), max_size=2),
)
_text = st.one_of(st.text(max_size=6), st.text(min_size=60, max_size=70), st.just(""))
_str_or_junk = st.one_of(_text, _junk)
_optional_str = st.one_of(st.none(), _text, _junk)
_user = st.fixed_dictionaries(
    {},
    optional={
        "id": _str_or_junk,
        "username": _optional_str,
        "name": _optional_str,
        "team_id": _optional_str,
    },
)
_team = st.fixed_dictionaries({}, optional={"id": _str_or_junk, "domain": _optional_str})
_channel = st.fixed_dictionaries({}, optional={"id": _str_or_junk, "name": _optional_str})
_action = st.fixed_dictionaries(
    {}, optional={"action_id": _str_or_junk, "value": st.one_of(st.text(max_size=130), _junk)}
)
_blocks = st.lists(
    st.one_of(st.dictionaries(st.text(max_size=3), _junk, max_size=2), _junk), max_size=3
)
_message = st.fixed_dictionaries(
    {}, optional={"text": _optional_str, "blocks": st.one_of(_blocks, _junk)}
)
_url = st.sampled_from(
    [
        "https://hooks.slack.com/actions/T0/1/x",
        "https://hooks.slack.com/",
        "http://hooks.slack.com/actions",
        "https://hooks.slack.com.evil.example/",
        "\nhttps://hooks.slack.com/",
        "https://hooks.slack.com/\n",
        "https://hooks_slack.com/",
    ]
)
# Every field sometimes absent, null, of another type, too long or too short.
_any_payload = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.just("block_actions"), st.just("view_submission"), _junk),
        "user": st.one_of(_user, _junk),
        "team": st.one_of(_team, _junk),
        "channel": st.one_of(_channel, _junk),
        "response_url": st.one_of(_url, _junk),
        "actions": st.one_of(st.lists(st.one_of(_action, _junk), max_size=7), _junk),
        "message": st.one_of(_message, _junk),
        "api_app_id": _junk,
    },
)
# Mostly well formed: one field at a time goes wrong.
_valid_user = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=64)}, optional={"team_id": st.text(max_size=12)}
)
_valid_action = st.fixed_dictionaries(
    {"action_id": st.text(max_size=20)}, optional={"value": st.text(max_size=130)}
)
_near_payload = st.fixed_dictionaries(
    {
        "type": st.just("block_actions"),
        "user": st.one_of(_valid_user, _user),
        "actions": st.lists(_valid_action, max_size=6),
    },
    optional={
        "team": st.one_of(st.none(), st.fixed_dictionaries({"id": st.text(max_size=12)}), _team),
        "channel": st.one_of(st.none(), st.fixed_dictionaries({"id": st.text(max_size=12)})),
        "response_url": st.one_of(st.none(), _url),
        "message": st.one_of(st.none(), _message),
    },
)


_BASE: dict[str, Any] = {
    "type": "block_actions",
    "user": {"id": "U1", "username": "u", "name": "n", "team_id": "T1"},
    "team": {"id": "T1", "domain": "d"},
    "channel": {"id": "C1", "name": "c"},
    "response_url": "https://hooks.slack.com/actions/T1/1/x",
    "actions": [{"action_id": "a", "value": "v"}],
    "message": {"text": "t", "blocks": [{"type": "section"}]},
}
_PATHS: list[tuple[str | int, ...]] = [
    ("type",), ("user",), ("user", "id"), ("user", "username"), ("user", "name"),
    ("user", "team_id"), ("team",), ("team", "id"), ("team", "domain"), ("channel",),
    ("channel", "id"), ("channel", "name"), ("response_url",), ("actions",), ("actions", 0),
    ("actions", 0, "action_id"), ("actions", 0, "value"), ("message",), ("message", "text"),
    ("message", "blocks"), ("message", "blocks", 0),
]  # fmt: skip
_DELETE = object()
_bad = st.one_of(
    _junk,
    st.just(_DELETE),
    st.sampled_from([0, 1, 63, 64, 65, 127, 128, 129]).map(lambda n: "x" * n),
    _url,
    st.lists(st.one_of(st.just({"action_id": "a"}), _junk), max_size=7),
)


@st.composite
def _one_wrong(draw: st.DrawFn) -> dict[str, Any]:
    """Slack's shape with one field changed: deleted, of another type, or of a boundary length."""
    data: dict[str, Any] = json.loads(json.dumps(_BASE))
    *parents, last = draw(st.sampled_from(_PATHS))
    node: Any = data
    for key in parents:
        node = node[key]
    value = draw(_bad)
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


def _oracle(raw: str) -> tuple[str, str | None, str | None] | None:
    try:
        payload = BlockActionsPayload.model_validate_json(raw)
    except ValidationError:
        return None
    return payload.user.id, payload.team_id, payload.channel_id


def _front(raw: str) -> tuple[str, str | None, str | None] | None:
    try:
        ids = click_ids(raw)
    except PayloadError:
        return None
    return ids.user_id, ids.team_id, ids.channel_id


@settings(max_examples=800, derandomize=True, deadline=None)
@given(_one_wrong())
def test_one_field_wrong_is_refused_by_both_or_by_neither(data: Any) -> None:
    raw = json.dumps(data)
    assert _front(raw) == _oracle(raw)


@PROPERTY
@given(st.one_of(_any_payload, _near_payload, _junk))
def test_the_front_accepts_what_the_worker_accepts_with_the_same_ids(data: Any) -> None:
    raw = json.dumps(data)
    assert _front(raw) == _oracle(raw)


def test_slacks_own_payloads_are_accepted_by_both() -> None:
    for name in ("acknowledge", "escalate", "false_alarm"):
        body = load_event(f"slack_actions_{name}.json")["body"]
        from urllib.parse import parse_qs  # noqa: PLC0415

        raw = parse_qs(body)["payload"][0]
        assert _front(raw) == _oracle(raw) == ("U0AUDIT01", "T0FACEWATCH", "C0SECURITY")


def _with_extra(value: str) -> str:
    base = json.loads(json.dumps({"type": "block_actions", "user": {"id": "U1"}}))
    base["actions"] = [{"action_id": "a"}]
    return json.dumps(base)[:-1] + f',"x":{value}}}'


@pytest.mark.parametrize(
    ("raw", "worker_accepts"),
    [
        (_with_extra('"\\ud800"'), False),  # a lone surrogate: Python's json takes it
        (_with_extra("-" + "9" * 4300), False),  # pydantic counts the sign as a digit
        (_with_extra("[" * 70 + "]" * 70), True),  # deeper than the front's 64 levels
        (_with_extra("9" * 1001), True),  # longer than the front's 1,000-character integers
        ("\ufeff" + _with_extra("1"), False),
        (_with_extra("NaN"), True),  # both take NaN and Infinity where the model ignores them
    ],
    ids=["lone-surrogate", "negative-4300-digits", "70-levels", "1001-digits", "bom", "nan"],
)
def test_where_the_parsers_differ_the_front_refuses(raw: str, worker_accepts: bool) -> None:
    """A subset: the front refuses some payloads the worker would take (Slack sends none),
    never the reverse."""
    assert (_oracle(raw) is not None) == worker_accepts
    if raw.endswith("NaN}"):
        assert _front(raw) == _oracle(raw)
    else:
        assert _front(raw) is None


# ---- the allow-list secret --------------------------------------------------------------------
_ids_value = st.one_of(
    st.text(alphabet="TC0ab, ", max_size=12),
    st.lists(st.text(alphabet="TC0 ", max_size=4), max_size=3),
    st.lists(st.one_of(st.text(max_size=2), st.integers(min_value=0, max_value=2)), max_size=2),
    _junk,
)
_allow_list = st.dictionaries(
    st.sampled_from(
        ["teamIds", "team_ids", "channelIds", "channel_ids", "userGroupIds", "user_group_ids", "x"]
    ),
    _ids_value,
    max_size=5,
)


@PROPERTY
@given(st.one_of(_allow_list, _junk))
def test_the_allow_list_is_read_as_the_model_reads_it(data: Any) -> None:
    text = json.dumps(data)
    try:
        model = SlackAllowList.model_validate_json(text)
        expected: tuple[frozenset[str], ...] | None = (
            model.team_ids,
            model.channel_ids,
            model.user_group_ids,
        )
    except ValidationError:
        expected = None
    try:
        ours = parse_allow_list(text)
        got: tuple[frozenset[str], ...] | None = (
            ours.team_ids,
            ours.channel_ids,
            ours.user_group_ids,
        )
    except ValueError:
        got = None
    assert got == expected


def test_the_stacks_allow_list_reads_the_same() -> None:
    text = json.dumps({"teamIds": "T1, T2", "channelIds": "C1,,C2 ", "userGroupIds": ""})
    ours = parse_allow_list(text)
    assert ours.team_ids == {"T1", "T2"} and ours.channel_ids == {"C1", "C2"}
    assert ours.user_group_ids == frozenset()


# ---- settings ---------------------------------------------------------------------------------
_NAMES = [
    "TABLE_NAME",
    "SLACK_SIGNING_SECRET_ARN",
    "SLACK_ALLOW_LIST_SECRET_ARN",
    "SLACK_CLICKS_QUEUE_URL",
    "SLACK_BOT_TOKEN_SECRET_ARN",
    "SECRET_MAX_AGE_SECONDS",
]
_env_value = st.sampled_from(
    ["", "x", "arn:aws:secretsmanager:ap-northeast-2:1:secret:s", "300", "0", "3600", "3601",
     "-1", " 5", "+5", "1e3", "0300", "00300", "abc"]
)  # fmt: skip


@PROPERTY
@given(st.dictionaries(st.sampled_from(_NAMES), _env_value))
def test_the_front_settings_are_the_models(env: dict[str, str]) -> None:
    try:
        model: dict[str, Any] | None = SlackActionsSettings.from_env(env).model_dump()
    except SettingsError:
        model = None
    try:
        ours: dict[str, Any] | None = FrontSettings.from_env(env)._asdict()
    except FrontSettingsError as exc:
        ours = None
        assert any(name in str(exc) for name in _NAMES)  # names what to fix
    if ours is not None:
        assert ours == model
    max_age = env.get("SECRET_MAX_AGE_SECONDS", "")
    if model is not None and (max_age == "" or re.fullmatch(r"[0-9]{1,4}", max_age)):
        assert ours == model  # stricter only on odd spellings of the number (" 5", "+5")


# ---- the record and the metrics ---------------------------------------------------------------
@PROPERTY
@given(
    st.text(max_size=300),
    st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
)
def test_the_worker_reads_the_record_the_front_writes(payload: str, at: float) -> None:
    recorded = click_from_message(Click(payload=payload, received_at=at).message_body())
    assert recorded.payload == payload and recorded.received_at == at
    assert recorded.version == 1


_METRICS = [
    "SlackRequestRejected",
    "SlackPayloadRejected",
    "SlackClickForbidden",
    "SlackClickRecorded",
    "SlackClickNotRecorded",
    "SlackSigningSecretUnavailable",
    "SlackAllowListUnavailable",
]


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(_METRICS), min_size=1, max_size=6))
def test_the_metrics_document_is_powertools(names: list[str]) -> None:
    powertools = Metrics(namespace="Facewatch", service="facewatch")
    powertools.clear_metrics()
    ours = EmfMetrics()
    for name in names:
        powertools.add_metric(name=name, unit=MetricUnit.Count, value=1)
        ours.count(name)
    expected = powertools.serialize_metric_set()
    powertools.clear_metrics()
    document = ours.document(now=expected["_aws"]["Timestamp"] / 1000)
    assert document == expected


def test_metrics_are_one_line_on_stdout_and_none_without_a_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = EmfMetrics()
    metrics.flush(now=1.0)
    assert capsys.readouterr().out == ""
    metrics.count("SlackClickRecorded")
    metrics.flush(now=1.0)
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["SlackClickRecorded"] == [1.0]
    metrics.flush(now=2.0)
    assert capsys.readouterr().out == ""  # flushed counts are gone
