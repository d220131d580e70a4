"""OpenAI Chat Completions request -> Claude Messages request (llmproxy.translate).

One table of (OpenAI request, Claude request) pairs is read both ways, like h11's
SIMPLE_CASES: ``chat_to_messages(openai) == claude`` for every row, and
``messages_to_chat(claude) == openai`` for the rows marked both-ways. Rows marked
one-way are lossy on purpose (a default filled in, an alias normalised, a field
ignored); the comment on each says why. Then: every rejected field names its
``param``, unknown fields never crash, and nothing is mutated.
"""

from __future__ import annotations

import base64
import contextlib
import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmproxy.translate as translate
from llmproxy.errors import BadRequest
from llmproxy.translate import (
    DEFAULT_MAX_TOKENS,
    IGNORED_FIELDS,
    chat_to_messages,
    messages_to_chat,
    stream_include_usage,
)
from llmproxy.translate.openai_request import JSON_OBJECT_HINT, THINKING_MAX_TOKENS

M = "my-model"  # not a Claude name: models.sanitize leaves such requests alone
PNG = "iVBORw0KGgo="
PDF = "JVBERi0xLjQK"
EPHEMERAL = {"type": "ephemeral"}
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def oa(*messages: dict[str, Any], model: str = M, **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": list(messages), **fields}


def cl(
    *messages: dict[str, Any], model: str = M, max_tokens: int = DEFAULT_MAX_TOKENS, **fields: Any
) -> dict[str, Any]:
    return {"model": model, "max_tokens": max_tokens, "messages": list(messages), **fields}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any, **fields: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content, **fields}


