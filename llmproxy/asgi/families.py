"""Route families and how each one spells an error on the wire.

A client only understands errors in its own dialect: the ``anthropic`` SDK raises
the right exception class from ``{"type":"error","error":{...}}``, ``openai`` reads
``{"error":{"message","type","param","code"}}``, ``google-genai`` reads
``{"error":{"code","message","status"}}``, and the admin page reads
``{"error": "text"}``. Every route belongs to one family, and every error raised
while serving it is rendered here, as a whole response before the headers went out
or as a stream event after.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from ..errors import ProxyError, UpstreamError

__all__ = ["Family", "error_body", "error_event", "dumps"]


class Family(enum.Enum):
    """The wire dialect a route speaks."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    GEMINI = "gemini"
    ADMIN = "admin"


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""One encoder for every call: ``json.dumps`` with options builds a new one each
time, which costs as much as encoding a small streamed chunk."""


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, the one encoding used for every body and event we write."""
    return _ENCODE(obj).encode()


# kind -> Anthropic error.type (protocols.md §1.9)
_ANTHROPIC_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "method_not_allowed": "invalid_request_error",
    "too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "unavailable": "overloaded_error",
    "not_implemented": "api_error",
    "api_error": "api_error",
}

# kind -> OpenAI (type, code) (protocols.md §2.6)
_OPENAI_TYPES: dict[str, tuple[str, str | None]] = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("invalid_request_error", "invalid_api_key"),
    "permission": ("invalid_request_error", "permission_denied"),
    "not_found": ("invalid_request_error", "not_found"),
    "method_not_allowed": ("invalid_request_error", "method_not_allowed"),
    "too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit": ("rate_limit_exceeded", "rate_limit_exceeded"),
    "unavailable": ("server_error", "no_credential_available"),
    "not_implemented": ("server_error", "not_implemented"),
    "api_error": ("server_error", None),
}

# HTTP status -> google.rpc.Code name (protocols.md §3.5)
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _gemini_status(status: int) -> str:
    if status in _GEMINI_STATUS:
        return _GEMINI_STATUS[status]
    return "INVALID_ARGUMENT" if status < 500 else "INTERNAL"


def error_object(family: Family, exc: ProxyError) -> dict[str, Any]:
    """The JSON object that describes ``exc`` in ``family``'s dialect."""
    upstream_type = exc.upstream_type if isinstance(exc, UpstreamError) else None
    if family is Family.ANTHROPIC:
        etype = upstream_type or _ANTHROPIC_TYPES.get(exc.kind, "api_error")
        return {"type": "error", "error": {"type": etype, "message": exc.message}}
    if family is Family.OPENAI:
        otype, code = _OPENAI_TYPES.get(exc.kind, ("server_error", None))
        if upstream_type:
            otype = upstream_type
        param = getattr(exc, "param", None)
        return {"error": {"message": exc.message, "type": otype, "param": param, "code": code}}
    if family is Family.GEMINI:
        return {
            "error": {
                "code": exc.status,
                "message": exc.message,
                "status": _gemini_status(exc.status),
            }
        }
    return {"error": exc.message}


def error_body(family: Family, exc: ProxyError) -> bytes:
    """A whole error response body, for when no header has been sent yet."""
    return dumps(error_object(family, exc))


def error_event(family: Family, exc: ProxyError) -> bytes:
    """An error as one server-sent event, for a stream whose 200 already went out.

    Anthropic clients dispatch on the ``event:`` line; OpenAI and Gemini clients
    read ``data:`` only (google-genai treats any other line as fatal).
    """
    payload = dumps(error_object(family, exc))
    if family is Family.ANTHROPIC:
        return b"event: error\ndata: " + payload + b"\n\n"
    return b"data: " + payload + b"\n\n"
