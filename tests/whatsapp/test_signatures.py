from __future__ import annotations

import pytest

from whatsapp import signatures

# RFC-style known answer: HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog").
KNOWN_BODY = b"The quick brown fox jumps over the lazy dog"
KNOWN_SIGNATURE = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


def test_sign_matches_the_known_vector():
    assert signatures.sign(KNOWN_BODY, "key") == KNOWN_SIGNATURE


def test_verify_accepts_a_valid_signature():
    assert signatures.verify(KNOWN_BODY, KNOWN_SIGNATURE, "key") is True


def test_verify_accepts_uppercase_hex():
    header = "sha256=" + KNOWN_SIGNATURE.removeprefix("sha256=").upper()

    assert signatures.verify(KNOWN_BODY, header, "key") is True


def test_verify_rejects_a_tampered_body():
    assert signatures.verify(KNOWN_BODY + b" ", KNOWN_SIGNATURE, "key") is False


def test_verify_rejects_the_wrong_secret():
    assert signatures.verify(KNOWN_BODY, KNOWN_SIGNATURE, "other-key") is False


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + KNOWN_SIGNATURE.removeprefix("sha256="),
        KNOWN_SIGNATURE.removeprefix("sha256="),
        "sha256=not-hex-at-all",
        KNOWN_SIGNATURE[:-2],
        "sha256=é" + KNOWN_SIGNATURE[8:],
    ],
)
def test_verify_rejects_missing_or_malformed_headers(header):
    assert signatures.verify(KNOWN_BODY, header, "key") is False


def test_verify_rejects_when_no_secret_is_configured():
    assert signatures.verify(KNOWN_BODY, signatures.sign(KNOWN_BODY, ""), "") is False
