"""The key vault: 0600 from the first instant, atomic, sealed, rotated at once, env first, keys masked."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ainfluencer.sidecar.core.redact import MASK, redact_secrets
from ainfluencer.sidecar.remote import vault as vault_module
from ainfluencer.sidecar.remote.vault import KeyVault, check_key_shape, last4

KEY = "good-vault-key-5f1e9c2d7a"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_secrets_file_is_0600_even_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.basename(dst), _mode(src)))
        real_replace(src, dst)

    old_umask = os.umask(0)  # the most permissive umask: the mode must come from the open itself
    try:
        monkeypatch.setattr(vault_module.os, "replace", spy)
        vault = KeyVault(tmp_path)
        vault.set("provider_fal", KEY)
    finally:
        os.umask(old_umask)
    assert ("secrets.json", 0o600) in seen and ("vault.key", 0o600) in seen
    assert _mode(vault.path) == 0o600 and _mode(tmp_path / "vault.key") == 0o600
    assert _mode(tmp_path) == 0o700
    assert not list(tmp_path.glob("*.tmp"))


def test_the_file_holds_no_readable_key_and_a_tampered_entry_is_ignored(tmp_path):
    vault = KeyVault(tmp_path)
    vault.set("provider_fal", KEY)
    raw = vault.path.read_bytes()
    assert KEY.encode() not in raw and KEY[-10:].encode() not in raw
    assert KeyVault(tmp_path).get("provider_fal") == (KEY, "vault")
    data = json.loads(raw)
    data["keys"]["provider_fal"]["ct"] = "00" + data["keys"]["provider_fal"]["ct"][2:]
    vault.path.write_text(json.dumps(data))
    assert KeyVault(tmp_path).get("provider_fal") is None


def test_rotation_replaces_the_old_key_at_once_and_delete_forgets_it(tmp_path):
    vault = KeyVault(tmp_path)
    vault.set("provider_kling", "good-old-access:old-secret-1")
    vault.set("provider_kling", "good-new-access:new-secret-2")
    assert vault.get("provider_kling") == ("good-new-access:new-secret-2", "vault")
    assert vault.stored() == ["provider_kling"]
    assert vault.delete("provider_kling") and vault.get("provider_kling") is None
    assert not vault.delete("provider_kling")


def test_an_environment_key_wins_and_is_masked_the_moment_it_is_read(tmp_path, monkeypatch):
    env_key = "good-env-key-0b7d44e1aa"
    monkeypatch.setenv("AINFLUENCER_PROVIDER_RUNWARE_API_KEY", env_key)
    vault = KeyVault(tmp_path)
    vault.set("provider_runware", KEY)
    assert vault.get("provider_runware") == (env_key, "env")
    assert redact_secrets(f"calling with {env_key}") == f"calling with {MASK}"


def test_kling_key_halves_and_derived_forms_are_masked(tmp_path):
    vault = KeyVault(tmp_path)
    vault.set("provider_kling", "akAccess0042:skSecret0099")
    text = redact_secrets("iss=akAccess0042 secret=skSecret0099")
    assert "akAccess0042" not in text and "skSecret0099" not in text


def test_key_shapes_are_checked_without_echoing_the_key():
    assert check_key_shape("provider_kling", "  ak:sk  ") == "ak:sk"
    assert last4("good-1234567890") == "…7890"
    for provider, bad in [
        ("provider_fal", "only-half:"),
        ("provider_kling", "a:b:c"),
        ("provider_fal", "has space"),
        ("provider_fal", ""),
    ]:
        with pytest.raises(Exception) as info:
            check_key_shape(provider, bad)
        assert info.value.code == "VALIDATION_ERROR"
        assert bad.strip() == "" or bad not in json.dumps(info.value.to_dict())
