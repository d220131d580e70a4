"""Google service-account JSON: what we read from it, and the JWT it signs.

Vertex AI takes an OAuth2 access token. A service account gets one without a
browser (protocols.md §3.9): it signs a short-lived JWT with its private key
and trades it at its ``token_uri`` for an access token. This module builds that
JWT; :mod:`.tokens` does the exchange. No networking here.

The JSON a user pastes is kept whole (:attr:`ServiceAccount.raw`) and written
back to the config file as it came, so fields we do not read survive.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .rs256 import KeyFormatError, RSAPrivateKey, load_pem_private_key, sign_sha256

__all__ = [
    "DEFAULT_TOKEN_URI",
    "JWT_LIFETIME",
    "SCOPE",
    "ServiceAccount",
    "jwt_assertion",
    "parse_service_account",
]

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_LIFETIME = 3600
"""Seconds a signed assertion is valid; Google accepts at most one hour."""


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The parts of a service-account key the proxy uses.

    Attributes:
        client_email: The account's identity (also how the admin API names it).
        project_id: The Google Cloud project Vertex AI calls are billed to.
        private_key_id: Goes into the JWT header as ``kid``.
        token_uri: Where the signed JWT is exchanged for an access token.
        key: The RSA private key (never printed).
        raw: The JSON object as given, written back to the config file.
    """

    client_email: str
    project_id: str
    private_key_id: str | None
    token_uri: str
    key: RSAPrivateKey = field(repr=False)
    raw: Mapping[str, Any] = field(repr=False, compare=False)


def parse_service_account(value: Any) -> ServiceAccount:
    """Read a service-account key given as a JSON object or JSON text.

    Raises:
        ValueError: it is not a usable service-account key; the message names the
            field that is missing or wrong (never its secret value).
    """
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("the credential is not valid JSON") from None
    if not isinstance(value, Mapping):
        raise ValueError("the credential must be a JSON object (a service-account key file)")
    kind = value.get("type", "service_account")
    if kind != "service_account":
        raise ValueError(f"the credential's type is {kind!r}, not 'service_account'")
    email = _text(value, "client_email")
    project = _text(value, "project_id")
    pem = _text(value, "private_key")
    key_id = value.get("private_key_id")
    if key_id is not None and not isinstance(key_id, str):
        raise ValueError("private_key_id must be a string")
    token_uri = value.get("token_uri") or DEFAULT_TOKEN_URI
    if not isinstance(token_uri, str) or urlsplit(token_uri).scheme not in ("http", "https"):
        raise ValueError("token_uri must be an http(s) URL")
    try:
        key = load_pem_private_key(pem)
    except KeyFormatError as exc:
        raise ValueError(f"private_key: {exc}") from None
    return ServiceAccount(email, project, key_id or None, token_uri, key, dict(value))


def _text(value: Mapping[str, Any], name: str) -> str:
    found = value.get(name)
    if not isinstance(found, str) or not found.strip():
        raise ValueError(f"the credential has no {name}")
    return found.strip()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(obj: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":")).encode())


def jwt_assertion(
    account: ServiceAccount,
    now: float,
    *,
    scope: str = SCOPE,
    randbelow: Callable[[int], int] | None = None,
) -> str:
    """A signed JWT for the ``jwt-bearer`` grant (RFC 7523), compact form.

    The audience is the account's own ``token_uri``: for every real key that is
    ``https://oauth2.googleapis.com/token``, the value Google requires, and a key
    pointed at another token endpoint (a test double) is checked against it.

    Args:
        account: The service account.
        now: Epoch seconds (``iat``; ``exp`` is an hour later).
        scope: Space-separated OAuth scopes.
        randbelow: Blinding source for the signer (default ``secrets.randbelow``).
    """
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id:
        header["kid"] = account.private_key_id
    issued = int(now)
    claims = {
        "iss": account.client_email,
        "scope": scope,
        "aud": account.token_uri,
        "iat": issued,
        "exp": issued + JWT_LIFETIME,
    }
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    if randbelow is None:
        signature = sign_sha256(account.key, signing_input.encode("ascii"))
    else:
        signature = sign_sha256(account.key, signing_input.encode("ascii"), randbelow=randbelow)
    return f"{signing_input}.{_b64url(signature)}"
