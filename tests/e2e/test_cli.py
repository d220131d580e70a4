"""``python -m llmproxy`` as a user runs it: flags, banner, config file, logs, signals.

Every test starts the program as a subprocess in its own temporary directory, with the
caller's environment minus any ``CLEWDR_*`` override, listening on ``127.0.0.1:0``; the
bound address is read from the banner. Waits are bounded (timeouts only), and every
process is killed in a ``finally`` if a test fails half-way.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
BANNER_ENDPOINT = re.compile(r"^Claude \(Claude and OpenAI format\) endpoint: (http://127\.0\.0\.1:(\d+))/v1$")
COOKIE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"


def expected_version() -> str:
    text = (REPO / "llmproxy" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    assert match, "llmproxy/_version.py has no __version__"
    return match.group(1)


def child_env() -> dict[str, str]:
    """The caller's environment without CLEWDR_* overrides (and unbuffered output)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CLEWDR_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmproxy", *args],
        cwd=cwd,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _pump(stream: IO[str], sink: queue.Queue[str | None], keep: list[str]) -> None:
    for line in stream:
        keep.append(line)
        sink.put(line)
    sink.put(None)


@dataclass
class Server:
    """A running ``python -m llmproxy`` and what it printed."""

    proc: subprocess.Popen[str]
    stdout_lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    banner: dict[str, str] = field(default_factory=dict)
    base: str = ""

    def start_readers(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.threads = [
            threading.Thread(target=_pump, args=(self.proc.stdout, self.stdout_lines, self.stdout), daemon=True),
            threading.Thread(target=_pump, args=(self.proc.stderr, queue.Queue(), self.stderr), daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def output(self) -> str:
        return "--- stdout ---\n" + "".join(self.stdout) + "--- stderr ---\n" + "".join(self.stderr)

    def wait_for_banner(self, labels: Sequence[str]) -> None:
        """Read stdout until every ``label: value`` line is seen (bounded)."""
        deadline = time.monotonic() + START_TIMEOUT
        while not all(label in self.banner for label in labels):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no complete banner within {START_TIMEOUT} s:\n{self.output()}")
            try:
                line = self.stdout_lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait(timeout=STOP_TIMEOUT)
                pytest.fail(f"exited with {code} before the banner was complete:\n{self.output()}")
            text = line.rstrip("\r\n")
            label, sep, value = text.partition(": ")
            if sep:
                self.banner.setdefault(label, value)
            match = BANNER_ENDPOINT.match(text)
            if match:
                self.base = match.group(1)

    def stop(self, signum: int) -> int:
        """Send ``signum``; return the exit code (bounded wait); join the readers."""
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_TIMEOUT} s after {signal.Signals(signum).name}")
        self.join()
        return code

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=STOP_TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.join()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


BANNER_LABELS = (
    "Config file",
    "Claude (Claude and OpenAI format) endpoint",
    "Claude Code (Claude and OpenAI format) endpoint",
    "API password",
    "Web admin endpoint",
    "Web admin password",
    "Proxy",
)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    """``start(*args)`` runs the program in ``tmp_path`` and waits for its banner."""
    servers: list[Server] = []

    def launch(*args: str) -> Server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmproxy", *args],
            cwd=tmp_path,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        server = Server(proc)
        servers.append(server)
        server.start_readers()
        server.wait_for_banner(BANNER_LABELS)
        assert server.base, f"no endpoint line:\n{server.output()}"
        return server

    try:
        yield launch
    finally:
        for server in servers:
            server.kill()


def write_config(tmp_path: Path, text: str = 'ip = "127.0.0.1"\nport = 0\n') -> Path:
    path = tmp_path / "conf" / "clewdr.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only, no env proxies


def request(
    url: str, *, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def access_lines(stderr: Sequence[str]) -> list[str]:
    return [line for line in stderr if "llmproxy.access" in line]


# -- serving and stopping -----------------------------------------------------------------


def test_banner_requests_logs_and_sigterm(tmp_path: Path, start: Any) -> None:
    config = write_config(tmp_path)
    server = start("-c", "conf/clewdr.toml")
    banner, base = server.banner, server.base
    port = int(base.rsplit(":", 1)[1])
    assert port != 0, "the banner must show the bound port"

    assert banner["Claude Code (Claude and OpenAI format) endpoint"] == f"{base}/code/v1"
    assert banner["Web admin endpoint"] == f"{base}/"
    assert banner["Proxy"] == "none"
    assert os.path.samefile(banner["Config file"].split(" [", 1)[0], config)
    api_password, admin_password = banner["API password"], banner["Web admin password"]
    for value in (api_password, admin_password):
        assert re.fullmatch(r"[A-Za-z0-9]{64}", value), value
    assert api_password != admin_password

    on_disk = tomllib.loads(config.read_text(encoding="utf-8"))
    assert on_disk["password"] == api_password
    assert on_disk["admin_password"] == admin_password
    assert on_disk["ip"] == "127.0.0.1" and on_disk["port"] == 0
    assert stat.S_IMODE(config.stat().st_mode) == 0o600

    status, body = request(f"{base}/api/version")
    assert status == 200
    assert body.decode().startswith(f"v{expected_version()}")

    status, body = request(
        f"{base}/code/v1/messages",
        method="POST",
        body=b"{}",
        headers={"x-api-key": api_password, "content-type": "application/json"},
    )
    assert status == 400, body  # past the password: the body is checked
    assert json.loads(body)["error"]["type"] == "invalid_request_error"

    status, body = request(
        f"{base}/v1/messages", method="POST", body=b"{}", headers={"content-type": "application/json"}
    )
    assert status == 401, body
    assert json.loads(body)["error"]["type"] == "authentication_error"

    # Gemini clients put the password in the query string; the log must not show it.
    status, body = request(
        f"{base}/v1/v1beta/models/x:generateContent?key={api_password}",
        method="POST",
        body=b"{}",
        headers={"content-type": "application/json"},
    )
    assert status == 503, body  # past the password: no Gemini key is configured

    assert server.stop(signal.SIGTERM) == 0, server.output()

    stderr = "".join(server.stderr)
    assert api_password not in stderr
    assert admin_password not in stderr
    lines = access_lines(server.stderr)
    assert len(lines) == 4, "one access log line per request:\n" + stderr
    expected = [
        ("route=admin.version", "status=200"),
        ("route=code.messages", "status=400"),
        ("route=web.messages", "status=401"),
        ("route=gemini.native", "status=503"),
    ]
    for line, (route, status_text) in zip(lines, expected, strict=True):
        assert route in line and status_text in line, line
    assert "/v1/v1beta/models/x:generateContent" in lines[3]
    assert "key=" not in lines[3], lines[3]

    # Shutdown left the file whole and the passwords as announced.
    after = tomllib.loads(config.read_text(encoding="utf-8"))
    assert (after["password"], after["admin_password"]) == (api_password, admin_password)
    assert sorted(p.name for p in config.parent.iterdir()) == ["clewdr.toml"], "temporary files left"


def test_sigint_exits_zero(tmp_path: Path, start: Any) -> None:
    write_config(tmp_path)
    server = start("--config", "conf/clewdr.toml")
    status, _ = request(f"{server.base}/api/version")
    assert status == 200
    assert server.stop(signal.SIGINT) == 0, server.output()
    assert "Traceback" not in "".join(server.stderr), server.output()


def test_default_config_is_clewdr_toml_in_cwd(tmp_path: Path, start: Any) -> None:
    (tmp_path / "clewdr.toml").write_text('ip = "127.0.0.1"\nport = 0\n', encoding="utf-8")
    server = start()
    assert os.path.samefile(server.banner["Config file"].split(" [", 1)[0], tmp_path / "clewdr.toml")
    saved = tomllib.loads((tmp_path / "clewdr.toml").read_text(encoding="utf-8"))
    assert saved["password"] == server.banner["API password"]
    assert server.stop(signal.SIGTERM) == 0, server.output()


# -- refusing to start --------------------------------------------------------------------


def test_broken_toml_is_left_alone(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        'ip = "127.0.0.1"\nport = 0\nthis line is not toml\npassword = "kept"\n',
    )
    before = config.read_bytes()
    mode = stat.S_IMODE(config.stat().st_mode)
    started = time.monotonic()
    result = run_cli("-c", "conf/clewdr.toml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 30, "refusing to start must be quick"
    assert "conf/clewdr.toml" in result.stderr, result.stderr
    assert "line 3" in result.stderr, result.stderr
    assert "kept" not in result.stderr
    assert config.read_bytes() == before, "a file that does not parse must never be overwritten"
    assert stat.S_IMODE(config.stat().st_mode) == mode
    assert sorted(p.name for p in config.parent.iterdir()) == ["clewdr.toml"]
    assert "endpoint" not in result.stdout


def test_wrong_type_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'ip = "127.0.0.1"\nport = "abc"\n')
    before = config.read_bytes()
    result = run_cli("-c", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "port" in result.stderr, result.stderr
    assert config.read_bytes() == before
    assert sorted(p.name for p in config.parent.iterdir()) == ["clewdr.toml"]


# -- extra cookies ------------------------------------------------------------------------


def fake_cookie_body(rng: random.Random, length: int) -> str:
    """``<length chars>-<6 chars>AA``: the shape of a session key's random body."""
    head = "".join(rng.choice(COOKIE_CHARS) for _ in range(length))
    tail = "".join(rng.choice(COOKIE_CHARS) for _ in range(6))
    return f"{head}-{tail}AA"


def test_cookie_file(tmp_path: Path, start: Any) -> None:
    rng = random.Random(20240601)
    prefixed = "sk-ant-sid01-" + fake_cookie_body(rng, 86)
    bare = fake_cookie_body(rng, 100)
    lines = [
        "# cookies for the test",  # 1: comment, ignored
        f"sessionKey={prefixed}",  # 2: valid, stored as sk-ant-sid01-...AA
        "",  # 3: blank, ignored
        bare,  # 4: valid bare body, stored as is
        "this-is-not-a-cookie",  # 5: garbage, reported
        f"  {prefixed}  ",  # 6: duplicate of line 2
    ]
    (tmp_path / "cookies.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = write_config(tmp_path)

    server = start("-c", "conf/clewdr.toml", "-f", "cookies.txt")
    assert server.stop(signal.SIGTERM) == 0, server.output()

    stderr = "".join(server.stderr)
    assert "cookies.txt:5" in stderr, stderr
    for number in (1, 2, 3, 4, 6):
        assert f"cookies.txt:{number}:" not in stderr, stderr
    # A cookie is a secret too: neither may be logged.
    assert prefixed not in stderr and bare not in stderr
    assert prefixed not in "".join(server.stdout) and bare not in "".join(server.stdout)

    saved = tomllib.loads(config.read_text(encoding="utf-8"))
    assert [entry["cookie"] for entry in saved["cookie_array"]] == [prefixed, bare]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


# -- flags --------------------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"llmproxy {expected_version()}"
    assert list(tmp_path.iterdir()) == [], "--version must not create files"


def test_help(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for flag in ("-c", "--config", "-f", "--file", "--version", "--help", "clewdr.toml"):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", result.stdout), (flag, result.stdout)
    assert list(tmp_path.iterdir()) == [], "--help must not create files"
