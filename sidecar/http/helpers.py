"""Request helpers every route module uses: the error shape, JSON bodies, cross-site and rebinding refusal."""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import os
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from pydantic import BaseModel, ValidationError

from ..core.errors import AInfError, ErrorCode

PREFIX = "/ainfluencer/v1"
API_VERSION = "v1"
log = logging.getLogger("ainfluencer")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: AInfError) -> web.Response:
    """The one error shape: {error, message, remediation[], detail, job_id}."""
    return web.json_response(error.to_dict(), status=error.status)


def _validation_error(exc: ValidationError) -> AInfError:
    problems = [
        {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    return AInfError(
        ErrorCode.VALIDATION_ERROR, "The request body is not valid.", detail={"problems": problems}
    )


def guarded(handler: Handler) -> Handler:
    """Turn every failure of a handler into the error shape; unexpected ones are logged, never shown raw."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AInfError as exc:
            return error_response(exc)
        except ValidationError as exc:
            return error_response(_validation_error(exc))
        except web.HTTPException:
            raise
        except Exception:
            log.exception("ainfluencer: %s %s failed", request.method, request.path)
            return error_response(AInfError(ErrorCode.INTERNAL_ERROR))

    return wrapper


MAX_JSON_BYTES = 1024 * 1024
ALLOWED_HOSTS_ENV = "AINFLUENCER_ALLOWED_HOSTS"


def refuse_cross_site(request: web.Request) -> None:
    """Refuse a state change sent by another site's page (ComfyUI only checks Origin for loopback hosts)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    foreign = fetch_site is not None and fetch_site not in ("same-origin", "none")
    if origin is not None:
        parsed = urllib.parse.urlsplit(origin)
        foreign = foreign or origin == "null" or parsed.netloc.lower() != (request.host or "").lower()
    if foreign:
        raise AInfError(
            ErrorCode.CROSS_SITE_REFUSED,
            detail={"origin": (origin or "")[:200], "sec_fetch_site": (fetch_site or "")[:50]},
        )
    refuse_rebound_host(request)


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def refuse_rebound_host(request: web.Request) -> None:
    """Refuse DNS rebinding: a browser on this machine reaching us under a foreign host name.

    A page from attacker.example whose name was re-pointed at 127.0.0.1 is "same origin" to the browser, so
    Origin checks pass; its requests still carry `Host: attacker.example`. From a loopback peer we accept
    only IP literals, `localhost` names and the names listed in `AINFLUENCER_ALLOWED_HOSTS`.
    """
    if not _is_loopback(request.remote):
        return
    hostname = (urllib.parse.urlsplit(f"//{request.host or ''}").hostname or "").lower().rstrip(".")
    try:
        ipaddress.ip_address(hostname)
        return
    except ValueError:
        pass
    allowed = {h.strip().lower() for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()}
    if hostname == "localhost" or hostname.endswith(".localhost") or hostname in allowed:
        return
    raise AInfError(
        ErrorCode.CROSS_SITE_REFUSED,
        f"Requests for host {hostname[:100]!r} are refused on this machine (DNS rebinding protection).",
        remediation=[
            "Open ComfyUI at http://127.0.0.1:<port> or http://localhost:<port>.",
            f"To use this host name on purpose, add it to {ALLOWED_HOSTS_ENV} (comma-separated).",
        ],
        detail={"host": hostname[:100]},
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON bodies")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def require_content_type(
    request: web.Request, expected: str, message: str, remediation: list[str] | None = None
) -> None:
    """VALIDATION_ERROR naming the content type that was sent when it is not the expected one."""
    if request.content_type != expected:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR, message, detail={"content_type": request.content_type},
            remediation=remediation,
        )  # fmt: skip


async def with_file_part(
    request: web.Request, handle: Callable[[Any, str], Awaitable[Any]], max_bytes: int, what: str = "Uploads"
) -> Any:
    """Hand the multipart field `file` (and its file name) to `handle`; cross-site, oversized and broken
    forms are refused first."""
    refuse_cross_site(request)
    require_content_type(
        request, "multipart/form-data", f"{what} are multipart/form-data with a 'file' field."
    )
    if request.content_length is not None and request.content_length > max_bytes + 64 * 1024:
        raise AInfError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The upload is larger than {max_bytes // (1024 * 1024)} MB.",
            detail={"limit_bytes": max_bytes},
        )
    try:
        reader = await request.multipart()
        async for part in reader:
            if getattr(part, "name", None) == "file" and getattr(part, "filename", None):
                name = urllib.parse.unquote(part.filename)  # some clients percent-encode '/' in names
                return await handle(part, name)
    except (ValueError, KeyError, BadHttpMessage) as exc:  # no boundary, a broken part header, NUL
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "The multipart body could not be read.",
            detail={"reason": str(exc)[:200]},
            remediation=["Send the file as multipart/form-data with a boundary and a 'file' field."],
        ) from None
    raise AInfError(ErrorCode.VALIDATION_ERROR, "The form has no 'file' field with a file name.")


