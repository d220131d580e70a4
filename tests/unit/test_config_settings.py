"""Tests for llmproxy.config.settings: ClewdR's keys, types and defaults, round trip.

The field table is the contract with ClewdR users (clewdr-behaviour.md §3.2): a
``clewdr.toml`` written by ClewdR v0.13.4 (or by 0.11.x, with its Gemini/Vertex
keys) must load unchanged and be written back without losing anything.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from llmproxy.config import FIELDS, ConfigError, Settings
from llmproxy.config.settings import ANTHROPIC_BASE, DEFAULT_CLIENT_ID
from llmproxy.config.toml_writer import dumps

# --- a ClewdR v0.13.4 file, written the way ClewdR writes it --------------------------------------

COOKIE_A = "sk-ant-sid01-" + "Aa0_-" * 17 + "x" + "-abcdefAA"
COOKIE_B = "sk-ant-sid02-" + "Zz9" * 30 + "-QRSTUVAA"
COOKIE_FREE = "sk-ant-sid01-" + "f" * 90 + "-freefrAA"
COOKIE_429 = "sk-ant-sid01-" + "r" * 100 + "-ratelmAA"

CLEWDR_FILE = f"""\
ip = "0.0.0.0"
port = 9090
check_update = false
auto_update = true
no_fs = false
log_to_file = true
password = "api-password-0123456789"
admin_password = "admin-password-9876543210"
proxy = "socks5://user:pw@127.0.0.1:1080"
rproxy = "https://rp.example.com/anthropic/"
max_retries = 3
preserve_chats = true
web_search = true
enable_web_count_tokens = true
sanitize_messages = true
skip_first_warning = true
skip_second_warning = true
skip_restricted = true
skip_non_pro = true
skip_rate_limit = false
skip_normal_pro = true
use_real_roles = false
custom_h = "User"
custom_a = "Bot"
custom_prompt = "Continue the conversation."
claude_code_client_id = "00000000-1111-2222-3333-444444444444"
custom_system = "You are terse.\\nAnswer in English."
some_future_flag = true
padtxt_len = 1000

[persistence]
mode = "file"
retention_days = 30

[vertex]
model_id = "gemini-2.5-pro"

[[vertex.credentials]]
type = "service_account"
project_id = "proj-1"
private_key_id = "0123abcd"
private_key = "-----BEGIN PRIVATE KEY-----\\nMIIEv...\\n-----END PRIVATE KEY-----\\n"
client_email = "svc-1@proj-1.iam.gserviceaccount.com"
client_id = "1234567890"
token_uri = "https://oauth2.googleapis.com/token"

[[vertex.credentials]]
type = "service_account"
project_id = "proj-2"
private_key_id = "4567ef01"
private_key = "-----BEGIN PRIVATE KEY-----\\nMIIEw...\\n-----END PRIVATE KEY-----\\n"
client_email = "svc-2@proj-2.iam.gserviceaccount.com"
client_id = "0987654321"
token_uri = "https://oauth2.googleapis.com/token"

[[cookie_array]]
cookie = "{COOKIE_A}"
count_tokens_allowed = true
session_resets_at = 1785003600
weekly_resets_at = 1785600000
resets_last_checked_at = 1784999000
session_has_reset = false

[cookie_array.token]
access_token = "sk-ant-oat01-access"
expires_in = 28800
refresh_token = "sk-ant-ort01-refresh"
expires_at = 1785028800.5

[cookie_array.token.organization]
uuid = "8d5a1c2e-0000-4000-8000-123456789abc"

[cookie_array.session_usage]
total_input_tokens = 1200
total_output_tokens = 340
sonnet_input_tokens = 1200
sonnet_output_tokens = 340
opus_input_tokens = 0
opus_output_tokens = 0

[cookie_array.lifetime_usage]
total_input_tokens = 98765
total_output_tokens = 4321
sonnet_input_tokens = 90000
sonnet_output_tokens = 4000
opus_input_tokens = 8765
opus_output_tokens = 321

[[cookie_array]]
cookie = "{COOKIE_B}"
reset_time = 1785000000

[[wasted_cookie]]
cookie = "{COOKIE_FREE}"
reason = "Free"

[[wasted_cookie]]
cookie = "{COOKIE_429}"
reason = {{ TooManyRequest = 1785000000 }}

