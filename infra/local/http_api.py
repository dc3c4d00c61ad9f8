"""API Gateway HTTP API, locally: routes from the template, payload format 2.0 events, JWT auth, CORS.

The request/response translation follows the API Gateway developer guide, "Create AWS Lambda proxy
integrations for HTTP APIs in API Gateway" (payload format version 2.0), and its JWT authorizer and
CORS pages ("Control access to HTTP APIs with JWT authorizers", "Configure CORS for HTTP APIs"):

* headers are lower-cased, repeated headers comma-joined; cookies move from ``cookie`` to ``cookies``;
* ``queryStringParameters`` joins repeated keys with commas and is omitted when there is no query;
  ``pathParameters`` is omitted when the route has none; ``body`` is omitted when there is none;
* the body is base64-encoded (``isBase64Encoded: true``) unless the content type is ``text/*``,
  ``application/json``, ``application/xml`` or ``application/javascript``. Note: that includes
  ``application/x-www-form-urlencoded`` (Twilio, HTML forms) and a missing content type, which AWS
  does base64-encode (verified against AWS and recorded in ministackorg/ministack PR #766);
* unmatched routes and methods -> 404 ``{"message":"Not Found"}``; a missing or bad token on an
  authorized route -> 401 ``{"message":"Unauthorized"}``; a handler error or malformed response ->
  500 ``{"message":"Internal Server Error"}`` (and the traceback on stderr).

Locally API Gateway's ``x-forwarded-proto``/``x-forwarded-port`` are ``http``/the local port, unless the
caller already sent them (a tunnel such as ngrok in front, which is what Twilio then signs).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt

from leadtide_local.auth import claims_as_strings, verify_token
from leadtide_local.resources import ACCOUNT_ID, FunctionSpec, ResourceMap

__all__ = [
    "LOCAL_PREFIX",
    "CorsConfig",
    "HttpApiGateway",
    "HttpRequest",
    "HttpResponse",
    "InvalidResponseError",
    "Route",
    "build_http_event",
    "cors_from_template",
    "find_route",
    "is_textual",
    "json_response",
    "parse_lambda_response",
    "routes_from_template",
]

LOCAL_PREFIX = "/_local/"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
"""API Gateway HTTP APIs refuse a request body over 10 MB with 413 before any integration runs
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html)."""
_TEXT_TYPES = {"application/json", "application/xml", "application/javascript"}
_log = logging.getLogger("leadtide_local.http")


# ---------------------------------------------------------------------- routes
@dataclass(frozen=True)
class Route:
    """One HTTP API route.

    Attributes:
        method: upper-case method, or ``"ANY"``.
        path: ``"/leads/{lead_id}"``, ``"/files/{proxy+}"`` or ``"$default"``.
        function_logical_id: the function the route integrates with.
        event_name: the SAM event that declared it.
        authorizer: the authorizer name, or None for a public route (``Auth: {Authorizer: NONE}`` or no
            default authorizer on the API).
    """

    method: str
    path: str
    function_logical_id: str
    event_name: str
    authorizer: str | None = None

    @property
    def route_key(self) -> str:
        """``"GET /leads/{lead_id}"``, or ``"$default"``."""
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def _segments(self) -> list[str]:
        return self.path.split("/")[1:]

    def match_path(self, raw_path: str) -> dict[str, str] | None:
        """Return the path parameters (percent-decoded) if ``raw_path`` matches this route, else None."""
        if self.path == "$default":
            return {}
        wanted = self._segments()
        given = raw_path.split("/")[1:] if raw_path.startswith("/") else None
        if given is None:
            return None
        parameters: dict[str, str] = {}
        for index, segment in enumerate(wanted):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = given[index:]
                if not rest or not any(rest):
                    return None
                parameters[segment[1:-2]] = unquote("/".join(rest))
                return parameters
            if index >= len(given):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                if not given[index]:
                    return None
                parameters[segment[1:-1]] = unquote(given[index])
            elif segment != given[index]:
                return None
        return parameters if len(given) == len(wanted) else None

    def specificity(self) -> tuple[int, ...]:
        """Sort key, lower = more specific: literal segments beat ``{param}`` beat ``{greedy+}``;
        a named method beats ANY; ``$default`` comes last."""
        if self.path == "$default":
            return (9,)
        kinds = []
        for segment in self._segments():
            if segment.endswith("+}"):
                kinds.append(2)
            elif segment.startswith("{"):
                kinds.append(1)
            else:
                kinds.append(0)
        return (*kinds, 1 if self.method == "ANY" else 0)


def _http_api_properties(template: dict[str, Any], api_ref: Any) -> dict[str, Any]:
    """Properties of the HttpApi a route belongs to (its ``ApiId`` Ref), or Globals.HttpApi for the
    implicit API."""
    resources = template.get("Resources") or {}
    globals_api = (template.get("Globals") or {}).get("HttpApi") or {}
    if isinstance(api_ref, dict) and isinstance(api_ref.get("Ref"), str) and api_ref["Ref"] in resources:
        own = resources[api_ref["Ref"]].get("Properties") or {}
        return {**globals_api, **own}
    return dict(globals_api)


def routes_from_template(template: dict[str, Any], specs: dict[str, FunctionSpec]) -> list[Route]:
    """Collect the HttpApi routes of every function (events of ``Type: HttpApi``).

    Raises:
        NotImplementedError: a route asks for payload format 1.0.
        ValueError: two routes share a route key.
    """
    routes: list[Route] = []
    seen: dict[str, str] = {}
    for spec in specs.values():
        for event in spec.events:
            if event.type != "HttpApi":
                continue
            props = event.properties
            if str(props.get("PayloadFormatVersion", "2.0")) != "2.0":
                raise NotImplementedError(
                    f"{spec.logical_id}.{event.name}: only payload format 2.0 is emulated"
                )
            api = _http_api_properties(template, props.get("ApiId"))
            default_authorizer = (api.get("Auth") or {}).get("DefaultAuthorizer")
            authorizer = (props.get("Auth") or {}).get("Authorizer", default_authorizer)
            if authorizer == "NONE":
                authorizer = None
            path = props.get("Path")
            method = str(props.get("Method", "ANY")).upper()
            route = Route(
                method="ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method,
                path="$default" if path is None else str(path),
                function_logical_id=spec.logical_id,
                event_name=event.name,
                authorizer=authorizer,
            )
            if route.route_key in seen:
                raise ValueError(
                    f"route {route.route_key} is declared twice ({seen[route.route_key]} and {event.name})"
                )
            seen[route.route_key] = event.name
            routes.append(route)
    return routes


def find_route(routes: list[Route], method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
    """The most specific route matching ``method`` and ``raw_path`` and its path parameters, or None."""
    candidates = []
    for route in routes:
        if route.method not in (method, "ANY"):
            continue
        parameters = route.match_path(raw_path)
        if parameters is not None:
            candidates.append((route.specificity(), route, parameters))
    if not candidates:
        return None
    candidates.sort(key=lambda item: item[0])
    return candidates[0][1], candidates[0][2]


# ---------------------------------------------------------------------- CORS
@dataclass(frozen=True)
class CorsConfig:
    """An HttpApi ``CorsConfiguration`` (``true`` means allow everything)."""

    allow_origins: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_properties(cls, value: Any) -> CorsConfig | None:
        """Build from the resolved ``CorsConfiguration`` value; None when CORS is not configured."""
        if value in (None, False):
            return None
        if value is True:
            return cls(allow_origins=("*",), allow_headers=("*",), allow_methods=("*",))

        def strings(key: str) -> tuple[str, ...]:
            return tuple(str(item) for item in value.get(key) or [])

        max_age = value.get("MaxAge")
        return cls(
            allow_origins=strings("AllowOrigins"),
            allow_headers=strings("AllowHeaders"),
            allow_methods=tuple(m.upper() for m in strings("AllowMethods")),
            expose_headers=strings("ExposeHeaders"),
            max_age=int(max_age) if max_age is not None else None,
            allow_credentials=bool(value.get("AllowCredentials", False)),
        )

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether ``origin`` is one of AllowOrigins (or AllowOrigins has ``*``)."""
        return bool(origin) and ("*" in self.allow_origins or origin in self.allow_origins)

    def _allow_origin_value(self, origin: str) -> str:
        return "*" if "*" in self.allow_origins and not self.allow_credentials else origin

    def preflight(self, origin: str | None, method: str, request_headers: str) -> HttpResponse:
        """Answer an OPTIONS preflight: 204, with the CORS headers when origin and method are allowed."""
        headers: list[tuple[str, str]] = []
        method_ok = "*" in self.allow_methods or method.upper() in self.allow_methods
        if origin and self.origin_allowed(origin) and method_ok:
            headers.append(("access-control-allow-origin", self._allow_origin_value(origin)))
            methods = method.upper() if "*" in self.allow_methods else ",".join(self.allow_methods)
            headers.append(("access-control-allow-methods", methods))
            if "*" in self.allow_headers:
                if request_headers:
                    headers.append(("access-control-allow-headers", request_headers))
            elif self.allow_headers:
                headers.append(("access-control-allow-headers", ",".join(self.allow_headers)))
            if self.max_age is not None:
                headers.append(("access-control-max-age", str(self.max_age)))
            if self.allow_credentials:
                headers.append(("access-control-allow-credentials", "true"))
        return HttpResponse(204, headers, b"")

    def decorate(self, origin: str | None, response: HttpResponse) -> None:
        """Add CORS headers to an actual response; API Gateway ignores the backend's own CORS headers."""
        response.headers = [
            (k, v) for k, v in response.headers if not k.lower().startswith("access-control-")
        ]
        if not origin or not self.origin_allowed(origin):
            return
        response.headers.append(("access-control-allow-origin", self._allow_origin_value(origin)))
        if self.expose_headers:
            response.headers.append(("access-control-expose-headers", ",".join(self.expose_headers)))
        if self.allow_credentials:
            response.headers.append(("access-control-allow-credentials", "true"))


