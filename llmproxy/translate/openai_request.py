"""OpenAI Chat Completions request -> Claude Messages request (and back, for tests).

The OpenAI-compatible routes take a ``/v1/chat/completions`` body and need the
canonical request of the proxy, an Anthropic Messages body. :func:`chat_to_messages`
does that translation; :func:`messages_to_chat` goes the other way so one table of
pairs can be read in both directions (style.md C.9 practice 5). Both are pure
functions over parsed JSON (sans-IO): no I/O, no clock, nothing mutated.

The mapping (reference: protocols.md §2.2-2.3, §5)::

    OpenAI                                  Claude
    system / developer messages (anywhere)  top-level system: text blocks, in order
    user / assistant                        user / assistant
    tool messages (one per call)            tool_result blocks of ONE user turn; the
                                            user message right after them joins that
                                            turn, after the results
    assistant tool_calls (content null)     tool_use blocks (arguments JSON-parsed)
    text part                               text block (cache_control kept)
    image_url data:image/...;base64         image, base64 source
    image_url http(s)://                    image, url source (code route only)
    file part (PDF / plain text data)       document block (filename -> title)
    tools[].function                        tools[]: name, description, input_schema
                                            (default {"type":"object","properties":{}})
    tool_choice auto / none / required      {"type": "auto" / "none" / "any"}
    tool_choice {"type":"function",...}     {"type":"tool","name":...}
    tool_choice {"type":"allowed_tools"}    tools filtered to the allowed names, auto/any
    parallel_tool_calls: false              tool_choice.disable_parallel_tool_use: true
    max_completion_tokens / max_tokens      max_tokens (the first wins; default 8192)
    stop (string or list)                   stop_sequences (empty strings dropped)
    temperature (0..2)                      temperature, clamped to Claude's 0..1
    top_p                                   top_p
    reasoning_effort, "-thinking" suffix    thinking / output_config.effort (below)
    response_format json_schema             output_config.format (code route only)
    response_format json_object             a system hint (below)
    stream                                  stream
    user (else safety_identifier)           metadata.user_id

Two Claude-only fields are accepted in an OpenAI body because ClewdR accepts them
and frontends send them: ``thinking`` (a Claude thinking object, which wins over
``reasoning_effort``) and ``top_k``.

Decisions, where OpenAI and Claude do not line up:

* ``reasoning_effort`` follows ClewdR's table (clewdr-behaviour.md §8.1): a budget
  of ``minimal`` 1024, ``low`` 2048, ``medium`` 4096, ``high`` 16384, ``xhigh``
  32768, ``max`` 65536 tokens, and effort ``minimal``->low, otherwise the same
  name. Unlike ClewdR, the shape is chosen per model: models that only know
  budgets (4.5 and older) get ``{"type": "enabled", "budget_tokens": N}`` plus the
  effort, newer ones ``{"type": "adaptive", "display": "summarized"}`` plus the
  effort; :func:`llmproxy.claude.models.sanitize` then steps the effort down to
  a rung the model has (or drops it). An unrecognised model gets the budget only.
* A budget has to fit under ``max_tokens``. When the client set a limit, it
  stands (OpenAI counts reasoning inside ``max_completion_tokens`` too) and the
  budget is clamped below it; under 1024 tokens of room means no thinking. When
  it set none, ``max_tokens`` becomes 8192 + the effort's budget (adaptive
  thinking too), at most :data:`THINKING_MAX_TOKENS` (32000), and a budget is cut
  so the answer keeps its 8192: ClewdR's fixed 8192 would leave a ``high`` budget
  one token to answer in.
* ``reasoning_effort: "none"`` means no thinking: ``{"type": "disabled"}``, which
  also beats a ``-thinking`` model suffix. (ClewdR maps it to 1024 tokens of
  thinking, which is the opposite of what the client asked.) Models that always
  think (Fable/Mythos) think anyway; sanitize removes the ``disabled``.
* Thinking cannot be combined with a tool_choice that forces a tool (``any`` or
  ``tool``; the API answers 400), so thinking is dropped in that case: the client
  asked for the tool explicitly.
* ``response_format: json_schema`` becomes ``output_config.format`` =
  ``{"type": "json_schema", "schema": ...}``, the generally available form of
  Claude's structured outputs (the older ``output_format`` field needs the
  ``structured-outputs-2025-11-13`` beta). claude.ai web chats cannot constrain
  output, so on ``route="web"`` it is a 400 naming ``response_format``.
* ``response_format: json_object`` has no Claude equivalent (structured outputs
  need a schema whose objects are closed, and prefilling "{" breaks thinking), so
  it adds :data:`JSON_OBJECT_HINT` as the last system block, on both routes.
  OpenAI's own JSON mode also leans on the prompt.
* Image URLs are fetched by Anthropic on the code route; on the web route the
  proxy would have to download them itself, so they are a 400 naming the host.
* Assistant ``reasoning_content`` in history is dropped: Claude only takes
  thinking back with its signature, which OpenAI clients never had.
* Tool-call ids outside Claude's ``[A-Za-z0-9_-]`` are rewritten the same way in
  ``tool_use`` and ``tool_result`` (other characters become ``_``), so ids from
  other providers still pair up.
* Empty text parts are dropped (the API rejects empty text blocks), and an
  assistant message with neither content nor tool calls is skipped.
* Part types this module does not know (for example a Claude ``document`` block
  sent as is) are passed through unchanged rather than dropped.
* A ``tool_choice`` without ``tools`` is dropped, as is an empty ``tools`` list.

Rejected with a 400 whose ``param`` names the field (:data:`REJECTED_FIELDS`):
``n`` other than 1, ``audio``, ``modalities`` containing ``"audio"``, ``logprobs:
true``, ``top_logprobs`` other than 0, ``prediction``, the deprecated
``functions``/``function_call`` and ``function`` role, ``input_audio`` parts,
``custom`` tools, ``file_id`` references. Claude has nothing to serve them with,
and silently answering without them would hand the client something it did not
ask for.

Ignored as hints (:data:`IGNORED_FIELDS`; OpenAI itself treats several of them as
best effort): ``frequency_penalty``, ``presence_penalty``, ``seed``,
``logit_bias``, ``service_tier``, ``store``, ``metadata`` (OpenAI's stored-
completion tags, not Claude's metadata), ``parallel_tool_calls`` where it maps to
nothing, ``verbosity``, ``web_search_options``, ``prompt_cache_key``,
``prompt_cache_retention``, ``stream_options`` (read by the route through
:func:`stream_include_usage`), ``reasoning``, message ``name``, image ``detail``,
function ``strict``. Any other unknown field is ignored too and never raises.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypeGuard
from urllib.parse import urlsplit

from llmproxy.claude import models
from llmproxy.claude.models import ThinkingSupport, sanitize, split_thinking_suffix, traits_of
from llmproxy.errors import BadRequest

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "IGNORED_FIELDS",
    "JSON_OBJECT_HINT",
    "REASONING_BUDGETS",
    "REASONING_EFFORTS",
    "REJECTED_FIELDS",
    "THINKING_MAX_TOKENS",
    "Route",
    "chat_to_messages",
    "messages_to_chat",
    "stream_include_usage",
]

Route = Literal["web", "code"]
"""Which upstream the request goes to: claude.ai web chats or the Claude Code API."""

DEFAULT_MAX_TOKENS: Final = models.DEFAULT_MAX_TOKENS
"""``max_tokens`` when the client sent neither ``max_completion_tokens`` nor
``max_tokens`` (8192, as ClewdR). Claude requires the field; OpenAI does not."""

REASONING_BUDGETS: Final[Mapping[str, int]] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32768,
    "max": 65536,
}
"""``reasoning_effort`` -> thinking ``budget_tokens`` (ClewdR's table)."""

REASONING_EFFORTS: Final[Mapping[str, str]] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
"""``reasoning_effort`` -> ``output_config.effort``. ``"none"`` is handled apart."""

THINKING_MAX_TOKENS: Final = 32000
"""The most ``max_tokens`` grows to make room for a thinking budget the client did not
bound: the smallest output ceiling among the models that take budgets (Opus 4/4.1)."""

JSON_OBJECT_HINT: Final = (
    "Respond with a single valid JSON object and nothing else: no prose, no code fences."
)
"""The system block that stands in for ``response_format: {"type": "json_object"}``."""

REJECTED_FIELDS: Final = (
    "n",
    "audio",
    "modalities",
    "logprobs",
    "top_logprobs",
    "prediction",
    "functions",
    "function_call",
)
"""Top-level fields that are a 400 when they ask for something Claude cannot do."""

IGNORED_FIELDS: Final = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "logit_bias",
        "service_tier",
        "store",
        "metadata",
        "parallel_tool_calls",
        "verbosity",
        "web_search_options",
        "prompt_cache_key",
        "prompt_cache_retention",
        "stream_options",
        "reasoning",
    }
)
"""Known OpenAI fields that are accepted and dropped (or read elsewhere)."""

