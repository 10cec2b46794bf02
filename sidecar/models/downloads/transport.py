"""The downloader's HTTP side: pinned-address connections, redirects checked hop by hop, ranges and TLS."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...core.errors import AInfError, ErrorCode
from ...core.netguard import (
    Resolver,
    check_address,
    check_url,
    local_sources_allowed,
    redact_url,
    resolve_checked,
)

MAX_REDIRECTS = 5
FILL_WINDOW_S = 0.05
_REDIRECTS = (301, 302, 303, 307, 308)
_USER_AGENT = "comfyui-ainfluencer-downloader"

Connection = http.client.HTTPConnection
Response = http.client.HTTPResponse


class Cancelled(Exception):
    """The download was asked to stop while its body was being received."""


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to one already-checked address; the peer is checked again after connecting."""

    def __init__(self, host: str, port: int, address: str, guard: Callable[[str], None], timeouts: tuple):
        super().__init__(host, port, timeout=timeouts[0])
        self._address, self._guard, self._read_timeout = address, guard, timeouts[1]

    def _pinned_socket(self) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self._guard(str(sock.getpeername()[0]))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self._read_timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self) -> None:
        self.sock = self._pinned_socket()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """HTTPS to one already-checked address, verifying the certificate for the URL's host name."""

    default_port = 443

    def __init__(self, *args: Any, context: ssl.SSLContext) -> None:
        super().__init__(*args)
        self._context = context

    def connect(self) -> None:
        self.sock = self._context.wrap_socket(self._pinned_socket(), server_hostname=self.host)


@dataclass(frozen=True)
class Transport:
    """Where downloads may connect and how: the network guard's settings, timeouts and the TLS context."""

    allow_local_setting: bool = False
    resolver: Resolver | None = None
    allowed_addresses: frozenset[str] = frozenset()
    timeouts: tuple[float, float] = (15.0, 60.0)
    ssl_context: ssl.SSLContext = field(default_factory=ssl.create_default_context)

    @property
    def allow_local(self) -> bool:
        """Whether private and loopback sources are allowed now (setting or environment)."""
        return local_sources_allowed(self.allow_local_setting)

    def open(self, url: str, start: int) -> tuple[Connection, Response]:
        """GET from byte `start`, following redirects by hand and checking every hop's URL and address."""
        previous_scheme = None
        for _hop in range(MAX_REDIRECTS + 1):
            parts = check_url(url)
            scheme = parts.scheme.lower()
            if previous_scheme == "https" and scheme == "http":
                raise AInfError(
                    ErrorCode.VALIDATION_ERROR,
                    "A redirect from https to http was refused.",
                    detail={"url": redact_url(url)},
                )
            conn, resp = self._request(parts, start)
            if resp.status not in _REDIRECTS:
                return conn, resp
            location = resp.getheader("Location")
            resp.close()
            conn.close()
            if not location:
                raise AInfError(ErrorCode.DOWNLOAD_FAILED, "A redirect without a Location was answered.")
            url, previous_scheme = urllib.parse.urljoin(url, location), scheme
        raise AInfError(
            ErrorCode.DOWNLOAD_FAILED,
            f"More than {MAX_REDIRECTS} redirects.",
            detail={"url": redact_url(url)},
        )

    def _request(self, parts: urllib.parse.SplitResult, start: int) -> tuple[Connection, Response]:
        host = parts.hostname or ""
        https = parts.scheme.lower() == "https"
        port = parts.port or (443 if https else 80)
        allow_local = self.allow_local
        allowed = self.allowed_addresses
        addresses = resolve_checked(host, port, allow_local, self.resolver, allowed)

        def guard(peer: str) -> None:
            check_address(peer, allow_local, allowed)

        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        last_error: OSError | None = None
        for address in addresses:
            args = (host, port, address, guard, self.timeouts)
            conn = (
                _PinnedHTTPSConnection(*args, context=self.ssl_context)
                if https
                else _PinnedHTTPConnection(*args)
            )
            try:
                conn.request("GET", path, headers=headers)
                return conn, conn.getresponse()
            except OSError as exc:
                conn.close()
                last_error = exc
            except http.client.HTTPException as exc:
                conn.close()
                raise AInfError(
                    ErrorCode.DOWNLOAD_FAILED,
                    "The source answered something that is not HTTP.",
                    detail=str(exc),
                ) from None
        raise AInfError(
            ErrorCode.DOWNLOAD_FAILED,
            f"Could not connect to {host}.",
            detail={"host": host, "reason": str(last_error)},
        )


def fill(resp: Response, buffer: bytearray, remaining: int | None, done: int, cancel: threading.Event) -> int:
    """Receive into `buffer` until it is mostly full, the body ends or a moment passes; 0 at the end."""
    view = memoryview(buffer)
    if remaining is not None:
        view = view[: max(0, min(len(view), remaining))]
    filled, deadline = 0, time.monotonic() + FILL_WINDOW_S
    try:
        while filled < len(view) * 3 // 4:
            if cancel.is_set():
                raise Cancelled
            n = _receive_into(resp, view[filled:])
            if not n:
                break
            filled += n
            if time.monotonic() > deadline:
                break
    except (OSError, http.client.HTTPException) as exc:
        raise AInfError(
            ErrorCode.DOWNLOAD_FAILED,
            "The connection broke during the download; run it again to resume.",
            detail={"bytes": done + filled, "reason": type(exc).__name__},
        ) from None
    finally:
        view.release()
    return filled


def _receive_into(resp: Response, view: memoryview) -> int:
    """One socket receive into `view` (no allocation); chunked bodies go through http.client."""
    if not len(view) or resp.fp is None:
        return 0
    if resp.chunked:
        data = resp.read1(len(view))
        view[: len(data)] = data
        return len(data)
    return resp.fp.readinto1(view)


def content_range_start(value: str | None) -> int | None:
    """The first byte of a `Content-Range: bytes A-B/T` answer (None when unreadable)."""
    try:
        return int((value or "").split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def content_range_total(value: str | None) -> int | None:
    """The total length of a `Content-Range: bytes A-B/T` or `bytes */T` answer (None when unreadable)."""
    try:
        return int((value or "").rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None
