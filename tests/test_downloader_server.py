"""A local HTTP model server for the downloader tests (Range, redirects, truncation, throttling)."""

from __future__ import annotations

import hashlib
import json
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def safetensors_bytes(n_floats: int = 256, fill: int = 7) -> bytes:
    """A valid .safetensors file with one F32 tensor."""
    header = {"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes([fill]) * (4 * n_floats)


def sha256(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class Route:
    """How the server answers one path."""

    body: bytes = b""
    status: int = 200
    location: str | None = None
    ranges: bool = True
    send_length: bool = True
    cut_after: int | None = None  # close the connection after this many body bytes (once)
    delay_per_chunk: float = 0.0
    requests: list[dict[str, str]] = field(default_factory=list)


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (refusals, cancels, bad certificates) are expected, not errors."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class ModelServer:
    """A threaded HTTP server on 127.0.0.1 answering configured routes."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.scheme = "https" if tls else "http"
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                route.requests.append({k.lower(): v for k, v in self.headers.items()} | {"path": self.path})
                if route.location is not None:
                    self.send_response(route.status)
                    self.send_header("Location", route.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, status, start = route.body, 200, 0
                wanted = self.headers.get("Range")
                if wanted and route.ranges:
                    start = int(wanted.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                payload = body[start:]
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                if route.send_length:
                    self.send_header("Content-Length", str(len(payload)))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                cut, route.cut_after = route.cut_after, None
                limit = len(payload) if cut is None else min(cut, len(payload))
                for offset in range(0, limit, 64 * 1024):
                    self.wfile.write(payload[offset : min(offset + 64 * 1024, limit)])
                    if route.delay_per_chunk:
                        time.sleep(route.delay_per_chunk)
                self.wfile.flush()
                if cut is not None or not route.send_length:
                    self.close_connection = True

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """The URL of a path on this server (optionally under another host name)."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def add(self, path: str, **kwargs: object) -> Route:
        """Serve a path."""
        route = Route(**kwargs)  # type: ignore[arg-type]
        self.routes[path] = route
        return route


def serve_models(tls: ssl.SSLContext | None = None) -> Iterator[ModelServer]:
    """A started local model server, stopped when the generator resumes (use it in a fixture)."""
    server = ModelServer(tls)
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A local model server, stopped after the test."""
    yield from serve_models()


def test_the_test_server_serves_ranges(model_server):
    import urllib.request

    model_server.add("/f", body=b"0123456789")
    request = urllib.request.Request(model_server.url("/f"), headers={"Range": "bytes=4-"})
    with urllib.request.urlopen(request) as resp:
        assert resp.status == 206 and resp.read() == b"456789"
