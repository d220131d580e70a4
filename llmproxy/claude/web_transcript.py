"""The claude.ai transcript: a whole Messages request written as one text file.

The claude.ai web app has no message list. The web route therefore sends the
conversation as a single text attachment (``paste.txt``), plus one uploaded file
per image or PDF, the way ClewdR does (clewdr-behaviour.md §4.4, §9.3).
:func:`build_transcript` turns a canonical Anthropic Messages request body into
that text and the list of files to upload. Sans-IO: no HTTP, no clock; the route
uploads the files and posts the completion.

Layout
------

::

    <system text>\\n\\n<tools section><sep><Human>: <turn><sep><Assistant>: <turn>...

* **Header.** The system text, then the tools section, joined by a blank line;
  either may be absent. The system text is ``system`` (a string, or the array's
  blocks rendered like message content, each trimmed, joined by ``"\\n"``)
  followed by the content of every ``system``-role entry inside ``messages``, in
  order, joined the same way; the whole is trimmed. A ``system`` message does not
  keep its place in the conversation: it is moved up into the header, and the
  turns around it merge as if it were not there.
* **Turns.** Each ``user`` / ``assistant`` message is rendered (below), messages
  that render to nothing are dropped, and then consecutive messages of the same
  role are merged, joined by ``"\\n"``. Each turn is written as
  ``<sep><Label>: <text>``, where ``<sep>`` is ``"\\n\\n\\x08"`` (a backspace
  before the label, ClewdR's "real roles") or ``"\\n\\n"`` when ``real_roles`` is
  off, and ``<Label>`` is ``human`` (default ``Human``) for user turns and
  ``assistant`` (default ``Assistant``) for assistant turns; a blank label means
  the default.
* **No header, first turn bare.** When the header is empty, the first turn is
  written as its bare text, without separator or label, and only the later turns
  are prefixed. This is ClewdR's behaviour, kept on purpose: prompts tuned
  against ClewdR (SillyTavern presets) rely on it.
* A final assistant turn is written like any other and acts as the prefill.
  Nothing is added after the last turn.

Content
-------

A string content is trimmed. In a block array each block is rendered as below,
blank renderings are skipped, and the rest are joined by ``"\\n"``. Only the
thinking blocks are left out; everything else the web cannot carry is written as
readable text, never dropped (ClewdR drops all of it silently):

=====================================  =============================================
block                                  written as
=====================================  =============================================
``text``                               its text, trimmed
``image`` (base64 or ``data:`` URL)    ``[image <n>: <filename>]``; the file is uploaded
``image_url`` (OpenAI part)            the same as ``image``
``tool_use``                           ``[tool call <name> id=<id>]`` newline
                                       ``<input as compact JSON>``
``tool_result``                        ``[tool result id=<tool_use_id>]``, or
                                       ``[tool result id=<tool_use_id> (error)]`` when
                                       ``is_error``; then, on the next line, its
                                       content rendered by these same rules (nested
                                       images are uploaded)
``document``                           ``[document]`` or ``[document <title>]``, then
                                       ``context: <context>`` when there is one, then
                                       the document: the text of a ``text`` source,
                                       the rendered blocks of a ``content`` source,
                                       or ``[file <n>: document.pdf]`` for a base64
                                       (or ``data:`` URL) PDF, which is uploaded
``thinking``, ``redacted_thinking``    nothing: earlier turns' thinking is not part
                                       of the prompt (the Messages API ignores it too)
anything else (``server_tool_use``,    ``[<type>] <the block's other fields as
``web_search_tool_result``,            compact JSON>``; just ``[<type>]`` when it has
``search_result``, unknown types)      none; ``[block] ...`` when it has no type
=====================================  =============================================

A plain string inside a block array is read as a text block. ``cache_control`` is
left out everywhere: it means nothing to the model. Compact JSON is
``json.dumps`` with ``separators=(",", ":")`` and ``ensure_ascii=False``, keys in
the client's order.

``<n>`` counts the uploads from 1 in the order they are met (top-level system
first, then the messages in order, blocks in order, depth first), which is the
order of :attr:`Transcript.uploads`. Filenames follow ClewdR: ``image/png`` →
``image.png``, ``image/jpeg`` (or ``image/jpg``) → ``image.jpg``, ``image/gif`` →
``image.gif``, ``image/webp`` → ``image.webp``, ``application/pdf`` →
``document.pdf``, anything else ``file``.

Tools section
-------------

When the request has a non-empty ``tools`` array, the model is told about the
client's tools (claude.ai runs none of them)::

    [tools available]

    [tool get_weather]
    Get the weather for a city.
    input_schema: {"type":"object","properties":{"city":{"type":"string"}}}

    [tool web_search type=web_search_20250305]
    max_uses: 5

    [tool choice] {"type":"any"}

One paragraph per tool: ``[tool <name>]`` (with `` type=<type>`` when the tool has
a ``type`` other than ``custom``), its trimmed description if any, then one line
``<field>: <compact JSON>`` for every other field except ``cache_control``. The
``[tool choice]`` line is there only when the request has ``tool_choice``.

Refused (:class:`~llmproxy.errors.BadRequest`, ``param`` naming the place, such
as ``messages.3.content.1``): an empty or missing ``messages``; a role other than
``user``, ``assistant`` or ``system``; an image or document behind an ``http(s)``
URL (the proxy does not fetch from hosts the client chooses; the message names
the host, never the whole URL); ``file`` sources (Files API ids the web cannot
resolve); base64 that does not decode, or decodes to nothing; malformed shapes.
The web route cannot pass these on, and failing loudly beats answering about an
image the model never saw.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote_to_bytes, urlsplit

from llmproxy.errors import BadRequest

__all__ = [
    "DEFAULT_ASSISTANT",
    "DEFAULT_HUMAN",
    "PLAIN_SEPARATOR",
    "REAL_ROLES_SEPARATOR",
    "Transcript",
    "Upload",
    "build_transcript",
    "filename_for",
]

DEFAULT_HUMAN: Final = "Human"
DEFAULT_ASSISTANT: Final = "Assistant"
REAL_ROLES_SEPARATOR: Final = "\n\n\x08"
"""Before each label when ``real_roles`` is on: two newlines and a U+0008 backspace."""
PLAIN_SEPARATOR: Final = "\n\n"

_FILENAMES: Final[Mapping[str, str]] = {
    "image/png": "image.png",
    "image/jpeg": "image.jpg",
    "image/gif": "image.gif",
    "image/webp": "image.webp",
    "application/pdf": "document.pdf",
}
_OCTET_STREAM: Final = "application/octet-stream"
_OMITTED_BLOCKS: Final = frozenset({"thinking", "redacted_thinking"})
_TOOL_HEADER_FIELDS: Final = frozenset({"name", "type", "description", "cache_control"})


@dataclass(frozen=True, slots=True)
class Upload:
    """One file to upload to claude.ai before the completion.

    Attributes:
        filename: The multipart filename, by media type (see :func:`filename_for`).
        media_type: The media type without parameters, lower case.
        data: The decoded bytes (left out of ``repr``: they can be megabytes).
    """

    filename: str
    media_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the web route sends: the ``paste.txt`` text and the files, in order."""

    text: str
    uploads: tuple[Upload, ...]


