"""The downloader against a local HTTP server: verified installs, and every refusal leaves nothing behind."""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Iterator

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.netguard import check_address, system_resolver, unwrap
from ainfluencer.sidecar.models.downloads import Downloader, DownloadRequest
from ainfluencer.sidecar.models.files import check_model_filename, validate_safetensors
from test_downloader_server import ModelServer, safetensors_bytes, serve_models, sha256

LOOPBACK = frozenset({"127.0.0.1"})


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A local HTTP model server on 127.0.0.1."""
    yield from serve_models()


def _resolver(names: dict[str, str]):
    def resolve(host: str, port: int) -> list[str]:
        return [names[host]] if host in names else system_resolver(host, port)

    return resolve


@pytest.fixture
def local_ok(monkeypatch):
    """Local sources enabled the way a user enables them."""
    monkeypatch.setenv("AINFLUENCER_ALLOW_LOCAL_DOWNLOADS", "1")


@pytest.fixture
def local_off(monkeypatch):
    """Local sources disabled (the default)."""
    monkeypatch.delenv("AINFLUENCER_ALLOW_LOCAL_DOWNLOADS", raising=False)


def _request(url: str, folder, name: str = "model.safetensors", **kwargs) -> DownloadRequest:
    return DownloadRequest(url=url, folder=folder, filename=name, **kwargs)


def _refused(downloader: Downloader, request: DownloadRequest) -> AInfError:
    with pytest.raises(AInfError) as info:
        downloader.fetch(request)
    return info.value


def _left_behind(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_good_file_is_verified_and_installed(tmp_path, model_server, local_ok):
    data = safetensors_bytes()
    model_server.add("/m.safetensors", body=data)
    folder = tmp_path / "checkpoints"
    done = Downloader().fetch(_request(model_server.url("/m.safetensors"), folder, sha256=sha256(data)))
    assert done.state == "completed"
    assert (folder / "model.safetensors").read_bytes() == data
    assert _left_behind(folder) == ["model.safetensors"]
    snap = done.snapshot()
    assert snap["progress"] == 1.0 and snap["bytes"] == len(data) and snap["speed_bps"] > 0


def test_a_checksum_mismatch_deletes_the_part_and_names_both_digests(tmp_path, model_server, local_ok):
    data = safetensors_bytes()
    model_server.add("/m.safetensors", body=data)
    wrong = "0" * 64
    error = _refused(Downloader(), _request(model_server.url("/m.safetensors"), tmp_path, sha256=wrong))
    assert error.code == ErrorCode.CHECKSUM_MISMATCH
    assert error.detail == {"expected_sha256": wrong, "actual_sha256": sha256(data)}
    assert wrong in error.message and sha256(data) in error.message
    assert _left_behind(tmp_path) == []


def test_an_interrupted_download_resumes_with_range_and_rehashes_the_part(tmp_path, model_server, local_ok):
    data = safetensors_bytes(n_floats=200_000)
    route = model_server.add("/big.safetensors", body=data, cut_after=300_000)
    request = _request(model_server.url("/big.safetensors"), tmp_path, sha256=sha256(data))
    downloader = Downloader()
    error = _refused(downloader, request)
    assert error.code == ErrorCode.DOWNLOAD_FAILED
    part = tmp_path / "model.safetensors.part"
    assert 0 < part.stat().st_size < len(data)
    kept = part.stat().st_size
    done = downloader.fetch(request)
    assert done.state == "completed" and done.resumed_from == kept
    assert route.requests[-1]["range"] == f"bytes={kept}-"
    assert (tmp_path / "model.safetensors").read_bytes() == data
    assert _left_behind(tmp_path) == ["model.safetensors"]


def test_a_server_that_ignores_range_restarts_from_zero(tmp_path, model_server, local_ok):
    data = safetensors_bytes(n_floats=50_000)
    model_server.add("/m.safetensors", body=data, ranges=False)
    (tmp_path / "model.safetensors.part").write_bytes(b"garbage that is not the start of the file")
    done = Downloader().fetch(_request(model_server.url("/m.safetensors"), tmp_path, sha256=sha256(data)))
    assert done.state == "completed" and (tmp_path / "model.safetensors").read_bytes() == data


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "no-length"])
def test_an_oversize_download_is_stopped_and_removed(tmp_path, model_server, local_ok, send_length):
    data = safetensors_bytes(n_floats=100_000)
    model_server.add("/m.safetensors", body=data, send_length=send_length)
    request = _request(
        model_server.url("/m.safetensors"), tmp_path, sha256=sha256(data), expected_bytes=len(data) // 4
    )
    error = _refused(Downloader(), request)
    assert error.code == ErrorCode.PAYLOAD_TOO_LARGE
    assert _left_behind(tmp_path) == []


def test_the_global_cap_applies_when_the_size_is_unknown(tmp_path, model_server, local_ok):
    data = safetensors_bytes(n_floats=10_000)
    model_server.add("/m.safetensors", body=data, send_length=False)
    error = _refused(
        Downloader(max_bytes=1000),
        _request(model_server.url("/m.safetensors"), tmp_path, sha256=sha256(data)),
    )
    assert error.code == ErrorCode.PAYLOAD_TOO_LARGE and _left_behind(tmp_path) == []


def test_a_redirect_to_a_private_address_is_refused(tmp_path, model_server, local_off):
    data = safetensors_bytes()
    inner = model_server.add("/m.safetensors", body=data)
    model_server.add("/go", status=302, location=model_server.url("/m.safetensors", host="intranet.test"))
    names = {"models.test": "127.0.0.1", "intranet.test": "10.20.30.40"}
    downloader = Downloader(resolver=_resolver(names), allowed_addresses=LOOPBACK)
    error = _refused(
        downloader, _request(model_server.url("/go", host="models.test"), tmp_path, sha256=sha256(data))
    )
    assert error.code == ErrorCode.VALIDATION_ERROR and error.detail["address"] == "10.20.30.40"
    assert inner.requests == [] and _left_behind(tmp_path) == []


def test_redirects_are_followed_by_hand_and_each_hop_is_rechecked(tmp_path, model_server, local_ok):
    data = safetensors_bytes()
    model_server.add("/m.safetensors", body=data)
    model_server.add("/hop2", status=307, location="/m.safetensors")
    model_server.add("/hop1", status=301, location=model_server.url("/hop2"))
    done = Downloader().fetch(_request(model_server.url("/hop1"), tmp_path, sha256=sha256(data)))
    assert done.state == "completed"
    model_server.add("/loop", status=302, location="/loop")
    error = _refused(
        Downloader(), _request(model_server.url("/loop"), tmp_path, "b.safetensors", sha256=sha256(data))
    )
    assert error.code == ErrorCode.DOWNLOAD_FAILED and "redirects" in error.message
    model_server.add("/to-metadata", status=302, location="http://169.254.169.254/latest/meta-data/")
    error = _refused(
        Downloader(),
        _request(model_server.url("/to-metadata"), tmp_path, "c.safetensors", sha256=sha256(data)),
    )
    assert error.code == ErrorCode.VALIDATION_ERROR
    assert _left_behind(tmp_path) == ["model.safetensors"]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/model.safetensors",
        "http://127.0.0.1/model.safetensors",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/model.safetensors",
        "http://[::1]/model.safetensors",
        "http://10.0.0.8/model.safetensors",
        "http://user:pw@example.com/model.safetensors",
        "gopher://example.com/x",
    ],
)
def test_schemes_and_addresses_that_are_refused_with_local_sources_disabled(tmp_path, local_off, url):
    error = _refused(Downloader(), _request(url, tmp_path / "m", allow_missing_checksum=True))
    assert error.code == ErrorCode.VALIDATION_ERROR
    assert _left_behind(tmp_path / "m") == []


def test_a_host_name_resolving_to_a_private_address_is_refused(tmp_path, local_off):
    downloader = Downloader(resolver=_resolver({"cdn.test": "192.168.1.20"}))
    error = _refused(
        downloader, _request("https://cdn.test/m.safetensors", tmp_path, allow_missing_checksum=True)
    )
    assert error.code == ErrorCode.VALIDATION_ERROR and error.detail["address"] == "192.168.1.20"


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"])
def test_the_cloud_metadata_address_is_refused_even_with_local_sources(address):
    with pytest.raises(AInfError):
        check_address(address, allow_local=True)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 wrapping 10.0.0.1
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("0.0.0.0", False),
    ],
)
def test_mapped_and_special_addresses_are_unwrapped_before_the_check(address, public):
    import ipaddress

    assert unwrap(ipaddress.ip_address("::ffff:1.2.3.4")) == ipaddress.ip_address("1.2.3.4")
    if public:
        check_address(address, allow_local=False)
    else:
        with pytest.raises(AInfError):
            check_address(address, allow_local=False)


@pytest.mark.parametrize(
    "name",
    [
        "../evil.safetensors",
        "sub/evil.safetensors",
        "..\\evil.safetensors",
        "/etc/evil.safetensors",
        "..",
        "nul\x00.safetensors",
        "CON.safetensors",
        "model .safetensors ",
    ],
)
def test_traversal_and_odd_filenames_are_refused(tmp_path, name):
    error = _refused(
        Downloader(), _request("https://example.com/x", tmp_path / "m", name, allow_missing_checksum=True)
    )
    assert error.code == ErrorCode.VALIDATION_ERROR
    assert _left_behind(tmp_path / "m") == []


@pytest.mark.parametrize(
    "name",
    [
        "tool.exe",
        "install.sh",
        "run.bat",
        "x.ps1",
        "hook.py",
        "lib.dll",
        "lib.so",
        "m.safetensors.exe",
        "m.py.safetensors",
    ],
)
def test_executables_and_scripts_are_refused(tmp_path, name):
    error = _refused(
        Downloader(), _request("https://example.com/x", tmp_path / "m", name, allow_missing_checksum=True)
    )
    assert error.code == ErrorCode.VALIDATION_ERROR
    assert _left_behind(tmp_path / "m") == []


def test_pickle_formats_need_an_acknowledgment():
    with pytest.raises(AInfError) as info:
        check_model_filename("model.ckpt", allow_pickle=False)
    assert info.value.detail["format"] == "pickle"
    assert check_model_filename("model.ckpt", allow_pickle=True) == "model.ckpt"
    with pytest.raises(AInfError):
        check_model_filename("readme.txt", allow_pickle=True)


def test_a_missing_checksum_needs_an_acknowledgment(tmp_path):
    error = _refused(Downloader(), _request("https://example.com/m.safetensors", tmp_path / "m"))
    assert error.code == ErrorCode.CHECKSUM_MISSING


def _forged(kind: str) -> bytes:
    good = safetensors_bytes(n_floats=16)
    (length,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8 : 8 + length])
    if kind == "html":
        return b"<!doctype html><html>Not found</html>" + b" " * 64
    if kind == "huge-length":
        return struct.pack("<Q", 200_000_000) + good[8:]
    if kind == "truncated":
        return good[:-8]
    if kind == "gap":
        header["w"]["data_offsets"] = [4, 68]
    if kind == "bad-shape":
        header["w"]["shape"] = [17]
    if kind == "not-object":
        raw = b"[1, 2, 3]" + b" " * 7
        return struct.pack("<Q", len(raw)) + raw + good[8 + length :]
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + good[8 + length :]


@pytest.mark.parametrize("kind", ["html", "huge-length", "truncated", "gap", "bad-shape", "not-object"])
def test_a_forged_safetensors_is_refused_and_removed(tmp_path, model_server, local_ok, kind):
    data = _forged(kind)
    model_server.add("/m.safetensors", body=data)
    error = _refused(
        Downloader(), _request(model_server.url("/m.safetensors"), tmp_path, sha256=sha256(data))
    )
    assert error.code == ErrorCode.INVALID_MEDIA
    assert error.detail["name"] == "model.safetensors"
    assert _left_behind(tmp_path) == []


def test_the_safetensors_validator_accepts_metadata_and_several_tensors(tmp_path):
    header = {
        "__metadata__": {"format": "pt"},
        "b": {"dtype": "F16", "shape": [2, 2], "data_offsets": [4, 12]},
        "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "ok.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(12))
    validate_safetensors(path)


def test_concurrent_downloads_of_the_same_file_share_one_transfer(tmp_path, model_server, local_ok):
    data = safetensors_bytes(n_floats=100_000)
    route = model_server.add("/m.safetensors", body=data, delay_per_chunk=0.02)
    downloader = Downloader()
    request = _request(model_server.url("/m.safetensors"), tmp_path, sha256=sha256(data))
    first = downloader.submit(request)
    second = downloader.submit(request)
    assert first is second
    results = []
    threads = [threading.Thread(target=lambda: results.append(downloader.fetch(request))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert first.done_event.wait(30) and first.state == "completed"
    assert len(route.requests) == 1
    assert all(r.state == "completed" for r in results)


def test_a_cancelled_download_stops_and_removes_its_part(tmp_path, model_server, local_ok):
    data = safetensors_bytes(n_floats=200_000)
    model_server.add("/m.safetensors", body=data, delay_per_chunk=0.05)
    downloader = Downloader()
    download = downloader.submit(_request(model_server.url("/m.safetensors"), tmp_path, sha256=sha256(data)))
    while download.bytes_done == 0 and not download.done_event.is_set():
        download.done_event.wait(0.01)
    downloader.cancel(download.id)
    assert download.done_event.wait(30)
    assert download.state == "cancelled"
    assert _left_behind(tmp_path) == []


def test_an_installed_file_is_accepted_only_when_it_matches(tmp_path, model_server, local_ok):
    data = safetensors_bytes()
    route = model_server.add("/m.safetensors", body=data)
    (tmp_path / "model.safetensors").write_bytes(data)
    done = Downloader().fetch(_request(model_server.url("/m.safetensors"), tmp_path, sha256=sha256(data)))
    assert done.state == "completed" and route.requests == []
    (tmp_path / "other.safetensors").write_bytes(b"mine")
    error = _refused(
        Downloader(),
        _request(model_server.url("/m.safetensors"), tmp_path, "other.safetensors", sha256=sha256(data)),
    )
    assert error.code == ErrorCode.VALIDATION_ERROR
    assert (tmp_path / "other.safetensors").read_bytes() == b"mine"


def test_tokens_in_urls_never_reach_the_record_or_the_log(tmp_path, model_server, local_ok, caplog):
    data = safetensors_bytes()
    model_server.add("/m.safetensors", body=data)
    token = "hf_SECRETtoken1234567890"
    url = model_server.url("/m.safetensors") + f"?token={token}&download=true"
    seen = []
    downloader = Downloader(on_change=lambda d: seen.append(json.dumps(d.snapshot())))
    with caplog.at_level("DEBUG", logger="ainfluencer"):
        done = downloader.fetch(_request(url, tmp_path, sha256=sha256(data)))
    assert done.state == "completed"
    assert "download=true" in done.url
    assert token not in json.dumps(done.snapshot()) and all(token not in s for s in seen)
    assert token not in caplog.text
