"""The server's own errors.

::

    ServerError
    ├── LifespanFailure      the app sent ``lifespan.startup.failed``: serve() raises it
    └── UnexpectedMessage    the app sent an ASGI message the protocol state does not allow
                             (also a RuntimeError: it is a bug in the app, raised into it)

Network failures are not in this tree on purpose: a client that goes away is normal
for a proxy, so the server turns it into ``http.disconnect`` instead of an error.
"""

from __future__ import annotations

__all__ = ["LifespanFailure", "ServerError", "UnexpectedMessage"]


class ServerError(Exception):
    """Base class of the errors the server raises."""


class LifespanFailure(ServerError):
    """The app reported that its lifespan startup failed; nothing was served.

    The message is the one the app put in ``lifespan.startup.failed``.
    """


class UnexpectedMessage(ServerError, RuntimeError):
    """The app sent an ASGI message that is not allowed at this point.

    For example ``http.response.body`` before ``http.response.start``, or anything
    after the final body message. Raised from ``send()`` into the app.
    """