def text(value: str, **fields: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **fields}


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def use(call_id: str, name: str, input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": input}


def tool(call_id: str, content: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def result(call_id: str, content: Any = None) -> dict[str, Any]:
    block = {"type": "tool_result", "tool_use_id": call_id}
    if content is not None:
        block["content"] = content
    return block


def fn(name: str, parameters: Any = None, description: str | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    if description is not None:
        function["description"] = description
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


def ctool(name: str, schema: Any, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if description is not None:
        out["description"] = description
    out["input_schema"] = schema
    return out


HI = user("hi")
TOOLS_OA = [fn("get_weather", WEATHER, "Weather now"), fn("get_time", {"type": "object"})]
TOOLS_CL = [ctool("get_weather", WEATHER, "Weather now"), ctool("get_time", {"type": "object"})]

BOTH, ONE_WAY = True, False

# (id, OpenAI request, Claude request, invertible)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # --- roles and system ---
    ("minimal", oa(HI), cl(HI), BOTH),
    (
        "system messages become system blocks",
        oa({"role": "system", "content": "A"}, {"role": "system", "content": "B"}, HI),
        cl(HI, system=[text("A"), text("B")]),
        BOTH,
    ),
    (
        # developer is OpenAI's newer name for system; it comes back as system
        "developer is system",
        oa({"role": "developer", "content": "D"}, HI),
        cl(HI, system=[text("D")]),
        ONE_WAY,
    ),
    (
        # Claude has one top-level system; a mid-conversation one moves up, in order
        "system anywhere is hoisted",
        oa(
            {"role": "system", "content": "A"},
            HI,
            assistant("yo"),
            {"role": "system", "content": "B"},
            user("again"),
        ),
        cl(HI, assistant("yo"), user("again"), system=[text("A"), text("B")]),
        ONE_WAY,
    ),
    (
        "system parts keep cache_control",
        oa({"role": "system", "content": [text("S", cache_control=EPHEMERAL)]}, HI),
        cl(HI, system=[text("S", cache_control=EPHEMERAL)]),
        BOTH,
    ),
    (
        # an empty system text would be a 400 upstream
        "empty system dropped",
        oa({"role": "system", "content": ""}, HI),
        cl(HI),
        ONE_WAY,
    ),
    (
        "conversation with prefill",
        oa(HI, assistant("hello"), user("more"), assistant("Sure,")),
        cl(HI, assistant("hello"), user("more"), assistant("Sure,")),
        BOTH,
    ),
    (
        # message name has no Claude slot
        "message name dropped",
        oa({"role": "user", "content": "hi", "name": "bob"}),
        cl(HI),
        ONE_WAY,
    ),
    # --- content parts ---
    (
        "text parts, empty ones dropped",
        oa(user([text("a"), text(""), text("b")])),
        cl(user([text("a"), text("b")])),
        ONE_WAY,
    ),
    (
        "text part cache_control kept",
        oa(user([text("a", cache_control=EPHEMERAL)])),
        cl(user([text("a", cache_control=EPHEMERAL)])),
        BOTH,
    ),
    (
        "image data URI",
        oa(
            user(
                [
                    text("what?"),
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ]
            )
        ),
        cl(
            user(
                [
                    text("what?"),
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                ]
            )
        ),
        BOTH,
    ),
    (
        # jpg is normalised, detail has no Claude slot, parameters before base64 are skipped
        "image data URI alias and detail",
        oa(
            user(
                [
                    {
                        "type": "image_url",
                        "image_url": {
                            "url": f"data:IMAGE/JPG;name=x.jpg;base64,{PNG}",
                            "detail": "high",
                        },
                    }
                ]
            )
        ),
        cl(
            user(
                [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG},
                    }
                ]
            )
        ),
        ONE_WAY,
    ),
    (
        "image URL on the code route",
        oa(user([{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}])),
        cl(
            user([{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}])
        ),
        BOTH,
    ),
    (
        # some clients send the URL as a bare string
        "image_url as a string",
        oa(user([{"type": "image_url", "image_url": "https://example.com/a.png"}])),
        cl(
            user([{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}])
        ),
        ONE_WAY,
    ),
    (
        "PDF file part",
        oa(
            user(
                [
                    {
                        "type": "file",
                        "file": {
                            "file_data": f"data:application/pdf;base64,{PDF}",
                            "filename": "a.pdf",
                        },
                    }
                ]
            )
        ),
        cl(
            user(
                [
                    {
                        "type": "document",
                        "title": "a.pdf",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                    }
                ]
            )
        ),
        BOTH,
    ),
    (
        # OpenAI's own file inputs are PDFs as bare base64
        "bare base64 file is a PDF",
        oa(user([{"type": "file", "file": {"file_data": PDF}}])),
        cl(
            user(
                [
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                    }
                ]
            )
        ),
        ONE_WAY,
    ),
    (
        "plain-text file becomes a text document",
        oa(
            user(
                [
                    {
                        "type": "file",
                        "file": {
                            "file_data": "data:text/plain;base64,"
                            + base64.b64encode("héllo".encode()).decode()
                        },
                    }
                ]
            )
        ),
        cl(
            user(
                [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
                    }
                ]
            )
        ),
        BOTH,
    ),
    (
        "unknown part passes through",
        oa(user([{"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}}])),
        cl(user([{"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}}])),
        BOTH,
    ),
    # --- tool calls and results ---
    (
        "tool loop",
        oa(
            user("weather and time in Paris?"),
            assistant(
                None,
                tool_calls=[
                    call("call_1", "get_weather", '{"city":"Paris"}'),
                    call("call_2", "get_time", '{"tz":"CET"}'),
                ],
            ),
            tool("call_1", "18C"),
            tool("call_2", "noon"),
            user([text("thanks")]),
            tools=TOOLS_OA,
        ),
        cl(
            user("weather and time in Paris?"),
            assistant(
                [
                    use("call_1", "get_weather", {"city": "Paris"}),
                    use("call_2", "get_time", {"tz": "CET"}),
                ]
            ),
            user([result("call_1", "18C"), result("call_2", "noon"), text("thanks")]),
            tools=TOOLS_CL,
        ),
        BOTH,
    ),
    (
        # the user string joins the tool-result turn as a text block, after the results
        "tool results then user string",
        oa(HI, assistant(None, tool_calls=[call("c1", "f", "{}")]), tool("c1", "ok"), user("go")),
        cl(HI, assistant([use("c1", "f", {})]), user([result("c1", "ok"), text("go")])),
        ONE_WAY,
    ),
    (
        "assistant text with tool calls",
        oa(HI, assistant("Checking.", tool_calls=[call("c1", "f", '{"a":[1,2]}')]), tool("c1", "")),
        cl(HI, assistant([text("Checking."), use("c1", "f", {"a": [1, 2]})]), user([result("c1")])),
        BOTH,
    ),
    (
        "tool result parts",
        oa(
            HI,
            assistant(None, tool_calls=[call("c1", "f", "{}")]),
            tool("c1", [text("a"), text("b")]),
        ),
        cl(HI, assistant([use("c1", "f", {})]), user([result("c1", [text("a"), text("b")])])),
        BOTH,
    ),
    (
        # "" arguments mean no arguments; empty content "" next to tool calls is not a block
        "empty arguments and empty content",
        oa(HI, assistant("", tool_calls=[call("c1", "f", "")]), tool("c1", "x")),
        cl(HI, assistant([use("c1", "f", {})]), user([result("c1", "x")])),
        ONE_WAY,
    ),
    (
        # ids from other providers are made Claude-safe the same way on both sides
        "foreign tool ids",
        oa(
            HI,
            assistant(None, tool_calls=[call("functions.f:0", "f", "{}")]),
            tool("functions.f:0", "x"),
        ),
        cl(HI, assistant([use("functions_f_0", "f", {})]), user([result("functions_f_0", "x")])),
        ONE_WAY,
    ),
    (
        # no signature to send it back with
        "assistant reasoning_content dropped",
        oa(HI, assistant("yo", reasoning_content="hmm"), user("ok")),
        cl(HI, assistant("yo"), user("ok")),
        ONE_WAY,
    ),
    (
        "assistant with nothing is skipped",
        oa(HI, assistant(None), user("ok")),
        cl(HI, user("ok")),
        ONE_WAY,
    ),
    (
        "assistant refusal part is text",
        oa(HI, assistant([{"type": "refusal", "refusal": "no"}]), user("ok")),
        cl(HI, assistant([text("no")]), user("ok")),
        ONE_WAY,
    ),
    # --- tools and tool_choice ---
    (
        "tool_choice auto",
        oa(HI, tools=TOOLS_OA, tool_choice="auto"),
        cl(HI, tools=TOOLS_CL, tool_choice={"type": "auto"}),
        BOTH,
    ),
    (
        "tool_choice required",
        oa(HI, tools=TOOLS_OA, tool_choice="required"),
        cl(HI, tools=TOOLS_CL, tool_choice={"type": "any"}),
        BOTH,
    ),
    (
        "tool_choice none",
        oa(HI, tools=TOOLS_OA, tool_choice="none"),
        cl(HI, tools=TOOLS_CL, tool_choice={"type": "none"}),
        BOTH,
    ),
    (
        "tool_choice function",
        oa(HI, tools=TOOLS_OA, tool_choice={"type": "function", "function": {"name": "get_time"}}),
        cl(HI, tools=TOOLS_CL, tool_choice={"type": "tool", "name": "get_time"}),
        BOTH,
    ),
    (
        "parallel_tool_calls false",
        oa(HI, tools=TOOLS_OA, tool_choice="required", parallel_tool_calls=False),
        cl(HI, tools=TOOLS_CL, tool_choice={"type": "any", "disable_parallel_tool_use": True}),
        BOTH,
    ),
    (
        # no tool_choice given: auto is what OpenAI means
        "parallel_tool_calls false alone",
        oa(HI, tools=TOOLS_OA, parallel_tool_calls=False),
        cl(HI, tools=TOOLS_CL, tool_choice={"type": "auto", "disable_parallel_tool_use": True}),
        ONE_WAY,
    ),
    (
        # Claude's none takes no disable_parallel_tool_use; true is the default anyway
        "parallel_tool_calls ignored",
        oa(HI, tools=TOOLS_OA, tool_choice="none", parallel_tool_calls=False),
        cl(HI, tools=TOOLS_CL, tool_choice={"type": "none"}),
        ONE_WAY,
    ),
    (
        "tool without parameters gets the empty schema",
        oa(HI, tools=[fn("ping")]),
        cl(HI, tools=[ctool("ping", {"type": "object", "properties": {}})]),
        ONE_WAY,
    ),
    (
        # strict has no equivalent on every model; dropped
        "function strict dropped",
        oa(
            HI,
            tools=[
                {
                    "type": "function",
                    "function": {"name": "f", "parameters": WEATHER, "strict": True},
                }
            ],
        ),
        cl(HI, tools=[ctool("f", WEATHER)]),
        ONE_WAY,
    ),
    (
        "allowed_tools filters",
        oa(
            HI,
            tools=TOOLS_OA,
            tool_choice={
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "get_time"}}],
                },
            },
        ),
        cl(HI, tools=[TOOLS_CL[1]], tool_choice={"type": "any"}),
        ONE_WAY,
    ),
    ("tool_choice without tools dropped", oa(HI, tool_choice="auto"), cl(HI), ONE_WAY),
    (
        "Claude server tool passes through",
        oa(HI, tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]),
        cl(HI, tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]),
        BOTH,
    ),
    # --- limits and sampling ---
    ("max_completion_tokens", oa(HI, max_completion_tokens=1000), cl(HI, max_tokens=1000), BOTH),
    ("max_tokens", oa(HI, max_tokens=1000), cl(HI, max_tokens=1000), ONE_WAY),
    (
        "max_completion_tokens wins",
        oa(HI, max_tokens=5, max_completion_tokens=1000),
        cl(HI, max_tokens=1000),
        ONE_WAY,
    ),
    ("stop list", oa(HI, stop=["a", "b"]), cl(HI, stop_sequences=["a", "b"]), BOTH),
    ("stop string", oa(HI, stop="END"), cl(HI, stop_sequences=["END"]), ONE_WAY),
    ("stop empties dropped", oa(HI, stop=["", "x"]), cl(HI, stop_sequences=["x"]), ONE_WAY),
    ("stop all empty", oa(HI, stop=""), cl(HI), ONE_WAY),
    (
        "sampling",
        oa(HI, temperature=0.5, top_p=0.9, top_k=40),
        cl(HI, temperature=0.5, top_p=0.9, top_k=40),
        BOTH,
    ),
    ("temperature clamped to 1", oa(HI, temperature=1.7), cl(HI, temperature=1.0), ONE_WAY),
    (
        # from 4.1 on Claude takes temperature or top_p, not both (models.sanitize)
        "sampling sanitised per model",
        oa(HI, model="claude-sonnet-4-5", temperature=0.5, top_p=0.9),
        cl(HI, model="claude-sonnet-4-5", temperature=0.5),
        ONE_WAY,
    ),
    ("stream", oa(HI, stream=True), cl(HI, stream=True), BOTH),
    ("user", oa(HI, user="u-1"), cl(HI, metadata={"user_id": "u-1"}), BOTH),
    (
        "safety_identifier",
        oa(HI, safety_identifier="s-1"),
        cl(HI, metadata={"user_id": "s-1"}),
        ONE_WAY,
    ),
    (
        "ignored hints",
        oa(
            HI,
            frequency_penalty=1,
            presence_penalty=1,
            seed=7,
            logit_bias={"1": 2},
            service_tier="auto",
            store=True,
            metadata={"k": "v"},
            verbosity="low",
            web_search_options={},
            prompt_cache_key="k",
            n=1,
            logprobs=False,
            top_logprobs=0,
            stream_options={"include_usage": True},
            some_future_field={"x": 1},
        ),
        cl(HI),
        ONE_WAY,
    ),
    # --- thinking ---
    (
        # budget model: the budget, and effort where the model has it (Opus 4.5 does)
        "reasoning_effort on Opus 4.5",
        oa(HI, model="claude-opus-4-5", reasoning_effort="medium", max_completion_tokens=20000),
        cl(
            HI,
            model="claude-opus-4-5",
            max_tokens=20000,
            thinking={"type": "enabled", "budget_tokens": 4096},
            output_config={"effort": "medium"},
        ),
        BOTH,
    ),
    (
        # Sonnet 4.5 has no effort rungs: sanitize drops it
        "reasoning_effort on Sonnet 4.5",
        oa(HI, model="claude-sonnet-4-5", reasoning_effort="low", max_completion_tokens=20000),
        cl(
            HI,
            model="claude-sonnet-4-5",
            max_tokens=20000,
            thinking={"type": "enabled", "budget_tokens": 2048},
        ),
        BOTH,
    ),
    (
        # no limit given: room for the budget on top of the default answer allowance
        "reasoning room without a limit",
        oa(HI, model="claude-sonnet-4-5", reasoning_effort="high"),
        cl(
            HI,
            model="claude-sonnet-4-5",
            max_tokens=DEFAULT_MAX_TOKENS + 16384,
            thinking={"type": "enabled", "budget_tokens": 16384},
        ),
        ONE_WAY,
    ),
    (
        "reasoning room is capped",
        oa(HI, model="claude-sonnet-4-5", reasoning_effort="max"),
        cl(
            HI,
            model="claude-sonnet-4-5",
            max_tokens=THINKING_MAX_TOKENS,
            thinking={"type": "enabled", "budget_tokens": THINKING_MAX_TOKENS - DEFAULT_MAX_TOKENS},
        ),
        ONE_WAY,
    ),
    (
        # the client's own limit stands; the budget goes below it
        "budget clamped under the client's limit",
        oa(HI, model="claude-sonnet-4-5", reasoning_effort="high", max_completion_tokens=5000),
        cl(
            HI,
            model="claude-sonnet-4-5",
            max_tokens=5000,
            thinking={"type": "enabled", "budget_tokens": 4999},
        ),
        ONE_WAY,
    ),
    (
        "no room for thinking",
        oa(HI, model="claude-sonnet-4-5", reasoning_effort="low", max_completion_tokens=1000),
        cl(HI, model="claude-sonnet-4-5", max_tokens=1000),
        ONE_WAY,
    ),
    (
        "reasoning_effort on an adaptive model",
        oa(HI, model="claude-opus-4-6", reasoning_effort="high", max_completion_tokens=30000),
        cl(
            HI,
            model="claude-opus-4-6",
            max_tokens=30000,
            thinking={"type": "adaptive", "display": "summarized"},
            output_config={"effort": "high"},
        ),
        BOTH,
    ),
    (
        # xhigh is above 4.6's rungs: sanitize steps it down to high
        "effort stepped down",
        oa(HI, model="claude-opus-4-6", reasoning_effort="xhigh"),
        cl(
            HI,
            model="claude-opus-4-6",
            max_tokens=THINKING_MAX_TOKENS,
            thinking={"type": "adaptive", "display": "summarized"},
            output_config={"effort": "high"},
        ),
        ONE_WAY,
    ),
    (
        "minimal is low effort",
        oa(HI, model="claude-opus-4-7", reasoning_effort="minimal"),
        cl(
            HI,
            model="claude-opus-4-7",
            max_tokens=DEFAULT_MAX_TOKENS + 1024,
            thinking={"type": "adaptive", "display": "summarized"},
            output_config={"effort": "low"},
        ),
        ONE_WAY,
    ),
    (
        "reasoning_effort none",
        oa(HI, model="claude-opus-4-6", reasoning_effort="none"),
        cl(HI, model="claude-opus-4-6", thinking={"type": "disabled"}),
        BOTH,
    ),
    (
        # an explicit "none" beats the suffix
        "none beats the -thinking suffix",
        oa(HI, model="claude-sonnet-4-5-thinking", reasoning_effort="none"),
        cl(HI, model="claude-sonnet-4-5", thinking={"type": "disabled"}),
        ONE_WAY,
    ),
    (
        "-thinking suffix on an adaptive model",
        oa(HI, model="claude-opus-4-6-thinking"),
        cl(HI, model="claude-opus-4-6", thinking={"type": "adaptive", "display": "summarized"}),
        ONE_WAY,
    ),
    (
        "-thinking suffix on a budget model",
        oa(HI, model="claude-sonnet-4-5-thinking"),
        cl(HI, model="claude-sonnet-4-5", thinking={"type": "enabled", "budget_tokens": 4096}),
        ONE_WAY,
    ),
    (
        # unrecognised model: budget only, no effort rung to guess at
        "reasoning_effort on an unknown model",
        oa(HI, reasoning_effort="medium", max_completion_tokens=9000),
        cl(HI, max_tokens=9000, thinking={"type": "enabled", "budget_tokens": 4096}),
        BOTH,
    ),
    (
        "explicit Claude thinking wins",
        oa(
            HI,
            thinking={"type": "enabled", "budget_tokens": 3000},
            reasoning_effort="high",
            max_completion_tokens=9000,
        ),
        cl(HI, max_tokens=9000, thinking={"type": "enabled", "budget_tokens": 3000}),
        ONE_WAY,
    ),
    (
        # the API refuses thinking with a forced tool; the explicit tool choice wins
        "forced tool drops thinking",
        oa(
            HI,
            model="claude-opus-4-6",
            reasoning_effort="low",
            max_completion_tokens=9000,
            tools=TOOLS_OA,
            tool_choice="required",
        ),
        cl(
            HI,
            model="claude-opus-4-6",
            max_tokens=9000,
            tools=TOOLS_CL,
            tool_choice={"type": "any"},
            output_config={"effort": "low"},
        ),
        ONE_WAY,
    ),
    # --- response_format ---
    (
        "json_schema",
        oa(
            HI,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": SCHEMA},
            },
        ),
        cl(HI, output_config={"format": {"type": "json_schema", "schema": SCHEMA}}),
        BOTH,
    ),
    (
        "json_schema with effort shares output_config",
        oa(
            HI,
            model="claude-opus-4-6",
            reasoning_effort="low",
            max_completion_tokens=9000,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": SCHEMA},
            },
        ),
        cl(
            HI,
            model="claude-opus-4-6",
            max_tokens=9000,
            thinking={"type": "adaptive", "display": "summarized"},
            output_config={"format": {"type": "json_schema", "schema": SCHEMA}, "effort": "low"},
        ),
        BOTH,
    ),
    (
        "json_object is a system hint",
        oa({"role": "system", "content": "S"}, HI, response_format={"type": "json_object"}),
        cl(HI, system=[text("S"), text(JSON_OBJECT_HINT)]),
        BOTH,
    ),
    ("response_format text", oa(HI, response_format={"type": "text"}), cl(HI), ONE_WAY),
]

IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "openai", "claude", "invertible"), CASES, ids=IDS)
def test_chat_to_messages(
    name: str, openai: dict[str, Any], claude: dict[str, Any], invertible: bool
) -> None:
    assert chat_to_messages(openai, route="code") == claude


@pytest.mark.parametrize(
    ("name", "openai", "claude"),
    [(n, o, c) for n, o, c, invertible in CASES if invertible],
    ids=[case[0] for case in CASES if case[3]],
)
def test_messages_to_chat(name: str, openai: dict[str, Any], claude: dict[str, Any]) -> None:
    assert messages_to_chat(claude) == openai


def test_table_covers_both_directions() -> None:
    both = sum(1 for case in CASES if case[3])
    assert both >= 25
    assert len(CASES) - both >= 25
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize(("name", "openai", "claude", "invertible"), CASES, ids=IDS)
def test_input_is_not_mutated(
    name: str, openai: dict[str, Any], claude: dict[str, Any], invertible: bool
) -> None:
    before = copy.deepcopy(openai)
    chat_to_messages(openai, route="code")
    assert openai == before
    before = copy.deepcopy(claude)
    messages_to_chat(claude)
    assert claude == before


def test_web_route_takes_inline_images() -> None:
    body = oa(user([{"type": "image_url", "image_url": {"url": f"data:image/gif;base64,{PNG}"}}]))
    assert chat_to_messages(body, route="web")["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": PNG}}
    ]


