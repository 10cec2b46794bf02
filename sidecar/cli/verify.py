"""`ainfluencer verify FILE` and `ainfluencer signing use|reset|show|watermark` from the shell."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..core.errors import AInfError, ErrorCode
from ..core.paths import data_dir
from ..host import runtime
from ..provenance.certificates import (
    configure_user_credentials,
    forget_user_credentials,
    signing_credentials,
)
from ..provenance.image_marks import set_watermark, watermark_enabled
from ..provenance.verify import verify_file
from .common import emit

EXIT_CODES = {"valid": 0, "tampered": 1, "none": 3}


def _data_folder(base_dir: Path | None) -> Path:
    return data_dir((base_dir or runtime.default_base_dir()) / "user")


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a file's content credentials; exit 0 valid, 1 tampered, 3 none."""
    path: Path = args.file
    if not path.is_file():
        raise AInfError(ErrorCode.FILE_NOT_FOUND, f"{path.name} does not exist.", detail={"file": path.name})
    report = verify_file(path)
    emit(report.as_dict(), args.json, report.summary())
    return EXIT_CODES[report.status]


def cmd_signing(args: argparse.Namespace) -> int:
    """Choose the certificate outputs are signed with, turn the image watermark on or off, or show both."""
    folder = _data_folder(args.base_dir)
    if args.action == "watermark":
        set_watermark(folder, args.state == "on")
        credentials = signing_credentials(folder)
    elif args.action == "use":
        if args.cert is None or args.key is None:
            raise AInfError(ErrorCode.VALIDATION_ERROR, "`signing use` takes CERT and KEY (PEM files).")
        credentials = configure_user_credentials(folder, args.cert, args.key)
    else:
        if args.action == "reset":
            forget_user_credentials(folder)
        credentials = signing_credentials(folder)
    kind = "made here (untrusted signer in public viewers)" if credentials.made_here else "your certificate"
    marked = watermark_enabled(folder)
    emit(
        {"signer": credentials.signer_name, "made_here": credentials.made_here, "watermark": marked},
        args.json,
        f"signing as {credentials.signer_name}: {kind}\nwatermark on images: {'on' if marked else 'off'}",
    )
    return 0


def add_verify_commands(sub: Any) -> None:
    """Register verify and signing on the CLI's subparsers."""
    verify = sub.add_parser("verify", help="check a file's C2PA content credentials")
    verify.add_argument("file", type=Path)
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=cmd_verify)
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--base-dir", type=Path)
    options.add_argument("--json", action="store_true")
    signing = sub.add_parser("signing", help="the certificate outputs are signed with, and the watermark")
    actions = signing.add_subparsers(dest="action", required=True)
    use = actions.add_parser("use", parents=[options], help="sign with your own certificate")
    use.add_argument("cert", type=Path, nargs="?", help="PEM certificate chain, leaf first")
    use.add_argument("key", type=Path, nargs="?", help="the leaf's PEM private key, EC P-256")
    actions.add_parser("reset", parents=[options], help="go back to the made-here certificate")
    actions.add_parser("show", parents=[options], help="which certificate signs, whether images are marked")
    mark = actions.add_parser("watermark", parents=[options], help="an invisible watermark in images")
    mark.add_argument("state", choices=["on", "off"])
    signing.set_defaults(func=cmd_signing)
