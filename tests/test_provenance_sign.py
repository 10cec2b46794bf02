"""Content credentials: what a signed output's manifest says, that it verifies, and what breaks it.

Every output is read back with c2pa-python's own Reader (`verify_file`), the way a public C2PA viewer reads
it: a made-here certificate validates with `signingCredential.untrusted` only (an untrusted signer), a
changed byte in the media payload is tampering, and no manifest holds a key or a local path.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import c2pa
import pytest
from ainfluencer.sidecar.core.errors import AInfError
from ainfluencer.sidecar.provenance.certificates import (
    INSTALL_KEY,
    check_credentials,
    configure_user_credentials,
    forget_user_credentials,
    make_install_chain,
    provenance_dir,
    signing_credentials,
)
from ainfluencer.sidecar.provenance.manifest import (
    GENERATED,
    TRANSFORMED,
    ConsentRef,
    Engine,
    Step,
)
from ainfluencer.sidecar.provenance.outputs import UNTRACKED, output_record, sign_output
from ainfluencer.sidecar.provenance.sign import file_sha256
from ainfluencer.sidecar.provenance.verify import verify_file
from conftest import EXAMPLES
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PORTRAIT = EXAMPLES / "portrait.png"
CLIP = EXAMPLES / "portrait_talking_source.mp4"
SDXL = Engine(local_model="sd_xl_base_1.0.safetensors", local_model_sha256="ab" * 32)


def _copy(source: Path, folder: Path, name: str) -> Path:
    target = folder / name
    shutil.copy(source, target)
    return target


def _manifest_bytes(path: Path) -> bytes:
    """Everything the file's manifest store says, as the reader reports it (detailed JSON)."""
    with (
        open(path, "rb") as stream,
        c2pa.Reader("image/png" if path.suffix == ".png" else "video/mp4", stream) as r,
    ):
        return r.detailed_json().encode()


def _flip_payload_byte(path: Path) -> None:
    """Change one byte of the picture data itself (inside PNG's IDAT or MP4's mdat), not the metadata."""
    data = bytearray(path.read_bytes())
    marker = b"IDAT" if path.suffix == ".png" else b"mdat"
    index = data.index(marker) + 64
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "user" / "__ainfluencer"
    folder.mkdir(parents=True)
    return folder


def _generated_png(tmp_path: Path, data_folder: Path, **context) -> Path:
    out = _copy(PORTRAIT, tmp_path, "photoreal_portrait_v1_00001_.png")
    steps = [
        Step("c2pa.created", "KSampler", "5", SDXL, GENERATED),
        Step("c2pa.filtered", "AInfluencerFilmGrain", "7", None, None),
    ]
    record = output_record(out, steps, [], replace(UNTRACKED, **context), "0.1.0")
    sign_output(out, record, data_folder)
    return out


def test_a_generated_image_validates_with_an_ai_label_and_an_untrusted_made_here_signer(
    tmp_path, data_folder
):
    out = _generated_png(
        tmp_path, data_folder, job_id="job_1", preset_id="photoreal_portrait_v1", quality_level="pro"
    )
    report = verify_file(out)
    assert report.status == "valid" and report.problems == ()
    assert report.signer == "AInfluencer content signer" and not report.trusted
    assert report.generator == "AInfluencer 0.1.0"
    assert [(a.action, a.source_type, a.step) for a in report.actions] == [
        ("c2pa.created", GENERATED, "5"),
        ("c2pa.filtered", None, "7"),
    ]
    assert report.actions[0].engine == {
        "local_model": "sd_xl_base_1.0.safetensors",
        "local_model_sha256": "ab" * 32,
    }
    with open(out, "rb") as stream, c2pa.Reader("image/png", stream) as reader:
        failures = reader.get_validation_results()["activeManifest"].get("failure", [])
        action = reader.get_active_manifest()["assertions"][0]["data"]["actions"][0]
    assert [f["code"] for f in failures] == ["signingCredential.untrusted"]
    assert action["parameters"]["preset_id"] == "photoreal_portrait_v1"
    assert action["parameters"]["quality_level"] == "pro"


def test_changing_one_byte_of_the_picture_reports_tampering(tmp_path, data_folder):
    out = _generated_png(tmp_path, data_folder)
    _flip_payload_byte(out)
    report = verify_file(out)
    assert report.status == "tampered"
    assert any("mismatch" in p for p in report.problems)