def filename_for(media_type: str) -> str:
    """The upload filename ClewdR uses for ``media_type`` (parameters ignored)."""
    return _FILENAMES.get(_base_media_type(media_type), "file")


def _base_media_type(media_type: Any) -> str:
    """``media_type`` without parameters, lower case; ``image/jpg`` read as ``image/jpeg``."""
    if not isinstance(media_type, str):
        return _OCTET_STREAM
    base = media_type.split(";", 1)[0].strip().lower()
    if not base:
        return _OCTET_STREAM
    return "image/jpeg" if base == "image/jpg" else base


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _word(value: Any) -> str:
    """A name or id for a header line: the string itself, or its JSON if not a string."""
    return value if isinstance(value, str) else _compact(value)


def _describe_host(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return f"host {host}" if host else "an unnamed host"


def _decode_base64(data: Any, where: str) -> bytes:
    """Strict base64 (padding required), ignoring whitespace, as a non-empty byte string."""
    if not isinstance(data, str):
        raise BadRequest(f"{where}: base64 data must be a string", param=where)
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where}: the data is not valid base64", param=where) from None
    if not raw:
        raise BadRequest(f"{where}: the data is empty", param=where)
    return raw


def _decode_data_url(url: str, where: str) -> tuple[str, bytes]:
    """``(media type, bytes)`` of an RFC 2397 ``data:`` URL (base64 or percent-encoded)."""
    meta, comma, payload = url[len("data:") :].partition(",")
    if not comma:
        raise BadRequest(f"{where}: the data: URL has no ',' before its data", param=where)
    params = [part.strip() for part in meta.split(";")]
    is_base64 = len(params) > 1 and params[-1].lower() == "base64"
    media_type = params[0] if "/" in params[0] else "text/plain"
    if is_base64:
        return media_type, _decode_base64(payload, where)
    raw = unquote_to_bytes(payload)
    if not raw:
        raise BadRequest(f"{where}: the data is empty", param=where)
    return media_type, raw


