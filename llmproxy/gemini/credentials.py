"""Gemini AI Studio keys and Vertex AI service accounts held by the proxy.

Two pools of the generic kind (:class:`~llmproxy.credentials.Pool`), so both
get its least-busy rotation, cool-downs with ``Retry-After`` and retirement:

- :attr:`GeminiCredentials.keys`: AI Studio API keys (``gemini_keys``);
- :attr:`GeminiCredentials.vertex`: service accounts (``vertex.credentials``),
  tracked by ``client_email``; the accounts themselves, private keys
  included, are in :attr:`GeminiCredentials.accounts`.

Plus the access-token cache of the service accounts (:attr:`tokens`), and the
admin operations with the result shapes the admin API returns
(:mod:`llmproxy.routes.gemini_admin` documents them).

The app calls :meth:`dump` when it saves the config, and :meth:`sweep` /
:meth:`next_reset` from its background sweeper.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..credentials import CredentialInfo, Pool, PoolEvent, State
from .keys import GEMINI_KEYS, GeminiKeys, KeyRecord, key_id, mask_key, parse_key
from .service_account import ServiceAccount, parse_service_account
from .tokens import VertexTokens
from .vertex_accounts import VERTEX, VertexAccounts, VertexRecord

__all__ = ["AddedKey", "GeminiCredentials", "KEYS_ROUTE", "VERTEX_ROUTE"]

KEYS_ROUTE = "gemini"
VERTEX_ROUTE = "vertex"
_STATUS = {State.VALID: "valid", State.EXHAUSTED: "cooling", State.INVALID: "invalid"}


@dataclass(frozen=True, slots=True)
class AddedKey:
    """The result of adding one key: ``result`` is added, already_known or invalid."""

    key: str
    id: str | None
    result: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "id": self.id, "result": self.result, "message": self.message}


class GeminiCredentials:
    """Owns ``gemini_keys`` and ``vertex`` of the config file (see the module docstring)."""

    def __init__(
        self,
        keys: Pool[KeyRecord],
        vertex: Pool[VertexRecord],
        accounts: VertexAccounts,
        *,
        clock: Callable[[], float],
    ) -> None:
        self.keys = keys
        self.vertex = vertex
        self._accounts = accounts
        self.clock = clock
        self.tokens = VertexTokens(clock)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float],
        on_event: Callable[[PoolEvent], None],
    ) -> GeminiCredentials:
        """Load both pools from the settings; load warnings arrive as pool events."""
        document = {GEMINI_KEYS: settings.gemini_keys, VERTEX: settings.vertex}
        keys = Pool.from_document(GeminiKeys(), document, clock=clock, on_event=on_event)
        kind = VertexAccounts()
        vertex = Pool.from_document(kind, document, clock=clock, on_event=on_event)
        return cls(keys, vertex, kind, clock=clock)

    # -- what the app calls -----------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """``{"gemini_keys": [...], "vertex": {...}}`` for the config writer."""
        return {**self.keys.dump(), **self.vertex.dump()}

    def sweep(self) -> None:
        """Return keys and accounts whose cool-down ended."""
        self.keys.sweep()
        self.vertex.sweep()

    def next_reset(self) -> float | None:
        """Epoch seconds when the next cooling key or account comes back, if any."""
        times = [t for t in (self.keys.next_reset(), self.vertex.next_reset()) if t is not None]
        return min(times) if times else None

    # -- Vertex accounts ----------------------------------------------------------------

    @property
    def accounts(self) -> dict[str, ServiceAccount]:
        """``client_email`` → service account, for every account in the pool."""
        return self._accounts.accounts

    @property
    def location(self) -> str:
        """The Vertex location requests go to (``vertex.location``, default ``global``)."""
        return self._accounts.location

    def add_account(self, value: Any) -> tuple[ServiceAccount, bool]:
        """Add a service account, replacing one with the same ``client_email``.

        A replaced account starts over: valid, no cached token.

        Returns:
            The account, and whether it replaced one.

        Raises:
            ValueError: not a usable service-account key (the message says why).
        """
        account = parse_service_account(value)
        email = account.client_email
        replaced = email in self.vertex
        if replaced:
            self.vertex.remove(email)
        self.tokens.forget(email)
        self.accounts[email] = account
        self.vertex.add(email)
        return account, replaced

    def remove_account(self, email: str) -> bool:
        """Remove a service account by ``client_email``; False if there was none."""
        result = self.vertex.remove(email.strip())
        if result.removed:
            self.accounts.pop(result.key, None)
            self.tokens.forget(result.key)
        return result.removed

    def account_listing(self) -> list[dict[str, Any]]:
        """Every service account without secrets (ClewdR's fields, plus status)."""
        out = []
        for info in self.vertex.statistics().credentials:
            account = self.accounts.get(info.key)
            if account is None:
                continue
            out.append(
                {
                    "client_email": account.client_email,
                    "project_id": account.project_id,
                    "private_key_id": account.private_key_id,
                    **_status(info),
                    "token_expires_at": _int(self.tokens.cached(info.key)),
                }
            )
        return out

    # -- AI Studio keys -----------------------------------------------------------------

    def add_keys(self, texts: Iterable[str]) -> list[AddedKey]:
        """Add keys one by one; each gets its own result (bad ones do not stop the rest)."""
        results = []
        for text in texts:
            try:
                key = parse_key(text)
            except ValueError as exc:
                shown = mask_key(text.strip()) if text.strip() else ""
                results.append(AddedKey(shown, None, "invalid", str(exc)))
                continue
            added = self.keys.add(key)
            result = "added" if added.added else "already_known"
            message = "added" if added.added else f"already known ({_STATUS[added.state]})"
            results.append(AddedKey(mask_key(key), key_id(key), result, message))
        return results

    def find_key(self, *, key: str | None = None, id: str | None = None) -> str | None:
        """The stored key given in full or by its id."""
        if key is not None:
            text = key.strip()
            return text if text in self.keys else None
        if id is not None:
            for stored in self.keys.keys():
                if key_id(stored) == id.strip().lower():
                    return stored
        return None

    def remove_key(self, key: str) -> bool:
        return self.keys.remove(key).removed

    def key_listing(self) -> dict[str, Any]:
        """``{"valid": [...], "cooling": [...], "invalid": [...], "total": n}``, keys masked."""
        groups: dict[str, list[dict[str, Any]]] = {"valid": [], "cooling": [], "invalid": []}
        for info in self.keys.statistics().credentials:
            entry = {
                "key": info.masked,
                "id": key_id(info.key),
                "count_403": info.record.count_403,
                **_status(info),
            }
            groups[entry["status"]].append(entry)
        return {**groups, "total": len(self.keys)}


def _int(value: float | None) -> int | None:
    return None if value is None else int(value + 0.999)


def _status(info: CredentialInfo[Any]) -> dict[str, Any]:
    reason = info.reason
    return {
        "status": _STATUS[info.state],
        "reason": None if reason is None else str(reason),
        "reset_time": _int(info.until),
        "in_flight": info.in_flight,
    }
