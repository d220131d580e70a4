"""The claude.ai transcript: exact text for every form, uploads, and what is refused."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmproxy.claude import web_transcript
from llmproxy.claude.web_transcript import (
    DEFAULT_ASSISTANT,
    DEFAULT_HUMAN,
    PLAIN_SEPARATOR,
    REAL_ROLES_SEPARATOR,
    Transcript,
    Upload,
    build_transcript,
    filename_for,
)
from llmproxy.errors import BadRequest

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR-fake-png"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg"
PDF = b"%PDF-1.7\nfake pdf\n%%EOF"
B64_PNG = base64.b64encode(PNG).decode()
B64_JPEG = base64.b64encode(JPEG).decode()
B64_PDF = base64.b64encode(PDF).decode()

BAD_IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "%"}}
REMOTE_PDF = "https://docs.example.net/a.pdf"

H = "\n\n\x08Human: "
A = "\n\n\x08Assistant: "


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def bot(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def image(media_type: str, data: str) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def url_image(url: str) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "url", "url": url}}


def req(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": list(messages), **fields}


# Each case: id, request body, keyword arguments, exact transcript text, uploads.
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, list[Upload]]] = [
    (
        "string system, trimmed",
        req(user("  Hello  "), bot("Hi!"), system="  Be brief.\n "),
        {},
        f"Be brief.{H}Hello{A}Hi!",
        [],
    ),
    (
        "block system joined by newline, blank blocks skipped",
        req(user("Q"), system=[text(" one "), text("   "), text("two\n")]),
        {},
        f"one\ntwo{H}Q",
        [],
    ),
    (
        "no system: first turn bare, later turns prefixed",
        req(user("First"), bot("Second"), user("Third")),
        {},
        f"First{A}Second{H}Third",
        [],
    ),
    (
        "blank system counts as no system",
        req(user("First"), bot("Second"), system="   "),
        {},
        f"First{A}Second",
        [],
    ),
    (
        "no system, assistant first: still bare",
        req(bot("Prefilled intro"), user("Go on")),
        {},
        f"Prefilled intro{H}Go on",
        [],
    ),
    (
        "real roles off: plain blank line separator",
        req(user("Hello"), bot("Hi"), system="S"),
        {"real_roles": False},
        "S\n\nHuman: Hello\n\nAssistant: Hi",
        [],
    ),
    (
        "custom labels",
        req(user("Hello"), bot("Hi"), system="S"),
        {"human": "User", "assistant": "Claude"},
        "S\n\n\x08User: Hello\n\n\x08Claude: Hi",
        [],
    ),
    (
        "blank custom labels mean the defaults",
        req(user("Hello"), bot("Hi"), system="S"),
        {"human": " ", "assistant": ""},
        f"S{H}Hello{A}Hi",
        [],
    ),
    (
        "consecutive same-role turns merged with a newline",
        req(user("a"), user([text("b"), text("c")]), bot("x"), bot("y"), user("z"), system="S"),
        {},
        f"S{H}a\nb\nc{A}x\ny{H}z",
        [],
    ),
    (
        "empty turns dropped before merging",
        req(user("a"), bot("  "), user("b"), bot([text(" ")]), bot([]), user("c"), system="S"),
        {},
        f"S{H}a\nb\nc",
        [],
    ),
    (
        "text blocks trimmed and joined, plain strings in arrays read as text",
        req(user([text("  one  "), "  two ", text("")]), system="S"),
        {},
        f"S{H}one\ntwo",
        [],
    ),
    (
        "final assistant turn is written like any other (prefill)",
        req(user("Say hi"), bot("Hi"), system="S"),
        {},
        f"S{H}Say hi{A}Hi",
        [],
    ),
    (
        "system-role messages are moved into the header; neighbours merge",
        req(
            user("a"),
            {"role": "system", "content": "Late rule."},
            user("b"),
            system="Rule.",
        ),
        {},
        f"Rule.\nLate rule.{H}a\nb",
        [],
    ),
    (
        "a system-role message alone makes a header",
        req({"role": "system", "content": [text("Only rule.")]}, user("a")),
        {},
        f"Only rule.{H}a",
        [],
    ),
    (
        "tool_use",
        req(
            user("Weather?"),
            bot(
                [
                    text("Let me check."),
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris", "note": "été"},
                        "cache_control": {"type": "ephemeral"},
                    },
                ]
            ),
            system="S",
        ),
        {},
        f"S{H}Weather?{A}Let me check.\n"
        '[tool call get_weather id=toolu_1]\n{"city":"Paris","note":"été"}',
        [],
    ),
    (
        "tool_use without input writes {}",
        req(bot([{"type": "tool_use", "id": "t", "name": "ping"}]), system="S"),
        {},
        f"S{A}[tool call ping id=t]\n{{}}",
        [],
    ),
    (
        "tool_result string, error flag, list content, empty content",
        req(
            user(
                [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": " 18°C "},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [text("not found"), text("try again")],
                        "is_error": True,
                    },
                    {"type": "tool_result", "tool_use_id": "toolu_3"},
                    text("Thanks"),
                ]
            ),
            system="S",
        ),
        {},
        (
            f"S{H}[tool result id=toolu_1]\n18°C\n"
            "[tool result id=toolu_2 (error)]\nnot found\ntry again\n"
            "[tool result id=toolu_3]\nThanks"
        ),
        [],
    ),
    (
        "tool_result with a nested image uploads it",
        req(
            user(
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_9",
                        "content": [text("screenshot:"), image("image/png", B64_PNG)],
                    }
                ]
            ),
            system="S",
        ),
        {},
        f"S{H}[tool result id=toolu_9]\nscreenshot:\n[image 1: image.png]",
        [Upload("image.png", "image/png", PNG)],
    ),
    (
        "thinking and redacted_thinking omitted",
        req(
            user("Q"),
            bot(
                [
                    {"type": "thinking", "thinking": "secret plan", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    text("Answer"),
                ]
            ),
            bot([{"type": "thinking", "thinking": "only thoughts", "signature": "s"}]),
            system="S",
        ),
        {},
        f"S{H}Q{A}Answer",
        [],
    ),
    (
        "server tool blocks and unknown blocks as compact JSON",
        req(
            bot(
                [
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {"query": "trio"},
                    },
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": "srvtoolu_1",
                        "content": [
                            {"type": "web_search_result", "url": "https://e.x", "title": "T"}
                        ],
                    },
                    {"type": "brand_new", "cache_control": {"type": "ephemeral"}},
                    {"no_type": 1},
                ]
            ),
            system="S",
        ),
        {},
        (
            f"S{A}"
            '[server_tool_use] {"id":"srvtoolu_1","name":"web_search","input":{"query":"trio"}}\n'
            '[web_search_tool_result] {"tool_use_id":"srvtoolu_1","content":'
            '[{"type":"web_search_result","url":"https://e.x","title":"T"}]}\n'
            "[brand_new]\n"
            '[block] {"no_type":1}'
        ),
        [],
    ),
    (
        "text document with title and context",
        req(
            user(
                [
                    {
                        "type": "document",
                        "title": "Notes",
                        "context": " from the wiki ",
                        "source": {
                            "type": "text",
                            "media_type": "text/plain",
                            "data": "line 1\nline 2\n",
                        },
                        "citations": {"enabled": True},
                    },
                    text("Summarise."),
                ]
            ),
            system="S",
        ),
        {},
        f"S{H}[document Notes]\ncontext: from the wiki\nline 1\nline 2\nSummarise.",
        [],
    ),
    (
        "content document without title, with an image inside",
        req(
            user(
                [
                    {
                        "type": "document",
                        "source": {
                            "type": "content",
                            "content": [text("page one"), image("image/jpeg", B64_JPEG)],
                        },
                    }
                ]
            ),
            system="S",
        ),
        {},
        f"S{H}[document]\npage one\n[image 1: image.jpg]",
        [Upload("image.jpg", "image/jpeg", JPEG)],
    ),
    (
        "content document with a string",
        req(user([{"type": "document", "source": {"type": "content", "content": " plain "}}])),
        {},
        "[document]\nplain",
        [],
    ),
    (
        "base64 PDF document uploaded",
        req(
            user(
                [
                    {
                        "type": "document",
                        "title": "Q3",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": B64_PDF,
                        },
                    },
                    text("What changed?"),
                ]
            ),
            system="S",
        ),
        {},
        f"S{H}[document Q3]\n[file 1: document.pdf]\nWhat changed?",
        [Upload("document.pdf", "application/pdf", PDF)],
    ),
    (
        "data: URL PDF document uploaded",
        req(
            user(
                [
                    {
                        "type": "document",
                        "source": {"type": "url", "url": f"data:application/pdf;base64,{B64_PDF}"},
                    }
                ]
            )
        ),
        {},
        "[document]\n[file 1: document.pdf]",
        [Upload("document.pdf", "application/pdf", PDF)],
    ),
    (
        "base64 images numbered in order, placeholders where they were",
        req(
            user([image("image/png", B64_PNG), text("and"), image("image/jpg", B64_JPEG)]),
            bot("Two images."),
            user([image("image/webp", B64_PNG)]),
            system="S",
        ),
        {},
        f"S{H}[image 1: image.png]\nand\n[image 2: image.jpg]"
        f"{A}Two images.{H}[image 3: image.webp]",
        [
            Upload("image.png", "image/png", PNG),
            Upload("image.jpg", "image/jpeg", JPEG),
            Upload("image.webp", "image/webp", PNG),
        ],
    ),
    (
        "base64 with line breaks and an odd media type",
        req(
            user(
                [
                    image("Image/GIF; charset=x", B64_PNG[:8] + "\n " + B64_PNG[8:]),
                    image("image/heic", B64_PNG),
                ]
            )
        ),
        {},
        "[image 1: image.gif]\n[image 2: file]",
        [Upload("image.gif", "image/gif", PNG), Upload("file", "image/heic", PNG)],
    ),
    (
        "data: URI image source",
        req(user([url_image(f"data:image/png;base64,{B64_PNG}"), text("What is it?")]), system="S"),
        {},
        f"S{H}[image 1: image.png]\nWhat is it?",
        [Upload("image.png", "image/png", PNG)],
    ),
    (
        "percent-encoded data: URI",
        req(user([url_image("data:image/svg+xml,%3Csvg%2F%3E")])),
        {},
        "[image 1: file]",
        [Upload("file", "image/svg+xml", b"<svg/>")],
    ),
    (
        "OpenAI image_url part with a data: URI (object and bare string)",
        req(
            user(
                [
                    text("Compare"),
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/jpeg;base64,{B64_JPEG}"},
                    },
                    {"type": "image_url", "image_url": f"data:image/png;base64,{B64_PNG}"},
                ]
            ),
            system="S",
        ),
        {},
        f"S{H}Compare\n[image 1: image.jpg]\n[image 2: image.png]",
        [Upload("image.jpg", "image/jpeg", JPEG), Upload("image.png", "image/png", PNG)],
    ),
    (
        "image-only turn is not empty",
        req(user("look"), bot("ok"), user([image("image/png", B64_PNG)])),
        {},
        f"look{A}ok{H}[image 1: image.png]",
        [Upload("image.png", "image/png", PNG)],
    ),
    (
        "tools section after system, with tool choice",
        req(
            user("Weather in Paris?"),
            system="S",
            tools=[
                {
                    "name": "get_weather",
                    "description": " Get the weather for a city. ",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
                {"type": "custom", "name": "noop", "input_schema": {"type": "object"}},
            ],
            tool_choice={"type": "any"},
        ),
        {},
        (
            "S\n\n[tools available]\n\n"
            "[tool get_weather]\nGet the weather for a city.\n"
            'input_schema: {"type":"object","properties":{"city":{"type":"string"}}}\n\n'
            "[tool web_search type=web_search_20250305]\nmax_uses: 5\n\n"
            '[tool noop]\ninput_schema: {"type":"object"}\n\n'
            '[tool choice] {"type":"any"}'
            f"{H}Weather in Paris?"
        ),
        [],
    ),
    (
        "tools without system: the section is the header, so every turn is prefixed",
        req(user("Hi"), tools=[{"name": "t", "input_schema": {}}]),
        {},
        f"[tools available]\n\n[tool t]\ninput_schema: {{}}{H}Hi",
        [],
    ),
    (
        "empty tools array adds nothing; tool_choice alone adds nothing",
        req(user("Hi"), bot("Yo"), tools=[], tool_choice={"type": "auto"}),
        {},
        f"Hi{A}Yo",
        [],
    ),
]


@pytest.mark.parametrize(
    ("body", "kwargs", "expected", "uploads"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_transcript(
    body: dict[str, Any], kwargs: dict[str, Any], expected: str, uploads: list[Upload]
) -> None:
    before = copy.deepcopy(body)
    result = build_transcript(body, **kwargs)
    assert result == Transcript(text=expected, uploads=tuple(uploads))
    assert body == before  # never mutated


# Each case: id, request body, expected param, fragment of the message.
ERRORS: list[tuple[str, Any, str, str]] = [
    ("no messages", {"model": "m"}, "messages", "messages must not be empty"),
    ("empty messages", req(), "messages", "messages must not be empty"),
    ("messages not a list", {"messages": {"role": "user"}}, "messages", "array"),
    ("message not an object", req("hi"), "messages.0", "object"),  # type: ignore[arg-type]
    ("bad role", req({"role": "tool", "content": "x"}), "messages.0.role", '"tool"'),
    ("bad content", req(user(7)), "messages.0.content", "string or an array"),
    ("bad block", req(user([7])), "messages.0.content.0", "object"),
    ("bad text", req(user([{"type": "text", "text": 5}])), "messages.0.content.0.text", "string"),
    ("bad system", req(user("x"), system=3), "system", "string or an array"),
    ("bad tools", req(user("x"), tools={"name": "t"}), "tools", "array"),
    ("bad tool", req(user("x"), tools=["t"]), "tools.0", "object"),
    (
        "remote image URL",
        req(
            user("a"),
            bot("b"),
            user("c"),
            user([text("see"), url_image("https://cdn.example.com/a.png?token=SECRET")]),
        ),
        "messages.3.content.1",
        "cdn.example.com",
    ),
    (
        "remote image_url part",
        req(user([{"type": "image_url", "image_url": {"url": "http://img.example.org/x.jpg"}}])),
        "messages.0.content.0",
        "img.example.org",
    ),
    (
        "other URL scheme",
        req(user([url_image("ftp://files.example/x.png")])),
        "messages.0.content.0",
        "'ftp'",
    ),
    (
        "remote document URL",
        req(user([{"type": "document", "source": {"type": "url", "url": REMOTE_PDF}}])),
        "messages.0.content.0",
        "docs.example.net",
    ),
    (
        "bad base64",
        req(user([image("image/png", "not base64!!")])),
        "messages.0.content.0",
        "not valid base64",
    ),
    (
        "bad base64 padding",
        req(user([image("image/png", "iVBORw0")])),
        "messages.0.content.0",
        "not valid base64",
    ),
    ("empty base64", req(user([image("image/png", "")])), "messages.0.content.0", "empty"),
    (
        "base64 not a string",
        req(user([image("image/png", None)])),  # type: ignore[arg-type]
        "messages.0.content.0",
        "string",
    ),
    (
        "bad base64 in a data: URI",
        req(user([url_image("data:image/png;base64,@@@")])),
        "messages.0.content.0",
        "not valid base64",
    ),
    (
        "data: URI without a comma",
        req(user([url_image("data:image/png;base64")])),
        "messages.0.content.0",
        "','",
    ),
    (
        "bad base64 nested in a tool_result",
        req(user([{"type": "tool_result", "tool_use_id": "t", "content": [BAD_IMAGE]}])),
        "messages.0.content.0.content.0",
        "not valid base64",
    ),
    (
        "file source",
        req(user([{"type": "image", "source": {"type": "file", "file_id": "file_1"}}])),
        "messages.0.content.0",
        "file sources",
    ),
    (
        "unknown source type",
        req(user([{"type": "image", "source": {"type": "carrier-pigeon"}}])),
        "messages.0.content.0",
        "carrier-pigeon",
    ),
    ("image without source", req(user([{"type": "image"}])), "messages.0.content.0", "source"),
    ("empty image URL", req(user([url_image(" ")])), "messages.0.content.0", "non-empty"),
    (
        "remote image in the system array",
        req(user("x"), system=[url_image("https://sys.example.com/a.png")]),
        "system.0",
        "sys.example.com",
    ),
]


@pytest.mark.parametrize(
    ("body", "param", "fragment"), [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS]
)
def test_refused(body: Any, param: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        build_transcript(body)
    assert caught.value.param == param
    assert fragment in caught.value.message
    assert caught.value.status == 400


def test_remote_url_error_names_host_only_and_why() -> None:
    body = req(user([url_image("https://cdn.example.com/a.png?token=SECRET")]))
    with pytest.raises(BadRequest) as caught:
        build_transcript(body)
    message = caught.value.message
    assert "host cdn.example.com" in message
    assert "SECRET" not in message
    assert "does not fetch" in message


def test_empty_messages_message_is_exact() -> None:
    with pytest.raises(BadRequest) as caught:
        build_transcript(req())
    assert caught.value.message == "messages must not be empty"


@pytest.mark.parametrize(
    ("media_type", "filename"),
    [
        ("image/png", "image.png"),
        ("image/jpeg", "image.jpg"),
        ("image/jpg", "image.jpg"),
        ("IMAGE/JPEG; q=1", "image.jpg"),
        ("image/gif", "image.gif"),
        ("image/webp", "image.webp"),
        ("application/pdf", "document.pdf"),
        ("text/plain", "file"),
        ("", "file"),
    ],
)
def test_filename_for(media_type: str, filename: str) -> None:
    assert filename_for(media_type) == filename


def test_upload_repr_leaves_out_the_bytes() -> None:
    shown = repr(Upload("image.png", "image/png", b"SECRETBYTES" * 1000))
    assert "SECRETBYTES" not in shown
    assert "image.png" in shown


def test_constants() -> None:
    assert REAL_ROLES_SEPARATOR == "\n\n\x08"
    assert PLAIN_SEPARATOR == "\n\n"
    assert (DEFAULT_HUMAN, DEFAULT_ASSISTANT) == ("Human", "Assistant")


def test_all_is_sorted_and_real() -> None:
    assert web_transcript.__all__ == sorted(web_transcript.__all__)
    for name in web_transcript.__all__:
        assert getattr(web_transcript, name) is not None


_plain = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x08"), max_size=20
)
_messages = st.lists(
    st.tuples(st.sampled_from(["user", "assistant"]), _plain), min_size=1, max_size=8
)


@given(_messages, _plain)
def test_real_roles_only_add_the_backspaces(pairs: list[tuple[str, str]], system: str) -> None:
    body = req(*({"role": role, "content": content} for role, content in pairs), system=system)
    real = build_transcript(body).text
    plain = build_transcript(body, real_roles=False).text
    assert real.replace("\x08", "") == plain


@given(_messages)
def test_turn_count_matches_role_changes(pairs: list[tuple[str, str]]) -> None:
    """With a header, every surviving role change writes exactly one label."""
    body = req(*({"role": role, "content": content} for role, content in pairs), system="S")
    kept = [role for role, content in pairs if content.strip()]
    changes = [role for index, role in enumerate(kept) if index == 0 or kept[index - 1] != role]
    result = build_transcript(body, human="\x01H", assistant="\x01A").text
    # The texts never contain a backspace, so each marker below comes from a separator.
    assert result.count("\x08\x01H: ") == changes.count("user")
    assert result.count("\x08\x01A: ") == changes.count("assistant")
