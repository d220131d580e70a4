"""The pool inside a running proxy: changes reach clewdr.toml through the saver."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import trio
import trio.testing

from llmproxy import build_app
from llmproxy.config import ConfigStore
from llmproxy.credentials import classify_failure

A = "sk-ant-sid01-" + "A" * 86 + "-aaaaaaAA"
B = "sk-ant-sid01-" + "B" * 86 + "-bbbbbbAA"

CLEWDR_FILE = f"""
password = "p"
admin_password = "q"
future_key = "kept"

[[cookie_array]]
cookie = "{A}"

[[cookie_array]]
cookie = "{B}"

[cookie_array.token]
access_token = "at"
expires_in = 28800
refresh_token = "rt"
expires_at = 1785116457.25

[cookie_array.token.organization]
uuid = "org-1"
"""


async def wait_for_file(path: Path, predicate: object) -> dict[str, object]:
    with trio.fail_after(30):
        while True:
            doc = tomllib.loads(path.read_text())
            if predicate(doc):  # type: ignore[operator]
                return doc
            await trio.sleep(0.05)


async def test_a_429_parks_the_cookie_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "clewdr.toml"
    path.write_text(CLEWDR_FILE)
    now = 1_800_000_000.0
    store = ConfigStore(path)
    app = build_app(store.load(environ={}).settings, store, clock=lambda: now)
    proxy = app.proxy
    async with trio.open_nursery() as nursery:
        await proxy.start(nursery)  # type: ignore[arg-type]
        with proxy.cookies.acquire_nowait("code") as lease:
            assert lease.key == A
            body = {"type": "error", "error": {"type": "rate_limit_error",
                    "message": json.dumps({"type": "exceeded_limit", "resetsAt": int(now) + 7200})}}
            outcome = classify_failure(429, body, {}, now=now)
            assert outcome is not None
            lease.report(outcome)
        with proxy.cookies.acquire_nowait("code") as lease:
            assert lease.key == B
        doc = await wait_for_file(
            path, lambda d: any("reset_time" in c for c in d["cookie_array"])
        )
        await proxy.stop()
    entries = {c["cookie"]: c for c in doc["cookie_array"]}  # type: ignore[union-attr]
    assert entries[A]["reset_time"] == int(now) + 7200
    assert "reset_time" not in entries[B]
    assert entries[B]["token"]["access_token"] == "at"  # nothing lost on the way
    assert doc["future_key"] == "kept"
