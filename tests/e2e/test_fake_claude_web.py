"""The fake claude.ai web API speaks the protocol and checks requests as the real one does.

Driven with plain httpx over real loopback HTTP, its streams read with llmproxy's own
SSE decoder: every endpoint, every check (a request without the cookie, the Origin,
the Referer or a browser User-Agent is refused), every scripted failure, the
multipart upload, both stream renderings, ``message_limit`` and a stream cut halfway.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio

from llmproxy.wire.sse import SSEDecoder, SSEEvent
from tests.fakes.claude_web import (
    CHALLENGE_PATH,
    Answer,
    Failure,
    FakeClaudeWeb,
    Flag,
    ManualClock,
    Text,
    Thinking,
    ToolUse,
    default_text,
    exceeded_limit,
    parse_multipart,
)
from tests.fakes.server import serve


def make_cookie(tag: str) -> str:
    return f"sk-ant-sid01-{(tag * 90)[:90]}-abcdefAA"


PRO = make_cookie("p")
MAX = make_cookie("m")
FREE = make_cookie("f")
DEAD = make_cookie("d")
UNKNOWN = make_cookie("u")
START = 1_700_000_000.0
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) + b"\r\n--not-a-boundary\r\n"
TRANSCRIPT = "You are helpful.\n\n\x08Human: Hi there, how are you?"


@asynccontextmanager
async def running() -> AsyncIterator[tuple[FakeClaudeWeb, httpx.AsyncClient]]:
    fake = FakeClaudeWeb(clock=ManualClock(START))
    fake.add_account(PRO, "pro", email="pro@example.com")
    fake.add_account(MAX, "max")
    fake.add_account(FREE, "free")
    fake.add_account(DEAD, "pro", dead=True)
    async with serve(fake) as base, httpx.AsyncClient(base_url=base) as client:
        yield fake, client


def page_url(client: httpx.AsyncClient, page: str) -> str:
    """A web app page on the fake's base, like ``<base>/chat/<conv>``."""
    return str(client.base_url).rstrip("/") + page


def browser(client: httpx.AsyncClient, cookie: str | None, page: str = "/new") -> dict[str, str]:
    """The headers the web app sends (clove-behaviour.md §3.2)."""
    headers = {"user-agent": UA, "origin": "https://claude.ai", "referer": page_url(client, page)}
    if cookie is not None:
        headers["cookie"] = f"theme=dark; sessionKey={cookie}; lastActiveOrg=x"
    return headers


def org_of(fake: FakeClaudeWeb, cookie: str) -> str:
    return fake.account(cookie).org_uuid


async def create(
    client: httpx.AsyncClient, cookie: str, org: str, *, temporary: bool = True
) -> str:
    conv = str(uuid.uuid4())
    response = await client.post(
        f"/api/organizations/{org}/chat_conversations",
        json={"uuid": conv, "name": "", "is_temporary": temporary},
        headers=browser(client, cookie, "/new?incognito" if temporary else "/new"),
    )
    assert response.status_code == 201, response.text
    return conv


