"""The one error configuration code raises."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why.

    A file that raises this is never overwritten: the user's edits stay on disk
    for them to fix.
    """
