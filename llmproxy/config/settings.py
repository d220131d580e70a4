"""The settings of one proxy, and the ``clewdr.toml`` keys they come from.

The field table below is the contract with ClewdR users: same key names, same
types, same defaults (clewdr-behaviour.md §3.2), in the order ClewdR writes them,
so an existing ``clewdr.toml`` works unchanged. The Gemini/Vertex keys of ClewdR's
older releases are read and kept. Keys we do not know are kept verbatim in
``Settings.extra`` and written back, because a config file is the user's, not ours.

``Settings`` is immutable: a change (from the admin page, say) produces a new
object that is swapped in whole, so a request never sees half an update.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal

from .errors import ConfigError

__all__ = ["FIELDS", "Field", "Settings", "ANTHROPIC_BASE", "DEFAULT_CLIENT_ID"]

Kind = Literal["str", "optstr", "bool", "int", "list", "table"]

ANTHROPIC_BASE = "https://api.anthropic.com"
GEMINI_BASE = "https://generativelanguage.googleapis.com"
VERTEX_BASE = "https://aiplatform.googleapis.com"
DEFAULT_CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
"""Outbound proxy schemes the HTTP client can use."""


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One key of ``clewdr.toml``.

    Attributes:
        name: The key, as ClewdR spells it.
        kind: Its type: ``str``, ``optstr`` (string or absent), ``bool``, ``int``,
            ``list`` (array of anything) or ``table``.
        default: The value when the key is absent.
        doc: One line for ``clewdr.toml.example`` and the admin page.
    """

    name: str
    kind: Kind
    default: Any
    doc: str


# Order = the order ClewdR writes its file in; the pool-owned arrays come last.
FIELDS: tuple[Field, ...] = (
    Field("ip", "str", "127.0.0.1", "Address to listen on (0.0.0.0 for every interface)."),
    Field("port", "int", 8484, "Port to listen on (0 picks a free port)."),
    Field("check_update", "bool", True, "Kept for ClewdR compatibility; llmproxy never phones home."),
    Field("auto_update", "bool", False, "Kept for ClewdR compatibility; llmproxy never self-updates."),
    Field("no_fs", "bool", False, "Never write to the filesystem (read-only or ephemeral hosts)."),
    Field("log_to_file", "bool", False, "Also write the log to llmproxy.log beside the config file."),
    Field("password", "str", "", "API password for clients; generated when empty."),
    Field("admin_password", "str", "", "Admin page password; generated when empty."),
    Field("proxy", "optstr", None, "Outbound proxy for upstream calls (http://, https://, socks5://)."),
    Field("rproxy", "optstr", None, "Base URL that replaces https://api.anthropic.com for every Anthropic call."),
    Field("max_retries", "int", 5, "Extra attempts with other credentials (attempts = max_retries + 1)."),
    Field("preserve_chats", "bool", False, "claude.ai: keep conversations instead of temporary ones."),
    Field("web_search", "bool", False, "claude.ai: attach the web search tool."),
    Field("enable_web_count_tokens", "bool", False, "claude.ai: count usage through the count_tokens API."),
    Field("sanitize_messages", "bool", False, "Trim text blocks, drop empty ones and empty assistant turns."),
    Field("skip_first_warning", "bool", False, "claude.ai: park accounts with a first warning."),
    Field("skip_second_warning", "bool", False, "claude.ai: park accounts with a second warning."),
    Field("skip_restricted", "bool", False, "claude.ai: park restricted accounts."),
    Field("skip_non_pro", "bool", False, "claude.ai: retire free accounts."),
    Field("skip_rate_limit", "bool", True, "Kept for ClewdR compatibility (ClewdR reads it nowhere)."),
    Field("skip_normal_pro", "bool", False, "claude.ai: only use accounts that carry a warning flag."),
    Field("use_real_roles", "bool", True, "claude.ai: separate turns with a backspace before the role label."),
    Field("custom_h", "optstr", None, "claude.ai: label of user turns (default Human)."),
    Field("custom_a", "optstr", None, "claude.ai: label of assistant turns (default Assistant)."),
    Field("custom_prompt", "str", "", "claude.ai: text sent as the completion prompt."),
    Field("claude_code_client_id", "optstr", None, "OAuth client id for Claude Code."),
    Field("custom_system", "optstr", None, "Claude Code: system text inserted after the billing block."),
    Field("cookie_array", "list", [], "Usable and cooling-down cookies (managed by the pool)."),
    Field("wasted_cookie", "list", [], "Retired cookies with their reason (managed by the pool)."),
    Field("gemini_keys", "list", [], "Gemini AI Studio keys (ClewdR 0.11 format)."),
    Field("vertex", "table", {}, "Vertex AI service accounts (ClewdR 0.11 format)."),
    # llmproxy's own keys; ClewdR ignores unknown top-level keys, so its files stay valid.
    Field("max_concurrent_per_cookie", "int", 0, "Requests in flight per cookie; 0 = no cap."),
    Field("models", "list", [], "Model ids the models routes list (each with -thinking); empty = built-in list."),
    Field("think_tags", "bool", False, "OpenAI routes: thinking as <think>...</think> text, not reasoning_content."),
    Field("gemini_endpoint", "optstr", None, "Base URL of the Gemini API (default https://generativelanguage.googleapis.com)."),
    Field("vertex_endpoint", "optstr", None, "Base URL of Vertex AI (default https://aiplatform.googleapis.com)."),
    Field("gemini_safety_off", "bool", True, "Gemini: force every safety category to OFF (false: pass the client's)."),
    Field("cookie_meta", "list", [], "What llmproxy learned about each cookie."),
)

