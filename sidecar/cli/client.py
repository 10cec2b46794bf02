"""A small HTTP client for the sidecar routes (used by the CLI and the integration tests)."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import httpx

from ..core.errors import AInfError, ErrorCode

PREFIX = "/ainfluencer/v1"


class SidecarClient:
    """Talks to a running ComfyUI with the pack; raises AInfError with the server's own error body."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, headers={"X-AInfluencer-Client": "cli"}
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = self.http.request(method, PREFIX + path, **kwargs)
        except httpx.HTTPError as exc:
            raise AInfError(ErrorCode.ENGINE_OFFLINE, f"Cannot reach {self.http.base_url}: {exc}") from exc
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400:
            if isinstance(body, dict) and body.get("error") in ErrorCode.__members__:
                raise AInfError(
                    ErrorCode(body["error"]),
                    body.get("message"),
                    remediation=body.get("remediation"),
                    detail=body.get("detail"),
                    job_id=body.get("job_id"),
                )
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH, f"HTTP {resp.status_code} from {path}", detail=resp.text[:500]
            )
        return body

    def version(self) -> dict[str, Any]:
        """GET /version."""
        return self._call("GET", "/version")

    def presets(self) -> list[dict[str, Any]]:
        """GET /presets."""
        return self._call("GET", "/presets")["presets"]

    def upload(self, path: Path) -> dict[str, Any]:
        """POST /uploads with one file."""
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with open(path, "rb") as fh:
            return self._call("POST", "/uploads", files={"file": (path.name, fh, mime)})

    def run(self, preset_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /presets/{id}/run."""
        return self._call("POST", f"/presets/{preset_id}/run", json=body)

    def batch(self, preset_id: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
        """POST /presets/{id}/batch: several runs merged into one ComfyUI prompt."""
        return self._call("POST", f"/presets/{preset_id}/batch", json={"runs": runs})

    def generate(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /generate/image|video (the v1 generate contract)."""
        return self._call("POST", f"/generate/{kind}", json=body)

    def job(self, job_id: str) -> dict[str, Any]:
        """GET /jobs/{id}."""
        return self._call("GET", f"/jobs/{job_id}")

    def jobs(self, limit: int = 20) -> dict[str, Any]:
        """GET /jobs."""
        return self._call("GET", "/jobs", params={"limit": limit})

    def logs(self, job_id: str) -> list[dict[str, Any]]:
        """GET /jobs/{id}/logs."""
        return self._call("GET", f"/jobs/{job_id}/logs")["lines"]

    def cancel(self, job_id: str) -> dict[str, Any]:
        """POST /jobs/{id}/cancel."""
        return self._call("POST", f"/jobs/{job_id}/cancel", json={})

    def providers(self) -> list[dict[str, Any]]:
        """GET /providers."""
        return self._call("GET", "/providers")["providers"]

    def connect(self, provider_id: str, api_key: str, verify: bool = True) -> dict[str, Any]:
        """POST /providers/{id}/connect (key in the JSON body only); verify=False stores it unchecked."""
        body = {"api_key": api_key, "verify": verify}
        return self._call("POST", f"/providers/{provider_id}/connect", json=body)

    def test_provider(self, provider_id: str) -> dict[str, Any]:
        """POST /providers/{id}/test."""
        return self._call("POST", f"/providers/{provider_id}/test", json={})

    def disconnect(self, provider_id: str) -> dict[str, Any]:
        """POST /providers/{id}/disconnect."""
        return self._call("POST", f"/providers/{provider_id}/disconnect", json={})

    def credits(self) -> dict[str, Any]:
        """GET /credits."""
        return self._call("GET", "/credits")

    def set_budget(self, credits: float) -> dict[str, Any]:
        """POST /credits/budget."""
        return self._call("POST", "/credits/budget", json={"credits": credits})

    def release_hold(self, job_id: str, step_id: str) -> dict[str, Any]:
        """POST /credits/holds/release: void the hold kept for a submit in doubt."""
        return self._call("POST", "/credits/holds/release", json={"job_id": job_id, "step_id": step_id})

    def estimate(self, preset_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /presets/{id}/estimate."""
        return self._call("POST", f"/presets/{preset_id}/estimate", json=body)

    def healthcheck(self) -> dict[str, Any]:
        """GET /setup/healthcheck."""
        return self._call("GET", "/setup/healthcheck")
