"""End-to-end checks of ``llmproxy.pyz``, the single-file build made by ``zipapp.py``.

The archive is built once per module into a temporary directory (reusing the repository's
``build/wheels`` cache) and then run the way users run it: ``python3 -I llmproxy.pyz``, from
an empty directory, with a minimal environment. ``-I`` keeps out ``PYTHONPATH``, the user
site and the current directory, but the interpreter's own site-packages (here: the test venv,
which has every dependency installed) is still on ``sys.path`` after the zip. That is why the
tests look at ``__file__`` instead of trusting that an import succeeded.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import ssl
import stat
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path
from typing import IO

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="the .pyz targets POSIX (trio needs cffi)"),
]

REPO = Path(__file__).resolve().parents[2]
PASSWORD_ALPHABET = "23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
BANNER = re.compile(r"^Claude \(Claude and OpenAI format\) endpoint: (http://\S+)/v1$")
# Named in the brief; the test also covers every other top-level name found in the archive.
REQUIRED_MODULES = ("trio", "httpx", "hypercorn", "h11", "anyio", "certifi", "llmproxy")


def clean_env(home: Path) -> dict[str, str]:
    """Only PATH, HOME and LANG: no PYTHONPATH, no CLEWDR_* overrides, no proxies."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


def expected_version() -> str:
    text = (REPO / "llmproxy" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    assert match, "llmproxy/_version.py has no __version__"
    return match.group(1)


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pyz") / "llmproxy.pyz"
    result = subprocess.run(
        [sys.executable, str(REPO / "zipapp.py"), "--output", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"zipapp.py failed:\n{result.stdout}\n{result.stderr}"
    assert out.is_file()
    return out


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def run_pyz(pyz: Path, *args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(pyz), *args],
        cwd=cwd,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version(pyz: Path, workdir: Path, home: Path) -> None:
    result = run_pyz(pyz, "--version", cwd=workdir, home=home)
    assert result.returncode == 0, result.stderr
    version = re.escape(expected_version())
    assert re.search(rf"(?<![\w.]){version}(?![\w.])", result.stdout), result.stdout
    assert list(workdir.iterdir()) == [], "--version must not create files"


def test_help_matches_python_m(pyz: Path, workdir: Path, home: Path) -> None:
    from_pyz = run_pyz(pyz, "--help", cwd=workdir, home=home)
    assert from_pyz.returncode == 0, from_pyz.stderr
    # Not -I here: -I would drop the repo (cwd) from sys.path and hide the package.
    from_module = subprocess.run(
        [sys.executable, "-m", "llmproxy", "--help"],
        cwd=REPO,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert from_module.returncode == 0, from_module.stderr
    assert from_pyz.stdout.strip(), "--help printed nothing"
    assert from_pyz.stdout == from_module.stdout


def top_level_names(pyz: Path) -> list[str]:
    """Importable top-level packages and modules stored in the archive."""
    names = set()
    with zipfile.ZipFile(pyz) as archive:
        for entry in archive.namelist():
            first, sep, _ = entry.partition("/")
            if sep and not first.endswith(".dist-info") and first.isidentifier():
                names.add(first)
            elif not sep and entry.endswith(".py") and entry != "__main__.py":
                names.add(entry.removesuffix(".py"))
    return sorted(names)


PROBE = r"""
import json, ssl, sys
pyz = sys.argv[1]
sys.path.insert(0, pyz)
import importlib, importlib.metadata
report = {"files": {}}
for name in sys.argv[2:]:
    module = importlib.import_module(name)
    file = getattr(module, "__file__", None)
    # A namespace package has no __file__; then every portion of __path__ must be in the zip.
    report["files"][name] = [file] if file else list(module.__path__)
for name in ("llmproxy.cli", "llmproxy.upstream.tls"):
    report["files"][name] = [importlib.import_module(name).__file__]
report["httpx_dist"] = str(importlib.metadata.distribution("httpx").locate_file("httpx"))
report["httpx_version"] = importlib.metadata.version("httpx")

import certifi, certifi.core
where_calls = []
def spy(original):
    def wrapper(*args, **kwargs):
        where_calls.append(1)
        return original(*args, **kwargs)
    return wrapper
certifi.where = spy(certifi.where)
certifi.core.where = spy(certifi.core.where)

from llmproxy.upstream.tls import ssl_context
context = ssl_context()
report["is_context"] = isinstance(context, ssl.SSLContext)
report["cached"] = ssl_context() is context
report["verify_mode"] = int(context.verify_mode)
report["x509_ca"] = context.cert_store_stats()["x509_ca"]
report["where_calls"] = len(where_calls)
print(json.dumps(report))
"""


def test_imports_come_from_the_zip(pyz: Path, workdir: Path, home: Path) -> None:
    names = top_level_names(pyz)
    assert set(REQUIRED_MODULES) <= set(names), names
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(pyz), *names],
        cwd=workdir,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    prefix = str(pyz) + os.sep
    outside = {
        name: paths
        for name, paths in report["files"].items()
        if not paths or not all(path.startswith(prefix) for path in paths)
    }
    assert outside == {}, "imported from outside the .pyz"
    # Built by this interpreter, so the bytecode beside the sources must be what loads
    # (zipimport reports the .pyc as __file__); a .py here means the .pyc was rejected.
    assert report["files"]["trio"][0].endswith(".pyc"), report["files"]["trio"]
    assert report["httpx_dist"].startswith(prefix), "dist-info not read from the .pyz"
    assert report["httpx_version"] == "0.28.1"

    assert report["is_context"]
    assert report["cached"], "ssl_context() should build the context once"
    assert report["verify_mode"] == int(ssl.CERT_REQUIRED)
    assert report["x509_ca"] > 100
    assert report["where_calls"] == 0, "certifi.where() extracts a temp file from a zip"
    assert list(workdir.iterdir()) == []


def read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Forward the server's output line by line; None marks its end."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def test_pyz_serves(pyz: Path, workdir: Path, home: Path) -> None:
    config = workdir / "clewdr.toml"
    config.write_text('ip = "127.0.0.1"\nport = 0\n', encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-I", str(pyz), "-c", str(config)],
        cwd=workdir,
        env=clean_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        base = None
        deadline = time.monotonic() + 30
        while base is None:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "no endpoint banner within 30 s:\n" + "".join(seen)
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"exited with {proc.wait()} before the banner:\n" + "".join(seen))
            seen.append(line)
            match = BANNER.match(line.rstrip("\r\n"))
            if match:
                base = match.group(1)
        assert not base.endswith(":0"), f"banner shows port 0, not the bound port: {base}"

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no env proxies
        with opener.open(f"{base}/api/version", timeout=10) as response:
            status = response.status
            body = response.read().decode("utf-8")
        assert status == 200
        assert body.startswith("v0."), body

        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("still running 30 s after SIGTERM")
        assert code == 0, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()

    saved = tomllib.loads(config.read_text(encoding="utf-8"))
    for key in ("password", "admin_password"):
        value = saved.get(key)
        assert isinstance(value, str) and len(value) == 64, (key, value)
        assert set(value) <= set(PASSWORD_ALPHABET), (key, value)
    assert saved["password"] != saved["admin_password"]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