def test_changing_one_byte_of_a_signed_video_reports_tampering(tmp_path, data_folder):
    out = _copy(CLIP, tmp_path, "clip.mp4")
    record = output_record(
        out,
        [Step("c2pa.color_adjustments", "AInfluencerColorGrade", "3", None, None)],
        [CLIP],
        UNTRACKED,
        "0.1.0",
    )
    sign_output(out, record, data_folder)
    assert verify_file(out).status == "valid"
    _flip_payload_byte(out)
    assert verify_file(out).status == "tampered"


def test_a_file_without_credentials_reports_none():
    report = verify_file(PORTRAIT)
    assert report.status == "none" and report.signer is None
    assert report.summary() == "none: the file carries no content credentials\nwatermark: none"


def test_a_transformed_clip_is_opened_from_its_input_and_names_it_by_hash_and_format(tmp_path, data_folder):
    out = _copy(CLIP, tmp_path, "graded.mp4")
    steps = [
        Step("c2pa.color_adjustments", "AInfluencerColorGrade", "3", None, None),
        Step("c2pa.filtered", "AInfluencerFilmGrain", "4", None, None),
    ]
    record = output_record(out, steps, [CLIP], UNTRACKED, "0.1.0")
    sign_output(out, record, data_folder)
    report = verify_file(out)
    assert report.status == "valid"
    assert [a.action for a in report.actions] == ["c2pa.opened", "c2pa.color_adjustments", "c2pa.filtered"]
    (ingredient,) = report.ingredients
    assert (ingredient.title, ingredient.media_type, ingredient.relationship) == (
        CLIP.name,
        "video/mp4",
        "parentOf",
    )
    assert ingredient.sha256 == hashlib.sha256(CLIP.read_bytes()).hexdigest()


def test_a_chain_of_outputs_carries_each_earlier_manifest_as_an_ingredient(tmp_path, data_folder):
    image = _generated_png(tmp_path, data_folder)
    video = _copy(CLIP, tmp_path, "i2v.mp4")
    step = Step(
        "c2pa.created",
        "AInfluencerKlingImageToVideo",
        "2",
        Engine(provider="provider_kling", model_id="kling-v2-5-turbo"),
        TRANSFORMED,
    )
    context = replace(UNTRACKED, job_id="job_1", earlier_outputs=(image,))
    sign_output(video, output_record(video, [step], [PORTRAIT], context, "0.1.0"), data_folder)
    report = verify_file(video)
    assert report.status == "valid"
    assert report.actions[0].engine == {"provider": "provider_kling", "model_id": "kling-v2-5-turbo"}
    assert {(i.title, i.relationship, i.sha256) for i in report.ingredients} == {
        (image.name, "inputTo", file_sha256(image)),
        (PORTRAIT.name, "inputTo", file_sha256(PORTRAIT)),
    }
    with open(video, "rb") as stream, c2pa.Reader("video/mp4", stream) as reader:
        store = json.loads(reader.json())
    assert len(store["manifests"]) == 2  # the image's own manifest travels inside the video's


def test_an_identity_run_references_its_consent_record_by_id_and_hash_only(tmp_path, data_folder):
    consent = ConsentRef("cns_0123456789abcdef", "cd" * 32)
    out = _generated_png(tmp_path, data_folder, job_id="job_2", consent=consent)
    with open(out, "rb") as stream, c2pa.Reader("image/png", stream) as reader:
        job = next(
            a for a in reader.get_active_manifest()["assertions"] if a["label"] == "org.ainfluencer.job"
        )
    assert job["data"]["consent"] == {"consent_id": "cns_0123456789abcdef", "sha256": "cd" * 32}


def test_no_manifest_holds_the_canary_key_or_the_base_directory(tmp_path, data_folder, canary):
    inputs_dir = tmp_path / "input"
    inputs_dir.mkdir()
    upload = _copy(PORTRAIT, inputs_dir, "portrait.png")
    image = _generated_png(tmp_path, data_folder, job_id="job_3", preset_id="photoreal_portrait_v1")
    out = _copy(CLIP, tmp_path, "out.mp4")
    context = replace(UNTRACKED, job_id="job_3", preset_id="talking_clip_v1", earlier_outputs=(image,))
    engine = Engine(provider="provider_synclabs", model_id="lipsync-2")
    step = Step("c2pa.created", "AInfluencerSyncLipSync", "2", engine, TRANSFORMED)
    sign_output(out, output_record(out, [step], [upload], context, "0.1.0"), data_folder)
    for signed in (image, out):
        written = _manifest_bytes(signed)
        assert canary.encode() not in written
        assert str(tmp_path).encode() not in written and str(data_folder).encode() not in written


