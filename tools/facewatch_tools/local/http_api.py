"""The stack's HTTP APIs (``AWS::ApiGatewayV2::Api``) served on 127.0.0.1, as API Gateway would.

moto's CloudFormation skips ``AWS::ApiGatewayV2::Api``, so ``${AuditApi}`` stays a literal in
every ``Fn::Sub`` and the clip links read ``https://${AuditApi}.execute-api...``. Here each HTTP
API of the template gets a local server before the stack is created: its execute-api URL in
the template becomes the server's URL (what the API's URL *is* locally), its ``Ref`` a local API
id, and its routes (the OpenAPI body SAM writes: path, method, ``aws_proxy`` integration) invoke
the stack's functions in-process with the payload format 2.0 event API Gateway builds from the
request. The function's answer goes back as API Gateway sends it (format 2.0 response rules).

What API Gateway refuses is refused: no route -> 404, a body over 10 MB -> 413, a function
error or an answer over Lambda's 6 MB -> 500 ``Internal Server Error``. Not emulated:
throttling, the 30 s integration timeout, authorizers, custom domains, access logs.

KVS media is not emulated by moto: a page that links to a KVS data endpoint moto made up
(``https://b-<hex>.kinesisvideo.<region>.amazonaws.com``) gets a one-paragraph note saying so.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from facewatch_tools.local.loopback import LoopbackServer

API_TYPE = "AWS::ApiGatewayV2::Api"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # HTTP API payload quota
MAX_FUNCTION_ANSWER_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response limit
# https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix} (or the suffix written out)
_EXECUTE_API = re.compile(
    r"https://\$\{(?P<api>[A-Za-z0-9]+)\}\.execute-api\.\$\{AWS::Region\}\."
    r"(?:\$\{AWS::URLSuffix\}|amazonaws\.com)"
)
_FUNCTION_IN_URI = re.compile(r"\$\{(?P<function>[A-Za-z0-9]+)\.Arn\}")
# moto's made-up KVS data endpoints (moto.kinesisvideo: b-/s- plus hex)
_MOTO_KVS_MEDIA = re.compile(r"https://[bs]-[0-9a-f]+\.kinesisvideo\.[a-z0-9-]+\.amazonaws\.com")
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")
LOCAL_MEDIA_NOTE = (
    "<p><strong>Local stack:</strong> video is not emulated locally (moto keeps no Kinesis "
    "Video media), so the player below has nothing to play. The link, its signature and the "
    "incident lookup are real; on AWS this page plays the clip.</p>"
)


class HttpApiError(RuntimeError):
    """An HTTP API of the template that the local gateway cannot serve."""


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str  # GET, POST, ... or ANY
    path: str  # /clips/{incidentId}
    function: str  # logical id of the integration's function
    payload_version: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        pattern = re.sub(
            r"\\\{([A-Za-z0-9_]+)(\\\+)?\\\}",
            lambda m: f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)",
            re.escape(self.path),
        )
        found = re.fullmatch(pattern, path)
        return None if found is None else {k: unquote(v) for k, v in found.groupdict().items()}


@dataclass(frozen=True, slots=True)
class HttpApiSpec:
    logical_id: str
    api_id: str
    base_url: str
    routes: tuple[RouteSpec, ...]


def routes_of(logical_id: str, resource: dict[str, Any]) -> tuple[RouteSpec, ...]:
    """The routes of an HTTP API from its OpenAPI body (what SAM writes for HttpApi events)."""
    body = (resource.get("Properties") or {}).get("Body")
    if not isinstance(body, dict):
        raise HttpApiError(f"{logical_id}: only an inline OpenAPI Body is served locally")
    routes = []
    for path, methods in (body.get("paths") or {}).items():
        for method, operation in methods.items():
            integration = operation.get("x-amazon-apigateway-integration") or {}
            if integration.get("type") != "aws_proxy":
                raise HttpApiError(f"{logical_id} {method.upper()} {path}: not a Lambda proxy")
            uri = integration.get("uri")
            text = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
            found = _FUNCTION_IN_URI.search(text if isinstance(text, str) else "")
            if found is None:
                raise HttpApiError(f"{logical_id} {method.upper()} {path}: no function in {uri}")
            version = str(integration.get("payloadFormatVersion", "2.0"))
            if version != "2.0":
                raise HttpApiError(f"{logical_id}: payload format {version} is not emulated")
            method_name = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
            routes.append(RouteSpec(method_name, path, found.group("function"), version))
    return tuple(routes)


def _rewrite(node: Any, urls: dict[str, str], ids: dict[str, str]) -> Any:
    """Execute-api URLs -> the local URL; Ref/GetAtt of the API -> its local id/endpoint."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in ids:
            return ids[node["Ref"]]
        if set(node) == {"Fn::GetAtt"}:
            ref = node["Fn::GetAtt"]
            logical, attr = ref if isinstance(ref, list) else str(ref).split(".", 1)
            if logical in ids:
                return urls[logical] if attr == "ApiEndpoint" else ids[logical]
        if "Fn::Sub" in node:
            arg = node["Fn::Sub"]
            text, extra = (arg, None) if isinstance(arg, str) else (arg[0], arg[1])
            text = _EXECUTE_API.sub(lambda m: urls.get(m.group("api"), m.group(0)), text)
            for logical, api_id in ids.items():
                text = text.replace("${" + logical + "}", api_id)
            extra = _rewrite(extra, urls, ids) if extra is not None else None
            return {"Fn::Sub": text if extra is None else [text, extra]}
        return {k: _rewrite(v, urls, ids) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, urls, ids) for v in node]
    return node


