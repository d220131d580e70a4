"""Which settings the admin API shows and changes, and how a change is applied.

``GET /api/config`` and ``POST /api/config`` speak ClewdR's flat shape (one JSON
key per ``clewdr.toml`` key, clewdr-behaviour.md §2.4), with four deliberate
differences, each fixing something ClewdR users have tripped over:

- **The admin password is write-only.** It is never sent back (whoever reads the
  answer, a browser extension or a proxy log, learns nothing), and a ``POST``
  without it, or with it empty, keeps the current one. The API password is shown:
  the page needs it for the client snippets.
- **A POST is a patch.** Only the keys in the body change, applied to the settings
  current *when the POST arrives*, not to a copy the page loaded minutes ago. Two
  admins saving different fields both keep their change, and a field the page does
  not show is never reset (ClewdR's UI reset ``no_fs`` and ``log_to_file`` on every
  save).
- **Credentials are not settings.** ``cookie_array``, ``wasted_cookie``,
  ``cookie_meta``, ``gemini_keys`` and ``vertex`` belong to the pools; a POST that
  carries them has them ignored (and listed as such in the answer), so saving the
  settings form can never resurrect a deleted cookie or drop a new one.
- **A bad value changes nothing.** The whole patch is checked before anything is
  swapped in; the first bad key is named in a 400.

Everything else applies at once (the proxy swaps its immutable ``Settings``);
``ip``, ``port`` and ``log_to_file`` are read at start-up only, so the answer lists
them under ``restart_required``.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import FIELDS, ConfigError, Settings
from ..config.settings import FIELD_BY_NAME, Field
from ..errors import BadRequest

__all__ = [
    "GROUPS",
    "POOL_KEYS",
    "RESTART_KEYS",
    "WRITE_ONLY",
    "ConfigChange",
    "apply_changes",
    "describe",
    "editable_fields",
    "group_of",
    "public_config",
    "restart_pending",
]

POOL_KEYS = frozenset({"cookie_array", "wasted_cookie", "cookie_meta", "gemini_keys", "vertex"})
"""Keys owned by the credential pools, never changed through ``/api/config``."""

WRITE_ONLY = frozenset({"admin_password"})
"""Keys a POST may set but no answer ever contains."""

RESTART_KEYS = frozenset({"ip", "port", "log_to_file"})
"""Keys read only at start-up: saved at once, effective after a restart."""

PASSWORD_KEYS = frozenset({"password", "admin_password"})

# Settings that hold a URL or an id: surrounding spaces from a paste are never meant.
_TRIMMED = frozenset(
    {"ip", "proxy", "rproxy", "gemini_endpoint", "vertex_endpoint", "claude_code_client_id"}
)

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("server", ("ip", "port")),
    ("passwords", ("password", "admin_password")),
    ("network", ("proxy", "rproxy")),
    ("requests", ("max_retries", "max_concurrent_per_cookie", "sanitize_messages", "models",
                  "think_tags")),
    ("claude_web", ("preserve_chats", "web_search", "enable_web_count_tokens", "use_real_roles",
                    "custom_h", "custom_a", "custom_prompt")),
    ("cookie_policy", ("skip_non_pro", "skip_restricted", "skip_second_warning",
                       "skip_first_warning", "skip_normal_pro", "skip_rate_limit")),
    ("claude_code", ("claude_code_client_id", "custom_system")),
    ("gemini", ("gemini_endpoint", "vertex_endpoint", "gemini_safety_off")),
    ("files", ("no_fs", "log_to_file", "check_update", "auto_update")),
)  # fmt: skip
"""How the settings page groups the keys; a key not listed lands in ``other``."""

_GROUP_OF = {name: group for group, names in GROUPS for name in names}

# A password travels in an HTTP header: printable ASCII, no spaces (the server
# strips them), or the browser's fetch() refuses to send it at all.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def editable_fields() -> tuple[Field, ...]:
    """The fields the admin API deals in, in ``clewdr.toml`` order."""
    return tuple(f for f in FIELDS if f.name not in POOL_KEYS)


def group_of(name: str) -> str:
    """The settings-page group of a key."""
    return _GROUP_OF.get(name, "other")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def public_config(settings: Settings) -> dict[str, Any]:
    """What ``GET /api/config`` answers: every editable key but the write-only ones."""
    return {
        f.name: _jsonable(getattr(settings, f.name))
        for f in editable_fields()
        if f.name not in WRITE_ONLY
    }


def describe() -> list[dict[str, Any]]:
    """One entry per editable key, for the settings form: type, default, help, group."""
    return [
        {
            "name": f.name,
            "kind": f.kind,
            "default": None if f.name in PASSWORD_KEYS else _jsonable(f.default),
            "doc": f.doc,
            "group": group_of(f.name),
            "restart": f.name in RESTART_KEYS,
            "write_only": f.name in WRITE_ONLY,
        }
        for f in editable_fields()
    ]


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """The outcome of :func:`apply_changes`.

    Attributes:
        settings: The new settings (the old object when nothing changed).
        changed: Keys whose value differs from before, in file order.
        restart_required: The changed keys that take effect only after a restart.
        ignored: Keys of the body that were not applied, with the reason.
    """

    settings: Settings
    changed: tuple[str, ...]
    restart_required: tuple[str, ...]
    ignored: dict[str, str] = field(default_factory=dict)


def apply_changes(current: Settings, body: Mapping[str, Any]) -> ConfigChange:
    """Apply the keys of ``body`` to ``current``, all or nothing.

    Args:
        current: The settings in force now (not a copy the page loaded earlier).
        body: The POSTed JSON object; any subset of the keys of :func:`public_config`
            plus ``admin_password``.

    Raises:
        BadRequest: A value is of the wrong type or out of range; ``param`` and the
            message name the key. Nothing is changed.
    """
    changes: dict[str, Any] = {}
    ignored: dict[str, str] = {}
    for key, value in body.items():
        if key in POOL_KEYS:
            ignored[key] = "managed by the credential pool; use the cookie or key API"
        elif key not in FIELD_BY_NAME:
            ignored[key] = "not a setting of this version"
        elif key in PASSWORD_KEYS:
            password = _password(key, value)
            if password is not None:
                changes[key] = password
        else:
            if key in _TRIMMED and isinstance(value, str):
                value = value.strip()
            changes[key] = value
    try:
        updated = current.replace(**changes) if changes else current
    except ConfigError as exc:
        message = str(exc)
        key = message.split(":", 1)[0]
        raise BadRequest(message, param=key if key in FIELD_BY_NAME else None) from None
    changed = tuple(
        f.name
        for f in FIELDS
        if f.name in changes and getattr(updated, f.name) != getattr(current, f.name)
    )
    if not changed:
        updated = current
    restart = tuple(name for name in changed if name in RESTART_KEYS)
    return ConfigChange(updated, changed, restart, ignored)


def _password(key: str, value: Any) -> str | None:
    """A checked new password, or ``None`` to keep the current one."""
    if value is None or value == "":
        if key == "admin_password":
            return None  # the form's "leave empty to keep" field, or a ClewdR script's echo
        raise BadRequest(
            f"{key}: must not be empty (leave the key out to keep the current one)", param=key
        )
    if not isinstance(value, str):
        raise BadRequest(f"{key}: expected a string, got {type(value).__name__}", param=key)
    if not _HEADER_SAFE.fullmatch(value):
        raise BadRequest(
            f"{key}: use printable ASCII without spaces; it is sent in an HTTP header",
            param=key,
        )
    return value


# What ip/port/log_to_file were when the proxy started, to tell the page that a
# saved change still waits for a restart. Kept beside the proxy (weakly), because
# only the admin API cares.
_BOOT_VALUES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def remember_boot_values(owner: Any, settings: Settings) -> None:
    """Note the start-up values of :data:`RESTART_KEYS` (first call wins).

    Call it before applying any change; the first admin request is early enough,
    since only the admin API changes settings at run time.
    """
    if owner not in _BOOT_VALUES:
        _BOOT_VALUES[owner] = {key: getattr(settings, key) for key in RESTART_KEYS}


def restart_pending(owner: Any, settings: Settings) -> list[str]:
    """Keys whose saved value differs from the one the running process started with."""
    boot = _BOOT_VALUES.get(owner, {})
    return [f.name for f in FIELDS if f.name in boot and boot[f.name] != getattr(settings, f.name)]
