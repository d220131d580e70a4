"""Tests for llmproxy.config.env: ``CLEWDR_*`` overrides, coerced as ClewdR does.

Every rule of clewdr-behaviour.md §3.3 separately, then the whole path through
``ConfigStore.load`` (the environment wins over the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmproxy.config import ConfigError, ConfigStore
from llmproxy.config.env import apply_env, coerce

COOKIE_1 = "sk-ant-sid01-" + "a" * 86 + "-abcdefAA"
COOKIE_2 = "sk-ant-sid01-" + "b" * 100 + "-ghijklAA"


def run_env(
    environ: dict[str, str], doc: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Apply ``environ`` to a copy of ``doc``; returns the doc, applied keys, warnings."""
    result = dict(doc or {})
    warnings: list[str] = []
    applied = apply_env(result, environ, warnings.append)
    return result, applied, warnings


# --- strings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["12345", "true", "1.5", "-5", "007", "[a,b]", "0x1f", "{a=1}", "", "p@ss w0rd!"]
)
def test_string_key_takes_the_value_verbatim(raw: str) -> None:
    # ClewdR's v0.13 fix: a numeric-looking password is a password, not a number.
    value = coerce("password", raw)
    assert value == raw
    assert type(value) is str


def test_numeric_password_from_env_stays_the_string() -> None:
    doc, applied, warnings = run_env({"CLEWDR_PASSWORD": "12345"})
    assert doc == {"password": "12345"}
    assert applied == ["password"]
    assert warnings == []


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ('"12345"', "12345"),
        ('"hello world"', "hello world"),
        ('"true"', "true"),
        ('"a,b"', "a,b"),
        ('""', ""),
        ('" "', " "),
        ('"a\\"b"', 'a"b'),  # TOML escapes inside a real quoted string
        ('"tab\\there"', "tab\there"),
        ('"line1\nline2"', "line1\nline2"),  # a literal newline inside the quotes (.env files)
        ('  "  padded  "  ', "  padded  "),  # quoting is how padding is kept
    ],
)
def test_one_double_quoted_string_is_unquoted(raw: str, want: str) -> None:
    assert coerce("password", raw) == want


@pytest.mark.parametrize(
    "raw",
    [
        "'12345'",  # single quotes are kept (ClewdR issue #157)
        'say "hi"',  # quotes inside
        '"a" "b"',  # two strings, not one
        '"12345',  # unbalanced
        '12345"',
        '"""',  # not a string literal
        '""""',
        '"',
        '"bad \\q escape"',
    ],
)
def test_a_value_that_is_not_one_quoted_string_is_kept_literally(raw: str) -> None:
    assert coerce("password", raw) == raw


def test_single_quotes_are_kept_through_apply_env() -> None:
    doc, _, _ = run_env({"CLEWDR_ADMIN_PASSWORD": "'12345'"})
    assert doc["admin_password"] == "'12345'"


@pytest.mark.parametrize(("raw", "want"), [("  spaced  ", "spaced"), ("\tx\n", "x"), (" \r\n", "")])
def test_surrounding_whitespace_is_trimmed(raw: str, want: str) -> None:
    assert coerce("password", raw) == want


def test_optional_string_keys_are_strings_too() -> None:
    assert coerce("proxy", "http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert coerce("custom_h", '"Human"') == "Human"
    assert coerce("claude_code_client_id", "1234") == "1234"
    assert coerce("ip", " 0.0.0.0 ") == "0.0.0.0"


# --- booleans -------------------------------------------------------------------------------------

TRUE_SPELLINGS = ["true", "TRUE", "True", "tRuE", "yes", "YES", "Yes", "on", "ON", "On", "1"]
FALSE_SPELLINGS = ["false", "FALSE", "False", "fAlSe", "no", "NO", "No", "off", "OFF", "Off", "0"]


@pytest.mark.parametrize("raw", TRUE_SPELLINGS + [" yes ", '"true"', '"ON"'])
def test_true_spellings(raw: str) -> None:
    assert coerce("check_update", raw) is True


@pytest.mark.parametrize("raw", FALSE_SPELLINGS + [" off\n", '"false"', '"0"'])
def test_false_spellings(raw: str) -> None:
    assert coerce("check_update", raw) is False


@pytest.mark.parametrize(
    "raw", ["maybe", "", "2", "enabled", "t", "y", "n", "truee", "'true'", "1.0"]
)
def test_unparsable_bool_is_ignored_with_a_warning_and_the_file_value_stands(raw: str) -> None:
    with pytest.raises(ValueError, match="true/false"):
        coerce("check_update", raw)
    doc, applied, warnings = run_env({"CLEWDR_CHECK_UPDATE": raw}, {"check_update": False})
    assert doc == {"check_update": False}
    assert applied == []
    assert len(warnings) == 1
    assert "CLEWDR_CHECK_UPDATE" in warnings[0]


# --- integers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "want"),
    [("6666", 6666), ("0", 0), (" 7 ", 7), ("+9", 9), ("-1", -1), ('"6666"', 6666), ("007", 7)],
)
def test_integers_are_parsed(raw: str, want: int) -> None:
    value = coerce("port", raw)
    assert value == want
    assert type(value) is int


