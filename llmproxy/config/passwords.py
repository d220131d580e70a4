"""Generated passwords, as ClewdR makes them.

64 characters drawn uniformly from an alphabet without look-alikes (no 0/O, 1/l/I),
so a password read off a phone screen can be typed back. ``secrets.choice`` draws
from the OS CSPRNG with rejection sampling, so every character is uniform.
"""

from __future__ import annotations

import secrets

__all__ = ["ALPHABET", "LENGTH", "generate_password"]

ALPHABET = "23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 64


def generate_password() -> str:
    """A fresh 64-character password from :data:`ALPHABET`."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