def serve_locally(
    template: dict[str, Any], serve: Callable[[str], str]
) -> tuple[dict[str, Any], dict[str, HttpApiSpec]]:
    """Take the HTTP APIs out of the template (moto skips them) and give each a local server
    (``serve(logical_id)`` starts one and returns its URL). Returns the template for moto and
    the APIs, whose routes the runner connects to the functions once they are read back."""
    resources = template["Resources"]
    apis = {k: v for k, v in resources.items() if v["Type"] == API_TYPE}
    if not apis:
        return template, {}
    specs = {}
    for logical_id, resource in apis.items():
        routes = routes_of(logical_id, resource)
        api_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))
        specs[logical_id] = HttpApiSpec(logical_id, api_id, serve(logical_id).rstrip("/"), routes)
    urls = {k: s.base_url for k, s in specs.items()}
    ids = {k: s.api_id for k, s in specs.items()}
    adjusted: dict[str, Any] = _rewrite(copy.deepcopy(template), urls, ids)
    gone = set(apis)
    for logical_id, resource in list(adjusted["Resources"].items()):
        # Stages, routes and integrations of a local API: the local server is all of them.
        props = resource.get("Properties") or {}
        if logical_id in gone or (
            resource["Type"].startswith("AWS::ApiGatewayV2::")
            and props.get("ApiId") in ids.values()
        ):
            gone.add(logical_id)
            del adjusted["Resources"][logical_id]
    for resource in adjusted["Resources"].values():
        depends = resource.get("DependsOn")
        if isinstance(depends, str) and depends in gone:
            del resource["DependsOn"]
        elif isinstance(depends, list):
            resource["DependsOn"] = [d for d in depends if d not in gone]
    return adjusted, specs


# ---- the server ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str  # path and query as sent
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_answer(status: int, message: str) -> Answer:
    body = json.dumps({"message": message}).encode()
    return Answer(status, [("Content-Type", "application/json")], body)


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind.startswith(_TEXT_TYPES) or kind.endswith(("+json", "+xml"))