def test_json_object_hint_on_web_route() -> None:
    out = chat_to_messages(oa(HI, response_format={"type": "json_object"}), route="web")
    assert out["system"] == [text(JSON_OBJECT_HINT)]


def test_stream_include_usage() -> None:
    assert stream_include_usage(oa(HI, stream=True, stream_options={"include_usage": True}))
    assert not stream_include_usage(oa(HI, stream=True, stream_options={"include_usage": False}))
    assert not stream_include_usage(oa(HI, stream=True))
    with pytest.raises(BadRequest) as info:
        stream_include_usage(oa(HI, stream_options={"include_usage": "yes"}))
    assert info.value.param == "stream_options.include_usage"


# --- rejected requests ------------------------------------------------------------------

TOOL_TURN = assistant(None, tool_calls=[call("c1", "f", "{}")])

# (id, body, route, param, words the message must contain)
ERRORS: list[tuple[str, Any, str, str | None, str]] = [
    ("not an object", ["x"], "code", None, "JSON object"),
    ("no model", {"messages": [HI]}, "code", "model", "model"),
    ("model not a string", oa(HI, model=5), "code", "model", "model"),
    ("no messages", {"model": M}, "code", "messages", "messages"),
    ("empty messages", oa(), "code", "messages", "messages"),
    (
        "only system",
        oa({"role": "system", "content": "S"}),
        "code",
        "messages",
        "user or assistant",
    ),
    ("message not an object", oa("hi"), "code", "messages[0]", "object"),
    ("unknown role", oa({"role": "robot", "content": "x"}), "code", "messages[0].role", "role"),
    (
        "function role",
        oa(HI, {"role": "function", "name": "f", "content": "x"}),
        "code",
        "messages[1].role",
        "deprecated",
    ),
    ("user content missing", oa({"role": "user"}), "code", "messages[0].content", "content"),
    ("user content number", oa(user(5)), "code", "messages[0].content", "content"),
    ("part not an object", oa(user(["x"])), "code", "messages[0].content[0]", "object"),
    ("part without type", oa(user([{"text": "x"}])), "code", "messages[0].content[0].type", "type"),
    (
        "text not a string",
        oa(user([{"type": "text", "text": 1}])),
        "code",
        "messages[0].content[0].text",
        "string",
    ),
    (
        "audio input",
        oa(user([{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}])),
        "code",
        "messages[0].content[0]",
        "audio",
    ),
    (
        "image url scheme",
        oa(user([{"type": "image_url", "image_url": {"url": "ftp://h/a.png"}}])),
        "code",
        "messages[0].content[0].image_url.url",
        "data: URI",
    ),
    (
        "image url on web",
        oa(
            user([{"type": "image_url", "image_url": {"url": "https://img.example.org/a.png?x=1"}}])
        ),
        "web",
        "messages[0].content[0].image_url.url",
        "img.example.org",
    ),
    (
        "image url missing",
        oa(user([{"type": "image_url", "image_url": {}}])),
        "code",
        "messages[0].content[0].image_url.url",
        "string",
    ),
    (
        "data URI not base64",
        oa(user([{"type": "image_url", "image_url": {"url": "data:image/png,%89PNG"}}])),
        "code",
        "messages[0].content[0].image_url.url",
        "base64",
    ),
    (
        "data URI media type",
        oa(user([{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}])),
        "code",
        "messages[0].content[0].image_url.url",
        "image/bmp",
    ),
    (
        "text file not UTF-8",
        oa(user([{"type": "file", "file": {"file_data": "data:text/plain;base64,/w=="}}])),
        "code",
        "messages[0].content[0].file.file_data",
        "UTF-8",
    ),
    (
        "file id",
        oa(user([{"type": "file", "file": {"file_id": "file-1"}}])),
        "code",
        "messages[0].content[0].file.file_id",
        "file_data",
    ),
    (
        "system image",
        oa({"role": "system", "content": [{"type": "image_url", "image_url": "x"}]}, HI),
        "code",
        "messages[0].content[0]",
        "text",
    ),
    (
        "arguments not JSON",
        oa(HI, assistant(None, tool_calls=[call("c1", "f", '{"a":')])),
        "code",
        "messages[1].tool_calls[0].function.arguments",
        "valid JSON",
    ),
    (
        "arguments not an object",
        oa(HI, assistant(None, tool_calls=[call("c1", "f", "[1]")])),
        "code",
        "messages[1].tool_calls[0].function.arguments",
        "object",
    ),
    (
        "tool call without id",
        oa(
            HI,
            assistant(
                None,
                tool_calls=[{"type": "function", "function": {"name": "f", "arguments": "{}"}}],
            ),
        ),
        "code",
        "messages[1].tool_calls[0].id",
        "id",
    ),
    (
        "tool call without name",
        oa(
            HI,
            assistant(
                None, tool_calls=[{"id": "c", "type": "function", "function": {"arguments": "{}"}}]
            ),
        ),
        "code",
        "messages[1].tool_calls[0].function.name",
        "name",
    ),
    (
        "custom tool call",
        oa(
            HI,
            assistant(
                None,
                tool_calls=[{"id": "c", "type": "custom", "custom": {"name": "f", "input": "x"}}],
            ),
        ),
        "code",
        "messages[1].tool_calls[0].type",
        "function",
    ),
    (
        "tool_calls not a list",
        oa(HI, assistant(None, tool_calls={})),
        "code",
        "messages[1].tool_calls",
        "array",
    ),
    (
        "assistant function_call",
        oa(HI, assistant(None, function_call={"name": "f"})),
        "code",
        "messages[1].function_call",
        "deprecated",
    ),
    (
        "tool without tool_call_id",
        oa(HI, TOOL_TURN, {"role": "tool", "content": "x"}),
        "code",
        "messages[2].tool_call_id",
        "tool_call_id",
    ),
    (
        "tool content number",
        oa(HI, TOOL_TURN, tool("c1", 5)),
        "code",
        "messages[2].content",
        "content",
    ),
    ("tools not a list", oa(HI, tools={}), "code", "tools", "array"),
    (
        "custom tool",
        oa(HI, tools=[{"type": "custom", "custom": {"name": "x"}}]),
        "code",
        "tools[0].type",
        "function",
    ),
    (
        "tool without name",
        oa(HI, tools=[{"type": "function", "function": {}}]),
        "code",
        "tools[0].function.name",
        "name",
    ),
    (
        "tool parameters",
        oa(HI, tools=[fn("f", "schema")]),
        "code",
        "tools[0].function.parameters",
        "Schema",
    ),
    (
        "tool_choice string",
        oa(HI, tools=TOOLS_OA, tool_choice="sometimes"),
        "code",
        "tool_choice",
        "tool_choice",
    ),
    (
        "tool_choice function name",
        oa(HI, tools=TOOLS_OA, tool_choice={"type": "function"}),
        "code",
        "tool_choice.function.name",
        "name",
    ),
    (
        "tool_choice type",
        oa(HI, tools=TOOLS_OA, tool_choice={"type": "magic"}),
        "code",
        "tool_choice.type",
        "function",
    ),
    (
        "allowed_tools mode",
        oa(
            HI,
            tools=TOOLS_OA,
            tool_choice={"type": "allowed_tools", "allowed_tools": {"mode": "maybe", "tools": []}},
        ),
        "code",
        "tool_choice.allowed_tools.mode",
        "mode",
    ),
    ("max_tokens negative", oa(HI, max_tokens=-1), "code", "max_tokens", "positive"),
    (
        "max_completion_tokens string",
        oa(HI, max_completion_tokens="100"),
        "code",
        "max_completion_tokens",
        "integer",
    ),
    ("max_tokens bool", oa(HI, max_tokens=True), "code", "max_tokens", "integer"),
    ("temperature string", oa(HI, temperature="hot"), "code", "temperature", "number"),
    ("temperature range", oa(HI, temperature=3), "code", "temperature", "0 to 2"),
    ("top_p range", oa(HI, top_p=2), "code", "top_p", "0 to 1"),
    ("top_k", oa(HI, top_k=1.5), "code", "top_k", "integer"),
    ("stop number", oa(HI, stop=5), "code", "stop", "string"),
    ("stop list of numbers", oa(HI, stop=["a", 1]), "code", "stop", "string"),
    ("stream string", oa(HI, stream="yes"), "code", "stream", "boolean"),
    ("stream_options", oa(HI, stream=True, stream_options=1), "code", "stream_options", "object"),
    ("user number", oa(HI, user=5), "code", "user", "string"),
    ("reasoning_effort", oa(HI, reasoning_effort="extreme"), "code", "reasoning_effort", "minimal"),
    (
        "json_schema on web",
        oa(
            HI,
            response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}},
        ),
        "web",
        "response_format",
        "Claude Code",
    ),
    (
        "json_schema without schema",
        oa(HI, response_format={"type": "json_schema", "json_schema": {"name": "r"}}),
        "code",
        "response_format.json_schema.schema",
        "schema",
    ),
    (
        "response_format type",
        oa(HI, response_format={"type": "xml"}),
        "code",
        "response_format.type",
        "json_schema",
    ),
    ("response_format string", oa(HI, response_format="json"), "code", "response_format", "object"),
    ("n", oa(HI, n=2), "code", "n", "one choice"),
    ("n not an int", oa(HI, n="1"), "code", "n", "n"),
    ("audio", oa(HI, audio={"voice": "alloy", "format": "wav"}), "code", "audio", "Audio"),
    ("modalities", oa(HI, modalities=["text", "audio"]), "code", "modalities", "Audio"),
    ("logprobs", oa(HI, logprobs=True), "code", "logprobs", "log probabilities"),
    ("top_logprobs", oa(HI, top_logprobs=3), "code", "top_logprobs", "log probabilities"),
    (
        "prediction",
        oa(HI, prediction={"type": "content", "content": "x"}),
        "code",
        "prediction",
        "Predicted",
    ),
    ("functions", oa(HI, functions=[{"name": "f"}]), "code", "functions", "tools"),
    ("function_call", oa(HI, function_call="auto"), "code", "function_call", "tool_choice"),
]