def cors_from_template(template: dict[str, Any], resources: ResourceMap) -> CorsConfig | None:
    """The CORS configuration of the template's HttpApi (first one found; Globals.HttpApi otherwise)."""
    for definition in (template.get("Resources") or {}).values():
        if definition.get("Type") == "AWS::Serverless::HttpApi":
            props = {
                **((template.get("Globals") or {}).get("HttpApi") or {}),
                **(definition.get("Properties") or {}),
            }
            return CorsConfig.from_properties(resources.resolve(props.get("CorsConfiguration")))
    globals_api = (template.get("Globals") or {}).get("HttpApi") or {}
    return CorsConfig.from_properties(resources.resolve(globals_api.get("CorsConfiguration")))


# ---------------------------------------------------------------------- requests and events
@dataclass
class HttpRequest:
    """An HTTP request as the local server received it.

    Attributes:
        method: ``"GET"``...
        target: the request target as on the request line: ``"/leads/1?x=2"`` (percent-encoded).
        headers: ``[(name, value)]`` in arrival order, names as sent.
        body: raw body bytes (``b""`` when none).
        source_ip: the peer address.
        server_port: the local port (for ``x-forwarded-port``).
        protocol: ``"HTTP/1.1"``.
    """

    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    server_port: int = 80
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        """The comma-joined value of a header (case-insensitive), or None."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None

    @property
    def raw_path(self) -> str:
        """The path part of the target, still percent-encoded."""
        target = urlsplit(self.target).path if "://" in self.target else self.target.split("?", 1)[0]
        return target or "/"

    @property
    def raw_query(self) -> str:
        """The query string without ``?`` (``""`` when none)."""
        return self.target.split("?", 1)[1] if "?" in self.target else ""


@dataclass
class HttpResponse:
    """An HTTP response: ``status``, ``headers`` as ``[(name, value)]`` (repeats allowed), ``body``."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def json_response(status: int, payload: Any) -> HttpResponse:
    """A JSON response with ``content-type: application/json``."""
    return HttpResponse(
        status, [("content-type", "application/json")], json.dumps(payload, default=str).encode()
    )


