"""`ainfluencer models list|add|download` against a local base folder and a local model server."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator

import pytest
from ainfluencer.sidecar.cli.models import add_models_commands
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from test_downloader_server import ModelServer, safetensors_bytes, serve_models, sha256


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A local HTTP model server on 127.0.0.1."""
    yield from serve_models()


def run_cli(*argv: str) -> int:
    """Parse and run a `models` command as the console script does."""
    parser = argparse.ArgumentParser(prog="ainfluencer")
    add_models_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", *argv])
    return args.func(args)


def test_models_list_shows_the_catalog_with_flags(tmp_path, capsys):
    assert run_cli("list", "--base-dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "sdxl-base-1.0" in out and "recommended" in out
    assert "example-ip-adapter-faceid-plusv2-sdxl" in out and "non-commercial,pickle" in out


def test_models_add_then_download_with_progress(tmp_path, model_server, capsys, monkeypatch):
    monkeypatch.setenv("AINFLUENCER_ALLOW_LOCAL_DOWNLOADS", "1")
    data = safetensors_bytes(n_floats=100_000)
    model_server.add("/lora.safetensors", body=data)
    base = ["--base-dir", str(tmp_path / "base")]
    monkeypatch.setattr("sys.stdin", io.StringIO(model_server.url("/lora.safetensors") + "\n"))
    run_cli("add", "--name", "Local LoRA", "--type", "lora", "--url", "-", "--filename", "local.safetensors",
            "--license", "mit", "--sha256", sha256(data), *base)  # fmt: skip
    model_id = capsys.readouterr().out.strip()
    assert model_id.startswith("custom-local-lora-")
    assert run_cli("download", model_id, "--json", *base) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1] == {"event": "completed", "path": str(tmp_path / "base/models/loras/local.safetensors")}
    assert lines[-2]["state"] == "completed" and lines[-2]["bytes"] == len(data)
    assert (tmp_path / "base/models/loras/local.safetensors").read_bytes() == data
    listed = run_cli("list", "--json", *base)
    assert listed == 0
    models = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert models[model_id]["installed"] is True


def test_models_download_refusals_raise_the_error_the_cli_prints(tmp_path):
    with pytest.raises(AInfError) as info:
        run_cli("download", "realesrgan-x4plus", "--base-dir", str(tmp_path))
    assert info.value.code == ErrorCode.VALIDATION_ERROR and info.value.detail["format"] == "pickle"
    with pytest.raises(AInfError) as info:
        run_cli("download", "no-such-model", "--base-dir", str(tmp_path))
    assert info.value.code == ErrorCode.MODEL_NOT_FOUND
