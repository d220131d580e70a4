"""The exceptions llmproxy raises, and which side of the wire each one blames.

Every error carries a *kind* (what went wrong, independent of wire format) and a
status. The route family that catches it renders the kind in its own wire shape
(see :mod:`llmproxy.asgi.render`), so one ``raise BadRequest("...")`` becomes an
Anthropic ``invalid_request_error``, an OpenAI ``invalid_request_error`` or a Gemini
``INVALID_ARGUMENT`` depending on who asked.

The tree::

    ProxyError                         (abstract; .kind, .status, .headers)
    ├── ClientError                    the client's request is wrong; never retried
    │   ├── BadRequest                 400 malformed JSON, wrong shape, bad value
    │   ├── AuthenticationFailed       401 missing or wrong password
    │   ├── NotFound                   404 no such route
    │   ├── MethodNotAllowed           405 route exists, method does not
    │   └── PayloadTooLarge            413 body over the limit
    ├── NotBuilt                       501 a route of the surface not served yet
    ├── NoCredentialAvailable          503 nothing in the pool can serve (Retry-After)
    └── UpstreamError                  the upstream answered badly; status comes from it

"Ours vs theirs" matters for retries: only an :class:`UpstreamError` that belongs to
a credential may move the request to another credential, and only before the first
byte has reached the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed",
    "BadRequest",
    "ClientError",
    "MethodNotAllowed",
    "NoCredentialAvailable",
    "NotBuilt",
    "NotFound",
    "PayloadTooLarge",
    "ProxyError",
    "UpstreamError",
]


class ProxyError(Exception):
    """Base of every error that becomes an HTTP error response.

    Attributes:
        kind: A wire-neutral name of the failure (``invalid_request``,
            ``authentication``, ``not_found``, ...) that renderers map to each
            family's own type string.
        status: The HTTP status to answer with.
        headers: Extra response headers (``Allow``, ``Retry-After``).
        message: Human-readable text; it names the problem, never a secret.
    """

    kind: ClassVar[str] = "api_error"
    default_status: ClassVar[int] = 500

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if type(self) is ProxyError:
            raise TypeError("ProxyError is abstract; raise one of its subclasses")
        super().__init__(message)
        self.message = message
        self.status = status if status is not None else self.default_status
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status})"


class ClientError(ProxyError):
    """The request itself is at fault; retrying it unchanged cannot help."""

    kind = "invalid_request"
    default_status = 400


class BadRequest(ClientError):
    """Malformed JSON, a body of the wrong shape, or a value out of range.

    ``param`` names the offending request field where there is one (OpenAI clients
    show it as ``error.param``).
    """

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, headers=headers)
        self.param = param


class AuthenticationFailed(ClientError):
    """The password is missing or wrong for this route."""

    kind = "authentication"
    default_status = 401


class NotFound(ClientError):
    """No route matches the path."""

    kind = "not_found"
    default_status = 404


class MethodNotAllowed(ClientError):
    """The path exists but not with this method; ``Allow`` lists the ones that do."""

    kind = "method_not_allowed"
    default_status = 405

    def __init__(self, method: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"Method {method} is not allowed here; use {', '.join(allowed)}",
            headers={"allow": ", ".join(allowed)},
        )


class PayloadTooLarge(ClientError):
    """The request body is larger than the configured limit."""

    kind = "too_large"
    default_status = 413


class NotBuilt(ProxyError):
    """A route that belongs to the proxy's surface but is not served yet."""

    kind = "not_implemented"
    default_status = 501


class NoCredentialAvailable(ProxyError):
    """No credential can serve the request now.

    ``retry_after`` is the number of seconds until the earliest parked credential
    comes back, or ``None`` when nothing will come back by itself.
    """

    kind = "unavailable"
    default_status = 503

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = str(max(1, int(retry_after + 0.999)))
        super().__init__(message, headers=headers)
        self.retry_after = retry_after


class UpstreamError(ProxyError):
    """The upstream answered with an error; it reaches the client with its status.

    Attributes:
        upstream_type: The error type string the upstream used, if any.
        body: The upstream's parsed error body, if it was JSON.
    """

    kind = "upstream"
    default_status = 502

    def __init__(
        self,
        message: str,
        *,
        status: int,
        upstream_type: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, headers=headers)
        self.upstream_type = upstream_type
        self.body = body
