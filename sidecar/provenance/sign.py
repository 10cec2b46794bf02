"""Sign a saved output in place, streamed: c2pa reads the file once and writes the signed copy beside it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import c2pa

from ..core.errors import AInfError, ErrorCode
from .certificates import SigningCredentials
from .manifest import OutputRecord, embedded_ingredient_definition, manifest_definition, mime_type

SIGNABLE = {"image/png", "image/jpeg", "image/webp", "video/mp4", "video/quicktime"}
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def can_sign(path: str | os.PathLike[str]) -> bool:
    """True for the formats c2pa embeds a manifest in that this pack writes (PNG, JPEG, WebP, MP4, MOV)."""
    return mime_type(path) in SIGNABLE


def output_error(message: str, exc: Exception, media_type: str) -> AInfError:
    """INTERNAL_ERROR for an output that could not be finished, with the library's reason (300 chars)."""
    return AInfError(
        ErrorCode.INTERNAL_ERROR, message, detail={"reason": str(exc)[:300], "format": media_type}
    )


def _signer(credentials: SigningCredentials) -> c2pa.Signer:
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, credentials.chain_pem, credentials.key_pem, None)
    return c2pa.Signer.from_info(info)


def _context() -> c2pa.Context:
    """c2pa settings for signing: the intermediate copy of the asset spools to a temp file past 1 MB.

    c2pa-rs reads the source into memory once; its intermediate copy stays in memory up to
    `core.backing_store_memory_threshold_in_mb` (512 by default, `settings::Core` in
    https://github.com/contentauth/c2pa-rs), which held a long video in memory twice.
    """
    settings = c2pa.Settings.from_dict({"core": {"backing_store_memory_threshold_in_mb": 1}})
    return c2pa.Context(settings=settings)


def sign_file(path: str | os.PathLike[str], record: OutputRecord, credentials: SigningCredentials) -> Path:
    """Embed a signed manifest of `record` into the file at `path` (replaced atomically), or raise."""
    path = Path(path)
    media_type = mime_type(path)
    if media_type not in SIGNABLE:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"Content credentials cannot be embedded in {path.suffix or 'this'} files.",
            detail={"format": media_type},
        )
    signed = path.with_name(f".{path.name}.signing")
    try:
        with c2pa.Builder(manifest_definition(record), context=_context()) as builder:
            for ingredient in record.ingredients:
                if ingredient.embed is not None:
                    with open(ingredient.embed, "rb") as stream:
                        definition = embedded_ingredient_definition(ingredient)
                        builder.add_ingredient(definition, ingredient.media_type, stream)
            with _signer(credentials) as signer, open(path, "rb") as source, open(signed, "w+b") as dest:
                builder.sign(signer, media_type, source, dest)
        os.replace(signed, path)
    except c2pa.C2paError as exc:
        message = "The output could not be signed with content credentials."
        raise output_error(message, exc, media_type) from None
    finally:
        signed.unlink(missing_ok=True)
    return path
