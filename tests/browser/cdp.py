"""A very small Chrome DevTools Protocol client for driving headless Chromium in tests.

Why not Selenium: it needs chromedriver of the exact browser version and a large
client library; the DevTools protocol is built into Chromium and is JSON over one
websocket (the ``websockets`` package, already a test dependency through
google-genai, is the only import beyond the standard library).

Clicks and typing go through ``Input.dispatchMouseEvent`` / ``Input.insertText`` at
the element's on-screen position, as a user's would: a button hidden behind a
dialog or off screen is not clicked by accident. Page errors, console errors and
Content-Security-Policy violations are collected so a test can assert there were
none.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

__all__ = ["Browser", "CdpError", "find_chromium", "launch"]

_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class CdpError(RuntimeError):
    """The browser answered a command with an error, or a wait timed out."""


def find_chromium() -> str | None:
    """The Chromium executable: ``$CHROMIUM``, else Debian's ``chromium`` on PATH."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One page of a running Chromium, driven over its DevTools websocket."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.problems: list[str] = []
        """Uncaught exceptions, console errors and CSP violations seen so far."""
        self.requested_urls: list[str] = []
        self._viewport: tuple[int, int, bool, float] = (1280, 900, False, 1.0)

    # -- protocol ---------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 15.0) -> Any:
        """Run one DevTools command and return its result."""
        self._next_id += 1
        message_id = self._next_id
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CdpError(f"{method}: no answer within {timeout} s")
            message = json.loads(self._socket.recv(timeout=remaining))
            if message.get("id") == message_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._note(message)

    def _note(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            return
        params = message.get("params", {})
        self.events.append(message)
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append(f"uncaught exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            args = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
            self.problems.append("console.error: " + " ".join(map(str, args)))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                self.problems.append(f"log ({entry.get('source')}): {entry.get('text')}")
        elif method == "Network.requestWillBeSent":
            self.requested_urls.append(params.get("request", {}).get("url", ""))

    def pump(self, seconds: float = 0.05) -> None:
        """Read events that arrive within ``seconds`` (lets the page's scripts run)."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self._note(json.loads(self._socket.recv(timeout=remaining)))
            except TimeoutError:
                return

    # -- page -------------------------------------------------------------------------

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises are awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, condition: str, timeout: float = 10.0, what: str | None = None) -> Any:
        """Poll a JavaScript condition until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(
                f"(() => {{ try {{ return ({condition}); }} catch (e) {{ return null; }} }})()"
            )
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"timed out after {timeout} s waiting for {what or condition}")
            self.pump(0.05)

    def center_of(self, selector: str) -> tuple[float, float]:
        box = self.evaluate(
            f"""(() => {{
                const node = document.querySelector({json.dumps(selector)});
                if (!node) return null;
                node.scrollIntoView({{block: 'center', inline: 'center'}});
                const r = node.getBoundingClientRect();
                return r.width && r.height ? [r.left + r.width / 2, r.top + r.height / 2] : null;
            }})()"""
        )
        if not box:
            raise CdpError(f"no visible element {selector!r}")
        return float(box[0]), float(box[1])

    def click(self, selector: str) -> None:
        """Click the middle of the element, with real mouse events."""
        self.wait_for(f"!!document.querySelector({json.dumps(selector)})", what=selector)
        x, y = self.center_of(selector)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )
        self.pump()

    def type_into(self, selector: str, text: str, *, clear: bool = True) -> None:
        """Focus a field (by clicking it) and type ``text`` as keyboard input."""
        self.click(selector)
        if clear:
            node = f"document.querySelector({json.dumps(selector)})"
            self.evaluate(f"(n => n.select && n.select())({node})")
            self.send(
                "Input.dispatchKeyEvent",
                {"type": "keyDown", "key": "Delete", "code": "Delete", "windowsVirtualKeyCode": 46},
            )
            self.send(
                "Input.dispatchKeyEvent",
                {"type": "keyUp", "key": "Delete", "code": "Delete", "windowsVirtualKeyCode": 46},
            )
        self.send("Input.insertText", {"text": text})
        self.pump()

    def text(self, selector: str) -> str:
        value = self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent"
        )
        return str(value or "")

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page, not just the window.

        The window is stretched to the page's height for the shot (and put back
        after), so sticky headers and fixed toasts sit where a user would see them
        instead of being smeared across a stitched capture.
        """
        width, height, mobile, scale = self._viewport
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        full = max(height, min(int(size["height"]) + 1, 8000))
        self.evaluate("window.scrollTo(0, 0)")
        if full != height:
            self.set_viewport(width, full, mobile=mobile, scale=scale)
        try:
            self.pump(0.1)
            result = self.send("Page.captureScreenshot", {"format": "png"})
        finally:
            if full != height:
                self.set_viewport(width, height, mobile=mobile, scale=scale)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(result["data"]))

    def set_viewport(
        self, width: int, height: int, *, mobile: bool = False, scale: float = 1
    ) -> None:
        self._viewport = (width, height, mobile, scale)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile},
        )

    def set_color_scheme(self, scheme: str) -> None:
        self.send(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )


@contextmanager
def launch(
    executable: str, *, width: int = 1280, height: int = 900, timeout: float = 20.0
) -> Iterator[Browser]:
    """Start headless Chromium with a throw-away profile; yields its first page."""
    profile = tempfile.mkdtemp(prefix="llmproxy-chromium-")
    command = [
        executable,
        "--headless=new",
        "--no-sandbox",  # CI containers run as root, where the sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        "--lang=en-US",
        f"--window-size={width},{height}",
        "--remote-debugging-port=0",
        "--remote-allow-origins=*",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    env = {**os.environ, "LANG": "en_US.UTF-8"}
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    # Chromium writes to stderr all along (D-Bus complaints in a container); a reader
    # thread drains it so a full pipe can never stall the browser.
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_drain, args=(process, lines), daemon=True)
    reader.start()
    try:
        browser_url = _read_devtools_url(lines, timeout)
        http_base = browser_url.split("/devtools/")[0].replace("ws://", "http://")
        page_url = _first_page(http_base, timeout)
        with connect(page_url, max_size=None, open_timeout=timeout) as socket:
            browser = Browser(socket)
            for domain in ("Page", "Runtime", "Log", "Network"):
                browser.send(f"{domain}.enable")
            browser.set_viewport(width, height)
            yield browser
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(profile, ignore_errors=True)


def _drain(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.put(line)
    lines.put(None)


def _read_devtools_url(lines: queue.Queue[str | None], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        match = _LISTENING.search(line)
        if match:
            return match.group(1)
    raise CdpError("Chromium did not start its DevTools server:\n" + "".join(seen[-20:]))


def _first_page(http_base: str, timeout: float) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        with opener.open(f"{http_base}/json/list", timeout=timeout) as response:
            targets = json.loads(response.read())
        pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
        if pages:
            return str(pages[0]["webSocketDebuggerUrl"])
        if time.monotonic() > deadline:
            raise CdpError("Chromium has no page target")
        time.sleep(0.05)