@pytest.mark.parametrize(
    "raw",
    [
        "notanumber",
        "1.5",
        "",
        "1e3",
        "0x1f",
        "1_000",  # Python's int() takes this; ClewdR (Rust i64 parsing) does not
        "\uff18\uff14\uff18\uff14",  # full-width digits: same
        "12 34",
        "9223372036854775808",  # outside i64
        "'8484'",
        "true",
    ],
)
def test_unparsable_integer_is_ignored_with_a_warning_and_the_file_value_stands(raw: str) -> None:
    with pytest.raises(ValueError, match="integer"):
        coerce("port", raw)
    doc, applied, warnings = run_env({"CLEWDR_PORT": raw}, {"port": 7777})
    assert doc == {"port": 7777}
    assert applied == []
    assert len(warnings) == 1
    assert "CLEWDR_PORT" in warnings[0]


# --- arrays and tables as TOML fragments ----------------------------------------------------------


def test_cookie_array_from_a_toml_fragment() -> None:
    raw = f'[{{cookie="{COOKIE_1}"}},{{cookie="{COOKIE_2}", reset_time=1785000000}}]'
    doc, applied, warnings = run_env({"CLEWDR_COOKIE_ARRAY": raw})
    assert doc["cookie_array"] == [
        {"cookie": COOKIE_1},
        {"cookie": COOKIE_2, "reset_time": 1785000000},
    ]
    assert applied == ["cookie_array"]
    assert warnings == []


def test_wasted_cookie_fragment_with_a_tagged_reason() -> None:
    raw = (
        f'[{{cookie="{COOKIE_1}", reason={{TooManyRequest=1785000000}}}}, '
        f'{{cookie="{COOKIE_2}", reason="Free"}}]'
    )
    assert coerce("wasted_cookie", raw) == [
        {"cookie": COOKIE_1, "reason": {"TooManyRequest": 1785000000}},
        {"cookie": COOKIE_2, "reason": "Free"},
    ]


def test_vertex_table_from_a_toml_fragment() -> None:
    raw = (
        '{credentials=[{client_email="svc@p.iam.gserviceaccount.com", '
        'project_id="p", private_key="k\\nk"}]}'
    )
    assert coerce("vertex", raw) == {
        "credentials": [
            {
                "client_email": "svc@p.iam.gserviceaccount.com",
                "project_id": "p",
                "private_key": "k\nk",
            }
        ]
    }


def test_gemini_keys_from_a_toml_fragment() -> None:
    assert coerce("gemini_keys", '["AIzaSyA-0", "AIzaSyB-1"]') == ["AIzaSyA-0", "AIzaSyB-1"]


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("cookie_array", "[[a],[b"),  # not TOML
        ("cookie_array", "sk-ant-sid01-bare"),  # a bare string is not a fragment
        ("cookie_array", '{cookie="x"}'),  # a table where an array is wanted
        ("vertex", "[1, 2]"),  # an array where a table is wanted
        ("vertex", ""),
        ("gemini_keys", '"AIzaSy"'),
    ],
)
def test_malformed_fragment_is_ignored_with_a_warning(key: str, raw: str) -> None:
    with pytest.raises(ValueError, match="TOML"):
        coerce(key, raw)
    doc, applied, warnings = run_env({f"CLEWDR_{key.upper()}": raw}, {key: "file value"})
    assert doc == {key: "file value"}
    assert applied == []
    assert len(warnings) == 1
    assert f"CLEWDR_{key.upper()}" in warnings[0]


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["CLEWDR_PORT", "clewdr_port", "Clewdr_Port", "CLEWDR_port", "clewdr_PORT"]
)
def test_prefix_and_key_are_case_insensitive(name: str) -> None:
    doc, applied, warnings = run_env({name: "6666"})
    assert doc == {"port": 6666}
    assert applied == ["port"]
    assert warnings == []


def test_rest_of_the_name_is_the_key() -> None:
    doc, applied, _ = run_env(
        {"CLEWDR_SKIP_NON_PRO": "true", "CLEWDR_ENABLE_WEB_COUNT_TOKENS": "on"}
    )
    assert doc == {"skip_non_pro": True, "enable_web_count_tokens": True}
    assert applied == ["skip_non_pro", "enable_web_count_tokens"]


@pytest.mark.parametrize(
    "name", ["PORT", "PATH", "CLEWDR", "XCLEWDR_PORT", "CLEWDRPORT", "CLEWD_PORT"]
)
def test_variables_without_the_prefix_are_left_alone(name: str) -> None:
    doc, applied, warnings = run_env({name: "6666"})
    assert doc == {}
    assert applied == []
    assert warnings == []


