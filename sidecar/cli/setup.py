"""`ainfluencer keys list|set|test|rm PROVIDER`, `ainfluencer credits`, `ainfluencer doctor`."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..core.errors import AInfError, ErrorCode
from ..remote.vault import ENV_NAMES, env_key_name
from .client import SidecarClient
from .common import emit, server


def provider_id(name: str) -> str:
    """`fal`, `FAL` or `provider_fal` → `provider_fal` (VALIDATION_ERROR for anything else)."""
    norm = name.strip().lower()
    norm = norm if norm.startswith("provider_") else f"provider_{norm}"
    if norm not in ENV_NAMES:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"Unknown provider {name!r}.",
            remediation=[f"Use one of: {', '.join(p.removeprefix('provider_') for p in ENV_NAMES)}."],
        )
    return norm


def read_key(pid: str, from_env: bool) -> str:
    """The key from the environment (--from-env), a hidden prompt on a terminal, or stdin; never argv."""
    if from_env:
        name = env_key_name(pid) or ""
        key = os.environ.get(name, "").strip()
        if not key:
            raise AInfError(ErrorCode.VALIDATION_ERROR, f"{name} is not set.")
        return key
    if sys.stdin.isatty():
        key = getpass.getpass(f"API key for {pid} (input hidden): ")
    else:
        key = sys.stdin.readline()
    key = key.strip()
    if not key:
        raise AInfError(ErrorCode.VALIDATION_ERROR, "No key was given on stdin.")
    return key


def _server(args: argparse.Namespace) -> AbstractContextManager[SidecarClient]:
    return server(args.server, args.base_dir, getattr(args, "json", False))


def render_keys(providers: list[dict[str, Any]]) -> str:
    """Keyed providers as a table: status, key …last4, where the key comes from, whether it was checked."""
    lines = [f"{'PROVIDER':<12}{'STATUS':<15}{'KEY':<10}{'SOURCE':<13}VERIFIED"]
    for provider in providers:
        verified = {True: "yes", False: "no", None: "-"}[provider["verified"]]
        name = provider["id"].removeprefix("provider_")
        key, source = provider["key"] or "-", provider["key_source"] or "-"
        lines.append(f"{name:<12}{provider['status']:<15}{key:<10}{source:<13}{verified}")
    return "\n".join(lines)


def cmd_keys(args: argparse.Namespace) -> int:
    """List keys, or set (verified unless --no-verify), test or remove one through the sidecar's routes."""
    if args.action == "list":
        with _server(args) as client:
            keyed = [p for p in client.providers() if p["id"] in ENV_NAMES]
        emit(keyed, args.json, render_keys(keyed))
        return 0
    pid = provider_id(args.provider)
    key = read_key(pid, args.from_env) if args.action == "set" else None
    with _server(args) as client:
        if args.action == "set":
            result = client.connect(pid, key or "", verify=not args.no_verify)
            if result.get("verified") is False:
                emit(
                    result,
                    args.json,
                    f"{pid}: stored without a check (key {result['key']}). {result['message']}",
                )
                return 0
            balance = "" if result["balance"] is None else f", balance {result['balance']}"
            emit(result, args.json, f"{pid}: connected (key {result['key']}{balance}). {result['message']}")
            return 0
        if args.action == "test":
            result = client.test_provider(pid)
            emit(result, args.json, f"{pid}: {result['status']} — {result['message']}")
            return 0 if result["ok"] else 1
        result = client.disconnect(pid)
        emit(result, args.json, f"{pid}: {result['message']}")
        return 0


def cmd_credits(args: argparse.Namespace) -> int:
    """Show the balance, set the budget (--budget N) or release a hold kept for a submit in doubt."""
    with _server(args) as client:
        if args.release:
            data = client.release_hold(*args.release)
        else:
            data = client.set_budget(args.budget) if args.budget is not None else client.credits()
    spent = ", ".join(f"{k} {v}" for k, v in data["spent_by_provider"].items()) or "nothing yet"
    emit(data, args.json, f"available {data['available']}  pending {data['pending']}  spent: {spent}")
    return 0


def render_health(health: dict[str, Any]) -> str:
    """The health matrix as terminal text."""
    lines = [f"{'ENGINE':<24}{'STATUS':<15}{'KEY':<10}{'BALANCE':<10}MESSAGE"]
    for engine in health["engines"]:
        balance = "-" if engine.get("balance") is None else str(engine["balance"])
        message = engine.get("message") or (engine.get("error") or {}).get("message") or ""
        key = engine.get("key") or "-"
        lines.append(f"{engine['id']:<24}{engine['status']:<15}{key:<10}{balance:<10}{message}")
    for disk in health["disk"]:
        free = f"{disk['free_bytes'] / 1024**3:.1f} GiB free" if "free_bytes" in disk else disk["message"]
        lines.append(f"disk ({disk['label']}): {'ok' if disk['ok'] else 'LOW'} — {free} at {disk['path']}")
    gpu = health["gpu"]
    lines.append(f"gpu: {gpu.get('name') or ''} {gpu['message']}".replace("  ", " "))
    data_dir = health["data_dir"]
    lines.append(f"data dir: {'ok' if data_dir['ok'] else 'PROBLEM'} — {data_dir['message']}")
    lines.append("overall: " + ("healthy" if health["ok"] else "needs attention"))
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Print the health matrix (engines, disk, GPU, data-dir permission)."""
    with _server(args) as client:
        health = client.healthcheck()
    emit(health, args.json, render_health(health))
    return 0 if health["ok"] else 1


def add_setup_commands(sub: Any) -> None:
    """Register keys, credits and doctor on the CLI's subparsers."""

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--server", help="URL of a running ComfyUI with the pack (default: start one)")
        parser.add_argument("--base-dir", type=Path)
        parser.add_argument("--json", action="store_true")

    keys = sub.add_parser("keys", help="list, set, test or remove provider API keys (read from stdin or env)")
    actions = keys.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="providers with status, key …last4, source and verification")
    common(listing)
    for action, text in (
        ("set", "verify and store a key"),
        ("test", "check the stored key"),
        ("rm", "remove it"),
    ):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("provider", help="kling, fal, runware or synclabs")
        if action == "set":
            parser.add_argument(
                "--from-env",
                action="store_true",
                help="take the key from AINFLUENCER_PROVIDER_<NAME>_API_KEY",
            )
            parser.add_argument(
                "--no-verify", action="store_true", help="store the key without checking it with the provider"
            )
        common(parser)
    keys.set_defaults(func=cmd_keys)

    credits = sub.add_parser("credits", help="show the credit balance or set the budget")
    credits.add_argument("--budget", type=float, help="set the available balance to this many credits")
    credits.add_argument(
        "--release",
        nargs=2,
        metavar=("JOB_ID", "STEP_ID"),
        help="release the credits held for a submit in doubt once the provider shows no such job",
    )
    common(credits)
    credits.set_defaults(func=cmd_credits)

    doctor = sub.add_parser("doctor", help="print the health matrix")
    common(doctor)
    doctor.set_defaults(func=cmd_doctor)