_DEFAULT_SCHEMA: Final[Mapping[str, Any]] = {"type": "object", "properties": {}}
_IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_MIME_ALIASES: Final = {"image/jpg": "image/jpeg"}
_TOOL_CHOICES: Final = {"auto": "auto", "none": "none", "required": "any", "any": "any"}
_CLAUDE_CHOICES: Final = frozenset({"auto", "any", "tool", "none"})
_FORCED_CHOICES: Final = frozenset({"any", "tool"})
_BAD_ID_CHARS: Final = re.compile(r"[^A-Za-z0-9_-]")


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- OpenAI -> Claude ------------------------------------------------------------------


def chat_to_messages(body: Mapping[str, Any], *, route: Route) -> dict[str, Any]:
    """Translate a Chat Completions request into the canonical Messages request.

    Args:
        body: The parsed ``/v1/chat/completions`` JSON. Never mutated; values that
            pass through unchanged (schemas, unknown parts) are shared, not copied.
        route: ``"code"`` for the Claude Code API, ``"web"`` for claude.ai chats;
            the web route cannot fetch image URLs or enforce a JSON schema.

    Returns:
        A Messages request already passed through
        :func:`llmproxy.claude.models.sanitize` (so the model name has lost any
        ``-thinking`` suffix and thinking/sampling fit the model).

    Raises:
        BadRequest: The body is malformed or asks for something Claude cannot do;
            ``param`` names the field (``messages[2].tool_calls[0].function.arguments``).
    """
    if not isinstance(body, Mapping):
        raise BadRequest("The request body must be a JSON object.")
    _reject_unsupported(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` is required and must be a non-empty string.", param="model")
    system, messages = _convert_messages(body.get("messages"), route)
    limit = _max_tokens(body)
    thinking, effort = _thinking(body, model)
    max_tokens = _fit_thinking(thinking, limit, body.get("reasoning_effort"))
    out: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": messages}

    config: dict[str, Any] = {}
    output_format = _response_format(body.get("response_format"), route)
    if output_format == "json_object":
        system.append({"type": "text", "text": JSON_OBJECT_HINT})
    elif output_format is not None:
        config["format"] = output_format
    if system:
        out["system"] = system

    stop = _stop(body.get("stop"))
    if stop:
        out["stop_sequences"] = stop
    _sampling(body, out)
    stream = body.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise BadRequest("`stream` must be a boolean.", param="stream")
        out["stream"] = stream
    stream_include_usage(body)  # validates stream_options
    user = _user(body)
    if user is not None:
        out["metadata"] = {"user_id": user}

    tools = _tools(body.get("tools"))
    tools, choice = _tool_choice(body.get("tool_choice"), tools)
    if tools:
        out["tools"] = tools
        if body.get("parallel_tool_calls") is False and (choice or {}).get("type") != "none":
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            out["tool_choice"] = choice

    if thinking:
        out["thinking"] = thinking
    if effort is not None:
        config["effort"] = effort
    if config:
        out["output_config"] = config

    out = sanitize(out)
    _drop_thinking_if_forced(out)
    return out


def stream_include_usage(body: Mapping[str, Any]) -> bool:
    """Whether a streamed answer ends with a usage chunk (``stream_options.include_usage``).

    Raises:
        BadRequest: ``stream_options`` is not an object or ``include_usage`` not a boolean.
    """
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, Mapping):
        raise BadRequest("`stream_options` must be an object.", param="stream_options")
    include = options.get("include_usage")
    if include is not None and not isinstance(include, bool):
        raise BadRequest(
            "`stream_options.include_usage` must be a boolean.",
            param="stream_options.include_usage",
        )
    return include is True


def _reject_unsupported(body: Mapping[str, Any]) -> None:
    """Refuse the fields that ask for output Claude cannot produce (see module doc)."""
    n = body.get("n")
    if n is not None and (not _is_int(n) or n != 1):
        raise BadRequest("Only `n: 1` is supported: Claude returns one choice.", param="n")
    if body.get("audio") is not None:
        raise BadRequest("Audio output is not supported by Claude.", param="audio")
    modalities = body.get("modalities")
    if modalities is not None:
        if not isinstance(modalities, list):
            raise BadRequest("`modalities` must be an array.", param="modalities")
        if "audio" in modalities:
            raise BadRequest("Audio output is not supported by Claude.", param="modalities")
    if body.get("logprobs") is True:
        raise BadRequest("Claude does not return log probabilities.", param="logprobs")
    top_logprobs = body.get("top_logprobs")
    if top_logprobs is not None and top_logprobs != 0:
        raise BadRequest("Claude does not return log probabilities.", param="top_logprobs")
    if body.get("prediction") is not None:
        raise BadRequest("Predicted outputs are not supported by Claude.", param="prediction")
    for legacy in ("functions", "function_call"):
        if body.get(legacy) is not None:
            raise BadRequest(
                f"`{legacy}` is deprecated and not supported; use `tools` and `tool_choice`.",
                param=legacy,
            )


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    """``max_completion_tokens`` (OpenAI's current name) before ``max_tokens``."""
    chosen: int | None = None
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not _is_int(value) or value < 1:
            raise BadRequest(f"`{name}` must be a positive integer.", param=name)
        if chosen is None:
            chosen = value
    return chosen


def _stop(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw] if raw else []
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise BadRequest("`stop` must be a string or an array of strings.", param="stop")
    return [item for item in raw if item]


def _sampling(body: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Copy temperature, top_p and top_k, checking their types.

    OpenAI's temperature runs 0..2 and Claude's 0..1; values above 1 become 1
    (the most random Claude offers) instead of a 400 from upstream.
    """
    temperature = body.get("temperature")
    if temperature is not None:
        if not _is_number(temperature) or not 0 <= temperature <= 2:
            raise BadRequest("`temperature` must be a number from 0 to 2.", param="temperature")
        out["temperature"] = min(temperature, 1.0) if temperature > 1 else temperature
    top_p = body.get("top_p")
    if top_p is not None:
        if not _is_number(top_p) or not 0 <= top_p <= 1:
            raise BadRequest("`top_p` must be a number from 0 to 1.", param="top_p")
        out["top_p"] = top_p
    top_k = body.get("top_k")
    if top_k is not None:
        if not _is_int(top_k) or top_k < 0:
            raise BadRequest("`top_k` must be a non-negative integer.", param="top_k")
        out["top_k"] = top_k


def _user(body: Mapping[str, Any]) -> str | None:
    user = body.get("user")
    if user is not None:
        if not isinstance(user, str):
            raise BadRequest("`user` must be a string.", param="user")
        return user or None
    safety = body.get("safety_identifier")
    return safety if isinstance(safety, str) and safety else None


# --- messages --------------------------------------------------------------------------


def _convert_messages(raw: Any, route: Route) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split OpenAI messages into Claude's system blocks and turns."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest("`messages` is required and must be a non-empty array.", param="messages")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    # The content list of the user turn that holds the latest run of tool results;
    # the next tool message or the next user message is added to it.
    results: list[dict[str, Any]] | None = None
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, Mapping):
            raise BadRequest(f"`{where}` must be an object.", param=where)
        role = message.get("role")
        if role == "system" or role == "developer":
            system.extend(_system_blocks(message.get("content"), where))
        elif role == "tool":
            block = _tool_result(message, where, route)
            if results is None:
                results = [block]
                turns.append({"role": "user", "content": results})
            else:
                results.append(block)
        elif role == "user":
            content = _user_content(message.get("content"), where, route)
            if results is not None:
                results.extend(_as_blocks(content))
                results = None
            else:
                turns.append({"role": "user", "content": content})
        elif role == "assistant":
            results = None
            turn = _assistant(message, where, route)
            if turn is not None:
                turns.append(turn)
        elif role == "function":
            raise BadRequest(
                "The `function` role is deprecated and not supported; use `tool` messages.",
                param=f"{where}.role",
            )
        else:
            raise BadRequest(
                f"`{where}.role` must be one of system, developer, user, assistant, tool.",
                param=f"{where}.role",
            )
    if not turns:
        raise BadRequest(
            "`messages` must contain at least one user or assistant message.", param="messages"
        )
    return system, turns


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _system_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise BadRequest(
            f"`{where}.content` must be a string or an array of text parts.",
            param=f"{where}.content",
        )
    blocks = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(part, Mapping) or part.get("type") != "text":
            raise BadRequest(
                f"`{at}` must be a text part: Claude's system prompt is text only.", param=at
            )
        block = _text_block(part, at)
        if block is not None:
            blocks.append(block)
    return blocks


def _user_content(content: Any, where: str, route: Route) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest(
            f"`{where}.content` must be a string or an array of parts.", param=f"{where}.content"
        )
    return _parts(content, where, route)


def _parts(content: Sequence[Any], where: str, route: Route) -> list[dict[str, Any]]:
    blocks = []
    for j, part in enumerate(content):
        block = _part(part, f"{where}.content[{j}]", route)
        if block is not None:
            blocks.append(block)
    return blocks


def _part(part: Any, at: str, route: Route) -> dict[str, Any] | None:
    """One content part as a Claude block, or ``None`` for an empty text part."""
    if not isinstance(part, Mapping):
        raise BadRequest(f"`{at}` must be an object.", param=at)
    kind = part.get("type")
    if kind == "text":
        return _text_block(part, at)
    if kind == "image_url":
        return _image_block(part, at, route)
    if kind == "file":
        return _file_block(part, at)
    if kind == "refusal":
        refusal = part.get("refusal")
        if not isinstance(refusal, str):
            raise BadRequest(f"`{at}.refusal` must be a string.", param=f"{at}.refusal")
        return {"type": "text", "text": refusal} if refusal else None
    if kind == "input_audio":
        raise BadRequest("Claude does not accept audio input.", param=at)
    if not isinstance(kind, str):
        raise BadRequest(f"`{at}.type` is required.", param=f"{at}.type")
    return dict(part)  # an unknown part (a Claude block sent as is) survives untouched


def _text_block(part: Mapping[str, Any], at: str) -> dict[str, Any] | None:
    text = part.get("text")
    if not isinstance(text, str):
        raise BadRequest(f"`{at}.text` must be a string.", param=f"{at}.text")
    if not text:
        return None
    return _keep_cache({"type": "text", "text": text}, part)


def _keep_cache(block: dict[str, Any], part: Mapping[str, Any]) -> dict[str, Any]:
    """Carry a client's ``cache_control`` over; clients that know Claude set it on parts."""
    cache = part.get("cache_control")
    if isinstance(cache, Mapping):
        block["cache_control"] = cache
    return block


def _image_block(part: Mapping[str, Any], at: str, route: Route) -> dict[str, Any]:
    value = part.get("image_url")
    url = value.get("url") if isinstance(value, Mapping) else value
    where = f"{at}.image_url.url" if isinstance(value, Mapping) else f"{at}.image_url"
    if not isinstance(url, str) or not url:
        raise BadRequest(f"`{where}` must be a non-empty string.", param=where)
    if url[:5].lower() == "data:":
        return _keep_cache(_from_data_uri(url, where), part)
    scheme = url.partition(":")[0].lower()
    if scheme not in ("http", "https"):
        raise BadRequest(f"`{where}` must be a data: URI or an http(s) URL.", param=where)
    if route == "web":
        host = urlsplit(url).hostname or url
        raise BadRequest(
            f"Image URLs are not supported on the claude.ai web route (got one on {host}); "
            "send the image inline as a data:image/...;base64 URI.",
            param=where,
        )
    return _keep_cache({"type": "image", "source": {"type": "url", "url": url}}, part)


def _file_block(part: Mapping[str, Any], at: str) -> dict[str, Any]:
    file = part.get("file")
    if not isinstance(file, Mapping):
        raise BadRequest(f"`{at}.file` must be an object.", param=f"{at}.file")
    data = file.get("file_data")
    if data is None and file.get("file_id") is not None:
        raise BadRequest(
            "Uploaded file ids cannot be used here; send the file inline as `file_data`.",
            param=f"{at}.file.file_id",
        )
    where = f"{at}.file.file_data"
    if not isinstance(data, str) or not data:
        raise BadRequest(f"`{where}` must be a non-empty string.", param=where)
    if data[:5].lower() == "data:":
        block = _from_data_uri(data, where)
    else:  # OpenAI's chat file inputs are PDFs sent as bare base64
        block = _media_block("application/pdf", data, where)
    filename = file.get("filename")
    if block["type"] == "document" and isinstance(filename, str) and filename:
        block["title"] = filename
    return _keep_cache(block, part)


def _from_data_uri(uri: str, where: str) -> dict[str, Any]:
    """``data:<mime>[;params];base64,<data>`` as an image or document block."""
    header, comma, data = uri[5:].partition(",")
    fields = header.split(";")
    mime = fields[0].strip().lower()
    if not comma or not data or "base64" not in (f.strip().lower() for f in fields[1:]):
        raise BadRequest(
            f"`{where}` must be a base64 data URI (data:<media type>;base64,<data>).",
            param=where,
        )
    return _media_block(_MIME_ALIASES.get(mime, mime), data, where)


def _media_block(mime: str, data: str, where: str) -> dict[str, Any]:
    if mime in _IMAGE_TYPES:
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    if mime == "application/pdf":
        return {
            "type": "document",
            "source": {"type": "base64", "media_type": mime, "data": data},
        }
    if mime == "text/plain":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(f"`{where}` is not base64-encoded UTF-8 text.", param=where) from None
        return {"type": "document", "source": {"type": "text", "media_type": mime, "data": text}}
    raise BadRequest(
        f"Unsupported media type {mime!r} in `{where}`; Claude takes image/jpeg, image/png, "
        "image/gif, image/webp, application/pdf and text/plain.",
        param=where,
    )


def _tool_result(message: Mapping[str, Any], where: str, route: Route) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"`{where}.tool_call_id` is required.", param=f"{where}.tool_call_id")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": _tool_id(call_id)}
    content = message.get("content")
    if isinstance(content, str):
        if content:  # an empty result is sent without content, which the API allows
            block["content"] = content
    elif isinstance(content, list):
        parts = _parts(content, where, route)
        if parts:
            block["content"] = parts
    elif content is not None:
        raise BadRequest(
            f"`{where}.content` must be a string or an array of parts.", param=f"{where}.content"
        )
    return block


def _assistant(message: Mapping[str, Any], where: str, route: Route) -> dict[str, Any] | None:
    content = message.get("content")
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise BadRequest(f"`{where}.tool_calls` must be an array.", param=f"{where}.tool_calls")
    if message.get("function_call") is not None:
        raise BadRequest(
            "`function_call` is deprecated and not supported; use `tool_calls`.",
            param=f"{where}.function_call",
        )
    if isinstance(content, str) and not calls:
        return {"role": "assistant", "content": content}
    if content is None:
        blocks: list[dict[str, Any]] = []
    elif isinstance(content, str):
        blocks = _as_blocks(content)
    elif isinstance(content, list):
        blocks = _parts(content, where, route)
    else:
        raise BadRequest(
            f"`{where}.content` must be a string, an array of parts or null.",
            param=f"{where}.content",
        )
    for j, call in enumerate(calls or ()):
        blocks.append(_tool_use(call, f"{where}.tool_calls[{j}]"))
    return {"role": "assistant", "content": blocks} if blocks else None


def _tool_use(call: Any, at: str) -> dict[str, Any]:
    if not isinstance(call, Mapping):
        raise BadRequest(f"`{at}` must be an object.", param=at)
    if call.get("type", "function") != "function":
        raise BadRequest("Only function tool calls are supported.", param=f"{at}.type")
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"`{at}.id` is required.", param=f"{at}.id")
    function = call.get("function")
    if not isinstance(function, Mapping):
        raise BadRequest(f"`{at}.function` must be an object.", param=f"{at}.function")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"`{at}.function.name` is required.", param=f"{at}.function.name")
    where = f"{at}.function.arguments"
    arguments = function.get("arguments")
    parsed: Any
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        parsed = {}  # some clients send "" for a call without arguments
    elif isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError as exc:
            raise BadRequest(f"`{where}` is not valid JSON: {exc}.", param=where) from None
    else:
        parsed = arguments
    if not isinstance(parsed, dict):
        raise BadRequest(f"`{where}` must encode a JSON object.", param=where)
    return {"type": "tool_use", "id": _tool_id(call_id), "name": name, "input": parsed}


def _tool_id(call_id: str) -> str:
    """A tool-call id Claude accepts (``^[a-zA-Z0-9_-]+$``), the same for use and result."""
    return _BAD_ID_CHARS.sub("_", call_id)


# --- tools, response format, thinking -----------------------------------------------------


def _tools(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest("`tools` must be an array.", param="tools")
    return [_tool(tool, f"tools[{i}]") for i, tool in enumerate(raw)]


def _tool(tool: Any, at: str) -> dict[str, Any]:
    if not isinstance(tool, Mapping):
        raise BadRequest(f"`{at}` must be an object.", param=at)
    kind = tool.get("type")
    if kind == "function" or (kind is None and "function" in tool):
        function = tool.get("function")
        if not isinstance(function, Mapping):
            raise BadRequest(f"`{at}.function` must be an object.", param=f"{at}.function")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest(f"`{at}.function.name` is required.", param=f"{at}.function.name")
        parameters = function.get("parameters")
        if parameters is None:
            parameters = dict(_DEFAULT_SCHEMA)
        elif not isinstance(parameters, Mapping):
            raise BadRequest(
                f"`{at}.function.parameters` must be a JSON Schema object.",
                param=f"{at}.function.parameters",
            )
        out: dict[str, Any] = {"name": name}
        description = function.get("description")
        if isinstance(description, str) and description:
            out["description"] = description
        out["input_schema"] = parameters
        return _keep_cache(out, tool)
    if kind == "custom":
        raise BadRequest(
            "Custom (free-form) tools have no Claude equivalent; use a function tool.",
            param=f"{at}.type",
        )
    if isinstance(tool.get("name"), str):
        return dict(tool)  # a Claude tool (server tool, input_schema tool) sent as is
    raise BadRequest(f'`{at}.type` must be "function".', param=f"{at}.type")


def _tool_choice(
    raw: Any, tools: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Claude's tool_choice, and the tools left after an ``allowed_tools`` filter."""
    if raw is None:
        return tools, None
    if isinstance(raw, str):
        mapped = _TOOL_CHOICES.get(raw)
        if mapped is None:
            raise BadRequest(
                "`tool_choice` must be none, auto, required or an object.", param="tool_choice"
            )
        return tools, {"type": mapped}
    if not isinstance(raw, Mapping):
        raise BadRequest("`tool_choice` must be a string or an object.", param="tool_choice")
    kind = raw.get("type")
    if kind == "function":
        function = raw.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or not name:
            raise BadRequest(
                "`tool_choice.function.name` is required.", param="tool_choice.function.name"
            )
        return tools, {"type": "tool", "name": name}
    if kind == "allowed_tools":
        return _allowed_tools(raw.get("allowed_tools"), tools)
    if kind in _CLAUDE_CHOICES:
        return tools, dict(raw)  # already Claude-shaped
    raise BadRequest(
        "`tool_choice.type` must be function or allowed_tools.", param="tool_choice.type"
    )


def _allowed_tools(
    spec: Any, tools: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """OpenAI's ``allowed_tools``: offer only the named tools, optionally forcing one."""
    where = "tool_choice.allowed_tools"
    if not isinstance(spec, Mapping) or not isinstance(spec.get("tools"), list):
        raise BadRequest(f"`{where}.tools` must be an array.", param=f"{where}.tools")
    mode = spec.get("mode", "auto")
    if mode not in ("auto", "required"):
        raise BadRequest(f"`{where}.mode` must be auto or required.", param=f"{where}.mode")
    names = set()
    for ref in spec["tools"]:
        function = ref.get("function") if isinstance(ref, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str):
            raise BadRequest(f"`{where}.tools` entries name a function.", param=f"{where}.tools")
        names.add(name)
    kept = [tool for tool in tools if tool.get("name") in names]
    return kept, {"type": "any" if mode == "required" else "auto"}


def _response_format(raw: Any, route: Route) -> dict[str, Any] | str | None:
    """``output_config.format``, the marker ``"json_object"``, or ``None``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise BadRequest("`response_format` must be an object.", param="response_format")
    kind = raw.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json_object"
    if kind != "json_schema":
        raise BadRequest(
            "`response_format.type` must be text, json_object or json_schema.",
            param="response_format.type",
        )
    if route == "web":
        raise BadRequest(
            "`response_format` json_schema needs the Claude Code route; claude.ai web chats "
            "cannot enforce a schema.",
            param="response_format",
        )
    spec = raw.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if not isinstance(schema, Mapping):
        raise BadRequest(
            "`response_format.json_schema.schema` must be a JSON Schema object.",
            param="response_format.json_schema.schema",
        )
    return {"type": "json_schema", "schema": schema}


def _thinking(body: Mapping[str, Any], model: str) -> tuple[dict[str, Any] | None, str | None]:
    """The thinking config and effort a request asks for (see the module doc)."""
    explicit = body.get("thinking")
    if isinstance(explicit, Mapping):
        return dict(explicit), None  # a Claude thinking object wins, as in ClewdR
    effort = body.get("reasoning_effort")
    if effort is None:
        return None, None  # a "-thinking" suffix, if any, is sanitize's to expand
    if effort == "none":
        return {"type": "disabled"}, None
    if not isinstance(effort, str) or effort not in REASONING_BUDGETS:
        raise BadRequest(
            "`reasoning_effort` must be one of none, minimal, low, medium, high, xhigh, max.",
            param="reasoning_effort",
        )
    budget = REASONING_BUDGETS[effort]
    traits = traits_of(split_thinking_suffix(model)[0])
    if traits is None:
        return {"type": "enabled", "budget_tokens": budget}, None
    if traits.thinking is ThinkingSupport.ENABLED_ONLY:
        return {"type": "enabled", "budget_tokens": budget}, REASONING_EFFORTS[effort]
    return {"type": "adaptive", "display": "summarized"}, REASONING_EFFORTS[effort]


def _fit_thinking(thinking: dict[str, Any] | None, limit: int | None, effort: Any) -> int:
    """``max_tokens``, with the thinking budget fitted under it (``thinking`` is edited).

    Claude's thinking tokens come out of ``max_tokens``, as OpenAI's reasoning
    tokens come out of ``max_completion_tokens``. So a client's own limit stands:
    the budget is clamped below it, and thinking is dropped when less than 1024
    tokens would be left for it. Without a limit, reasoning gets room of its own:
    8192 for the answer plus the budget (for adaptive thinking, the budget its
    ``reasoning_effort`` stands for), at most :data:`THINKING_MAX_TOKENS`, and a
    budget is cut so that the answer keeps its 8192.
    """
    kind = thinking.get("type") if thinking else None
    budget = thinking.get("budget_tokens") if thinking else None
    if kind == "adaptive" and limit is None and isinstance(effort, str):
        allowance = REASONING_BUDGETS.get(effort, 0)
        return min(DEFAULT_MAX_TOKENS + allowance, THINKING_MAX_TOKENS)
    if thinking is None or kind != "enabled" or not _is_int(budget):
        return DEFAULT_MAX_TOKENS if limit is None else limit
    if limit is None:
        limit = min(DEFAULT_MAX_TOKENS + budget, THINKING_MAX_TOKENS)
        ceiling = limit - DEFAULT_MAX_TOKENS
    else:
        ceiling = limit - 1
    if ceiling < models.MIN_THINKING_BUDGET:
        thinking.clear()  # the caller drops an emptied config
    elif budget > ceiling:
        thinking["budget_tokens"] = ceiling
    return limit


def _drop_thinking_if_forced(out: dict[str, Any]) -> None:
    """Thinking and a forced tool choice are a 400 together; the explicit choice wins."""
    choice = out.get("tool_choice")
    thinking = out.get("thinking")
    if (
        isinstance(choice, Mapping)
        and choice.get("type") in _FORCED_CHOICES
        and isinstance(thinking, Mapping)
        and thinking.get("type") in ("enabled", "adaptive")
    ):
        del out["thinking"]


# --- Claude -> OpenAI (the inverse, for the tests' tables and for documentation) -----------


def messages_to_chat(body: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a Messages request back into a Chat Completions request.

    The inverse of :func:`chat_to_messages` wherever that mapping is one-to-one;
    it exists so the translation can be tested as a table read both ways, and as
    executable documentation. Lossy corners (``max_tokens`` vs
    ``max_completion_tokens``, a default schema, clamped values) come back in one
    canonical OpenAI spelling. Blocks it does not know are passed as parts.
    """
    out: dict[str, Any] = {"model": body["model"]}
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    json_object = False
    if isinstance(system, str):
        messages.append({"role": "system", "content": system})
    elif isinstance(system, list):
        for block in system:
            if block.get("text") == JSON_OBJECT_HINT:
                json_object = True
            elif "cache_control" in block:  # only a part can carry it
                messages.append({"role": "system", "content": [_part_of(block)]})
            else:
                messages.append({"role": "system", "content": block["text"]})
    for turn in body["messages"]:
        if turn["role"] == "user":
            messages.extend(_user_to_chat(turn["content"]))
        else:
            messages.append(_assistant_to_chat(turn["content"]))
    out["messages"] = messages
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and max_tokens != DEFAULT_MAX_TOKENS:
        out["max_completion_tokens"] = max_tokens
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    for key in ("temperature", "top_p", "top_k", "stream"):
        if key in body:
            out[key] = body[key]
    user = (body.get("metadata") or {}).get("user_id")
    if user is not None:
        out["user"] = user
    _tools_to_chat(body, out)
    _thinking_to_chat(body, out)
    config = body.get("output_config") or {}
    if config.get("format") is not None:
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": config["format"]["schema"]},
        }
    elif json_object:
        out["response_format"] = {"type": "json_object"}
    return out


def _part_of(block: Mapping[str, Any]) -> dict[str, Any]:
    """One Claude content block as an OpenAI content part."""
    kind = block.get("type")
    part: dict[str, Any]
    if kind == "text":
        part = {"type": "text", "text": block["text"]}
    elif kind == "image":
        source = block["source"]
        url = (
            source["url"]
            if source["type"] == "url"
            else f"data:{source['media_type']};base64,{source['data']}"
        )
        part = {"type": "image_url", "image_url": {"url": url}}
    elif kind == "document" and block["source"]["type"] == "base64":
        source = block["source"]
        file: dict[str, Any] = {"file_data": f"data:{source['media_type']};base64,{source['data']}"}
        if "title" in block:
            file["filename"] = block["title"]
        part = {"type": "file", "file": file}
    elif kind == "document" and block["source"]["type"] == "text":
        data = base64.b64encode(block["source"]["data"].encode()).decode()
        part = {"type": "file", "file": {"file_data": f"data:text/plain;base64,{data}"}}
    else:
        return dict(block)
    if "cache_control" in block:
        part["cache_control"] = block["cache_control"]
    return part


def _user_to_chat(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[dict[str, Any]] = []
    rest = []
    for block in content:
        if block.get("type") == "tool_result":
            result = block.get("content", "")
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": block["tool_use_id"],
                    "content": result if isinstance(result, str) else [_part_of(b) for b in result],
                }
            )
        else:
            rest.append(_part_of(block))
    if rest:
        out.append({"role": "user", "content": rest})
    return out


def _assistant_to_chat(content: Any) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    calls = [
        {
            "id": block["id"],
            "type": "function",
            "function": {"name": block["name"], "arguments": _json(block["input"])},
        }
        for block in content
        if block.get("type") == "tool_use"
    ]
    parts = [_part_of(block) for block in content if block.get("type") != "tool_use"]
    if not calls:
        return {"role": "assistant", "content": parts}
    if not parts:
        text: Any = None
    elif len(parts) == 1 and set(parts[0]) == {"type", "text"}:
        text = parts[0]["text"]
    else:
        text = parts
    return {"role": "assistant", "content": text, "tool_calls": calls}


def _tools_to_chat(body: Mapping[str, Any], out: dict[str, Any]) -> None:
    tools = body.get("tools")
    if not tools:
        return
    converted = []
    for tool in tools:
        if "input_schema" not in tool or "type" in tool:
            converted.append(dict(tool))
            continue
        function: dict[str, Any] = {"name": tool["name"]}
        if "description" in tool:
            function["description"] = tool["description"]
        function["parameters"] = tool["input_schema"]
        entry: dict[str, Any] = {"type": "function", "function": function}
        if "cache_control" in tool:
            entry["cache_control"] = tool["cache_control"]
        converted.append(entry)
    out["tools"] = converted
    choice = body.get("tool_choice")
    if choice is None:
        return
    kind = choice["type"]
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False


def _thinking_to_chat(body: Mapping[str, Any], out: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    kind = thinking.get("type")
    effort = (body.get("output_config") or {}).get("effort")
    budgets = {budget: name for name, budget in REASONING_BUDGETS.items()}
    if kind == "disabled":
        out["reasoning_effort"] = "none"
    elif kind == "enabled" and thinking.get("budget_tokens") in budgets:
        out["reasoning_effort"] = budgets[thinking["budget_tokens"]]
    elif kind == "adaptive" and isinstance(effort, str):
        out["reasoning_effort"] = effort
    else:
        out["thinking"] = dict(thinking)
