"""``CLEWDR_*`` environment overrides, coerced the way ClewdR coerces them.

Hosts without a writable disk (Hugging Face spaces, containers) configure the
proxy through the environment only, so these rules must match ClewdR's exactly
(clewdr-behaviour.md §3.3):

- the prefix is matched case-insensitively and the rest of the name, lower-cased,
  is the key (``CLEWDR_SKIP_NON_PRO`` -> ``skip_non_pro``); no nesting;
- surrounding whitespace is trimmed, and a value that is *entirely* one
  double-quoted TOML string is unquoted (``"12345"`` -> ``12345``); single quotes
  stay, as ClewdR 0.13.4 keeps them;
- the value then takes the type of the key: strings verbatim; booleans from
  true/false, yes/no, on/off, 1/0 in any case; integers; arrays and tables as a
  TOML fragment (``[{cookie="sk-ant-..."}]``);
- a value that does not convert is ignored with a warning, so the file value or
  default stands.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from .settings import FIELD_BY_NAME

__all__ = ["PREFIX", "apply_env", "coerce"]

PREFIX = "clewdr_"

_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _unquote(raw: str) -> str:
    """Trim, and unwrap a value that is entirely one double-quoted string.

    As ClewdR's loader does it: quotes around text with no inner quote or
    backslash are simply removed (so a value with a newline inside still
    unwraps); anything else is read as a TOML string, and when it is not one the
    value is kept exactly as given, padding included.
    """
    value = raw.strip()
    if not (len(value) >= 2 and value[0] == '"' and value[-1] == '"'):
        return value
    inner = value[1:-1]
    if '"' not in inner and "\\" not in inner:
        return inner
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
    return parsed if isinstance(parsed, str) else raw


def _fragment(value: str) -> Any:
    return tomllib.loads(f"v = {value}")["v"]


def coerce(key: str, raw: str) -> Any:
    """Convert one environment string to the type ``key`` has in the config.

    Raises:
        ValueError: the value cannot be read as that type.
    """
    value = _unquote(raw)
    kind = FIELD_BY_NAME[key].kind
    if kind in ("str", "optstr"):
        return value
    if kind == "bool":
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"expected true/false, yes/no, on/off or 1/0, got {value!r}")
    if kind == "int":
        # Rust's i64 parsing, not Python's int(): no "1_000", no non-ASCII digits.
        text = value.strip()
        number = int(text) if len(text) <= 20 and _INTEGER.fullmatch(text) else None
        if number is None or not _INT_MIN <= number <= _INT_MAX:
            raise ValueError(f"expected an integer, got {value!r}")
        return number
    try:
        parsed = _fragment(value)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"expected a TOML {('table' if kind == 'table' else 'array')}: {exc}") from None
    if kind == "table" and not isinstance(parsed, dict):
        raise ValueError(f"expected a TOML table, got {value!r}")
    if kind == "list" and not isinstance(parsed, list):
        raise ValueError(f"expected a TOML array, got {value!r}")
    return parsed


def apply_env(
    doc: dict[str, Any],
    environ: Mapping[str, str],
    warn: Callable[[str], None],
) -> list[str]:
    """Override keys of ``doc`` in place from ``CLEWDR_*`` variables.

    Args:
        doc: The parsed file, as a plain dict.
        environ: The environment (``os.environ`` in production, a dict in tests).
        warn: Called with a message for each variable that is ignored.

    Returns:
        The keys that were overridden, in environment order.
    """
    applied: list[str] = []
    for name, raw in environ.items():
        if not name.lower().startswith(PREFIX):
            continue
        key = name[len(PREFIX) :].lower()
        if key not in FIELD_BY_NAME:
            warn(f"{name}: no such setting, ignored")
            continue
        try:
            doc[key] = coerce(key, raw)
        except ValueError as exc:
            warn(f"{name}: {exc}; keeping the file value")
            continue
        applied.append(key)
    return applied
