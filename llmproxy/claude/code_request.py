"""The Claude Code route's request: what ``/code/v1/messages`` sends to Anthropic.

The route forwards a client's Messages request to ``POST {base}v1/messages`` with a
Claude subscription's OAuth token instead of an API key. Anthropic only serves such
tokens to traffic that looks like Claude Code, so the request takes on ClewdR's
current Claude Code identity (clewdr-behaviour.md §6.4, ClewdR v0.13.4):

* headers: ``Authorization: Bearer``, ``anthropic-version: 2023-06-01``,
  ``anthropic-beta`` = ``oauth-2025-04-20`` followed by the client's own betas
  (trimmed, de-duplicated, order kept), ``User-Agent: claude-code/2.1.76``;
* system: first the billing-header text block (a short SHA-256 of three characters
  of the first user text, see :func:`billing_block`), then the configured
  ``custom_system`` when it is not blank, then the client's own system (a string
  becomes one text block, a list is appended as it is, an empty one is dropped);
  ``scope`` is removed from ``cache_control`` in system blocks, because the API
  rejects it there for this kind of token.

Everything else the client sent reaches the upstream: tools, tool results,
documents, images, thinking blocks with their signatures, ``cache_control``,
``metadata`` and fields nobody here has heard of yet. This is the one deliberate
departure from ClewdR, whose typed model drops unknown top-level fields; a proxy
must not lose data (style.md C.9 practice 12). The only other rewrites are the
per-model ones of :func:`llmproxy.claude.models.sanitize`. Message content is never
looked into except to read the first user text, so opaque strings pass byte for
byte.

Two more pieces of ClewdR's flow live here as pure functions: the "Hi" connection
test that is answered locally (§2.3) and the sticky key that keeps an identical
cached system prompt on one account so Anthropic's prompt cache hits (§6.5).

Sans-IO: functions over dicts and strings; the route does the HTTP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from llmproxy.claude.models import DEFAULT_MAX_TOKENS, sanitize
from llmproxy.errors import BadRequest

__all__ = [
    "ANTHROPIC_VERSION",
    "BILLING_SALT",
    "CLAUDE_CODE_VERSION",
    "CONNECTION_TEST_REPLY",
    "CONNECTION_TEST_REPLY_JSON",
    "CONNECTION_TEST_TEXT",
    "COUNT_TOKENS_PATH",
    "DEFAULT_ENTRYPOINT",
    "ENTRYPOINT_ENV",
    "GENERATION_ONLY_FIELDS",
    "MESSAGES_PATH",
    "OAUTH_BETA",
    "USER_AGENT",
    "billing_block",
    "build_system",
    "entrypoint_from_env",
    "first_user_text",
    "is_connection_test",
    "merge_betas",
    "prepare_count_tokens_body",
    "prepare_messages_body",
    "sticky_key",
    "trim_messages",
    "upstream_headers",
    "validate_messages_body",
]

CLAUDE_CODE_VERSION: Final = "2.1.76"
USER_AGENT: Final = f"claude-code/{CLAUDE_CODE_VERSION}"
OAUTH_BETA: Final = "oauth-2025-04-20"
ANTHROPIC_VERSION: Final = "2023-06-01"

BILLING_SALT: Final = "59cf53e54c78"
"""Claude Code's salt for the billing-header hash (ClewdR ``CLAUDE_CODE_BILLING_SALT``)."""

DEFAULT_ENTRYPOINT: Final = "cli"
ENTRYPOINT_ENV: Final = "CLAUDE_CODE_ENTRYPOINT"

MESSAGES_PATH: Final = "v1/messages"
COUNT_TOKENS_PATH: Final = "v1/messages/count_tokens"
"""Upstream paths, relative to the base URL (``https://api.anthropic.com/`` or ``rproxy``)."""

