"""Claude session cookies: what text is accepted, what is stored, what is logged.

A user pastes cookies from many places: a browser's devtools (``sessionKey=sk-ant-…``),
a ``Cookie:`` header with other cookies around it, a quoted TOML string, or only the
random body of the key. ClewdR accepts all of these (clewdr-behaviour.md §5.1), and a
ClewdR user's cookie list must load here unchanged, so the rules are ClewdR's:

1. drop a leading ``sessionKey=`` (see the deviation below), then every character
   outside ``[A-Za-z0-9_-]`` (quotes, spaces, ``;``, ``=`` disappear);
2. if the rest *contains* ``sk-ant-sidNN-<86–120 body chars>-<6 chars>AA``, the stored
   value is that match;
3. otherwise, if the *whole* rest is the bare body ``<86–120>-<6>AA``, it is stored as
   it is (no ``sk-ant-`` prefix is invented: the stored string is the cookie's identity,
   and ClewdR stores it this way, so both programs agree on duplicates).

Deviation from ClewdR: ClewdR does not strip ``sessionKey=`` before cleaning, so
``sessionKey=<bare body>`` becomes ``sessionKey<body>`` and, when short enough, is
stored with the word ``sessionKey`` glued to the front: a cookie upstream never
accepts. Stripping the prefix first gives the value the user meant; the prefixed
``sk-ant-`` form is unaffected.

Two more rejections ClewdR does not make, because the text is certainly not a session
cookie and would only be retired as ``Null`` at its first use: an Anthropic API key or
OAuth token (``sk-ant-api…``, ``sk-ant-oat…``, which the bare-body rule would otherwise
accept, ``-`` being a body character), and the ``SET_YOUR_COOKIE_HERE`` placeholder of
ClewdR's example config.

Nothing here does I/O; the functions are pure and safe to call from anywhere.
"""

from __future__ import annotations

import re

from llmproxy.credentials.errors import CookieFormatError

__all__ = ["CookieFormatError", "mask", "parse_cookie"]

# The two grammars of §5.1. Python's ``re.search`` is leftmost-first with greedy
# backtracking, the same semantics as Rust's ``regex::find`` for these patterns, so a
# cookie embedded in a longer string yields the same match in both programs.
_BODY = r"[0-9A-Za-z_-]{86,120}-[0-9A-Za-z_-]{6}AA"
_PREFIXED = re.compile(r"sk-ant-sid[0-9]{2}-" + _BODY)
_BARE = re.compile(_BODY)
_NOT_COOKIE_CHAR = re.compile(r"[^A-Za-z0-9_-]+")
_SESSION_KEY_PREFIX = re.compile(r"^\s*[\"']?\s*sessionKey\s*=", re.IGNORECASE)
_PREFIX_FOR_MASK = re.compile(r"^sk-ant-sid[0-9]{2}-")
_OTHER_ANTHROPIC_SECRET = re.compile(r"sk-ant-(api|oat|ort|admin)[0-9]*-")
_PLACEHOLDER_MARK = "SET_YOUR_COOKIE_HERE"

# How much of the random body a masked cookie shows: enough to tell cookies apart in a
# log (8 base64url characters, 48 bits), far too little to use one (86+ characters).
_SHOWN_BODY_CHARS = 8


def parse_cookie(text: str) -> str:
    """Return the stored form of a Claude session cookie pasted in any accepted form.

    Args:
        text: What the user gave: ``sk-ant-sid01-…AA``, ``sessionKey=sk-ant-…``, a
            ``Cookie:`` header line containing it, or the bare ``…AA`` body.

    Returns:
        The value stored in ``clewdr.toml`` and sent upstream as ``sessionKey=<value>``:
        the ``sk-ant-sidNN-…AA`` match, or the bare body when no prefix was given.

    Raises:
        CookieFormatError: The text holds no cookie. The message says why and never
            repeats the text (it may be a secret with a typo in it).
    """
    without_name = _SESSION_KEY_PREFIX.sub("", text, count=1)
    cleaned = _NOT_COOKIE_CHAR.sub("", without_name.strip())
    found = _PREFIXED.search(cleaned)
    stored = found.group(0) if found is not None else None
    if stored is None and _BARE.fullmatch(cleaned):
        if _OTHER_ANTHROPIC_SECRET.match(cleaned):
            raise CookieFormatError(
                "not a Claude session cookie: this is an Anthropic API key or OAuth token;"
                " paste the sessionKey cookie from claude.ai instead"
            )
        stored = cleaned
    if stored is not None:
        if _PLACEHOLDER_MARK in stored:
            raise CookieFormatError(
                "not a Claude session cookie: this is the SET_YOUR_COOKIE_HERE placeholder;"
                " paste your own sessionKey cookie"
            )
        return stored
    if not cleaned:
        raise CookieFormatError("not a Claude session cookie: the text is empty")
    raise CookieFormatError(
        "not a Claude session cookie: expected sk-ant-sidNN-…AA or its 86–120 character"
        f" body ending in -xxxxxxAA (got {len(cleaned)} usable characters)"
    )


def mask(value: str) -> str:
    """Return a log-safe form of a secret: its first characters and an ellipsis.

    For a cookie the ``sk-ant-sidNN-`` prefix is kept (it says nothing secret) plus 8
    characters of the body, so two cookies can be told apart in a log but neither can
    be used. Any other string (an API key, a bare body) shows at most 8 characters and
    never more than a quarter of its length.
    """
    prefix = _PREFIX_FOR_MASK.match(value)
    if prefix is not None:
        head = prefix.group(0)
        return head + value[len(head) : len(head) + _SHOWN_BODY_CHARS] + "…"
    return value[: min(_SHOWN_BODY_CHARS, len(value) // 4)] + "…"
