"""The claude.ai account lookups and the flag policy (clewdr-behaviour.md §4.3, §5.4).

``account_from_lookups`` is fed the parsed JSON of ``/api/bootstrap`` and
``/api/organizations``; ``web_verdict`` is checked rule by rule against a table of
(flags, settings) → verdict. Settings are a ``SimpleNamespace`` with just the
``skip_*`` switches; the real :class:`~llmproxy.config.Settings` is checked once
to have the same attribute names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from llmproxy.claude.web_account import (
    Flag,
    NoAccount,
    WebAccount,
    account_from_lookups,
    web_verdict,
)
from llmproxy.config import Settings
from llmproxy.credentials import AccountKind, Exhausted, Reason, ReasonKind, Retired

NOW = 1_800_000_000.0
HOUR = 3600.0
PRO_CAPS = ["chat", "claude_pro"]
MAX_CAPS = ["chat", "claude_max"]
FREE_CAPS = ["chat"]


def settings(**skips: bool) -> SimpleNamespace:
    """Every ``skip_*`` switch off unless named."""
    names = (
        "skip_first_warning",
        "skip_second_warning",
        "skip_restricted",
        "skip_non_pro",
        "skip_normal_pro",
    )
    unknown = set(skips) - set(names)
    assert not unknown, unknown
    return SimpleNamespace(**{name: skips.get(name, False) for name in names})


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def org(uuid: str, capabilities: list[str], flags: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"uuid": uuid, "name": uuid, "capabilities": capabilities}
    if flags is not None:
        out["active_flags"] = flags
    return out


def bootstrap(*orgs: dict[str, Any], email: Any = "someone@example.com") -> dict[str, Any]:
    return {
        "account": {
            "uuid": "acc-1",
            "email_address": email,
            "memberships": [{"organization": o} for o in orgs],
        }
    }


def account(kind: AccountKind = AccountKind.PRO, *flags: Flag) -> WebAccount:
    caps = {AccountKind.PRO: PRO_CAPS, AccountKind.MAX: MAX_CAPS, AccountKind.FREE: FREE_CAPS}[kind]
    return WebAccount(org_uuid="org-1", kind=kind, capabilities=tuple(caps), flags=tuple(flags))


# --- account_from_lookups -------------------------------------------------------------


@pytest.mark.parametrize(
    "boot",
    [
        {"account": None},
        {},
        {"account": "nobody"},
        None,
        [],
    ],
)
def test_a_bootstrap_without_an_account_is_a_dead_cookie(boot: Any) -> None:
    with pytest.raises(NoAccount, match="no account"):
        account_from_lookups(boot, [org("o", PRO_CAPS)])


@pytest.mark.parametrize(
    "organizations",
    [
        [],
        [org("api-only", ["api", "claude_pro"])],
        [{"uuid": "", "capabilities": ["chat"]}],
        [{"capabilities": ["chat"]}],
        [{"uuid": "o", "capabilities": "chat"}],
        ["not an org", 3, None],
        {"error": "not a list"},
    ],
)
def test_no_chat_organisation_anywhere_is_no_account(organizations: Any) -> None:
    boot = bootstrap(org("api-only", ["api"]))
    with pytest.raises(NoAccount, match="organisation"):
        account_from_lookups(boot, organizations)


def test_the_chat_organisation_with_most_capabilities_is_chosen() -> None:
    organizations = [
        org("small", ["chat"]),
        org("api", ["api", "billing", "x", "y", "z"]),  # more capabilities, but cannot chat
        org("big", ["chat", "claude_pro", "claude_max", "raven"]),
        org("medium", ["chat", "claude_pro"]),
    ]
    got = account_from_lookups(bootstrap(org("small", ["chat"])), organizations)
    assert got.org_uuid == "big"
    assert got.capabilities == ("chat", "claude_pro", "claude_max", "raven")
    assert got.kind is AccountKind.MAX
    assert got.is_pro
    assert got.email == "someone@example.com"


def test_an_empty_organisations_list_falls_back_to_the_memberships() -> None:
    boot = bootstrap(org("member-free", ["chat"]), org("member-pro", ["chat", "claude_pro"]))
    got = account_from_lookups(boot, [])
    assert got.org_uuid == "member-pro"
    assert got.kind is AccountKind.PRO
    assert got.flags == ()


def test_organisations_that_cannot_chat_also_fall_back_to_the_memberships() -> None:
    boot = bootstrap(org("member", ["chat"]))
    got = account_from_lookups(boot, [org("api", ["api"])])
    assert got.org_uuid == "member"
    assert got.kind is AccountKind.FREE
    assert not got.is_pro


def test_organisations_list_wins_over_memberships_when_it_has_a_chat_org() -> None:
    boot = bootstrap(org("member", ["chat", "claude_pro", "claude_max", "a", "b"]))
    got = account_from_lookups(boot, [org("listed", ["chat"])])
    assert got.org_uuid == "listed"
    assert got.kind is AccountKind.FREE


@pytest.mark.parametrize(
    ("caps", "kind"),
    [
        (["chat"], AccountKind.FREE),
        (["chat", "claude_pro"], AccountKind.PRO),
        (["chat", "enterprise"], AccountKind.PRO),
        (["chat", "raven"], AccountKind.PRO),
        (["chat", "claude_max"], AccountKind.MAX),
    ],
)
def test_account_kind_comes_from_the_capabilities(caps: list[str], kind: AccountKind) -> None:
    got = account_from_lookups(bootstrap(), [org("o", caps)])
    assert got.kind is kind
    assert got.is_pro is (kind is not AccountKind.FREE)


def test_flags_are_read_with_rfc3339_and_epoch_expiries() -> None:
    flags = [
        {"type": "first_warning", "expires_at": rfc3339(NOW + HOUR)},
        {"type": "second_warning", "expires_at": "2027-01-15T08:00:00+02:00"},
        {"type": "restricted", "expires_at": NOW + 2 * HOUR},
        {"type": "restricted", "expires_at": int(NOW + 3 * HOUR)},
        {"type": "banned", "expires_at": None},
        {"type": "weird", "expires_at": "not a date"},
        {"type": "bool", "expires_at": True},
        {"type": 7, "expires_at": NOW},  # no string type: skipped
        "not a flag",
    ]
    got = account_from_lookups(bootstrap(), [org("o", PRO_CAPS, flags)])
    assert got.flags == (
        Flag("first_warning", NOW + HOUR),
        Flag("second_warning", datetime(2027, 1, 15, 6, 0, tzinfo=UTC).timestamp()),
        Flag("restricted", NOW + 2 * HOUR),
        Flag("restricted", NOW + 3 * HOUR),
        Flag("banned", None),
        Flag("weird", None),
        Flag("bool", None),
    )


def test_flags_come_from_the_chosen_organisation_only() -> None:
    organizations = [
        org("small", ["chat"], [{"type": "banned", "expires_at": rfc3339(NOW + HOUR)}]),
        org("big", PRO_CAPS, [{"type": "first_warning", "expires_at": rfc3339(NOW + HOUR)}]),
    ]
    got = account_from_lookups(bootstrap(), organizations)
    assert got.org_uuid == "big"
    assert [f.type for f in got.flags] == ["first_warning"]


def test_missing_or_null_active_flags_is_no_flags() -> None:
    assert account_from_lookups(bootstrap(), [org("o", PRO_CAPS)]).flags == ()
    assert (
        account_from_lookups(bootstrap(), [org("o", PRO_CAPS, None) | {"active_flags": None}]).flags
        == ()
    )


def test_an_email_that_is_not_a_string_is_dropped() -> None:
    assert account_from_lookups(bootstrap(email=None), [org("o", PRO_CAPS)]).email is None
    assert account_from_lookups(bootstrap(email=42), [org("o", PRO_CAPS)]).email is None


# --- web_verdict ---------------------------------------------------------------------


def warn(kind: str, hours: float = 1.0) -> Flag:
    return Flag(kind, NOW + hours * HOUR)


def parked_until(until: float) -> Exhausted:
    return Exhausted(until, Reason.restricted(int(until)))


VERDICTS: list[tuple[str, WebAccount, dict[str, bool], Any]] = [
    # no flags
    ("plain pro is used", account(AccountKind.PRO), {}, None),
    ("plain max is used", account(AccountKind.MAX), {}, None),
    ("plain free is used", account(AccountKind.FREE), {}, None),
    (
        "free with skip_non_pro retires",
        account(AccountKind.FREE),
        {"skip_non_pro": True},
        Retired(Reason.FREE),
    ),
    ("pro is not free", account(AccountKind.PRO), {"skip_non_pro": True}, None),
    ("max is not free", account(AccountKind.MAX), {"skip_non_pro": True}, None),
    (
        "skip_normal_pro without flags",
        account(AccountKind.PRO),
        {"skip_normal_pro": True},
        Retired(Reason.NORMAL_PRO),
    ),
    # banned beats everything, whatever the options
    ("banned", account(AccountKind.PRO, Flag("banned", None)), {}, Retired(Reason.BANNED)),
    (
        "banned in a longer name",
        account(AccountKind.PRO, warn("account_BANNED_tos")),
        {},
        Retired(Reason.BANNED),
    ),
    (
        "banned before free",
        account(AccountKind.FREE, warn("banned")),
        {"skip_non_pro": True},
        Retired(Reason.BANNED),
    ),
    (
        "banned beside restricted",
        account(AccountKind.PRO, warn("restricted", 5), warn("banned")),
        {"skip_restricted": True},
        Retired(Reason.BANNED),
    ),
    ("expired ban is ignored", account(AccountKind.PRO, warn("banned", -1)), {}, None),
    # restricted
    ("restricted, not skipped", account(AccountKind.PRO, warn("restricted", 5)), {}, None),
    (
        "restricted, skipped: park until expiry",
        account(AccountKind.PRO, warn("restricted", 5)),
        {"skip_restricted": True},
        parked_until(NOW + 5 * HOUR),
    ),
    (
        "restricted not skipped: warnings and normal-pro are not looked at",
        account(
            AccountKind.PRO, warn("restricted", 5), warn("second_warning"), warn("first_warning")
        ),
        {"skip_second_warning": True, "skip_first_warning": True, "skip_normal_pro": True},
        None,
    ),
    (
        "restricted: the latest expiry counts",
        account(
            AccountKind.PRO, warn("restricted", 2), warn("restricted", 9), warn("restricted", 4)
        ),
        {"skip_restricted": True},
        parked_until(NOW + 9 * HOUR),
    ),
    (
        "restricted: an expired one does not count",
        account(AccountKind.PRO, warn("restricted", -2)),
        {"skip_restricted": True},
        None,
    ),
    (
        "restricted: expired ones do not push the expiry",
        account(AccountKind.PRO, warn("restricted", -2), warn("restricted", 3)),
        {"skip_restricted": True},
        parked_until(NOW + 3 * HOUR),
    ),
    (
        "restricted without expiry parks for a day",
        account(AccountKind.PRO, Flag("restricted", None)),
        {"skip_restricted": True},
        parked_until(NOW + 24 * HOUR),
    ),
    (
        "restricted flag on a free account without skip_non_pro",
        account(AccountKind.FREE, warn("restricted")),
        {"skip_restricted": True},
        parked_until(NOW + HOUR),
    ),
    # second warning
    ("second warning, not skipped", account(AccountKind.PRO, warn("second_warning", 6)), {}, None),
    (
        "second warning, skipped",
        account(AccountKind.PRO, warn("second_warning", 6)),
        {"skip_second_warning": True},
        parked_until(NOW + 6 * HOUR),
    ),
    (
        "second warning not skipped: first warning is not looked at",
        account(AccountKind.PRO, warn("second_warning"), warn("first_warning")),
        {"skip_first_warning": True},
        None,
    ),
    (
        "second warning: latest expiry",
        account(AccountKind.PRO, warn("second_warning", 1), warn("second_warning", 7)),
        {"skip_second_warning": True},
        parked_until(NOW + 7 * HOUR),
    ),
    (
        "second warning: expired is ignored, then skip_normal_pro applies",
        account(AccountKind.PRO, warn("second_warning", -1)),
        {"skip_second_warning": True, "skip_normal_pro": True},
        Retired(Reason.NORMAL_PRO),
    ),
    (
        "skip_restricted does not touch a second warning",
        account(AccountKind.PRO, warn("second_warning")),
        {"skip_restricted": True},
        None,
    ),
    # first warning
    ("first warning, not skipped", account(AccountKind.PRO, warn("first_warning", 8)), {}, None),
    (
        "first warning, skipped",
        account(AccountKind.PRO, warn("first_warning", 8)),
        {"skip_first_warning": True},
        parked_until(NOW + 8 * HOUR),
    ),
    (
        "first warning: latest expiry",
        account(AccountKind.PRO, warn("first_warning", 3), warn("first_warning", 1)),
        {"skip_first_warning": True},
        parked_until(NOW + 3 * HOUR),
    ),
    (
        "first warning: expired is ignored",
        account(AccountKind.PRO, warn("first_warning", -0.5)),
        {"skip_first_warning": True},
        None,
    ),
    (
        "first warning with skip_normal_pro: flagged accounts are used",
        account(AccountKind.PRO, warn("first_warning")),
        {"skip_normal_pro": True},
        None,
    ),
    (
        "flag names match case-insensitively",
        account(AccountKind.PRO, warn("First_Warning", 2)),
        {"skip_first_warning": True},
        parked_until(NOW + 2 * HOUR),
    ),
    # skip_normal_pro
    (
        "skip_normal_pro also applies to max",
        account(AccountKind.MAX),
        {"skip_normal_pro": True},
        Retired(Reason.NORMAL_PRO),
    ),
    (
        "an unknown flag is not a warning",
        account(AccountKind.PRO, warn("something_else")),
        {"skip_normal_pro": True},
        Retired(Reason.NORMAL_PRO),
    ),
    (
        "all expired flags count as none",
        account(AccountKind.PRO, warn("restricted", -1), warn("first_warning", -3)),
        {"skip_normal_pro": True, "skip_restricted": True, "skip_first_warning": True},
        Retired(Reason.NORMAL_PRO),
    ),
    (
        "free with skip_non_pro retires before a warning is looked at",
        account(AccountKind.FREE, warn("first_warning")),
        {"skip_non_pro": True, "skip_first_warning": True},
        Retired(Reason.FREE),
    ),
]


@pytest.mark.parametrize(
    ("web_account", "skips", "expected"),
    [case[1:] for case in VERDICTS],
    ids=[case[0] for case in VERDICTS],
)
def test_web_verdict(web_account: WebAccount, skips: dict[str, bool], expected: Any) -> None:
    assert web_verdict(web_account, settings(**skips), NOW) == expected


def test_a_flag_expiring_exactly_now_is_expired() -> None:
    flagged = account(AccountKind.PRO, Flag("banned", NOW))
    assert web_verdict(flagged, settings(), NOW) is None
    assert web_verdict(flagged, settings(), NOW - 1) == Retired(Reason.BANNED)


def test_parking_reason_is_restricted_with_the_expiry_as_whole_seconds() -> None:
    verdict = web_verdict(
        account(AccountKind.PRO, Flag("restricted", NOW + 10.75)),
        settings(skip_restricted=True),
        NOW,
    )
    assert isinstance(verdict, Exhausted)
    assert verdict.until == NOW + 10.75
    assert verdict.reason is not None
    assert verdict.reason.kind is ReasonKind.RESTRICTED
    assert verdict.reason.until == int(NOW + 10)


def test_the_verdict_follows_the_clock() -> None:
    flagged = account(AccountKind.PRO, warn("first_warning", 1))
    skip = settings(skip_first_warning=True)
    assert web_verdict(flagged, skip, NOW) == parked_until(NOW + HOUR)
    assert web_verdict(flagged, skip, NOW + 2 * HOUR) is None


def test_end_to_end_from_lookups_to_verdict() -> None:
    flags = [
        {"type": "first_warning", "expires_at": rfc3339(NOW - HOUR)},
        {"type": "second_warning", "expires_at": rfc3339(NOW + 4 * HOUR)},
        {"type": "second_warning", "expires_at": NOW + 2 * HOUR},
    ]
    got = account_from_lookups(bootstrap(), [org("o", PRO_CAPS, flags)])
    assert web_verdict(got, settings(skip_second_warning=True), NOW) == parked_until(NOW + 4 * HOUR)
    assert web_verdict(got, settings(skip_first_warning=True), NOW) is None


def test_real_settings_have_every_switch_the_verdict_reads() -> None:
    real = Settings()
    for name in (
        "skip_first_warning",
        "skip_second_warning",
        "skip_restricted",
        "skip_non_pro",
        "skip_normal_pro",
    ):
        assert getattr(real, name) is False
    assert web_verdict(account(AccountKind.FREE, warn("first_warning")), real, NOW) is None