GENERATION_ONLY_FIELDS: Final = (
    "max_tokens",
    "stream",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "metadata",
    "service_tier",
    "container",
    "inference_geo",
    "diagnostics",
    "fallbacks",
    "fallback_credit_token",
)
"""Messages fields that only steer generation and that ``count_tokens`` refuses.

The count endpoint validates strictly: a full Messages body sent to it fails with
``400 max_tokens: Extra inputs are not permitted`` (reported by several gateways
that tried). Its schema (protocols.md §1.10; anthropic-sdk 2.11
``MessageCountTokensParams``) has ``model``, ``messages``, ``system``, ``tools``,
``tool_choice``, ``thinking``, ``output_config``, ``cache_control``, ``speed`` and,
in beta, ``context_management``, ``mcp_servers`` and others.
"""

_SAMPLE_INDICES: Final = (4, 7, 20)
_ROLES: Final = ("user", "assistant", "system")

CONNECTION_TEST_TEXT: Final = "Claude Reverse Proxy is working, please send a real message."
CONNECTION_TEST_REPLY: Final[Mapping[str, Any]] = {
    "role": "assistant",
    "content": [{"type": "text", "text": CONNECTION_TEST_TEXT}],
}
"""The body ClewdR answers its connection test with (§2.3), status 200. Do not mutate."""

CONNECTION_TEST_REPLY_JSON: Final = json.dumps(
    CONNECTION_TEST_REPLY, separators=(",", ":")
).encode()


# --- identity ----------------------------------------------------------------------


def entrypoint_from_env(environ: Mapping[str, str]) -> str:
    """``CLAUDE_CODE_ENTRYPOINT`` when it is set and not blank, else ``cli`` (as ClewdR)."""
    value = environ.get(ENTRYPOINT_ENV, "")
    return value if value.strip() else DEFAULT_ENTRYPOINT


def first_user_text(body: Mapping[str, Any]) -> str:
    """The first text of the first user message, ``""`` when there is none.

    Only the first message whose role is ``user`` is looked at: its string content,
    or its first ``text`` block (images and other blocks before it are skipped). A
    first user message without text gives ``""``; later messages are not consulted.
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                for block in content:
                    if (
                        isinstance(block, dict)
                        and block.get("type") == "text"
                        and isinstance(block.get("text"), str)
                    ):
                        text: str = block["text"]
                        return text
            return ""
    return ""


def _code_unit(text: str, index: int) -> str:
    """The UTF-16 code unit at ``index`` as a string, as JavaScript's ``text[index]``.

    ``"0"`` past the end. A lone surrogate half becomes U+FFFD, which is what both
    Node's hash input encoding and ClewdR's ``from_utf16_lossy`` turn it into.
    """
    data = text.encode("utf-16-le", "surrogatepass")
    if 2 * index + 2 > len(data):
        return "0"
    unit = int.from_bytes(data[2 * index : 2 * index + 2], "little")
    return "\ufffd" if 0xD800 <= unit <= 0xDFFF else chr(unit)


def billing_block(body: Mapping[str, Any], entrypoint: str = DEFAULT_ENTRYPOINT) -> dict[str, Any]:
    """The billing-header system block Claude Code 2.1.76 puts first.

    Text: ``x-anthropic-billing-header: cc_version=2.1.76.<h>; cc_entrypoint=<ep>;
    cch=00000;`` where ``<h>`` is the first three hex digits of
    SHA-256(salt + c4 + c7 + c20 + version), c\\ *i* being the UTF-16 code unit at
    index *i* of :func:`first_user_text` (``"0"`` when the text is shorter).
    ClewdR's test vectors: ``hey`` gives ``.4dc``, ``abcdefg`` gives ``.540``.

    Args:
        body: The client's request (read only).
        entrypoint: ``cc_entrypoint``; blank means ``cli``.
    """
    text = first_user_text(body)
    sampled = "".join(_code_unit(text, index) for index in _SAMPLE_INDICES)
    digest = hashlib.sha256(
        f"{BILLING_SALT}{sampled}{CLAUDE_CODE_VERSION}".encode("utf-8", "surrogatepass")
    ).hexdigest()
    ep = entrypoint if entrypoint.strip() else DEFAULT_ENTRYPOINT
    return {
        "type": "text",
        "text": (
            f"x-anthropic-billing-header: cc_version={CLAUDE_CODE_VERSION}.{digest[:3]}; "
            f"cc_entrypoint={ep}; cch=00000;"
        ),
    }


# --- system ------------------------------------------------------------------------


def _is_blank_system_entry(entry: Any) -> bool:
    if entry is None:
        return True
    if isinstance(entry, str):
        return not entry.strip()
    if isinstance(entry, dict) and entry.get("type") == "text":
        text = entry.get("text")
        return not isinstance(text, str) or not text.strip()
    return False


def _is_empty_system(system: Any) -> bool:
    """ClewdR's empty system (§4.2 step 5): null, blank, ``[]``, or only blank entries."""
    if system is None:
        return True
    if isinstance(system, str):
        return not system.strip()
    if isinstance(system, list):
        return all(_is_blank_system_entry(entry) for entry in system)
    return False


