"""What a claude.ai cookie's account is, and whether the web route may use it.

Sans-IO: built from the JSON of ``GET /api/bootstrap`` and ``GET /api/organizations``
(protocols.md §4.2), judged against the ``skip_*`` settings (clewdr-behaviour.md
§5.4). The adapter caches one :class:`WebAccount` per cookie, so a request does
not pay for two lookups each time as ClewdR's does; the verdict is recomputed per
request because flags expire and settings change.

The organisation used is the chat-capable one with the most capabilities. Policy,
first match wins:

- a flag whose type contains ``banned`` → retire (``Banned``);
- the account is free and ``skip_non_pro`` → retire (``Free``);
- a ``restricted`` flag → park until it expires if ``skip_restricted``, else use;
- a ``second_warning`` flag → park if ``skip_second_warning``, else use;
- a ``first_warning`` flag → park if ``skip_first_warning``, else use;
- no flag and ``skip_normal_pro`` → not this cookie (it stays valid; ClewdR's rule);
- otherwise use it.

Expired flags are ignored; of several flags of one kind the latest expiry counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..credentials import AccountKind, Exhausted, Reason, Retired, account_kind_from_capabilities
from ..credentials.outcomes import Outcome

__all__ = ["Flag", "NoAccount", "WebAccount", "account_from_lookups", "web_verdict"]


class NoAccount(ValueError):
    """The lookups show no usable account (dead cookie, or no chat organisation)."""


@dataclass(frozen=True, slots=True)
class Flag:
    """One active account flag (``type`` as claude.ai names it, expiry in epoch seconds)."""

    type: str
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class WebAccount:
    """The parts of a cookie's account the web route needs."""

    org_uuid: str
    kind: AccountKind
    capabilities: tuple[str, ...]
    flags: tuple[Flag, ...] = ()
    email: str | None = None

    @property
    def is_pro(self) -> bool:
        """Pro, Max, Team or Enterprise: may pick the model and use extended thinking."""
        return self.kind in (AccountKind.PRO, AccountKind.MAX)


def _epoch(value: Any) -> float | None:
    """Epoch seconds from a number (seconds or milliseconds) or an RFC 3339 string (UTC if bare)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000 if value > 1e11 else float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


def _chat_orgs(items: Any) -> list[Mapping[str, Any]]:
    orgs = []
    for org in items if isinstance(items, list) else []:
        if not isinstance(org, Mapping):
            continue
        capabilities = org.get("capabilities")
        uuid = org.get("uuid")
        if isinstance(capabilities, list) and "chat" in capabilities and isinstance(uuid, str) and uuid:
            orgs.append(org)
    return orgs


def account_from_lookups(bootstrap: Any, organizations: Any) -> WebAccount:
    """Build the account from the two lookups' parsed JSON.

    Raises:
        NoAccount: ``account`` is null (the cookie is dead) or nothing can chat.
    """
    account = bootstrap.get("account") if isinstance(bootstrap, Mapping) else None
    if not isinstance(account, Mapping):
        raise NoAccount("the cookie has no account (expired or signed out)")
    memberships = account.get("memberships")
    member_orgs = _chat_orgs(
        [m.get("organization") for m in memberships if isinstance(m, Mapping)]
        if isinstance(memberships, list)
        else []
    )
    orgs = _chat_orgs(organizations) or member_orgs
    if not orgs:
        raise NoAccount("the account has no organisation that can chat")
    best = max(orgs, key=lambda org: len(org["capabilities"]))
    capabilities = tuple(str(c) for c in best["capabilities"])
    flags = []
    for raw in best.get("active_flags") or []:
        if isinstance(raw, Mapping) and isinstance(raw.get("type"), str):
            flags.append(Flag(raw["type"], _epoch(raw.get("expires_at"))))
    email = account.get("email_address")
    return WebAccount(
        org_uuid=best["uuid"],
        kind=account_kind_from_capabilities(capabilities),
        capabilities=capabilities,
        flags=tuple(flags),
        email=email if isinstance(email, str) else None,
    )


def _latest(flags: list[Flag], word: str) -> Flag | None:
    matching = [f for f in flags if word in f.type.lower()]
    if not matching:
        return None
    return max(matching, key=lambda f: f.expires_at if f.expires_at is not None else float("inf"))


def web_verdict(account: WebAccount, settings: Any, now: float) -> Outcome[Any] | None:
    """What to report instead of using the cookie, or ``None`` to use it.

    ``settings`` needs the ``skip_*`` attributes of :class:`~llmproxy.config.Settings`.
    """
    active = [f for f in account.flags if f.expires_at is None or f.expires_at > now]
    if any("banned" in f.type.lower() for f in active):
        return Retired(Reason.BANNED)
    if account.kind is AccountKind.FREE and settings.skip_non_pro:
        return Retired(Reason.FREE)
    for word, skip in (
        ("restricted", settings.skip_restricted),
        ("second_warning", settings.skip_second_warning),
        ("first_warning", settings.skip_first_warning),
    ):
        flag = _latest(active, word)
        if flag is None:
            continue
        if not skip:
            return None
        until = flag.expires_at if flag.expires_at is not None else now + 24 * 3600
        return Exhausted(until, Reason.restricted(int(until)))
    if settings.skip_normal_pro:
        return Retired(Reason.NORMAL_PRO)
    return None
