"""The `ProviderRegistry`: adapters by engine id, their keys (vault) and their last known state."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ..core.clock import iso_utc
from ..core.errors import AInfError, ErrorCode
from ..core.redact import redact_secrets
from ..core.storage import providers as providers_table
from .adapters.base import EngineAdapter
from .adapters.node_packs import NodePackAdapter
from .engines import ENGINE_IDS, LOCAL_ENGINE, PROVIDER_NAMES
from .vault import ENV_NAMES, KeyVault, check_key_shape, last4

KEYED_PROVIDERS = tuple(ENV_NAMES)
CONNECTED, NOT_CONNECTED, ERROR, RUNNING = "connected", "not_connected", "error", "running"
UNVERIFIED = "unverified"  # stored on request without a check; usable, shown as unchecked
CHECK_TIMEOUT_S = 10.0


UNVERIFIED_MESSAGE = "Saved without a check; run Test to verify it with the provider."
UNREACHABLE = (ErrorCode.ENGINE_OFFLINE, ErrorCode.ENGINE_TIMEOUT)


def _connect_error(provider_id: str, exc: BaseException) -> AInfError:
    """Why a key was not stored: refused by the provider, the provider unreachable, or no clear answer."""
    if isinstance(exc, AInfError) and exc.code == ErrorCode.AUTH_FAILED:
        return exc
    cause = _error_dict(exc)
    name = PROVIDER_NAMES.get(provider_id, provider_id)
    if cause["error"] in {code.value for code in UNREACHABLE}:
        return AInfError(
            ErrorCode.ENGINE_OFFLINE,
            f"{name} could not be reached, so the key could not be verified; it was not stored.",
            remediation=[
                "Check this machine's internet connection and the provider's status page, then try again.",
                'To store the key without a check, connect again with "verify": false '
                "(in the command line: --no-verify).",
            ],
            detail={"cause": cause},
        )
    return AInfError(
        ErrorCode.AUTH_FAILED,
        "The key could not be verified with the provider; it was not stored.",
        detail={"cause": cause},
    )


def _error_dict(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, AInfError):
        return exc.to_dict()
    if isinstance(exc, asyncio.TimeoutError):
        return AInfError(ErrorCode.ENGINE_TIMEOUT, "The provider did not answer in time.").to_dict()
    return AInfError(ErrorCode.ENGINE_OFFLINE, detail=redact_secrets(repr(exc))[:300]).to_dict()


class ProviderRegistry:
    """Adapters by engine id, their keys (vault) and their last known state (database, no secrets)."""

    def __init__(self, engine: Engine, vault: KeyVault, timeout_s: float = CHECK_TIMEOUT_S) -> None:
        self.engine = engine
        self.vault = vault
        self.timeout_s = timeout_s
        self._adapters: dict[str, EngineAdapter] = {}

    # registry ------------------------------------------------------------------------------------
    def register_provider(self, adapter: EngineAdapter) -> None:
        """Install (or replace) the adapter for its engine id."""
        if adapter.engine_id not in ENGINE_IDS:
            raise ValueError(f"unknown engine id {adapter.engine_id!r}")
        self._adapters[adapter.engine_id] = adapter

    def get_provider(self, provider_id: str) -> EngineAdapter | None:
        """The adapter for an engine id, or None when none is installed."""
        return self._adapters.get(provider_id)

    def _require_known(self, provider_id: str) -> None:
        if provider_id not in ENGINE_IDS:
            raise AInfError(ErrorCode.PROVIDER_NOT_FOUND, detail={"provider_id": provider_id[:100]})

    def _require_keyed(self, provider_id: str) -> EngineAdapter:
        self._require_known(provider_id)
        if provider_id not in KEYED_PROVIDERS:
            raise AInfError(
                ErrorCode.NOT_SUPPORTED,
                f"{provider_id} takes no API key.",
                detail={"provider_id": provider_id},
            )
        adapter = self.get_provider(provider_id)
        if adapter is None:
            raise AInfError(
                ErrorCode.DEPENDENCY_MISSING,
                f"No adapter for {provider_id} is installed in this version.",
                remediation=["Update AInfluencer to a version with this provider, or use another engine."],
                detail={"provider_id": provider_id},
            )
        return adapter

    def _save_state(self, provider_id: str, **values: Any) -> None:
        now = time.time()
        row = {"provider_id": provider_id, "updated_at": now, **values}
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(providers_table.c.provider_id).where(providers_table.c.provider_id == provider_id)
            ).first()
            if exists:
                conn.execute(
                    providers_table.update().where(providers_table.c.provider_id == provider_id).values(**row)
                )
            else:
                conn.execute(providers_table.insert().values(**row))

    def _record(
        self,
        provider_id: str,
        status: str,
        key: str | None,
        source: str | None,
        balance: float | None,
        message: str | None,
        *,
        error: dict[str, Any] | None = None,
        checked: bool = True,
    ) -> None:
        """Record what is known of a provider's key now: never the key, only its last four characters."""
        self._save_state(
            provider_id,
            status=status,
            key_last4=last4(key) if key else None,
            key_source=source,
            balance=balance,
            message=message[:500] if message else None,
            error_json=json.dumps(error) if error else None,
            last_check=time.time() if checked else None,
        )

    def _state(self, provider_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(providers_table).where(providers_table.c.provider_id == provider_id))
                .mappings()
                .first()
            )
        return dict(row) if row else {}

    # status --------------------------------------------------------------------------------------
    def describe(self, provider_id: str) -> dict[str, Any]:
        """Status, balance, last check and error of one engine; the key only as `…last4`."""
        self._require_known(provider_id)
        adapter_installed = provider_id == LOCAL_ENGINE or provider_id in self._adapters
        if provider_id == LOCAL_ENGINE:
            return {
                "id": provider_id,
                "kind": "local",
                "status": RUNNING,
                "adapter_installed": True,
                "key": None,
                "key_source": None,
                "balance": None,
                "last_check": None,
                "error": None,
                "message": "the host ComfyUI",
                "verified": None,
            }
        if provider_id not in KEYED_PROVIDERS:
            return self._describe_tool(provider_id)
        state = self._state(provider_id)
        found = self.vault.get(provider_id) if provider_id in KEYED_PROVIDERS else None
        if found is None:
            status = NOT_CONNECTED
        elif state.get("status") == ERROR and state.get("key_last4") == last4(found[0]):
            status = ERROR
        else:
            status = CONNECTED if adapter_installed else NOT_CONNECTED
        fresh = found is not None and state.get("key_last4") == last4(found[0])
        return {
            "id": provider_id,
            "kind": "remote" if provider_id in KEYED_PROVIDERS else "local_tool",
            "status": status,
            "adapter_installed": adapter_installed,
            "key": last4(found[0]) if found else None,
            "key_source": found[1] if found else None,
            "balance": state.get("balance") if fresh else None,
            "last_check": iso_utc(state.get("last_check")) if fresh else None,
            "error": json.loads(state["error_json"]) if fresh and state.get("error_json") else None,
            "message": state.get("message") if fresh else None,
            "verified": (fresh and state.get("status") == CONNECTED) if found else None,
        }

    def _describe_tool(self, provider_id: str) -> dict[str, Any]:
        """A keyless local tool (LivePortrait): installed or not, and what is missing."""
        adapter = self.get_provider(provider_id)
        ok, why = self.availability(provider_id)
        return {
            "id": provider_id,
            "kind": "local_tool",
            "status": CONNECTED if ok else NOT_CONNECTED,
            "adapter_installed": adapter is not None,
            "key": None,
            "key_source": None,
            "balance": None,
            "last_check": None,
            "error": None,
            "message": why,
            "verified": None,
        }

    def list_providers(self) -> list[dict[str, Any]]:
        """Every engine id with its status (never a key)."""
        return [self.describe(pid) for pid in ENGINE_IDS]

    def availability(self, engine_id: str) -> tuple[bool, str]:
        """EngineAvailability seam: local always; a remote engine when its adapter and key are present."""
        if engine_id == LOCAL_ENGINE:
            return True, "the host ComfyUI"
        if engine_id not in ENGINE_IDS:
            return False, f"{engine_id} is not a known engine"
        adapter = self.get_provider(engine_id)
        if engine_id not in KEYED_PROVIDERS:  # a local tool: installed or not, no key
            detect = getattr(adapter, "detect", None)
            if adapter is None or detect is None:
                return False, f"no adapter for {engine_id} is installed"
            found = detect()
            # a licence trap is said wherever the tool is shown (engine card, health row), before any use
            trap = "".join(f". {note.rstrip('.')}" for note in found.get("licence") or [])
            if found.get("installed"):
                return True, f"{PROVIDER_NAMES[engine_id]} is installed{trap}"
            steps = found.get("remediation") or [f"Install {PROVIDER_NAMES[engine_id]}"]
            return False, str(steps[0]).rstrip(".") + trap
        info = self.describe(engine_id)
        if not info["adapter_installed"]:
            return False, f"no adapter for {engine_id} is installed"
        if info["status"] == NOT_CONNECTED:
            return False, f"Add your {PROVIDER_NAMES[engine_id]} API key in Setup"
        if info["status"] != CONNECTED:
            return (
                False,
                f"{PROVIDER_NAMES[engine_id]}'s key failed its last check; test or replace it in Setup",
            )
        return True, f"{engine_id} connected"

    # node packs ----------------------------------------------------------------------------------
    def _node_packs(self) -> list[NodePackAdapter]:
        return [a for a in self._adapters.values() if isinstance(a, NodePackAdapter)]

    def missing_nodes_error(self, node_types: set[str]) -> AInfError | None:
        """NodePackAdvice seam: DEPENDENCY_MISSING naming the pack that provides these unregistered nodes."""
        return next(filter(None, (a.missing_nodes_error(node_types) for a in self._node_packs())), None)

    def called_nodes(self, node_types: set[str]) -> set[str]:
        """NodePackAdvice seam: the pack nodes our nodes among these call from inside."""
        return {n for a in self._node_packs() for n in a.called_nodes(node_types)}

    def licence_notes(self, node_types: set[str]) -> list[str]:
        """NodePackAdvice seam: the licence traps of the node packs a graph's nodes come from."""
        return list(dict.fromkeys(n for a in self._node_packs() for n in a.licence_notes(node_types)))

    # key operations ------------------------------------------------------------------------------
    async def _verify(self, adapter: EngineAdapter, key: str) -> tuple[str, float | None]:
        identity = await asyncio.wait_for(adapter.verify_identity(key), self.timeout_s)
        try:
            balance = await asyncio.wait_for(adapter.check_balance(key), self.timeout_s)
        except AInfError as exc:
            if exc.code != ErrorCode.NOT_SUPPORTED:
                raise
            balance = None
        return str((identity or {}).get("message") or "Key accepted."), balance

    async def connect(self, provider_id: str, api_key: Any, verify: bool = True) -> dict[str, Any]:
        """Verify a key with the provider and store it when valid, or store it unchecked when asked."""
        adapter = self._require_keyed(provider_id)
        if not isinstance(api_key, str):
            raise AInfError(ErrorCode.VALIDATION_ERROR, "api_key must be a string.")
        key = check_key_shape(provider_id, api_key)
        if not verify:
            return self._store(provider_id, key, None, UNVERIFIED_MESSAGE, verified=False)
        try:
            message, balance = await self._verify(adapter, key)
        except Exception as exc:
            raise _connect_error(provider_id, exc) from None
        return self._store(provider_id, key, balance, message, verified=True)

    def _store(
        self, provider_id: str, key: str, balance: float | None, message: str, *, verified: bool
    ) -> dict[str, Any]:
        self.vault.set(provider_id, key)
        self._record(provider_id, CONNECTED if verified else UNVERIFIED, key, "vault", balance, message,
                     checked=verified)  # fmt: skip
        answer = {"ok": True, "balance": balance, "message": message, "key": last4(key)}
        return answer if verified else {**answer, "verified": False}

    async def test_provider(self, provider_id: str) -> dict[str, Any]:
        """Re-check the stored key (identity + balance) and record the outcome."""
        adapter = self._require_keyed(provider_id)
        found = self.vault.get(provider_id)
        if found is None:
            return {
                "ok": False,
                "status": NOT_CONNECTED,
                "message": "No key is set.",
                "balance": None,
                "key": None,
            }
        key, source = found
        try:
            message, balance = await self._verify(adapter, key)
        except Exception as exc:
            error = _error_dict(exc)
            self._record(provider_id, ERROR, key, source, None, error["message"], error=error)
            return {
                "ok": False,
                "status": ERROR,
                "message": error["message"],
                "error": error,
                "balance": None,
                "key": last4(key),
            }
        self._record(provider_id, CONNECTED, key, source, balance, message)
        return {"ok": True, "status": CONNECTED, "message": message, "balance": balance, "key": last4(key)}

    def disconnect(self, provider_id: str) -> dict[str, Any]:
        """Forget the stored key (an environment key stays; the answer says so)."""
        self._require_known(provider_id)
        if provider_id not in KEYED_PROVIDERS:
            raise AInfError(ErrorCode.NOT_SUPPORTED, f"{provider_id} takes no API key.")
        removed = self.vault.delete(provider_id)
        self._record(provider_id, NOT_CONNECTED, None, None, None, None, checked=False)
        still = self.vault.get(provider_id)
        message = "Key removed." if removed else "No stored key."
        if still is not None:
            message += f" The environment still sets {provider_id}'s key; unset it to disconnect fully."
        return {
            "ok": True,
            "removed": removed,
            "status": self.describe(provider_id)["status"],
            "message": message,
        }

    async def health(self, provider_id: str) -> dict[str, Any]:
        """One engine's health with a timeout: status, balance, last check, error."""
        info = self.describe(provider_id)
        adapter = self.get_provider(provider_id)
        keyless = provider_id not in KEYED_PROVIDERS
        if adapter is None or (not keyless and info["status"] == NOT_CONNECTED):
            return info
        found = self.vault.get(provider_id) if not keyless else None
        try:
            result = await asyncio.wait_for(adapter.health_check(found[0] if found else None), self.timeout_s)
        except Exception as exc:
            error = _error_dict(exc)
            return {
                **info,
                "status": ERROR,
                "error": error,
                "message": error["message"],
                "last_check": iso_utc(time.time()),
            }
        ok = bool((result or {}).get("ok"))
        if keyless:
            good = RUNNING if provider_id == LOCAL_ENGINE else CONNECTED
            extra = {
                k: result.get(k) for k in ("gpu", "models", "queue", "missing", "remediation") if k in result
            }
            return {
                **info,
                **extra,
                "status": good if ok else (ERROR if provider_id == LOCAL_ENGINE else NOT_CONNECTED),
                "last_check": iso_utc(time.time()),
                "message": str((result or {}).get("message", ""))[:500],
            }
        return {
            **info,
            "status": CONNECTED if ok else ERROR,
            "last_check": iso_utc(time.time()),
            "message": str((result or {}).get("message", ""))[:500],
        }

    async def health_all(self) -> list[dict[str, Any]]:
        """Every engine's health, checked concurrently (each bounded by the timeout)."""
        return list(await asyncio.gather(*(self.health(pid) for pid in ENGINE_IDS)))