def _strip_scope(block: Any) -> Any:
    """``block`` without ``cache_control.scope`` (both spellings), copied only if changed.

    Removed: ``cache_control.scope`` when ``cache_control.type`` is ``ephemeral``, and
    ``cache_control.ephemeral.scope``. Everything else in the block stays.
    """
    if not isinstance(block, dict):
        return block
    cache = block.get("cache_control")
    if not isinstance(cache, dict):
        return block
    new = dict(cache)
    ephemeral = cache.get("ephemeral")
    if isinstance(ephemeral, dict) and "scope" in ephemeral:
        new["ephemeral"] = {key: value for key, value in ephemeral.items() if key != "scope"}
    if cache.get("type") == "ephemeral":
        new.pop("scope", None)
    if new == cache:
        return block
    return {**block, "cache_control": new}


def build_system(
    body: Mapping[str, Any],
    custom_system: str | None,
    entrypoint: str = DEFAULT_ENTRYPOINT,
) -> list[Any]:
    """The system array sent upstream.

    Order: :func:`billing_block`, then ``custom_system`` when it is not blank (as
    given, untrimmed), then the client's ``system``: a string becomes one text
    block, a list is appended item by item, an empty system (null, blank, ``[]``,
    only blank text) contributes nothing. ``scope`` is stripped from the
    ``cache_control`` of the client's blocks. Items the client put in its list are
    not checked: a non-object item goes upstream as it is, like in ClewdR.

    The input is not mutated; a block is copied only when its scope is stripped.
    """
    blocks: list[Any] = [billing_block(body, entrypoint)]
    if custom_system is not None and custom_system.strip():
        blocks.append({"type": "text", "text": custom_system})
    system = body.get("system")
    if _is_empty_system(system):
        return blocks
    if isinstance(system, str):
        blocks.append({"type": "text", "text": system})
    elif isinstance(system, list):
        blocks.extend(_strip_scope(block) for block in system)
    else:  # not a valid shape (validate_messages_body refuses it); forwarded as ClewdR does
        blocks.append(_strip_scope(system))
    return blocks


