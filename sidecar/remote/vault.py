"""The key vault: provider keys from the environment or `<user dir>/__ainfluencer/secrets.json` (0600).

The file is written atomically (a temp file opened O_CREAT|O_EXCL with mode 0600, fsync, rename) and its
values are sealed with a random per-install key kept beside it (`vault.key`, 0600): a copied secrets file,
a backup or a diagnostics bundle carries no readable key. Same-user malware can read both; that is the
limit of any file store. Every key is registered with the redactor the moment it is read or set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets as pysecrets
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import AInfError, ErrorCode
from ..core.redact import register_secret

try:
    import fcntl
except ImportError:  # Windows: the thread lock alone serialises writers of this process
    fcntl = None  # type: ignore[assignment]

SECRETS_FILE = "secrets.json"
KEY_FILE = "vault.key"
LOCK_FILE = "secrets.lock"
ENV_NAMES = {
    "provider_kling": "KLING",
    "provider_fal": "FAL",
    "provider_runware": "RUNWARE",
    "provider_synclabs": "SYNCLABS",
}
MAX_KEY_LENGTH = 512


def env_key_name(provider_id: str) -> str | None:
    """`AINFLUENCER_PROVIDER_<NAME>_API_KEY` for a provider that takes a key, else None."""
    name = ENV_NAMES.get(provider_id)
    return f"AINFLUENCER_PROVIDER_{name}_API_KEY" if name else None


def env_base_url(provider_id: str) -> str | None:
    """The `AINFLUENCER_PROVIDER_<NAME>_BASE_URL` override, if set."""
    name = ENV_NAMES.get(provider_id)
    return os.environ.get(f"AINFLUENCER_PROVIDER_{name}_BASE_URL") or None if name else None


def register_key(key: str) -> None:
    """Register a key and the forms it travels in (halves of `id:secret`, URL-encoded, base64)."""
    register_secret(key)
    register_secret(urllib.parse.quote(key, safe=""))
    register_secret(base64.b64encode(key.encode()).decode())
    for half in key.split(":"):
        register_secret(half)


def last4(key: str) -> str:
    """The only form of a key any response shows."""
    return "…" + key[-4:] if len(key) > 8 else "…"


def check_key_shape(provider_id: str, key: str) -> str:
    """Trim and sanity-check a pasted key (VALIDATION_ERROR names the problem, never the key)."""
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or any(c.isspace() or ord(c) < 32 for c in key):
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "The API key is empty, too long or contains spaces or control characters.",
            remediation=["Paste the key exactly as the provider's dashboard shows it."],
        )
    if provider_id == "provider_kling" and key.count(":") > 1:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "A Kling key is either 'access_key:secret_key' or the newer single API key.",
        )
    if provider_id == "provider_fal" and ":" in key and not all(key.split(":", 1)):
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "A fal key looks like '<key_id>:<key_secret>'; one half is missing.",
            remediation=["Copy the whole key from fal.ai/dashboard/keys, both halves."],
        )
    return key


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:length])


def _write_exclusive(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically; the file is 0600 from the instant it exists."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{pysecrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class KeyVault:
    """Reads and writes provider keys; environment keys take precedence over stored ones."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / SECRETS_FILE
        self._lock = threading.Lock()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix":
            os.chmod(self.folder, 0o700)
        self._seal_key = self._load_seal_key()
        for provider_id in ENV_NAMES:
            self.get(provider_id)  # registers every key present, before anything is logged

    def _load_seal_key(self) -> bytes:
        path = self.folder / KEY_FILE
        if not path.exists():
            try:
                _write_exclusive(path, pysecrets.token_bytes(32))
            except FileExistsError:
                pass
        data = path.read_bytes()
        if len(data) != 32:
            raise AInfError(ErrorCode.INTERNAL_ERROR, f"The vault key {path} is damaged.")
        return data

    def _subkeys(self) -> tuple[bytes, bytes]:
        enc = hmac.new(self._seal_key, b"ainfluencer-vault-enc", hashlib.sha256).digest()
        mac = hmac.new(self._seal_key, b"ainfluencer-vault-mac", hashlib.sha256).digest()
        return enc, mac

    def _seal(self, provider_id: str, key: str) -> dict[str, str]:
        enc, mac = self._subkeys()
        nonce = pysecrets.token_bytes(16)
        plain = key.encode()
        cipher = bytes(a ^ b for a, b in zip(plain, _keystream(enc, nonce, len(plain)), strict=True))
        tag = hmac.new(mac, provider_id.encode() + nonce + cipher, hashlib.sha256).digest()
        return {"nonce": nonce.hex(), "ct": cipher.hex(), "tag": tag.hex()}

    def _open(self, provider_id: str, entry: dict[str, str]) -> str | None:
        enc, mac = self._subkeys()
        try:
            nonce, cipher, tag = (bytes.fromhex(entry[k]) for k in ("nonce", "ct", "tag"))
        except (KeyError, TypeError, ValueError):
            return None
        expected = hmac.new(mac, provider_id.encode() + nonce + cipher, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, expected):
            return None
        plain = bytes(a ^ b for a, b in zip(cipher, _keystream(enc, nonce, len(cipher)), strict=True))
        return plain.decode("utf-8", errors="replace")

    def _read_entries(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}
        entries = data.get("keys") if isinstance(data, dict) else None
        return entries if isinstance(entries, dict) else {}

    @contextmanager
    def _writer(self) -> Iterator[dict[str, dict[str, str]]]:
        with self._lock, open(self.folder / LOCK_FILE, "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            entries = self._read_entries()
            yield entries
            payload = json.dumps({"version": 1, "keys": entries}, indent=1).encode()
            _write_exclusive(self.path, payload)

    def get(self, provider_id: str) -> tuple[str, str] | None:
        """(key, source) where source is `env` or `vault`; None when the provider has no key."""
        env_name = env_key_name(provider_id)
        if env_name and os.environ.get(env_name, "").strip():
            key = os.environ[env_name].strip()
            register_key(key)
            return key, "env"
        entry = self._read_entries().get(provider_id)
        key = self._open(provider_id, entry) if isinstance(entry, dict) else None
        if key:
            register_key(key)
            return key, "vault"
        return None

    def set(self, provider_id: str, key: str) -> None:
        """Store (or rotate) a provider's key; the old one is gone from the file at once."""
        register_key(key)
        with self._writer() as entries:
            entries[provider_id] = self._seal(provider_id, key)

    def delete(self, provider_id: str) -> bool:
        """Remove a stored key; True when there was one."""
        with self._writer() as entries:
            return entries.pop(provider_id, None) is not None

    def stored(self) -> list[str]:
        """Provider ids with a key in the file."""
        return sorted(self._read_entries())
