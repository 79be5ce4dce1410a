"""Each API operation declared once, at its view; the OpenAPI 3.1 document is generated from them.

``@operations.get("/quote", operation_id=..., query=QuoteQuery, response=QuoteResponse, ...)``
registers the route on the blueprint and records the declaration. The same declaration runs the
request: it authenticates the caller (``auth``), validates the query string or the JSON body
against the request model and hands the parsed model to the view, checks that the view answered
with the declared response model and a declared status, and sends the model as JSON. The document
is built from the recorded declarations, so it cannot describe an API other than the one that runs.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from errors import ValidationError
from payloads import ErrorResponse
from views.errors import ApiError

__all__ = ["ERROR_RESPONSES", "Operation", "Operations", "json_body", "query_args"]

Q = TypeVar("Q", bound=BaseModel)
View = TypeVar("View", bound=Callable[..., Any])

REF = "#/components/schemas/{model}"
API_KEY_SCHEME = "ApiKeyAuth"

# Error responses by status: the description of when each happens.
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Invalid input: the error names the field, parameter or header at fault"),
    401: ("Unauthorized", "Missing or invalid X-API-Key"),
    403: ("Forbidden", "The key is valid but may not do this (operator only)"),
    404: ("NotFound", "No such resource for this account"),
    409: ("Conflict", "The Idempotency-Key was used before for a different request"),
    415: ("UnsupportedMediaType", "The body is not application/json"),
    422: (
        "Unprocessable",
        "Valid input that cannot be done: insufficient balance, no route, a risk limit (risk_limit)",
    ),
    503: (
        "ServiceUnavailable",
        "A dependency (the database, prices, a venue) cannot answer right now, too many orders wait"
        " to execute, or the operator halted trading (trading_halted); retry later (after Retry-After"
        " seconds when the header is set)",
    ),
}
INFO = {
    "title": "Solroute API",
    "version": "0.1.0",
    "summary": "Smart order routing for Solana tokens across AMM pools, OTC desks and Jupiter",
    "description": "Amounts are exact decimal strings in token units (numbers are accepted on "
    'input and read exactly). Every failure is {"error": {"code", "message", "field"}} '
    "with a 4xx status (503 when a dependency is down). Trading is paper trading.",
}
SECURITY_SCHEMES = {
    API_KEY_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "Create one with `flask accounts create NAME` (a web session works too)",
    }
}
REPLAYED_HEADER = {
    "Idempotent-Replayed": {
        "description": "Always true on a replay",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


# --- request parsing -----------------------------------------------------------------------------


def query_args(model: type[Q]) -> Q:
    """Validate the query string against ``model``; a repeated key or a NUL character is refused."""
    data: dict[str, str] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise ValidationError(f"{key} is given {len(values)} times", field=key)
        if "\x00" in key or "\x00" in values[0]:
            raise ValidationError(f"{key} contains a NUL character", field=key)
        data[key] = values[0]
    return model.model_validate(data)


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKeyError(key)
        data[key] = value
    return data


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not valid JSON")


def json_body() -> dict[str, Any]:
    """The request's JSON object: numbers parsed exactly; NaN, Infinity and repeated keys refused."""
    if request.mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the order as application/json, not {request.mimetype or 'no content type'}",
            "Content-Type",
        )
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        raise ApiError(413, "request_entity_too_large", f"the body is larger than {limit} bytes", None)
    raw = request.get_data(cache=True)
    try:
        body = json.loads(
            raw, parse_float=Decimal, parse_constant=_not_json, object_pairs_hook=_no_duplicates
        )
    except _DuplicateKeyError as exc:
        raise ValidationError(f"{exc.key} is given more than once", field=exc.key) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}", None) from exc
    except RecursionError as exc:
        raise ApiError(400, "malformed_json", "the body is nested too deeply", None) from exc
    if not isinstance(body, dict):
        kind = "an array" if isinstance(body, list) else "a scalar"
        raise ApiError(400, "invalid_input", f"the body must be a JSON object, not {kind}", None)
    return body


# --- declarations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One API operation as declared at its view (``path`` is the OpenAPI template)."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    response: type[BaseModel] | None  # None: a free-form JSON object (the document itself)
    query: type[BaseModel] | None = None  # None: the query string is not read
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = (400,)
    auth: Callable[[], object] | None = None  # who is calling; its result is the view's first argument
    status: int = 200
    also: tuple[tuple[int, str], ...] = ()  # more statuses answering with the response model
    replayable: bool = False  # Idempotency-Key: a 200 replay carries Idempotent-Replayed
    path_params: tuple[dict[str, Any], ...] = ()
    headers: tuple[dict[str, Any], ...] = ()

    @property
    def statuses(self) -> frozenset[int]:
        """The statuses a view may answer with (errors are raised, not returned)."""
        return frozenset((self.status, *(status for status, _ in self.also)))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _openapi_path(prefix: str, rule: str) -> tuple[str, list[str]]:
    """A Flask rule as an OpenAPI path template (``<order_id>`` → ``{orderId}``), and its variables."""
    names: list[str] = []

    def variable(match: re.Match[str]) -> str:
        names.append(_camel(match.group(1)))
        return "{" + names[-1] + "}"

    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", variable, prefix + rule), names