LLMPROXY_ONLY = (
    "max_concurrent_per_cookie",
    "models",
    "think_tags",
    "gemini_endpoint",
    "vertex_endpoint",
    "gemini_safety_off",
    "cookie_meta",
)
"""Keys ClewdR does not have; written only when they differ from their default."""

FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# Legacy and llmproxy-only keys stay out of a file that does not use them.
_OMIT_AT_DEFAULT = frozenset({"gemini_keys", "vertex", *LLMPROXY_ONLY})


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the proxy; build with :meth:`from_document`, change with :meth:`replace`."""

    ip: str = "127.0.0.1"
    port: int = 8484
    check_update: bool = True
    auto_update: bool = False
    no_fs: bool = False
    log_to_file: bool = False
    password: str = ""
    admin_password: str = ""
    proxy: str | None = None
    rproxy: str | None = None
    max_retries: int = 5
    preserve_chats: bool = False
    web_search: bool = False
    enable_web_count_tokens: bool = False
    sanitize_messages: bool = False
    skip_first_warning: bool = False
    skip_second_warning: bool = False
    skip_restricted: bool = False
    skip_non_pro: bool = False
    skip_rate_limit: bool = True
    skip_normal_pro: bool = False
    use_real_roles: bool = True
    custom_h: str | None = None
    custom_a: str | None = None
    custom_prompt: str = ""
    claude_code_client_id: str | None = None
    custom_system: str | None = None
    cookie_array: tuple[Any, ...] = ()
    wasted_cookie: tuple[Any, ...] = ()
    gemini_keys: tuple[Any, ...] = ()
    vertex: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    max_concurrent_per_cookie: int = 0
    models: tuple[Any, ...] = ()
    think_tags: bool = False
    gemini_endpoint: str | None = None
    vertex_endpoint: str | None = None
    gemini_safety_off: bool = True
    cookie_meta: tuple[Any, ...] = ()
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Keys of the file that no field above claims, kept to be written back."""

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Settings:
        """Build settings from a parsed TOML document.

        Raises:
            ConfigError: a known key holds a value of the wrong type or range; the
                message names the key and what was expected.
        """
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in doc.items():
            field = FIELD_BY_NAME.get(key)
            if field is None:
                extra[key] = value
            else:
                values[key] = _check(field, value)
        values["extra"] = extra
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and checked like file values."""
        checked = {k: (_check(FIELD_BY_NAME[k], v) if k in FIELD_BY_NAME else v) for k, v in changes.items()}
        settings = dataclasses.replace(self, **checked)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check values whose type alone does not make them right.

        Raises:
            ConfigError: naming the key.
        """
        try:
            ipaddress.ip_address(self.ip)
        except ValueError:
            raise ConfigError(f"ip: {self.ip!r} is not an IPv4 or IPv6 address") from None
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: {self.port} is outside 0-65535")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries: {self.max_retries} must not be negative")
        if self.max_concurrent_per_cookie < 0:
            raise ConfigError(
                f"max_concurrent_per_cookie: {self.max_concurrent_per_cookie} must not be negative"
            )
        if self.proxy is not None:
            _check_url("proxy", self.proxy, PROXY_SCHEMES)
        if self.rproxy is not None:
            _check_url("rproxy", self.rproxy, ("http", "https"))
        for key in ("gemini_endpoint", "vertex_endpoint"):
            value = getattr(self, key)
            if value is not None:
                _check_url(key, value, ("http", "https"))
        for model in self.models:
            if not isinstance(model, str) or not model.strip():
                raise ConfigError(f"models: {model!r} is not a model name")

    @property
    def gemini_base(self) -> str:
        """Base URL of the Gemini API, without a trailing slash."""
        return (self.gemini_endpoint or GEMINI_BASE).rstrip("/")

    @property
    def vertex_base(self) -> str:
        """Base URL of Vertex AI, without a trailing slash."""
        return (self.vertex_endpoint or VERTEX_BASE).rstrip("/")

    def to_document(self) -> dict[str, Any]:
        """The settings as a TOML document, known keys in ClewdR's order, then the rest.

        Optional strings that are unset are left out, as ClewdR does.
        """
        doc: dict[str, Any] = {}
        for field in FIELDS:
            value = getattr(self, field.name)
            if value is None:
                continue
            if field.name in _OMIT_AT_DEFAULT and value == _check(field, field.default):
                continue
            if field.kind == "list":
                value = list(value)
            elif field.kind == "table":
                value = dict(value)
            doc[field.name] = value
        for key, value in self.extra.items():
            doc.setdefault(key, value)
        return doc

    @property
    def anthropic_base(self) -> str:
        """The base URL for every Anthropic-side call: ``rproxy`` if set.

        Unlike ClewdR, ``rproxy`` also covers the OAuth token and usage endpoints,
        so one setting moves *all* Anthropic traffic (and tests can point it at a
        fake upstream).
        """
        return (self.rproxy or ANTHROPIC_BASE).rstrip("/")

    def anthropic_url(self, path: str) -> str:
        """``path`` (starting with ``/``) under :attr:`anthropic_base`."""
        return self.anthropic_base + path

    @property
    def oauth_client_id(self) -> str:
        """The Claude Code OAuth client id, defaulted like ClewdR."""
        return self.claude_code_client_id or DEFAULT_CLIENT_ID