def sticky_key(system_blocks: Sequence[Any]) -> str | None:
    """A stable key for the cached part of a final system array, or ``None``.

    It covers the blocks that carry a ``cache_control`` object (after injection and
    scope stripping), in order (§6.5); the billing block carries none, so two
    conversations with the same cached system prompt share a key whatever their
    first user message. ``None`` when no block is cached: the pool then rotates
    normally. SHA-256 over canonical JSON (sorted keys, no spaces, ASCII escapes),
    so the key is the same in every process and across restarts, unlike ClewdR's
    per-process ``DefaultHasher``.
    """
    cached = [
        block
        for block in system_blocks
        if isinstance(block, dict) and isinstance(block.get("cache_control"), dict)
    ]
    if not cached:
        return None
    canonical = json.dumps(cached, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


# --- headers -----------------------------------------------------------------------


def merge_betas(client_header: str | None) -> str:
    """``oauth-2025-04-20`` first, then the client's betas, trimmed and de-duplicated.

    Args:
        client_header: The client's ``anthropic-beta`` value (comma-separated). Join
            repeated header lines with ``,`` before calling.
    """
    tokens = [OAUTH_BETA]
    for token in (client_header or "").split(","):
        token = token.strip()
        if token and token not in tokens:
            tokens.append(token)
    return ",".join(tokens)


def upstream_headers(access_token: str, client_beta: str | None) -> dict[str, str]:
    """The request headers for ``v1/messages`` and ``v1/messages/count_tokens``.

    No ``x-api-key``: the OAuth token is the only credential (§6.4).
    """
    return {
        "authorization": f"Bearer {access_token}",
        "anthropic-version": ANTHROPIC_VERSION,
        "anthropic-beta": merge_betas(client_beta),
        "user-agent": USER_AGENT,
        "content-type": "application/json",
        "accept": "application/json",
    }


# --- bodies ------------------------------------------------------------------------


def prepare_messages_body(
    body: Mapping[str, Any],
    *,
    custom_system: str | None,
    entrypoint: str = DEFAULT_ENTRYPOINT,
) -> dict[str, Any]:
    """The body for upstream ``v1/messages``: the client's, with only our rewrites.

    1. :func:`~llmproxy.claude.models.sanitize` (per-model rules, ``-thinking``).
    2. ``max_tokens`` defaults to 8192 when absent or null, as in ClewdR.
    3. ``system`` becomes :func:`build_system`'s array.

    Every other key, known or not, keeps its value and its position; new keys go
    last. Returns a new dict and never mutates ``body``; unrewritten values are
    shared with it. Assumes :func:`validate_messages_body` passed, but does not
    fail on other shapes.
    """
    out = sanitize(body)
    if out.get("max_tokens") is None:
        out["max_tokens"] = DEFAULT_MAX_TOKENS
    out["system"] = build_system(body, custom_system, entrypoint)
    return out


def prepare_count_tokens_body(
    body: Mapping[str, Any],
    *,
    custom_system: str | None,
    entrypoint: str = DEFAULT_ENTRYPOINT,
) -> dict[str, Any]:
    """The body for upstream ``v1/messages/count_tokens``.

    The same rewrites as :func:`prepare_messages_body` (so the count covers the
    system prompt actually sent, and a thinking config the model would reject is
    coerced the same way), then the :data:`GENERATION_ONLY_FIELDS` are removed:
    the endpoint rejects them (``max_tokens`` and ``stream`` above all; ClewdR sends
    ``stream: false``, which it would refuse). Fields that are neither known
    generation-only ones nor known count fields are kept: they may well be input
    the count needs, and if the upstream refuses one, its 400 names it.
    """
    out = prepare_messages_body(body, custom_system=custom_system, entrypoint=entrypoint)
    for key in GENERATION_ONLY_FIELDS:
        out.pop(key, None)
    return out


# --- connection test ---------------------------------------------------------------


def _is_plain_hi_block(block: Any) -> bool:
    # ClewdR compares with a typed `ContentBlock::Text { text: "Hi", cache_control: None,
    # citations: None }`; other keys are dropped by its parser, so they do not matter.
    return (
        isinstance(block, dict)
        and block.get("type") == "text"
        and block.get("text") == "Hi"
        and block.get("cache_control") is None
        and block.get("citations") is None
    )


def is_connection_test(body: Mapping[str, Any]) -> bool:
    """Whether this is SillyTavern's connection test, answered locally (§2.3).

    True when ``stream`` is not ``true`` and ``messages`` is exactly one user
    message whose content is the string ``"Hi"`` or a single plain text block
    ``"Hi"``. The match is exact: ``"Hi "``, ``"hi"`` or a ``cache_control`` on the
    block make it a real request (ClewdR trims only with ``sanitize_messages``).
    """
    if body.get("stream") is True:
        return False
    messages = body.get("messages")
    if not isinstance(messages, list) or len(messages) != 1:
        return False
    message = messages[0]
    if not isinstance(message, dict) or message.get("role") != "user":
        return False
    content = message.get("content")
    if content == "Hi" and isinstance(content, str):
        return True
    return isinstance(content, list) and len(content) == 1 and _is_plain_hi_block(content[0])


# --- validation --------------------------------------------------------------------


def _describe(value: Any) -> str:
    """A short, safe rendering of a client value for an error message."""
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value) if len(value) <= 40 else "a long string"
    return "an array" if isinstance(value, list) else "an object"


