"""Errors of the credential layer, and whose fault each one is.

The tree::

    ValueError
    └── CookieFormatError            text given as a cookie is not one (user input)
    CredentialError                  the pool's API was misused: a bug in the caller
    ├── IllegalTransition            a state change the transition table forbids
    └── UnknownCredential            (also a KeyError) no credential with that key
    llmproxy.errors.NoCredentialAvailable   503 + Retry-After: nothing can serve now
    └── CredentialsBusy              every usable credential is at its concurrency cap

``NoCredentialAvailable`` is the proxy-wide error (it renders as a 503 in the
client's wire shape); the pool raises it directly so a route needs no translation.
``CookieFormatError`` is a ``ValueError`` because it is bad input, reported to whoever
typed it (CLI ``-f`` file, admin page), never to an API client.
"""

from __future__ import annotations

from llmproxy.errors import NoCredentialAvailable

__all__ = [
    "CookieFormatError",
    "CredentialError",
    "CredentialsBusy",
    "IllegalTransition",
    "NoCredentialAvailable",
    "UnknownCredential",
]


class CookieFormatError(ValueError):
    """The text is not a Claude session cookie; the message says why in plain words."""


class CredentialError(Exception):
    """The pool was asked for something its rules forbid; a programming error."""


class IllegalTransition(CredentialError):
    """A state change that is not in the transition table.

    Attributes:
        state: The state the credential was in.
        event: The event that was applied.
    """

    def __init__(self, state: object, event: object, masked_key: str) -> None:
        super().__init__(f"credential {masked_key}: no transition for {event} in state {state}")
        self.state = state
        self.event = event


class UnknownCredential(CredentialError, KeyError):
    """No credential with this key is in the pool (the message shows it masked)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown credential"


class CredentialsBusy(NoCredentialAvailable):
    """Usable credentials exist but each one is at ``max_concurrent_per_cookie``.

    A waiting caller may retry as soon as any lease is released; ``retry_after`` is a
    short hint (1 s) for a client that gets this as a 503.
    """