@pytest.mark.parametrize(
    ("name", "body", "route", "param", "words"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_rejected(name: str, body: Any, route: Any, param: str | None, words: str) -> None:
    with pytest.raises(BadRequest) as info:
        chat_to_messages(body, route=route)
    assert info.value.param == param
    assert words in info.value.message
    assert info.value.status == 400


def test_image_url_ok_on_code_route_but_not_web() -> None:
    body = oa(user([{"type": "image_url", "image_url": {"url": "http://h.test/a.png"}}]))
    assert (
        chat_to_messages(body, route="code")["messages"][0]["content"][0]["source"]["type"] == "url"
    )
    with pytest.raises(BadRequest, match="h.test"):
        chat_to_messages(body, route="web")


# --- unknown input never crashes -----------------------------------------------------------

KNOWN = {
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "temperature",
    "top_p",
    "top_k",
    "stream",
    "user",
    "safety_identifier",
    "tools",
    "tool_choice",
    "thinking",
    "reasoning_effort",
    "response_format",
    *translate.REJECTED_FIELDS,
    *IGNORED_FIELDS,
}
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k not in KNOWN), JSON, max_size=4
    )
)
def test_unknown_fields_are_ignored(extra: dict[str, Any]) -> None:
    base = oa(HI, tools=TOOLS_OA)
    assert chat_to_messages({**base, **extra}, route="code") == chat_to_messages(base, route="code")


