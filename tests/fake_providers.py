"""A test engine adapter: accepts keys that start with `good-` (and the canary), reports a balance."""

from __future__ import annotations

import asyncio
from typing import Any

from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.base import EngineAdapter


class FakeAdapter(EngineAdapter):
    """Implements identity, balance and health like a provider would, against an in-memory account."""

    def __init__(self, engine_id: str, *, accepted: tuple[str, ...] = (), balance: float | None = 12.5,
                 health_delay_s: float = 0.0) -> None:  # fmt: skip
        self.engine_id = engine_id
        super().__init__(base_url="http://127.0.0.1:9")
        self.accepted = accepted
        self.balance = balance
        self.health_delay_s = health_delay_s
        self.seen_keys: list[str] = []

    def _check(self, api_key: str) -> None:
        self.seen_keys.append(api_key)
        if not (api_key.startswith("good-") or api_key in self.accepted):
            raise AInfError(ErrorCode.AUTH_FAILED, detail={"provider": self.engine_id, "status": 401})

    async def verify_identity(self, api_key: str) -> dict[str, Any]:
        self._check(api_key)
        return {"message": f"Connected to {self.engine_id}."}

    async def check_balance(self, api_key: str) -> float | None:
        self._check(api_key)
        if self.balance is None:
            return await super().check_balance(api_key)
        return self.balance

    async def health_check(self, api_key: str | None) -> dict[str, Any]:
        await asyncio.sleep(self.health_delay_s)
        return {"ok": api_key is not None, "message": "reachable"}