def body_for(
    transcript: str = TRANSCRIPT,
    *,
    mode: str = "messages",
    files: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A completion body as clewdr builds it (clewdr-behaviour.md §4.3 step 7)."""
    return {
        "max_tokens_to_sample": 4096,
        "attachments": [
            {
                "extracted_content": transcript,
                "file_name": "paste.txt",
                "file_type": "txt",
                "file_size": len(transcript.encode()),
            }
        ],
        "files": files or [],
        "rendering_mode": mode,
        "prompt": "",
        "timezone": "America/New_York",
        "tools": [],
        **extra,
    }


def completion_url(org: str, conv: str) -> str:
    return f"/api/organizations/{org}/chat_conversations/{conv}/completion"


def completion_headers(client: httpx.AsyncClient, cookie: str | None, conv: str) -> dict[str, str]:
    return {**browser(client, cookie, f"/chat/{conv}"), "accept": "text/event-stream"}


def decode(raw: bytes) -> tuple[list[SSEEvent], SSEDecoder]:
    decoder = SSEDecoder()
    decoder.feed(raw)
    decoder.end()
    events = [e for e in decoder.events() if isinstance(e, SSEEvent)]
    return events, decoder


async def complete(
    client: httpx.AsyncClient, cookie: str, org: str, conv: str, body: dict[str, Any]
) -> tuple[httpx.Response, list[SSEEvent]]:
    response = await client.post(
        completion_url(org, conv), json=body, headers=completion_headers(client, cookie, conv)
    )
    events, decoder = (
        decode(response.content) if response.status_code == 200 else ([], SSEDecoder())
    )
    assert not decoder.cut
    return response, events


def names(events: list[SSEEvent]) -> list[str | None]:
    return [e.event for e in events]


def text_of(events: list[SSEEvent], delta: str = "text_delta", field: str = "text") -> str:
    return "".join(
        e.json()["delta"][field]
        for e in events
        if e.event == "content_block_delta" and e.json()["delta"]["type"] == delta
    )


def assert_error(
    response: httpx.Response, status: int, error_type: str, contains: str = ""
) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert contains in body["error"]["message"]


# ------------------------------------------------------------------ account lookups


@pytest.mark.parametrize(
    ("cookie", "capabilities"),
    [(FREE, ["chat"]), (PRO, ["chat", "claude_pro"]), (MAX, ["chat", "claude_max"])],
)
async def test_bootstrap_lists_the_account_and_its_capabilities(
    cookie: str, capabilities: list[str]
) -> None:
    async with running() as (fake, client):
        response = await client.get("/api/bootstrap", headers=browser(client, cookie))
        assert response.status_code == 200
        account = response.json()["account"]
        assert account["email_address"] == fake.account(cookie).email
        org = account["memberships"][0]["organization"]
        assert org["uuid"] == org_of(fake, cookie)
        assert org["capabilities"] == capabilities
        assert fake.account(cookie).calls["bootstrap"] == 1


@pytest.mark.parametrize("cookie", [DEAD, UNKNOWN, None])
async def test_bootstrap_of_a_dead_or_missing_cookie_has_no_account(cookie: str | None) -> None:
    async with running() as (fake, client):
        response = await client.get("/api/bootstrap", headers=browser(client, cookie))
        assert response.status_code == 200
        assert response.json()["account"] is None
        assert fake.calls["bootstrap"] == 1


async def test_organizations_carry_flags_and_extra_orgs() -> None:
    async with running() as (fake, client):
        cookie = make_cookie("g")
        flagged = fake.add_account(
            cookie,
            "max",
            flags=[Flag("first_warning", START + 3600), {"type": "banned_x", "expires_at": None}],
            extra_orgs=[["api"]],
        )
        response = await client.get("/api/organizations", headers=browser(client, cookie))
        orgs = response.json()
        assert [o["uuid"] for o in orgs] == [o.uuid for o in flagged.orgs]
        assert orgs[0]["active_flags"] == [
            {"type": "first_warning", "expires_at": "2023-11-14T23:13:20+00:00"},
            {"type": "banned_x", "expires_at": None},
        ]
        assert orgs[1]["capabilities"] == ["api"]
        # an org that cannot chat refuses conversations
        conv = str(uuid.uuid4())
        refused = await client.post(
            f"/api/organizations/{orgs[1]['uuid']}/chat_conversations",
            json={"uuid": conv, "name": ""},
            headers=browser(client, cookie),
        )
        assert_error(refused, 403, "permission_error", "cannot use chat")
        unknown = await client.get("/api/organizations", headers=browser(client, UNKNOWN))
        assert_error(unknown, 401, "authentication_error")


# ------------------------------------------------------------------ the whole flow


async def test_a_whole_chat_with_thinking_and_an_image() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        account = fake.account(PRO)
        assert account.created[0].is_temporary is True
        assert account.created[0].referer.endswith("/new?incognito")

        put = await client.put(
            f"/api/organizations/{org}/chat_conversations/{conv}",
            json={"settings": {"paprika_mode": "extended"}},
            headers=browser(client, PRO, f"/chat/{conv}"),
        )
        assert put.status_code in (200, 202)
        assert put.json()["settings"]["paprika_mode"] == "extended"
        assert account.settings_puts[0].settings == {"paprika_mode": "extended"}

        upload = await client.post(
            f"/api/{org}/upload",
            files={"file": ("image.png", PNG, "image/png")},
            headers=browser(client, PRO, f"/chat/{conv}"),
        )
        assert upload.status_code == 200, upload.text
        uploaded = upload.json()
        assert uploaded["success"] is True
        assert uploaded["file_kind"] == "image"
        assert uploaded["size_bytes"] == len(PNG)
        assert uploaded["file_name"] == "image.png"
        assert account.uploads[0].data == PNG
        assert account.uploads[0].content_type == "image/png"

        account.next_completion(
            Answer(
                [Thinking("Let me think it over."), Text("The picture shows a square.")],
                chunk_size=5,
            )
        )
        body = body_for(files=[uploaded["file_uuid"]], model="claude-opus-4-1")
        response, events = await complete(client, PRO, org, conv, body)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert names(events)[:2] == ["message_start", "content_block_start"]
        assert names(events)[-3:] == ["message_delta", "message_limit", "message_stop"]

        start = events[0].json()["message"]
        assert start["id"].startswith("chatcompl_")
        assert start["model"] == "claude-opus-4-1"
        assert "usage" not in start
        for key in ("uuid", "parent_uuid", "trace_id", "request_id"):
            assert start[key]
        blocks = [e.json() for e in events if e.event == "content_block_start"]
        assert [b["content_block"]["type"] for b in blocks] == ["thinking", "text"]
        for block in blocks:
            assert {"start_timestamp", "stop_timestamp", "flags"} <= set(block["content_block"])
        assert blocks[1]["content_block"]["citations"] == []
        stops = [e.json() for e in events if e.event == "content_block_stop"]
        assert all(s["stop_timestamp"].endswith("Z") for s in stops)

        assert text_of(events, "thinking_delta", "thinking") == "Let me think it over."
        assert text_of(events) == "The picture shows a square."
        text_deltas = [
            e for e in events if e.event == "content_block_delta" and e.json()["index"] == 1
        ]
        assert len(text_deltas) == 6  # 27 characters, 5 per delta
        summaries = [e.json()["delta"] for e in events if '"thinking_summary_delta"' in e.data]
        assert summaries == [
            {"type": "thinking_summary_delta", "summary": {"summary": "Thinking about the request"}}
        ]
        message_delta = events[-3].json()
        assert message_delta["delta"]["stop_reason"] == "end_turn"
        assert "usage" not in message_delta
        assert events[-2].json()["message_limit"]["type"] == "within_limit"

        completion = account.completions[0]
        assert completion.transcript == TRANSCRIPT
        assert completion.files == [uploaded["file_uuid"]]
        assert completion.model == "claude-opus-4-1"
        assert fake.sent(completion.request) == response.content
        assert completion.request.cancelled is False

        deleted = await client.delete(
            f"/api/organizations/{org}/chat_conversations/{conv}",
            headers=browser(client, PRO, f"/chat/{conv}"),
        )
        assert deleted.status_code == 204
        assert account.deleted == [conv]
        gone, _ = await complete(client, PRO, org, conv, body_for())
        assert_error(gone, 404, "not_found_error")
        assert dict(account.calls) == {
            "create": 1,
            "settings": 1,
            "upload": 1,
            "completion": 2,
            "delete": 1,
        }
        assert fake.calls["completion"] == 2
        assert len(fake.requests_to("completion")) == 2


async def test_default_answer_echoes_the_last_human_turn_without_thinking() -> None:
    async with running() as (fake, client):
        org = org_of(fake, FREE)
        conv = await create(client, FREE, org, temporary=False)
        assert fake.account(FREE).conversations[conv].is_temporary is False
        response, events = await complete(client, FREE, org, conv, body_for())
        assert response.status_code == 200
        assert (
            text_of(events)
            == default_text(TRANSCRIPT)
            == "Hello from claude.ai! You said: Hi there, how are you?"
        )
        assert len([e for e in events if e.event == "content_block_delta"]) > 3
        assert events[0].json()["message"]["model"] == fake.default_model
        # thinking is shown only in extended mode, which this conversation never got
        fake.account(FREE).next_completion(Answer([Thinking("hidden"), Text("visible")]))
        _, events = await complete(client, FREE, org, conv, body_for())
        assert text_of(events) == "visible"
        assert '"thinking"' not in b"".join(e.raw for e in events).decode()


def test_default_text_without_role_labels() -> None:
    assert (
        default_text("just one line\n\nand the last")
        == "Hello from claude.ai! You said: and the last"
    )
    assert default_text("") == "Hello from claude.ai! You said: "


async def test_chunking_is_configurable_and_exact_pieces_are_kept() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        fake.account(PRO).next_completion(
            Answer([Text("abcdef")], chunk_size=1),
            Answer([Text(["Hello wor", "ld\n\nHu", "man: x"])]),
        )
        _, one_by_one = await complete(client, PRO, org, conv, body_for())
        pieces = [e.json()["delta"]["text"] for e in one_by_one if e.event == "content_block_delta"]
        assert pieces == list("abcdef")
        _, exact = await complete(client, PRO, org, conv, body_for())
        pieces = [e.json()["delta"]["text"] for e in exact if e.event == "content_block_delta"]
        assert pieces == ["Hello wor", "ld\n\nHu", "man: x"]
        with pytest.raises(ValueError, match="chunk_size"):
            Answer(chunk_size=0)


async def test_tool_use_signature_ping_and_stop_reason() -> None:
    async with running() as (fake, client):
        org = org_of(fake, MAX)
        conv = await create(client, MAX, org)
        await client.put(
            f"/api/organizations/{org}/chat_conversations/{conv}",
            json={"settings": {"paprika_mode": "extended"}},
            headers=browser(client, MAX, f"/chat/{conv}"),
        )
        fake.account(MAX).next_completion(
            Answer(
                [Thinking("x", summary=None, signature="sig=="), ToolUse("lookup", {"q": "ü"})],
                ping=True,
                send_limit=False,
            )
        )
        _, events = await complete(client, MAX, org, conv, body_for())
        assert names(events)[1] == "ping"
        assert "message_limit" not in names(events)
        deltas = [e.json()["delta"] for e in events if e.event == "content_block_delta"]
        assert {"type": "signature_delta", "signature": "sig=="} in deltas
        assert not any(d["type"] == "thinking_summary_delta" for d in deltas)
        assert json.loads("".join(d.get("partial_json", "") for d in deltas)) == {"q": "ü"}
        assert events[-2].json()["delta"]["stop_reason"] == "tool_use"


async def test_raw_rendering_is_the_legacy_completion_format() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        fake.account(PRO).next_completion(Answer([Text("one two three")], chunk_size=4))
        response, events = await complete(client, PRO, org, conv, body_for(mode="raw"))
        assert response.status_code == 200
        assert set(names(events)) == {"completion"}
        data = [e.json() for e in events]
        assert "".join(d["completion"] for d in data) == "one two three"
        assert all(d["type"] == "completion" for d in data)
        assert [d["stop_reason"] for d in data] == [None] * 4 + ["end_turn"]
        assert data[-1]["completion"] == ""
        assert data[0]["messageLimit"] == {"type": "within_limit"}
        assert data[0]["model"] == fake.default_model


async def test_message_limit_exceeded_at_the_end_of_an_answer() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        resets = int(START) + 3600
        fake.account(PRO).next_completion(
            Answer([Text("last one")], limit=exceeded_limit(resets)),
            Answer([Text("raw")], limit=exceeded_limit(resets)),
        )
        _, events = await complete(client, PRO, org, conv, body_for())
        limit = events[-2].json()
        assert limit["type"] == "message_limit"
        assert limit["message_limit"]["type"] == "exceeded_limit"
        assert limit["message_limit"]["resetsAt"] == resets
        _, raw = await complete(client, PRO, org, conv, body_for(mode="raw"))
        assert raw[-1].json()["messageLimit"]["resetsAt"] == resets


# ------------------------------------------------------------------ stream fates


async def test_a_stream_cut_halfway_has_no_message_stop() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        fake.account(PRO).next_completion(
            Answer([Text("a long answer that never ends")], cut_after=4)
        )
        received = bytearray()

        async def read_all() -> None:
            async with client.stream(
                "POST",
                completion_url(org, conv),
                json=body_for(),
                headers=completion_headers(client, PRO, conv),
            ) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_raw():
                    received.extend(chunk)

        with pytest.raises(httpx.RemoteProtocolError):
            await read_all()
        events, _ = decode(bytes(received))
        assert names(events) == [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
        ]
        assert fake.sent(fake.account(PRO).completions[-1].request) == received


async def test_a_held_stream_sees_the_client_hang_up() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        held = Answer([Text("held back")], hold_after=2, gate=trio.Event())
        fake.account(PRO).next_completion(held)
        async with client.stream(
            "POST",
            completion_url(org, conv),
            json=body_for(),
            headers=completion_headers(client, PRO, conv),
        ) as response:
            first = await response.aiter_raw().__anext__()
            assert first.startswith(b"event: message_start\n")
            with trio.fail_after(10):
                await held.reached.wait()
        recorded = fake.account(PRO).completions[-1].request
        with trio.fail_after(10):
            await recorded.finished.wait()
        assert recorded.cancelled
        events, _ = decode(fake.sent(recorded))
        assert names(events) == ["message_start", "content_block_start"]


async def test_an_error_event_mid_stream() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        fake.account(PRO).next_completion(Answer(error_after=2, error=Failure.overloaded()))
        _, events = await complete(client, PRO, org, conv, body_for())
        assert names(events) == ["message_start", "content_block_start", "error"]
        assert events[-1].json() == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }


# ------------------------------------------------------------------ scripted failures


async def test_rate_limited_with_resets_at_in_the_message() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        fake.account(PRO).next_completion(Failure.rate_limited(resets_at=1_700_003_600))
        response, _ = await complete(client, PRO, org, conv, body_for())
        assert_error(response, 429, "rate_limit_error")
        inner = json.loads(response.json()["error"]["message"])
        assert inner["type"] == "exceeded_limit"
        assert inner["resetsAt"] == 1_700_003_600
        assert fake.account(PRO).pending() == 0
        assert len(fake.account(PRO).completions) == 1


async def test_rate_limited_with_only_the_unified_reset_header() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        fake.account(PRO).next_completion(Failure.rate_limited(unified_reset=1_700_007_200))
        response, _ = await complete(client, PRO, org, conv, body_for())
        assert_error(response, 429, "rate_limit_error")
        assert response.headers["anthropic-ratelimit-unified-reset"] == "1700007200"
        with pytest.raises(json.JSONDecodeError, match="Expecting value"):
            json.loads(response.json()["error"]["message"])


@pytest.mark.parametrize(
    ("failure", "status", "error_type", "message"),
    [
        (Failure.unauthorized(), 401, "authentication_error", "Invalid authorization"),
        (Failure.disabled(), 400, "invalid_request_error", "This organization has been disabled."),
        (Failure.invalid_authorization(), 403, "permission_error", "Invalid authorization"),
        (Failure.overloaded(), 500, "overloaded_error", "Overloaded"),
        (Failure.server_error(), 500, "api_error", "Internal server error"),
    ],
)
async def test_scripted_json_failures(
    failure: Failure, status: int, error_type: str, message: str
) -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        fake.account(PRO).next_completion(failure)
        response, _ = await complete(client, PRO, org, conv, body_for())
        assert response.json() == {
            "type": "error",
            "error": {"type": error_type, "message": message},
        }
        assert response.status_code == status


async def test_cloudflare_redirect_and_challenge_page() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        fake.account(PRO).next("create", Failure.cloudflare())
        redirected = await client.post(
            f"/api/organizations/{org}/chat_conversations",
            json={"uuid": str(uuid.uuid4()), "name": ""},
            headers=browser(client, PRO),
        )
        assert redirected.status_code == 302
        assert redirected.headers["location"] == CHALLENGE_PATH
        page = await client.get(redirected.headers["location"])
        assert page.status_code == 403
        assert page.headers["cf-mitigated"] == "challenge"
        assert page.headers["content-type"].startswith("text/html")
        assert page.text.startswith("<!DOCTYPE html>")
        assert "Just a moment..." in page.text

        conv = await create(client, PRO, org)
        fake.account(PRO).next_completion(Failure.cloudflare_challenge())
        challenged, _ = await complete(client, PRO, org, conv, body_for())
        assert challenged.status_code == 403
        assert challenged.headers["cf-mitigated"] == "challenge"
        assert "Just a moment..." in challenged.text


async def test_a_blocked_address_gets_the_same_answer_whatever_the_cookie() -> None:
    async with running() as (fake, client):
        fake.blocked = Failure.cloudflare()
        for cookie in (PRO, UNKNOWN):
            response = await client.get("/api/bootstrap", headers=browser(client, cookie))
            assert response.status_code == 302
        fake.blocked = None
        assert (await client.get("/api/bootstrap", headers=browser(client, PRO))).status_code == 200


async def test_scripts_wait_for_a_request_that_passes_the_checks() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        fake.account(PRO).next_completion(Failure.unauthorized())
        bad, _ = await complete(client, PRO, org, conv, body_for(extra_field=1))
        assert_error(bad, 400, "invalid_request_error", "extra_field")
        assert fake.account(PRO).pending() == 1
        scripted, _ = await complete(client, PRO, org, conv, body_for())
        assert scripted.status_code == 401
        with pytest.raises(ValueError, match="only completions"):
            fake.account(PRO).next("create", Answer())
        with pytest.raises(ValueError, match="unknown endpoint"):
            fake.account(PRO).next("nope", Failure.unauthorized())
        with pytest.raises(ValueError, match="never has a 2xx"):
            Failure(200)


async def test_scripted_failures_on_lookups_settings_upload_and_delete() -> None:
    async with running() as (fake, client):
        account = fake.account(PRO)
        org = account.org_uuid
        conv = await create(client, PRO, org)
        account.next("bootstrap", Failure.unauthorized())
        account.next("organizations", Failure.invalid_authorization())
        account.next("settings", Failure.server_error())
        account.next("upload", Failure.invalid("bad image"))
        account.next("delete", Failure.server_error())
        assert (await client.get("/api/bootstrap", headers=browser(client, PRO))).status_code == 401
        assert (
            await client.get("/api/organizations", headers=browser(client, PRO))
        ).status_code == 403
        put = await client.put(
            f"/api/organizations/{org}/chat_conversations/{conv}",
            json={"settings": {"paprika_mode": "extended"}},
            headers=browser(client, PRO, f"/chat/{conv}"),
        )
        assert put.status_code == 500
        assert account.conversations[conv].paprika_mode is None
        upload = await client.post(
            f"/api/{org}/upload", files={"file": ("image.png", PNG)}, headers=browser(client, PRO)
        )
        assert_error(upload, 400, "invalid_request_error", "bad image")
        delete = await client.delete(
            f"/api/organizations/{org}/chat_conversations/{conv}",
            headers=browser(client, PRO, f"/chat/{conv}"),
        )
        assert delete.status_code == 500
        assert not account.conversations[conv].deleted


async def test_a_disabled_account_is_refused_on_every_org_call() -> None:
    async with running() as (fake, client):
        cookie = make_cookie("x")
        disabled = fake.add_account(cookie, "pro", disabled=True)
        lookup = await client.get("/api/bootstrap", headers=browser(client, cookie))
        assert lookup.json()["account"]["email_address"] == disabled.email
        response = await client.post(
            f"/api/organizations/{disabled.org_uuid}/chat_conversations",
            json={"uuid": str(uuid.uuid4()), "name": ""},
            headers=browser(client, cookie),
        )
        assert_error(response, 400, "invalid_request_error", "This organization has been disabled.")
        disabled.disabled = False
        assert await create(client, cookie, disabled.org_uuid)


# ------------------------------------------------------------------ request checks


@pytest.mark.parametrize(
    ("drop", "status", "error_type", "contains"),
    [
        ("cookie", 401, "authentication_error", ""),
        ("origin", 403, "permission_error", "Origin"),
        ("referer", 403, "permission_error", "Referer"),
        ("user-agent", 403, "permission_error", "User-Agent"),
    ],
)
async def test_a_request_without_a_browser_header_is_refused(
    drop: str, status: int, error_type: str, contains: str
) -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        headers = completion_headers(client, PRO, conv)
        del headers[drop]
        response = await client.post(completion_url(org, conv), json=body_for(), headers=headers)
        assert_error(response, status, error_type, contains)
        assert fake.account(PRO).completions == []


@pytest.mark.parametrize(
    ("header", "value", "contains"),
    [
        ("user-agent", "python-httpx/0.28.1", "User-Agent"),
        ("origin", "https://claude.ai/chat/x", "Origin"),
        ("referer", "https://claude.ai/settings", "Referer"),
        ("referer", "/new", "Referer"),
        ("cookie", f"sessionKey={UNKNOWN}", ""),
        ("cookie", f"sessionKey={DEAD}", ""),
        ("cookie", f"other={PRO}", ""),
    ],
)
async def test_wrong_header_values_are_refused(header: str, value: str, contains: str) -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        headers = {**browser(client, PRO), header: value}
        response = await client.post(
            f"/api/organizations/{org}/chat_conversations",
            json={"uuid": str(uuid.uuid4()), "name": ""},
            headers=headers,
        )
        assert response.status_code in (401, 403)
        assert contains in response.json()["error"]["message"]
        assert fake.account(PRO).created == []


async def test_the_completion_referer_is_the_conversation_page() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        for page in ("/new", f"/chat/{uuid.uuid4()}"):
            headers = {**completion_headers(client, PRO, conv), "referer": page_url(client, page)}
            response = await client.post(
                completion_url(org, conv), json=body_for(), headers=headers
            )
            assert_error(response, 403, "permission_error", f"/chat/{conv}")


async def test_json_bodies_need_a_json_content_type_and_completions_an_sse_accept() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        form = await client.post(
            f"/api/organizations/{org}/chat_conversations",
            content=json.dumps({"uuid": str(uuid.uuid4())}),
            headers={**browser(client, PRO), "content-type": "text/plain"},
        )
        assert_error(form, 400, "invalid_request_error", "application/json")
        conv = await create(client, PRO, org)
        headers = {**completion_headers(client, PRO, conv), "accept": "application/json"}
        no_sse = await client.post(completion_url(org, conv), json=body_for(), headers=headers)
        assert_error(no_sse, 400, "invalid_request_error", "text/event-stream")
        plain = await client.post(
            completion_url(org, conv),
            content=json.dumps(body_for()),
            headers={**completion_headers(client, PRO, conv), "content-type": "text/plain"},
        )
        assert_error(plain, 400, "invalid_request_error", "application/json")


async def test_another_accounts_org_is_forbidden_and_unknown_conversations_not_found() -> None:
    async with running() as (fake, client):
        theirs = org_of(fake, MAX)
        refused = await client.post(
            f"/api/organizations/{theirs}/chat_conversations",
            json={"uuid": str(uuid.uuid4()), "name": ""},
            headers=browser(client, PRO),
        )
        assert_error(refused, 403, "permission_error", "does not belong")
        upload = await client.post(
            f"/api/{theirs}/upload",
            files={"file": ("image.png", PNG)},
            headers=browser(client, PRO),
        )
        assert_error(upload, 403, "permission_error")

        mine = org_of(fake, PRO)
        stranger = str(uuid.uuid4())
        put = await client.put(
            f"/api/organizations/{mine}/chat_conversations/{stranger}",
            json={"settings": {"paprika_mode": None}},
            headers=browser(client, PRO),
        )
        assert_error(put, 404, "not_found_error")
        missing, _ = await complete(client, PRO, mine, stranger, body_for())
        assert_error(missing, 404, "not_found_error")
        # a conversation of another account is as good as unknown
        their_conv = await create(client, MAX, theirs)
        foreign, _ = await complete(client, PRO, mine, their_conv, body_for())
        assert_error(foreign, 404, "not_found_error")
        unknown_path = await client.get("/api/nothing/here", headers=browser(client, PRO))
        assert_error(unknown_path, 404, "not_found_error")


@pytest.mark.parametrize(
    ("body", "contains"),
    [
        ({"name": ""}, "uuid"),
        ({"uuid": "not-a-uuid"}, "uuid"),
        ({"uuid": str(uuid.uuid1())}, "version 4"),
        ({"uuid": str(uuid.uuid4()), "name": 5}, "name"),
        ({"uuid": str(uuid.uuid4()), "is_temporary": "yes"}, "is_temporary"),
    ],
)
async def test_create_checks_its_body(body: dict[str, Any], contains: str) -> None:
    async with running() as (fake, client):
        response = await client.post(
            f"/api/organizations/{org_of(fake, PRO)}/chat_conversations",
            json=body,
            headers=browser(client, PRO),
        )
        assert_error(response, 400, "invalid_request_error", contains)


async def test_a_conversation_uuid_is_used_once_and_settings_are_checked() -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        again = await client.post(
            f"/api/organizations/{org}/chat_conversations",
            json={"uuid": conv},
            headers=browser(client, PRO),
        )
        assert_error(again, 400, "invalid_request_error", "already exists")
        for bad in (
            {"settings": {"paprika_mode": "turbo"}},
            {"paprika_mode": "extended"},
            {"settings": 1},
        ):
            response = await client.put(
                f"/api/organizations/{org}/chat_conversations/{conv}",
                json=bad,
                headers=browser(client, PRO),
            )
            assert_error(response, 400, "invalid_request_error")


@pytest.mark.parametrize(
    ("change", "contains"),
    [
        ({"parent_message_uuid": "x"}, "Unexpected field(s): parent_message_uuid"),
        ({"prompt": None}, "prompt"),
        ({"attachments": []}, "exactly one"),
        (
            {
                "attachments": [
                    {"extracted_content": "a", "file_name": "paste.txt", "file_type": "txt"}
                ]
            },
            "file_size",
        ),
        (
            {
                "attachments": [
                    {
                        "extracted_content": "ab",
                        "file_name": "x.txt",
                        "file_type": "txt",
                        "file_size": 2,
                    }
                ]
            },
            "paste.txt",
        ),
        (
            # clove's character count is not the byte count the web app sends
            {
                "attachments": [
                    {
                        "extracted_content": "héllo",
                        "file_name": "paste.txt",
                        "file_type": "txt",
                        "file_size": 5,
                    }
                ]
            },
            "UTF-8 size 6",
        ),
        ({"files": [str(uuid.uuid4())]}, "not uploaded"),
        ({"files": "abc"}, "files"),
        ({"rendering_mode": "html"}, "rendering_mode"),
        ({"timezone": 5}, "timezone"),
        ({"tools": {"name": "x"}}, "tools"),
        ({"max_tokens_to_sample": 0}, "max_tokens_to_sample"),
        ({"model": ""}, "model"),
    ],
)
async def test_completion_body_checks(change: dict[str, Any], contains: str) -> None:
    async with running() as (fake, client):
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        response, _ = await complete(client, PRO, org, conv, {**body_for(), **change})
        assert_error(response, 400, "invalid_request_error", contains)
        assert fake.account(PRO).completions == []


async def test_a_free_account_must_not_name_a_model() -> None:
    async with running() as (fake, client):
        org = org_of(fake, FREE)
        conv = await create(client, FREE, org)
        response, _ = await complete(client, FREE, org, conv, body_for(model="claude-sonnet-4-5"))
        assert_error(response, 400, "invalid_request_error", "model")


async def test_files_must_come_from_the_same_org() -> None:
    async with running() as (fake, client):
        their_upload = await client.post(
            f"/api/{org_of(fake, MAX)}/upload",
            files={"file": ("image.png", PNG)},
            headers=browser(client, MAX),
        )
        file_uuid = their_upload.json()["file_uuid"]
        org = org_of(fake, PRO)
        conv = await create(client, PRO, org)
        response, _ = await complete(client, PRO, org, conv, body_for(files=[file_uuid]))
        assert_error(response, 400, "invalid_request_error", file_uuid)


# ------------------------------------------------------------------ multipart upload


@pytest.mark.parametrize(
    ("name", "data", "media", "kind"),
    [
        ("image.jpg", b"\xff\xd8\xff\xe0JFIF", None, "image"),
        ("image_0.gif", b"GIF89a\x01\x00", "image/gif", "image"),
        ("image.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp", "image"),
        ("document.pdf", b"%PDF-1.7\n", "application/pdf", "document"),
    ],
)
async def test_upload_kinds(name: str, data: bytes, media: str | None, kind: str) -> None:
    async with running() as (fake, client):
        upload: tuple[str, bytes] | tuple[str, bytes, str] = (
            (name, data) if media is None else (name, data, media)
        )
        response = await client.post(
            f"/api/{org_of(fake, PRO)}/upload", files={"file": upload}, headers=browser(client, PRO)
        )
        assert response.status_code == 200, response.text
        assert response.json()["file_kind"] == kind
        assert fake.account(PRO).uploads[0].data == data


@pytest.mark.parametrize(
    ("files", "contains"),
    [
        ({"image": ("image.png", PNG, "image/png")}, "named 'file'"),
        (
            {"file": ("image.png", b"iVBORw0KGgoAAAANSUhEUg==", "image/png")},
            "not a valid image/png",
        ),
        ({"file": ("notes.txt", b"hello", "text/plain")}, "Unsupported file type"),
        ({"file": ("image.png", b"", "image/png")}, "empty"),
    ],
)
async def test_upload_refuses_wrong_parts(
    files: dict[str, tuple[str, bytes, str]], contains: str
) -> None:
    async with running() as (fake, client):
        response = await client.post(
            f"/api/{org_of(fake, PRO)}/upload", files=files, headers=browser(client, PRO)
        )
        assert_error(response, 400, "invalid_request_error", contains)
        assert fake.account(PRO).uploads == []


async def test_upload_must_be_multipart() -> None:
    async with running() as (fake, client):
        response = await client.post(
            f"/api/{org_of(fake, PRO)}/upload", json={"file": "x"}, headers=browser(client, PRO)
        )
        assert_error(response, 400, "invalid_request_error", "multipart/form-data")


def test_parse_multipart_keeps_binary_bytes_and_reads_every_part() -> None:
    boundary = "XyZ"
    body = (
        b"preamble to ignore\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="image.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + PNG + b"\r\n--XyZ--\r\nepilogue"
    )
    parts = parse_multipart(f'multipart/form-data; boundary="{boundary}"', body)
    assert [(p.name, p.filename, p.content_type) for p in parts] == [
        ("note", None, None),
        ("file", "image.png", "image/png"),
    ]
    assert parts[0].data == b"hi"
    assert parts[1].data == PNG
    with pytest.raises(ValueError, match="closing delimiter"):
        parse_multipart("multipart/form-data; boundary=XyZ", body.split(b"\r\n--XyZ--")[0])
    with pytest.raises(ValueError, match="boundary"):
        parse_multipart("multipart/form-data", body)
    with pytest.raises(ValueError, match="Content-Disposition"):
        parse_multipart(
            "multipart/form-data; boundary=XyZ", b"--XyZ\r\nContent-Type: a/b\r\n\r\nx\r\n--XyZ--"
        )
    with pytest.raises(ValueError, match="no parts"):
        parse_multipart("multipart/form-data; boundary=XyZ", b"nothing here")
