"""A small TOML writer, because :mod:`tomllib` only reads.

The config file is TOML, and llmproxy has to write it back (import of a ClewdR
config, credentials refreshed at run time, keys we do not know kept as they were).
The standard library reads TOML but cannot write it. ``tomli-w`` would do, but it
is one more dependency in a proxy that ships as a single file on purpose, against
about 150 lines that we own and test exhaustively (exact text for the layout,
``tomllib.loads(dumps(doc)) == doc`` as a property test). We took the 150 lines.

What it writes is what a person would write:

* At each table level, first the plain ``key = value`` pairs (scalars, and lists
  that are not "all tables"), then the sub-tables as ``[a.b]`` headers, then the
  arrays of tables as ``[[a.b]]`` headers. Keys keep their insertion order within
  each of those three groups.
* An array of tables is a non-empty list whose items are all dicts. An empty list
  is ``key = []``. A dict inside any other list (mixed, or nested in a list) is an
  inline table ``{ k = v }``, and everything inside it is inline too.
* A dict inside an array-of-tables entry becomes a ``[a.b.c]`` header after that
  entry, as the TOML spec allows.
* A table with no plain pairs but with sub-tables gets no header of its own (the
  sub-table headers define it); an empty table gets its header alone, so
  ``{"vertex": {}}`` reads back as an empty table.
* Keys are bare when they match ``[A-Za-z0-9_-]+``, otherwise basic strings.
* Strings are always single-line basic strings: ``"`` and ``\\`` escaped,
  ``\\b \\t \\n \\f \\r`` as short escapes, the other control characters and
  U+007F as ``\\uXXXX``, everything else (non-ASCII included) as it is.
* Floats are written with :func:`repr`, so they read back bit for bit;
  ``inf``, ``-inf`` and ``nan`` are TOML's own spellings.
* Dates, times and datetimes (naive or with an offset) are ISO 8601, the way
  :mod:`tomllib` hands them out, so unknown keys survive a read/write cycle.
* One blank line between tables, a newline at the end.

Values TOML cannot hold are refused, naming the key path (``a.b[2].c``):
:class:`TypeError` for an unsupported type (``None``, sets, tuples, bytes...),
:class:`ValueError` for a supported type with an unrepresentable value (an integer
outside 64 bits, a lone surrogate in a string, an offset with seconds, a time of
day with a time zone).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1

_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_ESCAPES: dict[int, str] = {c: f"\\u{c:04X}" for c in [*range(0x20), 0x7F]}
_ESCAPES.update({ord(c): e for c, e in _SHORT_ESCAPES.items()})
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})


def dumps(doc: Mapping[str, Any]) -> str:
    """Serialize a document to TOML text.

    Args:
        doc: The top-level table. Keys must be ``str``; values may be ``str``,
            ``bool``, ``int``, ``float``, ``datetime.datetime``, ``datetime.date``,
            ``datetime.time``, ``list`` or a mapping, nested freely.

    Returns:
        The TOML document, ending with a newline (``""`` for an empty document).
        ``tomllib.loads(dumps(doc)) == doc`` for every accepted document.

    Raises:
        TypeError: A key is not a ``str`` or a value has an unsupported type; the
            message names the key path.
        ValueError: A value of a supported type cannot be represented in TOML
            (see the module docstring); the message names the key path.
    """
    if not isinstance(doc, Mapping):
        raise TypeError(f"a TOML document must be a mapping, not {type(doc).__name__}")
    blocks: list[list[str]] = []
    _write_table(doc, (), "", None, is_array_entry=False, blocks=blocks)
    if not blocks:
        return ""
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def _write_table(
    table: Mapping[Any, Any],
    keys: tuple[str, ...],
    path: str,
    header: str | None,
    *,
    is_array_entry: bool,
    blocks: list[list[str]],
) -> None:
    """Append one table (and, after it, its sub-tables) to ``blocks``.

    ``keys`` are the already-formatted keys of the header, ``path`` the human key
    path for error messages, ``header`` the header line (``None`` at the root).
    """
    plain: list[str] = []
    tables: list[tuple[str, str, Mapping[Any, Any]]] = []
    arrays: list[tuple[str, str, list[Any]]] = []
    for raw_key, value in table.items():
        key = _key(raw_key, path)
        sub_path = f"{path}.{key}" if path else key
        if isinstance(value, Mapping):
            tables.append((key, sub_path, value))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            arrays.append((key, sub_path, value))
        else:
            plain.append(f"{key} = {_value(value, sub_path)}")

    lines: list[str] = []
    if header is not None and (plain or is_array_entry or not (tables or arrays)):
        lines.append(header)
    lines.extend(plain)
    if lines:
        blocks.append(lines)

    for key, sub_path, sub in tables:
        sub_keys = (*keys, key)
        _write_table(
            sub, sub_keys, sub_path, f"[{'.'.join(sub_keys)}]", is_array_entry=False, blocks=blocks
        )
    for key, sub_path, items in arrays:
        sub_keys = (*keys, key)
        for i, item in enumerate(items):
            _write_table(
                item,
                sub_keys,
                f"{sub_path}[{i}]",
                f"[[{'.'.join(sub_keys)}]]",
                is_array_entry=True,
                blocks=blocks,
            )


def _key(key: object, path: str) -> str:
    """Format one key: bare if it can be, else a basic string."""
    if not isinstance(key, str):
        where = f" in {path}" if path else " at the top level"
        raise TypeError(f"TOML keys must be str, not {type(key).__name__} ({key!r}){where}")
    if _BARE_KEY.fullmatch(key):
        return key
    return _string(key, f"{path}.<key>" if path else "<key>")


def _string(text: str, path: str) -> str:
    """Format a single-line basic string."""
    if _SURROGATE.search(text):
        raise ValueError(f"string with a lone surrogate cannot be written to TOML at {path}")
    return '"' + text.translate(_ESCAPES) + '"'


def _value(value: object, path: str) -> str:
    """Format a value as it appears after ``key =`` or inside an inline container."""
    if isinstance(value, str):
        return _string(value, path)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError(f"integer {value} is outside TOML's 64-bit range at {path}")
        return int.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float.__repr__(value)
    if isinstance(value, dt.datetime):
        return _datetime(value, path)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        if value.utcoffset() is not None:
            raise ValueError(f"TOML local times have no time zone, got {value!r} at {path}")
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v, f"{path}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        pairs = []
        for raw_key, item in value.items():
            key = _key(raw_key, path)
            pairs.append(f"{key} = {_value(item, f'{path}.{key}')}")
        return "{ " + ", ".join(pairs) + " }"
    if value is None:
        raise TypeError(f"TOML has no null; leave the key out instead of None at {path}")
    raise TypeError(f"unsupported type {type(value).__name__} for TOML at {path}")


def _datetime(value: dt.datetime, path: str) -> str:
    """Format an offset or local datetime; the offset must be whole minutes."""
    offset = value.utcoffset()
    if offset is None:
        return value.replace(tzinfo=None).isoformat()
    if offset % dt.timedelta(minutes=1):
        raise ValueError(f"TOML offsets are whole minutes, got {offset} at {path}")
    return value.isoformat()
