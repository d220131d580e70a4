"""Service accounts, their JWT, the Vertex table, and the access-token cache (httpx MockTransport)."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from llmproxy.chain.rotate import CredentialRejected
from llmproxy.credentials.outcomes import Retired
from llmproxy.gemini.rotation import Transient
from llmproxy.gemini.service_account import jwt_assertion, parse_service_account
from llmproxy.gemini.tokens import GRANT_TYPE, REFRESH_MARGIN, VertexTokens
from llmproxy.gemini.vertex_accounts import VERTEX, VertexAccounts
from llmproxy.upstream.client import Client
from tests.fakes.anthropic import ManualClock
from tests.fakes.gemini import make_service_account

NOW = 1_800_000_000.0
TOKEN_URI = "https://oauth2.example/token"


def sa(index: int = 0, **changes: Any) -> dict[str, Any]:
    return {**make_service_account(index, TOKEN_URI), **changes}


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_jwt_verifies_with_the_public_key_and_says_the_right_things() -> None:
    raw = sa()
    account = parse_service_account(raw)
    head, claims, signature = jwt_assertion(account, NOW + 0.7).split(".")
    public = serialization.load_pem_private_key(raw["private_key"].encode(), None).public_key()
    public.verify(_unb64(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg, arg-type]
    assert json.loads(_unb64(head)) == {"alg": "RS256", "typ": "JWT", "kid": raw["private_key_id"]}
    assert json.loads(_unb64(claims)) == {
        "iss": raw["client_email"], "scope": "https://www.googleapis.com/auth/cloud-platform",
        "aud": TOKEN_URI, "iat": int(NOW), "exp": int(NOW) + 3600,
    }
    assert "=" not in head + claims + signature


def test_service_account_defaults_and_json_text() -> None:
    raw = sa()
    del raw["token_uri"], raw["private_key_id"]
    account = parse_service_account(json.dumps(raw))
    assert account.token_uri == "https://oauth2.googleapis.com/token"
    assert account.private_key_id is None
    head = jwt_assertion(account, NOW).split(".")[0]
    assert "kid" not in json.loads(_unb64(head))
    assert "PRIVATE" not in repr(account)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("{", "not valid JSON"),
        ([1], "JSON object"),
        (sa(type="authorized_user"), "authorized_user"),
        (sa(client_email=""), "client_email"),
        (sa(project_id=None), "project_id"),
        (sa(private_key="nope"), "private_key: no PEM block"),
        (sa(private_key_id=5), "private_key_id"),
        (sa(token_uri="ftp://x"), "token_uri"),
    ],
)
def test_unusable_service_accounts_say_why(value: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_service_account(value)


def test_the_vertex_table_merges_the_legacy_credential_and_keeps_what_it_cannot_use() -> None:
    first, second = sa(0), sa(1)
    broken = {"client_email": "broken@x", "project_id": "p", "private_key": "garbage"}
    kind = VertexAccounts()
    table = {"credentials": [first, broken], "credential": second, "location": "europe-west4", "model_id": "x"}
    loaded = kind.load({VERTEX: table}, now=NOW)
    assert [c.record.key for c in loaded.credentials] == [first["client_email"], second["client_email"]]
    assert len(loaded.warnings) == 1 and loaded.warnings[0].startswith("vertex.credentials[1]: private_key")
    assert kind.location == "europe-west4"
    dumped = kind.dump(loaded.credentials)[VERTEX]
    assert dumped == {"location": "europe-west4", "model_id": "x", "credentials": [first, second, broken]}


def test_the_same_account_twice_is_loaded_once() -> None:
    kind = VertexAccounts()
    loaded = kind.load({VERTEX: {"credentials": [sa(0)], "credential": sa(0)}}, now=NOW)
    assert len(loaded.credentials) == 1
    assert kind.dump(loaded.credentials) == {VERTEX: {"credentials": [sa(0)]}}
    assert VertexAccounts().dump(()) == {VERTEX: {}}


class TokenServer:
    """A scripted token endpoint behind httpx.MockTransport."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.forms: list[dict[str, str]] = []
        self.gate: trio.Event | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.forms.append(dict(parse_qsl((await request.aread()).decode())))
        assert request.url == TOKEN_URI
        if self.gate is not None:
            await self.gate.wait()
        if self.answers:
            return self.answers.pop(0)
        return httpx.Response(200, json={"access_token": f"tok{len(self.forms)}", "expires_in": 3600})


async def test_tokens_are_cached_until_shortly_before_expiry() -> None:
    clock = ManualClock(NOW)
    server = TokenServer(httpx.Response(200, json={"access_token": "first", "expires_in": "1000"}))
    tokens = VertexTokens(clock)
    account = parse_service_account(sa())
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
        assert await tokens.access_token(account, client) == "first"
        assert server.forms[0]["grant_type"] == GRANT_TYPE
        clock.advance(1000 - REFRESH_MARGIN - 1)
        assert await tokens.access_token(account, client) == "first"
        clock.advance(2)
        assert await tokens.access_token(account, client) == "tok2"
        tokens.forget(account.client_email)
        assert await tokens.access_token(account, client) == "tok3"
    assert tokens.exchanges == 3
    assert tokens.cached(account.client_email) == clock() + 3600


async def test_concurrent_requests_share_one_exchange() -> None:
    server = TokenServer()
    server.gate = trio.Event()
    tokens = VertexTokens(ManualClock(NOW))
    account = parse_service_account(sa())
    got: list[str] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:

        async def one() -> None:
            got.append(await tokens.access_token(account, client))

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(one)
            await trio.testing.wait_all_tasks_blocked()
            server.gate.set()
    assert got == ["tok1"] * 10 and len(server.forms) == 1


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_a_refused_account_is_retired(status: int) -> None:
    server = TokenServer(httpx.Response(status, json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."}))
    tokens = VertexTokens(ManualClock(NOW))
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
        with pytest.raises(CredentialRejected) as caught:
            await tokens.access_token(parse_service_account(sa()), client)
    assert isinstance(caught.value.outcome, Retired)
    assert str(caught.value.outcome.reason) == "token refused: invalid_grant: Invalid JWT Signature."


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, text="oops"),
        httpx.Response(200, json={"token_type": "Bearer"}),
        httpx.Response(429, json={"error": "rate_limited"}),
    ],
)
async def test_other_token_failures_are_transient(answer: httpx.Response) -> None:
    tokens = VertexTokens(ManualClock(NOW))
    async with httpx.AsyncClient(transport=httpx.MockTransport(TokenServer(answer))) as client:
        with pytest.raises(Transient):
            await tokens.access_token(parse_service_account(sa()), client)
    assert tokens.cached(sa()["client_email"]) is None


async def test_an_unreachable_token_endpoint_is_transient() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tokens = VertexTokens(ManualClock(NOW))
    client = Client()
    account = parse_service_account(sa(token_uri=f"http://127.0.0.1:{port}/token"))
    with pytest.raises(Transient, match="could not be reached.*cannot connect to 127.0.0.1"):
        await tokens.access_token(account, client)