def is_textual(content_type: str | None) -> bool:
    """Whether API Gateway passes a body of this content type as text rather than base64.

    Text: ``text/*``, ``application/json``, ``application/xml``, ``application/javascript``. Everything
    else, including ``application/x-www-form-urlencoded`` and no content type, is base64-encoded.
    """
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in _TEXT_TYPES


def _request_id() -> str:
    return base64.b64encode(os.urandom(10)).decode()


def _trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"


def build_http_event(
    request: HttpRequest,
    route: Route | None,
    path_parameters: dict[str, str] | None = None,
    claims: dict[str, Any] | None = None,
    *,
    scopes: list[str] | None = None,
    request_id: str | None = None,
    now: float | None = None,
    api_id: str = "local",
    account_id: str = ACCOUNT_ID,
) -> dict[str, Any]:
    """Turn a request into an API Gateway HTTP API payload format 2.0 event.

    Args:
        request: the request.
        route: the matched route (None: ``$default``).
        path_parameters: decoded path parameters; omitted from the event when empty.
        claims: verified JWT claims for an authorized route (rendered as strings); None for a public route.
        scopes: the token's scopes (``requestContext.authorizer.jwt.scopes``; null for ID tokens).
        request_id: ``requestContext.requestId``; default a random id in API Gateway's style.
        now: request time, epoch seconds; default the current time.
        api_id: ``requestContext.apiId``.
        account_id: ``requestContext.accountId``.

    Returns:
        ``{"version": "2.0", "routeKey", "rawPath", "rawQueryString", "cookies"?, "headers",
        "queryStringParameters"?, "pathParameters"?, "requestContext", "body"?, "isBase64Encoded"}``.
    """
    moment = time.time() if now is None else now
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    forwarded_for = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = (
        f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip
    )
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-forwarded-port", str(request.server_port))
    headers.setdefault("x-amzn-trace-id", _trace_id(moment))

    host = headers.get("host", f"127.0.0.1:{request.server_port}")
    domain_name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    route_key = route.route_key if route is not None else "$default"
    request_id = request_id or _request_id()
    stamp = datetime.fromtimestamp(moment, tz=UTC)
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": stamp.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(moment * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims_as_strings(claims), "scopes": scopes}}

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.raw_query:
        query: dict[str, str] = {}
        for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        if query:
            event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["requestContext"] = context
    encoded = False
    if request.body:
        body: str | None = None
        if is_textual(headers.get("content-type")):
            try:
                body = request.body.decode("utf-8")
            except UnicodeDecodeError:
                body = None
        if body is None:
            body = base64.b64encode(request.body).decode("ascii")
            encoded = True
        event["body"] = body
    event["isBase64Encoded"] = encoded
    return event