def proxy_event(
    request: Request, route: RouteSpec, params: dict[str, str], api: HttpApiSpec, account_id: str
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends for this request."""
    parts = urlsplit(request.target)
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    host = urlsplit(api.base_url).netloc
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": api.api_id,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": request.method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": formatdate(now, usegmt=True),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if request.body:
        if _is_text(headers.get("content-type", "")):
            event["body"] = request.body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    return event


def function_answer(result: Any) -> Answer:
    """A function's result as API Gateway answers it (format 2.0: statusCode, headers, cookies,
    body, isBase64Encoded; anything else is a 200 JSON body)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        text = result if isinstance(result, str) else json.dumps(result)
        return Answer(200, [("Content-Type", "application/json")], text.encode())
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        return _json_answer(500, "Internal Server Error")
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
    return Answer(status, headers, body)


def with_local_note(answer: Answer) -> Answer:
    """An HTML page that points at moto's made-up KVS media endpoint says video is not
    emulated locally (right after <body>), so nobody waits for a clip that cannot play."""
    kind = next((v for k, v in answer.headers if k.lower() == "content-type"), "")
    if answer.status != 200 or not kind.startswith("text/html"):
        return answer
    text = answer.body.decode("utf-8", errors="replace")
    if not _MOTO_KVS_MEDIA.search(text) or "<body>" not in text:
        return answer
    body = text.replace("<body>", "<body>\n" + LOCAL_MEDIA_NOTE, 1).encode()
    return Answer(
        answer.status, [*answer.headers, ("X-Facewatch-Local", "media-not-emulated")], body
    )


@dataclass
class LocalHttpApi:
    """One HTTP API on 127.0.0.1 (a free port). ``connect`` gives it its routes' functions."""

    logical_id: str
    account_id: str = ""
    spec: HttpApiSpec | None = None
    requests: list[tuple[str, int]] = field(default_factory=list)  # (route key or path, status)
    _functions: dict[str, Callable[[Any], Any]] = field(
        default_factory=dict
    )  # by route's function logical id
    _loopback: LoopbackServer = field(default_factory=LoopbackServer)

    @property
    def url(self) -> str:
        return self._loopback.url

    def connect(
        self, spec: HttpApiSpec, account_id: str, functions: Mapping[str, Callable[[Any], Any]]
    ) -> None:
        missing = {r.function for r in spec.routes} - set(functions)
        if missing:
            raise HttpApiError(f"{spec.logical_id}: routes to unknown functions {sorted(missing)}")
        self.spec, self.account_id, self._functions = spec, account_id, dict(functions)

    def handle(self, request: Request) -> Answer:
        if len(request.body) > MAX_REQUEST_BYTES:
            return _json_answer(413, "Request Entity Too Large")
        spec = self.spec
        path = urlsplit(request.target).path
        if spec is None:
            return _json_answer(503, "Service Unavailable")
        for route in spec.routes:
            params = route.match(request.method, path)
            if params is None:
                continue
            event = proxy_event(request, route, params, spec, self.account_id)
            try:
                result = self._functions[route.function](event)
            except Exception:  # the function's error is in its log, as in CloudWatch
                answer = _json_answer(500, "Internal Server Error")
            else:
                answer = function_answer(result)
                if len(answer.body) > MAX_FUNCTION_ANSWER_BYTES:
                    answer = _json_answer(500, "Internal Server Error")
            self.requests.append((route.route_key, answer.status))
            return with_local_note(answer)
        self.requests.append((path, 404))
        return _json_answer(404, "Not Found")

    def start(self) -> LocalHttpApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_REQUEST_BYTES + 1)) if length else b""
                request = Request(
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    self.client_address[0],
                )
                answer = api.handle(request)
                self.send_response(answer.status)
                for name, value in answer.headers:
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return  # `requests` keeps the record; no access log on stderr

        self._loopback.start(Handler, f"facewatch-api-{self.logical_id}")
        return self

    def stop(self) -> None:
        self._loopback.stop()
