"""Vertex AI service accounts as a pool credential kind, and the ``vertex`` table.

ClewdR 0.11's table (clewdr-behaviour.md §7.4)::

    [vertex]
    credentials = [ { type = "service_account", project_id = "…", client_email = "…",
                      private_key = "-----BEGIN PRIVATE KEY-----\\n…", … }, … ]
    credential = { … }        # older single-account form, merged in on load

plus one optional key of ours, ``location`` (default ``global``): the Vertex
location the requests go to.

The pool tracks each account by its ``client_email`` (not a secret, so it is
also the "masked" form); the parsed accounts, private keys included, live in
:attr:`VertexAccounts.accounts`, shared with whoever needs to sign. An entry that
cannot be used (no email, a key we cannot read) is kept and written back as it
was. The rate-limit and retirement state of an account is not saved: a restart
tries every account again, which costs one failed request at most.

This module imports no I/O library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Self

from ..credentials.kinds import Loaded, StoredCredential
from ..credentials.outcomes import TokenUsage
from ..credentials.states import State
from .service_account import ServiceAccount, parse_service_account

__all__ = ["DEFAULT_LOCATION", "VERTEX", "VertexAccounts", "VertexRecord"]

VERTEX = "vertex"
DEFAULT_LOCATION = "global"


@dataclass(frozen=True, slots=True)
class VertexRecord:
    """The pool's record of one service account: its email and cool-down."""

    client_email: str
    reset_time: float | None = None

    @property
    def key(self) -> str:
        return self.client_email

    def parked(self, until: float) -> Self:
        return replace(self, reset_time=until)

    def unparked(self) -> Self:
        return replace(self, reset_time=None)

    def with_usage(self, usage: TokenUsage) -> Self:
        return self

    def refreshed(self, now: float) -> Self:
        return self


class VertexAccounts:
    """The :class:`~llmproxy.credentials.kinds.CredentialKind` of service accounts.

    Attributes:
        accounts: ``client_email`` → parsed account, for every account in the pool.
        unusable: Entries of ``credentials`` that could not be read, kept for the file.
        extra: The other keys of the ``vertex`` table (``location``, unknown ones).
    """

    name = "vertex credential"

    def __init__(self) -> None:
        self.accounts: dict[str, ServiceAccount] = {}
        self.unusable: list[Any] = []
        self.extra: dict[str, Any] = {}

    @property
    def location(self) -> str:
        value = self.extra.get("location")
        return value.strip() if isinstance(value, str) and value.strip() else DEFAULT_LOCATION

    def parse_key(self, text: str) -> str:
        email = text.strip()
        if "@" not in email:
            raise ValueError("a Vertex credential is named by its client_email")
        return email

    def mask(self, key: str) -> str:
        return key

    def new_record(self, key: str) -> VertexRecord:
        return VertexRecord(key)

    def load(self, document: Mapping[str, Any], *, now: float) -> Loaded[VertexRecord]:
        """Read the ``vertex`` table: ``credentials`` first, then the legacy ``credential``."""
        warnings: list[str] = []
        table = document.get(VERTEX) or {}
        if not isinstance(table, Mapping):
            warnings.append(f"{VERTEX} is not a table; ignored")
            table = {}
        self.accounts = {}
        self.unusable = []
        self.extra = {k: v for k, v in table.items() if k not in ("credentials", "credential")}
        entries: list[tuple[str, Any]] = []
        listed = table.get("credentials") or ()
        if isinstance(listed, list | tuple):
            entries += [(f"{VERTEX}.credentials[{i}]", raw) for i, raw in enumerate(listed)]
        else:
            warnings.append(f"{VERTEX}.credentials is not an array; ignored")
        if table.get("credential"):
            entries.append((f"{VERTEX}.credential", table["credential"]))
        found: list[StoredCredential[VertexRecord]] = []
        for where, raw in entries:
            try:
                account = parse_service_account(raw)
            except ValueError as exc:
                warnings.append(f"{where}: {exc}; kept in the file, not used")
                self.unusable.append(raw)
                continue
            if account.client_email in self.accounts:
                continue  # ClewdR merged the two forms by client_email, first wins
            self.accounts[account.client_email] = account
            found.append(StoredCredential(VertexRecord(account.client_email), State.VALID))
        return Loaded(tuple(found), tuple(warnings))

    def dump(self, credentials: Iterable[StoredCredential[VertexRecord]]) -> dict[str, Any]:
        """``{"vertex": {"credentials": [...], …}}``; an empty table when nothing is set."""
        listed: list[Any] = [
            dict(self.accounts[c.record.key].raw)
            for c in credentials
            if c.record.key in self.accounts
        ]
        listed.extend(self.unusable)
        table: dict[str, Any] = dict(self.extra)
        if listed:
            table["credentials"] = listed
        return {VERTEX: table}
