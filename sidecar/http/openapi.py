"""The OpenAPI 3.1 document of the sidecar, built from the routes as they are registered."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from .helpers import PREFIX, RouteDoc, route_doc
from .schemas import ErrorBody

STATUS_WORDS = {201: "Created", 202: "Accepted: queued"}


def documented_routes(routes: Iterable[web.AbstractRouteDef]) -> list[tuple[str, str, RouteDoc]]:
    """(method, path under the prefix, doc) of every documented route in registration order."""
    found = []
    for route in routes:
        doc = route_doc(getattr(route, "handler", None))
        path = getattr(route, "path", "")
        if doc is not None and path.startswith(PREFIX):
            found.append((route.method.lower(), path[len(PREFIX) :], doc))
    return found


def openapi_document(prefix: str, version: str, routes: list[tuple[str, str, RouteDoc]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the given routes."""
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error = {
        "description": "An error in the one error shape",
        "content": {"application/json": {"schema": ref(ErrorBody)}},
    }
    paths: dict[str, Any] = {}
    for method, path, doc in routes:
        ok_schema = ref(doc.answer) if doc.answer else {"type": "object"}
        op: dict[str, Any] = {
            "summary": doc.summary,
            "responses": {
                str(doc.status): {
                    "description": STATUS_WORDS.get(doc.status, "OK"),
                    "content": {"application/json": {"schema": ok_schema}},
                },
                "default": error,
            },
        }
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        parameters = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": schema} for name, schema in doc.query
        ]
        if parameters:
            op["parameters"] = parameters
        if doc.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(doc.body)}}}
        paths.setdefault(prefix + path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AInfluencer sidecar",
            "version": version,
            "description": "Every time in an answer is ISO 8601 in UTC with its offset (RFC 3339 date-time).",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
