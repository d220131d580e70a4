"""The admin API end to end: a real server on 127.0.0.1, httpx as the client.

Covers every admin route with ClewdR's shapes and statuses, the passwords (the API
password never opens an admin route, the admin password never travels in a URL),
hot reload observed on later requests, edits that race without losing anything,
broken values refused whole, and the per-address slow-down of wrong passwords.
Time is a manual clock; nothing here waits on the wall clock.
"""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from llmproxy import build_app
from llmproxy.admin import settings_form
from llmproxy.admin.throttle import FREE_FAILURES, LoginThrottle
from llmproxy.asgi.app import App
from llmproxy.config import FIELDS, ConfigStore, Settings
from llmproxy.credentials import Reason
from tests.fakes.anthropic import ManualClock
from tests.fakes.server import serve

API = "api-" + "k" * 60
ADMIN = "admin-" + "a" * 58
A = "sk-ant-sid01-" + "A" * 86 + "-aaaaaaAA"
B = "sk-ant-sid01-" + "B" * 86 + "-bbbbbbAA"
C = "sk-ant-sid01-" + "C" * 86 + "-ccccccAA"
NOW = 1_800_000_000.0

POOL_KEYS = {"cookie_array", "wasted_cookie", "cookie_meta", "gemini_keys", "vertex"}
EDITABLE = [f.name for f in FIELDS if f.name not in POOL_KEYS]


@dataclass
class Admin:
    client: httpx.AsyncClient
    app: App
    clock: ManualClock
    path: Path
    base: str

    def headers(self, password: str = ADMIN) -> dict[str, str]:
        return {"authorization": f"Bearer {password}"}

    async def get(self, path: str, password: str = ADMIN, **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers=self.headers(password), **kw)

    async def post(
        self, path: str, body: Any = None, password: str = ADMIN, **kw: Any
    ) -> httpx.Response:
        if body is not None:
            kw["json"] = body
        return await self.client.post(path, headers=self.headers(password), **kw)

    async def delete(self, path: str, body: Any, password: str = ADMIN) -> httpx.Response:
        return await self.client.request("DELETE", path, headers=self.headers(password), json=body)

    async def saved(self) -> dict[str, Any]:
        await self.app.proxy.flush()
        return tomllib.loads(self.path.read_text(encoding="utf-8"))


@asynccontextmanager
async def admin(tmp_path: Path, **settings: Any) -> AsyncIterator[Admin]:
    clock = ManualClock(NOW)
    path = tmp_path / "clewdr.toml"
    config = Settings(password=API, admin_password=ADMIN, **settings)
    app = build_app(config, ConfigStore(path), clock=clock)
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield Admin(client, app, clock, path, base)


