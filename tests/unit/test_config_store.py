"""Tests for llmproxy.config.store: loading, atomic 0600 saves, never losing the file.

The promises (module docstring of store.py, clewdr-behaviour.md §3.4): a file that
does not parse is refused and left exactly as it was; a save goes through a temp
file in the same folder, fsync and rename, so a crash leaves the old file whole
and no temp file; saves are serialised and the latest state wins; ``no_fs`` means
no writes at all.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmproxy.config import ConfigError, ConfigStore, Settings
from llmproxy.config import store as store_module

COOKIE = "sk-ant-sid01-" + "c" * 90 + "-abcdefAA"

GOOD_FILE = f"""\
ip = "127.0.0.1"
port = 8585
password = "api-pass"
admin_password = "admin-pass"
some_future_flag = true

[persistence]
mode = "file"

[[cookie_array]]
cookie = "{COOKIE}"

[cookie_array.token]
access_token = "sk-ant-oat01-x"
expires_at = 1785028800.5

[[wasted_cookie]]
cookie = "{COOKIE}"
reason = {{ TooManyRequest = 1785000000 }}
"""


def write(path: Path, text: str | bytes, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    path.chmod(mode)
    return path


def snapshot_of(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, stat.S_IMODE(st.st_mode)


def folder(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- loading --------------------------------------------------------------------------------------


def test_missing_file_is_created_on_first_save(tmp_path: Path) -> None:
    path = tmp_path / "clewdr.toml"
    store = ConfigStore(path)
    loaded = store.load({})
    assert loaded.created is True
    assert loaded.needs_save is True
    assert loaded.generated == ("password", "admin_password")
    assert not path.exists()  # loading never writes
    assert store.save_sync(loaded.settings) is True
    assert folder(tmp_path) == ["clewdr.toml"]
    again = store.load({})
    assert again.created is False
    assert again.needs_save is False
    assert again.settings == loaded.settings


def test_existing_complete_file_needs_no_save(tmp_path: Path) -> None:
    path = write(tmp_path / "clewdr.toml", GOOD_FILE)
    loaded = ConfigStore(path).load({})
    assert (loaded.created, loaded.generated, loaded.env_keys, loaded.needs_save) == (
        False,
        (),
        (),
        False,
    )
    assert loaded.settings.port == 8585
    assert loaded.settings.extra["persistence"] == {"mode": "file"}


def test_store_without_path_loads_env_only_and_never_saves(tmp_path: Path) -> None:
    store = ConfigStore(None)
    loaded = store.load({"CLEWDR_PORT": "9999"})
    assert loaded.settings.port == 9999
    assert loaded.created
    assert store.save_sync(loaded.settings) is False
    assert store.saves == 0


def test_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = ConfigStore("clewdr.toml")
    assert store.path == tmp_path / "clewdr.toml"
    assert store.path is not None
    assert store.path.is_absolute()


def test_utf8_bom_and_crlf_files_load(tmp_path: Path) -> None:
    # Windows editors write these; ClewdR's TOML parser skips the BOM.
    text = GOOD_FILE.replace("\n", "\r\n")
    path = write(tmp_path / "clewdr.toml", b"\xef\xbb\xbf" + text.encode())
    settings = ConfigStore(path).load({}).settings
    assert settings.port == 8585
    assert settings.password == "api-pass"


# --- a file that cannot be used is refused and left alone -----------------------------------------


BROKEN = 'port = 8484\npassword = "x"\nadmin_password = = "y"\nweb_search = true\n'


def test_broken_toml_is_refused_with_its_line_and_left_untouched(tmp_path: Path) -> None:
    path = write(tmp_path / "clewdr.toml", BROKEN)
    before = snapshot_of(path)
    with pytest.raises(ConfigError) as info:
        ConfigStore(path).load({})
    message = str(info.value)
    assert "line 3" in message
    assert str(path) in message
    assert snapshot_of(path) == before
    assert folder(tmp_path) == ["clewdr.toml"]


def test_broken_toml_is_refused_even_with_env_overrides(tmp_path: Path) -> None:
    path = write(tmp_path / "clewdr.toml", BROKEN)
    before = snapshot_of(path)
    with pytest.raises(ConfigError, match="line 3"):
        ConfigStore(path).load({"CLEWDR_PASSWORD": "p", "CLEWDR_ADMIN_PASSWORD": "a"})
    assert snapshot_of(path) == before


def test_server_refuses_to_start_on_a_broken_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmproxy.cli import main

    for name in list(os.environ):
        if name.lower().startswith("clewdr_"):
            monkeypatch.delenv(name)
    path = write(tmp_path / "clewdr.toml", BROKEN)
    before = snapshot_of(path)
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err
    assert snapshot_of(path) == before
    assert folder(tmp_path) == ["clewdr.toml"]  # no log file, no temp file


def test_create_app_refuses_a_broken_file(tmp_path: Path) -> None:
    from llmproxy import create_app

    path = write(tmp_path / "clewdr.toml", BROKEN)
    before = snapshot_of(path)
    with pytest.raises(ConfigError, match="line 3"):
        create_app(path, environ={})
    assert snapshot_of(path) == before


def test_wrong_type_in_the_file_names_file_and_key_and_leaves_it(tmp_path: Path) -> None:
    path = write(tmp_path / "clewdr.toml", 'port = "abc"\n')
    before = snapshot_of(path)
    with pytest.raises(ConfigError) as info:
        ConfigStore(path).load({})
    assert str(path) in str(info.value)
    assert "port" in str(info.value)
    assert snapshot_of(path) == before


@pytest.mark.parametrize(
    "data", [b'password = "\xff\xfe"\n', b"\xff\xfep\x00o\x00r\x00t\x00", b"port = 1\n\x80\n"]
)
def test_non_utf8_file_is_refused_and_left(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path / "clewdr.toml", data)
    before = snapshot_of(path)
    with pytest.raises(ConfigError, match="UTF-8"):
        ConfigStore(path).load({})
    assert snapshot_of(path) == before


def test_unreadable_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "clewdr.toml").mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        ConfigStore(tmp_path / "clewdr.toml").load({})


# --- saving ---------------------------------------------------------------------------------------


def test_save_writes_0600_and_reloads_equal(tmp_path: Path) -> None:
    path = write(tmp_path / "clewdr.toml", GOOD_FILE)
    store = ConfigStore(path)
    settings = store.load({}).settings.replace(port=9191, custom_h="User")
    assert store.save_sync(settings) is True
    assert mode_of(path) == 0o600
    assert store.load({}).settings == settings
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    assert doc["some_future_flag"] is True  # unknown keys written back
    assert doc["persistence"] == {"mode": "file"}
    assert doc["wasted_cookie"][0]["reason"] == {"TooManyRequest": 1785000000}
    assert store.saves == 1


def test_save_tightens_an_old_0644_file_to_0600(tmp_path: Path) -> None:
    path = write(tmp_path / "clewdr.toml", GOOD_FILE, mode=0o644)
    assert mode_of(path) == 0o644
    store = ConfigStore(path)
    store.save_sync(store.load({}).settings)
    assert mode_of(path) == 0o600


def test_save_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        ConfigStore(tmp_path / "clewdr.toml").save_sync(Settings(password="p", admin_password="a"))
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "clewdr.toml") == 0o600


def test_save_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "clewdr.toml"
    assert ConfigStore(path).save_sync(Settings(password="p", admin_password="a")) is True
    assert mode_of(path) == 0o600
    assert ConfigStore(path).load({}).settings.password == "p"
    assert folder(path.parent) == ["clewdr.toml"]


def test_save_accepts_a_callable_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "clewdr.toml"
    assert ConfigStore(path).save_sync(lambda: Settings(port=1234)) is True
    assert tomllib.loads(path.read_text())["port"] == 1234


def test_no_fs_never_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "clewdr.toml"
    store = ConfigStore(path)
    assert store.save_sync(Settings(no_fs=True)) is False
    assert store.save_sync(lambda: Settings(no_fs=True)) is False
    assert not path.exists()
    assert not path.parent.exists()
    assert folder(tmp_path) == []
    assert store.saves == 0


def test_no_fs_leaves_an_existing_file_untouched(tmp_path: Path) -> None:
    path = write(tmp_path / "clewdr.toml", 'no_fs = true\nport = 1\npassword = "p"\n')
    before = snapshot_of(path)
    store = ConfigStore(path)
    loaded = store.load({})
    assert loaded.settings.no_fs
    assert loaded.needs_save
    assert store.save_sync(loaded.settings) is False  # ...but nothing is written
    assert store.save_sync(loaded.settings.replace(port=2)) is False
    assert snapshot_of(path) == before
    assert folder(tmp_path) == ["clewdr.toml"]


def test_no_fs_from_env_stops_saves(tmp_path: Path) -> None:
    path = write(tmp_path / "clewdr.toml", 'password = "p"\nadmin_password = "a"\n')
    before = snapshot_of(path)
    store = ConfigStore(path)
    settings = store.load({"CLEWDR_NO_FS": "TRUE"}).settings
    assert store.save_sync(settings.replace(port=1)) is False
    assert snapshot_of(path) == before


# --- crashes leave the old file whole and no temp file --------------------------------------------


def _partial_then_fail() -> Callable[..., Any]:
    real_write = os.write
    calls = itertools.count()

    def fake_write(fd: int, data: Any) -> int:
        if next(calls) == 0:
            return real_write(fd, bytes(data[:10]))  # a short write: the loop comes back
        raise OSError(errno.ENOSPC, "No space left on device")

    return fake_write


def _always_fail(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.EIO, "simulated crash")


@pytest.mark.parametrize(
    ("name", "make_fake"),
    [
        ("write", _partial_then_fail),  # a crash while writing
        ("fsync", lambda: _always_fail),  # a crash before the data is durable
        ("replace", lambda: _always_fail),  # a crash between write and rename
    ],
)
def test_crash_during_save_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, make_fake: Callable[[], Any]
) -> None:
    path = write(tmp_path / "clewdr.toml", GOOD_FILE, mode=0o600)
    before = snapshot_of(path)
    store = ConfigStore(path)
    settings = store.load({}).settings.replace(port=1, custom_prompt="x" * 10_000)
    monkeypatch.setattr(os, name, make_fake())
    with pytest.raises(OSError, match="No space|simulated"):
        store.save_sync(settings)
    monkeypatch.undo()
    assert snapshot_of(path) == before
    assert folder(tmp_path) == ["clewdr.toml"]
    assert store.saves == 0
    # And the next save still works.
    assert store.save_sync(settings) is True
    assert store.load({}).settings == settings
    assert folder(tmp_path) == ["clewdr.toml"]


def test_crash_on_first_save_leaves_no_file_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "replace", _always_fail)
    with pytest.raises(OSError, match="simulated"):
        ConfigStore(tmp_path / "clewdr.toml").save_sync(Settings())
    assert folder(tmp_path) == []


def test_save_goes_through_a_temp_file_in_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "clewdr.toml", GOOD_FILE)
    renames: list[tuple[Path, Path, int, bytes]] = []
    fsynced: list[int] = []
    real_replace, real_fsync = os.replace, os.fsync

    def spy_fsync(fd: int) -> None:
        fsynced.append(fd)
        real_fsync(fd)

    def spy_replace(src: Any, dst: Any) -> None:
        src, dst = Path(src), Path(dst)
        renames.append((src, dst, mode_of(src), src.read_bytes()))
        assert fsynced, "renamed before fsync"
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    store = ConfigStore(path)
    store.save_sync(store.load({}).settings)
    [(src, dst, src_mode, data)] = renames
    assert dst == path
    assert src.parent == path.parent
    assert src != path
    assert src_mode == 0o600  # never readable by others, not even for a moment
    assert data == path.read_bytes()


# --- serialisation --------------------------------------------------------------------------------


def test_concurrent_saves_are_serialised_and_the_latest_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clewdr.toml"
    store = ConfigStore(path)
    threads_n = 24
    versions = itertools.count(1)
    written: list[int] = []
    active = 0
    overlaps = 0
    real_write = store_module._write_atomically

    def snapshot() -> Settings:
        return Settings(max_retries=next(versions), password="p", admin_password="a")

    def checking_write(target: Path, data: bytes) -> None:
        nonlocal active, overlaps
        active += 1
        if active > 1:
            overlaps += 1
        try:
            written.append(tomllib.loads(data.decode())["max_retries"])
            real_write(target, data)
        finally:
            active -= 1

    monkeypatch.setattr(store_module, "_write_atomically", checking_write)
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                store.save_sync(snapshot)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert overlaps == 0
    total = threads_n * 3
    assert written == list(range(1, total + 1))  # each save writes a newer state than the last
    assert tomllib.loads(path.read_text())["max_retries"] == total
    assert store.saves == total
    assert folder(tmp_path) == ["clewdr.toml"]
    assert mode_of(path) == 0o600


async def test_async_save_in_trio(tmp_path: Path) -> None:
    path = tmp_path / "clewdr.toml"
    store = ConfigStore(path)
    assert await store.save(Settings(port=4321, password="p", admin_password="a")) is True
    assert await store.save(lambda: Settings(port=4322, password="p", admin_password="a")) is True
    assert await store.save(Settings(no_fs=True)) is False
    assert store.load({}).settings.port == 4322
    assert mode_of(path) == 0o600
    assert folder(tmp_path) == ["clewdr.toml"]


async def test_async_save_failure_raises_and_keeps_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "clewdr.toml", GOOD_FILE)
    before = snapshot_of(path)
    monkeypatch.setattr(os, "replace", _always_fail)
    with pytest.raises(OSError, match="simulated"):
        await ConfigStore(path).save(Settings(port=1))
    assert snapshot_of(path) == before
    assert folder(tmp_path) == ["clewdr.toml"]