@pytest.mark.parametrize(
    "name",
    [
        "CLEWDR_NOT_A_REAL_KEY",
        "CLEWDR_EXTRA",
        "CLEWDR_PERSISTENCE__MODE",
        "CLEWDR_",
        "CLEWDR_VERTEX_CREDENTIAL",
    ],
)
def test_unknown_key_is_warned_and_ignored(name: str) -> None:
    doc, applied, warnings = run_env({name: "x"}, {"port": 1})
    assert doc == {"port": 1}
    assert applied == []
    assert len(warnings) == 1
    assert name in warnings[0]


def test_applied_keys_come_in_environment_order_and_others_pass_through() -> None:
    environ = {
        "HOME": "/root",
        "CLEWDR_WEB_SEARCH": "1",
        "CLEWDR_BOGUS": "x",
        "CLEWDR_IP": "0.0.0.0",
    }
    doc, applied, warnings = run_env(environ, {"port": 1, "unknown_file_key": [1]})
    assert doc == {"port": 1, "unknown_file_key": [1], "web_search": True, "ip": "0.0.0.0"}
    assert applied == ["web_search", "ip"]
    assert len(warnings) == 1
    assert "CLEWDR_BOGUS" in warnings[0]


# --- through the store: the environment wins over the file ----------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_env_wins_over_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "clewdr.toml",
        'port = 7777\npassword = "from-file"\nadmin_password = "admin"\n'
        'check_update = true\ncustom_h = "H"\n',
    )
    environ = {
        "CLEWDR_PORT": "6666",
        "CLEWDR_PASSWORD": "12345",
        "CLEWDR_CHECK_UPDATE": "FALSE",
        "CLEWDR_COOKIE_ARRAY": f'[{{cookie="{COOKIE_1}"}}]',
    }
    loaded = ConfigStore(path).load(environ)
    s = loaded.settings
    assert (s.port, s.password, s.check_update) == (6666, "12345", False)
    assert s.admin_password == "admin"
    assert s.custom_h == "H"
    assert list(s.cookie_array) == [{"cookie": COOKIE_1}]
    assert loaded.env_keys == ("port", "password", "check_update", "cookie_array")
    assert loaded.generated == ()


def test_docker_and_hugging_face_environments(tmp_path: Path) -> None:
    # What ClewdR's Dockerfile and HF Space page set, on a host with no file yet.
    environ = {
        "CLEWDR_IP": "0.0.0.0",
        "CLEWDR_PORT": "7860",
        "CLEWDR_CHECK_UPDATE": "FALSE",
        "CLEWDR_AUTO_UPDATE": "FALSE",
        "CLEWDR_NO_FS": "TRUE",
        "CLEWDR_PASSWORD": '"secret-api"',
        "CLEWDR_ADMIN_PASSWORD": "secret-admin",
    }
    loaded = ConfigStore(tmp_path / "clewdr.toml").load(environ)
    s = loaded.settings
    assert (s.ip, s.port, s.check_update, s.auto_update, s.no_fs) == (
        "0.0.0.0",
        7860,
        False,
        False,
        True,
    )
    assert (s.password, s.admin_password) == ("secret-api", "secret-admin")
    assert loaded.generated == ()


def test_unparsable_env_value_keeps_the_file_value(tmp_path: Path) -> None:
    path = write(
        tmp_path / "clewdr.toml",
        'port = 7777\nweb_search = true\npassword = "p"\nadmin_password = "a"\n',
    )
    warnings: list[str] = []
    loaded = ConfigStore(path).load(
        {"CLEWDR_PORT": "seven", "CLEWDR_WEB_SEARCH": "sometimes"}, warnings.append
    )
    assert (loaded.settings.port, loaded.settings.web_search) == (7777, True)
    assert loaded.env_keys == ()
    assert len(warnings) == 2


def test_env_can_repair_a_wrong_file_value(tmp_path: Path) -> None:
    path = write(tmp_path / "clewdr.toml", 'port = "abc"\n')
    assert ConfigStore(path).load({"CLEWDR_PORT": "6666"}).settings.port == 6666


def test_env_value_out_of_range_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port"):
        ConfigStore(tmp_path / "clewdr.toml").load({"CLEWDR_PORT": "70000"})
    with pytest.raises(ConfigError, match="proxy"):
        ConfigStore(tmp_path / "clewdr.toml").load({"CLEWDR_PROXY": "localhost:8080"})


def test_empty_env_value_unsets_optional_and_regenerates_password(tmp_path: Path) -> None:
    path = write(
        tmp_path / "clewdr.toml",
        'password = "file-pass"\nadmin_password = "a"\nproxy = "http://p:1"\n',
    )
    loaded = ConfigStore(path).load({"CLEWDR_PASSWORD": '""', "CLEWDR_PROXY": ""})
    assert loaded.settings.proxy is None
    assert loaded.generated == ("password",)
    assert len(loaded.settings.password) == 64