_Renderer = Callable[["_Builder", Mapping[str, Any], str], str]


class _Builder:
    """Renders content to text and collects the uploads it meets, in order."""

    def __init__(self) -> None:
        self.uploads: list[Upload] = []

    def upload(self, kind: str, media_type: str, data: bytes) -> str:
        """Record one upload; return its placeholder ``[<kind> <n>: <filename>]``."""
        base = _base_media_type(media_type)
        item = Upload(filename=filename_for(base), media_type=base, data=data)
        self.uploads.append(item)
        return f"[{kind} {len(self.uploads)}: {item.filename}]"

    def content(self, content: Any, where: str) -> str:
        """A message's (or a nested) content: a string, or an array of blocks."""
        if content is None:
            return ""
        if isinstance(content, str):
            return content.strip()
        if isinstance(content, list):
            parts = [self.block(block, f"{where}.{index}") for index, block in enumerate(content)]
            return "\n".join(part for part in parts if part)
        raise BadRequest(
            f"{where}: must be a string or an array of content blocks", param=where
        )

    def block(self, block: Any, where: str) -> str:
        if isinstance(block, str):
            return block.strip()
        if not isinstance(block, Mapping):
            raise BadRequest(f"{where}: a content block must be an object", param=where)
        kind = block.get("type")
        if kind in _OMITTED_BLOCKS:
            return ""
        renderer = _RENDERERS.get(kind) if isinstance(kind, str) else None
        if renderer is None:
            return _render_other(self, block, where)
        return renderer(self, block, where)

    def url_source(self, url: Any, where: str, kind: str, what: str) -> str:
        """Decode a ``data:`` URL into an upload; refuse every other URL."""
        if not isinstance(url, str) or not url.strip():
            raise BadRequest(f"{where}: the {what} URL must be a non-empty string", param=where)
        url = url.strip()
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            media_type, data = _decode_data_url(url, where)
            return self.upload(kind, media_type, data)
        if scheme in ("http", "https"):
            raise BadRequest(
                f"{where}: the {what} URL points to {_describe_host(url)}; the claude.ai route "
                "does not fetch files from hosts chosen by the client. Send the "
                f"{what} as base64 or as a data: URL",
                param=where,
            )
        raise BadRequest(
            f"{where}: unsupported {what} URL scheme {scheme or '(none)'!r}; send the {what} "
            "as base64 or as a data: URL",
            param=where,
        )

    def source(self, block: Mapping[str, Any], where: str, kind: str, what: str) -> str:
        """An image's or a PDF's base64 / url source as an upload placeholder."""
        source = block.get("source")
        if not isinstance(source, Mapping):
            raise BadRequest(f"{where}: the {what} needs a source object", param=where)
        source_type = source.get("type")
        if source_type == "base64":
            data = _decode_base64(source.get("data"), where)
            return self.upload(kind, source.get("media_type", _OCTET_STREAM), data)
        if source_type == "url":
            return self.url_source(source.get("url"), where, kind, what)
        if source_type == "file":
            raise BadRequest(
                f"{where}: {what} file sources (Files API ids) cannot be sent to claude.ai; "
                f"send the {what} as base64",
                param=where,
            )
        raise BadRequest(
            f"{where}: unsupported {what} source type {_word(source_type)!r}", param=where
        )


