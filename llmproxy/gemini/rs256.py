"""RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signatures in pure Python, for Vertex AI.

A Google service account proves who it is with a JWT signed by its RSA private
key (protocols.md §3.9). This module reads that key from the PEM text of the
service-account JSON and signs with it. It contains no networking code at all.

Why hand-written and not a dependency
-------------------------------------
The runtime may only add small, pure-Python, well-kept dependencies. The usual
candidates fail that test:

- ``cryptography`` (what google-auth uses) is a compiled extension: it cannot
  ride inside a zipapp that runs anywhere.
- ``rsa`` (python-rsa) is pure Python, but its maintainer archived it in April
  2025 (sybrenstuvel/python-rsa#245: "no longer maintained"), and it pulls in
  ``pyasn1`` for the key format.

Signing, unlike verifying or encrypting, is a small and fully specified
computation: build the PKCS#1 v1.5 encoding of a SHA-256 digest (RFC 8017
§9.2) and raise it to the private exponent. What needs care is reading the
key, so the DER reader below accepts exactly the two layouts a PEM key comes
in and checks every length and every parameter:

- PKCS#8 ``-----BEGIN PRIVATE KEY-----`` (what Google issues): a
  ``PrivateKeyInfo`` whose algorithm is ``rsaEncryption`` wrapping
- PKCS#1 ``-----BEGIN RSA PRIVATE KEY-----`` (OpenSSL's traditional form):
  ``RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dP, dQ, qInv }``.

Encrypted keys and other algorithms are refused with a message that says so.
The tests compare every signature byte for byte with ``cryptography``'s
(PKCS#1 v1.5 signatures are deterministic, so they must be identical).

Side channels: Python's big-integer ``pow`` is not constant time, so the
message is blinded with a random factor before the private operation (the
signature does not change), and the result is checked with the public exponent
before it is used, so a miscomputed signature can never leak the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["KeyFormatError", "RSAPrivateKey", "load_pem_private_key", "sign_sha256"]

# DER tags used by the two key layouts.
_INTEGER, _OCTET_STRING, _NULL, _OID, _SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
# 1.2.840.113549.1.1.1 rsaEncryption, encoded.
_RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")
# DER of DigestInfo { AlgorithmIdentifier { id-sha256, NULL }, OCTET STRING (32) }
# without the digest itself (RFC 8017 §9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL
)


class KeyFormatError(ValueError):
    """The text is not an unencrypted RSA private key in PEM; the message says why."""


@dataclass(frozen=True, slots=True)
class RSAPrivateKey:
    """An RSA private key with its CRT parameters. ``repr`` shows only the size."""

    n: int = field(repr=False)
    e: int = field(repr=False)
    d: int = field(repr=False)
    p: int = field(repr=False)
    q: int = field(repr=False)
    dp: int = field(repr=False)
    dq: int = field(repr=False)
    qinv: int = field(repr=False)

    @property
    def bits(self) -> int:
        return self.n.bit_length()

    def __repr__(self) -> str:
        return f"<RSAPrivateKey {self.bits}-bit>"


def load_pem_private_key(text: str) -> RSAPrivateKey:
    """Read an RSA private key from PEM text (PKCS#8 or PKCS#1, unencrypted).

    Service-account JSON carries the PEM with real newlines once parsed; text
    that arrived with literal ``\\n`` sequences (pasted through an environment
    variable) is accepted too.

    Raises:
        KeyFormatError: not PEM, encrypted, not RSA, or malformed inside.
    """
    if "\\n" in text and "\n" not in text.strip():
        text = text.replace("\\n", "\n")
    found = _PEM.search(text)
    if found is None:
        raise KeyFormatError("no PEM block (-----BEGIN PRIVATE KEY----- ...) found")
    label, body = found.group(1), found.group(2)
    if "ENCRYPTED" in label or "Proc-Type:" in body:
        raise KeyFormatError("the private key is encrypted; give the unencrypted key")
    if label not in ("PRIVATE KEY", "RSA PRIVATE KEY"):
        raise KeyFormatError(f"a PEM {label!r} block is not an RSA private key")
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("the PEM body is not valid base64") from None
    if label == "PRIVATE KEY":
        der = _unwrap_pkcs8(der)
    return _read_pkcs1(der)


def sign_sha256(
    key: RSAPrivateKey,
    message: bytes,
    *,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> bytes:
    """RSASSA-PKCS1-v1_5 signature of ``message`` with SHA-256 (JWS ``RS256``).

    Args:
        key: The private key.
        message: The bytes to sign.
        randbelow: Source of the blinding factor (``secrets.randbelow``); it does
            not change the result, only hides the key's timing.

    Returns:
        The signature, as long as the modulus in bytes.
    """
    size = (key.n.bit_length() + 7) // 8
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    padding = size - len(digest_info) - 3
    if padding < 8:
        raise KeyFormatError(f"a {key.bits}-bit key is too short for SHA-256 signatures")
    encoded = b"\x00\x01" + b"\xff" * padding + b"\x00" + digest_info
    m = int.from_bytes(encoded, "big")
    r = _blinding_factor(key.n, randbelow)
    blinded = (m * pow(r, key.e, key.n)) % key.n
    s = (_private_op(key, blinded) * pow(r, -1, key.n)) % key.n
    if pow(s, key.e, key.n) != m:
        raise ArithmeticError("RSA signature failed its own check; key parameters are wrong")
    return s.to_bytes(size, "big")


def _blinding_factor(n: int, randbelow: Callable[[int], int]) -> int:
    while True:
        r = randbelow(n - 2) + 2
        if math.gcd(r, n) == 1:
            return r


def _private_op(key: RSAPrivateKey, c: int) -> int:
    """``c ** d mod n`` through the Chinese remainder theorem (RFC 8017 §5.1.2)."""
    m1 = pow(c % key.p, key.dp, key.p)
    m2 = pow(c % key.q, key.dq, key.q)
    h = (key.qinv * (m1 - m2)) % key.p
    return m2 + h * key.q


# --- a minimal DER reader -----------------------------------------------------------


def _tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One tag-length-value at ``pos``: ``(tag, value, position after it)``."""
    if pos + 2 > len(data):
        raise KeyFormatError("the key's DER is truncated")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        # DER has no indefinite length (0x80); four length bytes is already 4 GiB.
        if count == 0 or count > 4 or pos + count > len(data):
            raise KeyFormatError("the key's DER has a bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise KeyFormatError("the key's DER is truncated")
    return tag, data[pos:end], end


def _children(value: bytes) -> list[tuple[int, bytes]]:
    """The elements of a SEQUENCE's contents."""
    out = []
    pos = 0
    while pos < len(value):
        tag, inner, pos = _tlv(value, pos)
        out.append((tag, inner))
    return out


def _sequence(der: bytes, what: str) -> list[tuple[int, bytes]]:
    tag, value, end = _tlv(der, 0)
    if tag != _SEQUENCE or end != len(der):
        raise KeyFormatError(f"{what} is not one DER SEQUENCE")
    return _children(value)


def _integer(item: tuple[int, bytes], what: str) -> int:
    tag, value = item
    if tag != _INTEGER or not value:
        raise KeyFormatError(f"{what} is not a DER INTEGER")
    number = int.from_bytes(value, "big", signed=True)
    if number < 0:
        raise KeyFormatError(f"{what} is negative")
    return number


def _unwrap_pkcs8(der: bytes) -> bytes:
    """The RSAPrivateKey inside a PKCS#8 PrivateKeyInfo (RFC 5208 / RFC 5958)."""
    items = _sequence(der, "the PKCS#8 key")
    if len(items) < 3:
        raise KeyFormatError("the PKCS#8 key has too few fields")
    if _integer(items[0], "the PKCS#8 version") not in (0, 1):
        raise KeyFormatError("unknown PKCS#8 version")
    tag, algorithm = items[1]
    if tag != _SEQUENCE:
        raise KeyFormatError("the PKCS#8 algorithm is not a SEQUENCE")
    parts = _children(algorithm)
    if not parts or parts[0][0] != _OID:
        raise KeyFormatError("the PKCS#8 algorithm has no identifier")
    if parts[0][1] != _RSA_ENCRYPTION:
        raise KeyFormatError("the key is not an RSA key (only RS256 is supported)")
    if any(tag != _NULL for tag, _ in parts[1:]):
        raise KeyFormatError("unexpected parameters for rsaEncryption")
    tag, inner = items[2]
    if tag != _OCTET_STRING:
        raise KeyFormatError("the PKCS#8 private key is not an OCTET STRING")
    return inner


def _read_pkcs1(der: bytes) -> RSAPrivateKey:
    """An RSAPrivateKey (RFC 8017 appendix A.1.2), checked for consistency."""
    items = _sequence(der, "the RSA key")
    if len(items) < 9:
        raise KeyFormatError("the RSA key has too few fields")
    version = _integer(items[0], "the RSA key version")
    if version != 0:
        raise KeyFormatError("multi-prime RSA keys are not supported")
    names = ("n", "e", "d", "p", "q", "dp", "dq", "qinv")
    values = [
        _integer(item, f"the RSA parameter {name}")
        for item, name in zip(items[1:9], names, strict=True)
    ]
    key = RSAPrivateKey(*values)
    _check(key)
    return key


def _check(key: RSAPrivateKey) -> None:
    """Refuse parameters that do not make one RSA key (a damaged paste, say)."""
    n, e, d, p, q = key.n, key.e, key.d, key.p, key.q
    if p < 3 or q < 3 or p * q != n:
        raise KeyFormatError("the RSA key's primes do not multiply to its modulus")
    if e < 3 or e % 2 == 0:
        raise KeyFormatError("the RSA key's public exponent is invalid")
    carmichael = math.lcm(p - 1, q - 1)
    if (d * e) % carmichael != 1:
        raise KeyFormatError("the RSA key's private exponent does not match")
    if key.dp != d % (p - 1) or key.dq != d % (q - 1) or (key.qinv * q) % p != 1:
        raise KeyFormatError("the RSA key's CRT parameters do not match")
