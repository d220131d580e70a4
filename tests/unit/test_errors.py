"""Error kinds rendered in each family's dialect, as bodies and as stream events."""

from __future__ import annotations

import json

import pytest

from llmproxy.asgi.families import Family, error_body, error_event
from llmproxy.errors import (
    AuthenticationFailed,
    BadRequest,
    MethodNotAllowed,
    NoCredentialAvailable,
    NotBuilt,
    NotFound,
    PayloadTooLarge,
    ProxyError,
    UpstreamError,
)

CASES = [
    # error, status, anthropic type, (openai type, code), gemini status
    (BadRequest("bad"), 400, "invalid_request_error", ("invalid_request_error", None), "INVALID_ARGUMENT"),
    (AuthenticationFailed("no"), 401, "authentication_error", ("invalid_request_error", "invalid_api_key"), "UNAUTHENTICATED"),
    (NotFound("where"), 404, "not_found_error", ("invalid_request_error", "not_found"), "NOT_FOUND"),
    (MethodNotAllowed("GET", ("POST",)), 405, "invalid_request_error", ("invalid_request_error", "method_not_allowed"), "INVALID_ARGUMENT"),
    (PayloadTooLarge("big"), 413, "request_too_large", ("invalid_request_error", "request_too_large"), "INVALID_ARGUMENT"),
    (NotBuilt("later"), 501, "api_error", ("server_error", "not_implemented"), "UNIMPLEMENTED"),
    (NoCredentialAvailable("none", retry_after=12.2), 503, "overloaded_error", ("server_error", "no_credential_available"), "UNAVAILABLE"),
    (UpstreamError("slow down", status=429, upstream_type="rate_limit_error"), 429, "rate_limit_error", ("rate_limit_error", None), "RESOURCE_EXHAUSTED"),
]


@pytest.mark.parametrize(("error", "status", "anthropic", "openai", "gemini"), CASES)
def test_dialects(error: ProxyError, status: int, anthropic: str, openai: tuple[str, str | None], gemini: str) -> None:
    assert error.status == status
    assert json.loads(error_body(Family.ANTHROPIC, error)) == {
        "type": "error",
        "error": {"type": anthropic, "message": error.message},
    }
    assert json.loads(error_body(Family.OPENAI, error)) == {
        "error": {"message": error.message, "type": openai[0], "param": None, "code": openai[1]}
    }
    assert json.loads(error_body(Family.GEMINI, error)) == {
        "error": {"code": status, "message": error.message, "status": gemini}
    }
    assert json.loads(error_body(Family.ADMIN, error)) == {"error": error.message}


def test_no_error_is_a_success() -> None:
    for error, *_ in CASES:
        assert error.status >= 400


def test_headers_carried() -> None:
    assert MethodNotAllowed("PUT", ("GET", "POST")).headers == {"allow": "GET, POST"}
    assert NoCredentialAvailable("x", retry_after=12.2).headers == {"retry-after": "13"}
    assert NoCredentialAvailable("x", retry_after=0.0).headers == {"retry-after": "1"}
    assert NoCredentialAvailable("x").headers == {}


def test_base_class_is_abstract() -> None:
    with pytest.raises(TypeError):
        ProxyError("x")


def test_stream_error_events() -> None:
    error = UpstreamError("boom", status=529, upstream_type="overloaded_error")
    anthropic = error_event(Family.ANTHROPIC, error)
    assert anthropic.startswith(b"event: error\ndata: ")
    assert anthropic.endswith(b"\n\n")
    assert json.loads(anthropic.split(b"data: ", 1)[1])["error"]["type"] == "overloaded_error"
    for family in (Family.OPENAI, Family.GEMINI):
        event = error_event(family, error)
        # OpenAI and google-genai read data lines only; the error object must come first
        assert event.startswith(b'data: {"error":')
        assert b"event:" not in event
