"""The admin page's files, read from the package so they work from inside the .pyz.

``importlib.resources`` reads ``llmproxy/admin/static/`` from wherever the package
lives: a source checkout, an installed wheel, or the zip of ``llmproxy.pyz`` (where
``open()`` on a path would fail). The files are few and small, so they are read
once, on first use, and kept in memory with a content hash as their ETag.

Every answer carries the same security headers: a Content-Security-Policy that
allows only the page's own scripts, styles and API (no inline script, so an
injected ``<script>`` or ``onclick=`` does nothing), no framing (clickjacking of
the delete buttons), no MIME sniffing and no Referer (the page's address may hold
a host name worth keeping private). ``Cache-Control: no-cache`` makes the browser
revalidate on every load, which costs a 304 and means an upgraded proxy never
serves a stale script.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

__all__ = ["SECURITY_HEADERS", "Asset", "all_assets", "asset", "not_modified", "response_headers"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
    }
)

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}

_PACKAGE = "llmproxy.admin"
_FOLDER = "static"


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the page."""

    name: str
    body: bytes
    content_type: str
    etag: str


@functools.cache
def all_assets() -> Mapping[str, Asset]:
    """Every file of ``static/`` by name (flat: the page has no sub-folders)."""
    found: dict[str, Asset] = {}
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    for entry in folder.iterdir():
        name = entry.name
        suffix = name[name.rfind(".") :] if "." in name else ""
        if not entry.is_file() or suffix not in _CONTENT_TYPES or name.startswith("."):
            continue
        body = entry.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:20]
        found[name] = Asset(name, body, _CONTENT_TYPES[suffix], f'"{digest}"')
    return MappingProxyType(found)


def asset(name: str) -> Asset | None:
    """The file called ``name``, or ``None``; only names listed in ``static/`` exist.

    Looking names up in a fixed table (rather than joining ``name`` to a path)
    leaves nothing for ``../`` or an encoded slash to reach.
    """
    return all_assets().get(name)


def response_headers(item: Asset) -> dict[str, str]:
    """Headers for answering with ``item`` (security, cache validation)."""
    return {
        **SECURITY_HEADERS,
        "etag": item.etag,
        "cache-control": "no-cache",
    }


def not_modified(item: Asset, if_none_match: str | None) -> bool:
    """Whether the browser's cached copy (by ``If-None-Match``) is still current."""
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return item.etag in tags or "*" in tags
