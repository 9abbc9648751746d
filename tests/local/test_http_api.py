"""The local HTTP API gateway: the event API Gateway builds, and its answers (no moto needed)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from facewatch_tools.local.http_api import (
    LOCAL_MEDIA_NOTE,
    MAX_REQUEST_BYTES,
    Answer,
    HttpApiError,
    HttpApiSpec,
    LocalHttpApi,
    Request,
    RouteSpec,
    function_answer,
    proxy_event,
    routes_of,
    serve_locally,
    with_local_note,
)

CLIP_ROUTE = RouteSpec("GET", "/clips/{incidentId}", "ClipLinksFunction", "2.0")
SPEC = HttpApiSpec("AuditApi", "abc123defg", "http://127.0.0.1:1", (CLIP_ROUTE,))


def _sam_api(integration_type: str = "aws_proxy", version: str = "2.0") -> dict[str, Any]:
    """What aws-sam-translator writes for an HttpApi with one GET route (trimmed)."""
    uri = (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
        "${ClipLinksFunction.Arn}/invocations"
    )
    return {
        "Type": "AWS::ApiGatewayV2::Api",
        "Properties": {
            "Body": {
                "openapi": "3.0.1",
                "paths": {
                    "/clips/{incidentId}": {
                        "get": {
                            "x-amazon-apigateway-integration": {
                                "httpMethod": "POST",
                                "type": integration_type,
                                "uri": {"Fn::Sub": uri},
                                "payloadFormatVersion": version,
                            }
                        }
                    }
                },
            }
        },
    }


def test_routes_come_from_the_openapi_body_sam_writes() -> None:
    assert routes_of("AuditApi", _sam_api()) == (CLIP_ROUTE,)
    with pytest.raises(HttpApiError, match="not a Lambda proxy"):
        routes_of("AuditApi", _sam_api(integration_type="http_proxy"))
    with pytest.raises(HttpApiError, match=r"payload format 1\.0"):
        routes_of("AuditApi", _sam_api(version="1.0"))


def test_the_execute_api_url_becomes_the_local_server_and_the_api_leaves_the_template() -> None:
    url = "https://${AuditApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    template = {
        "Resources": {
            "AuditApi": _sam_api(),
            "AuditApiApiGatewayDefaultStage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {"ApiId": {"Ref": "AuditApi"}, "StageName": "$default"},
            },
            "Notifier": {
                "Type": "AWS::Lambda::Function",
                "DependsOn": ["AuditApiApiGatewayDefaultStage"],
                "Properties": {
                    "Environment": {
                        "Variables": {
                            "CLIP_LINK_BASE_URL": {
                                "Fn::If": ["HasBase", {"Ref": "Base"}, {"Fn::Sub": url}]
                            },
                            "ACTIONS": {"Fn::Sub": [url + "/slack/actions?x=${X}", {"X": "1"}]},
                            "API": {"Ref": "AuditApi"},
                        }
                    }
                },
            },
        },
        "Outputs": {"ApiUrl": {"Value": {"Fn::Sub": url}}},
    }
    adjusted, apis = serve_locally(template, lambda logical: f"http://127.0.0.1:9/{logical}/")
    api = apis["AuditApi"]
    assert api.base_url == "http://127.0.0.1:9/AuditApi"
    assert set(adjusted["Resources"]) == {"Notifier"}  # the API and its stage are served here
    fn = adjusted["Resources"]["Notifier"]
    assert fn["DependsOn"] == []
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["CLIP_LINK_BASE_URL"]["Fn::If"][2] == {"Fn::Sub": api.base_url}
    assert env["ACTIONS"] == {"Fn::Sub": [api.base_url + "/slack/actions?x=${X}", {"X": "1"}]}
    assert env["API"] == api.api_id
    assert adjusted["Outputs"]["ApiUrl"]["Value"] == {"Fn::Sub": api.base_url}
    assert "${" not in json.dumps(adjusted).replace("${X}", "")


def test_the_event_is_payload_format_2_0() -> None:
    request = Request(
        "GET",
        "/clips/INC-1%2FX?exp=9&sig=a&sig=b",
        [
            ("Host", "127.0.0.1:1"),
            ("User-Agent", "pytest"),
            ("X-Dup", "one"),
            ("x-dup", "two"),
            ("Cookie", "a=1; b=2"),
        ],
        b"",
        "127.0.0.1",
    )
    event = proxy_event(request, CLIP_ROUTE, {"incidentId": "INC-1/X"}, SPEC, "123456789012")
    APIGatewayProxyEventV2Model.model_validate(event)  # Powertools' model of the AWS format
    assert event["routeKey"] == "GET /clips/{incidentId}"
    assert event["rawPath"] == "/clips/INC-1%2FX"
    assert event["rawQueryString"] == "exp=9&sig=a&sig=b"
    assert event["queryStringParameters"] == {"exp": "9", "sig": "a,b"}
    assert event["headers"]["x-dup"] == "one,two"  # lower-cased, duplicates joined by commas
    assert "cookie" not in event["headers"] and event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["http"]["userAgent"] == "pytest"
    assert event["requestContext"]["stage"] == "$default"
    assert "body" not in event and event["isBase64Encoded"] is False


def test_a_binary_body_is_base64_and_a_form_body_is_text() -> None:
    route = RouteSpec("POST", "/slack/actions", "SlackActionsFunction", "2.0")
    form = Request(
        "POST", "/slack/actions", [("Content-Type", "application/x-www-form-urlencoded")],
        b"payload=%7B%7D", "127.0.0.1",
    )  # fmt: skip
    event = proxy_event(form, route, {}, SPEC, "1")
    assert (event["body"], event["isBase64Encoded"]) == ("payload=%7B%7D", False)
    binary = Request(
        "POST", "/slack/actions", [("Content-Type", "image/png")], b"\x89PNG", "127.0.0.1"
    )
    event = proxy_event(binary, route, {}, SPEC, "1")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x89PNG"


def test_function_answers_follow_the_2_0_response_rules() -> None:
    full = function_answer(
        {
            "statusCode": 302,
            "headers": {"Location": "https://x"},
            "cookies": ["a=1"],
            "body": base64.b64encode(b"\x00").decode(),
            "isBase64Encoded": True,
        }
    )
    assert full == Answer(302, [("Location", "https://x"), ("Set-Cookie", "a=1")], b"\x00")
    inferred = function_answer({"ok": True})  # no statusCode: 200, JSON, the result as body
    assert inferred == Answer(200, [("Content-Type", "application/json")], b'{"ok": true}')
    assert function_answer({"statusCode": "x"}).status == 500


def test_only_pages_pointing_at_moto_media_get_the_local_note() -> None:
    html = [("Content-Type", "text/html; charset=utf-8")]
    moto_page = b'<html><body><video data-src="https://b-1a2b.kinesisvideo.ap-northeast-2.amazonaws.com/hls/v1/x.m3u8"></video></body></html>'
    noted = with_local_note(Answer(200, html, moto_page))
    assert LOCAL_MEDIA_NOTE.encode() in noted.body
    assert ("X-Facewatch-Local", "media-not-emulated") in noted.headers
    other = Answer(200, html, b"<html><body><p>nothing to play</p></body></html>")
    assert with_local_note(other) == other
    refused = Answer(403, [("Content-Type", "text/plain")], b"This link is not valid")
    assert with_local_note(refused) == refused


@pytest.fixture
def api() -> Iterator[tuple[LocalHttpApi, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    def clip_links(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(event)
        if event["pathParameters"]["incidentId"] == "boom":
            raise RuntimeError("function error")
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "clip"}

    server = LocalHttpApi("AuditApi").start()
    spec = HttpApiSpec("AuditApi", "abc123defg", server.url, (CLIP_ROUTE,))
    server.connect(spec, "123456789012", {"ClipLinksFunction": clip_links})
    try:
        yield server, seen
    finally:
        server.stop()


def _get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data)) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_server_answers_as_api_gateway(api: tuple[LocalHttpApi, list[dict[str, Any]]]) -> None:
    server, seen = api
    assert _get(f"{server.url}/clips/INC-1?exp=1&sig=x") == (200, b"clip")
    assert seen[-1]["pathParameters"] == {"incidentId": "INC-1"}
    assert _get(f"{server.url}/clips/boom") == (500, b'{"message": "Internal Server Error"}')
    assert _get(f"{server.url}/nothing/here") == (404, b'{"message": "Not Found"}')
    assert _get(f"{server.url}/clips/INC-1", data=b"x")[0] == 404  # POST: no such route
    big = b"x" * (MAX_REQUEST_BYTES + 1)
    assert _get(f"{server.url}/clips/INC-1", data=big)[0] == 413
    assert server.requests[0] == ("GET /clips/{incidentId}", 200)
