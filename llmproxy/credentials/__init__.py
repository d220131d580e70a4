"""Credential pools: which upstream credential serves a request, and what it learned.

Sans-IO: nothing in this package imports trio, anyio or httpx, nothing awaits, and the
clock is passed in. The I/O around it (saving the file, retrying upstream calls,
sweeping on a timer) lives with the routes and the app's lifespan.

Where things are::

    cookie.py          Claude cookie text → stored value; masking for logs
    reasons.py         why a credential is out (ClewdR's Reason, serde both ways)
    records.py         one cookie_array entry: token, usage buckets, windows
    capabilities.py    learned facts: account kind, routes allowed or denied
    states.py          VALID / EXHAUSTED / INVALID and the transition table
    outcomes.py        what a request reports on its lease
    failures.py        upstream error → outcome (whose fault), reset-time parsing
    sticky.py          bounded prompt-prefix → credential memo
    kinds.py           what differs between credential kinds (protocols)
    pool.py            the pool and its leases
    claude_cookies.py  the Claude cookie kind and its clewdr.toml tables
    errors.py          the exception tree
"""

from llmproxy.credentials.capabilities import AccountKind as AccountKind
from llmproxy.credentials.capabilities import Capabilities as Capabilities
from llmproxy.credentials.capabilities import (
    account_kind_from_capabilities as account_kind_from_capabilities,
)
from llmproxy.credentials.claude_cookies import CLAUDE_COOKIES as CLAUDE_COOKIES
from llmproxy.credentials.claude_cookies import ClaudeCookies as ClaudeCookies
from llmproxy.credentials.claude_cookies import count_tokens_checked as count_tokens_checked
from llmproxy.credentials.claude_cookies import token_stored as token_stored
from llmproxy.credentials.claude_cookies import windows_probed as windows_probed
from llmproxy.credentials.cookie import mask as mask
from llmproxy.credentials.cookie import parse_cookie as parse_cookie
from llmproxy.credentials.errors import CookieFormatError as CookieFormatError
from llmproxy.credentials.errors import CredentialError as CredentialError
from llmproxy.credentials.errors import CredentialsBusy as CredentialsBusy
from llmproxy.credentials.errors import IllegalTransition as IllegalTransition
from llmproxy.credentials.errors import NoCredentialAvailable as NoCredentialAvailable
from llmproxy.credentials.errors import UnknownCredential as UnknownCredential
from llmproxy.credentials.failures import classify_failure as classify_failure
from llmproxy.credentials.failures import parse_reset_time as parse_reset_time
from llmproxy.credentials.kinds import CredentialKind as CredentialKind
from llmproxy.credentials.kinds import Loaded as Loaded
from llmproxy.credentials.kinds import PoolRecord as PoolRecord
from llmproxy.credentials.kinds import StoredCredential as StoredCredential
from llmproxy.credentials.outcomes import Exhausted as Exhausted
from llmproxy.credentials.outcomes import Incapable as Incapable
from llmproxy.credentials.outcomes import Learned as Learned
from llmproxy.credentials.outcomes import Outcome as Outcome
from llmproxy.credentials.outcomes import Retired as Retired
from llmproxy.credentials.outcomes import Succeeded as Succeeded
from llmproxy.credentials.outcomes import TokenUsage as TokenUsage
from llmproxy.credentials.outcomes import Updated as Updated
from llmproxy.credentials.pool import AddResult as AddResult
from llmproxy.credentials.pool import CredentialInfo as CredentialInfo
from llmproxy.credentials.pool import EventKind as EventKind
from llmproxy.credentials.pool import Lease as Lease
from llmproxy.credentials.pool import Pool as Pool
from llmproxy.credentials.pool import PoolEvent as PoolEvent
from llmproxy.credentials.pool import PoolStatistics as PoolStatistics
from llmproxy.credentials.pool import RemoveResult as RemoveResult
from llmproxy.credentials.reasons import Reason as Reason
from llmproxy.credentials.reasons import ReasonKind as ReasonKind
from llmproxy.credentials.records import CookieRecord as CookieRecord
from llmproxy.credentials.records import OAuthToken as OAuthToken
from llmproxy.credentials.records import UsageBucket as UsageBucket
from llmproxy.credentials.states import State as State

__all__ = [
    "CLAUDE_COOKIES",
    "AccountKind",
    "AddResult",
    "Capabilities",
    "ClaudeCookies",
    "CookieFormatError",
    "CookieRecord",
    "CredentialError",
    "CredentialInfo",
    "CredentialKind",
    "CredentialsBusy",
    "EventKind",
    "Exhausted",
    "IllegalTransition",
    "Incapable",
    "Learned",
    "Lease",
    "Loaded",
    "NoCredentialAvailable",
    "OAuthToken",
    "Outcome",
    "Pool",
    "PoolEvent",
    "PoolRecord",
    "PoolStatistics",
    "Reason",
    "ReasonKind",
    "RemoveResult",
    "Retired",
    "State",
    "StoredCredential",
    "Succeeded",
    "TokenUsage",
    "UnknownCredential",
    "Updated",
    "UsageBucket",
    "account_kind_from_capabilities",
    "classify_failure",
    "count_tokens_checked",
    "mask",
    "parse_cookie",
    "parse_reset_time",
    "token_stored",
    "windows_probed",
]
