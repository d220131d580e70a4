"""The admin page as files on the wire: headers, caching, no inline script, i18n, zip.

The page itself is driven in a real browser by tests/browser/; these tests check
what must hold whatever the browser does: the security headers, that the page
and its files need no password and hold none, that a file outside ``static/``
cannot be reached, that every string the page uses exists in both languages, and
that the files load from inside a zip archive like the .pyz.
"""

from __future__ import annotations

import html.parser
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from llmproxy import build_app
from llmproxy.admin import assets, settings_form
from llmproxy.config import ConfigStore, Settings
from tests.fakes.server import serve

API = "api-" + "k" * 60
ADMIN = "admin-" + "a" * 58
REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "llmproxy" / "admin" / "static"
FILES = ("index.html", "app.css", "app.js", "i18n.js")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(Settings(password=API, admin_password=ADMIN), ConfigStore(tmp_path / "c.toml"))
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        yield client


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{20}"', response.headers["etag"])


async def test_the_page_is_served_without_a_password_with_security_headers(tmp_path: Path) -> None:
    async with running(tmp_path) as client:
        page = await client.get("/")
        files = {name: await client.get(f"/static/{name}") for name in FILES}
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.content == (STATIC / "index.html").read_bytes()
    assert_security_headers(page)
    types = {
        "index.html": "text/html",
        "app.css": "text/css",
        "app.js": "text/javascript",
        "i18n.js": "text/javascript",
    }
    for name, response in files.items():
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(types[name])
        assert response.content == (STATIC / name).read_bytes()
        assert_security_headers(response)
        assert ADMIN not in response.text
        assert API not in response.text


async def test_a_current_copy_is_answered_with_304(tmp_path: Path) -> None:
    async with running(tmp_path) as client:
        first = await client.get("/static/app.js")
        etag = first.headers["etag"]
        same = await client.get("/static/app.js", headers={"if-none-match": etag})
        weak = await client.get("/static/app.js", headers={"if-none-match": f'"x", W/{etag}'})
        stale = await client.get("/static/app.js", headers={"if-none-match": '"0000"'})
        page = await client.get(
            "/", headers={"if-none-match": (await client.get("/")).headers["etag"]}
        )
    for response in (same, weak, page):
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"]
        assert response.headers["x-frame-options"] == "DENY"
    assert stale.status_code == 200
    assert stale.content == first.content


@pytest.mark.parametrize(
    "path",
    [
        "/static/",
        "/static/nope.js",
        "/static/../__init__.py",
        "/static/..%2f__init__.py",
        "/static/%2e%2e/assets.py",
        "/static//etc/passwd",
        "/static/static/app.js",
        "/index.html",
    ],
)
async def test_only_the_pages_own_files_can_be_fetched(tmp_path: Path, path: str) -> None:
    async with running(tmp_path) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert "import" not in response.text


async def test_a_mounted_page_without_its_slash_is_redirected(tmp_path: Path) -> None:
    app = build_app(Settings(password=API, admin_password=ADMIN), ConfigStore(None))
    sent: list[MutableMapping[str, Any]] = []

    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> MutableMapping[str, Any]:
        if requests:
            return requests.pop()
        await trio.sleep_forever()  # the client stays; the watcher is cancelled at the end
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/admin",
        "root_path": "/admin",
        "headers": [],
        "query_string": b"",
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 308
    assert (b"location", b"/admin/") in sent[0]["headers"]


# -- the page's markup -------------------------------------------------------------------


class _Markup(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.handlers: list[str] = []
        self.styles: list[str] = []
        self.urls: list[str] = []
        self.i18n_keys: set[str] = set()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts.append(values)
        if tag == "style":
            self.styles.append("<style>")
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}")
            if name == "style":
                self.styles.append(f"{tag} style=")
            if name in ("src", "href", "action") and value:
                self.urls.append(value)
            if name.startswith("data-i18n") and value:
                self.i18n_keys.add(value)
            if name == "id" and value:
                self.ids.add(value)


