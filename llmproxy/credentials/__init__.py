"""Credential pools: which upstream credential serves a request, and what it learned.

Sans-IO: nothing in this package imports trio, anyio or httpx, nothing awaits, and the
clock is passed in. The I/O around it (saving the file, retrying upstream calls,
sweeping on a timer) lives with the routes and the app's lifespan.
"""

from llmproxy.credentials.cookie import mask as mask
from llmproxy.credentials.cookie import parse_cookie as parse_cookie
from llmproxy.credentials.errors import CookieFormatError as CookieFormatError
from llmproxy.credentials.errors import CredentialError as CredentialError
from llmproxy.credentials.errors import CredentialsBusy as CredentialsBusy
from llmproxy.credentials.errors import IllegalTransition as IllegalTransition
from llmproxy.credentials.errors import NoCredentialAvailable as NoCredentialAvailable
from llmproxy.credentials.errors import UnknownCredential as UnknownCredential

__all__ = [
    "CookieFormatError",
    "CredentialError",
    "CredentialsBusy",
    "IllegalTransition",
    "NoCredentialAvailable",
    "UnknownCredential",
    "mask",
    "parse_cookie",
]