@pytest.mark.parametrize("field", sorted(IGNORED_FIELDS - {"stream_options"}))
def test_each_ignored_field_is_ignored(field: str) -> None:
    for value in ({"k": "v"}, "x", 1.5, True, [1]):
        assert chat_to_messages(oa(HI, **{field: value}), route="code") == cl(HI)


PART = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "file", "refusal", "input_audio", "other", 3])},
    optional={"text": JSON, "image_url": JSON, "file": JSON, "refusal": JSON},
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "x"])},
    optional={
        "content": st.none() | st.text(max_size=3) | st.lists(PART | JSON, max_size=3),
        "tool_calls": JSON
        | st.lists(st.fixed_dictionaries({"id": JSON, "type": JSON, "function": JSON}), max_size=2),
        "tool_call_id": JSON,
    },
)
FIELDS = {key: JSON for key in KNOWN if key not in ("model", "messages")}


@settings(max_examples=400, deadline=None)
@given(
    messages=st.lists(MESSAGE | JSON, max_size=4),
    fields=st.fixed_dictionaries({}, optional=FIELDS),
    route=st.sampled_from(["web", "code"]),
)
def test_arbitrary_json_is_translated_or_rejected(
    messages: list[Any], fields: dict[str, Any], route: Any
) -> None:
    """Whatever arrives, the answer is a translation or a BadRequest, never a crash."""
    with contextlib.suppress(BadRequest):
        chat_to_messages({"model": "claude-opus-4-6", "messages": messages, **fields}, route=route)