def markup() -> _Markup:
    parser = _Markup()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    return parser


def test_no_inline_script_style_or_outside_resource() -> None:
    page = markup()
    assert page.scripts
    assert all(s.get("src") for s in page.scripts), "an inline <script>"
    assert page.handlers == []
    assert page.styles == []
    for url in page.urls:
        # Relative to the page (so the proxy may be mounted under a prefix), or data:.
        assert url.startswith(("static/", "#", "data:")), url
    for name in ("app.js", "app.css", "i18n.js"):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://127.0.0.1", "") or name == "i18n.js"
        assert "eval(" not in text
        assert "new Function" not in text
        assert ".innerHTML" not in text
        assert "insertAdjacentHTML" not in text
        assert 'setAttribute("style"' not in text
        assert "cssText" not in text
        assert "@import" not in text
        assert "url(http" not in text


def test_every_element_the_script_looks_up_exists() -> None:
    ids = markup().ids
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    wanted = set(re.findall(r'\$\("#([\w-]+)"\)', script))
    wanted |= {
        f"{kind}-{state}"
        for kind in ("count", "list")
        for state in ("valid", "exhausted", "invalid")
    }
    assert wanted, "the pattern found nothing; did app.js change style?"
    assert wanted <= ids, wanted - ids


def load_strings() -> dict[str, Any]:
    """Run i18n.js in a JavaScript-free way: it is one object literal per table."""
    text = (STATIC / "i18n.js").read_text(encoding="utf-8")
    tables: dict[str, Any] = {}
    for name in ("LLMPROXY_I18N", "LLMPROXY_FIELDS"):
        start = text.index(f"window.{name} = ") + len(f"window.{name} = ")
        end = text.index("\n};", start) + 2
        literal = re.sub(r"^\s*//.*$", "", text[start:end], flags=re.MULTILINE)
        literal = re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r'\1"\2":', literal)  # bare keys -> JSON
        tables[name] = json.loads(literal)
    return tables


def test_every_string_exists_in_english_and_chinese() -> None:
    strings = load_strings()["LLMPROXY_I18N"]
    en, zh = strings["en"], strings["zh"]
    assert set(en) == set(zh), {
        "missing in zh": set(en) - set(zh),
        "missing in en": set(zh) - set(en),
    }
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    used = set(re.findall(r'\bt\("(\w+)"\s*[,)]', script)) | markup().i18n_keys
    used |= {f"group_{name}" for name, _ in settings_form.GROUPS} | {"group_other"}
    used |= {"valid", "exhausted", "invalid"}
    assert used <= set(en), used - set(en)
    placeholders = re.compile(r"\{(\w+)\}")
    for key in en:
        assert set(placeholders.findall(en[key])) == set(placeholders.findall(zh[key])), key


def test_every_setting_has_a_label_in_both_languages() -> None:
    fields = load_strings()["LLMPROXY_FIELDS"]
    names = {f.name for f in settings_form.editable_fields()}
    assert set(fields["en"]) == names
    assert set(fields["zh"]) == names
    assert set(fields["zh_doc"]) == names


def test_the_page_is_small() -> None:
    total = sum(item.body.__len__() for item in assets.all_assets().values())
    assert set(assets.all_assets()) == set(FILES)
    assert total < 120_000, f"{total} bytes"


def test_the_files_load_from_inside_a_zip(tmp_path: Path) -> None:
    archive = tmp_path / "llmproxy.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((REPO / "llmproxy").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(REPO).as_posix())
    probe = (
        "import sys, json; sys.path.insert(0, sys.argv[1]);"
        "from llmproxy.admin import assets;"
        "found = assets.all_assets();"
        "sizes = {k: len(v.body) for k, v in found.items()};"
        "print(json.dumps({'file': assets.__file__, 'sizes': sizes}))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(archive)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["file"].startswith(str(archive))
    assert report["sizes"] == {name: (STATIC / name).stat().st_size for name in FILES}
