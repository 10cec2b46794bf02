"""The embedded runtime: requirement filtering, base-dir layout, and a loud start-up failure."""

import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ainfluencer.sidecar.host import runtime


def test_comfyuis_torch_packages_are_left_to_our_pins(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(
        "torch\ntorchvision>=0.1\ntorchaudio ; sys_platform=='linux'\nnumpy>=1.25.0\n# c\nav>=14.2.0\n"
    )
    assert runtime._filtered_requirements(req) == ["numpy>=1.25.0", "av>=14.2.0"]


def test_the_base_dir_links_the_pack_and_holds_the_sample_inputs(tmp_path):
    base = runtime.prepare_base_dir(tmp_path / "base")
    assert (base / "custom_nodes" / "ainfluencer").resolve() == Path(runtime.PACK_ROOT)
    assert (base / "input" / "portrait_talking_source.mp4").is_file()
    for sub in ("models", "output", "user", "temp"):
        assert (base / sub).is_dir()
    runtime.prepare_base_dir(base)  # idempotent


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def _server(tmp_path, process):
    log = tmp_path / "log.txt"
    log.write_text(
        "Starting server\nCannot import /x/custom_nodes/ainfluencer module for custom nodes: boom\n"
    )
    return runtime.ComfyServer(process, "", tmp_path, log)


def test_a_comfyui_without_our_routes_fails_start_up_with_the_log_tail(tmp_path):
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    server = _server(tmp_path, process)
    server.url = f"http://127.0.0.1:{httpd.server_port}"
    try:
        with pytest.raises(runtime.RuntimeErrorWithLog, match="did not load") as info:
            runtime.wait_ready(server, timeout=10)
        assert "Cannot import" in str(info.value)
    finally:
        server.stop()
        httpd.shutdown()


def test_a_comfyui_that_exits_during_start_up_reports_its_exit_code_and_log(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    server = _server(tmp_path, process)
    server.url = f"http://127.0.0.1:{runtime.free_port()}"
    with pytest.raises(runtime.RuntimeErrorWithLog, match="code 3") as info:
        runtime.wait_ready(server, timeout=10)
    assert "Cannot import" in str(info.value)
