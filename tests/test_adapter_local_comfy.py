"""The host ComfyUI's health: device and VRAM, model counts, queue; degrades to a message outside ComfyUI."""

from __future__ import annotations

import subprocess
import sys
import types
from typing import Any

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.local_comfy import LocalComfyAdapter
from ainfluencer.sidecar.remote.engines import ENGINE_IDS

GIB = 1024**3
COMFY_MODULES = ("comfy.model_management", "folder_paths", "server")
GPU_STATS = {
    "device_type": "cuda",
    "device_index": 0,
    "device_name": "cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync",
    "vram_total": 80 * GIB,
    "vram_free": 60 * GIB,
    "torch_vram_total": 10 * GIB,
    "torch_vram_free": 2 * GIB,
    "torch_version": "2.5.1+cu124",
}
CPU_STATS = {
    "device_type": "cpu",
    "device_index": None,
    "device_name": "cpu",
    "vram_total": 32 * GIB,
    "vram_free": 16 * GIB,
    "torch_vram_total": 32 * GIB,
    "torch_vram_free": 16 * GIB,
    "torch_version": "2.5.1+cpu",
}
COUNTS = {"checkpoints": 2, "loras": 5, "upscale_models": 1}


def adapter(stats: Any, counts: Any = None, queue: Any = 0) -> LocalComfyAdapter:
    """An adapter over fixed readers; a reader given as an exception raises it."""

    def reader(value: Any) -> Any:
        def read() -> Any:
            if isinstance(value, BaseException):
                raise value
            return value

        return read

    return LocalComfyAdapter(reader(stats), reader(COUNTS if counts is None else counts), reader(queue))


async def test_gpu_health_reports_device_vram_models_and_queue() -> None:
    health = await adapter(GPU_STATS, queue=3).health_check(None)
    assert health["ok"] is True
    assert health["gpu"] == {
        "name": GPU_STATS["device_name"],
        "type": "cuda",
        "index": 0,
        "vram_total_bytes": 80 * GIB,
        "vram_free_bytes": 60 * GIB,
        "torch_vram_total_bytes": 10 * GIB,
        "torch_vram_free_bytes": 2 * GIB,
    }
    assert health["models"] == COUNTS and health["queue"] == 3
    assert health["torch_version"] == "2.5.1+cu124"
    assert "NVIDIA H100" in health["message"] and "60.0 GiB of 80.0 GiB" in health["message"]
    assert "8 models installed" in health["message"] and "3 jobs queued or running" in health["message"]
    assert health["problems"] == []


async def test_cpu_health_has_no_gpu_and_says_so() -> None:
    health = await adapter(CPU_STATS, queue=1).health_check()
    assert health["ok"] is True and health["gpu"] is None
    assert "CPU" in health["message"] and "1 job queued" in health["message"]


async def test_an_unreadable_part_is_named_and_the_rest_still_answers() -> None:
    broken = AInfError(ErrorCode.ENGINE_OFFLINE, "folder_paths is not loaded")
    health = await adapter(GPU_STATS, counts=broken, queue=RuntimeError("boom")).health_check()
    assert health["ok"] is True and health["models"] is None and health["queue"] is None
    assert health["problems"][0] == "folder_paths is not loaded"
    assert "RuntimeError" in health["problems"][1]
    assert "Not readable" in health["message"]


async def test_no_device_stats_means_not_ok_with_the_reason() -> None:
    offline = AInfError(ErrorCode.ENGINE_OFFLINE, "comfy.model_management is not loaded")
    health = await adapter(offline).health_check()
    assert health["ok"] is False and health["gpu"] is None
    assert "comfy.model_management is not loaded" in health["message"]


async def test_from_comfy_outside_comfyui_degrades_to_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in COMFY_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    health = await LocalComfyAdapter.from_comfy().health_check()
    assert health["ok"] is False
    assert health["models"] is None and health["queue"] is None
    assert "comfy.model_management is not loaded" in health["message"]
    assert "ComfyUI is not running in this process" in health["message"]
    assert len(health["problems"]) == 3


def _fake_comfy(monkeypatch: pytest.MonkeyPatch, device: Any, name: str, queued: int) -> None:
    mm = types.ModuleType("comfy.model_management")
    mm.torch_version = "2.5.1"
    mm.get_torch_device = lambda: device
    mm.get_torch_device_name = lambda dev: name
    mm.get_total_memory = lambda dev, torch_total_too=False: (24 * GIB, 4 * GIB)
    mm.get_free_memory = lambda dev, torch_free_too=False: (20 * GIB, 1 * GIB)
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.folder_names_and_paths = {
        "checkpoints": ([], set()),
        "loras": ([], set()),
        "custom_nodes": 0,
    }
    folder_paths.get_filename_list = lambda kind: {"checkpoints": ["a.safetensors"], "loras": []}[kind]
    server = types.ModuleType("server")
    queue = types.SimpleNamespace(get_tasks_remaining=lambda: queued)
    server.PromptServer = types.SimpleNamespace(instance=types.SimpleNamespace(prompt_queue=queue))
    for module in (mm, folder_paths, server):
        monkeypatch.setitem(sys.modules, module.__name__, module)


async def test_from_comfy_reads_the_live_modules_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_comfy(monkeypatch, types.SimpleNamespace(type="cuda", index=0), "cuda:0 RTX 4090 : native", 2)
    health = await LocalComfyAdapter.from_comfy().health_check()
    assert health["ok"] is True and health["problems"] == []
    assert (
        health["gpu"]["name"] == "cuda:0 RTX 4090 : native" and health["gpu"]["vram_free_bytes"] == 20 * GIB
    )
    assert health["models"] == {"checkpoints": 1, "loras": 0}
    assert health["queue"] == 2 and health["torch_version"] == "2.5.1"


async def test_from_comfy_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_comfy(monkeypatch, types.SimpleNamespace(type="cpu", index=None), "cpu", 0)
    health = await LocalComfyAdapter.from_comfy().health_check()
    assert health["ok"] is True and health["gpu"] is None and "CPU" in health["message"]


async def test_from_comfy_before_the_server_started_still_reports_the_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_comfy(monkeypatch, types.SimpleNamespace(type="cuda", index=0), "cuda:0 GPU", 0)
    sys.modules["server"].PromptServer = types.SimpleNamespace(instance=None)
    health = await LocalComfyAdapter.from_comfy().health_check()
    assert health["ok"] is True and health["queue"] is None
    assert "PromptServer.instance" in health["problems"][0]


async def test_generation_is_not_an_adapter_call_for_the_local_engine() -> None:
    local = adapter(GPU_STATS)
    assert local.engine_id == "local_comfy" in ENGINE_IDS
    calls = (
        local.generate_image("", {}),
        local.generate_video("", {}),
        local.apply_lipsync("", {}),
        local.upscale("", {}),
        local.verify_identity("k"),
        local.check_balance("k"),
    )
    for call in calls:
        with pytest.raises(AInfError) as err:
            await call
        assert err.value.code == ErrorCode.NOT_SUPPORTED


def test_importing_the_sidecar_and_these_adapters_loads_neither_comfyui_nor_torch() -> None:
    code = (
        "import sys\n"
        "import ainfluencer.sidecar\n"
        "import ainfluencer.sidecar.remote.adapters.local_comfy as lc\n"
        "import ainfluencer.sidecar.remote.adapters.liveportrait as lp\n"
        "lc.LocalComfyAdapter.from_comfy(); lp.LivePortraitAdapter.from_comfy()\n"
        "bad = [m for m in ('torch', 'comfy', 'comfy.model_management', 'folder_paths', 'nodes', 'server')\n"
        "       if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
