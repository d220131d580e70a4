"""Admin API for Gemini keys and Vertex credentials (admin password as ``Authorization: Bearer``).

ClewdR's routes and request bodies (clewdr-behaviour.md §7.4) work unchanged;
the answers are supersets of ClewdR's. Errors are ``{"error": "<text>"}``.
Every change is saved to the config file by the app's saver.

``GET /api/keys``
    200::

        {"valid":   [KEY, …],   # usable now
         "cooling": [KEY, …],   # rate-limited until reset_time
         "invalid": [KEY, …],   # out of rotation; reason says why
         "total":   3}

    with ``KEY`` = ``{"key": "AIzaSyAB12…wxyz" (masked), "id": "3f2a…" (12 hex
    digits: SHA-256 of the key, stable, safe to show), "count_403": 0,
    "status": "valid" | "cooling" | "invalid", "reason": str | null,
    "reset_time": epoch seconds | null, "in_flight": 0}``.
    (ClewdR: ``{"valid": [{"key", "count_403"}]}``, keys in clear.)

``POST /api/key``
    ``{"key": "AIza…"}`` (ClewdR) or ``{"keys": ["AIza…", …]}``; ``keys`` may
    also be one string of keys separated by blanks, commas or new lines.
    200::

        {"results": [{"key": masked, "id": str | null,
                      "result": "added" | "already_known" | "invalid",
                      "message": str}, …],
         "added": 1, "already_known": 0, "invalid": 0}

    A single ``{"key"}`` that is not a key answers 400 ``{"error": "Invalid key: …"}``
    (as ClewdR); in a ``keys`` list a bad entry only gets ``"invalid"``.
    A key already known keeps its state (re-adding does not revive a retired
    key: delete it first).

``DELETE /api/key``
    ``{"key": "AIza…"}`` (the full key, ClewdR) or ``{"id": "3f2a…"}``.
    204 when removed; 404 ``{"error": "Key not found"}``; 400 when neither is given.

``GET /api/vertex/credentials``
    200, an array (ClewdR's shape, plus status)::

        [{"client_email", "project_id", "private_key_id",
          "status": "valid" | "cooling" | "invalid", "reason", "reset_time",
          "in_flight", "token_expires_at": epoch seconds | null}, …]

    No private key, ever.

``POST /api/vertex/credential``
    ``{"credential": <service-account JSON object, or that JSON as a string>}``.
    200 ``{"client_email", "project_id", "replaced": bool}``; an account with the
    same ``client_email`` is replaced (and starts over as valid).
    400 ``{"error": "Invalid credential: <why>"}`` (missing field, unreadable key).

``DELETE /api/vertex/credential``
    ``{"client_email": "…"}``. 204 when removed; 404 ``{"error": "Credential not
    found"}``.
"""

from __future__ import annotations

import re
from typing import Any

from ..asgi.request import Request
from ..errors import BadRequest, NotFound
from ..gemini.credentials import GeminiCredentials

__all__ = ["key", "keys", "vertex_credential", "vertex_credentials"]

_SEPARATORS = re.compile(r"[\s,;]+")


def _gemini(request: Request) -> GeminiCredentials:
    gemini: GeminiCredentials = request.app.gemini
    return gemini


def _body(request: Request) -> dict[str, Any]:
    return request.json()


async def keys(request: Request) -> None:
    """``GET /api/keys``."""
    await request.send_json(_gemini(request).key_listing())


async def key(request: Request) -> None:
    """``POST /api/key`` (add) and ``DELETE /api/key`` (remove)."""
    gemini = _gemini(request)
    body = _body(request)
    if request.method == "DELETE":
        given_key, given_id = body.get("key"), body.get("id")
        if not isinstance(given_key, str) and not isinstance(given_id, str):
            raise BadRequest("Give the key as {\"key\": \"AIza…\"} or its id as {\"id\": \"…\"}")
        found = gemini.find_key(
            key=given_key if isinstance(given_key, str) else None,
            id=given_id if isinstance(given_id, str) else None,
        )
        if found is None or not gemini.remove_key(found):
            raise NotFound("Key not found")
        request.app.mark_dirty()
        await request.send_bytes(b"", status=204, content_type=b"text/plain")
        return
    single = body.get("key")
    many = body.get("keys")
    if isinstance(single, str) and many is None:
        results = gemini.add_keys([single])
        if results[0].result == "invalid":
            raise BadRequest(f"Invalid key: {results[0].message}")
    elif isinstance(many, str):
        results = gemini.add_keys(t for t in _SEPARATORS.split(many) if t)
    elif isinstance(many, list) and all(isinstance(t, str) for t in many):
        results = gemini.add_keys(many)
    else:
        raise BadRequest("Send {\"key\": \"AIza…\"} or {\"keys\": [\"AIza…\", …]}")
    request.app.mark_dirty()
    counts = {
        name: sum(1 for r in results if r.result == name)
        for name in ("added", "already_known", "invalid")
    }
    await request.send_json({"results": [r.to_json() for r in results], **counts})


async def vertex_credentials(request: Request) -> None:
    """``GET /api/vertex/credentials``."""
    await request.send_json(_gemini(request).account_listing())


async def vertex_credential(request: Request) -> None:
    """``POST /api/vertex/credential`` (add or replace) and ``DELETE`` (remove)."""
    gemini = _gemini(request)
    body = _body(request)
    if request.method == "DELETE":
        email = body.get("client_email")
        if not isinstance(email, str) or not email.strip():
            raise BadRequest("Give the account as {\"client_email\": \"…\"}")
        if not gemini.remove_account(email):
            raise NotFound("Credential not found")
        request.app.mark_dirty()
        await request.send_bytes(b"", status=204, content_type=b"text/plain")
        return
    if "credential" not in body:
        raise BadRequest("Send the service-account key as {\"credential\": {…}}")
    try:
        account, replaced = gemini.add_account(body["credential"])
    except ValueError as exc:
        raise BadRequest(f"Invalid credential: {exc}") from None
    request.app.mark_dirty()
    await request.send_json(
        {
            "client_email": account.client_email,
            "project_id": account.project_id,
            "replaced": replaced,
        }
    )
