"""The fake Anthropic upstream speaks the real protocols.

Driven over real loopback HTTP with httpx through the whole Claude Code flow
(bootstrap → authorize → PKCE token exchange → messages → refresh), every scripted
failure, and the official ``anthropic`` SDK as a strict, independent parser of its JSON,
its SSE grammar and its error statuses. No wall clock: token expiry runs on a
:class:`ManualClock`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import anthropic
import httpx
import pytest
import trio

from tests.fakes.anthropic import (
    CLIENT_ID,
    OAUTH_BETA,
    REDIRECT_URI,
    Answer,
    Failure,
    FakeAnthropic,
    ManualClock,
    Text,
    Thinking,
    ToolUse,
    Window,
    count_input_tokens,
)
from tests.fakes.server import serve

T = TypeVar("T")


def make_cookie(tag: str) -> str:
    body = (tag * 90)[:90]
    return f"sk-ant-sid01-{body}-abcdefAA"


PRO = make_cookie("p")
MAX = make_cookie("m")
FREE = make_cookie("f")
UNKNOWN = make_cookie("u")
START = 1_700_000_000.0

WEATHER = ToolUse(
    "get_weather", {"city": "Paris", "units": ["c", "f"], "note": 'a "quoted" ünïcode'}
)
RICH = Answer(
    [
        Thinking("The user wants the weather in Paris.", signature="EqQBCgIYAhIMfakeSignature=="),
        Text("Let me check the weather for you."),
        WEATHER,
    ]
)


@asynccontextmanager
async def running(
    **kwargs: Any,
) -> AsyncIterator[tuple[FakeAnthropic, str, httpx.AsyncClient, ManualClock]]:
    clock = ManualClock(START)
    fake = FakeAnthropic(clock=clock, expires_in=3600, **kwargs)
    fake.add_account(PRO, "pro", email="pro@example.com")
    fake.add_account(MAX, "max")
    fake.add_account(FREE, "free")
    async with serve(fake) as base, httpx.AsyncClient(base_url=base) as client:
        yield fake, base, client, clock


def pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def cookie_headers(cookie: str) -> dict[str, str]:
    return {"Cookie": f"sessionKey={cookie}", "User-Agent": "claude-code/2.1.76"}


def authorize_body(org: str, challenge: str, state: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "organization_uuid": org,
        "redirect_uri": REDIRECT_URI,
        "scope": "user:profile user:inference",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


async def org_of(client: httpx.AsyncClient, cookie: str) -> str:
    response = await client.get("/api/bootstrap", headers=cookie_headers(cookie))
    assert response.status_code == 200, response.text
    org: str = response.json()["account"]["memberships"][0]["organization"]["uuid"]
    return org


async def authorize(client: httpx.AsyncClient, cookie: str) -> tuple[str, str, str]:
    """Authorize like clewdr does; returns (code, state, verifier)."""
    org = await org_of(client, cookie)
    verifier, challenge = pkce()
    state = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    response = await client.post(
        f"/v1/oauth/{org}/authorize",
        headers=cookie_headers(cookie),
        json=authorize_body(org, challenge, state),
    )
    assert response.status_code == 200, response.text
    redirect = urlsplit(response.json()["redirect_uri"])
    assert f"{redirect.scheme}://{redirect.netloc}{redirect.path}" == REDIRECT_URI
    query = parse_qs(redirect.query)
    assert query["state"] == [state]
    return query["code"][0], state, verifier


def code_form(code: str, verifier: str, state: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "state": state,
    }


TOKEN_HEADERS = {
    "Accept": "application/json",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": OAUTH_BETA,
}


async def login(client: httpx.AsyncClient, cookie: str) -> dict[str, Any]:
    code, state, verifier = await authorize(client, cookie)
    response = await client.post(
        "/v1/oauth/token", data=code_form(code, verifier, state), headers=TOKEN_HEADERS
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID}
    return await client.post("/v1/oauth/token", data=form, headers=TOKEN_HEADERS)


def api_headers(access_token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {access_token}",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": f"{OAUTH_BETA},interleaved-thinking-2025-05-14",
    }


def message_body(stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-opus-4-1",
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
        "stream": stream,
        **extra,
    }


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """A tiny SSE parser: (event name, parsed data) per blank-line-terminated event."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    assert raw.endswith(b"\n\n")
    return events


