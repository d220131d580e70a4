"""Claude session cookies as a pool credential kind, and their tables in clewdr.toml.

Three top-level keys of the config document belong to this module:

``cookie_array``   ClewdR's table of usable cookies, one entry per cookie (valid, or
                   exhausted when ``reset_time`` is set), in ClewdR's exact shape.
``wasted_cookie``  ClewdR's table of retired cookies: ``{cookie, reason}``.
``cookie_meta``    Ours: what we learned about each cookie (account kind, routes
                   allowed or denied), ``{cookie, account, routes}``.

Why a separate ``cookie_meta`` table instead of extra keys in ClewdR's entries:
ClewdR ignores unknown top-level keys, so a file we write still loads in ClewdR.
(ClewdR's ``CookieStatus`` has no ``deny_unknown_fields`` either, so extra keys in
an entry would load too, but a table of our own can never collide with a field a
later ClewdR adds.) When ClewdR rewrites the file it drops our table; we then just
learn the capabilities again.

Loading follows ClewdR (§3.3 item 4, §3.3 item 6, §5.5): each entry is read on its
own and a broken one is dropped with a warning; a ``reset_time`` already in the past
is cleared and the cookie starts valid; a future one starts it exhausted. Beyond
ClewdR: unknown fields are kept and written back, a broken field costs only that
field, and a cookie listed in both tables stays retired (it was retired for a
reason; the usable copy is a stale duplicate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from llmproxy.credentials.capabilities import AccountKind, Capabilities
from llmproxy.credentials.cookie import mask, parse_cookie
from llmproxy.credentials.errors import CookieFormatError
from llmproxy.credentials.kinds import Loaded, StoredCredential
from llmproxy.credentials.outcomes import Updated
from llmproxy.credentials.reasons import Reason
from llmproxy.credentials.records import (
    CookieRecord,
    OAuthToken,
    entry_from_record,
    record_from_entry,
)
from llmproxy.credentials.states import State

__all__ = [
    "CLAUDE_COOKIES",
    "COOKIE_ARRAY",
    "COOKIE_META",
    "WASTED_COOKIE",
    "ClaudeCookies",
    "count_tokens_checked",
    "token_stored",
    "windows_probed",
]

COOKIE_ARRAY = "cookie_array"
WASTED_COOKIE = "wasted_cookie"
COOKIE_META = "cookie_meta"


class ClaudeCookies:
    """The :class:`~llmproxy.credentials.kinds.CredentialKind` of Claude cookies."""

    name = "cookie"

    def parse_key(self, text: str) -> str:
        return parse_cookie(text)

    def mask(self, key: str) -> str:
        return mask(key)

    def new_record(self, key: str) -> CookieRecord:
        return CookieRecord(cookie=key)

    def load(self, document: Mapping[str, Any], *, now: float) -> Loaded[CookieRecord]:
        """Read ``cookie_array``, ``wasted_cookie`` and ``cookie_meta``.

        Args:
            document: The whole parsed config (other keys are ignored).
            now: Epoch seconds; decides which cookies start exhausted.
        """
        warnings: list[str] = []
        found: dict[str, StoredCredential[CookieRecord]] = {}

        for where, raw in _array(document, COOKIE_ARRAY, warnings):
            record = record_from_entry(raw, where, warnings)
            if record is None:
                continue
            if record.key in found:
                warnings.append(f"{where}: {mask(record.key)} listed twice; first kept")
                continue
            state = State.VALID
            if record.reset_time is not None:
                if record.reset_time <= now:
                    record = replace(record, reset_time=None)
                else:
                    state = State.EXHAUSTED
            found[record.key] = StoredCredential(record, state)

        for where, raw in _array(document, WASTED_COOKIE, warnings):
            wasted = _wasted_from_entry(raw, where, warnings)
            if wasted is None:
                continue
            record, reason = wasted
            earlier = found.get(record.key)
            if earlier is not None and earlier.state is State.INVALID:
                warnings.append(f"{where}: {mask(record.key)} listed twice; first kept")
                continue
            if earlier is not None:
                warnings.append(
                    f"{where}: {mask(record.key)} is also in {COOKIE_ARRAY}; it stays retired"
                )
                record = replace(earlier.record, reset_time=None)
            found[record.key] = StoredCredential(record, State.INVALID, reason)

        for where, raw in _array(document, COOKIE_META, warnings):
            meta = _meta_from_entry(raw, where, warnings)
            if meta is None:
                continue
            key, capabilities = meta
            stored = found.get(key)
            if stored is None:
                warnings.append(f"{where}: {mask(key)} is not a known cookie; dropped")
                continue
            found[key] = replace(stored, capabilities=capabilities)

        return Loaded(tuple(found.values()), tuple(warnings))

    def dump(self, credentials: Iterable[StoredCredential[CookieRecord]]) -> dict[str, Any]:
        """``{"cookie_array": […], "wasted_cookie": […], "cookie_meta": […]}``."""
        usable: list[dict[str, Any]] = []
        wasted: list[dict[str, Any]] = []
        meta: list[dict[str, Any]] = []
        for stored in credentials:
            record = stored.record
            if stored.state is State.INVALID:
                reason = stored.reason or Reason.NULL
                wasted.append(
                    {"cookie": record.cookie, "reason": reason.to_serde(), **record.extra}
                )
            else:
                usable.append(entry_from_record(record))
            if not stored.capabilities.is_empty:
                meta.append(_meta_entry(record.cookie, stored.capabilities))
        return {COOKIE_ARRAY: usable, WASTED_COOKIE: wasted, COOKIE_META: meta}


CLAUDE_COOKIES = ClaudeCookies()


# --- record updates the Claude routes report on a lease ----------------------------


def token_stored(token: OAuthToken | None) -> Updated[CookieRecord]:
    """Store (or with ``None`` clear) the cookie's OAuth token: ``lease.report(...)``."""
    what = "OAuth token stored" if token is not None else "OAuth token cleared"
    return Updated(lambda record: record.with_token(token), what)


