"""leadtide_local.http_api without sockets: payload 2.0 events, routing, auth, CORS, responses.

Reference: API Gateway developer guide, "Create AWS Lambda proxy integrations for HTTP APIs"
(payload format version 2.0).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadtide_local.auth import issue_token
from leadtide_local.http_api import (
    MAX_PAYLOAD_BYTES,
    CorsConfig,
    HttpApiGateway,
    HttpRequest,
    HttpResponse,
    InvalidResponseError,
    Route,
    build_http_event,
    cors_from_template,
    find_route,
    is_textual,
    parse_lambda_response,
    routes_from_template,
)
from leadtide_local.resources import functions, plan_resources
from leadtide_local.template import load_template

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "local_template" / "template.yaml"
KEY = b"unit-test-key-0123456789abcdef0123"


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(FIXTURE)


@pytest.fixture(scope="module")
def routes(template) -> list[Route]:
    return routes_from_template(template, functions(template, base_dir=FIXTURE.parent))


# ---------------------------------------------------------------- events
def test_event_has_the_payload_2_0_shape():
    # Given a request with repeated headers, cookies, a repeated query key and a JSON body
    request = HttpRequest(
        method="POST",
        target="/things/a%20b?tag=x&tag=y&empty=",
        headers=[
            ("Host", "api.local:3000"),
            ("Content-Type", "application/json"),
            ("X-Multi", "1"),
            ("x-multi", "2"),
            ("Cookie", "a=1; b=2"),
            ("User-Agent", "tests"),
        ],
        body=b'{"k": "v"}',
        source_ip="10.1.2.3",
        server_port=3000,
    )
    route = Route("POST", "/things/{thing_id}", "Fn", "Ev", authorizer="Jwt")
    # When building the event for an authorized route
    event = build_http_event(
        request,
        route,
        {"thing_id": "a b"},
        {"sub": "u", "iat": 5, "flag": True},
        request_id="rid",
        now=1583348638.39,
    )
    # Then it matches what API Gateway sends
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /things/{thing_id}"
    assert event["rawPath"] == "/things/a%20b"
    assert event["rawQueryString"] == "tag=x&tag=y&empty="
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "1,2"
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-forwarded-port"] == "3000"
    assert event["headers"]["x-forwarded-for"] == "10.1.2.3"
    assert event["queryStringParameters"] == {"tag": "x,y", "empty": ""}
    assert event["pathParameters"] == {"thing_id": "a b"}
    assert event["body"] == '{"k": "v"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/things/a%20b",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.1.2.3",
        "userAgent": "tests",
    }
    assert (context["domainName"], context["domainPrefix"]) == ("api.local", "api")
    assert (context["stage"], context["routeKey"], context["requestId"]) == (
        "$default",
        event["routeKey"],
        "rid",
    )
    assert context["time"] == "04/Mar/2020:19:03:58 +0000"
    assert context["timeEpoch"] == 1583348638390
    assert context["authorizer"] == {
        "jwt": {"claims": {"sub": "u", "iat": "5", "flag": "true"}, "scopes": None}
    }


def test_optional_keys_are_omitted_for_a_bare_public_request():
    # Given a GET without query, cookies or body, on a public route without parameters
    request = HttpRequest(method="GET", target="/health", headers=[("host", "h")])
    # When building the event
    event = build_http_event(request, Route("GET", "/health", "Fn", "Ev"), {}, None)
    # Then the optional keys are absent, as in API Gateway's events
    for key in ("cookies", "queryStringParameters", "pathParameters", "body"):
        assert key not in event
    assert "authorizer" not in event["requestContext"]
    assert event["isBase64Encoded"] is False


def test_forwarded_headers_from_a_proxy_in_front_are_kept():
    # Given a tunnel (e.g. ngrok) in front that already says https/443 and the client's address
    request = HttpRequest(
        method="POST",
        target="/webhooks/twilio",
        headers=[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Port", "443"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
        source_ip="127.0.0.1",
        server_port=3000,
    )
    # When building the event
    headers = build_http_event(request, None)["headers"]
    # Then the public scheme/port the caller used survive, and the peer is appended
    assert (headers["x-forwarded-proto"], headers["x-forwarded-port"]) == ("https", "443")
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"


@pytest.mark.parametrize(
    ("content_type", "textual"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/plain", True),
        ("text/html", True),
        ("application/xml", True),
        ("application/javascript", True),
        ("application/x-www-form-urlencoded", False),
        ("application/octet-stream", False),
        ("image/png", False),
        ("multipart/form-data; boundary=x", False),
        (None, False),
    ],
)
def test_which_bodies_are_base64_encoded(content_type, textual):
    # Given a body with this content type
    headers = [("content-type", content_type)] if content_type else []
    request = HttpRequest(method="POST", target="/x", headers=headers, body="Body=hé".encode())
    # When building the event
    event = build_http_event(request, None)
    # Then only text types are passed as text; the rest (forms included) are base64, as AWS does
    assert is_textual(content_type) is textual
    assert event["isBase64Encoded"] is (not textual)
    decoded = event["body"] if textual else base64.b64decode(event["body"]).decode()
    assert decoded == "Body=hé"


def test_invalid_utf8_in_a_text_body_falls_back_to_base64():
    # Given bytes that are not UTF-8 under a text content type
    request = HttpRequest(
        method="POST", target="/x", headers=[("content-type", "text/plain")], body=b"\xff\xfe"
    )
    # When building the event / Then the body is base64 rather than corrupted
    event = build_http_event(request, None)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


# ---------------------------------------------------------------- routes
def test_routes_come_from_the_template_with_their_authorization(routes):
    # Given the fixture template's HttpApi events
    by_key = {route.route_key: route for route in routes}
    # Then every route is there, with the default authorizer unless Auth.Authorizer is NONE
    assert by_key["GET /things/{thing_id}"].authorizer == "LocalJwt"
    assert by_key["POST /events"].authorizer == "LocalJwt"
    assert by_key["ANY /public/{proxy+}"].authorizer is None
    assert by_key["GET /boom"].authorizer is None
    assert by_key["GET /pt/things/{thing_id}"].function_logical_id == "PowertoolsApiFunction"


def test_route_matching_prefers_the_most_specific(routes):
    # Given overlapping routes
    extra = [
        *routes,
        Route("GET", "/things/special", "Special", "Ev"),
        Route("ANY", "/things/{thing_id}", "AnyThing", "Ev"),
    ]
    # When matching requests
    # Then literal beats parameter, a named method beats ANY, greedy takes the rest
    assert find_route(extra, "GET", "/things/special")[0].function_logical_id == "Special"
    route, params = find_route(extra, "GET", "/things/42")
    assert (route.route_key, route.function_logical_id, params) == (
        "GET /things/{thing_id}",
        "EchoFunction",
        {"thing_id": "42"},
    )
    assert find_route(extra, "DELETE", "/things/42")[0].function_logical_id == "AnyThing"
    route, params = find_route(extra, "PATCH", "/public/a/b%2Fc/d")
    assert (route.route_key, params) == ("ANY /public/{proxy+}", {"proxy": "a/b/c/d"})
    # And nothing matches a wrong method, a missing segment or an empty greedy tail
    assert find_route(routes, "DELETE", "/boom") is None
    assert find_route(routes, "GET", "/things") is None
    assert find_route(routes, "GET", "/things/") is None
    assert find_route(routes, "GET", "/public/") is None
    assert find_route(routes, "GET", "/things/1/extra") is None


@given(
    st.lists(st.text(alphabet="abcxyz0123-_.", min_size=1, max_size=8), min_size=1, max_size=5),
    st.integers(min_value=0, max_value=4),
)
def test_a_parameter_route_matches_any_concrete_segment(segments, position):
    # Given a path and a route with one of its segments replaced by a parameter
    position %= len(segments)
    pattern = ["{p}" if i == position else s for i, s in enumerate(segments)]
    route = Route("GET", "/" + "/".join(pattern), "Fn", "Ev")
    # When matching the concrete path / Then the parameter captures that segment
    assert route.match_path("/" + "/".join(segments)) == {"p": segments[position]}
    # And a path one segment longer does not match
    assert route.match_path("/" + "/".join([*segments, "more"])) is None


def test_payload_format_1_0_is_refused(tmp_path):
    # Given a route asking for payload format 1.0
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Handler": "m.h",
                    "Events": {
                        "E": {
                            "Type": "HttpApi",
                            "Properties": {"Path": "/", "Method": "GET", "PayloadFormatVersion": "1.0"},
                        }
                    },
                },
            }
        }
    }
    # When collecting routes / Then it is refused rather than emulated wrongly
    with pytest.raises(NotImplementedError, match=r"2\.0"):
        routes_from_template(template, functions(template, base_dir=tmp_path))


# ---------------------------------------------------------------- responses
def test_a_full_response_is_translated():
    # Given a payload 2.0 response with headers, multi-value headers, cookies and a base64 body
    result = {
        "statusCode": 201,
        "headers": {"content-type": "image/png", "x-n": 5},
        "multiValueHeaders": {"x-m": ["a", "b"]},
        "cookies": ["a=1", "b=2; Secure"],
        "body": base64.b64encode(b"\x89PNG").decode(),
        "isBase64Encoded": True,
    }
    # When parsing it
    response = parse_lambda_response(result)
    # Then status, headers and decoded body are what the client gets
    assert response.status == 201
    assert ("x-n", "5") in response.headers
    assert [v for k, v in response.headers if k == "x-m"] == ["a", "b"]
    assert [v for k, v in response.headers if k == "set-cookie"] == ["a=1", "b=2; Secure"]
    assert response.body == b"\x89PNG"


@pytest.mark.parametrize(
    ("result", "body"),
    [({"ok": True}, b'{"ok": true}'), ("Hello from Lambda!", b"Hello from Lambda!"), ([1, 2], b"[1, 2]")],
)
def test_the_inferred_format_is_200_json(result, body):
    # Given a handler result without statusCode / When parsing / Then 200 application/json
    response = parse_lambda_response(result)
    assert (response.status, response.body) == (200, body)
    assert ("content-type", "application/json") in response.headers


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "abc"},
        {"statusCode": 99},
        {"statusCode": 200, "body": {"a": 1}},
        {"statusCode": 200, "body": "!!", "isBase64Encoded": True},
    ],
)
def test_malformed_responses_are_rejected(result):
    # Given a malformed response / When parsing / Then it is an error (API Gateway answers 500)
    with pytest.raises(InvalidResponseError):
        parse_lambda_response(result)


# ---------------------------------------------------------------- gateway
class _Recorder:
    def __init__(self, result=None, error: Exception | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.result = result if result is not None else {"statusCode": 200, "body": "ok"}
        self.error = error

    def __call__(self, function_logical_id: str, event: dict):
        self.calls.append((function_logical_id, event))
        if self.error is not None:
            raise self.error
        return self.result


def _gateway(routes, invoke, template=None) -> HttpApiGateway:
    cors = cors_from_template(template, plan_resources(template)) if template else None
    return HttpApiGateway(routes, invoke, KEY, cors=cors)


def test_an_authorized_route_needs_a_valid_token(routes):
    # Given the gateway and a recorder in place of the functions
    invoke = _Recorder()
    gateway = _gateway(routes, invoke)
    good = issue_token("acme", "manager", "u-7", key=KEY)
    expired = issue_token("acme", "manager", key=KEY, ttl_seconds=10, now=1_000_000)
    foreign = issue_token("acme", "manager", key=b"another-key-0123456789abcdef012345")
    # When calling without, with bad and with good tokens
    missing = gateway.handle(HttpRequest("GET", "/things/1"))
    bad = [
        gateway.handle(HttpRequest("GET", "/things/1", [("Authorization", f"Bearer {t}")]))
        for t in (expired, foreign, "junk")
    ]
    ok = gateway.handle(HttpRequest("GET", "/things/1", [("Authorization", f"Bearer {good}")]))
    bare = gateway.handle(HttpRequest("GET", "/things/1", [("Authorization", good)]))
    # Then missing/invalid tokens get API Gateway's 401 and never reach the function
    for response in (missing, *bad):
        assert (response.status, json.loads(response.body)) == (401, {"message": "Unauthorized"})
    assert (ok.status, bare.status) == (200, 200)
    assert len(invoke.calls) == 2
    claims = invoke.calls[0][1]["requestContext"]["authorizer"]["jwt"]["claims"]
    assert (claims["custom:tenant_id"], claims["custom:role"], claims["sub"]) == ("acme", "manager", "u-7")
    assert isinstance(claims["exp"], str)


def test_unknown_routes_and_methods_are_404(routes):
    # Given the gateway
    invoke = _Recorder()
    gateway = _gateway(routes, invoke)
    # When calling an unknown path and a known path with another method
    for request in (HttpRequest("GET", "/nope"), HttpRequest("DELETE", "/boom")):
        response = gateway.handle(request)
        # Then API Gateway's 404 body, and no invocation
        assert (response.status, json.loads(response.body)) == (404, {"message": "Not Found"})
    assert invoke.calls == []


def test_a_body_over_api_gateways_10_mb_is_a_413_before_any_function(routes):
    # Given the gateway
    invoke = _Recorder()
    gateway = _gateway(routes, invoke)
    # When a body one byte over API Gateway's payload limit arrives, and one at the limit
    over = gateway.handle(HttpRequest("POST", "/boom", body=b"x" * (MAX_PAYLOAD_BYTES + 1)))
    at = gateway.handle(HttpRequest("GET", "/boom", body=b"x" * MAX_PAYLOAD_BYTES))
    # Then API Gateway's 413, never invoking the function; the one at the limit goes through
    assert (over.status, json.loads(over.body)) == (413, {"message": "Request Entity Too Large"})
    assert at.status == 200 and len(invoke.calls) == 1


def test_a_handler_error_is_a_loud_500(routes, caplog):
    # Given a function that raises
    gateway = _gateway(routes, _Recorder(error=RuntimeError("kaput")))
    # When calling its route
    response = gateway.handle(HttpRequest("GET", "/boom"))
    # Then 500 with API Gateway's body, and the traceback is logged as an error
    assert (response.status, json.loads(response.body)) == (500, {"message": "Internal Server Error"})
    assert any(r.levelname == "ERROR" and "kaput" in r.getMessage() for r in caplog.records)


def test_a_malformed_response_is_a_500(routes):
    # Given a function returning a bad statusCode / When calling / Then 500
    response = _gateway(routes, _Recorder(result={"statusCode": "nope"})).handle(HttpRequest("GET", "/boom"))
    assert response.status == 500


def test_cors_preflight_and_response_headers(routes, template):
    # Given the fixture's CorsConfiguration (one origin, GET/POST/OPTIONS)
    invoke = _Recorder(
        result={"statusCode": 200, "headers": {"access-control-allow-origin": "*"}, "body": ""}
    )
    gateway = _gateway(routes, invoke, template)
    origin = ("Origin", "http://localhost:5173")
    # When a preflight arrives for an authorized route (no token)
    preflight = gateway.handle(
        HttpRequest("OPTIONS", "/things/1", [origin, ("Access-Control-Request-Method", "GET")])
    )
    # Then it is answered by the gateway (204, allow headers) without auth or invocation
    headers = dict(preflight.headers)
    assert preflight.status == 204
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert headers["access-control-allow-methods"] == "GET,POST,OPTIONS"
    assert headers["access-control-allow-headers"] == "authorization,content-type"
    assert headers["access-control-max-age"] == "600"
    assert invoke.calls == []
    # And a preflight from another origin gets no CORS headers
    other = gateway.handle(
        HttpRequest(
            "OPTIONS",
            "/things/1",
            [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "GET")],
        )
    )
    assert not any(k.startswith("access-control-") for k, _ in other.headers)
    # And actual responses carry the configured origin, replacing the backend's own CORS headers
    actual = gateway.handle(HttpRequest("GET", "/boom", [origin]))
    assert [v for k, v in actual.headers if k == "access-control-allow-origin"] == ["http://localhost:5173"]
    unauthorized = gateway.handle(HttpRequest("GET", "/things/1", [origin]))
    assert ("access-control-allow-origin", "http://localhost:5173") in unauthorized.headers


def test_cors_true_allows_everything():
    # Given CorsConfiguration: true / When a preflight asks for PUT with a custom header
    cors = CorsConfig.from_properties(True)
    response = cors.preflight("https://x.example", "PUT", "x-custom")
    # Then any origin, the method and the headers asked for are allowed
    headers = dict(response.headers)
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "PUT"
    assert headers["access-control-allow-headers"] == "x-custom"
    assert CorsConfig.from_properties(None) is None


def test_local_admin_paths_bypass_routing(routes):
    # Given an admin handler for /_local/
    seen = []

    def admin(request: HttpRequest) -> HttpResponse:
        seen.append(request.raw_path)
        return HttpResponse(200, [], b"admin")

    gateway = HttpApiGateway(routes, _Recorder(), KEY, admin=admin)
    # When calling an admin path / Then the admin handler answers, not a route
    assert gateway.handle(HttpRequest("POST", "/_local/drain")).body == b"admin"
    assert seen == ["/_local/drain"]