def validate_messages_body(body: Any) -> None:
    """Refuse the wrong shapes a client can send, naming the problem.

    Checked: ``model`` (a non-empty string), ``messages`` (a non-empty list of
    objects, each with ``role`` user/assistant/system and ``content`` a string or a
    list), ``max_tokens`` (absent, null, or an integer >= 0: 0 is valid and
    pre-warms the prompt cache), ``stream`` (absent, null or a boolean), ``system``
    (absent, null, a string or a list). Everything else, including unknown fields
    and unknown block types, is the upstream's to judge.

    Raises:
        BadRequest: the first problem found, as ``<field path>: <what is wrong>``.
    """
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    if "model" not in body:
        raise BadRequest("model: field required")
    model = body["model"]
    if not isinstance(model, str):
        raise BadRequest(f"model: must be a string, not {_describe(model)}")
    if not model:
        raise BadRequest("model: must not be empty")

    if "messages" not in body:
        raise BadRequest("messages: field required")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise BadRequest("messages: must be an array of messages")
    if not messages:
        raise BadRequest("messages: at least one message is required")
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict):
            raise BadRequest(f"{where}: must be an object with role and content")
        role = message.get("role")
        if role not in _ROLES:
            if role is None:
                raise BadRequest(f"{where}.role: field required")
            raise BadRequest(
                f"{where}.role: must be 'user', 'assistant' or 'system', not {_describe(role)}"
            )
        if "content" not in message:
            raise BadRequest(f"{where}.content: field required")
        if not isinstance(message["content"], (str, list)):
            raise BadRequest(f"{where}.content: must be a string or an array of content blocks")

    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0
    ):
        raise BadRequest(f"max_tokens: must be a non-negative integer, not {_describe(max_tokens)}")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest(f"stream: must be a boolean, not {_describe(stream)}")
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise BadRequest("system: must be a string or an array of text blocks")


def trim_messages(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``sanitize_messages`` option: trimmed text, no empty blocks or empty assistant turns.

    String contents and text blocks are stripped of surrounding whitespace; text
    blocks left empty are dropped; an assistant turn left with nothing is dropped
    (an empty user turn is kept: removing it could merge two assistant turns).
    Returns a new body; ``body`` is not changed.
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return dict(body)
    out_messages: list[Any] = []
    for message in messages:
        if not isinstance(message, Mapping):
            out_messages.append(message)
            continue
        content = message.get("content")
        if isinstance(content, str):
            content = content.strip()
            empty = not content
        elif isinstance(content, list):
            blocks = []
            for block in content:
                if isinstance(block, Mapping) and block.get("type") == "text" and isinstance(block.get("text"), str):
                    text = block["text"].strip()
                    if not text:
                        continue
                    block = {**block, "text": text}
                blocks.append(block)
            content = blocks
            empty = not blocks
        else:
            empty = False
        if empty and message.get("role") == "assistant":
            continue
        out_messages.append({**message, "content": content})
    return {**body, "messages": out_messages}