[[gemini_keys]]
key = "AIzaSyA-00000000000000000000000000000000"
count_403 = 0

[[gemini_keys]]
key = "AIzaSyB_11111111111111111111111111111111"
count_403 = 2
"""

KNOWN_ORDER = [
    "ip",
    "port",
    "check_update",
    "auto_update",
    "no_fs",
    "log_to_file",
    "password",
    "admin_password",
    "proxy",
    "rproxy",
    "max_retries",
    "preserve_chats",
    "web_search",
    "enable_web_count_tokens",
    "sanitize_messages",
    "skip_first_warning",
    "skip_second_warning",
    "skip_restricted",
    "skip_non_pro",
    "skip_rate_limit",
    "skip_normal_pro",
    "use_real_roles",
    "custom_h",
    "custom_a",
    "custom_prompt",
    "claude_code_client_id",
    "custom_system",
    "cookie_array",
    "wasted_cookie",
    "gemini_keys",
    "vertex",
]

# name -> (kind, default): ClewdR v0.13.4's table, plus the 0.11.x legacy keys.
CLEWDR_DEFAULTS: dict[str, tuple[str, Any]] = {
    "ip": ("str", "127.0.0.1"),
    "port": ("int", 8484),
    "check_update": ("bool", True),
    "auto_update": ("bool", False),
    "no_fs": ("bool", False),
    "log_to_file": ("bool", False),
    "password": ("str", ""),
    "admin_password": ("str", ""),
    "proxy": ("optstr", None),
    "rproxy": ("optstr", None),
    "max_retries": ("int", 5),
    "preserve_chats": ("bool", False),
    "web_search": ("bool", False),
    "enable_web_count_tokens": ("bool", False),
    "sanitize_messages": ("bool", False),
    "skip_first_warning": ("bool", False),
    "skip_second_warning": ("bool", False),
    "skip_restricted": ("bool", False),
    "skip_non_pro": ("bool", False),
    "skip_rate_limit": ("bool", True),
    "skip_normal_pro": ("bool", False),
    "use_real_roles": ("bool", True),
    "custom_h": ("optstr", None),
    "custom_a": ("optstr", None),
    "custom_prompt": ("str", ""),
    "claude_code_client_id": ("optstr", None),
    "custom_system": ("optstr", None),
    "cookie_array": ("list", []),
    "wasted_cookie": ("list", []),
    "gemini_keys": ("list", []),
    "vertex": ("table", {}),
}


def load(text: str) -> Settings:
    return Settings.from_document(tomllib.loads(text))


# --- the field table ------------------------------------------------------------------------------


LLMPROXY_DEFAULTS = {
    "max_concurrent_per_cookie": ("int", 0),
    "models": ("list", []),
    "think_tags": ("bool", False),
    "gemini_endpoint": ("optstr", None),
    "vertex_endpoint": ("optstr", None),
    "gemini_safety_off": ("bool", True),
    "cookie_meta": ("list", []),
}


def test_field_table_is_clewdrs_in_clewdrs_order() -> None:
    """ClewdR's keys first, in its order, then llmproxy's own (which ClewdR ignores)."""
    ours = [f for f in FIELDS if f.name in LLMPROXY_DEFAULTS]
    clewdrs = [f for f in FIELDS if f.name not in LLMPROXY_DEFAULTS]
    assert FIELDS[-len(ours):] == tuple(ours)
    assert {f.name: (f.kind, f.default) for f in ours} == LLMPROXY_DEFAULTS
    assert [f.name for f in clewdrs] == KNOWN_ORDER
    assert {f.name: (f.kind, f.default) for f in clewdrs} == CLEWDR_DEFAULTS
    for f in clewdrs:
        kind, default = CLEWDR_DEFAULTS[f.name]
        # bool is an int in Python: make sure True did not become 1 or the reverse.
        assert type(f.default) is type(default), f.name
        assert f.doc.strip(), f"{f.name} has no doc line"


def test_settings_defaults_equal_the_field_table() -> None:
    s = Settings()
    for name, (kind, default) in CLEWDR_DEFAULTS.items():
        value = getattr(s, name)
        if kind in ("tables", "list"):
            assert list(value) == default, name
        elif kind == "table":
            assert dict(value) == default, name
        else:
            assert value == default, name
            assert type(value) is type(default), name
    assert dict(s.extra) == {}


def test_empty_file_gives_the_defaults() -> None:
    assert Settings.from_document({}) == Settings()
    assert load("") == Settings()


def test_derived_defaults_match_clewdr() -> None:
    s = Settings()
    assert s.oauth_client_id == DEFAULT_CLIENT_ID == "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    assert s.anthropic_base == ANTHROPIC_BASE == "https://api.anthropic.com"


def test_defaults_document_leaves_out_unset_optional_keys() -> None:
    doc = Settings().to_document()
    for name in (
        "proxy",
        "rproxy",
        "custom_h",
        "custom_a",
        "claude_code_client_id",
        "custom_system",
    ):
        assert name not in doc, name
    assert "vertex" not in doc  # empty legacy table is not written
    assert doc["cookie_array"] == []
    assert doc["wasted_cookie"] == []
    assert doc["password"] == ""
    assert doc["custom_prompt"] == ""
    assert tomllib.loads(dumps(doc)) == doc


# --- a real ClewdR file ---------------------------------------------------------------------------


def test_clewdr_file_loads_into_the_right_values() -> None:
    s = load(CLEWDR_FILE)
    assert s.ip == "0.0.0.0"
    assert s.port == 9090
    assert s.check_update is False
    assert s.auto_update is True
    assert s.no_fs is False
    assert s.log_to_file is True
    assert s.password == "api-password-0123456789"
    assert s.admin_password == "admin-password-9876543210"
    assert s.proxy == "socks5://user:pw@127.0.0.1:1080"
    assert s.rproxy == "https://rp.example.com/anthropic/"
    assert s.max_retries == 3
    for name in (
        "preserve_chats",
        "web_search",
        "enable_web_count_tokens",
        "sanitize_messages",
        "skip_first_warning",
        "skip_second_warning",
        "skip_restricted",
        "skip_non_pro",
        "skip_normal_pro",
    ):
        assert getattr(s, name) is True, name
    assert s.skip_rate_limit is False
    assert s.use_real_roles is False
    assert s.custom_h == "User"
    assert s.custom_a == "Bot"
    assert s.custom_prompt == "Continue the conversation."
    assert s.claude_code_client_id == "00000000-1111-2222-3333-444444444444"
    assert s.oauth_client_id == "00000000-1111-2222-3333-444444444444"
    assert s.custom_system == "You are terse.\nAnswer in English."

    assert [c["cookie"] for c in s.cookie_array] == [COOKIE_A, COOKIE_B]
    first = s.cookie_array[0]
    assert first["token"]["access_token"] == "sk-ant-oat01-access"
    assert first["token"]["expires_at"] == 1785028800.5
    assert first["token"]["organization"] == {"uuid": "8d5a1c2e-0000-4000-8000-123456789abc"}
    assert first["session_usage"]["total_input_tokens"] == 1200
    assert first["lifetime_usage"]["opus_output_tokens"] == 321
    assert first["session_has_reset"] is False
    assert s.cookie_array[1] == {"cookie": COOKIE_B, "reset_time": 1785000000}

    assert list(s.wasted_cookie) == [
        {"cookie": COOKIE_FREE, "reason": "Free"},
        {"cookie": COOKIE_429, "reason": {"TooManyRequest": 1785000000}},
    ]
    assert list(s.gemini_keys) == [
        {"key": "AIzaSyA-00000000000000000000000000000000", "count_403": 0},
        {"key": "AIzaSyB_11111111111111111111111111111111", "count_403": 2},
    ]
    assert s.vertex["model_id"] == "gemini-2.5-pro"
    assert [c["client_email"] for c in s.vertex["credentials"]] == [
        "svc-1@proj-1.iam.gserviceaccount.com",
        "svc-2@proj-2.iam.gserviceaccount.com",
    ]
    assert s.vertex["credentials"][0]["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")

    assert dict(s.extra) == {
        "some_future_flag": True,
        "padtxt_len": 1000,
        "persistence": {"mode": "file", "retention_days": 30},
    }


def test_clewdr_file_round_trips_without_losing_anything() -> None:
    original = tomllib.loads(CLEWDR_FILE)
    s = Settings.from_document(original)
    text = dumps(s.to_document())
    assert tomllib.loads(text) == original
    # And reading what we wrote gives the same settings and the same text again.
    again = load(text)
    assert again == s
    assert dumps(again.to_document()) == text


def test_document_has_known_keys_first_in_clewdr_order_then_unknown_ones() -> None:
    doc = load(CLEWDR_FILE).to_document()
    assert list(doc) == KNOWN_ORDER + ["some_future_flag", "padtxt_len", "persistence"]


def test_written_text_puts_known_plain_keys_first_in_clewdr_order() -> None:
    text = dumps(load(CLEWDR_FILE).to_document())
    top = text.split("\n[", 1)[0]  # the top-level pairs, before the first header
    keys = re.findall(r"^([A-Za-z0-9_-]+) = ", top, flags=re.M)
    plain_known = [
        k
        for k in KNOWN_ORDER
        if k not in ("cookie_array", "wasted_cookie", "gemini_keys", "vertex")
    ]
    assert keys == plain_known + ["some_future_flag", "padtxt_len"]
    # Every table survives as a table.
    for header in (
        "[persistence]",
        "[vertex]",
        "[[vertex.credentials]]",
        "[[cookie_array]]",
        "[cookie_array.token.organization]",
        "[[wasted_cookie]]",
        "[[gemini_keys]]",
    ):
        assert f"\n{header}\n" in text, header


def test_unknown_keys_of_every_shape_are_kept() -> None:
    doc = {
        "some_future_flag": True,
        "future_number": 1.5,
        "future_list": [1, 2, 3],
        "future_table": {"nested": {"deep": "x"}},
        "future_tables": [{"a": 1}, {"a": 2}],
        "cache_response": 0,  # a key ClewdR removed in v0.10.11
    }
    s = Settings.from_document(doc)
    assert dict(s.extra) == doc
    assert tomllib.loads(dumps(s.to_document())) == {**Settings().to_document(), **doc}


def test_legacy_gemini_keys_as_plain_strings_are_kept() -> None:
    s = load('gemini_keys = ["AIzaSyA-0000", "AIzaSyB-1111"]\n')
    assert list(s.gemini_keys) == ["AIzaSyA-0000", "AIzaSyB-1111"]
    assert tomllib.loads(dumps(s.to_document()))["gemini_keys"] == ["AIzaSyA-0000", "AIzaSyB-1111"]


def test_legacy_single_vertex_credential_is_kept() -> None:
    text = '[vertex.credential]\nclient_email = "a@b.iam.gserviceaccount.com"\nproject_id = "p"\n'
    s = load(text)
    assert tomllib.loads(dumps(s.to_document()))["vertex"] == tomllib.loads(text)["vertex"]


# --- wrong values are refused, naming the key -----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("port", "abc"),
        ("port", 8484.0),
        ("port", True),  # a bool is not a port, even though Python thinks it is an int
        ("max_retries", "5"),
        ("max_retries", False),
        ("ip", 127),
        ("check_update", "yes"),  # the file is TOML: booleans are true/false, not strings
        ("no_fs", 1),
        ("password", 12345),
        ("admin_password", ["a"]),
        ("custom_prompt", False),
        ("proxy", 8080),
        ("rproxy", {"url": "https://x"}),
        ("custom_h", 1),
        ("cookie_array", {"cookie": "x"}),
        ("wasted_cookie", "Free"),
        ("gemini_keys", "AIzaSy"),
        ("vertex", [{"credentials": []}]),
    ],
)
def test_wrong_type_names_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_document({key: value})
    message = str(info.value)
    assert message.startswith(f"{key}:"), message
    assert repr(value) in message


def test_wrong_type_from_the_toml_file_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^port: expected an integer, got 'abc'$"):
        load('port = "abc"\n')


@pytest.mark.parametrize(
    "ip", ["localhost", "256.0.0.1", "1.2.3", "", " 127.0.0.1", "0.0.0.0:8484"]
)
def test_bad_ip_is_refused(ip: str) -> None:
    with pytest.raises(ConfigError, match=r"^ip: "):
        Settings.from_document({"ip": ip})


@pytest.mark.parametrize("ip", ["127.0.0.1", "0.0.0.0", "::", "::1", "192.168.1.20"])
def test_good_ip_is_accepted(ip: str) -> None:
    assert Settings.from_document({"ip": ip}).ip == ip


@pytest.mark.parametrize("port", [-1, 65536, 100000, -(2**63)])
def test_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(ConfigError, match=r"^port: .*0-65535"):
        Settings.from_document({"port": port})


@pytest.mark.parametrize("port", [0, 1, 8484, 65535])
def test_port_in_range_is_accepted(port: int) -> None:
    assert Settings.from_document({"port": port}).port == port


def test_negative_max_retries_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^max_retries: "):
        Settings.from_document({"max_retries": -1})
    assert Settings.from_document({"max_retries": 0}).max_retries == 0


@pytest.mark.parametrize(
    "url",
    [
        "localhost:8080",  # no scheme
        "127.0.0.1:8080",
        "http://",  # no host
        "http://:8080",
        "ftp://proxy.example:21",  # a scheme no HTTP client proxies through
        "http://proxy.example:99999",  # port out of range
        "http://proxy.example:port",
        "http://[::1",
        "just words",
    ],
)
def test_bad_proxy_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^proxy: "):
        Settings.from_document({"proxy": url})


def test_bad_proxy_message_hides_the_proxy_password() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_document({"proxy": "http://user:hunter2@proxy.example:99999"})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "https://proxy.example",
        "socks5://user:pw@127.0.0.1:1080",
        "socks5h://127.0.0.1:1080",
        "HTTP://PROXY.EXAMPLE:3128",
        "http://[::1]:3128",
    ],
)
def test_good_proxy_url_is_accepted(url: str) -> None:
    assert Settings.from_document({"proxy": url}).proxy == url


@pytest.mark.parametrize(
    "url",
    [
        "rp.example.com",
        "https://",
        "socks5://rp.example",
        "https://rp.example?key=1",
        "https://rp.example/#x",
    ],
)
def test_bad_rproxy_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^rproxy: "):
        Settings.from_document({"rproxy": url})


@pytest.mark.parametrize(
    "key", ["custom_h", "custom_a", "proxy", "rproxy", "claude_code_client_id", "custom_system"]
)
def test_empty_optional_string_means_unset(key: str) -> None:
    s = Settings.from_document({key: ""})
    assert getattr(s, key) is None
    assert key not in s.to_document()


def test_empty_custom_h_falls_back_and_client_id_defaults() -> None:
    s = load('custom_h = ""\ncustom_a = ""\nclaude_code_client_id = ""\n')
    assert s.custom_h is None
    assert s.custom_a is None
    assert s.oauth_client_id == DEFAULT_CLIENT_ID


def test_empty_plain_strings_stay_empty_strings() -> None:
    s = load('custom_prompt = ""\npassword = ""\n')
    assert s.custom_prompt == ""
    assert s.password == ""


def test_replace_checks_like_the_file() -> None:
    s = Settings()
    assert s.replace(port=9000, custom_h="").port == 9000
    assert s.replace(custom_h="").custom_h is None
    with pytest.raises(ConfigError, match=r"^port: "):
        s.replace(port="9000")
    with pytest.raises(ConfigError, match=r"^port: "):
        s.replace(port=70000)
    with pytest.raises(ConfigError, match=r"^proxy: "):
        s.replace(proxy="nonsense")
    assert s.port == 8484  # the original is untouched


def test_settings_are_immutable() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


# --- rproxy moves every Anthropic call ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rproxy", "url"),
    [
        (None, "https://api.anthropic.com/v1/messages"),
        ("", "https://api.anthropic.com/v1/messages"),
        ("https://rp.example.com", "https://rp.example.com/v1/messages"),
        ("https://rp.example.com/", "https://rp.example.com/v1/messages"),
        ("https://rp.example.com//", "https://rp.example.com/v1/messages"),
        ("https://rp.example.com/anthropic", "https://rp.example.com/anthropic/v1/messages"),
        ("https://rp.example.com/anthropic/", "https://rp.example.com/anthropic/v1/messages"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/v1/messages"),
    ],
)
def test_anthropic_url_follows_rproxy(rproxy: str | None, url: str) -> None:
    s = Settings.from_document({} if rproxy is None else {"rproxy": rproxy})
    assert s.anthropic_url("/v1/messages") == url
    assert s.anthropic_base + "/v1/messages" == url
    assert not s.anthropic_base.endswith("/")


def test_anthropic_url_covers_oauth_endpoints_too() -> None:
    s = Settings.from_document({"rproxy": "https://rp.example.com/"})
    assert s.anthropic_url("/v1/oauth/token") == "https://rp.example.com/v1/oauth/token"
    assert s.anthropic_url("/api/oauth/usage") == "https://rp.example.com/api/oauth/usage"
