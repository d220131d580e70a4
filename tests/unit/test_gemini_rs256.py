"""The hand-written RS256 signer and PEM reader, checked against ``cryptography``.

PKCS#1 v1.5 signatures are deterministic, so ours must equal cryptography's byte
for byte, for every key layout and size and any message.
"""

from __future__ import annotations

import base64
import functools

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from llmproxy.gemini.rs256 import KeyFormatError, RSAPrivateKey, load_pem_private_key, sign_sha256


@functools.cache
def _key(bits: int, exponent: int = 65537) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=exponent, key_size=bits)


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, layout: serialization.PrivateFormat,
         encryption: serialization.KeySerializationEncryption | None = None) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, layout, encryption or serialization.NoEncryption()
    ).decode()


def _reference(key: rsa.RSAPrivateKey, message: bytes) -> bytes:
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


PKCS8 = serialization.PrivateFormat.PKCS8
PKCS1 = serialization.PrivateFormat.TraditionalOpenSSL


@pytest.mark.parametrize("bits", [1024, 2048, 3072])
@pytest.mark.parametrize("layout", [PKCS8, PKCS1])
def test_signatures_equal_cryptographys(bits: int, layout: serialization.PrivateFormat) -> None:
    reference = _key(bits)
    ours = load_pem_private_key(_pem(reference, layout))
    for message in (b"", b"header.claims", bytes(range(256)) * 20):
        signature = sign_sha256(ours, message)
        assert len(signature) == bits // 8
        assert signature == _reference(reference, message)


def test_an_odd_exponent_other_than_65537() -> None:
    reference = _key(1024, exponent=3)
    ours = load_pem_private_key(_pem(reference, PKCS8))
    assert ours.e == 3
    assert sign_sha256(ours, b"x") == _reference(reference, b"x")


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=2000))
def test_any_message(message: bytes) -> None:
    reference = _key(1024)
    ours = load_pem_private_key(_pem(reference, PKCS8))
    signature = sign_sha256(ours, message)
    reference.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_blinding_does_not_change_the_signature() -> None:
    reference = _key(1024)
    ours = load_pem_private_key(_pem(reference, PKCS8))
    fixed = [sign_sha256(ours, b"m", randbelow=lambda n, r=r: r) for r in (0, 1, 12345, 2**100)]
    assert len(set(fixed)) == 1 and fixed[0] == _reference(reference, b"m")


def test_the_key_never_shows_in_repr() -> None:
    ours = load_pem_private_key(_pem(_key(1024), PKCS8))
    assert repr(ours) == "<RSAPrivateKey 1024-bit>"
    assert str(ours.d)[:20] not in repr(ours)


def test_literal_backslash_n_from_an_environment_variable() -> None:
    pem = _pem(_key(1024), PKCS8)
    ours = load_pem_private_key(pem.replace("\n", "\\n"))
    assert sign_sha256(ours, b"x") == _reference(_key(1024), b"x")


def test_text_around_the_pem_block_is_ignored() -> None:
    pem = _pem(_key(1024), PKCS1)
    assert load_pem_private_key(f"key follows:\n{pem}\ntrailing words").n == _key(1024).private_numbers().public_numbers.n


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no PEM block"),
        ("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----", "base64"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "not an RSA private key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----", "no PEM block"),
        ("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----", "too few fields"),
        ("-----BEGIN PRIVATE KEY-----\nMIIBAAA=\n-----END PRIVATE KEY-----", "truncated"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIA=\n-----END RSA PRIVATE KEY-----", "bad length"),
    ],
)
def test_malformed_keys_are_refused_with_a_reason(text: str, words: str) -> None:
    with pytest.raises(KeyFormatError, match=words):
        load_pem_private_key(text)


def test_encrypted_keys_are_refused() -> None:
    pem = _pem(_key(1024), PKCS8, serialization.BestAvailableEncryption(b"secret"))
    with pytest.raises(KeyFormatError, match="encrypted"):
        load_pem_private_key(pem)


def test_other_algorithms_are_refused() -> None:
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), PKCS8)
    with pytest.raises(KeyFormatError, match="not an RSA key"):
        load_pem_private_key(pem)


def _der_of(pem: str) -> bytes:
    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    return base64.b64decode(body)


def _pem_of(der: bytes, label: str = "RSA PRIVATE KEY") -> str:
    return f"-----BEGIN {label}-----\n{base64.b64encode(der).decode()}\n-----END {label}-----\n"


def test_every_truncation_of_a_key_is_refused_cleanly() -> None:
    der = _der_of(_pem(_key(1024), PKCS1))
    for cut in range(0, len(der), 7):
        with pytest.raises(KeyFormatError):
            load_pem_private_key(_pem_of(der[:cut]))


def test_trailing_bytes_after_the_key_are_refused() -> None:
    der = _der_of(_pem(_key(1024), PKCS1))
    with pytest.raises(KeyFormatError, match="one DER SEQUENCE"):
        load_pem_private_key(_pem_of(der + b"\x00"))


def test_inconsistent_parameters_are_refused() -> None:
    ours = load_pem_private_key(_pem(_key(1024), PKCS1))
    tampered = RSAPrivateKey(ours.n, ours.e, ours.d + 2, ours.p, ours.q, ours.dp, ours.dq, ours.qinv)
    der = _encode_pkcs1(tampered)
    with pytest.raises(KeyFormatError, match="private exponent"):
        load_pem_private_key(_pem_of(der))
    swapped = RSAPrivateKey(ours.n + 2, ours.e, ours.d, ours.p, ours.q, ours.dp, ours.dq, ours.qinv)
    with pytest.raises(KeyFormatError, match="primes"):
        load_pem_private_key(_pem_of(_encode_pkcs1(swapped)))
    crt = RSAPrivateKey(ours.n, ours.e, ours.d, ours.p, ours.q, ours.dp + 1, ours.dq, ours.qinv)
    with pytest.raises(KeyFormatError, match="CRT"):
        load_pem_private_key(_pem_of(_encode_pkcs1(crt)))


def test_multi_prime_keys_are_refused() -> None:
    ours = load_pem_private_key(_pem(_key(1024), PKCS1))
    der = _encode_pkcs1(ours, version=1)
    with pytest.raises(KeyFormatError, match="multi-prime"):
        load_pem_private_key(_pem_of(der))


def test_a_key_too_small_for_sha256_is_refused_when_signing() -> None:
    tiny = RSAPrivateKey(3233, 17, 2753, 61, 53, 2753 % 60, 2753 % 52, pow(53, -1, 61))
    with pytest.raises(KeyFormatError, match="too short"):
        sign_sha256(tiny, b"x")


# -- a tiny DER writer, for hand-made keys -----------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _int(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return b"\x02" + _length(len(raw)) + raw


def _encode_pkcs1(key: RSAPrivateKey, version: int = 0) -> bytes:
    body = b"".join(_int(v) for v in (version, key.n, key.e, key.d, key.p, key.q, key.dp, key.dq, key.qinv))
    return b"\x30" + _length(len(body)) + body


def test_the_der_writer_above_matches_cryptographys() -> None:
    reference = _key(1024)
    ours = load_pem_private_key(_pem(reference, PKCS1))
    assert _encode_pkcs1(ours) == _der_of(_pem(reference, PKCS1))