def test_the_install_key_is_made_once_and_kept_readable_by_its_owner_only(data_folder):
    first = signing_credentials(data_folder)
    again = signing_credentials(data_folder)
    assert first == again and first.made_here
    key_file = provenance_dir(data_folder) / INSTALL_KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    leaf, ca = x509.load_pem_x509_certificates(first.chain_pem)
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    )
    assert leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    leaf.verify_directly_issued_by(ca)


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _user_chain(
    folder: Path, *, key=None, eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,), days=30.0, sign=True
) -> tuple[Path, Path]:
    """A chain from a 'user' CA (a stand-in for a CA on the C2PA trust list) written as PEM files."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Studio CA")])
    now = datetime.datetime.now(datetime.UTC)
    start, year = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)
    ca_cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(start).not_valid_after(year)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf_key = key or ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Studio")])
    builder = (
        x509.CertificateBuilder().subject_name(leaf_name).issuer_name(name)
        .public_key(leaf_key.public_key()).serial_number(2)
        .not_valid_before(start).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(_usage(sign=sign, ca=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)
    )  # fmt: skip
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    leaf = builder.sign(ca_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    cert = folder / "studio_chain.pem"
    cert.write_bytes(leaf.public_bytes(pem) + ca_cert.public_bytes(pem))
    key_file = folder / "studio_key.pem"
    key_file.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert, key_file


def test_a_configured_user_certificate_signs_instead_of_the_made_here_one(tmp_path, data_folder):
    cert, key = _user_chain(tmp_path)
    configured = configure_user_credentials(data_folder, cert, key)
    assert not configured.made_here and signing_credentials(data_folder) == configured
    out = _generated_png(tmp_path, data_folder)
    report = verify_file(out)
    assert report.status == "valid" and report.signer == "Example Studio"
    forget_user_credentials(data_folder)
    assert signing_credentials(data_folder).made_here


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ("rsa key", "not an EC P-256 key"),
        ("other key", "does not belong to the first certificate"),
        ("no eku", "no extended key usage"),
        ("wrong eku", "does not allow C2PA claim signing"),
        ("expired", "not now"),
        ("no signing", "lacks digitalSignature"),
        ("not pem", "holds no PEM certificate"),
    ],
)
def test_a_bad_user_certificate_is_refused_with_the_reason(tmp_path, data_folder, variant, reason):
    if variant == "rsa key":
        cert, key = _user_chain(tmp_path, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    elif variant == "other key":
        cert, key = _user_chain(tmp_path)
        _, key = _user_chain(tmp_path / "other")
    elif variant == "no eku":
        cert, key = _user_chain(tmp_path, eku=())
    elif variant == "wrong eku":
        cert, key = _user_chain(tmp_path, eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    elif variant == "no signing":
        cert, key = _user_chain(tmp_path, sign=False)
    elif variant == "expired":
        cert, key = _user_chain(tmp_path, days=-0.5)
    else:
        cert, key = _user_chain(tmp_path)
        cert.write_text("not a certificate")
    with pytest.raises(AInfError) as info:
        configure_user_credentials(data_folder, cert, key)
    assert info.value.code.value == "VALIDATION_ERROR" and reason in info.value.message
    assert signing_credentials(data_folder).made_here  # nothing half-configured is left behind


def test_check_credentials_accepts_the_made_here_chain():
    made = make_install_chain()
    assert check_credentials(made.chain_pem, made.key_pem).chain_pem == made.chain_pem


def _memory_kb(field: str) -> int:
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith(field)).split()[1])


def test_signing_a_long_video_never_holds_it_in_memory_twice(tmp_path, data_folder):
    long_clip = tmp_path / "long.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-stream_loop",
            "120",
            "-i",
            str(CLIP),
            "-c",
            "copy",
            str(long_clip),
        ],
        check=True,
    )
    size_kb = long_clip.stat().st_size / 1024
    assert size_kb > 50_000
    step = Step(
        "c2pa.created", "AInfluencerSyncLipSync", "2", Engine(provider="provider_synclabs"), TRANSFORMED
    )
    _generated_png(tmp_path, data_folder)  # the library and the certificate are loaded before measuring
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current resident size
    before = _memory_kb("VmRSS:")
    sign_output(long_clip, output_record(long_clip, [step], [], UNTRACKED, "0.1.0"), data_folder)
    assert _memory_kb("VmHWM:") - before < 1.4 * size_kb
    assert verify_file(long_clip).status == "valid"