def _render_text(builder: _Builder, block: Mapping[str, Any], where: str) -> str:
    text = block.get("text", "")
    if not isinstance(text, str):
        raise BadRequest(f"{where}.text: must be a string", param=f"{where}.text")
    return text.strip()


def _render_image(builder: _Builder, block: Mapping[str, Any], where: str) -> str:
    return builder.source(block, where, "image", "image")


def _render_image_url(builder: _Builder, block: Mapping[str, Any], where: str) -> str:
    # OpenAI's part: {"image_url": {"url": ...}}; some clients send the URL bare.
    image_url = block.get("image_url")
    url = image_url.get("url") if isinstance(image_url, Mapping) else image_url
    return builder.url_source(url, where, "image", "image")


def _render_document(builder: _Builder, block: Mapping[str, Any], where: str) -> str:
    title = block.get("title")
    title_text = _word(title).strip() if title is not None else ""
    lines = [f"[document {title_text}]" if title_text else "[document]"]
    context = block.get("context")
    if isinstance(context, str) and context.strip():
        lines.append(f"context: {context.strip()}")
    source = block.get("source")
    source_type = source.get("type") if isinstance(source, Mapping) else None
    if isinstance(source, Mapping) and source_type == "text":
        body = builder.content(source.get("data"), f"{where}.source.data")
    elif isinstance(source, Mapping) and source_type == "content":
        body = builder.content(source.get("content"), f"{where}.source.content")
    else:
        body = builder.source(block, where, "file", "document")
    if body:
        lines.append(body)
    return "\n".join(lines)


def _render_tool_use(builder: _Builder, block: Mapping[str, Any], where: str) -> str:
    header = f"[tool call {_word(block.get('name'))} id={_word(block.get('id'))}]"
    return f"{header}\n{_compact(block.get('input', {}))}"


def _render_tool_result(builder: _Builder, block: Mapping[str, Any], where: str) -> str:
    error = " (error)" if block.get("is_error") is True else ""
    header = f"[tool result id={_word(block.get('tool_use_id'))}{error}]"
    body = builder.content(block.get("content"), f"{where}.content")
    return f"{header}\n{body}" if body else header


def _render_other(builder: _Builder, block: Mapping[str, Any], where: str) -> str:
    kind = block.get("type")
    label = kind if isinstance(kind, str) and kind else "block"
    rest = {key: value for key, value in block.items() if key not in ("type", "cache_control")}
    return f"[{label}] {_compact(rest)}" if rest else f"[{label}]"


_RENDERERS: Final[Mapping[str, _Renderer]] = {
    "text": _render_text,
    "image": _render_image,
    "image_url": _render_image_url,
    "document": _render_document,
    "tool_use": _render_tool_use,
    "tool_result": _render_tool_result,
}


def _tools_section(body: Mapping[str, Any]) -> str:
    """The ``[tools available]`` section, or ``""`` when the request has no tools."""
    tools = body.get("tools")
    if tools is None:
        return ""
    if not isinstance(tools, list):
        raise BadRequest("tools: must be an array of tool definitions", param="tools")
    if not tools:
        return ""
    paragraphs = ["[tools available]"]
    for index, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise BadRequest(f"tools.{index}: must be an object", param=f"tools.{index}")
        paragraphs.append(_describe_tool(tool))
    if "tool_choice" in body and body["tool_choice"] is not None:
        paragraphs.append(f"[tool choice] {_compact(body['tool_choice'])}")
    return "\n\n".join(paragraphs)