def _check_url(key: str, url: str, schemes: tuple[str, ...]) -> None:
    """Refuse a URL the HTTP client could not use, naming the key.

    Caught here, at startup, rather than on the first request that needs it.
    """
    shown = re.sub(r"://[^/?#]*@", "://***@", url)  # no proxy password in the message
    expected = f"expected {'/'.join(schemes)}://host[:port]"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not 0-65535
    except ValueError:
        raise ConfigError(f"{key}: {shown!r} is not a valid URL ({expected})") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ConfigError(f"{key}: {shown!r} is not a usable URL ({expected})")
    if key == "rproxy" and (parts.query or parts.fragment):
        raise ConfigError(
            f"{key}: {shown!r} must not have a query or fragment (paths are appended to it)"
        )


def _check(field: Field, value: Any) -> Any:
    """Type-check one file value against its field, converting lists to tuples."""
    kind = field.kind
    ok: bool
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "str":
        ok = isinstance(value, str)
    elif kind == "optstr":
        if value == "":
            return None
        ok = value is None or isinstance(value, str)
    elif kind == "list":
        ok = isinstance(value, (list, tuple))
        if ok:
            return tuple(value)
    else:
        ok = isinstance(value, Mapping)
    if not ok:
        expected = {
            "bool": "true or false",
            "int": "an integer",
            "str": "a string",
            "optstr": "a string",
            "list": "an array",
            "table": "a table",
        }[kind]
        raise ConfigError(f"{field.name}: expected {expected}, got {value!r}")
    return value