def count_tokens_checked(allowed: bool | None) -> Updated[CookieRecord]:
    """Remember whether the count_tokens endpoint works for this cookie (§6.6)."""
    return Updated(
        lambda record: record.with_count_tokens_allowed(allowed),
        f"count_tokens allowed = {allowed}",
    )


def windows_probed(report: Mapping[str, Any] | None, now: float) -> Updated[CookieRecord]:
    """Apply the OAuth usage endpoint's answer (``None``: the probe failed)."""
    return Updated(lambda record: record.with_probed_windows(report, now), "usage windows probed")


# --- table entries ------------------------------------------------------------------


def _array(
    document: Mapping[str, Any], name: str, warnings: list[str]
) -> Iterable[tuple[str, Any]]:
    value = document.get(name)
    if value is None:
        return ()
    # A list from tomllib, or a tuple from llmproxy.config.Settings.
    if not isinstance(value, list | tuple):
        warnings.append(f"{name} is not an array; ignored")
        return ()
    return ((f"{name}[{i}]", raw) for i, raw in enumerate(value))


def _cookie_of(raw: Any, where: str, warnings: list[str]) -> str | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("cookie"), str):
        warnings.append(f"{where}: no cookie string; dropped")
        return None
    try:
        return parse_cookie(raw["cookie"])
    except CookieFormatError as exc:
        warnings.append(f"{where}: {exc}; dropped")
        return None


def _wasted_from_entry(
    raw: Any, where: str, warnings: list[str]
) -> tuple[CookieRecord, Reason] | None:
    cookie = _cookie_of(raw, where, warnings)
    if cookie is None:
        return None
    if "reason" in raw:
        reason = Reason.from_serde(raw["reason"])
        if reason.raw is not None:
            warnings.append(f"{where} ({mask(cookie)}): unknown reason {reason.raw!r}; kept")
    else:
        # ClewdR would drop the entry; keeping it retired loses nothing.
        warnings.append(f"{where} ({mask(cookie)}): no reason; retired as Null")
        reason = Reason.NULL
    extra = {k: v for k, v in raw.items() if k not in ("cookie", "reason")}
    return CookieRecord(cookie=cookie, extra=extra), reason


def _meta_from_entry(raw: Any, where: str, warnings: list[str]) -> tuple[str, Capabilities] | None:
    cookie = _cookie_of(raw, where, warnings)
    if cookie is None:
        return None
    extra = {k: v for k, v in raw.items() if k not in ("cookie", "account", "routes")}
    account = AccountKind.UNKNOWN
    if "account" in raw:
        try:
            account = AccountKind(raw["account"])
        except ValueError:
            warnings.append(f"{where}: unknown account kind {raw['account']!r}; kept as is")
            extra["account"] = raw["account"]
    routes: dict[str, bool] = {}
    raw_routes = raw.get("routes", {})
    if isinstance(raw_routes, Mapping):
        for route, allowed in raw_routes.items():
            if isinstance(allowed, bool):
                routes[route] = allowed
            else:
                warnings.append(f"{where}: route {route!r} is not true/false; ignored")
    else:
        warnings.append(f"{where}: routes is not a table; ignored")
    return cookie, Capabilities(account, routes, extra)


def _meta_entry(cookie: str, capabilities: Capabilities) -> dict[str, Any]:
    out: dict[str, Any] = {"cookie": cookie}
    if capabilities.account is not AccountKind.UNKNOWN:
        out["account"] = capabilities.account.value
    if capabilities.routes:
        out["routes"] = dict(capabilities.routes)
    out.update(capabilities.extra)
    return out
