"""Query parameters of the Api function's routes, checked against what each route declares.

Powertools validates the query parameters a route declares (``Annotated[..., Query()]``) and ignores the
rest, so ``GET /leads?tags=vip`` (a misspelt ``tag``) would answer every lead as if unfiltered. One
middleware, :func:`check_query_parameters`, runs for every route of the resolver after Powertools'
validation and

* answers 422 ``unknown_query_parameter`` naming every parameter the route does not declare (the
  declaration is the route's own Powertools metadata, the same that generates its OpenAPI parameters);
* fills the route's *deepObject* parameters: a parameter declared as a mapping (``dict[str, str]``) is
  sent as ``name[key]=value`` (OpenAPI ``style: deepObject, explode: true``), e.g.
  ``custom_field[plan]=pro``, and reaches the route as ``{"plan": "pro"}``.

:func:`document_query_parameters` writes the same rules into the OpenAPI document: mapping parameters get
``style: deepObject``, and every operation lists the 422.
"""

from __future__ import annotations

import re
import types
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from leadtide.api.errors import JSON, documented_errors
from leadtide.models.errors import UnknownQueryParameterError, UnprocessableError

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

_DEEP_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[([^\[\]]+)\]$")
MAX_DEEP_OBJECT_KEYS = 50
"""Most ``name[key]`` entries one deepObject parameter may carry."""


def query_pairs(event: Any) -> list[tuple[str, str]]:
    """The request's query parameters as (name, value) pairs, in order, repeats kept: parsed from the
    payload 2.0 ``rawQueryString`` (exact), else from ``queryStringParameters`` (API Gateway joins repeated
    values there with commas)."""
    raw = event.get("rawQueryString") or ""
    if raw:
        return parse_qsl(raw, keep_blank_values=True)
    return [(name, str(value)) for name, value in (event.get("queryStringParameters") or {}).items()]


def _is_mapping(annotation: Any) -> bool:
    """Whether a parameter's annotation is a mapping type (``dict[...]``, optionally ``| None``)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_mapping(arg) for arg in get_args(annotation) if arg is not type(None))
    return origin in (dict, Mapping) or annotation is dict


def declared_query_parameters(route: Any) -> tuple[frozenset[str], dict[str, Any]]:
    """The query parameters a Powertools route declares: (every name, the deepObject ones by name with
    their Powertools ``ModelField``), read from ``route.dependant.query_params`` (the fields its OpenAPI
    parameters are generated from)."""
    params = route.dependant.query_params
    names = frozenset(p.alias for p in params)
    deep = {p.alias: p for p in params if _is_mapping(p.field_info.annotation)}
    return names, deep


def read_query_parameters(
    pairs: Iterable[tuple[str, str]], names: frozenset[str], deep: Collection[str]
) -> dict[str, dict[str, str]]:
    """Check ``pairs`` against the declared ``names`` and collect the deepObject ones (``deep``).

    Returns:
        deepObject parameter -> {key: value} for those sent (``custom_field[plan]=pro`` ->
        ``{"custom_field": {"plan": "pro"}}``).

    Raises:
        UnknownQueryParameterError (422): a name the route does not declare (``details`` lists each one);
            a deepObject parameter sent flat (``custom_field=x``) is unknown too.
        UnprocessableError (422): a deepObject key sent twice, or more than
            :data:`MAX_DEEP_OBJECT_KEYS` keys.
    """
    unknown: list[str] = []
    objects: dict[str, dict[str, str]] = {}
    for name, value in pairs:
        if name in names and name not in deep:
            continue
        match = _DEEP_NAME.match(name)
        if match is None or match.group(1) not in deep:
            if name not in unknown:
                unknown.append(name)
            continue
        target, key = match.groups()
        entries = objects.setdefault(target, {})
        if key in entries:
            raise UnprocessableError(
                f"{name} is given more than once; give one value per key",
                details=[{"field": f"query.{name}", "problem": "given more than once"}],
            )
        if len(entries) == MAX_DEEP_OBJECT_KEYS:
            raise UnprocessableError(
                f"{target} takes at most {MAX_DEEP_OBJECT_KEYS} keys",
                details=[{"field": f"query.{target}", "problem": f"more than {MAX_DEEP_OBJECT_KEYS} keys"}],
            )
        entries[key] = value
    if unknown:
        accepted = ", ".join(sorted(names)) or "no query parameters"
        listed = ", ".join(f"'{name}'" for name in unknown)
        raise UnknownQueryParameterError(
            f"unknown query parameter {listed}; this route accepts {accepted}",
            details=[{"field": f"query.{name}", "problem": "unknown query parameter"} for name in unknown],
        )
    return objects


def check_query_parameters(app: Any, next_middleware: NextMiddleware) -> Response:
    """Powertools middleware (``app.use([check_query_parameters])``): refuse undeclared query parameters
    and hand deepObject parameters to the route, see the module docstring. Runs after Powertools' request
    validation, before the route, so a refused request changes nothing.

    Raises:
        UnknownQueryParameterError, UnprocessableError (422): see :func:`read_query_parameters`.
        RequestValidationError (422 through the resolver's handler): a deepObject value its declared
            type refuses (a key or value pattern, too many keys).
    """
    route = app.context["_route"]
    names, deep = declared_query_parameters(route)
    objects = read_query_parameters(query_pairs(app.current_event), names, deep)
    errors: list[Any] = []
    for name, value in objects.items():
        field = deep[name]
        validated, problems = field.validate(value, loc=("query", name))
        if problems:  # name each by its own parameter: query.custom_field[Bad-Key]
            errors += [
                {**e, "loc": ("query", f"{name}[{e['loc'][2]}]")} if len(e["loc"]) > 2 else e
                for e in problems
            ]
        else:
            app.context["_route_args"][field.name] = validated
    if errors:
        raise RequestValidationError(errors)
    return next_middleware(app)


def document_query_parameters(document: dict[str, Any]) -> None:
    """Write :func:`check_query_parameters`' rules into an OpenAPI document (in place): each query
    parameter whose schema is an object becomes ``style: deepObject, explode: true`` with that object as
    its schema (keys outside its ``patternProperties`` refused), and every operation documents the 422 an
    unknown query parameter gets."""
    reference = {"$ref": "#/components/schemas/ErrorResponse"}
    (unprocessable,) = documented_errors(422).values()
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                schema = parameter.get("schema", {})
                variants = schema.get("anyOf", [schema])
                objects = [v for v in variants if v.get("type") == "object"]
                if objects:
                    parameter["schema"] = {
                        **objects[0],
                        **{k: schema[k] for k in ("title", "description") if k in schema},
                    }
                    if "patternProperties" in objects[0]:  # keys outside the pattern are refused
                        parameter["schema"].setdefault("additionalProperties", False)
                    parameter["style"], parameter["explode"] = "deepObject", True
            operation["responses"].setdefault(
                "422",
                {"description": unprocessable["description"], "content": {JSON: {"schema": reference}}},
            )
