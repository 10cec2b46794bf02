"""The signing identity: a per-install ES256 CA + leaf made on first use, or the user's own certificate.

Files live in `<ComfyUI user dir>/__ainfluencer/provenance/` beside the key vault, private keys at 0600.
A made-here chain is valid but not on the C2PA trust list, so public viewers show it as an untrusted signer; a
certificate from a CA on the list (https://github.com/c2pa-org/conformance-public/tree/main/trust-list)
replaces it through `configure_user_credentials`.
"""

from __future__ import annotations

import datetime
import io
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from ..core.errors import AInfError, ErrorCode

FOLDER = "provenance"
INSTALL_CHAIN, INSTALL_KEY = "install_chain.pem", "install_key.pem"
USER_CHAIN, USER_KEY = "user_chain.pem", "user_key.pem"
ORGANIZATION = "AInfluencer"
_DIGITAL_CREATION = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCreation"
# EKUs a C2PA claim signer may carry (C2PA 2.1 §14.5.1,
# https://spec.c2pa.org/specifications/specifications/2.1/specs/C2PA_Specification.html#_certificate_profile)
_SIGNER_EKUS = {
    ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ExtendedKeyUsageOID.CODE_SIGNING,
    ExtendedKeyUsageOID.TIME_STAMPING,
    ExtendedKeyUsageOID.OCSP_SIGNING,
    x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1"),  # c2pa-kp-claimSigning
}


@dataclass(frozen=True)
class SigningCredentials:
    """A PEM certificate chain (leaf first) and its PEM private key; `made_here` for the per-install CA."""

    chain_pem: bytes
    key_pem: bytes
    made_here: bool

    @property
    def signer_name(self) -> str:
        """The leaf's common name (organisation when it has none)."""
        leaf = x509.load_pem_x509_certificates(self.chain_pem)[0]
        names = leaf.subject.get_attributes_for_oid(
            NameOID.COMMON_NAME
        ) or leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return str(names[0].value) if names else leaf.subject.rfc4514_string()


def provenance_dir(data_folder: str | os.PathLike[str]) -> Path:
    """`<data dir>/provenance` beside the key vault (`core.paths.data_dir`), created 0700 on first use."""
    folder = Path(data_folder) / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by this user only, atomically (a half-written key is never picked up)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def make_install_chain(days: int = 3650) -> SigningCredentials:
    """A fresh ES256 (P-256) CA and a leaf it signs, with the extensions C2PA validators require."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("AInfluencer install CA")
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(_name("AInfluencer content signer")).issuer_name(ca_name)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return SigningCredentials(leaf.public_bytes(pem) + ca.public_bytes(pem), key_pem, made_here=True)


def _refuse(reason: str) -> AInfError:
    return AInfError(
        ErrorCode.VALIDATION_ERROR,
        f"The signing certificate was refused: {reason}",
        remediation=[
            "Give a PEM certificate chain (leaf first) and the leaf's PEM private key, unencrypted.",
            "C2PA signing here uses ES256: the leaf key must be an EC P-256 key.",
        ],
        detail={"reason": reason},
    )


def check_credentials(chain_pem: bytes, key_pem: bytes) -> SigningCredentials:
    """Validate a user-supplied chain and key for ES256 C2PA signing, or raise VALIDATION_ERROR saying why."""
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise _refuse("the certificate file holds no PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise _refuse("the key file holds no unencrypted PEM private key") from None
    leaf = chain[0]
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _refuse("the private key is not an EC P-256 key (ES256)")
    if key.public_key().public_numbers() != leaf.public_key().public_numbers():
        raise _refuse("the private key does not belong to the first certificate in the chain")
    now = datetime.datetime.now(datetime.UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise _refuse(
            f"the certificate is valid from {leaf.not_valid_before_utc:%Y-%m-%d}"
            f" to {leaf.not_valid_after_utc:%Y-%m-%d}, not now"
        )
    try:
        ekus = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        raise _refuse("the certificate has no extended key usage (C2PA needs e.g. emailProtection)") from None
    if not ekus & _SIGNER_EKUS:
        raise _refuse("the certificate's extended key usage does not allow C2PA claim signing")
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise _refuse("the certificate has no key usage (C2PA needs digitalSignature)") from None
    if not usage.digital_signature:
        raise _refuse("the certificate's key usage lacks digitalSignature")
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise _refuse("the chain is out of order: each certificate must be issued by the next") from None
    return SigningCredentials(chain_pem, key_pem, made_here=False)


def _trial_sign(credentials: SigningCredentials) -> None:
    """Sign a 1x1 PNG in memory, so a chain c2pa would refuse is refused now, with its reason."""
    image = io.BytesIO()
    Image.new("RGB", (1, 1)).save(image, format="PNG")
    image.seek(0)
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, credentials.chain_pem, credentials.key_pem, None)
    created = {"action": "c2pa.created", "digitalSourceType": _DIGITAL_CREATION}
    definition = {
        "claim_generator_info": [{"name": ORGANIZATION}],
        "title": "check.png",
        "format": "image/png",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [created]}}],
    }
    try:
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(definition) as builder:
            builder.sign(signer, "image/png", image, io.BytesIO())
    except c2pa.C2paError as exc:
        raise _refuse(f"the C2PA signer refused it ({exc})") from None


def configure_user_credentials(
    data_folder: str | os.PathLike[str], cert: Path, key: Path
) -> SigningCredentials:
    """Check the user's certificate chain and key, then keep copies (0600) that signing uses from now on."""
    credentials = check_credentials(cert.read_bytes(), key.read_bytes())
    _trial_sign(credentials)
    folder = provenance_dir(data_folder)
    _write_private(folder / USER_CHAIN, credentials.chain_pem)
    _write_private(folder / USER_KEY, credentials.key_pem)
    return credentials


def forget_user_credentials(data_folder: str | os.PathLike[str]) -> None:
    """Go back to the made-here certificate."""
    folder = provenance_dir(data_folder)
    for name in (USER_CHAIN, USER_KEY):
        (folder / name).unlink(missing_ok=True)


def signing_credentials(data_folder: str | os.PathLike[str]) -> SigningCredentials:
    """The user's configured certificate if there is one, else the per-install chain (made on first use)."""
    folder = provenance_dir(data_folder)
    if (folder / USER_CHAIN).is_file() and (folder / USER_KEY).is_file():
        return check_credentials((folder / USER_CHAIN).read_bytes(), (folder / USER_KEY).read_bytes())
    chain, key = folder / INSTALL_CHAIN, folder / INSTALL_KEY
    if not (chain.is_file() and key.is_file()):
        made = make_install_chain()
        _write_private(key, made.key_pem)
        _write_private(chain, made.chain_pem)
        return made
    return SigningCredentials(chain.read_bytes(), key.read_bytes(), made_here=True)
