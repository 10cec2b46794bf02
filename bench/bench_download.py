"""Download throughput of a 1 GiB file from a loopback server: our verified downloader vs `curl`.

Both fetch the same file from the same aiohttp server (sendfile) on 127.0.0.1 into the same temporary
folder. Ours hashes sha256 while streaming, validates the safetensors header, fsyncs and renames; curl
only writes. The figure is curl's time over ours (1.0 = as fast as curl). Best of three runs each,
alternated so page-cache state is the same for both. CPU seconds (the serving thread's included on both
sides) are reported beside it: on a shared machine they vary far less than wall time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import resource
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ainfluencer.sidecar.models.downloads import Downloader, DownloadRequest
from aiohttp import web

SIZE = 1024**3
RUNS = 3


def _make_file(path: Path) -> str:
    """A valid 1 GiB .safetensors (one U8 tensor of pseudo-random bytes); returns its sha256."""
    header = json.dumps({"blob": {"dtype": "U8", "shape": [SIZE], "data_offsets": [0, SIZE]}}).encode()
    header += b" " * (-len(header) % 8)
    block = os.urandom(16 * 1024 * 1024)
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for part in (struct.pack("<Q", len(header)), header):
            fh.write(part)
            digest.update(part)
        for _ in range(SIZE // len(block)):
            fh.write(block)
            digest.update(block)
    return digest.hexdigest()


class _Server:
    """aiohttp serving one folder on 127.0.0.1 from a background thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_static("/", self.folder)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> _Server:
        self.thread.start()
        self.ready.wait(30)
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


def _ensure_curl(report: Callable[[str], None]) -> str:
    curl = shutil.which("curl")
    if curl is None:
        report("curl is missing; installing it with apt-get")
        subprocess.run(["apt-get", "install", "-y", "curl"], check=True, capture_output=True)
        curl = shutil.which("curl")
    if curl is None:
        raise RuntimeError("curl is not available")
    return curl


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _time_curl(curl: str, url: str, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one curl download (curl's CPU plus the serving thread's)."""
    started, cpu = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF) + _cpu_s(resource.RUSAGE_CHILDREN)
    subprocess.run([curl, "-sS", "--fail", "-o", str(out), url], check=True)
    cpu = _cpu_s(resource.RUSAGE_SELF) + _cpu_s(resource.RUSAGE_CHILDREN) - cpu
    return time.perf_counter() - started, cpu


def _time_ours(url: str, folder: Path, digest: str, size: int) -> tuple[float, float]:
    """Wall and CPU seconds of one download of ours (all its threads plus the serving thread's)."""
    request = DownloadRequest(
        url=url, folder=folder, filename="ours.safetensors", sha256=digest, expected_bytes=size
    )
    started, cpu = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF)
    download = Downloader(allow_local=True).fetch(request)
    elapsed, cpu = time.perf_counter() - started, _cpu_s(resource.RUSAGE_SELF) - cpu
    if download.state != "completed":
        raise RuntimeError(f"download ended {download.state}: {download.error}")
    return elapsed, cpu


def run(report: Callable[[str], None]) -> dict[str, Any]:
    """Measure both and return {"download_ratio_vs_curl": curl_time / our_time, ...}."""
    curl = _ensure_curl(report)
    work = Path(tempfile.mkdtemp(prefix="ainf-bench-dl-"))
    try:
        served, out = work / "served", work / "out"
        served.mkdir()
        out.mkdir()
        digest = _make_file(served / "model.safetensors")
        size = (served / "model.safetensors").stat().st_size
        with _Server(served) as server:
            url = f"http://127.0.0.1:{server.port}/model.safetensors"
            curl_runs, our_runs = [], []
            for _ in range(RUNS):
                curl_runs.append(_time_curl(curl, url, out / "curl.safetensors"))
                if (out / "curl.safetensors").stat().st_size != size:
                    raise RuntimeError("curl wrote a different size")
                (out / "curl.safetensors").unlink()
                our_runs.append(_time_ours(url, out, digest, size))
                (out / "ours.safetensors").unlink()
        curl_times, our_times = [t for t, _ in curl_runs], [t for t, _ in our_runs]
        best_curl, best_ours = min(curl_times), min(our_times)
        cpu_curl, cpu_ours = min(c for _, c in curl_runs), min(c for _, c in our_runs)
        mib = size / 1024**2
        report(f"{'tool':<28}{'best s':>8}{'MiB/s':>10}{'cpu s':>8}   runs (s)")
        for name, best, cpu, times in (
            ("curl -o (no hash)", best_curl, cpu_curl, curl_times),
            ("ours (sha256+verify+fsync)", best_ours, cpu_ours, our_times),
        ):
            report(f"{name:<28}{best:>8.2f}{mib / best:>10.0f}{cpu:>8.2f}   {_fmt(times)}")
        ratio = best_curl / best_ours
        report(f"ratio (curl time / our time) = {ratio:.3f}  (goal >= 0.9)")
        # CPU seconds barely move with other load on the machine, unlike wall time; their ratio is what
        # the wall-time ratio tends to when every core is busy.
        report(f"cpu ratio (curl cpu / our cpu) = {cpu_curl / cpu_ours:.3f}")
        return {
            "download_ratio_vs_curl": round(ratio, 3),
            "download_mib_s_ours": round(mib / best_ours, 1),
            "download_mib_s_curl": round(mib / best_curl, 1),
            "download_cpu_ratio_vs_curl": round(cpu_curl / cpu_ours, 3),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)
