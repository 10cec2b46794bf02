"""The error taxonomy and the one redaction rule."""

from ainfluencer.sidecar.core.errors import AInfError, ErrorCode, http_status_for, remediation_for
from ainfluencer.sidecar.core.redact import MASK, redact_secrets, register_secret

SEED_CODES = {
    "ENGINE_OFFLINE", "DEPENDENCY_MISSING", "CONTRACT_MISMATCH", "FILE_NOT_FOUND", "VALIDATION_ERROR",
    "LICENSE_UNKNOWN", "CHECKSUM_MISSING", "CHECKSUM_MISMATCH", "CONSENT_MISSING", "INSUFFICIENT_FUNDS",
    "ENGINE_TIMEOUT", "SAFETY_FILTER", "AUTH_FAILED", "RATE_LIMITED",
}  # fmt: skip


def test_every_seed_code_exists_with_a_remediation_and_a_client_or_server_status():
    assert SEED_CODES <= {c.value for c in ErrorCode}
    for code in ErrorCode:
        assert remediation_for(code), code
        assert 400 <= http_status_for(code) < 600


def test_error_shape_is_error_message_remediation_detail_job_id():
    err = AInfError(ErrorCode.FILE_NOT_FOUND, "No such clip.", detail={"name": "x.mp4"}, job_id="job_1")
    assert err.to_dict() == {
        "error": "FILE_NOT_FOUND",
        "message": "No such clip.",
        "remediation": remediation_for(ErrorCode.FILE_NOT_FOUND),
        "detail": {"name": "x.mp4"},
        "job_id": "job_1",
    }
    assert err.status == 404


def test_registered_secret_values_are_masked_anywhere_in_nested_data(canary):
    data = {"msg": f"calling with {canary} now", "items": [canary, ("a", canary)], "n": 3}
    out = redact_secrets(data)
    assert canary not in repr(out)
    assert out["msg"] == f"calling with {MASK} now"
    assert out["n"] == 3


def test_key_named_fields_are_masked_whatever_their_value():
    data = {"api_key": "abc", "X-Api-Key": "v", "access_token": "t", "Password": "p", "client_secret": "s",
            "Authorization": "Bearer zzz", "prompt": "a portrait", "nested": {"token": None}}  # fmt: skip
    out = redact_secrets(data)
    for key in ("api_key", "X-Api-Key", "access_token", "Password", "client_secret", "Authorization"):
        assert out[key] == MASK
    assert out["prompt"] == "a portrait"
    assert out["nested"] == {"token": None}


def test_authorization_values_inside_free_text_are_masked():
    out = redact_secrets("HTTP 401 for header Authorization: Bearer abcdefghijkl0123 at fal")
    assert "abcdefghijkl0123" not in out


def test_short_values_are_not_registered_so_common_words_survive():
    register_secret("abc")
    assert redact_secrets("abc") == "abc"


def test_error_detail_is_redacted(canary):
    err = AInfError(ErrorCode.AUTH_FAILED, detail={"sent": canary, "api_key": "x"})
    body = err.to_dict()
    assert canary not in repr(body)
    assert body["detail"]["api_key"] == MASK