async def json_body(request: web.Request) -> Any:
    """The JSON body of a state-changing request; other content types and other sites are refused (CSRF)."""
    refuse_cross_site(request)
    require_content_type(
        request, "application/json", "This endpoint accepts JSON only.",
        remediation=["Send the body with 'Content-Type: application/json'."],
    )  # fmt: skip
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise AInfError(
            ErrorCode.PAYLOAD_TOO_LARGE, "The JSON body is too large.", detail={"limit_bytes": MAX_JSON_BYTES}
        )
    raw = bytearray()
    while chunk := await request.content.read(64 * 1024):
        raw += chunk
        if len(raw) > MAX_JSON_BYTES:
            raise AInfError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                "The JSON body is too large.",
                detail={"limit_bytes": MAX_JSON_BYTES},
            )
    if not raw.strip():
        return {}
    try:
        return json.loads(
            bytes(raw).decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR, "The body is not valid JSON.", detail=str(exc)[:300]
        ) from None


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within [low, high], or its default when absent."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AInfError(ErrorCode.VALIDATION_ERROR, f"Query {name!r} must be a whole number.") from None
    if not low <= value <= high:
        raise AInfError(ErrorCode.VALIDATION_ERROR, f"Query {name!r} must lie between {low} and {high}.")
    return value


def client_source(request: web.Request) -> str:
    """Who sent a run: the CLI marks its requests with a header, everything else is the API."""
    return "cli" if request.headers.get("X-AInfluencer-Client") == "cli" else "api"


def need(value: Any, what: str) -> Any:
    """A service of the sidecar, or DEPENDENCY_MISSING when this process did not set it up."""
    if value is None:
        raise AInfError(ErrorCode.DEPENDENCY_MISSING, f"The {what} is not set up in this process.")
    return value


@dataclass(frozen=True)
class RouteDoc:
    """What the OpenAPI document says of a route: summary, body and answer models, success status."""

    summary: str
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    status: int = 200
    query: tuple[tuple[str, dict[str, Any]], ...] = ()  # (name, JSON schema) of each query parameter


PAGING = (
    ("limit", {"type": "integer", "minimum": 1}),
    ("offset", {"type": "integer", "minimum": 0}),
)


DOC_ATTRIBUTE = "__ainfluencer_route_doc__"


def route_doc(handler: Any) -> RouteDoc | None:
    """The documentation an `endpoint` handler carries (None for other handlers)."""
    return getattr(handler, DOC_ATTRIBUTE, None)


def endpoint(
    routes: web.RouteTableDef,
    method: str,
    path: str,
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    answer: type[BaseModel] | None = None,
    status: int = 200,
    query: tuple[tuple[str, dict[str, Any]], ...] = (),
) -> Callable[[Callable[..., Awaitable[Any]]], Handler]:
    """Register a guarded route under the prefix; a handler's plain return value is answered as JSON.

    With `body`, the request's JSON body is validated against that model (state changes refuse other
    sites and other content types first) and handed to the handler as its second argument.
    """

    def decorate(fn: Callable[..., Awaitable[Any]]) -> Handler:
        @functools.wraps(fn)
        async def handler(request: web.Request) -> web.StreamResponse:
            refuse_rebound_host(request)  # reads too: a rebound page is same-origin and could read answers
            if body is None:
                if method != "GET":  # a body-less state change (DELETE) is refused from other sites too
                    refuse_cross_site(request)
                result = await fn(request)
            else:
                result = await fn(request, body.model_validate(await json_body(request)))
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response(result, status=status)

        setattr(handler, DOC_ATTRIBUTE, RouteDoc(summary, body, answer, status, query))
        wrapped = guarded(handler)
        routes.route(method, PREFIX + path)(wrapped)
        return wrapped

    return decorate


class Endpoints:
    """`endpoint` bound to one route table: `@api.get(path, summary)`, `@api.post(path, summary, body=…)`."""

    def __init__(self, routes: web.RouteTableDef) -> None:
        self.routes = routes

    def get(self, path: str, summary: str, **doc: Any) -> Callable[[Callable[..., Awaitable[Any]]], Handler]:
        """A documented GET route."""
        return endpoint(self.routes, "GET", path, summary, **doc)

    def post(self, path: str, summary: str, **doc: Any) -> Callable[[Callable[..., Awaitable[Any]]], Handler]:
        """A documented POST route (its body, if any, is validated JSON)."""
        return endpoint(self.routes, "POST", path, summary, **doc)

    def delete(
        self, path: str, summary: str, **doc: Any
    ) -> Callable[[Callable[..., Awaitable[Any]]], Handler]:
        """A documented DELETE route (no body; other sites are refused)."""
        return endpoint(self.routes, "DELETE", path, summary, **doc)
