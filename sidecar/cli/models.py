"""`ainfluencer models list|add|download`: the model catalog from the terminal, with a progress bar."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..core.paths import data_dir
from ..core.storage import open_database
from ..host import runtime
from ..models.catalog import LICENSES, TYPE_FOLDERS
from ..models.downloads import Download
from ..models.service import DownloadModelRequest, ModelsService
from .common import ProgressLines


def _service(args: argparse.Namespace) -> ModelsService:
    """The models service over the local ComfyUI base folder (models under `<base>/models/<kind>`)."""
    base = args.base_dir or runtime.default_base_dir()
    models_dir = Path(args.models_dir) if args.models_dir else base / "models"
    engine = open_database(data_dir(base / "user"))
    return ModelsService(engine, lambda kind: [models_dir / kind])


def _ack(args: argparse.Namespace) -> dict[str, bool]:
    return {
        "acknowledge_unknown_license": args.acknowledge_unknown_license,
        "acknowledge_missing_checksum": args.acknowledge_missing_checksum,
        "acknowledge_pickle": args.acknowledge_pickle,
    }


def cmd_models_list(args: argparse.Namespace) -> int:
    """Print the catalog with installed status, or (--installed) only what is installed and where."""
    models = _service(args).list_catalog()["models"]
    if args.installed:
        models = [m for m in models if m["installed"]]
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    if args.installed:
        for m in models:
            print(f"{m['id']:<44} {m['type']:<16} {m['installed_path']}")
        print(f"{len(models)} model(s) installed")
        return 0
    for m in models:
        mark = "installed" if m["installed"] else ("recommended" if m["recommended"] else "")
        flags = ",".join(m["license_flags"] + (["pickle"] if m["pickle"] else []))
        size = f"{m['size_mb']:.0f} MB" if m["size_mb"] else "?"
        print(f"{m['id']:<44} {m['type']:<16} {size:>9}  {m['license']:<26} {flags:<28} {mark}")
    return 0


def cmd_models_add(args: argparse.Namespace) -> int:
    """Add a custom entry (`--url -` reads the URL from stdin so a token stays out of the process list)."""
    url = sys.stdin.readline().strip() if args.url == "-" else args.url
    body: dict[str, Any] = {
        "name": args.name,
        "type": args.type,
        "url": url,
        "filename": args.filename,
        "license": args.license,
        "sha256": args.sha256,
        "size_mb": args.size_mb,
        "tags": args.tag,
        **_ack(args),
    }
    added = _service(args).add_custom(body)
    print(json.dumps(added, indent=2) if args.json else added["id"])
    return 0


class _Bar(ProgressLines):
    """A byte progress bar (or JSON lines) fed from a Download."""

    def __init__(self, as_json: bool) -> None:
        super().__init__(as_json, unit="B", unit_scale=True, unit_divisor=1024)

    def __call__(self, download: Download) -> None:
        state = (download.state, download.bytes_done)
        self.show(state, download.snapshot(), download.filename, download.bytes_done, download.total_bytes)


def cmd_models_download(args: argparse.Namespace) -> int:
    """Download a catalog model into the models folder, verified, with a progress bar."""
    bar = _Bar(args.json)
    try:
        path = _service(args).fetch(args.model_id, DownloadModelRequest(**_ack(args)), bar)
    finally:
        bar.close()
    print(json.dumps({"event": "completed", "path": str(path)}) if args.json else path)
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-dir", type=Path, help="ComfyUI base folder (default: the embedded one)")
    parser.add_argument("--models-dir", type=Path, help="models folder (default: <base-dir>/models)")
    parser.add_argument("--json", action="store_true")


def _acks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--acknowledge-unknown-license", action="store_true")
    parser.add_argument(
        "--acknowledge-missing-checksum", action="store_true", help="I understand the risks of no sha256"
    )
    parser.add_argument(
        "--acknowledge-pickle", action="store_true", help="accept a pickle (.ckpt/.pt/.pth/.bin)"
    )


def add_models_commands(subparsers: Any) -> None:
    """Add `models list|add|download` to the CLI's subparsers."""
    models = subparsers.add_parser("models", help="list, add and download models")
    sub = models.add_subparsers(dest="models_command", required=True)

    listing = sub.add_parser("list", help="the catalog with installed status")
    listing.add_argument("--installed", action="store_true", help="only installed models, with their paths")
    _common(listing)
    listing.set_defaults(func=cmd_models_list)

    add = sub.add_parser("add", help="add your own model entry")
    add.add_argument("--name", required=True)
    add.add_argument("--type", required=True, choices=sorted(TYPE_FOLDERS))
    add.add_argument("--url", required=True, help="http(s) URL of the file, or '-' to read it from stdin")
    add.add_argument("--filename", required=True)
    add.add_argument("--license", required=True, choices=sorted(LICENSES))
    add.add_argument("--sha256")
    add.add_argument("--size-mb", type=float)
    add.add_argument("--tag", action="append", default=[])
    _acks(add)
    _common(add)
    add.set_defaults(func=cmd_models_add)

    download = sub.add_parser("download", help="download a catalog model, verified")
    download.add_argument("model_id")
    _acks(download)
    _common(download)
    download.set_defaults(func=cmd_models_download)