def _describe_tool(tool: Mapping[str, Any]) -> str:
    kind = tool.get("type")
    typed = f" type={_word(kind)}" if kind is not None and kind != "custom" else ""
    lines = [f"[tool {_word(tool.get('name'))}{typed}]"]
    description = tool.get("description")
    if isinstance(description, str) and description.strip():
        lines.append(description.strip())
    elif description is not None and not isinstance(description, str):
        lines.append(f"description: {_compact(description)}")
    lines.extend(
        f"{key}: {_compact(value)}"
        for key, value in tool.items()
        if key not in _TOOL_HEADER_FIELDS
    )
    return "\n".join(lines)


def _system_text(builder: _Builder, system: Any) -> list[str]:
    """The top-level ``system`` as a list of non-blank parts."""
    if system is None:
        return []
    if isinstance(system, str):
        return [system.strip()] if system.strip() else []
    if isinstance(system, list):
        parts = [builder.block(block, f"system.{index}") for index, block in enumerate(system)]
        return [part for part in parts if part]
    raise BadRequest("system: must be a string or an array of text blocks", param="system")


def _label(value: str | None, default: str) -> str:
    return value if value is not None and value.strip() else default


def build_transcript(
    body: Mapping[str, Any],
    *,
    human: str | None = None,
    assistant: str | None = None,
    real_roles: bool = True,
) -> Transcript:
    """Write a Messages request as claude.ai's one-attachment transcript.

    The forms are in this module's docstring; the route puts :attr:`Transcript.text`
    into the ``paste.txt`` attachment and uploads :attr:`Transcript.uploads` in
    order.

    Args:
        body: A canonical Anthropic Messages request body (read, never mutated).
        human: Label of user turns (config ``custom_h``); ``None`` or blank means
            ``Human``.
        assistant: Label of assistant turns (config ``custom_a``); ``None`` or
            blank means ``Assistant``.
        real_roles: Put a backspace (U+0008) before each label (config
            ``use_real_roles``).

    Returns:
        The transcript text and the files to upload.

    Raises:
        BadRequest: empty ``messages``, a remote (http/https) image or document
            URL, a ``file`` source, bad base64, or a malformed shape; ``param``
            names the place.
    """
    messages = body.get("messages")
    if messages is None or (isinstance(messages, list) and not messages):
        raise BadRequest("messages must not be empty", param="messages")
    if not isinstance(messages, list):
        raise BadRequest("messages must be an array of messages", param="messages")

    builder = _Builder()
    system_parts = _system_text(builder, body.get("system"))
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, Mapping):
            raise BadRequest(f"{where}: must be an object with role and content", param=where)
        role = message.get("role")
        if role not in ("user", "assistant", "system"):
            raise BadRequest(
                f"{where}.role: must be 'user', 'assistant' or 'system', not {_compact(role)}",
                param=f"{where}.role",
            )
        text = builder.content(message.get("content"), f"{where}.content")
        if not text:
            continue
        if role == "system":
            system_parts.append(text)
        elif turns and turns[-1][0] == role:
            turns[-1] = (role, f"{turns[-1][1]}\n{text}")
        else:
            turns.append((role, text))

    header_parts = ["\n".join(system_parts).strip(), _tools_section(body)]
    header = "\n\n".join(part for part in header_parts if part)
    labels = {
        "user": _label(human, DEFAULT_HUMAN),
        "assistant": _label(assistant, DEFAULT_ASSISTANT),
    }
    separator = REAL_ROLES_SEPARATOR if real_roles else PLAIN_SEPARATOR

    pieces = [header]
    for position, (role, text) in enumerate(turns):
        if position == 0 and not header:
            pieces.append(text)  # ClewdR: no header, so the first turn goes in bare
        else:
            pieces.append(f"{separator}{labels[role]}: {text}")
    return Transcript(text="".join(pieces), uploads=tuple(builder.uploads))