def assert_anthropic_error(response: httpx.Response, status: int, error_type: str) -> str:
    """Check the real API's error shape and return ``error.message``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert body["request_id"] == response.headers["request-id"]
    assert body["request_id"].startswith("req_")
    message: str = body["error"]["message"]
    return message


# ----------------------------------------------------------------- the whole flow


async def test_full_claude_code_flow() -> None:
    async with running() as (fake, _base, client, _clock):
        bootstrap = await client.get("/api/bootstrap", headers=cookie_headers(PRO))
        account = bootstrap.json()["account"]
        assert account["email_address"] == "pro@example.com"
        org = account["memberships"][0]["organization"]
        assert org["capabilities"] == ["chat", "claude_pro"]
        assert org["uuid"] == fake.account(PRO).org_uuid

        tokens = await login(client, PRO)
        assert tokens["token_type"] == "Bearer"
        assert tokens["expires_in"] == 3600
        assert tokens["access_token"] != tokens["refresh_token"]
        assert (fake.authorizations, fake.exchanges, fake.refreshes) == (1, 1, 0)
        headers = api_headers(tokens["access_token"])

        # non-streaming Message
        fake.account(PRO).next_messages(RICH)
        plain = await client.post("/v1/messages", json=message_body(), headers=headers)
        assert plain.status_code == 200
        assert plain.headers["request-id"].startswith("req_")
        message = plain.json()
        assert message["type"] == "message"
        assert message["role"] == "assistant"
        assert message["model"] == "claude-opus-4-1"
        assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
        assert message["content"][0]["signature"] == "EqQBCgIYAhIMfakeSignature=="
        assert message["content"][2]["input"] == WEATHER.input
        assert message["content"][2]["id"].startswith("toolu_")
        assert message["stop_reason"] == "tool_use"
        assert message["stop_sequence"] is None
        assert message["usage"]["input_tokens"] == count_input_tokens(message_body())
        assert message["usage"]["output_tokens"] > 0
        assert fake.sent(fake.requests[-1]) == plain.content

        # streaming: the full §1.8 grammar
        fake.account(PRO).next_messages(RICH)
        streamed = await client.post("/v1/messages", json=message_body(True), headers=headers)
        assert streamed.headers["content-type"] == "text/event-stream"
        events = parse_sse(streamed.content)
        assert all(data["type"] == name for name, data in events)
        names = [name for name, _ in events]
        assert names[0] == "message_start"
        assert names[-2:] == ["message_delta", "message_stop"]
        assert names[1:3] == ["content_block_start", "ping"]
        start = events[0][1]["message"]
        assert start["content"] == []
        assert start["stop_reason"] is None
        assert start["usage"]["input_tokens"] == count_input_tokens(message_body(True))
        blocks: dict[int, list[dict[str, Any]]] = {}
        order: list[tuple[str, int]] = []
        for name, data in events:
            if name.startswith("content_block"):
                order.append((name, data["index"]))
                if name == "content_block_delta":
                    blocks.setdefault(data["index"], []).append(data["delta"])
        for index in range(3):  # each block opens, gets deltas, closes, in order
            mine = [o for o in order if o[1] == index]
            assert mine[0][0] == "content_block_start"
            assert mine[-1][0] == "content_block_stop"
        assert [i for _, i in order] == sorted(i for _, i in order)
        thinking = blocks[0]
        assert [d["type"] for d in thinking][-1] == "signature_delta"
        assert "".join(d["thinking"] for d in thinking[:-1]) == RICH.content[0].thinking  # type: ignore[union-attr]
        assert thinking[-1]["signature"] == "EqQBCgIYAhIMfakeSignature=="
        assert len(thinking) >= 3
        assert "".join(d["text"] for d in blocks[1]) == "Let me check the weather for you."
        tool_json = [d["partial_json"] for d in blocks[2]]
        assert tool_json[0] == ""
        assert len(tool_json) >= 3
        assert json.loads("".join(tool_json)) == WEATHER.input
        delta = events[-2][1]
        assert delta["delta"]["stop_reason"] == "tool_use"
        assert delta["usage"]["output_tokens"] == message["usage"]["output_tokens"]
        assert fake.sent(fake.requests[-1]) == streamed.content

        # default answer, count_tokens, usage
        default = await client.post("/v1/messages", json=message_body(), headers=headers)
        assert default.json()["content"] == [
            {"type": "text", "text": "Hello from the fake Anthropic API."}
        ]
        assert default.json()["stop_reason"] == "end_turn"
        counted = await client.post(
            "/v1/messages/count_tokens",
            json={"model": "claude-opus-4-1", "messages": message_body()["messages"]},
            headers=headers,
        )
        assert counted.json() == {
            "input_tokens": count_input_tokens({"messages": message_body()["messages"]})
        }
        usage = await client.get("/api/oauth/usage", headers=headers)
        assert set(usage.json()) == {"five_hour", "seven_day", "seven_day_sonnet"}
        assert usage.json()["five_hour"]["resets_at"] == "2023-11-15T03:13:20+00:00"
        assert len(fake.account(PRO).requests) == 3

        # refresh rotates both tokens; the old ones stop working
        rotated = await refresh(client, tokens["refresh_token"])
        assert rotated.status_code == 200
        new = rotated.json()
        assert new["access_token"] != tokens["access_token"]
        assert new["refresh_token"] != tokens["refresh_token"]
        assert fake.refreshes == 1
        old = await client.post("/v1/messages", json=message_body(), headers=headers)
        assert assert_anthropic_error(old, 401, "authentication_error") == "Invalid bearer token"
        fresh = await client.post(
            "/v1/messages", json=message_body(), headers=api_headers(new["access_token"])
        )
        assert fresh.status_code == 200
        reused = await refresh(client, tokens["refresh_token"])
        bogus = await refresh(client, "sk-ant-ort01-bogus")
        for rejected in (reused, bogus):
            assert rejected.status_code == 400
            assert rejected.json() == {
                "error": "invalid_grant",
                "error_description": "Refresh token not found or invalid",
            }
        assert fake.refreshes == 1


async def test_expiry_follows_the_injected_clock() -> None:
    async with running() as (fake, _base, client, clock):
        tokens = await login(client, PRO)
        headers = api_headers(tokens["access_token"])
        clock.advance(3599)
        assert (await client.post("/v1/messages", json=message_body(), headers=headers)).is_success
        clock.advance(1)
        expired = await client.post("/v1/messages", json=message_body(), headers=headers)
        message = assert_anthropic_error(expired, 401, "authentication_error")
        assert message.startswith("OAuth token has expired.")
        fake.expires_in = 60
        new = (await refresh(client, tokens["refresh_token"])).json()
        assert new["expires_in"] == 60
        assert fake.access_token_valid(new["access_token"])
        clock.advance(60)
        assert not fake.access_token_valid(new["access_token"])


async def test_rotation_can_keep_the_old_access_token() -> None:
    async with running(revoke_on_refresh=False) as (fake, _base, client, _clock):
        tokens = await login(client, PRO)
        assert (await refresh(client, tokens["refresh_token"])).status_code == 200
        assert fake.access_token_valid(tokens["access_token"])
        assert (await refresh(client, tokens["refresh_token"])).status_code == 400


async def test_revoked_account_loses_every_token() -> None:
    async with running() as (fake, _base, client, _clock):
        tokens = await login(client, PRO)
        fake.account(PRO).revoke()
        response = await client.post(
            "/v1/messages", json=message_body(), headers=api_headers(tokens["access_token"])
        )
        assert_anthropic_error(response, 401, "authentication_error")
        assert (await refresh(client, tokens["refresh_token"])).json()["error"] == "invalid_grant"


# ----------------------------------------------------------------- bootstrap / OAuth


async def test_bootstrap_tiers_and_unknown_cookie() -> None:
    async with running() as (fake, _base, client, _clock):
        for cookie, capabilities in [
            (FREE, ["chat"]),
            (PRO, ["chat", "claude_pro"]),
            (MAX, ["chat", "claude_max"]),
        ]:
            response = await client.get("/api/bootstrap", headers=cookie_headers(cookie))
            org = response.json()["account"]["memberships"][0]["organization"]
            assert org["capabilities"] == capabilities
        unknown = await client.get("/api/bootstrap", headers=cookie_headers(UNKNOWN))
        assert_anthropic_error(unknown, 401, "authentication_error")
        missing = await client.get("/api/bootstrap")
        assert missing.status_code == 401
        other_cookies = {"Cookie": f"lastActiveOrg=x; sessionKey={MAX}; theme=dark"}
        assert (await client.get("/api/bootstrap", headers=other_cookies)).status_code == 200
        fake.account(PRO).next("bootstrap", Failure.cloudflare())
        blocked = await client.get("/api/bootstrap", headers=cookie_headers(PRO))
        assert blocked.status_code == 302
        assert "location" in blocked.headers
    async with running(unknown_cookie="null") as (_fake, _base, client, _clock):
        unknown = await client.get("/api/bootstrap", headers=cookie_headers(UNKNOWN))
        assert unknown.status_code == 200
        assert unknown.json() == {"account": None}


async def test_free_account_may_not_authorize() -> None:
    async with running() as (fake, _base, client, _clock):
        org = await org_of(client, FREE)
        _verifier, challenge = pkce()
        response = await client.post(
            f"/v1/oauth/{org}/authorize",
            headers=cookie_headers(FREE),
            json=authorize_body(org, challenge, "state"),
        )
        message = assert_anthropic_error(response, 403, "permission_error")
        assert message == "OAuth authentication is currently not allowed for this organization."
        assert fake.authorizations == 0


BAD_AUTHORIZE: list[tuple[str, Callable[[dict[str, Any]], None], int]] = [
    ("response_type", lambda b: b.update(response_type="token"), 400),
    ("client_id", lambda b: b.update(client_id="someone-else"), 400),
    ("redirect_uri", lambda b: b.update(redirect_uri="https://evil.example/cb"), 400),
    ("scope", lambda b: b.update(scope="user:profile"), 400),
    ("scope unknown", lambda b: b.update(scope="user:inference admin:all"), 400),
    ("method", lambda b: b.update(code_challenge_method="plain"), 400),
    ("challenge", lambda b: b.update(code_challenge="short"), 400),
    ("no state", lambda b: b.pop("state"), 400),
    ("empty state", lambda b: b.update(state=""), 400),
    ("org", lambda b: b.update(organization_uuid="00000000-0000-4000-8000-999999999999"), 403),
]


@pytest.mark.parametrize(
    ("field", "spoil", "status"), BAD_AUTHORIZE, ids=[b[0] for b in BAD_AUTHORIZE]
)
async def test_authorize_checks_every_field(
    field: str, spoil: Callable[[dict[str, Any]], None], status: int
) -> None:
    async with running() as (fake, _base, client, _clock):
        org = await org_of(client, PRO)
        body = authorize_body(org, pkce()[1], "some-state")
        spoil(body)
        response = await client.post(
            f"/v1/oauth/{org}/authorize", headers=cookie_headers(PRO), json=body
        )
        error_type = "invalid_request_error" if status == 400 else "permission_error"
        assert_anthropic_error(response, status, error_type)
        assert fake.authorizations == 0


async def test_authorize_needs_the_cookie_and_the_path_org() -> None:
    async with running() as (_fake, _base, client, _clock):
        org = await org_of(client, PRO)
        body = authorize_body(org, pkce()[1], "s")
        no_cookie = await client.post(f"/v1/oauth/{org}/authorize", json=body)
        assert_anthropic_error(no_cookie, 401, "authentication_error")
        max_org = await org_of(client, MAX)
        wrong_path = await client.post(
            f"/v1/oauth/{max_org}/authorize", headers=cookie_headers(PRO), json=body
        )
        assert_anthropic_error(wrong_path, 403, "permission_error")


async def test_token_exchange_checks_pkce_and_single_use() -> None:
    async with running() as (fake, _base, client, clock):
        code, state, verifier = await authorize(client, PRO)
        spoiled = [
            {"code_verifier": pkce()[0]},
            {"code_verifier": ""},
            {"code": "nope"},
            {"redirect_uri": "https://evil.example/cb"},
            {"state": "other"},
            {"client_id": "someone-else"},
            {"grant_type": "password"},
        ]
        for change in spoiled:
            form = {**code_form(code, verifier, state), **change}
            response = await client.post("/v1/oauth/token", data=form, headers=TOKEN_HEADERS)
            assert response.status_code in (400, 401), change
            assert set(response.json()) == {"error", "error_description"}
        assert fake.exchanges == 0
        # the same exchange as JSON is accepted (clove 0.3.1 sends JSON)
        ok = await client.post(
            "/v1/oauth/token", json=code_form(code, verifier, state), headers=TOKEN_HEADERS
        )
        assert ok.status_code == 200
        again = await client.post(
            "/v1/oauth/token", data=code_form(code, verifier, state), headers=TOKEN_HEADERS
        )
        assert again.json()["error"] == "invalid_grant"
        code, state, verifier = await authorize(client, PRO)
        clock.advance(601)
        late = await client.post(
            "/v1/oauth/token", data=code_form(code, verifier, state), headers=TOKEN_HEADERS
        )
        assert late.json()["error"] == "invalid_grant"
        assert (fake.authorizations, fake.exchanges) == (2, 1)


async def test_scripted_token_and_authorize_failures() -> None:
    async with running() as (fake, _base, client, _clock):
        tokens = await login(client, PRO)
        fake.account(PRO).next("token", Failure.server_error())
        failed = await refresh(client, tokens["refresh_token"])
        assert_anthropic_error(failed, 500, "api_error")
        assert fake.refreshes == 0
        assert (await refresh(client, tokens["refresh_token"])).status_code == 200
        fake.account(PRO).next("authorize", Failure.oauth_not_allowed())
        org = await org_of(client, PRO)
        response = await client.post(
            f"/v1/oauth/{org}/authorize",
            headers=cookie_headers(PRO),
            json=authorize_body(org, pkce()[1], "s"),
        )
        assert_anthropic_error(response, 403, "permission_error")


# ----------------------------------------------------------------- messages checks


async def test_messages_checks_like_the_real_api() -> None:
    async with running() as (fake, _base, client, _clock):
        tokens = await login(client, PRO)
        good = api_headers(tokens["access_token"])
        cases: list[tuple[dict[str, str], dict[str, Any], int, str, str]] = [
            ({}, message_body(), 401, "authentication_error", "x-api-key header is required"),
            (
                {**good, "Authorization": "Bearer sk-ant-oat01-nope"},
                message_body(),
                401,
                "authentication_error",
                "Invalid bearer token",
            ),
            (
                {k: v for k, v in good.items() if k != "anthropic-beta"},
                message_body(),
                401,
                "authentication_error",
                "OAuth authentication is currently not supported.",
            ),
            (
                {**good, "anthropic-beta": "interleaved-thinking-2025-05-14"},
                message_body(),
                401,
                "authentication_error",
                "OAuth authentication is currently not supported.",
            ),
            (
                {k: v for k, v in good.items() if k != "anthropic-version"},
                message_body(),
                400,
                "invalid_request_error",
                "anthropic-version: header is required",
            ),
        ]
        for field in ("model", "messages", "max_tokens"):
            body = message_body()
            del body[field]
            cases.append((good, body, 400, "invalid_request_error", f"{field}: Field required"))
        cases.append(
            (
                good,
                message_body(messages=[]),
                400,
                "invalid_request_error",
                "messages: at least one message is required",
            )
        )
        cases.append(
            (
                good,
                message_body(messages=[{"role": "system", "content": "x"}]),
                400,
                "invalid_request_error",
                "messages.0.role: Input should be 'user' or 'assistant'",
            )
        )
        cases.append(
            (
                good,
                message_body(thinking={"type": "enabled", "budget_tokens": 4096}),
                400,
                "invalid_request_error",
                "`max_tokens` must be greater than `thinking.budget_tokens`.",
            )
        )
        for headers, body, status, error_type, expected in cases:
            response = await client.post("/v1/messages", json=body, headers=headers)
            assert assert_anthropic_error(response, status, error_type) == expected
        broken = await client.post("/v1/messages", content=b"{not json", headers=good)
        assert_anthropic_error(broken, 400, "invalid_request_error")
        no_model = await client.post(
            "/v1/messages/count_tokens", json={"messages": []}, headers=good
        )
        assert (
            assert_anthropic_error(no_model, 400, "invalid_request_error")
            == "model: Field required"
        )
        missing = await client.get("/v1/nothing", headers=good)
        assert_anthropic_error(missing, 404, "not_found_error")
        assert fake.account(PRO).requests == []


# ----------------------------------------------------------------- scripted failures

RATE_LIMIT_JSON = Failure.rate_limited(resets_at=1_700_003_600)
RATE_LIMIT_HEADER = Failure.rate_limited(unified_reset=1_700_007_200)

SCRIPTED: list[tuple[str, Failure, int, str]] = [
    ("429 resetsAt", RATE_LIMIT_JSON, 429, "rate_limit_error"),
    ("429 header", RATE_LIMIT_HEADER, 429, "rate_limit_error"),
    ("401", Failure.unauthorized(), 401, "authentication_error"),
    ("403 oauth", Failure.oauth_not_allowed(), 403, "permission_error"),
    ("401 oauth", Failure.oauth_not_allowed(status=401), 401, "authentication_error"),
    ("400 disabled", Failure.disabled(), 400, "invalid_request_error"),
    ("529", Failure.overloaded(), 529, "overloaded_error"),
    ("500", Failure.server_error(), 500, "api_error"),
]


@pytest.mark.parametrize(
    ("name", "failure", "status", "error_type"), SCRIPTED, ids=[s[0] for s in SCRIPTED]
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_scripted_failures(
    name: str, failure: Failure, status: int, error_type: str, stream: bool
) -> None:
    async with running() as (fake, _base, client, _clock):
        tokens = await login(client, PRO)
        headers = api_headers(tokens["access_token"])
        fake.account(PRO).next_messages(failure)
        assert fake.account(PRO).pending() == 1
        response = await client.post("/v1/messages", json=message_body(stream), headers=headers)
        assert response.headers["content-type"] == "application/json"
        message = assert_anthropic_error(response, status, error_type)
        assert message == failure.message
        if failure is RATE_LIMIT_JSON:
            assert json.loads(message)["resetsAt"] == 1_700_003_600
            assert "anthropic-ratelimit-unified-reset" not in response.headers
        if failure is RATE_LIMIT_HEADER:
            assert response.headers["anthropic-ratelimit-unified-reset"] == "1700007200"
            with pytest.raises(json.JSONDecodeError):
                json.loads(message)
        if name.startswith(("403 oauth", "401 oauth")):
            assert message == "OAuth authentication is currently not allowed for this organization."
        if name == "400 disabled":
            assert message == "This organization has been disabled."
        # the script is used up: the next request is answered normally
        after = await client.post("/v1/messages", json=message_body(), headers=headers)
        assert after.status_code == 200
        assert len(fake.account(PRO).requests) == 2


async def test_scripts_belong_to_one_account() -> None:
    async with running() as (fake, _base, client, _clock):
        pro = await login(client, PRO)
        best = await login(client, MAX)
        fake.account(MAX).next_messages(Failure.overloaded(), Answer([Text("second")]))
        ok = await client.post(
            "/v1/messages", json=message_body(), headers=api_headers(pro["access_token"])
        )
        assert ok.status_code == 200
        first = await client.post(
            "/v1/messages", json=message_body(), headers=api_headers(best["access_token"])
        )
        second = await client.post(
            "/v1/messages", json=message_body(), headers=api_headers(best["access_token"])
        )
        assert first.status_code == 529
        assert second.json()["content"][0]["text"] == "second"
        fake.account(MAX).next_count_tokens(Failure.forbidden(), 7)
        count_body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        forbidden = await client.post(
            "/v1/messages/count_tokens", json=count_body, headers=api_headers(best["access_token"])
        )
        assert_anthropic_error(forbidden, 403, "permission_error")
        seven = await client.post(
            "/v1/messages/count_tokens", json=count_body, headers=api_headers(best["access_token"])
        )
        assert seven.json() == {"input_tokens": 7}


async def test_usage_windows_are_scriptable() -> None:
    async with running() as (fake, _base, client, _clock):
        tokens = await login(client, PRO)
        fake.account(PRO).usage = {
            "five_hour": Window(42.0, START + 600),
            "seven_day_sonnet": None,
        }
        usage = await client.get("/api/oauth/usage", headers=api_headers(tokens["access_token"]))
        body = usage.json()
        assert body["five_hour"] == {"utilization": 42.0, "resets_at": "2023-11-14T22:23:20+00:00"}
        assert body["seven_day_sonnet"] is None
        assert body["seven_day"]["utilization"] == 0.0
        unauthorized = await client.get("/api/oauth/usage")
        assert_anthropic_error(unauthorized, 401, "authentication_error")


# ----------------------------------------------------------------- stream fates


async def test_stream_cut_halfway() -> None:
    async with running() as (fake, _base, client, _clock):
        tokens = await login(client, PRO)
        fake.account(PRO).next_messages(
            Answer([Text("a long answer that never ends")], cut_after=4)
        )
        received = bytearray()

        async def read_all() -> None:
            async with client.stream(
                "POST",
                "/v1/messages",
                json=message_body(True),
                headers=api_headers(tokens["access_token"]),
            ) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_raw():
                    received.extend(chunk)

        with pytest.raises(httpx.RemoteProtocolError):
            await read_all()
        names = [name for name, _ in parse_sse(bytes(received))]
        assert names == ["message_start", "content_block_start", "ping", "content_block_delta"]
        assert fake.sent(fake.requests[-1]) == received


async def test_stream_held_at_gate_then_client_hangs_up() -> None:
    async with running() as (fake, _base, client, _clock):
        tokens = await login(client, PRO)
        held = Answer([Text("held")], hold_after=2, gate=trio.Event())
        fake.account(PRO).next_messages(held)
        async with client.stream(
            "POST",
            "/v1/messages",
            json=message_body(True),
            headers=api_headers(tokens["access_token"]),
        ) as response:
            chunks = response.aiter_raw()
            first = await chunks.__anext__()
            assert first.startswith(b"event: message_start\n")
            with trio.fail_after(10):
                await held.reached.wait()
        recorded = fake.account(PRO).requests[-1]
        with trio.fail_after(10):
            await recorded.finished.wait()
        assert recorded.cancelled
        # the hang-up really stopped the fake: nothing after the gate was written
        written = [name for name, _ in parse_sse(fake.sent(recorded))]
        assert written == ["message_start", "content_block_start"]


async def test_stream_held_at_gate_then_released() -> None:
    async with running() as (fake, _base, client, _clock):
        tokens = await login(client, PRO)
        held = Answer([Text("released")], hold_after=3, gate=trio.Event())
        fake.account(PRO).next_messages(held)
        async with client.stream(
            "POST",
            "/v1/messages",
            json=message_body(True),
            headers=api_headers(tokens["access_token"]),
        ) as response:
            received = b""
            async for chunk in response.aiter_raw():
                received += chunk
                if received.count(b"\n\n") == 3:
                    with trio.fail_after(10):
                        await held.reached.wait()
                    held.gate.set()  # type: ignore[union-attr]
        assert [n for n, _ in parse_sse(received)][-1] == "message_stop"
        assert fake.sent(fake.account(PRO).requests[-1]) == received


async def test_stream_error_event() -> None:
    async with running() as (fake, _base, client, _clock):
        tokens = await login(client, PRO)
        fake.account(PRO).next_messages(Answer(error_after=2, error=Failure.overloaded()))
        response = await client.post(
            "/v1/messages", json=message_body(True), headers=api_headers(tokens["access_token"])
        )
        events = parse_sse(response.content)
        assert [n for n, _ in events] == ["message_start", "content_block_start", "error"]
        assert events[-1][1] == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }


def test_a_failure_is_never_2xx() -> None:
    with pytest.raises(ValueError, match="never has a 2xx"):
        Failure(200, "api_error", "no")


# ----------------------------------------------------------------- the official SDK


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn)


def sdk(base: str, token: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=base,
        auth_token=token,
        api_key=None,
        default_headers={"anthropic-beta": OAUTH_BETA},
        max_retries=0,
    )


SDK_MESSAGES: Any = [{"role": "user", "content": "What's the weather in Paris?"}]
SDK_TOOLS: Any = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


async def test_sdk_create_and_count_tokens() -> None:
    async with running() as (fake, base, client, _clock):
        tokens = await login(client, PRO)
        fake.account(PRO).next_messages(RICH)

        def call() -> tuple[anthropic.types.Message, anthropic.types.MessageTokensCount]:
            with sdk(base, tokens["access_token"]) as api:
                message = api.messages.create(
                    model="claude-opus-4-1",
                    max_tokens=2048,
                    messages=SDK_MESSAGES,
                    tools=SDK_TOOLS,
                    thinking={"type": "enabled", "budget_tokens": 1024},
                )
                count = api.messages.count_tokens(model="claude-opus-4-1", messages=SDK_MESSAGES)
                return message, count

        message, count = await in_thread(call)
        assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
        thinking, text, tool = message.content
        assert isinstance(thinking, anthropic.types.ThinkingBlock)
        assert thinking.signature == "EqQBCgIYAhIMfakeSignature=="
        assert isinstance(text, anthropic.types.TextBlock)
        assert text.text == "Let me check the weather for you."
        assert isinstance(tool, anthropic.types.ToolUseBlock)
        assert tool.input == WEATHER.input
        assert tool.name == "get_weather"
        assert message.stop_reason == "tool_use"
        assert message.usage.output_tokens > 0
        assert count.input_tokens == count_input_tokens({"messages": SDK_MESSAGES})
        sent = fake.account(PRO).requests[-1]
        assert sent.headers["authorization"] == f"Bearer {tokens['access_token']}"
        assert sent.headers["anthropic-version"]  # this SDK sends a newer date than 2023-06-01
        assert "x-api-key" not in sent.headers


@pytest.mark.parametrize(
    "answer",
    [
        Answer([Text("Paris is sunny, 18 degrees.")]),
        Answer(
            [Thinking("Weather question; answer briefly.", signature="sig-123"), Text("Sunny.")]
        ),
        Answer([Text("Checking."), WEATHER]),
        RICH,
    ],
    ids=["text", "thinking", "tool_use", "all"],
)
async def test_sdk_stream_accumulates_the_scripted_message(answer: Answer) -> None:
    async with running() as (fake, base, client, _clock):
        tokens = await login(client, PRO)
        fake.account(PRO).next_messages(answer)

        def call() -> tuple[list[str], str, anthropic.types.Message]:
            with sdk(base, tokens["access_token"]) as api:
                with api.messages.stream(
                    model="claude-opus-4-1",
                    max_tokens=2048,
                    messages=SDK_MESSAGES,
                    tools=SDK_TOOLS,
                ) as stream:
                    names: list[str] = [event.type for event in stream]
                    return names, stream.get_final_text(), stream.get_final_message()

        names, final_text, final = await in_thread(call)
        assert names[0] == "message_start"
        assert names[-1] == "message_stop"
        assert len(final.content) == len(answer.content)
        for got, want in zip(final.content, answer.content, strict=True):
            if isinstance(want, Text):
                assert isinstance(got, anthropic.types.TextBlock)
                assert got.text == want.text
            elif isinstance(want, Thinking):
                assert isinstance(got, anthropic.types.ThinkingBlock)
                assert (got.thinking, got.signature) == (want.thinking, want.signature)
            else:
                assert isinstance(got, anthropic.types.ToolUseBlock)
                assert (got.name, got.input) == (want.name, want.input)
        assert final_text == "".join(b.text for b in answer.content if isinstance(b, Text))
        assert (
            final.usage.output_tokens
            == fake.message(answer, message_body())["usage"]["output_tokens"]
        )
        assert final.stop_reason == (
            "tool_use" if any(isinstance(b, ToolUse) for b in answer.content) else "end_turn"
        )


@pytest.mark.parametrize(
    ("failure", "error_class"),
    [
        (Failure.rate_limited(resets_at=1_700_003_600), anthropic.RateLimitError),
        (Failure.overloaded(), anthropic.OverloadedError),
        (Failure.unauthorized(), anthropic.AuthenticationError),
        (Failure.oauth_not_allowed(), anthropic.PermissionDeniedError),
        (Failure.disabled(), anthropic.BadRequestError),
        (Failure.server_error(), anthropic.InternalServerError),
    ],
    ids=["429", "529", "401", "403", "400", "500"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_sdk_raises_the_right_error(
    failure: Failure, error_class: type[anthropic.APIStatusError], stream: bool
) -> None:
    async with running() as (fake, base, client, _clock):
        tokens = await login(client, PRO)
        fake.account(PRO).next_messages(failure)

        def call() -> None:
            with sdk(base, tokens["access_token"]) as api:
                if stream:
                    with api.messages.stream(
                        model="claude-opus-4-1", max_tokens=64, messages=SDK_MESSAGES
                    ) as events:
                        events.until_done()
                else:
                    api.messages.create(
                        model="claude-opus-4-1", max_tokens=64, messages=SDK_MESSAGES
                    )

        with pytest.raises(error_class) as caught:
            await in_thread(call)
        assert caught.value.status_code == failure.status
        assert caught.value.request_id is not None
        assert caught.value.request_id.startswith("req_")
        assert caught.value.message.find(failure.error_type) >= 0
        assert len(fake.account(PRO).requests) == 1  # max_retries=0: exactly one call


async def test_sdk_sees_mid_stream_error_and_missing_beta() -> None:
    async with running() as (fake, base, client, _clock):
        tokens = await login(client, PRO)
        fake.account(PRO).next_messages(Answer(error_after=3, error=Failure.overloaded()))

        def call() -> None:
            with sdk(base, tokens["access_token"]) as api:
                with api.messages.stream(
                    model="claude-opus-4-1", max_tokens=64, messages=SDK_MESSAGES
                ) as events:
                    events.until_done()

        with pytest.raises(anthropic.APIStatusError) as caught:
            await in_thread(call)
        assert "overloaded_error" in str(caught.value)

        def without_beta() -> None:
            with anthropic.Anthropic(
                base_url=base, auth_token=tokens["access_token"], api_key=None, max_retries=0
            ) as api:
                api.messages.create(model="claude-opus-4-1", max_tokens=64, messages=SDK_MESSAGES)

        with pytest.raises(anthropic.AuthenticationError) as denied:
            await in_thread(without_beta)
        assert "OAuth authentication is currently not supported." in str(denied.value)
