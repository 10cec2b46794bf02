"""HTTPS downloads connect to the checked address yet verify the certificate for the URL's host name."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.models.downloads import Downloader, DownloadRequest
from test_downloader_server import ModelServer, safetensors_bytes, serve_models, sha256

DATA = Path(__file__).parent / "data" / "models"
CERT, KEY = DATA / "tls_test_cert.pem", DATA / "tls_test_key.pem"  # self-signed for models.test, tests only
NAMES = {"models.test": "127.0.0.1", "impostor.test": "127.0.0.1"}


@pytest.fixture
def tls_server() -> Iterator[ModelServer]:
    """A local HTTPS model server whose certificate names models.test."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERT, KEY)
    yield from serve_models(context)


def _downloader() -> Downloader:
    client = ssl.create_default_context(cafile=str(CERT))
    return Downloader(
        resolver=lambda host, port: [NAMES[host]],
        allowed_addresses=frozenset({"127.0.0.1"}),
        ssl_context=client,
    )


def test_https_is_pinned_to_the_checked_address_and_verified_for_the_host_name(
    tmp_path, tls_server, monkeypatch
):
    monkeypatch.delenv("AINFLUENCER_ALLOW_LOCAL_DOWNLOADS", raising=False)
    data = safetensors_bytes()
    route = tls_server.add("/m.safetensors", body=data)
    request = DownloadRequest(
        url=tls_server.url("/m.safetensors", host="models.test"), folder=tmp_path, filename="m.safetensors",
        sha256=sha256(data),
    )  # fmt: skip
    assert _downloader().fetch(request).state == "completed"
    assert route.requests[0]["host"] == f"models.test:{tls_server.port}"
    assert (tmp_path / "m.safetensors").read_bytes() == data


def test_a_certificate_for_another_name_is_refused(tmp_path, tls_server):
    data = safetensors_bytes()
    tls_server.add("/m.safetensors", body=data)
    request = DownloadRequest(
        url=tls_server.url("/m.safetensors", host="impostor.test"), folder=tmp_path, filename="m.safetensors",
        sha256=sha256(data),
    )  # fmt: skip
    with pytest.raises(AInfError) as info:
        _downloader().fetch(request)
    assert (
        info.value.code == ErrorCode.DOWNLOAD_FAILED and "CERTIFICATE" in info.value.detail["reason"].upper()
    )
    assert list(tmp_path.iterdir()) == []


def test_a_redirect_from_https_to_http_is_refused(tmp_path, tls_server):
    tls_server.add("/down", status=302, location="http://models.test/m.safetensors")
    request = DownloadRequest(
        url=tls_server.url("/down", host="models.test"), folder=tmp_path, filename="m.safetensors",
        sha256="0" * 64,
    )  # fmt: skip
    with pytest.raises(AInfError) as info:
        _downloader().fetch(request)
    assert info.value.code == ErrorCode.VALIDATION_ERROR and "https to http" in info.value.message
    assert list(tmp_path.iterdir()) == []