# ---------------------------------------------------------------------- responses
class InvalidResponseError(ValueError):
    """The handler's result is not a valid payload 2.0 response (API Gateway answers 500)."""


def parse_lambda_response(result: Any) -> HttpResponse:
    """Turn a handler's result into the HTTP response API Gateway would send (payload format 2.0).

    * A dict with ``statusCode``: status, ``headers`` (values as text), ``multiValueHeaders`` (one header
      per value), ``cookies`` (one ``set-cookie`` each), ``body`` (base64-decoded when
      ``isBase64Encoded``).
    * Anything else is the *inferred* format: 200, ``content-type: application/json``, the body being a
      returned string as is, or the JSON text of any other value.

    Raises:
        InvalidResponseError: ``statusCode`` is not an integer in 100-599, ``body`` is not a string,
            or a base64 body does not decode.
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("content-type", "application/json")], body.encode("utf-8"))
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        raise InvalidResponseError(f"statusCode {result['statusCode']!r} is not an integer") from None
    if not 100 <= status <= 599:
        raise InvalidResponseError(f"statusCode {status} is out of range")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_text(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), _header_text(value)) for value in values or [])
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw_body = result.get("body")
    if raw_body is None:
        payload = b""
    elif not isinstance(raw_body, str):
        raise InvalidResponseError(f"body must be a string, got {type(raw_body).__name__}")
    elif result.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(raw_body, validate=True)
        except ValueError as error:
            raise InvalidResponseError(f"isBase64Encoded body does not decode: {error}") from None
    else:
        payload = raw_body.encode("utf-8")
    return HttpResponse(status, headers, payload)


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------- gateway
class HttpApiGateway:
    """The request pipeline of an HTTP API, independent of sockets.

    ``handle(request)``: ``/_local/`` admin requests go to ``admin``; CORS preflights are answered from
    the CORS configuration; otherwise the most specific route is found (404 when none), its JWT checked
    (401), the payload 2.0 event built and ``invoke(function_logical_id, event)`` called; its result
    becomes the response (500 on an exception or malformed result, traceback logged). Every response
    carries ``apigw-requestid`` and, for allowed origins, the CORS headers.
    """

    def __init__(
        self,
        routes: list[Route],
        invoke: Callable[[str, dict[str, Any]], Any],
        signing_key: bytes,
        *,
        cors: CorsConfig | None = None,
        admin: Callable[[HttpRequest], HttpResponse] | None = None,
        account_id: str = ACCOUNT_ID,
    ):
        self.routes = list(routes)
        self.invoke = invoke
        self.signing_key = signing_key
        self.cors = cors
        self.admin = admin
        self.account_id = account_id

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request (never raises; failures become 4xx/5xx responses)."""
        request_id = _request_id()
        origin = request.header("origin")
        if request.raw_path.startswith(LOCAL_PREFIX) and self.admin is not None:
            try:
                response = self.admin(request)
            except Exception as error:  # process boundary: a failed admin call is a 500, the server goes on
                _log.error(
                    "local admin request %s %s failed:\n%s",
                    request.method,
                    request.target,
                    traceback.format_exc(),
                )
                response = json_response(500, {"message": f"{type(error).__name__}: {error}"})
            return response
        if (
            request.method == "OPTIONS"
            and self.cors is not None
            and origin
            and request.header("access-control-request-method")
        ):
            response = self.cors.preflight(
                origin,
                request.header("access-control-request-method") or "",
                request.header("access-control-request-headers") or "",
            )
            response.headers.append(("apigw-requestid", request_id))
            return response
        response = self._route(request, request_id)
        if self.cors is not None:
            self.cors.decorate(origin, response)
        response.headers.append(("apigw-requestid", request_id))
        return response

    def _authorize(self, request: HttpRequest) -> tuple[dict[str, Any] | None, str | None]:
        """Return (claims, None) or (None, reason)."""
        header = request.header("authorization")
        if not header:
            return None, "missing Authorization header"
        token = header.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            return verify_token(token, self.signing_key), None
        except jwt.InvalidTokenError as error:
            return None, f"{type(error).__name__}: {error}"

    def _route(self, request: HttpRequest, request_id: str) -> HttpResponse:
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return json_response(413, {"message": "Request Entity Too Large"})
        found = find_route(self.routes, request.method, request.raw_path)
        if found is None:
            return json_response(404, {"message": "Not Found"})
        route, parameters = found
        claims = None
        if route.authorizer is not None:
            claims, reason = self._authorize(request)
            if claims is None:
                _log.info("401 for %s %s: %s", request.method, request.raw_path, reason)
                response = json_response(401, {"message": "Unauthorized"})
                if request.header("authorization"):
                    response.headers.append(
                        ("www-authenticate", f'Bearer error="invalid_token" error_description="{reason}"')
                    )
                return response
        scope = (claims or {}).get("scope")
        event = build_http_event(
            request,
            route,
            parameters,
            claims,
            scopes=scope.split() if isinstance(scope, str) else None,
            request_id=request_id,
            account_id=self.account_id,
        )
        try:
            result = self.invoke(route.function_logical_id, event)
        except Exception:  # process boundary: as API Gateway, a handler that raises is a 500
            _log.error(
                "500 for %s %s: %s raised (a bug in Leadtide):\n%s",
                request.method,
                request.raw_path,
                route.function_logical_id,
                traceback.format_exc(),
            )
            return json_response(500, {"message": "Internal Server Error"})
        try:
            return parse_lambda_response(result)
        except InvalidResponseError as error:
            _log.error(
                "500 for %s %s: %s returned a malformed response: %s",
                request.method,
                request.raw_path,
                route.function_logical_id,
                error,
            )
            return json_response(500, {"message": "Internal Server Error"})