class Operations:
    """The operations of one blueprint: a route decorator that records what it declares."""

    def __init__(self, blueprint: Blueprint, tags: tuple[str, ...]) -> None:
        self.blueprint = blueprint
        self.tags = tags
        self.declared: list[Operation] = []

    def get(self, rule: str, **declaration: Any) -> Callable[[View], View]:
        """Declare and route a GET operation (see ``Operation`` for the declaration's fields)."""
        return self._route("get", rule, **declaration)

    def post(self, rule: str, **declaration: Any) -> Callable[[View], View]:
        """Declare and route a POST operation."""
        return self._route("post", rule, **declaration)

    def put(self, rule: str, **declaration: Any) -> Callable[[View], View]:
        """Declare and route a PUT operation."""
        return self._route("put", rule, **declaration)

    def delete(self, rule: str, **declaration: Any) -> Callable[[View], View]:
        """Declare and route a DELETE operation."""
        return self._route("delete", rule, **declaration)

    def _route(self, method: str, rule: str, **declaration: Any) -> Callable[[View], View]:
        path, variables = _openapi_path(self.blueprint.url_prefix or "", rule)
        op = Operation(method=method, path=path, **declaration)
        if op.tag not in self.tags:
            raise ValueError(f"{op.operation_id}: tag {op.tag!r} is not one of {self.tags}")
        if [p["name"] for p in op.path_params] != variables:
            raise ValueError(f"{op.operation_id}: declare the path parameters {variables}")
        if any(status not in ERROR_RESPONSES for status in op.errors):
            raise ValueError(f"{op.operation_id}: an error status without a description")
        self.declared.append(op)

        def decorate(view: View) -> View:
            @functools.wraps(view)
            def run(**path_values: Any) -> ResponseReturnValue:
                args: list[object] = []
                if op.auth is not None:
                    args.append(op.auth())
                if op.query is not None:
                    parsed = query_args(op.query)
                    if op.query.model_fields:  # a model without fields only refuses parameters
                        args.append(parsed)
                if op.body is not None:
                    args.append(op.body.model_validate(json_body()))
                return _respond(op, view(*args, **path_values))

            self.blueprint.add_url_rule(rule, view.__name__, run, methods=[method.upper()])
            return view

        return decorate

    @functools.cached_property
    def _document(self) -> dict[str, Any]:
        return _build(self.declared, self.tags)

    def document(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document (a fresh copy of the one built at first use)."""
        return copy.deepcopy(self._document)


def _respond(op: Operation, result: Any) -> ResponseReturnValue:
    """The view's answer as JSON, after checking it is the declared model with a declared status."""
    body, status, headers = result, op.status, None
    if isinstance(result, tuple):
        body, status, *rest = result
        headers = rest[0] if rest else None
    if op.response is not None and not isinstance(body, op.response):
        raise TypeError(f"{op.operation_id} answered {type(body).__name__}, not {op.response.__name__}")
    if status not in op.statuses:
        raise TypeError(f"{op.operation_id} answered {status}, which it does not declare")
    response: Response = jsonify(
        body.model_dump(mode="json", by_alias=True, exclude_unset=True)
        if isinstance(body, BaseModel)
        else body
    )
    response.status_code = status
    if headers:
        response.headers.update(headers)
    return response


# --- the document --------------------------------------------------------------------------------


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop the null branch of an optional's schema."""
    schema = {k: v for k, v in schema.items() if k != "title"}
    branches = schema.get("anyOf")
    if branches is not None:
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1:
            del schema["anyOf"]
            schema = {**kept[0], **schema}
        else:
            schema["anyOf"] = kept
    if schema.get("default", 0) is None:
        del schema["default"]
    return schema


def _parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    """One query parameter per field of ``model`` (by its alias: ``from``, not ``from_``)."""
    schema = model.model_json_schema(by_alias=True, ref_template=REF)
    components.update(schema.get("$defs", {}))
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param_schema = _without_null(prop)
        description = param_schema.pop("description", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if description:
            param["description"] = description
        param["schema"] = param_schema
        params.append(param)
    return params


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _operation(op: Operation, refs: dict[Any, dict[str, Any]], components: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    params = [*op.path_params, *op.headers]
    if op.query is not None:
        params += _parameters(op.query, components)
    if params:
        body["parameters"] = params
    if op.body is not None:
        body["requestBody"] = {"required": True, "content": _json(refs[op.body])}
    ok = refs[op.response] if op.response is not None else {"type": "object"}
    responses: dict[str, Any] = {
        str(op.status): {"description": "Accepted" if op.status == 202 else "OK", "content": _json(ok)}
    }
    for status, description in op.also:
        responses[str(status)] = {"description": description, "content": _json(ok)}
        if op.replayable and status == 200:
            responses[str(status)]["headers"] = copy.deepcopy(REPLAYED_HEADER)
    auth_errors = (401,) if op.auth is not None and 401 not in op.errors else ()
    for status in (*op.errors, *auth_errors):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    body["responses"] = dict(sorted(responses.items()))
    if op.auth is not None:
        body["security"] = [{API_KEY_SCHEME: []}]
    return body


def _build(operations: list[Operation], tags: tuple[str, ...]) -> dict[str, Any]:
    # Bodies and responses are components (referenced); query models become parameters only.
    models: list[type[BaseModel]] = [ErrorResponse]
    for op in operations:
        models += [m for m in (op.body, op.response) if m is not None and m not in models]
    mapping, definitions = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    refs: dict[Any, dict[str, Any]] = {model: ref for (model, _mode), ref in mapping.items()}
    components: dict[str, Any] = dict(definitions.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs, components)
    error_ref = refs[ErrorResponse]
    return {
        "openapi": "3.1.0",
        "info": dict(INFO),
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "responses": {
                name: {"description": description, "content": _json(error_ref)}
                for name, description in ERROR_RESPONSES.values()
            },
            "securitySchemes": copy.deepcopy(SECURITY_SCHEMES),
        },
    }