# -- passwords ---------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/api/auth"),
    ("GET", "/api/status"),
    ("GET", "/api/config"),
    ("POST", "/api/config"),
    ("GET", "/api/cookies"),
    ("POST", "/api/cookie"),
    ("DELETE", "/api/cookie"),
    ("GET", "/api/keys"),
    ("POST", "/api/key"),
    ("DELETE", "/api/key"),
    ("GET", "/api/vertex/credentials"),
    ("POST", "/api/vertex/credential"),
    ("DELETE", "/api/vertex/credential"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_every_admin_route_refuses_the_api_password(
    tmp_path: Path, method: str, path: str
) -> None:
    async with admin(tmp_path, cookie_array=({"cookie": A},)) as s:
        response = await s.client.request(method, path, headers=s.headers(API), json={"cookie": A})
        missing = await s.client.request(method, path, json={"cookie": A})
        assert A in s.app.proxy.cookies  # nothing happened
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid admin password"}
    assert missing.status_code == 401
    assert missing.json() == {"error": "Admin password required as Authorization: Bearer"}


async def test_the_admin_password_is_only_accepted_in_the_header(tmp_path: Path) -> None:
    async with admin(tmp_path) as s:
        for params in ({"key": ADMIN}, {"password": ADMIN}, {"token": ADMIN}, {"auth": ADMIN}):
            response = await s.client.get("/api/auth", params=params)
            assert response.status_code == 401, params
        other_headers = await s.client.get("/api/auth", headers={"x-api-key": ADMIN})
        right = await s.get("/api/auth")
    assert other_headers.status_code == 401
    assert right.status_code == 200
    assert right.content == b""


async def test_version_needs_no_password(tmp_path: Path) -> None:
    async with admin(tmp_path) as s:
        response = await s.client.get("/api/version")
    assert response.status_code == 200
    assert response.text.startswith("v")
    assert "no_fs: false" in response.text


# -- GET /api/config ---------------------------------------------------------------------


async def test_config_shows_every_setting_but_never_the_admin_password(tmp_path: Path) -> None:
    async with admin(tmp_path, custom_prompt="hi", cookie_array=({"cookie": A},)) as s:
        plain = await s.get("/api/config")
        described = await s.get("/api/config", params={"describe": "true"})
    assert plain.status_code == 200
    body = plain.json()
    assert list(body) == [name for name in EDITABLE if name != "admin_password"]
    assert body["password"] == API
    assert body["custom_prompt"] == "hi"
    assert body["models"] == []
    assert body["proxy"] is None
    assert plain.headers["cache-control"] == "no-store"
    for response in (plain, described):
        assert ADMIN not in response.text
        assert A not in response.text  # cookies live in the cookie API
    full = described.json()
    assert full["config"] == body
    fields = {f["name"]: f for f in full["fields"]}
    assert list(fields) == EDITABLE
    assert fields["admin_password"]["write_only"] is True
    assert fields["admin_password"]["default"] is None
    assert {n for n, f in fields.items() if f["restart"]} == {"ip", "port", "log_to_file"}
    assert all(f["doc"] and f["group"] in full["groups"] for f in fields.values()), (
        "a key without a group"
    )
    assert full["restart_pending"] == []
    assert full["config_path"] == str(s.path)


def test_every_setting_has_a_group_on_the_page() -> None:
    grouped = {name for _, names in settings_form.GROUPS for name in names}
    assert grouped == set(EDITABLE)


# -- POST /api/config --------------------------------------------------------------------


async def test_a_post_is_a_patch_and_applies_at_once(tmp_path: Path) -> None:
    async with admin(tmp_path, log_to_file=True, custom_h="H", max_retries=2) as s:
        response = await s.post("/api/config", {"custom_prompt": "be nice", "max_retries": 7})
        later = await s.get("/api/config")
        saved = await s.saved()
    assert response.status_code == 200
    answer = response.json()
    assert answer["message"] == "Config updated successfully"
    assert answer["changed"] == ["max_retries", "custom_prompt"]
    assert answer["restart_required"] == []
    assert answer["ignored"] == {}
    assert answer["saved"] is True
    assert answer["config"] == later.json()
    assert ADMIN not in response.text
    assert later.json()["custom_prompt"] == "be nice"
    assert later.json()["max_retries"] == 7
    # Fields the POST did not name keep their values (ClewdR's UI reset these).
    assert later.json()["log_to_file"] is True
    assert later.json()["custom_h"] == "H"
    assert saved["custom_prompt"] == "be nice"
    assert saved["max_retries"] == 7
    assert saved["log_to_file"] is True
    assert saved["admin_password"] == ADMIN


async def test_a_clewdr_style_full_post_without_admin_password_keeps_it(tmp_path: Path) -> None:
    async with admin(tmp_path) as s:
        full = (await s.get("/api/config")).json()
        full["web_search"] = True
        response = await s.post("/api/config", full)
        blank = await s.post("/api/config", {"admin_password": "", "custom_a": "Bot"})
        still = await s.get("/api/auth")
        saved = await s.saved()
    assert response.status_code == 200
    assert response.json()["changed"] == ["web_search"]
    assert blank.status_code == 200
    assert blank.json()["changed"] == ["custom_a"]
    assert still.status_code == 200
    assert saved["admin_password"] == ADMIN


async def test_nothing_to_change_changes_nothing(tmp_path: Path) -> None:
    async with admin(tmp_path, custom_prompt="x") as s:
        before = s.app.proxy.settings
        response = await s.post("/api/config", {"custom_prompt": "x"})
        assert s.app.proxy.settings is before
    assert response.status_code == 200
    assert response.json()["message"] == "Nothing changed"
    assert response.json()["changed"] == []


async def test_changing_the_api_password_is_seen_by_the_next_api_request(tmp_path: Path) -> None:
    new = "new-api-password-" + "n" * 20
    async with admin(tmp_path) as s:
        before = await s.client.get("/v1/models", headers={"x-api-key": API})
        response = await s.post("/api/config", {"password": new})
        old = await s.client.get("/v1/models", headers={"x-api-key": API})
        fresh = await s.client.get("/v1/models", headers={"authorization": f"Bearer {new}"})
    assert before.status_code == 200
    assert response.status_code == 200
    assert response.json()["config"]["password"] == new
    assert old.status_code == 401
    assert fresh.status_code == 200
    assert fresh.json()["data"]


async def test_changing_the_admin_password_ends_every_other_login(tmp_path: Path) -> None:
    new = "brand-new-admin-" + "z" * 16
    async with admin(tmp_path) as s:
        response = await s.post("/api/config", {"admin_password": new})
        old = await s.get("/api/status")
        fresh = await s.get("/api/status", password=new)
        saved = await s.saved()
    assert response.status_code == 200
    assert response.json()["changed"] == ["admin_password"]
    assert new not in response.text
    assert old.status_code == 401
    assert fresh.status_code == 200
    assert saved["admin_password"] == new


async def test_address_and_port_are_saved_but_marked_for_a_restart(tmp_path: Path) -> None:
    async with admin(tmp_path) as s:
        response = await s.post(
            "/api/config", {"port": 9999, "ip": " 0.0.0.0 ", "web_search": True}
        )
        described = await s.get("/api/config", params={"describe": "1"})
        status = await s.get("/api/status")  # still served where it was started
        back = await s.post("/api/config", {"port": 8484})
        saved = await s.saved()
    assert response.status_code == 200
    assert response.json()["changed"] == ["ip", "port", "web_search"]
    assert response.json()["restart_required"] == ["ip", "port"]
    assert described.json()["restart_pending"] == ["ip", "port"]
    assert status.json()["config"]["restart_pending"] == ["ip", "port"]
    assert back.json()["restart_pending"] == ["ip"]  # the port is back to what is bound
    assert saved["ip"] == "0.0.0.0"
    assert saved["port"] == 8484


BROKEN = [
    ({"max_retries": "many"}, "max_retries"),
    ({"max_retries": -1}, "max_retries"),
    ({"max_retries": None}, "max_retries"),
    ({"port": 70000}, "port"),
    ({"ip": "localhost"}, "ip"),
    ({"rproxy": "ftp://example.com"}, "rproxy"),
    ({"proxy": "not a url"}, "proxy"),
    ({"web_search": "yes"}, "web_search"),
    ({"models": "claude-opus-4-6"}, "models"),
    ({"models": ["ok", ""]}, "models"),
    ({"password": ""}, "password"),
    ({"password": "has space"}, "password"),
    ({"admin_password": "ünïcode"}, "admin_password"),
    ({"admin_password": 12345}, "admin_password"),
    ({"custom_prompt": 5}, "custom_prompt"),
]


@pytest.mark.parametrize(("patch", "key"), BROKEN)
async def test_a_broken_value_is_a_400_naming_the_key_and_changes_nothing(
    tmp_path: Path, patch: dict[str, Any], key: str
) -> None:
    async with admin(tmp_path, custom_prompt="before") as s:
        before = s.app.proxy.settings
        response = await s.post("/api/config", {"custom_prompt": "after", **patch})
        assert s.app.proxy.settings is before
        later = await s.get("/api/config")
        auth = await s.get("/api/auth")
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert response.json()["error"].startswith(key + ":"), response.json()
    assert later.json()["custom_prompt"] == "before"
    assert auth.status_code == 200


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"'])
async def test_a_config_body_that_is_not_an_object_is_a_400(tmp_path: Path, body: bytes) -> None:
    async with admin(tmp_path) as s:
        response = await s.post("/api/config", content=body)
    assert response.status_code == 400
    assert "error" in response.json()


async def test_pool_owned_and_unknown_keys_are_ignored_and_listed(tmp_path: Path) -> None:
    async with admin(tmp_path, cookie_array=({"cookie": A},)) as s:
        patch = {
            "cookie_array": [],
            "wasted_cookie": [{"cookie": B, "reason": "Banned"}],
            "gemini_keys": ["k"],
            "vertex": {},
            "cookie_meta": [],
            "cache_response": 3,
            "custom_prompt": "p",
        }
        response = await s.post("/api/config", patch)
        listing = await s.get("/api/cookies")
        saved = await s.saved()
    assert response.status_code == 200
    answer = response.json()
    assert answer["changed"] == ["custom_prompt"]
    assert set(answer["ignored"]) == POOL_KEYS | {"cache_response"}
    assert [c["cookie"] for c in listing.json()["valid"]] == [A]
    assert listing.json()["invalid"] == []
    assert saved["cookie_array"][0]["cookie"] == A
    assert "cache_response" not in saved


async def test_concurrent_edits_lose_nothing(tmp_path: Path) -> None:
    patches: list[dict[str, Any]] = [
        {"custom_h": "Human2"},
        {"custom_a": "Bot2"},
        {"custom_prompt": "prompt2"},
        {"custom_system": "system2"},
        {"max_retries": 9},
        {"web_search": True},
        {"preserve_chats": True},
        {"sanitize_messages": True},
        {"max_concurrent_per_cookie": 3},
        {"think_tags": True},
    ]
    cookies = [A, B, C]
    async with admin(tmp_path) as s:
        answers: list[httpx.Response] = []

        async def save(patch: dict[str, Any]) -> None:
            answers.append(await s.post("/api/config", patch))

        async def add(cookie: str) -> None:
            answers.append(await s.post("/api/cookie", {"cookie": cookie}))

        async with trio.open_nursery() as nursery:
            for patch in patches:
                nursery.start_soon(save, patch)
            for cookie in cookies:
                nursery.start_soon(add, cookie)
        final = (await s.get("/api/config")).json()
        saved = await s.saved()
        assert s.app.proxy.cookies.statistics().valid == 3
    assert all(a.status_code == 200 for a in answers)
    for patch in patches:
        for key, value in patch.items():
            assert final[key] == value, key
            assert saved[key] == value, key
    assert sorted(c["cookie"] for c in saved["cookie_array"]) == sorted(cookies)


async def test_a_failed_save_is_reported_but_the_change_applies(tmp_path: Path) -> None:
    async with admin(tmp_path) as s:
        s.path.mkdir()  # a directory where the file should go: the rename fails
        response = await s.post("/api/config", {"custom_prompt": "kept in memory"})
        later = await s.get("/api/config")
    assert response.status_code == 500
    assert response.json()["error"].startswith("Settings applied, but saving")
    assert response.json()["saved"] is False
    assert later.json()["custom_prompt"] == "kept in memory"


# -- cookies -----------------------------------------------------------------------------


async def test_add_one_cookie_the_clewdr_way(tmp_path: Path) -> None:
    async with admin(tmp_path) as s:
        first = await s.post("/api/cookie", {"cookie": f"sessionKey={A}"})
        again = await s.post("/api/cookie", {"cookie": A})
        bad = await s.post("/api/cookie", {"cookie": "sk-ant-sid01-short"})
        saved = await s.saved()
    assert first.status_code == 200
    assert first.json()["added"] == 1
    assert first.json()["results"] == [
        {"line": 1, "status": "added", "cookie": "sk-ant-sid01-AAAAAAAA…", "state": "valid",
         "message": first.json()["results"][0]["message"]},
    ]  # fmt: skip
    assert again.status_code == 200
    assert again.json()["results"][0]["status"] == "already_known"
    assert again.json()["results"][0]["state"] == "valid"
    assert bad.status_code == 422
    assert bad.json()["error"].startswith("Invalid cookie format: not a Claude session cookie")
    assert bad.json()["results"][0]["cookie"] is None
    assert [c["cookie"] for c in saved["cookie_array"]] == [A]


async def test_bulk_add_answers_line_by_line(tmp_path: Path) -> None:
    secret_typo = "sk-ant-sid01-secret-with-a-typo"
    async with admin(tmp_path, wasted_cookie=({"cookie": C, "reason": "Banned"},)) as s:
        listed = await s.post("/api/cookie", {"cookies": [A, "", secret_typo, "# mine", B, A, C]})
        text = await s.client.post(
            "/api/cookie",
            content=f"{B}\n\nnope\n".encode(),
            headers={**s.headers(), "content-type": "text/plain"},
        )
        objects = await s.post("/api/cookie", {"cookies": [{"cookie": A}]})
        multiline = await s.post("/api/cookie", {"cookie": f"{A}\n{B}"})
        nothing = await s.post("/api/cookie", {"cookies": ["", "  ", "# only comments"]})
        wrong_shape = await s.post("/api/cookie", {"cookie_list": [A]})
        wrong_item = await s.post("/api/cookie", {"cookies": [5]})
    assert listed.status_code == 200
    results = listed.json()["results"]
    assert [(r["line"], r["status"], r["state"]) for r in results] == [
        (1, "added", "valid"),
        (3, "invalid", None),
        (5, "added", "valid"),
        (6, "already_known", "valid"),
        (7, "already_known", "invalid"),
    ]
    assert (listed.json()["added"], listed.json()["already_known"], listed.json()["invalid"]) == (
        2,
        2,
        1,
    )
    assert secret_typo not in listed.text
    assert "secret" not in results[1]["message"]
    assert [(r["line"], r["status"]) for r in text.json()["results"]] == [
        (1, "already_known"),
        (3, "invalid"),
    ]
    assert objects.json()["results"][0]["status"] == "already_known"
    assert [r["status"] for r in multiline.json()["results"]] == ["already_known", "already_known"]
    for response in (nothing, wrong_shape, wrong_item):
        assert response.status_code == 400
        assert "error" in response.json()


async def test_the_listing_is_live_and_clewdr_shaped(tmp_path: Path) -> None:
    token = {
        "access_token": "secret-access",
        "expires_in": 3600,
        "organization": {"uuid": "org"},
        "refresh_token": "secret-refresh",
        "expires_at": NOW + 3600,
    }
    with_token = {
        "cookie": A,
        "token": token,
        "session_resets_at": int(NOW) + 600,
        "weekly_resets_at": int(NOW) + 7200,
    }
    usable = (with_token, {"cookie": B})
    wasted = ({"cookie": C, "reason": "Banned"},)
    async with admin(tmp_path, cookie_array=usable, wasted_cookie=wasted) as s:
        first = await s.get("/api/cookies")
        s.app.proxy.cookies.park(B, NOW + 3600, Reason.too_many_requests(int(NOW) + 3600))
        parked = await s.get("/api/cookies")  # no cache: seen at once (ClewdR #63)
        s.clock.advance(3601)
        back = await s.get("/api/cookies", params={"refresh": "true"})
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["x-cache-timestamp"] == str(int(NOW))
    body = first.json()
    assert set(body) == {"valid", "exhausted", "invalid"}
    assert [c["cookie"] for c in body["valid"]] == [A, B]
    entry = body["valid"][0]
    assert "token" not in entry
    assert "secret" not in first.text
    assert entry["has_token"] is True
    assert entry["masked"] == "sk-ant-sid01-AAAAAAAA…"
    assert entry["state"] == "valid"
    assert entry["account"] == "unknown"
    assert entry["session_resets_at"] == "2027-01-15T08:10:00Z"
    assert entry["seven_day_resets_at"] == "2027-01-15T10:00:00Z"
    assert entry["lifetime_usage"]["total_input_tokens"] == 0
    assert body["invalid"] == [
        {
            "cookie": C,
            "reason": "Banned",
            "masked": "sk-ant-sid01-CCCCCCCC…",
            "state": "invalid",
            "reason_text": "Banned",
            "account": "unknown",
            "denied_routes": [],
            "in_flight": 0,
            "has_token": False,
        }
    ]
    exhausted = parked.json()["exhausted"]
    assert [c["cookie"] for c in exhausted] == [B]
    assert exhausted[0]["reset_time"] == int(NOW) + 3600
    assert exhausted[0]["reason_text"].startswith("429 Too many request: until UTC")
    assert [c["cookie"] for c in back.json()["valid"]] == [A, B]
    assert back.headers["x-cache-timestamp"] == str(int(NOW) + 3601)


async def test_delete_a_cookie(tmp_path: Path) -> None:
    async with admin(tmp_path, cookie_array=({"cookie": A}, {"cookie": B})) as s:
        forgotten: list[str] = []
        original = s.app.proxy.tokens.forget

        def forget(key: str) -> None:
            forgotten.append(key)
            original(key)

        s.app.proxy.tokens.forget = forget  # type: ignore[method-assign]
        gone = await s.delete("/api/cookie", {"cookie": f"sessionKey={A}"})
        again = await s.delete("/api/cookie", {"cookie": A})
        nothing = await s.delete("/api/cookie", {"cookie": ""})
        not_json = await s.client.request(
            "DELETE", "/api/cookie", headers=s.headers(), content=b"nope"
        )
        listing = await s.get("/api/cookies")
        saved = await s.saved()
    assert gone.status_code == 204
    assert gone.content == b""
    assert forgotten == [A]
    assert again.status_code == 404
    assert again.json()["error"].endswith("is not in the pool")
    assert nothing.status_code == 400
    assert not_json.status_code == 400
    assert [c["cookie"] for c in listing.json()["valid"]] == [B]
    assert [c["cookie"] for c in saved["cookie_array"]] == [B]


# -- status ------------------------------------------------------------------------------


async def test_status_has_what_the_dashboard_shows(tmp_path: Path) -> None:
    async with admin(tmp_path, cookie_array=({"cookie": A}, {"cookie": B}),
                     wasted_cookie=({"cookie": C, "reason": "Free"},)) as s:  # fmt: skip
        s.app.proxy.cookies.park(B, NOW + 60)
        await s.client.get("/v1/models", headers={"x-api-key": "wrong"})
        await s.client.get("/v1/models", headers={"x-api-key": API})
        response = await s.get("/api/status")
    assert response.status_code == 200
    body = response.json()
    assert body["version"]
    assert body["uptime_seconds"] >= 0
    assert body["requests"]["served"] >= 2
    assert body["requests"]["in_flight"] == 1
    assert body["errors"] == {"authentication": 1}
    assert body["routes"]["web.models"]["count"] == 2
    assert {"count", "mean_ms", "p50_ms", "p99_ms", "max_ms"} <= set(body["routes"]["web.models"])
    assert body["cookies"] == {
        "valid": 1,
        "exhausted": 1,
        "invalid": 1,
        "in_flight": 0,
        "next_reset": NOW + 60,
    }
    assert body["gemini"] is None or isinstance(body["gemini"], dict)
    assert body["now"] == NOW
    assert body["config"] == {
        "path": str(s.path),
        "no_fs": False,
        "unsaved_changes": body["config"]["unsaved_changes"],
        "restart_pending": [],
    }


# -- slowing down wrong passwords ---------------------------------------------------------


async def test_wrong_admin_passwords_are_slowed_down_per_address(tmp_path: Path) -> None:
    other_address = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with (
        admin(tmp_path) as s,
        httpx.AsyncClient(base_url=s.base, transport=other_address) as other,
    ):
        for _ in range(FREE_FAILURES):
            free = await s.get("/api/auth", password="guess")
            assert free.status_code == 401
            assert "retry-after" not in free.headers
        locked = await s.get("/api/auth", password="guess")
        assert locked.status_code == 401
        assert locked.headers["retry-after"] == "1"
        refused = await s.get("/api/auth")  # even the right password waits out the lock
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"].startswith("Too many wrong admin passwords")
        missing = await s.client.get("/api/status")
        assert missing.status_code == 429
        elsewhere = await other.get("/api/auth", headers=s.headers())
        assert elsewhere.status_code == 200
        api_route = await s.client.get("/v1/models", headers={"x-api-key": API})
        assert api_route.status_code == 200  # only admin routes are locked
        s.clock.advance(1)
        assert (await s.get("/api/auth")).status_code == 200
        second = await s.get("/api/auth", password="guess")
        assert second.headers["retry-after"] == "2"  # each further failure doubles the wait
        s.clock.advance(2)
        assert (await s.get("/api/auth")).status_code == 200
        assert (await s.get("/api/auth", password="guess")).headers["retry-after"] == "4"
        s.clock.advance(3600 + 4)  # a quiet hour: the address starts over
        assert "retry-after" not in (await s.get("/api/auth", password="guess")).headers
        status = await s.get("/api/status")
    assert status.json()["errors"]["rate_limit"] == 2


async def test_a_missing_password_is_not_counted_as_a_guess(tmp_path: Path) -> None:
    async with admin(tmp_path) as s:
        for _ in range(FREE_FAILURES * 3):
            assert (await s.client.get("/api/cookies")).status_code == 401
        assert (await s.get("/api/cookies")).status_code == 200


def test_the_throttle_doubles_caps_forgets_and_stays_bounded() -> None:
    throttle = LoginThrottle(
        free_failures=2, max_lock_seconds=10, forget_after_seconds=100, max_addresses=3
    )
    assert [throttle.failed("a", 0) for _ in range(7)] == [0, 0, 1, 2, 4, 8, 10]
    assert throttle.retry_after("a", 5) == 5
    assert throttle.retry_after("a", 10) == 0
    assert throttle.retry_after("b", 0) == 0
    assert throttle.failures("a", 109) == 7
    assert throttle.failures("a", 110) == 0  # forgotten 100 s after its lock ended
    for address in ("a", "b", "c", "d"):
        throttle.failed(address, 200)
    assert len(throttle) == 3
    assert throttle.failures("a", 200) == 0
